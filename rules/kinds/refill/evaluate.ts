import { Engine } from 'json-rules-engine';
import { TriageDecisionSchema, type TriageDecision } from './decision.ts';
import type { RefillFacts } from './facts.ts';
import type { CriterionRule, ProtocolDefinition, TopLevelCondition } from './protocol.ts';
import { createOperators } from '../../engine/operators.ts';
import { restrictedPathResolver } from '../../engine/paths.ts';
import { decideOutcome, type ConditionTruth } from './outcome.ts';

export { BRIDGE_UNDETERMINED_CRITERION, CONTROLLED_SUBSTANCE_CRITERION } from './outcome.ts';

/**
 * Runs one protocol version against one request's facts and returns the decision with every criterion, its evidence
 * and the protocol id+version (the audit trail).
 *
 * All conditions are evaluated by json-rules-engine in one run; the precedence, supply, action and explanation logic
 * is `decideOutcome`'s (shared with the compiled evaluator, `compileProtocol`), and the result is schema-validated.
 * Controlled substances are never approved or bridged, whatever the protocol says (see `decideOutcome`).
 */
export async function evaluateProtocol(protocol: ProtocolDefinition, facts: RefillFacts): Promise<TriageDecision> {
  const truth = await runConditions(protocol, facts);
  return TriageDecisionSchema.parse(decideOutcome(protocol, facts, truth));
}

/** Evaluates every condition of the protocol in one json-rules-engine run; returns a lookup by condition key. */
async function runConditions(protocol: ProtocolDefinition, facts: RefillFacts): Promise<ConditionTruth> {
  const engine = new Engine([], {
    allowUndefinedFacts: false,
    allowUndefinedConditions: false,
    pathResolver: restrictedPathResolver,
  });
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
