// Outcome analytics (issue 9 §5): what each number means, as pure functions over the grouped rows the store reads
// (connectors/db/analytics.ts). No I/O, no SQL: the store groups cases and decision rows, this module turns the groups
// into the report, so every definition is unit-tested without a database. Kinds are asked through the registry.
import { ESCALATION, PRESCRIBING_ROLES, QUEUES, QUEUE_ROLES, type Queue } from '../lifecycle/index.ts';
import { KINDS, kindById } from '../kinds/index.ts';
import { instantOfLocal, localDateOf } from '../zone-time.ts';

export { localDateOf };

/** The widest range one request may ask for, in days (inclusive). */
export const MAX_RANGE_DAYS = 366;
/** At most this many failing criteria and overriding decisions are listed (all are counted). */
export const TOP_FAILING = 20;
export const MAX_OVERRIDES_LISTED = 100;

export type Granularity = 'day' | 'week';

/**
 * Roles whose decisions count as a physician's touch. Roles are open strings (a decision record's `actorRole`), so a
 * role added later (a physician assistant, a pharmacist) counts only when it is listed here.
 */
export const PHYSICIAN_ROLES: readonly string[] = ['doctor'];

/** Queues whose cases a person triages; a disposition routed elsewhere (or closing the case) is automated. */
export const TRIAGE_QUEUES: readonly Queue[] = ['nurse', 'doctor'];

/**
 * Queues whose open cases only a prescriber can decide (today `signature`, `doctor` and `cosign`, from rules/lifecycle
 * QUEUE_ROLES): each open case there is a physician touch still to come. A PA may work the doctor queue, so an open
 * case there counts as a physician touch to come (an upper bound); a PA's decision itself is no physician touch
 * ({@link PHYSICIAN_ROLES}). A signing policy that lets a delegate sign passes its own table.
 */
export function physicianOnlyQueues(
  queueRoles: Readonly<Record<Queue, readonly string[]>> = QUEUE_ROLES,
  physicianRoles: readonly string[] = [...PHYSICIAN_ROLES, ...PRESCRIBING_ROLES],
): Queue[] {
  return QUEUES.filter((q) => queueRoles[q].length > 0 && queueRoles[q].every((r) => physicianRoles.includes(r)));
}

// ---------------------------------------------------------------------------------------------------------------
// Buckets: clinic-local days or ISO weeks (Monday first), as UTC instants

export interface Bucket {
  /** The local date the bucket starts on (a week: its Monday, even when the range starts later in that week). */
  label: string;
  /** Inclusive start and exclusive end, ISO-8601 UTC (as cases store `createdAt`). */
  start: string;
  end: string;
}

const DAY_MS = 86_400_000;
const dateMs = (date: string): number => Date.parse(`${date}T00:00:00Z`);
const dateOf = (ms: number): string => new Date(ms).toISOString().slice(0, 10);

/** The first instant of a local date in a time zone, ISO-8601 UTC (a midnight skipped by DST: the first hour after). */
export function startOfLocalDay(date: string, timeZone: string): string {
  return instantOfLocal(date, '00:00', timeZone);
}

/** Whole days from `from` to `to` inclusive (dates). */
export function daysInRange(from: string, to: string): number {
  return Math.round((dateMs(to) - dateMs(from)) / DAY_MS) + 1;
}

/** The buckets of [from, to] (local dates, inclusive) in the clinic's time zone. */
export function bucketsOf(from: string, to: string, timeZone: string, granularity: Granularity): Bucket[] {
  const last = dateMs(to);
  const out: Bucket[] = [];
  for (let d = dateMs(from); d <= last;) {
    let label = dateOf(d);
    let next = d + DAY_MS;
    if (granularity === 'week') {
      const weekday = (new Date(d).getUTCDay() + 6) % 7; // Monday 0
      label = dateOf(d - weekday * DAY_MS);
      next = Math.min(d + (7 - weekday) * DAY_MS, last + DAY_MS);
    }
    out.push({ label, start: startOfLocalDay(dateOf(d), timeZone), end: startOfLocalDay(dateOf(next), timeZone) });
    d = next;
  }
  return out;
}

/** Each local date of [from, to] with the label of its bucket (a day: itself; a week: its Monday). */
export function bucketLabelsByDay(from: string, to: string, granularity: Granularity): Map<string, string> {
  const out = new Map<string, string>();
  for (let d = dateMs(from); d <= dateMs(to); d += DAY_MS) {
    const weekday = (new Date(d).getUTCDay() + 6) % 7; // Monday 0
    out.set(dateOf(d), dateOf(granularity === 'week' ? d - weekday * DAY_MS : d));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// What the store reads (grouped rows), and the report

/** Cases grouped by everything a metric looks at: one row per distinct combination, with its count. */
export interface CaseCell {
  bucket: string;
  kind: string;
  protocolId: string | null;
  protocolVersion: number | null;
  disposition: string | null;
  status: string;
  queue: string | null;
  reason: string | null;
  outcome: string | null;
  escalated: boolean;
  /** Open, with an SLA due before the report's `asOf`. */
  overdue: boolean;
  /** A physician-role user recorded a decision on the case. */
  physicianActed: boolean;
  n: number;
}

/** Decision records grouped by the role of the user who made them. */
export interface RoleCell {
  bucket: string;
  kind: string;
  protocolId: string | null;
  protocolVersion: number | null;
  role: string;
  /** Distinct cases the role decided on, and how many decisions it recorded. */
  cases: number;
  decisions: number;
}

/** Closed cases by the queue they closed from and their turnaround (seconds, rounded down to the bucket's start). */
export interface TurnaroundCell {
  queue: string | null;
  seconds: number;
  n: number;
}

/** Not automated cases by what failed: a JSON array of criterion ids, or one deciding clause. */
export interface FindingCell {
  kind: string;
  protocolId: string | null;
  findings: string;
  n: number;
}

export interface OverrideRow {
  caseId: string;
  kind: string;
  protocolId: string | null;
  protocolVersion: number | null;
  disposition: string;
  outcome: string;
  /** Role of the user who made the last recorded decision. */
  role: string | null;
  closedAt: string | null;
}

export interface PhysicianTouches {
  /** Cases on which a physician-role user recorded a decision. */
  acted: number;
  /** Open cases (not acted on yet) in a queue only a physician may decide: touches still to come. */
  awaiting: number;
  total: number;
  /** `total` per 100 requests; null without requests. */
  per100: number | null;
  /** Against every request going to a physician (100 per 100): `100 − per100`, in percent. */
  reductionPct: number | null;
}

export interface SlaSummary {
  /** Decided within the SLA (or escalated by a nurse before it ran out). */
  met: number;
  /** Escalated by the SLA timer, or open past it. */
  breached: number;
  /** Open and still within it. */
  pending: number;
  /** met / (met + breached); null when none finished. */
  compliance: number | null;
}

export interface Metrics {
  requests: number;
  open: number;
  closed: number;
  /** Protocol dispositions; `none` for a case no protocol decided (automation off, EHR or protocol unavailable). */
  dispositions: Record<string, number>;
  automated: number;
  automationRate: number | null;
  physicianTouches: PhysicianTouches;
  /** Distinct cases each role recorded a decision on. */
  touchesByRole: Record<string, number>;
  escalations: { total: number; byReason: Record<string, number> };
  sla: SlaSummary;
  overrides: number;
}

export interface SeriesRow extends Metrics {
  bucket: string;
  kind: string;
  protocolId: string | null;
  protocolVersion: number | null;
}

export interface AnalyticsReport {
  clinicId: string;
  timezone: string;
  from: string;
  to: string;
  granularity: Granularity;
  protocolId: string | null;
  asOf: string;
  definitions: { physicianRoles: string[]; physicianOnlyQueues: string[]; triageQueues: string[] };
  totals: Metrics;
  series: SeriesRow[];
  turnaround: { queue: string | null; closed: number; p50Seconds: number; p90Seconds: number }[];
  touchesByRole: { role: string; cases: number; decisions: number }[];
  failingCriteria: { kind: string; protocolId: string | null; criterion: string; cases: number }[];
  overrides: { total: number; items: OverrideRow[] };
}

// ---------------------------------------------------------------------------------------------------------------
// Definitions, case by case

/** Whether the protocol's disposition needed no person to triage: it closed the case or routed it off the triage queues. */
export function isAutomated(kind: string, disposition: string | null): boolean {
  if (disposition === null) return false;
  const route = kindById(kind)?.dispositions[disposition];
  if (!route) return false;
  return route.closes || route.queue === null || !TRIAGE_QUEUES.includes(route.queue);
}

/** Whether the outcome a clinician chose overrides the protocol's disposition, as the kind declares overrides. */
export function isOverride(kind: string, disposition: string | null, outcome: string | null): boolean {
  if (disposition === null || outcome === null) return false;
  return kindById(kind)?.analytics?.overrides?.[disposition]?.includes(outcome) ?? false;
}

type SlaState = keyof Omit<SlaSummary, 'compliance'> | null;

/** Where a case stands against the nurse SLA (kinds that run it); null: the SLA never applied. */
export function slaState(
  c: Pick<CaseCell, 'kind' | 'status' | 'queue' | 'reason' | 'escalated' | 'overdue'>,
): SlaState {
  if (kindById(c.kind)?.analytics?.nurseSla !== true) return null;
  if (c.reason === 'escalated_sla') return 'breached';
  if (c.reason === 'escalated_by_nurse') return 'met';
  if (c.queue !== ESCALATION.from || c.escalated) return null;
  if (c.status === 'closed') return 'met';
  if (c.status !== 'queued') return null;
  return c.overdue ? 'breached' : 'pending';
}

const rate = (part: number, whole: number): number | null => (whole === 0 ? null : part / whole);
const round = (v: number | null, digits = 4): number | null => (v === null ? null : Number(v.toFixed(digits)));

function emptyMetrics(): Metrics {
  return {
    requests: 0,
    open: 0,
    closed: 0,
    dispositions: {},
    automated: 0,
    automationRate: null,
    physicianTouches: { acted: 0, awaiting: 0, total: 0, per100: null, reductionPct: null },
    touchesByRole: {},
    escalations: { total: 0, byReason: {} },
    sla: { met: 0, breached: 0, pending: 0, compliance: null },
    overrides: 0,
  };
}

function addCell(m: Metrics, c: CaseCell, physicianQueues: readonly string[]): void {
  m.requests += c.n;
  if (c.status === 'closed') m.closed += c.n;
  else m.open += c.n;
  const d = c.disposition ?? 'none';
  m.dispositions[d] = (m.dispositions[d] ?? 0) + c.n;
  if (isAutomated(c.kind, c.disposition)) m.automated += c.n;
  if (c.physicianActed) m.physicianTouches.acted += c.n;
  else if (c.status === 'queued' && c.queue !== null && physicianQueues.includes(c.queue)) {
    m.physicianTouches.awaiting += c.n;
  }
  if (c.escalated) {
    m.escalations.total += c.n;
    const r = c.reason ?? 'unknown';
    m.escalations.byReason[r] = (m.escalations.byReason[r] ?? 0) + c.n;
  }
  const sla = slaState(c);
  if (sla) m.sla[sla] += c.n;
  if (isOverride(c.kind, c.disposition, c.outcome)) m.overrides += c.n;
}

function finish<M extends Metrics>(m: M): M {
  const t = m.physicianTouches;
  t.total = t.acted + t.awaiting;
  const per100 = m.requests === 0 ? null : (100 * t.total) / m.requests;
  t.per100 = round(per100, 2);
  t.reductionPct = per100 === null ? null : round(100 - per100, 2);
  m.automationRate = round(rate(m.automated, m.requests));
  m.sla.compliance = round(rate(m.sla.met, m.sla.met + m.sla.breached));
  return m;
}

/** The nearest-rank percentile of a histogram of (value, count); 0 when empty. */
export function percentile(histogram: readonly { value: number; n: number }[], p: number): number {
  const total = histogram.reduce((s, h) => s + h.n, 0);
  if (total === 0) return 0;
  const rank = Math.max(1, Math.ceil(p * total));
  let seen = 0;
  for (const h of [...histogram].sort((a, b) => a.value - b.value)) {
    seen += h.n;
    if (seen >= rank) return h.value;
  }
  return 0;
}

/** The ids a finding cell names: a JSON array of ids (decision arrays), or the clause itself. */
function findingIds(findings: string): string[] {
  if (!findings.startsWith('[')) return [findings];
  try {
    const parsed: unknown = JSON.parse(findings);
    return Array.isArray(parsed) ? parsed.filter((x): x is string => typeof x === 'string') : [];
  } catch {
    return [];
  }
}

export interface AggregateInput {
  clinicId: string;
  timezone: string;
  from: string;
  to: string;
  granularity: Granularity;
  protocolId: string | null;
  asOf: string;
  cases: readonly CaseCell[];
  roles: readonly RoleCell[];
  turnaround: readonly TurnaroundCell[];
  findings: readonly FindingCell[];
  overrides: readonly OverrideRow[];
  /** Who may decide each queue (default: rules/lifecycle QUEUE_ROLES). */
  queueRoles?: Readonly<Record<Queue, readonly string[]>>;
}

const seriesKey = (r: { bucket: string; kind: string; protocolId: string | null; protocolVersion: number | null }) =>
  JSON.stringify([r.bucket, r.kind, r.protocolId, r.protocolVersion]);

/** The report: totals, one row per bucket × kind × protocol version, turnaround, roles, failing criteria, overrides. */
export function aggregate(input: AggregateInput): AnalyticsReport {
  const queues = physicianOnlyQueues(input.queueRoles);
  const totals = emptyMetrics();
  const series = new Map<string, SeriesRow>();
  const rowOf = (r: Parameters<typeof seriesKey>[0]): SeriesRow => {
    const key = seriesKey(r);
    let row = series.get(key);
    if (!row) {
      row = {
        bucket: r.bucket,
        kind: r.kind,
        protocolId: r.protocolId,
        protocolVersion: r.protocolVersion,
        ...emptyMetrics(),
      };
      series.set(key, row);
    }
    return row;
  };
  for (const c of input.cases) {
    addCell(totals, c, queues);
    addCell(rowOf(c), c, queues);
  }
  const byRole = new Map<string, { role: string; cases: number; decisions: number }>();
  for (const r of input.roles) {
    const row = rowOf(r);
    row.touchesByRole[r.role] = (row.touchesByRole[r.role] ?? 0) + r.cases;
    totals.touchesByRole[r.role] = (totals.touchesByRole[r.role] ?? 0) + r.cases;
    const t = byRole.get(r.role) ?? { role: r.role, cases: 0, decisions: 0 };
    t.cases += r.cases;
    t.decisions += r.decisions;
    byRole.set(r.role, t);
  }

  const perQueue = new Map<string | null, { value: number; n: number }[]>();
  for (const t of input.turnaround) {
    const list = perQueue.get(t.queue) ?? [];
    list.push({ value: t.seconds, n: t.n });
    perQueue.set(t.queue, list);
  }
  const turnaround = [...perQueue.entries()]
    .map(([queue, h]) => ({
      queue,
      closed: h.reduce((s, x) => s + x.n, 0),
      p50Seconds: percentile(h, 0.5),
      p90Seconds: percentile(h, 0.9),
    }))
    .sort((a, b) => String(a.queue).localeCompare(String(b.queue)));

  const failing = new Map<string, { kind: string; protocolId: string | null; criterion: string; cases: number }>();
  for (const f of input.findings) {
    for (const criterion of new Set(findingIds(f.findings))) {
      const key = JSON.stringify([f.kind, f.protocolId, criterion]);
      const entry = failing.get(key) ?? { kind: f.kind, protocolId: f.protocolId, criterion, cases: 0 };
      entry.cases += f.n;
      failing.set(key, entry);
    }
  }

  finish(totals);
  const rows = [...series.values()].map((r) => finish(r));
  rows.sort((a, b) => seriesKey(a).localeCompare(seriesKey(b)));
  return {
    clinicId: input.clinicId,
    timezone: input.timezone,
    from: input.from,
    to: input.to,
    granularity: input.granularity,
    protocolId: input.protocolId,
    asOf: input.asOf,
    definitions: {
      physicianRoles: [...PHYSICIAN_ROLES],
      physicianOnlyQueues: queues,
      triageQueues: [...TRIAGE_QUEUES],
    },
    totals,
    series: rows,
    turnaround,
    touchesByRole: [...byRole.values()].sort((a, b) => b.cases - a.cases || a.role.localeCompare(b.role)),
    failingCriteria: [...failing.values()]
      .sort((a, b) => b.cases - a.cases || a.criterion.localeCompare(b.criterion))
      .slice(0, TOP_FAILING),
    overrides: { total: totals.overrides, items: input.overrides.slice(0, MAX_OVERRIDES_LISTED) },
  };
}

/** Override pairs the kinds declare, for the store's query: (kind, disposition, outcome). */
export function overridePairs(kinds: readonly string[]): { kind: string; disposition: string; outcome: string }[] {
  return kinds.flatMap((kind) =>
    Object.entries(kindById(kind)?.analytics?.overrides ?? {}).flatMap(([disposition, outcomes]) =>
      outcomes.map((outcome) => ({ kind, disposition, outcome })),
    ),
  );
}

// ---------------------------------------------------------------------------------------------------------------
// The daily rollup of closed cases (kept by connectors/db/analytics-rollup.ts): what one closed case adds to it. A
// closed case's cells are read from the rollup instead of the case table; open cases are always read live.

/** Bumped when what a closed case adds changes shape; with the definitions it depends on, it fingerprints the rollup. */
const ROLLUP_FORMAT = 1;

export type RollupMetric = 'case' | 'role' | 'turnaround' | 'finding';

/**
 * One rollup count under (clinic-local receipt day, metric, cell); the cell is a JSON array of the metric's keys, the
 * case's protocol among them (the row's `protocolId` repeats it for the report's filter).
 */
export interface RollupEntry {
  day: string;
  metric: RollupMetric;
  cell: string;
  /** The case's protocol (the report's protocol filter). */
  protocolId: string | null;
  /** Cases (every metric). */
  n: number;
  /** Decisions (`role` only; else 0). */
  m: number;
  /**
   * `turnaround` only: closes by turnaround (seconds, as {@link turnaroundBucket} keeps them) → count. One row per
   * day, queue and protocol holds the day's histogram, so a day costs one row, not one per distinct turnaround.
   */
  hist?: Record<string, number>;
}

/** The stored fields of a closed case the rollup reads. */
export interface ClosedCase {
  kind: string;
  protocolId: string | null;
  protocolVersion: number | null;
  disposition: string | null;
  queue: string | null;
  reason: string | null;
  outcome: string | null;
  escalated: boolean;
  createdAt: string;
  closedAt: string | null;
  /** The stored decision as JSON text (read only for a kind whose findings live there). */
  decision: string | null;
  clause: string | null;
}

/** A case's decision records by users, per role (null: a record without a role). */
export interface DecisionTally {
  role: string | null;
  decisions: number;
}

/** A turnaround as the histogram keeps it: to the second under an hour, to the minute under a day, else to the hour. */
export function turnaroundBucket(seconds: number): number {
  if (seconds < 3600) return seconds;
  if (seconds < 86_400) return seconds - (seconds % 60);
  return seconds - (seconds % 3600);
}

/** Whether analytics lists what failed on a case of this kind and disposition (a disposition a person reviews). */
export function listsFindings(kind: string, disposition: string | null): boolean {
  const k = kindById(kind);
  return (
    k?.analytics?.failedFindings !== undefined &&
    disposition !== null &&
    Object.hasOwn(k.dispositions, disposition) &&
    !isAutomated(kind, disposition)
  );
}

/**
 * What failed on a case, as the live read takes it from the stored case (connectors/db/analytics.ts): the deciding
 * clause, or the decision's array as JSON text; null when the kind lists none for this disposition.
 */
export function failedFindingsOf(c: Pick<ClosedCase, 'kind' | 'disposition' | 'decision' | 'clause'>): string | null {
  if (!listsFindings(c.kind, c.disposition)) return null;
  const source = kindById(c.kind)?.analytics?.failedFindings;
  if (source === 'clause') return c.clause;
  if (source === undefined || c.decision === null) return null;
  let value: unknown;
  try {
    value = (JSON.parse(c.decision) as Record<string, unknown> | null)?.[source.decisionArray];
  } catch {
    return null;
  }
  if (value === undefined || value === null) return null;
  return typeof value === 'string' ? value : JSON.stringify(value);
}

const flag = (b: boolean): number => (b ? 1 : 0);

/** What one closed case adds to the rollup of its clinic (days in the clinic's time zone). */
export function closedCaseEntries(c: ClosedCase, tallies: readonly DecisionTally[], timeZone: string): RollupEntry[] {
  const day = localDateOf(c.createdAt, timeZone);
  const entry = (metric: RollupMetric, cell: unknown[], m = 0): RollupEntry => ({
    day,
    metric,
    cell: JSON.stringify(cell),
    protocolId: c.protocolId,
    n: 1,
    m,
  });
  const physicianActed = tallies.some((t) => t.role !== null && PHYSICIAN_ROLES.includes(t.role) && t.decisions > 0);
  const out = [
    entry('case', [
      c.kind,
      c.protocolId,
      c.protocolVersion,
      c.disposition,
      c.queue,
      c.reason,
      c.outcome,
      flag(c.escalated),
      flag(physicianActed),
    ]),
  ];
  const byRole = new Map<string, number>();
  for (const t of tallies) {
    const role = t.role ?? 'unknown';
    byRole.set(role, (byRole.get(role) ?? 0) + t.decisions);
  }
  for (const [role, decisions] of byRole) {
    if (decisions > 0) out.push(entry('role', [c.kind, c.protocolId, c.protocolVersion, role], decisions));
  }
  if (c.closedAt !== null) {
    const seconds = Math.floor((Date.parse(c.closedAt) - Date.parse(c.createdAt)) / 1000);
    // The protocol is in the cell (not only beside it): two protocols' closes of one queue stay apart.
    out.push({ ...entry('turnaround', [c.queue, c.protocolId]), hist: { [turnaroundBucket(seconds)]: 1 } });
  }
  const findings = failedFindingsOf(c);
  if (findings !== null && findings !== '' && findings !== '[]') {
    for (const id of new Set(findingIds(findings))) out.push(entry('finding', [c.kind, c.protocolId, id]));
  }
  return out;
}

/**
 * Everything a rollup entry depends on beside the case itself, as text: a rollup built under other definitions (a
 * physician role added, a kind's findings moved) is stale and rebuilt from the case table.
 */
export function rollupDefinitions(): string {
  return JSON.stringify({
    format: ROLLUP_FORMAT,
    physicianRoles: PHYSICIAN_ROLES,
    kinds: KINDS.map((k) => ({
      id: k.id,
      failedFindings: k.analytics?.failedFindings ?? null,
      listed: Object.keys(k.dispositions).filter((d) => listsFindings(k.id, d)),
    })),
  });
}

/** A stored rollup row (the sum of its entries; `hist` as JSON text, `turnaround` rows only). */
export interface RollupRow {
  day: string;
  metric: string;
  cell: string;
  n: number;
  m: number;
  hist: string | null;
}

/**
 * The grouped cells of closed cases, from rollup rows: `bucketOf` names each local day's bucket (days outside the
 * report are skipped). Cells of one bucket may repeat (one per day); {@link aggregate} adds them up.
 */
export function cellsOfRollup(
  rows: readonly RollupRow[],
  bucketOf: ReadonlyMap<string, string>,
): { cases: CaseCell[]; roles: RoleCell[]; turnaround: TurnaroundCell[]; findings: FindingCell[] } {
  const out = {
    cases: [] as CaseCell[],
    roles: [] as RoleCell[],
    turnaround: [] as TurnaroundCell[],
    findings: [] as FindingCell[],
  };
  const turnaround = new Map<string | null, Map<number, number>>();
  for (const r of rows) {
    const bucket = bucketOf.get(r.day);
    if (bucket === undefined || (r.n === 0 && r.m === 0)) continue;
    const k = JSON.parse(r.cell) as unknown[];
    const str = (i: number): string | null => (typeof k[i] === 'string' ? k[i] : null);
    const int = (i: number): number | null => (typeof k[i] === 'number' ? k[i] : null);
    switch (r.metric) {
      case 'case':
        out.cases.push({
          bucket,
          kind: String(k[0]),
          protocolId: str(1),
          protocolVersion: int(2),
          disposition: str(3),
          status: 'closed',
          queue: str(4),
          reason: str(5),
          outcome: str(6),
          escalated: k[7] === 1,
          overdue: false,
          physicianActed: k[8] === 1,
          n: r.n,
        });
        break;
      case 'role':
        out.roles.push({
          bucket,
          kind: String(k[0]),
          protocolId: str(1),
          protocolVersion: int(2),
          role: String(k[3]),
          cases: r.n,
          decisions: r.m,
        });
        break;
      case 'turnaround': {
        // Days merge into one histogram per queue (the report's turnaround is over the range).
        const queue = str(0);
        let h = turnaround.get(queue);
        if (!h) turnaround.set(queue, (h = new Map<number, number>()));
        for (const [seconds, n] of Object.entries(JSON.parse(r.hist ?? '{}') as Record<string, number>)) {
          h.set(Number(seconds), (h.get(Number(seconds)) ?? 0) + n);
        }
        break;
      }
      case 'finding':
        out.findings.push({ kind: String(k[0]), protocolId: str(1), findings: String(k[2]), n: r.n });
        break;
    }
  }
  for (const [queue, h] of turnaround) {
    for (const [seconds, n] of h) if (n !== 0) out.turnaround.push({ queue, seconds, n });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// CSV: one line per series row (ids, codes and numbers only)

const cell = (v: string | number | null): string => {
  if (v === null) return '';
  const s = String(v);
  // A spreadsheet runs a cell starting with = + - @ as a formula; ids and codes never do, so guard anyway.
  const safe = typeof v === 'string' && /^[=+\-@\t\r]/.test(s) ? `'${s}` : s;
  return /[",\r\n]/.test(safe) ? `"${safe.replaceAll('"', '""')}"` : safe;
};

/** The report's series as CSV (RFC 4180, CRLF), with a column per disposition and per role seen in the range. */
export function analyticsCsv(report: AnalyticsReport): string {
  const dispositions = Object.keys(report.totals.dispositions).sort();
  const roles = Object.keys(report.totals.touchesByRole).sort();
  const header = [
    'bucket',
    'kind',
    'protocol_id',
    'protocol_version',
    'requests',
    'open',
    'closed',
    'automated',
    'automation_rate',
    'physician_touches',
    'physician_touches_awaiting',
    'physician_touches_per_100',
    'reduction_pct',
    'escalations',
    'sla_met',
    'sla_breached',
    'sla_compliance',
    'overrides',
    ...dispositions.map((d) => `disposition_${d}`),
    ...roles.map((r) => `touches_${r}`),
  ];
  const lines = report.series.map((r) =>
    [
      r.bucket,
      r.kind,
      r.protocolId,
      r.protocolVersion,
      r.requests,
      r.open,
      r.closed,
      r.automated,
      r.automationRate,
      r.physicianTouches.total,
      r.physicianTouches.awaiting,
      r.physicianTouches.per100,
      r.physicianTouches.reductionPct,
      r.escalations.total,
      r.sla.met,
      r.sla.breached,
      r.sla.compliance,
      r.overrides,
      ...dispositions.map((d) => r.dispositions[d] ?? 0),
      ...roles.map((x) => r.touchesByRole[x] ?? 0),
    ]
      .map(cell)
      .join(','),
  );
  return [header.join(','), ...lines].map((l) => `${l}\r\n`).join('');
}
