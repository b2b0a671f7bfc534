import type { ProtocolDefinition } from '../schema/protocol.ts';
import { evaluateProtocol } from './evaluate.ts';
import type { ChangedCase, SimulationReport } from './simulate.ts';
import {
  addToTally,
  compileForSimulation,
  evaluateChunk,
  snapshotCase,
  tallyFrom,
  tallySummary,
  type SimulationCase,
} from './simulate-compiled.ts';

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
  let olderThan: { recordedAt: string; caseId: string } | undefined;
  for (;;) {
    const read = tally.evaluated + skipped;
    const want = Math.min(RECORDED_PAGE, limit === undefined ? RECORDED_PAGE : limit - read);
    if (want <= 0) break;
    const page = await snapshots.list({ ...query, limit: want, ...(olderThan !== undefined && { olderThan }) });
    let cases = page.map(snapshotCase).filter((c): c is SimulationCase => c !== null);
    skipped += page.length - cases.length;
    if (opts.baseline) {
      const baseline = opts.baseline;
      const rebased: SimulationCase[] = [];
      for (const c of cases) rebased.push({ ...c, decision: await evaluateProtocol(baseline, c.facts) });
      cases = rebased;
    }
    const r = evaluateChunk(evaluate, cases);
    addToTally(tally, r);
    changedTotal += r.changed.length;
    changed.push(...r.changed.slice(0, Math.max(0, maxChanged - changed.length)));
    await opts.onPage?.({ cases, changed: r.changed, read: tally.evaluated + skipped, evaluated: tally.evaluated });
    const last = page.at(-1);
    if (page.length < want || last === undefined) break;
    olderThan = { recordedAt: last.recordedAt, caseId: last.caseId };
  }
  return { ...tallySummary(tally), skipped, changed, changedTotal };
}
