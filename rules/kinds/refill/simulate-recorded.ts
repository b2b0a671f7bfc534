import type { ProtocolDefinition } from './protocol.ts';
import type { CompiledProtocol } from './compile.ts';
import { evaluateProtocol } from './evaluate.ts';
import type { ChangedCase, SimulationReport } from './simulate.ts';
import {
  addToTally,
  compileForSimulation,
  evaluateChunk,
  snapshotCase,
  tallyFrom,
  tallySummary,
  type ChunkResult,
  type SimulationCase,
} from './simulate-compiled.ts';
import { RECORDED_PAGE, type RecordedRange, type SnapshotSource } from '../../engine/simulate-kind.ts';

/** One evaluated page: its cases (with the baseline decision when one was given) and those that changed. */
export interface RecordedPage {
  cases: readonly SimulationCase[];
  changed: readonly ChangedCase[];
  /** Snapshots read so far, skipped ones included. */
  read: number;
  /** Cases evaluated so far. */
  evaluated: number;
}

export interface RecordedSimulationOptions {
  /** Recorded decisions replaced by this protocol's on the same facts (json-rules-engine); absent: as recorded. */
  baseline?: ProtocolDefinition;
  /** Changed cases kept in `changed` (all are counted in `changedTotal`). Default: all. */
  maxChanged?: number;
  /** Awaited after each page: progress, explanations, yielding to other work. */
  onPage?: (page: RecordedPage) => void | Promise<void>;
}

export type RecordedSimulation = Pick<SimulationReport, 'evaluated' | 'before' | 'after' | 'changed'> & {
  /** Snapshots whose facts or decision no longer parse (recorded under an older schema): never guessed at. */
  skipped: number;
  changedTotal: number;
};

/** Where the next page starts: the last snapshot read (keyset, newest first). */
export type RecordedCursor = { recordedAt: string; caseId: string };

/** One page read and evaluated: its parsed cases, the chunk's result, and where the next page starts. */
export interface RecordedStep {
  cases: SimulationCase[];
  result: ChunkResult;
  /** Snapshots read in this page, skipped ones included. */
  read: number;
  /** Snapshots whose facts or decision no longer parse. */
  skipped: number;
  /** The last snapshot read; undefined when the page was empty. */
  next: RecordedCursor | undefined;
  /** Fewer than `want` came back: the range is exhausted. */
  last: boolean;
}

/**
 * Reads up to `want` recorded cases after `olderThan` and evaluates them: the step every recorded-case simulation
 * takes, whether it runs in one call (`simulateRecorded`) or one durable activity per page (the async job).
 */
export async function simulateRecordedPage(
  snapshots: SnapshotSource,
  evaluate: CompiledProtocol,
  query: Omit<RecordedRange, 'limit'>,
  want: number,
  olderThan: RecordedCursor | undefined,
  baseline?: ProtocolDefinition,
): Promise<RecordedStep> {
  const page =
    want > 0 ? await snapshots.list({ ...query, limit: want, ...(olderThan !== undefined && { olderThan }) }) : [];
  let cases = page.map(snapshotCase).filter((c): c is SimulationCase => c !== null);
  if (baseline) {
    const rebased: SimulationCase[] = [];
    for (const c of cases) rebased.push({ ...c, decision: await evaluateProtocol(baseline, c.facts) });
    cases = rebased;
  }
  const last = page.at(-1);
  return {
    cases,
    result: evaluateChunk(evaluate, cases),
    read: page.length,
    skipped: page.length - cases.length,
    next: last && { recordedAt: last.recordedAt, caseId: last.caseId },
    last: page.length < want || last === undefined,
  };
}

/**
 * The one simulation over recorded cases, for the API and the CLI: reads the range in pages (newest first, keyset)
 * and evaluates each page as it arrives with the compiled evaluator (decisions identical to `evaluateProtocol`), so
 * memory stays one page however long the range. `changed` is newest first.
 *
 * @throws AppError `PROTOCOL_INVALID` when the protocol cannot be compiled.
 */
export async function simulateRecorded(
  snapshots: SnapshotSource,
  protocol: ProtocolDefinition,
  range: RecordedRange,
  opts: RecordedSimulationOptions = {},
): Promise<RecordedSimulation> {
  const evaluate = compileForSimulation(protocol);
  const { limit, ...query } = range;
  const maxChanged = opts.maxChanged ?? Infinity;
  const tally = tallyFrom();
  const changed: ChangedCase[] = [];
  let changedTotal = 0;
  let skipped = 0;
  let olderThan: RecordedCursor | undefined;
  for (;;) {
    const read = tally.evaluated + skipped;
    const want = Math.min(RECORDED_PAGE, limit === undefined ? RECORDED_PAGE : limit - read);
    if (want <= 0) break;
    const step = await simulateRecordedPage(snapshots, evaluate, query, want, olderThan, opts.baseline);
    skipped += step.skipped;
    addToTally(tally, step.result);
    changedTotal += step.result.changed.length;
    changed.push(...step.result.changed.slice(0, Math.max(0, maxChanged - changed.length)));
    await opts.onPage?.({
      cases: step.cases,
      changed: step.result.changed,
      read: tally.evaluated + skipped,
      evaluated: tally.evaluated,
    });
    if (step.last) break;
    olderThan = step.next;
  }
  return { ...tallySummary(tally), skipped, changed, changedTotal };
}
