import { DispositionSchema, type Disposition, type TriageDecision } from './decision.ts';
import type { RefillFacts } from './facts.ts';
import type { ProtocolDefinition } from './protocol.ts';
import { evaluateProtocol } from './evaluate.ts';

/** One recorded case: the facts the rules saw and the decision recorded at the time. */
export interface RecordedCase {
  caseId: string;
  recordedAt: string;
  facts: RefillFacts;
  decision: TriageDecision;
}

/** A criterion whose result differs; `null` = not evaluated in that decision (category not matched, stopped, …). */
export interface CriterionFlip {
  id: string;
  clause: string;
  before: boolean | null;
  after: boolean | null;
}

export interface ChangedCase {
  caseId: string;
  recordedAt: string;
  before: { disposition: Disposition; protocolVersion: number; failedCriteria: string[] };
  after: { disposition: Disposition; failedCriteria: string[] };
  /** Every criterion whose pass/fail changed: why the disposition moved. */
  criteria: CriterionFlip[];
}

export interface DispositionSummary {
  counts: Record<Disposition, number>;
  /** Share of `approve` (approved per protocol, no clinician triage); null when there were no cases. */
  automationRate: number | null;
}

export interface SimulationReport {
  evaluated: number;
  before: DispositionSummary;
  after: DispositionSummary;
  /** Cases whose disposition changed, in the order given. */
  changed: ChangedCase[];
}

/** The criteria whose pass/fail differs between two decisions on the same facts, matched by criterion id. */
/** One case whose disposition changed: before and after, and the criteria that flipped. */
export function changedCase(
  c: Pick<RecordedCase, 'caseId' | 'recordedAt' | 'decision'>,
  now: TriageDecision,
): ChangedCase {
  return {
    caseId: c.caseId,
    recordedAt: c.recordedAt,
    before: {
      disposition: c.decision.disposition,
      protocolVersion: c.decision.protocol.version,
      failedCriteria: c.decision.failedCriteria,
    },
    after: { disposition: now.disposition, failedCriteria: now.failedCriteria },
    criteria: criteriaFlips(c.decision, now),
  };
}

export function criteriaFlips(before: TriageDecision, after: TriageDecision): CriterionFlip[] {
  const a = new Map(before.criteria.map((c) => [c.id, c]));
  const b = new Map(after.criteria.map((c) => [c.id, c]));
  const flips: CriterionFlip[] = [];
  for (const id of new Set([...a.keys(), ...b.keys()])) {
    const x = a.get(id);
    const y = b.get(id);
    const pb = x ? x.passed : null;
    const pa = y ? y.passed : null;
    if (pb !== pa) flips.push({ id, clause: (y ?? x)?.clause ?? '', before: pb, after: pa });
  }
  return flips;
}

function summarise(dispositions: Disposition[]): DispositionSummary {
  const counts = Object.fromEntries(DispositionSchema.options.map((d) => [d, 0])) as Record<Disposition, number>;
  for (const d of dispositions) counts[d] += 1;
  return { counts, automationRate: dispositions.length ? counts.approve / dispositions.length : null };
}

/**
 * Re-evaluates `protocol` against recorded cases and compares with what was decided at the time: "what would this
 * change have done to the requests the clinic actually received?". Uses the same evaluator as the worker
 * (json-rules-engine), one case after another; no speed work yet.
 */
export async function simulateProtocol(
  protocol: ProtocolDefinition,
  cases: readonly RecordedCase[],
): Promise<SimulationReport> {
  const changed: ChangedCase[] = [];
  const after: Disposition[] = [];
  for (const c of cases) {
    const now = await evaluateProtocol(protocol, c.facts);
    after.push(now.disposition);
    if (now.disposition !== c.decision.disposition) {
      changed.push(changedCase(c, now));
    }
  }
  return {
    evaluated: cases.length,
    before: summarise(cases.map((c) => c.decision.disposition)),
    after: summarise(after),
    changed,
  };
}
