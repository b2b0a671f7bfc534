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
  const a = new Map(before.map((f) => [f.id, f.passed]));
  const b = new Map(after.map((f) => [f.id, f.passed]));
  const flips: FindingFlip[] = [];
  for (const id of new Set([...a.keys(), ...b.keys()])) {
    const pb = a.get(id) ?? null;
    const pa = b.get(id) ?? null;
    if (pb !== pa) flips.push({ id, clause: id, before: pb, after: pa });
  }
  return flips;
}

/** The version a recorded decision was made with (every kind's decision carries `protocol: { id, version }`). */
function versionOf(decision: unknown): number {
  const v = (decision as { protocol?: { version?: unknown } } | null)?.protocol?.version;
  return typeof v === 'number' ? v : 0;
}

function summary(kind: AnyKind, counts: Record<string, number>, total: number): KindDispositionSummary {
  const automated = Object.entries(counts)
    .filter(([d]) => kind.dispositions[d]?.queue === null)
    .reduce((n, [, c]) => n + c, 0);
  return { counts: { ...counts }, automationRate: total ? automated / total : null };
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
  const maxChanged = opts.maxChanged ?? Infinity;
  const before: Record<string, number> = Object.fromEntries(Object.keys(kind.dispositions).map((d) => [d, 0]));
  const after: Record<string, number> = { ...before };
  const changed: KindChangedCase[] = [];
  let evaluated = 0;
  let skipped = 0;
  let changedTotal = 0;
  let olderThan: { recordedAt: string; caseId: string } | undefined;
  for (;;) {
    const want = Math.min(RECORDED_PAGE, limit === undefined ? RECORDED_PAGE : limit - evaluated - skipped);
    if (want <= 0) break;
    const page = await snapshots.list({ ...query, limit: want, ...(olderThan !== undefined && { olderThan }) });
    for (const s of page) {
      const facts = kind.factsSchema.safeParse(s.facts);
      const recorded = kind.decisionSchema.safeParse(s.decision);
      if (!facts.success || !recorded.success) {
        skipped += 1;
        continue;
      }
      const was = kind.summarize(recorded.data);
      const now = kind.summarize(await kind.evaluate(definition, facts.data));
      evaluated += 1;
      before[was.disposition] = (before[was.disposition] ?? 0) + 1;
      after[now.disposition] = (after[now.disposition] ?? 0) + 1;
      if (was.disposition === now.disposition && was.clause === now.clause) continue;
      changedTotal += 1;
      if (changed.length >= maxChanged) continue;
      changed.push({
        caseId: s.caseId,
        recordedAt: s.recordedAt,
        before: {
          disposition: was.disposition,
          protocolVersion: versionOf(recorded.data),
          failedCriteria: failed(was),
          clause: was.clause,
        },
        after: { disposition: now.disposition, failedCriteria: failed(now), clause: now.clause },
        criteria: findingFlips(was.findings, now.findings),
      });
    }
    await opts.onPage?.();
    const last = page.at(-1);
    if (page.length < want || last === undefined) break;
    olderThan = { recordedAt: last.recordedAt, caseId: last.caseId };
  }
  return {
    evaluated,
    before: summary(kind, before, evaluated),
    after: summary(kind, after, evaluated),
    skipped,
    changed,
    changedTotal,
  };
}
