import { Engine } from 'json-rules-engine';
import { restrictedPathResolver } from '../../engine/paths.ts';
import { createOperators, monthsAfter } from '../../engine/operators.ts';
import type { Evidence } from '../../schema/evidence.ts';
import { CareGapDecisionSchema, type CareGapDecision, type CareGapReason } from './decision.ts';
import type { CareGapFacts } from './facts.ts';
import type { CareGapProtocol, CareGapTopLevelCondition } from './protocol.ts';

/** A condition node as json-rules-engine reports it after a run: the rule's condition with `result` on every node. */
interface EvaluatedNode {
  all?: EvaluatedNode[];
  any?: EvaluatedNode[];
  not?: EvaluatedNode;
  fact?: string;
  path?: string;
  value?: unknown;
  result?: boolean;
}

const isRecord = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object';
const isEvidence = (v: unknown): v is Evidence =>
  isRecord(v) && typeof v.resourceType === 'string' && typeof v.id === 'string';

/**
 * The evidence behind a fact path: the nearest object on the path (deepest first) that is an Evidence itself (a dated
 * test) or carries `evidence` (a finding, the patient). `tests.$.lastColonoscopy.date` → the colonoscopy.
 */
function evidenceAt(facts: CareGapFacts, fact: string, path: string | undefined): Evidence[] {
  const root = (facts as Record<string, unknown>)[fact];
  const chain: unknown[] = [root];
  let current: unknown = root;
  for (const step of (path ?? '$').slice(1).matchAll(/\.([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]/g)) {
    const key = step[1] ?? Number(step[2]);
    if (!isRecord(current) || !Object.hasOwn(current, key)) break;
    current = current[key];
    chain.push(current);
  }
  for (const node of chain.reverse()) {
    if (isEvidence(node)) return [node];
    if (isRecord(node) && Object.hasOwn(node, 'evidence')) {
      const e = node.evidence;
      if (Array.isArray(e)) return e.filter(isEvidence);
      return isEvidence(e) ? [e] : [];
    }
  }
  return [];
}

/** Evidence from a fact path written as `fact.field.field` (a reason's `evidence` list). */
function evidenceRef(facts: CareGapFacts, ref: string): Evidence[] {
  const [fact = '', ...rest] = ref.split('.');
  return evidenceAt(facts, fact, rest.length ? `$.${rest.join('.')}` : '$');
}

/**
 * The evidence of an evaluated condition: with `want` true, the fact conditions that made it hold (a leaf that held,
 * or under an odd number of `not`s one that did not); with `want` false, those that kept it from holding. A leaf
 * comparing with another fact (`onOrAfterDate` a positive test's date) cites that fact too.
 */
function collect(node: EvaluatedNode, facts: CareGapFacts, want: boolean, positive = true, out: Evidence[] = []) {
  if (node.all) node.all.forEach((c) => collect(c, facts, want, positive, out));
  else if (node.any) node.any.forEach((c) => collect(c, facts, want, positive, out));
  else if (node.not) collect(node.not, facts, want, !positive, out);
  else if (node.fact !== undefined && node.result !== undefined && (node.result === positive) === want) {
    out.push(...evidenceAt(facts, node.fact, node.path));
    const v = node.value;
    if (isRecord(v) && typeof v.fact === 'string')
      out.push(...evidenceAt(facts, v.fact, typeof v.path === 'string' ? v.path : undefined));
  }
  return out;
}

function unique(list: Evidence[]): Evidence[] {
  const seen = new Set<string>();
  return list.filter((e) => {
    const key = `${e.resourceType}/${e.id}|${e.date ?? ''}|${String(e.value ?? '')}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** The date a window's fact holds (`tests.$.lastNegativeFit.date`), if any. */
function dateAt(facts: CareGapFacts, fact: string, path: string): string | null {
  const v = restrictedPathResolver((facts as Record<string, unknown>)[fact], path);
  return typeof v === 'string' && /^\d{4}-\d{2}-\d{2}$/.test(v) ? v : null;
}

/**
 * `nextDueDate` of a closed gap: the latest of (test date + its window) over every qualifying test on file, in
 * calendar months with the day clamped to the end of the month (2024-01-31 + 1 month = 2024-02-29).
 */
export function careGapNextDueDate(definition: CareGapProtocol, facts: CareGapFacts): string | null {
  let latest: string | null = null;
  for (const t of definition.tests) {
    const date = dateAt(facts, t.fact, t.path);
    if (!date) continue;
    const due = monthsAfter(date, t.windowMonths);
    if (latest === null || due > latest) latest = due;
  }
  return latest;
}

/**
 * Evaluates a care-gap protocol for one patient's facts with json-rules-engine: every clause's condition (and each
 * conditional reason's) in one run, then the clauses in order — the first whose condition holds (or the last,
 * "otherwise", clause) decides. Every clause is reported with pass / fail / not reached (`null`, after the deciding
 * one) and its evidence: what made it hold, or for a clause that failed, what kept it from holding. `nextDueDate` is
 * given for `gap_closed`. The result is schema-validated.
 */
export async function evaluateCareGap(definition: CareGapProtocol, facts: CareGapFacts): Promise<CareGapDecision> {
  const engine = new Engine([], {
    allowUndefinedFacts: false,
    allowUndefinedConditions: false,
    pathResolver: restrictedPathResolver,
  });
  for (const op of createOperators(facts.asOf)) engine.addOperator(op);
  for (const [name, c] of Object.entries(definition.conditions ?? {})) engine.setCondition(name, c);
  const add = (name: string, conditions: CareGapTopLevelCondition): void => {
    engine.addRule({ name, conditions, event: { type: name } });
  };
  definition.clauses.forEach((clause, i) => {
    if (clause.when) add(`clause:${i}`, clause.when);
    clause.reasons.forEach((r, j) => r.when && add(`clause:${i}:reason:${j}`, r.when));
  });

  const { results, failureResults } = await engine.run(facts);
  const evaluated = new Map<string, { passed: boolean; tree: EvaluatedNode }>();
  for (const r of [...results, ...failureResults]) {
    const json = r.toJSON(false) as unknown as { conditions: EvaluatedNode };
    evaluated.set(String(r.name), { passed: r.result === true, tree: json.conditions });
  }

  let decided = -1;
  const clauses = definition.clauses.map((clause, i) => {
    const base = { id: clause.id, title: clause.title, source: clause.source };
    if (decided >= 0) return { ...base, passed: null, evidence: [] };
    const run = evaluated.get(`clause:${i}`);
    const passed = clause.when ? run?.passed === true : true;
    if (passed) decided = i;
    return { ...base, passed, evidence: run ? unique(collect(run.tree, facts, passed)) : [] };
  });
  // The schema makes the last clause the fallback, so some clause decides.
  const index = decided >= 0 ? decided : definition.clauses.length - 1;
  const clause = definition.clauses[index]!;
  const clauseEvidence = clauses[index]?.evidence ?? [];

  const refs = (list: string[] | undefined): Evidence[] => (list ?? []).flatMap((ref) => evidenceRef(facts, ref));
  let reasons: CareGapReason[] = clause.reasons.flatMap((r, j) => {
    if (!r.when) return [{ id: r.id, evidence: unique([...clauseEvidence, ...refs(r.evidence)]) }];
    const run = evaluated.get(`clause:${index}:reason:${j}`);
    return run?.passed
      ? [{ id: r.id, evidence: unique([...collect(run.tree, facts, true), ...refs(r.evidence)]) }]
      : [];
  });
  // Conditional reasons that all failed while their clause held: give them all rather than none (an author's gap).
  if (reasons.length === 0)
    reasons = clause.reasons.map((r) => ({ id: r.id, evidence: unique([...clauseEvidence, ...refs(r.evidence)]) }));

  return CareGapDecisionSchema.parse({
    disposition: clause.disposition,
    clause: clause.id,
    reasons,
    priority: clause.priority,
    routeTo: clause.routeTo,
    nextDueDate: clause.disposition === 'gap_closed' ? careGapNextDueDate(definition, facts) : null,
    actions: [...clause.actions],
    protocol: { id: definition.id, version: definition.version },
    clauses,
  });
}
