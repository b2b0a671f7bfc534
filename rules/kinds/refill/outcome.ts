import type { CriterionResult, Disposition, QuantitySupply, Supply, TriageDecision } from './decision.ts';
import type { Evidence } from '../../schema/evidence.ts';
import { pathSteps } from '../../engine/paths.ts';
import type { RefillFacts } from './facts.ts';
import { PLACEHOLDER_PATTERN, placeholderToFactPath } from '../../schema/fact-paths.ts';
import type {
  ActionRule,
  BridgeRule,
  Condition,
  CriterionRule,
  ProtocolDefinition,
  RouteRule,
  SupplyRule,
} from './protocol.ts';

/** Id reported when the evaluator overrides a protocol that would let a controlled substance through. */
export const CONTROLLED_SUBSTANCE_CRITERION = 'controlled_substance';
/** Id reported when criteria fail but no bridge-supply rule matches (e.g. the pharmacy type is unknown). */
export const BRIDGE_UNDETERMINED_CRITERION = 'bridge_supply_undetermined';

/**
 * Whether the protocol condition with this key holds for the facts. Keys: `route:<i>`, `guard:<j>`,
 * `guard:<j>:applies`, `category:<i>`, `category:<i>:criterion:<j>` (`…:applies`), `category:<i>:supply:<j>`,
 * `category:<i>:action:<j>`, `bridge:<i>`.
 */
export type ConditionTruth = (key: string) => boolean;

/**
 * Turns the truth of a protocol's conditions into the decision: precedence, criteria, disposition, supply, actions,
 * explanations and evidence. The one implementation of the outcome logic, shared by json-rules-engine evaluation
 * (`evaluateProtocol`) and the compiled evaluator (`compileProtocol`), so the two can differ only in how conditions
 * are decided. The result is not schema-validated here (the caller decides; see `evaluateProtocol`).
 *
 * Order of precedence (fixed):
 * 1. routes (highest precedence first; the first that matches decides, nothing else is checked, no supply);
 * 2. guards, then the criteria of every category the drug falls in, in document order (a failed `stopOnFail`
 *    criterion ends the list); no category → the protocol's not-in-protocol criterion;
 * 3. any `unclear` failure → the unclear outcome (G-1); else a `needs_visit_no_bridge` failure → needs_visit without
 *    supply (AD-2); else a `needs_visit` failure → needs_visit with the first matching bridge rule (G-3); else approve
 *    with the first matching category supply rule or the default renewal (G-2);
 * 4. actions of the matched categories (orders; never change the disposition).
 * Controlled substances are never approved or bridged, whatever the protocol says: they go to doctor review (defence
 * in depth against a mis-edited protocol).
 */
export function decideOutcome(
  protocol: ProtocolDefinition,
  facts: RefillFacts,
  truth: ConditionTruth,
  plan: OutcomePlan = planOutcome(protocol),
): TriageDecision {
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
  const route = plan.routes.find((r) => truth(r.key));
  if (route) {
    criteria.push({
      id: route.rule.id,
      clause: route.rule.clause,
      source: route.rule.source,
      passed: false,
      explanation: explanationOf(plan, route.rule.explanation, facts),
      evidence: evidenceOf(plan, route.evidence, facts),
    });
    return finish({
      ...base,
      disposition: route.rule.disposition,
      criteria,
      approvedSupply: null,
      bridgeSupply: null,
      routeTo: route.rule.routeTo,
      actions: [],
    });
  }

  // 2. Criteria
  const matched = plan.categories.filter((c) => truth(c.key));
  const failures: CriterionRule['onFail'][] = [];
  const lists = [plan.guards, ...matched.map((c) => c.criteria)];
  evaluation: for (const list of lists) {
    for (const { rule, key, appliesKey, evidence } of list) {
      if (criteria.some((c) => c.id === rule.id)) continue; // shared by two matched categories: report once
      if (appliesKey !== null && !truth(appliesKey)) continue;
      const passed = truth(key);
      criteria.push({
        id: rule.id,
        clause: rule.clause,
        source: rule.source,
        passed,
        explanation: explanationOf(plan, passed ? rule.explanation.pass : rule.explanation.fail, facts),
        evidence: evidenceOf(plan, evidence, facts),
      });
      if (!passed) {
        failures.push(rule.onFail);
        if (rule.stopOnFail) break evaluation;
      }
    }
  }
  if (matched.length === 0) {
    const nip = protocol.outcomes.notInProtocol;
    criteria.push({
      id: nip.criterion,
      clause: nip.clause,
      passed: false,
      explanation: explanationOf(plan, nip.explanation, facts),
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
    const bridge = plan.bridges.find((b) => truth(b.key));
    if (bridge) {
      bridgeSupply = bridge.rule.supply;
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
    let supply: Supply | undefined;
    for (const c of matched) {
      supply = c.supply.find((s) => truth(s.key))?.rule.supply;
      if (supply) break;
    }
    approvedSupply = supply ?? protocol.outcomes.approval.supply;
  }

  // 4. Actions
  const actions: string[] = [];
  for (const c of matched) {
    for (const a of c.actions) if (truth(a.key) && !actions.includes(a.rule.action)) actions.push(a.rule.action);
  }

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

/** A fact read whose Evidence a criterion reports: the path, and its parent (see `readEvidence`). */
interface EvidenceRead {
  fact: string;
  path: string;
  parent: string;
}
interface Keyed<R> {
  rule: R;
  key: string;
}
interface PlannedCriterion extends Keyed<CriterionRule> {
  appliesKey: string | null;
  evidence: EvidenceRead[];
}

/**
 * The fact-independent part of `decideOutcome`, worked out once per protocol: routes in precedence order, each
 * rule's condition key, and the fact reads its evidence comes from. `evaluateProtocol` plans per call; the compiled
 * evaluator plans once.
 */
export interface OutcomePlan {
  /** False: skip explanation text and evidence lookups ('' and []), for simulations that only compare outcomes. */
  explain: boolean;
  routes: (Keyed<RouteRule> & { evidence: EvidenceRead[] })[];
  guards: PlannedCriterion[];
  categories: {
    key: string;
    criteria: PlannedCriterion[];
    supply: Keyed<SupplyRule>[];
    actions: Keyed<ActionRule>[];
  }[];
  bridges: Keyed<BridgeRule>[];
}

/** Works out a protocol's OutcomePlan (see there). */
export function planOutcome(protocol: ProtocolDefinition, opts: { explain?: boolean } = {}): OutcomePlan {
  const criteria = (rules: CriterionRule[], prefix: string): PlannedCriterion[] =>
    rules.map((rule, j) => ({
      rule,
      key: `${prefix}${j}`,
      appliesKey: rule.appliesWhen ? `${prefix}${j}:applies` : null,
      evidence: evidenceReads(rule.when, protocol),
    }));
  return {
    explain: opts.explain ?? true,
    routes: protocol.routes
      .map((rule, i) => ({ rule, i }))
      .sort((a, b) => b.rule.precedence - a.rule.precedence || a.i - b.i)
      .map(({ rule, i }) => ({ rule, key: `route:${i}`, evidence: evidenceReads(rule.when, protocol) })),
    guards: criteria(protocol.guards, 'guard:'),
    categories: protocol.categories.map((c, i) => ({
      key: `category:${i}`,
      criteria: criteria(c.criteria, `category:${i}:criterion:`),
      supply: (c.supply ?? []).map((rule, j) => ({ rule, key: `category:${i}:supply:${j}` })),
      actions: (c.actions ?? []).map((rule, j) => ({ rule, key: `category:${i}:action:${j}` })),
    })),
    bridges: protocol.bridgeSupply.map((rule, i) => ({ rule, key: `bridge:${i}` })),
  };
}

/** Builds the decision with its keys in TriageDecisionSchema order (what a schema parse would return). */
function finish(d: Omit<TriageDecision, 'failedCriteria'>): TriageDecision {
  return {
    disposition: d.disposition,
    failedCriteria: d.criteria.filter((c) => !c.passed).map((c) => c.id),
    criteria: d.criteria,
    approvedSupply: d.approvedSupply,
    bridgeSupply: d.bridgeSupply,
    routeTo: d.routeTo,
    actions: d.actions,
    protocol: d.protocol,
    drug: d.drug,
  };
}

/** Reads `$.a.b[0]` from a value (the path subset the schema allows). */
function readPath(value: unknown, path: string | undefined): unknown {
  let current = value;
  for (const step of pathSteps(path ?? '$')) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<string | number, unknown>)[step];
  }
  return current;
}

const isEvidence = (v: unknown): v is Evidence =>
  typeof v === 'object' && v !== null && 'resourceType' in v && 'id' in v && typeof v.id === 'string';

const explanationOf = (plan: OutcomePlan, template: string, facts: RefillFacts): string =>
  plan.explain ? render(template, facts) : '';
const evidenceOf = (plan: OutcomePlan, reads: readonly EvidenceRead[], facts: RefillFacts): Evidence[] =>
  plan.explain ? readEvidence(reads, facts) : [];

/** The fact reads a condition's evidence comes from, in walk order (each shared condition walked once). */
function evidenceReads(condition: Condition, protocol: ProtocolDefinition): EvidenceRead[] {
  const reads: EvidenceRead[] = [];
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
      const path = c.path ?? '$';
      reads.push({ fact: c.fact, path, parent: parentPath(path) });
    }
  };
  walk(condition);
  return reads;
}

/**
 * The evidence behind a condition: for each fact it reads, the Evidence object at (or just above) the path, or the
 * `evidence` its parent object carries. "Which lab, which date" comes from here.
 */
function readEvidence(reads: readonly EvidenceRead[], facts: RefillFacts): Evidence[] {
  const found: Evidence[] = [];
  const push = (e: unknown): void => {
    const list = Array.isArray(e) ? e : [e];
    for (const item of list) {
      if (isEvidence(item) && !found.some((f) => f.resourceType === item.resourceType && f.id === item.id))
        found.push(item);
    }
  };
  for (const { fact, path, parent } of reads) {
    const root = (facts as Record<string, unknown>)[fact];
    const at = readPath(root, path);
    if (isEvidence(at)) {
      push(at);
      continue;
    }
    const above = readPath(root, parent);
    if (isEvidence(above)) push(above);
    else if (above && typeof above === 'object' && 'evidence' in above) push(above.evidence);
  }
  return found;
}

const parentPaths = new Map<string, string>();
function parentPath(path: string): string {
  let parent = parentPaths.get(path);
  if (parent === undefined) {
    parent = path.replace(/(\.[A-Za-z_][A-Za-z0-9_]*|\[\d+\])$/, '') || '$';
    if (parentPaths.size > 10_000) parentPaths.clear();
    parentPaths.set(path, parent);
  }
  return parent;
}

type TemplatePart = string | { fact: string; path: string; fallback: string | undefined };
const parsedTemplates = new Map<string, TemplatePart[]>();

function parseTemplate(template: string): TemplatePart[] {
  let parts = parsedTemplates.get(template);
  if (!parts) {
    parts = [];
    let last = 0;
    for (const m of template.matchAll(PLACEHOLDER_PATTERN)) {
      if (m.index > last) parts.push(template.slice(last, m.index));
      parts.push({ ...placeholderToFactPath(m[1] ?? ''), fallback: m[2] });
      last = m.index + m[0].length;
    }
    if (last < template.length) parts.push(template.slice(last));
    if (parsedTemplates.size > 10_000) parsedTemplates.clear();
    parsedTemplates.set(template, parts);
  }
  return parts;
}

/** Fills `{{ fact.path | fallback }}` placeholders; a missing value reads "none on file" unless a fallback is given. */
function render(template: string, facts: RefillFacts): string {
  let out = '';
  for (const part of parseTemplate(template)) {
    if (typeof part === 'string') {
      out += part;
      continue;
    }
    const value = readPath((facts as Record<string, unknown>)[part.fact], part.path);
    if (value === null || value === undefined || (Array.isArray(value) && value.length === 0)) {
      out += part.fallback?.trim() ?? 'none on file';
    } else if (Array.isArray(value)) out += value.join(', ');
    else if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') out += String(value);
    else out += part.fallback?.trim() ?? 'on file';
  }
  return out;
}
