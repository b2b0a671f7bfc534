import { compileProtocol, type CompiledProtocol } from './compile.ts';
import type { ProtocolDefinition } from './protocol.ts';
import {
  changedCase,
  type ChangedCase,
  type DispositionSummary,
  type RecordedCase,
  type SimulationReport,
} from './simulate.ts';
import {
  DispositionSchema,
  TriageDecisionSchema,
  type CriterionResult,
  type Disposition,
  type TriageDecision,
} from './decision.ts';
import { RefillFactsSchema } from './facts.ts';

/** Disposition ↔ small integer, so a chunk's outcomes cross threads as one Uint8Array. */
export const DISPOSITIONS: readonly Disposition[] = DispositionSchema.options;

/**
 * What a simulation needs of a recorded case: a RecordedCase, or the slim copy sent to worker threads (the recorded
 * decision without explanations and evidence, which halves what crosses threads).
 */
export interface SimulationCase extends Pick<RecordedCase, 'caseId' | 'recordedAt' | 'facts'> {
  decision: Pick<TriageDecision, 'disposition' | 'failedCriteria'> & {
    protocol: { version: number };
    criteria: Pick<CriterionResult, 'id' | 'clause' | 'passed'>[];
  };
}

/** The slim copy of a recorded case for a worker thread. */
export function slimCase(c: SimulationCase): SimulationCase {
  const d = c.decision;
  return {
    caseId: c.caseId,
    recordedAt: c.recordedAt,
    facts: c.facts,
    decision: {
      disposition: d.disposition,
      failedCriteria: d.failedCriteria,
      protocol: { version: d.protocol.version },
      criteria: d.criteria.map(({ id, clause, passed }) => ({ id, clause, passed })),
    },
  };
}

/** What evaluating one chunk of recorded cases yields: each case's new disposition, and the cases that changed. */
export interface ChunkResult {
  /** `DISPOSITIONS` index of the recorded disposition per case, in input order. */
  before: Uint8Array;
  /** `DISPOSITIONS` index of the new disposition per case, in input order. */
  dispositions: Uint8Array;
  changed: ChangedCase[];
}

/**
 * Evaluates recorded cases (objects, or their stored JSON text) with a compiled protocol and compares each with the
 * decision recorded at the time. The per-chunk step of the parallel simulation, run the same way on the main thread
 * and in worker threads.
 */
export function evaluateChunk(evaluate: CompiledProtocol, cases: readonly (SimulationCase | string)[]): ChunkResult {
  const before = new Uint8Array(cases.length);
  const dispositions = new Uint8Array(cases.length);
  const changed: ChangedCase[] = [];
  cases.forEach((input, i) => {
    // A string is a recorded case as stored (JSON text): parsed here, so the parsing is spread over threads too.
    const c = typeof input === 'string' ? (JSON.parse(input) as SimulationCase) : input;
    const now = evaluate(c.facts);
    before[i] = DISPOSITIONS.indexOf(c.decision.disposition);
    dispositions[i] = DISPOSITIONS.indexOf(now.disposition);
    if (now.disposition !== c.decision.disposition) {
      // criteriaFlips reads only id, clause and passed of each criterion, which a SimulationCase keeps.
      changed.push(changedCase({ ...c, decision: c.decision as TriageDecision }, now));
    }
  });
  return { before, dispositions, changed };
}

/** The evaluator simulations use: compiled, without explanation texts or evidence (outcomes are identical). */
export const compileForSimulation = (protocol: ProtocolDefinition): CompiledProtocol =>
  compileProtocol(protocol, { explain: false });

const zeroCounts = (): Record<Disposition, number> =>
  Object.fromEntries(DISPOSITIONS.map((d) => [d, 0])) as Record<Disposition, number>;

/** Adds chunk results up (in chunk order) into the simulation report. */
export function mergeChunks(results: readonly ChunkResult[]): SimulationReport {
  const before = zeroCounts();
  const after = zeroCounts();
  const changed: ChangedCase[] = [];
  let total = 0;
  for (const r of results) {
    total += r.dispositions.length;
    for (const d of r.before) before[DISPOSITIONS[d] as Disposition] += 1;
    for (const d of r.dispositions) after[DISPOSITIONS[d] as Disposition] += 1;
    changed.push(...r.changed);
  }
  const summary = (counts: Record<Disposition, number>): DispositionSummary => ({
    counts,
    automationRate: total ? counts.approve / total : null,
  });
  return { evaluated: total, before: summary(before), after: summary(after), changed };
}

/**
 * `simulateProtocol` with the compiled evaluator: the same report (tested against it), ~30–70× faster, on the calling
 * thread (100,000 cases in ~1–3.5 s here). Pure, so the API and the CLI can call it; `activities/simulation.ts`
 * spreads the same work over worker threads.
 *
 * @throws AppError `PROTOCOL_INVALID` when the protocol cannot be compiled.
 */
export function simulateCompiled(
  protocol: ProtocolDefinition,
  cases: readonly (SimulationCase | string)[],
): SimulationReport {
  return mergeChunks([evaluateChunk(compileForSimulation(protocol), cases)]);
}

/**
 * A recorded facts snapshot as a simulation case, or null when its facts or decision no longer parse (recorded under
 * an older schema): such snapshots are counted as skipped, never guessed at.
 */
export function snapshotCase(s: {
  caseId: string;
  recordedAt: string;
  facts: unknown;
  decision: unknown;
}): SimulationCase | null {
  const facts = RefillFactsSchema.safeParse(s.facts);
  const decision = TriageDecisionSchema.safeParse(s.decision);
  return facts.success && decision.success
    ? { caseId: s.caseId, recordedAt: s.recordedAt, facts: facts.data, decision: decision.data }
    : null;
}

/** Running totals of a simulation read in pages: what a report needs besides the changed cases. */
export interface SimulationTally {
  evaluated: number;
  before: Record<Disposition, number>;
  after: Record<Disposition, number>;
}

/** A tally with nothing counted yet, or one restored from stored counts. */
export function tallyFrom(
  stored: { evaluated: number; before: Record<string, number>; after: Record<string, number> } = {
    evaluated: 0,
    before: {},
    after: {},
  },
): SimulationTally {
  const before = zeroCounts();
  const after = zeroCounts();
  for (const d of DISPOSITIONS) {
    before[d] = stored.before[d] ?? 0;
    after[d] = stored.after[d] ?? 0;
  }
  return { evaluated: stored.evaluated, before, after };
}

/** Adds one evaluated chunk to a tally (in place) and returns it. */
export function addToTally(t: SimulationTally, r: ChunkResult): SimulationTally {
  t.evaluated += r.dispositions.length;
  for (const d of r.before) t.before[DISPOSITIONS[d] as Disposition] += 1;
  for (const d of r.dispositions) t.after[DISPOSITIONS[d] as Disposition] += 1;
  return t;
}

/** A tally as the report's counts and automation rates (same numbers as `mergeChunks` over the same cases). */
export function tallySummary(t: SimulationTally): Pick<SimulationReport, 'evaluated' | 'before' | 'after'> {
  const summary = (counts: Record<Disposition, number>): DispositionSummary => ({
    counts: { ...counts },
    automationRate: t.evaluated ? counts.approve / t.evaluated : null,
  });
  return { evaluated: t.evaluated, before: summary(t.before), after: summary(t.after) };
}
