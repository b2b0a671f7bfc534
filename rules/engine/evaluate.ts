import { Engine } from 'json-rules-engine';
import {
  TriageDecisionSchema,
  type CriterionResult,
  type Disposition,
  type QuantitySupply,
  type Supply,
  type TriageDecision,
} from '../schema/decision.ts';
import type { Evidence, RefillFacts } from '../schema/facts.ts';
import { PLACEHOLDER_PATTERN, placeholderToFactPath } from '../schema/fact-paths.ts';
import type { Condition, CriterionRule, ProtocolDefinition, TopLevelCondition } from '../schema/protocol.ts';
import { createOperators } from './operators.ts';

/** Id reported when the evaluator overrides a protocol that would let a controlled substance through. */
export const CONTROLLED_SUBSTANCE_CRITERION = 'controlled_substance';
/** Id reported when criteria fail but no bridge-supply rule matches (e.g. the pharmacy type is unknown). */
export const BRIDGE_UNDETERMINED_CRITERION = 'bridge_supply_undetermined';

type Truth = (key: string) => boolean;

/**
 * Runs one protocol version against one request's facts and returns the decision with every criterion, its evidence
 * and the protocol id+version (the audit trail).
 *
 * All conditions are evaluated by json-rules-engine in one run; the order of precedence is ours and fixed:
 * 1. routes (highest precedence first; the first that matches decides, nothing else is checked, no supply);
 * 2. guards, then the criteria of every category the drug falls in, in document order (a failed `stopOnFail`
 *    criterion ends the list); no category → the protocol's not-in-protocol criterion;
 * 3. any `unclear` failure → the unclear outcome (G-1); else a `needs_visit_no_bridge` failure → needs_visit without
 *    supply (AD-2); else a `needs_visit` failure → needs_visit with the first matching bridge rule (G-3); else approve
 *    with the first matching category supply rule or the default renewal (G-2);
 * 4. actions of the matched categories (orders; never change the disposition).
 * Controlled substances are never approved or bridged, whatever the protocol says: the evaluator routes them to
 * doctor review (defence in depth against a mis-edited protocol).
 */
export async function evaluateProtocol(protocol: ProtocolDefinition, facts: RefillFacts): Promise<TriageDecision> {
  const truth = await runConditions(protocol, facts);
  const criteria: CriterionResult[] = [];
  const base = {
    protocol: { id: protocol.id, version: protocol.version },
    drug: {
      name: facts.drug.name,
      ingredients: facts.drug.ingredients,
      classes: facts.drug.classes,
      controlledSchedule: facts.drug.controlledSchedule,
    },
  };

  // 1. Routes
  const routes = protocol.routes.map((r, i) => ({ r, i })).sort((a, b) => b.r.precedence - a.r.precedence || a.i - b.i);
  const route = routes.find(({ i }) => truth(`route:${i}`));
  if (route) {
    criteria.push({
      id: route.r.id,
      clause: route.r.clause,
      passed: false,
      explanation: render(route.r.explanation, facts),
      evidence: evidenceFor(route.r.when, protocol, facts),
    });
    return finish({
      ...base,
      disposition: route.r.disposition,
      criteria,
      approvedSupply: null,
      bridgeSupply: null,
      routeTo: route.r.routeTo,
      actions: [],
    });
  }

  // 2. Criteria
  const matched = protocol.categories.map((c, i) => ({ c, i })).filter(({ i }) => truth(`category:${i}`));
  const candidates: { rule: CriterionRule; key: string }[] = [
    ...protocol.guards.map((rule, i) => ({ rule, key: `guard:${i}` })),
    ...matched.flatMap(({ c, i }) => c.criteria.map((rule, j) => ({ rule, key: `category:${i}:criterion:${j}` }))),
  ];
  const failures: CriterionRule['onFail'][] = [];
  for (const { rule, key } of candidates) {
    if (criteria.some((c) => c.id === rule.id)) continue; // shared by two matched categories: report once
    if (rule.appliesWhen && !truth(`${key}:applies`)) continue;
    const passed = truth(key);
    criteria.push({
      id: rule.id,
      clause: rule.clause,
      passed,
      explanation: render(passed ? rule.explanation.pass : rule.explanation.fail, facts),
      evidence: evidenceFor(rule.when, protocol, facts),
    });
    if (!passed) {
      failures.push(rule.onFail);
      if (rule.stopOnFail) break;
    }
  }
  if (matched.length === 0) {
    const nip = protocol.outcomes.notInProtocol;
    criteria.push({
      id: nip.criterion,
      clause: nip.clause,
      passed: false,
      explanation: render(nip.explanation, facts),
      evidence: [facts.drug.evidence],
    });
    failures.push('unclear');
  }

  // 3. Disposition and supply
  let disposition: Disposition = 'approve';
  let routeTo: string | null = null;
  let approvedSupply: Supply | null = null;
  let bridgeSupply: QuantitySupply | null = null;
  if (failures.includes('unclear')) {
    disposition = protocol.outcomes.unclear.disposition;
    routeTo = protocol.outcomes.unclear.routeTo;
  } else if (failures.includes('needs_visit_no_bridge')) {
    disposition = 'needs_visit';
  } else if (failures.includes('needs_visit')) {
    disposition = 'needs_visit';
    const bridgeIndex = protocol.bridgeSupply.findIndex((_, i) => truth(`bridge:${i}`));
    const bridge = protocol.bridgeSupply[bridgeIndex];
    if (bridge) {
      bridgeSupply = bridge.supply;
    } else {
      criteria.push({
        id: BRIDGE_UNDETERMINED_CRITERION,
        clause: protocol.bridgeSupply[0]?.clause ?? protocol.outcomes.unclear.clause,
        passed: false,
        explanation: 'No bridge supply could be chosen (pharmacy type or supply days unknown): the nurse sets it.',
        evidence: facts.request.evidence,
      });
    }
  } else {
    const supplyRule = matched
      .flatMap(({ c, i }) => (c.supply ?? []).map((s, j) => ({ s, key: `category:${i}:supply:${j}` })))
      .find(({ key }) => truth(key));
    approvedSupply = supplyRule?.s.supply ?? protocol.outcomes.approval.supply;
  }

  // 4. Actions
  const actions = [
    ...new Set(
      matched.flatMap(({ c, i }) =>
        (c.actions ?? []).filter((_, j) => truth(`category:${i}:action:${j}`)).map((a) => a.action),
      ),
    ),
  ];

  // Defence in depth: a controlled substance is never renewed or bridged by protocol.
  if (facts.drug.controlledSchedule !== null && disposition !== 'doctor_review') {
    criteria.push({
      id: CONTROLLED_SUBSTANCE_CRITERION,
      clause: protocol.outcomes.unclear.clause,
      passed: false,
      explanation: `${facts.drug.name} is a Schedule ${facts.drug.controlledSchedule.slice(1)} controlled substance: never renewed by protocol, a prescriber decides.`,
      evidence: [facts.drug.evidence],
    });
    disposition = 'doctor_review';
    routeTo = protocol.outcomes.unclear.routeTo;
    approvedSupply = null;
    bridgeSupply = null;
  }

  return finish({ ...base, disposition, criteria, approvedSupply, bridgeSupply, routeTo, actions });
}

function finish(d: Omit<TriageDecision, 'failedCriteria'>): TriageDecision {
  return TriageDecisionSchema.parse({ ...d, failedCriteria: d.criteria.filter((c) => !c.passed).map((c) => c.id) });
}

/** Evaluates every condition of the protocol in one json-rules-engine run; returns a lookup by condition key. */
async function runConditions(protocol: ProtocolDefinition, facts: RefillFacts): Promise<Truth> {
  const engine = new Engine([], { allowUndefinedFacts: false, allowUndefinedConditions: false });
  for (const op of createOperators(facts.asOf)) engine.addOperator(op);
  for (const [name, c] of Object.entries(protocol.conditions ?? {})) engine.setCondition(name, c);
  const add = (key: string, conditions: TopLevelCondition): void => {
    engine.addRule({ name: key, conditions, event: { type: key } });
  };
  const addCriteria = (rules: CriterionRule[], prefix: string): void =>
    rules.forEach((r, j) => {
      add(`${prefix}${j}`, r.when);
      if (r.appliesWhen) add(`${prefix}${j}:applies`, r.appliesWhen);
    });

  protocol.routes.forEach((r, i) => add(`route:${i}`, r.when));
  addCriteria(protocol.guards, 'guard:');
  protocol.categories.forEach((c, i) => {
    add(`category:${i}`, c.when);
    addCriteria(c.criteria, `category:${i}:criterion:`);
    c.supply?.forEach((s, j) => add(`category:${i}:supply:${j}`, s.when));
    c.actions?.forEach((a, j) => add(`category:${i}:action:${j}`, a.when));
  });
  protocol.bridgeSupply.forEach((b, i) => add(`bridge:${i}`, b.when));

  const { results } = await engine.run(facts);
  const passed = new Set(results.map((r) => String(r.name)));
  return (key) => passed.has(key);
}

/** Reads `$.a.b[0]` from a value (the path subset the schema allows). */
function readPath(value: unknown, path: string | undefined): unknown {
  let current = value;
  for (const m of (path ?? '$').slice(1).matchAll(/\.([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]/g)) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<string, unknown>)[m[1] ?? Number(m[2])];
  }
  return current;
}

const isEvidence = (v: unknown): v is Evidence =>
  typeof v === 'object' && v !== null && 'resourceType' in v && 'id' in v && typeof v.id === 'string';

/**
 * The evidence behind a condition: for each fact it reads, the Evidence object at (or just above) the path, or the
 * `evidence` its parent object carries. "Which lab, which date" comes from here.
 */
function evidenceFor(condition: Condition, protocol: ProtocolDefinition, facts: RefillFacts): Evidence[] {
  const found: Evidence[] = [];
  const push = (e: unknown): void => {
    const list = Array.isArray(e) ? e : [e];
    for (const item of list) {
      if (isEvidence(item) && !found.some((f) => f.resourceType === item.resourceType && f.id === item.id))
        found.push(item);
    }
  };
  const seen = new Set<string>();
  const walk = (c: Condition): void => {
    if ('all' in c) c.all.forEach(walk);
    else if ('any' in c) c.any.forEach(walk);
    else if ('not' in c) walk(c.not);
    else if ('condition' in c) {
      const shared = protocol.conditions?.[c.condition];
      if (shared && !seen.has(c.condition)) {
        seen.add(c.condition);
        walk(shared);
      }
    } else {
      const root = (facts as Record<string, unknown>)[c.fact];
      const path = c.path ?? '$';
      const at = readPath(root, path);
      if (isEvidence(at)) return push(at);
      const parentPath = path.replace(/(\.[A-Za-z_][A-Za-z0-9_]*|\[\d+\])$/, '');
      const parent = readPath(root, parentPath || '$');
      if (isEvidence(parent)) return push(parent);
      if (parent && typeof parent === 'object' && 'evidence' in parent) push(parent.evidence);
    }
  };
  walk(condition);
  return found;
}

/** Fills `{{ fact.path | fallback }}` placeholders; a missing value reads "none on file" unless a fallback is given. */
function render(template: string, facts: RefillFacts): string {
  return template.replace(PLACEHOLDER_PATTERN, (_, ref: string, fallback: string | undefined) => {
    const { fact, path } = placeholderToFactPath(ref);
    const value = readPath((facts as Record<string, unknown>)[fact], path);
    if (value === null || value === undefined || (Array.isArray(value) && value.length === 0)) {
      return fallback?.trim() ?? 'none on file';
    }
    if (Array.isArray(value)) return value.join(', ');
    if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return String(value);
    return fallback?.trim() ?? 'on file';
  });
}
