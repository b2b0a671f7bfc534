// The daily rollup of closed cases that outcome analytics reads (connectors/db/analytics.ts): per clinic, clinic-local
// day of receipt, metric and cell, a count. What one closed case adds is rules/analytics `closedCaseEntries` (pure);
// this module keeps the table equal to that sum over the case table:
// - every case step changes it in the step's own transaction, by what the case added before and after the step
//   (CaseRepo.recordStep), so a retried or failed step changes nothing twice or half;
// - a clinic's rollup is current only when built in the clinic's time zone under the current definitions
//   (`analytics_rollup_state`); a stale one (a new deployment's definitions, a time-zone change, a database from before
//   migration 0013) is rebuilt from `cases`: at open (`refreshRollups`) and when a clinic is written
//   (`keepRollupCurrent`). Until then steps leave it alone and analytics reads that clinic live.
// PostgreSQL: a step locks the case row and shares the clinic row; a rebuild locks the clinic row, so neither sees the
// other half-done. SQLite has one writer.
import { createHash } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import {
  closedCaseEntries,
  listsFindings,
  rollupDefinitions,
  type ClosedCase,
  type DecisionTally,
  type RollupEntry,
} from '../../rules/analytics/index.ts';
import { needsRowLock, nowIso, type DialectName } from './dialect.ts';
import type { Database } from './schema.ts';

/** The audit action of a clinician's decision (rules/lifecycle `decision.recorded`): a touch of the case. */
export const DECISION_ACTION = 'decision.recorded';

/** Page size of a rebuild (cases read per query) and of its inserts (rows per statement, 7 parameters each). */
const REBUILD_PAGE = 2000;
const INSERT_CHUNK = 500;

let definitions: string | undefined;
/** The current definitions' fingerprint (sha-256 of rules/analytics `rollupDefinitions`). */
export function currentDefinitions(): string {
  definitions ??= createHash('sha256').update(rollupDefinitions()).digest('hex');
  return definitions;
}

/** A case's place in its clinic's rollup: whether the rollup is kept, and what the case adds to it now. */
export interface Standing {
  clinicId: string;
  kept: boolean;
  /** The case is closed (only a closed case adds anything). */
  closed: boolean;
  entries: RollupEntry[];
}

const num = (v: unknown): number => Number(v);

type CaseRow = Omit<ClosedCase, 'escalated' | 'decision'> & { id: string; escalated: unknown; status: string };

const CASE_COLUMNS = [
  'c.id',
  'c.kind',
  'c.protocolId',
  'c.protocolVersion',
  'c.disposition',
  'c.queue',
  'c.reason',
  'c.outcome',
  'c.escalated',
  'c.createdAt',
  'c.closedAt',
  'c.clause',
  'c.status',
] as const;

/** User decision records of the given cases, per role. */
async function decisionTallies(
  db: Kysely<Database>,
  caseIds: readonly string[],
): Promise<Map<string, DecisionTally[]>> {
  const out = new Map<string, DecisionTally[]>();
  if (caseIds.length === 0) return out;
  const rows = await db
    .selectFrom('audit_log')
    .select((eb) => ['caseId', 'actorRole', eb.fn.countAll().as('n')])
    .where('caseId', 'in', caseIds)
    .where('action', '=', DECISION_ACTION)
    .where('actorType', '=', 'user')
    .groupBy(['caseId', 'actorRole'])
    .execute();
  for (const r of rows) {
    const list = out.get(String(r.caseId)) ?? [];
    list.push({ role: r.actorRole, decisions: num(r.n) });
    out.set(String(r.caseId), list);
  }
  return out;
}

/** The stored decisions of the cases among `rows` whose findings live there (others never read theirs). */
async function decisionsOf(db: Kysely<Database>, rows: readonly CaseRow[]): Promise<Map<string, string | null>> {
  const ids = rows.filter((r) => listsFindings(r.kind, r.disposition)).map((r) => r.id);
  const out = new Map<string, string | null>();
  if (ids.length === 0) return out;
  const found = await db.selectFrom('cases').select(['id', 'decision']).where('id', 'in', ids).execute();
  for (const r of found) out.set(r.id, r.decision);
  return out;
}

function entriesOf(
  row: CaseRow,
  decision: string | null,
  tallies: readonly DecisionTally[],
  timezone: string,
): RollupEntry[] {
  return closedCaseEntries(
    { ...row, escalated: num(row.escalated) !== 0, decision: decision ?? null },
    tallies,
    timezone,
  );
}

/**
 * The case's standing (null: no such case). Inside a step's transaction; on PostgreSQL it locks the case row and
 * shares its clinic's, so a rebuild of that clinic waits for the step, and the step for the rebuild.
 */
export async function standingOf(db: Kysely<Database>, dialect: DialectName, caseId: string): Promise<Standing | null> {
  if (needsRowLock(dialect)) {
    // Locks first, then reads in a statement of its own: a read that waited for a rebuild's lock would otherwise see
    // the rollup state of its own older snapshot (PostgreSQL re-reads only the rows it locks).
    await db
      .selectFrom('cases as c')
      .innerJoin('clinics as cl', 'cl.id', 'c.clinicId')
      .select('c.id')
      .where('c.id', '=', caseId)
      .forUpdate('c')
      .forShare('cl')
      .execute();
  }
  const row = await db
    .selectFrom('cases as c')
    .innerJoin('clinics as cl', 'cl.id', 'c.clinicId')
    .leftJoin('analytics_rollup_state as s', 's.clinicId', 'c.clinicId')
    .select([
      ...CASE_COLUMNS,
      'c.clinicId',
      'c.decision',
      'cl.timezone',
      's.timezone as rollupTimezone',
      's.definitions',
    ])
    .where('c.id', '=', caseId)
    .executeTakeFirst();
  if (row === undefined) return null;
  const kept = row.rollupTimezone === row.timezone && row.definitions === currentDefinitions();
  if (!kept || row.status !== 'closed')
    return { clinicId: row.clinicId, kept, closed: row.status === 'closed', entries: [] };
  const tallies = await decisionTallies(db, [row.id]);
  return {
    clinicId: row.clinicId,
    kept,
    closed: true,
    entries: entriesOf(row, row.decision, tallies.get(row.id) ?? [], row.timezone),
  };
}

const keyOf = (e: RollupEntry): string => `${e.day}\u0000${e.metric}\u0000${e.cell}`;

/** Adds histogram `b` (times `sign`) into `a`; counts that reach 0 leave it. */
function mergeHist(a: Record<string, number>, b: Readonly<Record<string, number>>, sign: 1 | -1): void {
  for (const [k, v] of Object.entries(b)) {
    const sum = (a[k] ?? 0) + sign * v;
    if (sum === 0) delete a[k];
    else a[k] = sum;
  }
}

/** Adds `signed` entries (+1 or −1 each) into `into`, by key. */
function accumulate(into: Map<string, RollupEntry>, entries: readonly RollupEntry[], sign: 1 | -1): void {
  for (const e of entries) {
    const key = keyOf(e);
    let t = into.get(key);
    if (!t) {
      t = { ...e, n: 0, m: 0, ...(e.hist && { hist: {} }) };
      into.set(key, t);
    }
    t.n += sign * e.n;
    t.m += sign * e.m;
    if (e.hist) mergeHist((t.hist ??= {}), e.hist, sign);
  }
}

const changes = (e: RollupEntry): boolean => e.n !== 0 || e.m !== 0 || Object.keys(e.hist ?? {}).length > 0;

/**
 * Adds the sums to the clinic's rollup rows, creating missing ones (`fresh`: the clinic has none, as in a rebuild, so
 * rows are inserted as they are). Counts add up in SQL; a histogram is read, merged and written back under the step's
 * lock (the row lock on PostgreSQL, the write lock on SQLite).
 */
async function addRows(
  db: Kysely<Database>,
  dialect: DialectName,
  clinicId: string,
  sums: Iterable<RollupEntry>,
  fresh = false,
): Promise<void> {
  const all = [...sums].filter(changes);
  const counts = fresh ? all : all.filter((e) => e.hist === undefined);
  const row = (e: RollupEntry) => ({
    clinicId,
    day: e.day,
    metric: e.metric,
    cell: e.cell,
    protocolId: e.protocolId,
    n: e.n,
    m: e.m,
    hist: e.hist === undefined ? null : JSON.stringify(e.hist),
  });
  for (let i = 0; i < counts.length; i += INSERT_CHUNK) {
    await db
      .insertInto('analytics_daily')
      .values(counts.slice(i, i + INSERT_CHUNK).map(row))
      .$if(!fresh, (q) =>
        q.onConflict((oc) =>
          oc.columns(['clinicId', 'day', 'metric', 'cell']).doUpdateSet((eb) => ({
            n: eb('analytics_daily.n', '+', eb.ref('excluded.n')),
            m: eb('analytics_daily.m', '+', eb.ref('excluded.m')),
          })),
        ),
      )
      .execute();
  }
  if (fresh) return;
  for (const e of all.filter((x) => x.hist !== undefined)) {
    const key = { clinicId, day: e.day, metric: e.metric, cell: e.cell };
    await db
      .insertInto('analytics_daily')
      .values({ ...key, protocolId: e.protocolId, n: 0, m: 0, hist: '{}' })
      .onConflict((oc) => oc.columns(['clinicId', 'day', 'metric', 'cell']).doNothing())
      .execute();
    const stored = await db
      .selectFrom('analytics_daily')
      .select(['n', 'm', 'hist'])
      .where('clinicId', '=', clinicId)
      .where('day', '=', e.day)
      .where('metric', '=', e.metric)
      .where('cell', '=', e.cell)
      .$if(needsRowLock(dialect), (q) => q.forUpdate())
      .executeTakeFirstOrThrow();
    const hist = JSON.parse(stored.hist ?? '{}') as Record<string, number>;
    mergeHist(hist, e.hist!, 1);
    await db
      .updateTable('analytics_daily')
      .set({ n: num(stored.n) + e.n, m: num(stored.m) + e.m, hist: JSON.stringify(hist) })
      .where('clinicId', '=', clinicId)
      .where('day', '=', e.day)
      .where('metric', '=', e.metric)
      .where('cell', '=', e.cell)
      .execute();
  }
}

/** Moves the clinic's rollup from what a case added before a step to what it adds after (same transaction). */
export async function applyStanding(
  db: Kysely<Database>,
  dialect: DialectName,
  before: Standing | null,
  after: Standing | null,
): Promise<void> {
  if (after === null || !after.kept) return;
  const net = new Map<string, RollupEntry>();
  accumulate(net, after.entries, 1);
  if (before?.kept) accumulate(net, before.entries, -1);
  await addRows(db, dialect, after.clinicId, net.values());
}

/**
 * Rebuilds one clinic's rollup from the case table, inside the caller's transaction (on PostgreSQL it locks the clinic
 * row first). Returns how many closed cases it read.
 */
export async function rebuildRollup(db: Kysely<Database>, dialect: DialectName, clinicId: string): Promise<number> {
  const clinic = await db
    .selectFrom('clinics')
    .select('timezone')
    .where('id', '=', clinicId)
    .$if(needsRowLock(dialect), (q) => q.forUpdate())
    .executeTakeFirst();
  if (clinic === undefined) return 0;
  await db.deleteFrom('analytics_daily').where('clinicId', '=', clinicId).execute();
  const sums = new Map<string, RollupEntry>();
  let read = 0;
  // Pages in the order of the (clinic, status, receipt time, id) index, so each page is one index range.
  for (let after: [string, string] = ['', '']; ;) {
    const [createdAt, id] = after;
    const rows: CaseRow[] = await db
      .selectFrom('cases as c')
      .select(CASE_COLUMNS)
      .where('c.clinicId', '=', clinicId)
      .where('c.status', '=', 'closed')
      .where((eb) => eb(eb.refTuple('c.createdAt', 'c.id'), '>', eb.tuple(createdAt, id)))
      .orderBy('c.createdAt')
      .orderBy('c.id')
      .limit(REBUILD_PAGE)
      .execute();
    if (rows.length === 0) break;
    const ids = rows.map((r) => r.id);
    const [tallies, decisions] = await Promise.all([decisionTallies(db, ids), decisionsOf(db, rows)]);
    for (const row of rows) {
      accumulate(sums, entriesOf(row, decisions.get(row.id) ?? null, tallies.get(row.id) ?? [], clinic.timezone), 1);
    }
    read += rows.length;
    const last = rows.at(-1)!;
    after = [last.createdAt, last.id];
  }
  await addRows(db, dialect, clinicId, sums.values(), true);
  const state = { timezone: clinic.timezone, definitions: currentDefinitions(), builtAt: nowIso() };
  await db
    .insertInto('analytics_rollup_state')
    .values({ clinicId, ...state })
    .onConflict((oc) => oc.column('clinicId').doUpdateSet(state))
    .execute();
  return read;
}

/** Whether the clinic's rollup is current (built in its time zone under the current definitions). */
export async function rollupIsCurrent(db: Kysely<Database>, clinicId: string, timezone: string): Promise<boolean> {
  const state = await db
    .selectFrom('analytics_rollup_state')
    .select(['timezone', 'definitions'])
    .where('clinicId', '=', clinicId)
    .executeTakeFirst();
  return state?.timezone === timezone && state.definitions === currentDefinitions();
}

/** Rebuilds the clinic's rollup if it is stale; inside the transaction that wrote the clinic (its time zone may move). */
export async function keepRollupCurrent(db: Kysely<Database>, dialect: DialectName, clinicId: string): Promise<void> {
  const clinic = await db.selectFrom('clinics').select('timezone').where('id', '=', clinicId).executeTakeFirst();
  if (clinic !== undefined && !(await rollupIsCurrent(db, clinicId, clinic.timezone))) {
    await rebuildRollup(db, dialect, clinicId);
  }
}

/**
 * Rebuilds every stale clinic rollup, one transaction per clinic (the data half of migration 0013, and what a change
 * of definitions needs): run at open. Processes opening at once serialise on each clinic (a row lock on PostgreSQL,
 * the write lock on SQLite) and the later one finds the rollup current.
 */
export async function refreshRollups(
  db: Kysely<Database>,
  dialect: DialectName,
): Promise<{ clinicId: string; cases: number }[]> {
  const stale = await db
    .selectFrom('clinics as cl')
    .leftJoin('analytics_rollup_state as s', 's.clinicId', 'cl.id')
    .select('cl.id')
    .where((eb) =>
      eb.or([
        eb('s.clinicId', 'is', null),
        eb('s.timezone', '<>', eb.ref('cl.timezone')),
        eb('s.definitions', '<>', currentDefinitions()),
      ]),
    )
    .orderBy('cl.id')
    .execute();
  const out: { clinicId: string; cases: number }[] = [];
  for (const { id } of stale) {
    let cases: number | null;
    try {
      cases = await db.transaction().execute(async (trx) => {
        // Lock before checking: PostgreSQL locks the clinic row (another process waits, then finds the rollup
        // current); on SQLite a write statement (it changes nothing) takes the database's write lock.
        if (needsRowLock(dialect)) {
          await trx.selectFrom('clinics').select('id').where('id', '=', id).forUpdate().execute();
        } else await sql`update analytics_rollup_state set built_at = built_at where clinic_id = ${id}`.execute(trx);
        const clinic = await trx.selectFrom('clinics').select('timezone').where('id', '=', id).executeTakeFirst();
        if (clinic === undefined || (await rollupIsCurrent(trx, id, clinic.timezone))) return null;
        return rebuildRollup(trx, dialect, id);
      });
    } catch (err) {
      // SQLite: another process holds the write lock past the busy timeout, most likely rebuilding this very rollup
      // (a large clinic takes minutes). This process opens anyway; the clinic is read live until its rollup is current.
      if (isSqliteBusy(err)) continue;
      throw err;
    }
    if (cases !== null) out.push({ clinicId: id, cases });
  }
  return out;
}

function isSqliteBusy(err: unknown): boolean {
  return typeof err === 'object' && err !== null && 'code' in err && String(err.code).startsWith('SQLITE_BUSY');
}
