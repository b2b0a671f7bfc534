// Outcome analytics, the SQL half: grouped reads over the case projection and the decision records in the audit log,
// on both dialects. What each number means is rules/analytics/ (pure, unit-tested); this module only groups rows.
// Closed cases are read from the clinic's daily rollup when it is current (./analytics-rollup.ts, migration 0013),
// open ones live by clinic and status; a clinic whose rollup is stale is read live entirely (indexes of migration
// 0011: cases by clinic and receipt time, decision records by case). All reads share one snapshot. Ids and codes only.
import { sql, type Kysely, type RawBuilder } from 'kysely';
import {
  aggregate,
  bucketLabelsByDay,
  bucketsOf,
  cellsOfRollup,
  listsFindings,
  MAX_OVERRIDES_LISTED,
  overridePairs,
  PHYSICIAN_ROLES,
  type AnalyticsReport,
  type CaseCell,
  type FindingCell,
  type Granularity,
  type OverrideRow,
  type RoleCell,
  type TurnaroundCell,
} from '../../rules/analytics/index.ts';
import { KINDS } from '../../rules/kinds/index.ts';
import { CASE_STATUSES } from '../../rules/lifecycle/index.ts';
import { DECISION_ACTION, rollupIsCurrent } from './analytics-rollup.ts';
import type { DialectName } from './dialect.ts';
import type { Db } from './open.ts';
import type { Database } from './schema.ts';

export interface AnalyticsQuery {
  clinicId: string;
  /** The clinic's IANA time zone: days and weeks are the clinic's. */
  timezone: string;
  /** Local dates, inclusive (the caller bounds the range: rules/analytics MAX_RANGE_DAYS). */
  from: string;
  to: string;
  granularity: Granularity;
  protocolId?: string | null;
  /** "Now" for open cases past their SLA (default: the current time). */
  asOf?: string;
}

export interface AnalyticsRepo {
  /** The outcome report of one clinic over a range (rules/analytics defines every number). */
  report(query: AnalyticsQuery): Promise<AnalyticsReport>;
}

/** Statuses of a case not closed yet: read live when the rollup holds the closed ones. */
const OPEN_STATUSES = CASE_STATUSES.filter((st) => st !== 'closed');

const num = (v: unknown): number => Number(v);
const numOrNull = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));
const strOrNull = (v: unknown): string | null => (typeof v === 'string' ? v : typeof v === 'number' ? String(v) : null);

/** Seconds between two stored ISO timestamps, rounded down. */
function secondsBetween(dialect: DialectName, start: string, end: string): RawBuilder<number> {
  return dialect === 'postgres'
    ? sql<number>`cast(floor(extract(epoch from (${sql.ref(end)}::timestamptz - ${sql.ref(start)}::timestamptz))) as integer)`
    : // julianday is a float: round to the millisecond (what is stored) before dividing, or 180 s reads as 179.
      sql<number>`cast(round((julianday(${sql.ref(end)}) - julianday(${sql.ref(start)})) * 86400000) as integer) / 1000`;
}

/** SQLite's `INDEXED BY` for the cases table (nothing on PostgreSQL, or without an index). */
function indexed(dialect: DialectName, index: string | null): RawBuilder<unknown> {
  return dialect === 'sqlite' && index !== null ? sql`indexed by ${sql.id(index)}` : sql``;
}

/** A top-level array of the stored decision as JSON text (null when absent). */
function decisionArray(dialect: DialectName, key: string): RawBuilder<string | null> {
  return dialect === 'postgres'
    ? sql<string | null>`(c.decision::json -> ${key})::text`
    : sql<string | null>`json_extract(c.decision, ${`$.${key}`})`;
}

export function createAnalyticsRepo({ kysely, dialect }: Db): AnalyticsRepo {
  return {
    // One snapshot for every read (PostgreSQL: repeatable read), or a case closing in between would be counted twice
    // (live while open, then in the rollup) or not at all.
    report: (q) =>
      (dialect === 'postgres'
        ? kysely.transaction().setIsolationLevel('repeatable read')
        : kysely.transaction()
      ).execute((trx) => report(trx, dialect, q)),
  };
}

async function report(kysely: Kysely<Database>, dialect: DialectName, q: AnalyticsQuery): Promise<AnalyticsReport> {
  const asOf = q.asOf ?? new Date().toISOString();
  const protocolId = q.protocolId ?? null;
  const buckets = bucketsOf(q.from, q.to, q.timezone, q.granularity);
  const rangeStart = buckets[0]!.start;
  const rangeEnd = buckets.at(-1)!.end;
  const bucketsCte = sql`b (label, lo, hi) as (values ${sql.join(
    buckets.map((b) => sql`(${b.label}, ${b.start}, ${b.end})`),
  )})`;
  // With a current rollup, the live reads take open cases only (by clinic and status).
  const rolled = await rollupIsCurrent(kysely, q.clinicId, q.timezone);
  const live = sql`${protocolId === null ? sql`` : sql` and c.protocol_id = ${protocolId}`}${
    rolled ? sql` and c.status in (${sql.join(OPEN_STATUSES.map((st) => sql`${st}`))})` : sql``
  }`;
  // Cases of the clinic received in a bucket (and of the protocol, when asked).
  const inBucket = sql`c.clinic_id = ${q.clinicId} and c.created_at >= b.lo and c.created_at < b.hi${live}`;
  const inRange = sql`c.clinic_id = ${q.clinicId} and c.created_at >= ${rangeStart} and c.created_at < ${rangeEnd}`;
  const protocolOnly = protocolId === null ? sql`` : sql` and c.protocol_id = ${protocolId}`;
  // SQLite without statistics prefers the covering receipt-time index even where the clinic's open cases are a
  // handful in its range: the live reads of open cases name the status index, the overrides (closed cases, a
  // filter over the range) the covering one. PostgreSQL plans from its statistics.
  const liveCases = indexed(dialect, rolled ? 'cases_clinic_status_idx' : null);
  const physician = sql.join(PHYSICIAN_ROLES.map((r) => sql`${r}`));

  const cases = await sql<Record<string, unknown>>`with ${bucketsCte}
        select b.label as bucket, c.kind, c.protocol_id, c.protocol_version, c.disposition, c.status, c.queue,
          c.reason, c.outcome, c.escalated,
          case when c.status = 'queued' and c.sla_due_at is not null and c.sla_due_at < ${asOf} then 1 else 0 end
            as overdue,
          case when exists (select 1 from audit_log a where a.case_id = c.id and a.action = ${DECISION_ACTION}
            and a.actor_type = 'user' and a.actor_role in (${physician})) then 1 else 0 end as physician_acted,
          count(*) as n
        from b join cases c ${liveCases} on ${inBucket}
        group by b.label, c.kind, c.protocol_id, c.protocol_version, c.disposition, c.status, c.queue, c.reason,
          c.outcome, c.escalated, 11, 12`.execute(kysely);

  // CROSS JOIN fixes the join order on SQLite (buckets, then the clinic's cases by receipt time, then each case's
  // decision records): without statistics its planner otherwise starts from every decision record of every
  // clinic (audit_log_action_idx), 20× slower at 100,000 cases. PostgreSQL plans a cross join freely.
  const roles = await sql<Record<string, unknown>>`with ${bucketsCte}
        select b.label as bucket, c.kind, c.protocol_id, c.protocol_version,
          coalesce(a.actor_role, 'unknown') as role, count(distinct a.case_id) as cases, count(*) as decisions
        from b cross join cases c ${liveCases} cross join audit_log a
        where ${inBucket} and a.case_id = c.id and a.action = ${DECISION_ACTION} and a.actor_type = 'user'
        group by b.label, c.kind, c.protocol_id, c.protocol_version, 5`.execute(kysely);

  // Turnaround is of closed cases only: all in the rollup when it is current.
  const seconds = secondsBetween(dialect, 'c.created_at', 'c.closed_at');
  const turnaround = rolled
    ? { rows: [] }
    : await sql<Record<string, unknown>>`select queue,
          case when s < 3600 then s when s < 86400 then s - s % 60 else s - s % 3600 end as seconds, count(*) as n
        from (select c.queue, ${seconds} as s from cases c
          where ${inRange}${protocolOnly} and c.status = 'closed' and c.closed_at is not null) t
        group by 1, 2`.execute(kysely);

  const findings: FindingCell[] = [];
  for (const kind of KINDS) {
    const source = kind.analytics?.failedFindings;
    if (source === undefined) continue;
    const reviewed = Object.keys(kind.dispositions).filter((d) => listsFindings(kind.id, d));
    if (reviewed.length === 0) continue;
    const expr = source === 'clause' ? sql<string | null>`c.clause` : decisionArray(dialect, source.decisionArray);
    const rows = await sql<Record<string, unknown>>`select c.protocol_id, ${expr} as findings, count(*) as n
          from cases c ${liveCases}
          where ${inRange}${live} and c.kind = ${kind.id} and c.disposition in (${sql.join(reviewed.map((d) => sql`${d}`))})
          group by 1, 2`.execute(kysely);
    for (const r of rows.rows) {
      const f = strOrNull(r.findings);
      if (f !== null && f !== '' && f !== '[]') {
        findings.push({ kind: kind.id, protocolId: strOrNull(r.protocolId), findings: f, n: num(r.n) });
      }
    }
  }

  const pairs = overridePairs(KINDS.map((k) => k.id));
  const overrides: OverrideRow[] = [];
  if (pairs.length > 0) {
    const match = sql.join(
      pairs.map((p) => sql`(c.kind = ${p.kind} and c.disposition = ${p.disposition} and c.outcome = ${p.outcome})`),
      sql` or `,
    );
    // The newest requests first: read backwards along the receipt-time index, it stops at the limit (ordered by close
    // time it had to read every closed case of the range).
    const rows = await sql<Record<string, unknown>>`select c.id, c.kind, c.protocol_id, c.protocol_version,
            c.disposition, c.outcome, c.closed_at
          from cases c ${indexed(dialect, 'cases_analytics_idx')}
      where ${inRange}${protocolOnly} and c.status = 'closed' and (${match})
          order by c.created_at desc, c.id desc limit ${MAX_OVERRIDES_LISTED}`.execute(kysely);
    // Who made each listed case's last decision: the decision records of those cases only, read by case id (a
    // correlated "latest by id" subquery lets SQLite's planner walk every decision record by action instead).
    const lastRole = new Map<string, string | null>();
    if (rows.rows.length > 0) {
      const decisions = await sql<Record<string, unknown>>`select a.case_id, a.actor_role, a.action, a.actor_type
            from audit_log a where a.case_id in (${sql.join(rows.rows.map((r) => sql`${String(r.id)}`))})
            order by a.id`.execute(kysely);
      for (const d of decisions.rows) {
        if (d.action === DECISION_ACTION && d.actorType === 'user')
          lastRole.set(String(d.caseId), strOrNull(d.actorRole));
      }
    }
    for (const r of rows.rows) {
      overrides.push({
        caseId: String(r.id),
        kind: String(r.kind),
        protocolId: strOrNull(r.protocolId),
        protocolVersion: numOrNull(r.protocolVersion),
        disposition: String(r.disposition),
        outcome: String(r.outcome),
        role: lastRole.get(String(r.id)) ?? null,
        closedAt: strOrNull(r.closedAt),
      });
    }
  }

  // Closed cases from the rollup: one cell per local day, each day under its bucket's label.
  const closed = rolled
    ? cellsOfRollup(
        (
          await kysely
            .selectFrom('analytics_daily')
            .select(['day', 'metric', 'cell', 'n', 'm', 'hist'])
            .where('clinicId', '=', q.clinicId)
            .where('day', '>=', q.from)
            .where('day', '<=', q.to)
            .$if(protocolId !== null, (qb) => qb.where('protocolId', '=', protocolId))
            .execute()
        ).map((r) => ({ ...r, n: num(r.n), m: num(r.m) })),
        bucketLabelsByDay(q.from, q.to, q.granularity),
      )
    : { cases: [], roles: [], turnaround: [], findings: [] };

  return aggregate({
    clinicId: q.clinicId,
    timezone: q.timezone,
    from: q.from,
    to: q.to,
    granularity: q.granularity,
    protocolId,
    asOf,
    cases: [
      ...cases.rows.map((r): CaseCell => ({
        bucket: String(r.bucket),
        kind: String(r.kind),
        protocolId: strOrNull(r.protocolId),
        protocolVersion: numOrNull(r.protocolVersion),
        disposition: strOrNull(r.disposition),
        status: String(r.status),
        queue: strOrNull(r.queue),
        reason: strOrNull(r.reason),
        outcome: strOrNull(r.outcome),
        escalated: num(r.escalated) !== 0,
        overdue: num(r.overdue) !== 0,
        physicianActed: num(r.physicianActed) !== 0,
        n: num(r.n),
      })),
      ...closed.cases,
    ],
    roles: [
      ...roles.rows.map((r): RoleCell => ({
        bucket: String(r.bucket),
        kind: String(r.kind),
        protocolId: strOrNull(r.protocolId),
        protocolVersion: numOrNull(r.protocolVersion),
        role: String(r.role),
        cases: num(r.cases),
        decisions: num(r.decisions),
      })),
      ...closed.roles,
    ],
    turnaround: [
      ...turnaround.rows.map((r): TurnaroundCell => ({
        queue: strOrNull(r.queue),
        seconds: num(r.seconds),
        n: num(r.n),
      })),
      ...closed.turnaround,
    ],
    findings: [...findings, ...closed.findings],
    overrides,
  });
}
