// Simulation over recorded cases for every protocol kind: replay a version over a clinic's recorded facts snapshots of
// the protocol, with the kind's own evaluator, and list the cases whose outcome changed with the findings (criteria,
// clauses) that flipped, as the kind's `summarize` reports them. A kind may bring a faster path of its own
// (`simulateRecorded` in its declaration); the result has the same shape.
import type { AnyKind } from '../kinds/index.ts';
import type { KindFinding } from '../kinds/types.ts';

/** Recorded cases read per page and evaluated per step (the snapshot repository's page maximum). */
export const RECORDED_PAGE = 5000;

/** Which recorded cases to replay: a clinic's snapshots for a protocol in [from, before), or the newest `limit`. */
export interface RecordedRange {
  clinicId: string;
  protocolId: string;
  from?: string;
  before?: string;
  limit?: number;
}

/** A recorded facts snapshot as stored (facts and decision not yet parsed). */
export interface StoredSnapshot {
  caseId: string;
  recordedAt: string;
  facts: unknown;
  decision: unknown;
}

/**
 * What the simulation reads: the snapshot store's keyset listing, newest first (connectors/db `store.snapshots`,
 * injected so this stays free of I/O of its own).
 */
export interface SnapshotSource {
  list(
    q: Omit<RecordedRange, 'limit'> & { limit: number; olderThan?: { recordedAt: string; caseId: string } },
  ): Promise<readonly StoredSnapshot[]>;
}

/** A finding whose pass/fail differs; `null` = not reached in that decision. */
export interface FindingFlip {
  id: string;
  /** The protocol clause the finding belongs to (the finding's own id when the kind reports clauses). */
  clause: string;
  before: boolean | null;
  after: boolean | null;
}

/** One recorded case whose outcome changed: disposition and deciding clause before and after, and what flipped. */
export interface KindChangedCase {
  caseId: string;
  recordedAt: string;
  before: { disposition: string; protocolVersion: number; failedCriteria: string[]; clause?: string | null };
  after: { disposition: string; failedCriteria: string[]; clause?: string | null };
  criteria: FindingFlip[];
}

export interface KindDispositionSummary {
  counts: Record<string, number>;
  /** Share of cases that need no clinician (their disposition creates no work item); null without cases. */
  automationRate: number | null;
}

export interface KindSimulation {
  evaluated: number;
  before: KindDispositionSummary;
  after: KindDispositionSummary;
  /** Snapshots whose facts or decision no longer parse with the kind's schemas: never guessed at. */
  skipped: number;
  changed: KindChangedCase[];
  changedTotal: number;
}

export interface KindSimulationOptions {
  /** Changed cases kept in `changed` (all are counted in `changedTotal`). Default: all. */
  maxChanged?: number;
  /** Awaited after each page (progress, yielding to other work). */
  onPage?: () => void | Promise<void>;
}

type Summary = ReturnType<AnyKind['summarize']>;

const failed = (s: Summary) => s.findings.filter((f) => f.passed === false).map((f) => f.id);

/** The findings whose pass/fail differs between two summaries of decisions on the same facts, matched by id. */
export function findingFlips(before: readonly KindFinding[], after: readonly KindFinding[]): FindingFlip[] {
  const a = new Map(before.map((f) => [f.id, f]));
  const b = new Map(after.map((f) => [f.id, f]));
  const flips: FindingFlip[] = [];
  for (const id of new Set([...a.keys(), ...b.keys()])) {
    const pb = a.get(id)?.passed ?? null;
    const pa = b.get(id)?.passed ?? null;
    if (pb !== pa) flips.push({ id, clause: (b.get(id) ?? a.get(id))?.clause ?? id, before: pb, after: pa });
  }
  return flips;
}

/** The version a recorded decision was made with (every kind's decision carries `protocol: { id, version }`). */
function versionOf(decision: unknown): number {
  const v = (decision as { protocol?: { version?: unknown } } | null)?.protocol?.version;
  return typeof v === 'number' ? v : 0;
}

/** Counts per disposition of `kind` (every one of them, zero when absent) with its automation rate. */
export function kindSummary(kind: AnyKind, counts: Record<string, number>, total: number): KindDispositionSummary {
  const all: Record<string, number> = Object.fromEntries(Object.keys(kind.dispositions).map((d) => [d, 0]));
  for (const [d, n] of Object.entries(counts)) all[d] = (all[d] ?? 0) + n;
  const automated = (d: string) => (kind.automated ? kind.automated.includes(d) : kind.dispositions[d]?.queue === null);
  const done = Object.entries(all)
    .filter(([d]) => automated(d))
    .reduce((n, [, c]) => n + c, 0);
  return { counts: all, automationRate: total ? done / total : null };
}

/** Evaluates facts of one kind with one definition: the kind's accelerator when it has one, else `evaluate`. */
export type KindEvaluator = (facts: unknown) => unknown;

/** The evaluator a simulation of `definition` (parsed with the kind's schema) uses; prepared once per run. */
export function kindEvaluator(kind: AnyKind, definition: unknown): KindEvaluator {
  return kind.simulationEvaluator?.(definition) ?? ((facts) => kind.evaluate(definition, facts));
}

/** A case to compare: facts of the kind and the baseline decision (recorded at the time, or a baseline version's). */
export interface KindCase {
  caseId: string;
  recordedAt: string;
  facts: unknown;
  decision: unknown;
}

/** What comparing some cases yields: counts per disposition before and after, and the cases that changed. */
export interface KindComparison {
  evaluated: number;
  before: Record<string, number>;
  after: Record<string, number>;
  /** Every changed case, in the order given. */
  changed: KindChangedCase[];
}

/**
 * Re-evaluates each case's facts and compares with its baseline decision: a case counts as changed when its
 * disposition or its deciding clause differs. The step every simulation of every kind takes (recorded cases, a job's
 * page, uploaded bundles).
 */
export async function compareKindCases(
  kind: AnyKind,
  evaluate: KindEvaluator,
  cases: readonly KindCase[],
): Promise<KindComparison> {
  const before: Record<string, number> = {};
  const after: Record<string, number> = {};
  const changed: KindChangedCase[] = [];
  for (const c of cases) {
    const was = kind.summarize(c.decision);
    const now = kind.summarize(await evaluate(c.facts));
    before[was.disposition] = (before[was.disposition] ?? 0) + 1;
    after[now.disposition] = (after[now.disposition] ?? 0) + 1;
    if (was.disposition === now.disposition && was.clause === now.clause) continue;
    // Kinds that decide by one clause report it; the others' cases carry none.
    const clause = (s: Summary) => (s.clause === null ? {} : { clause: s.clause });
    changed.push({
      caseId: c.caseId,
      recordedAt: c.recordedAt,
      before: {
        disposition: was.disposition,
        protocolVersion: versionOf(c.decision),
        failedCriteria: failed(was),
        ...clause(was),
      },
      after: { disposition: now.disposition, failedCriteria: failed(now), ...clause(now) },
      criteria: findingFlips(was.findings, now.findings),
    });
  }
  return { evaluated: cases.length, before, after, changed };
}

/** Where the next page starts: the last snapshot read (keyset, newest first). */
export type KindCursor = { recordedAt: string; caseId: string };

/** One page of recorded cases read and compared. */
export interface KindPage extends KindComparison {
  /** Snapshots read, skipped ones included. */
  read: number;
  /** Snapshots whose facts or decision no longer parse with the kind's schemas: never guessed at. */
  skipped: number;
  /** The last snapshot read; undefined when the page was empty. */
  next: KindCursor | undefined;
  /** Fewer than `want` came back: the range is exhausted. */
  last: boolean;
}

/**
 * Reads up to `want` recorded cases after `olderThan` and compares them: one page of a simulation over recorded cases,
 * whether it runs in one call (`simulateKindRecorded`) or one durable activity per page (the async job).
 */
export async function simulateKindPage(
  kind: AnyKind,
  evaluate: KindEvaluator,
  snapshots: SnapshotSource,
  query: Omit<RecordedRange, 'limit'>,
  want: number,
  olderThan: KindCursor | undefined,
): Promise<KindPage> {
  const page =
    want > 0 ? await snapshots.list({ ...query, limit: want, ...(olderThan !== undefined && { olderThan }) }) : [];
  const cases: KindCase[] = [];
  for (const s of page) {
    const facts = kind.factsSchema.safeParse(s.facts);
    const decision = kind.decisionSchema.safeParse(s.decision);
    if (facts.success && decision.success) {
      cases.push({ caseId: s.caseId, recordedAt: s.recordedAt, facts: facts.data, decision: decision.data });
    }
  }
  const last = page.at(-1);
  return {
    ...(await compareKindCases(kind, evaluate, cases)),
    read: page.length,
    skipped: page.length - cases.length,
    next: last && { recordedAt: last.recordedAt, caseId: last.caseId },
    last: page.length < want || last === undefined,
  };
}

/** Adds `more` to running counts per disposition (in place) and returns them. */
export function addCounts(
  counts: Record<string, number>,
  more: Readonly<Record<string, number>>,
): Record<string, number> {
  for (const [d, n] of Object.entries(more)) counts[d] = (counts[d] ?? 0) + n;
  return counts;
}

/**
 * Replays `definition` (already parsed with the kind's schema) over the recorded cases in `range`, page by page
 * (newest first), with the kind's evaluator. A case counts as changed when its disposition or its deciding clause
 * differs from the recorded decision.
 */
export async function simulateKindRecorded(
  kind: AnyKind,
  snapshots: SnapshotSource,
  definition: unknown,
  range: RecordedRange,
  opts: KindSimulationOptions = {},
): Promise<KindSimulation> {
  if (kind.simulateRecorded) return kind.simulateRecorded(snapshots, definition, range, opts);
  const { limit, ...query } = range;
  const evaluate = kindEvaluator(kind, definition);
  const maxChanged = opts.maxChanged ?? Infinity;
  const before: Record<string, number> = {};
  const after: Record<string, number> = {};
  const changed: KindChangedCase[] = [];
  let evaluated = 0;
  let skipped = 0;
  let changedTotal = 0;
  let olderThan: KindCursor | undefined;
  for (;;) {
    const want = Math.min(RECORDED_PAGE, limit === undefined ? RECORDED_PAGE : limit - evaluated - skipped);
    if (want <= 0) break;
    const page = await simulateKindPage(kind, evaluate, snapshots, query, want, olderThan);
    evaluated += page.evaluated;
    skipped += page.skipped;
    addCounts(before, page.before);
    addCounts(after, page.after);
    changedTotal += page.changed.length;
    changed.push(...page.changed.slice(0, Math.max(0, maxChanged - changed.length)));
    await opts.onPage?.();
    if (page.last) break;
    olderThan = page.next;
  }
  return {
    evaluated,
    before: kindSummary(kind, before, evaluated),
    after: kindSummary(kind, after, evaluated),
    skipped,
    changed,
    changedTotal,
  };
}
