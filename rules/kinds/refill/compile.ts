import { AppError } from '../../errors.ts';
import type { TriageDecision } from './decision.ts';
import { resolveFactPath, type RefillFacts } from './facts.ts';
import type { OperatorName } from '../../schema/operators.ts';
import type { Condition, CriterionRule, FactCondition, JsonValue, ProtocolDefinition } from './protocol.ts';
import { customOperatorPredicates, type CustomOperatorName } from '../../engine/operators.ts';
import { pathSteps } from '../../engine/paths.ts';
import { decideOutcome, planOutcome } from './outcome.ts';

/** A protocol turned into plain functions: facts in, the decision `evaluateProtocol` would give out. */
export type CompiledProtocol = (facts: RefillFacts) => TriageDecision;

type Ops = ReturnType<typeof customOperatorPredicates>;
type Predicate = (facts: RefillFacts, ops: Ops) => boolean;
type Resolver = (facts: RefillFacts) => unknown;

/**
 * Reads `fact` + `path` the way json-rules-engine does with its JSONPath resolver, for the path subset the schema
 * allows (`$`, `.field`, `[index]`): a fact that is not an object is returned as is, a missing step gives
 * `undefined`. Walks own keys of objects and arrays only; no JSONPath is evaluated.
 */
function compileFactRead(fact: string, path: string | undefined, where: string): Resolver {
  const target = resolveFactPath(fact, path);
  if ('error' in target) throw invalid(where, target.error);
  if (path === undefined) return (facts) => (facts as Record<string, unknown>)[fact];
  const steps = pathSteps(path);
  return (facts) => {
    const root = (facts as Record<string, unknown>)[fact];
    if (root === null || typeof root !== 'object') return root;
    let current: unknown = root;
    for (const step of steps) {
      if (current === null || typeof current !== 'object' || !Object.hasOwn(current, step)) return undefined;
      current = (current as Record<string | number, unknown>)[step];
    }
    return current;
  };
}

const numeric = (v: unknown): boolean => Number.parseFloat(v as string).toString() !== 'NaN';
type Compare = (a: unknown, b: unknown) => boolean;
/** json-rules-engine 7.3's built-in operators, with their fact-value validators (engine-default-operators.js). */
const BUILT_IN: Record<Exclude<OperatorName, CustomOperatorName>, Compare> = {
  equal: (a, b) => a === b,
  notEqual: (a, b) => a !== b,
  in: (a, b) => (b as unknown[]).indexOf(a) > -1,
  notIn: (a, b) => (b as unknown[]).indexOf(a) === -1,
  contains: (a, b) => Array.isArray(a) && a.indexOf(b) > -1,
  doesNotContain: (a, b) => Array.isArray(a) && a.indexOf(b) === -1,
  lessThan: (a, b) => numeric(a) && (a as number) < (b as number),
  lessThanInclusive: (a, b) => numeric(a) && (a as number) <= (b as number),
  greaterThan: (a, b) => numeric(a) && (a as number) > (b as number),
  greaterThanInclusive: (a, b) => numeric(a) && (a as number) >= (b as number),
};

function isCustom(op: OperatorName): op is CustomOperatorName {
  return !(op in BUILT_IN);
}

function invalid(where: string, message: string): AppError {
  return new AppError('PROTOCOL_INVALID', `protocol cannot be compiled: ${where}: ${message}`, {
    issues: [{ path: where, message }],
  });
}

/** A rule value: a constant, or (json-rules-engine semantics) `{ "fact": …, "path"?: … }` read from the facts. */
function compileValue(value: JsonValue, where: string): Resolver | { constant: JsonValue } {
  if (value !== null && typeof value === 'object' && Object.hasOwn(value, 'fact')) {
    const ref = value as { fact?: unknown; path?: unknown };
    if (typeof ref.fact !== 'string' || (ref.path !== undefined && typeof ref.path !== 'string'))
      throw invalid(where, 'a fact reference in a value needs a string fact and path');
    return compileFactRead(ref.fact, ref.path, where);
  }
  return { constant: value };
}

function compileLeaf(c: FactCondition, where: string): Predicate {
  const read = compileFactRead(c.fact, c.path, where);
  const rhs = compileValue(c.value, where);
  const op = c.operator;
  if (isCustom(op)) {
    if ('constant' in rhs) {
      const value = rhs.constant;
      return (facts, ops) => ops[op](read(facts), value);
    }
    return (facts, ops) => ops[op](read(facts), rhs(facts));
  }
  const compare = BUILT_IN[op];
  if (!compare) throw invalid(where, `unknown operator "${String(op)}"`);
  if ('constant' in rhs) {
    const value = rhs.constant;
    return (facts) => compare(read(facts), value);
  }
  return (facts) => compare(read(facts), rhs(facts));
}

/**
 * Compiles a protocol version into a synchronous evaluator that returns exactly the decision `evaluateProtocol` gives
 * (property-tested in test/rules/compile.test.ts), ~50× faster: simulating a draft against 100,000 recorded cases
 * must take seconds, and json-rules-engine (a new engine, ~60 rules and a promise per condition per case) manages
 * ~1,000 cases/s on the reference protocol (BENCHMARKS.md).
 *
 * Every condition (all/any/not, shared-condition references, fact conditions with path, built-in and custom
 * operators) becomes a closure once; fact paths are read by a resolver that walks own object keys and array indexes
 * only (no `eval`, no JSONPath of admin input). Precedence, supply, actions, explanations and evidence are
 * `decideOutcome`'s, the same function `evaluateProtocol` uses. With `explain: false` the explanation texts are `''`
 * and the evidence lists `[]` (everything else identical): what a simulation needs, at a fraction of the cost. The
 * result is not schema-parsed (it is built from validated facts and a validated protocol; `evaluateProtocol` parses).
 *
 * @throws AppError `PROTOCOL_INVALID` when a condition names an unknown fact, path, operator or shared condition, or
 *   shared conditions refer to each other in a cycle (a protocol that passed `parseProtocol` never throws).
 */
export function compileProtocol(protocol: ProtocolDefinition, opts: { explain?: boolean } = {}): CompiledProtocol {
  const shared = new Map<string, Predicate>();
  const compiling = new Set<string>();

  const compileShared = (name: string, where: string): Predicate => {
    const done = shared.get(name);
    if (done) return done;
    const def = protocol.conditions?.[name];
    if (!def) throw invalid(where, `unknown shared condition "${name}"`);
    if (compiling.has(name)) throw invalid(where, `shared condition "${name}" refers to itself`);
    compiling.add(name);
    const p = compile(def, `$.conditions.${name}`);
    compiling.delete(name);
    shared.set(name, p);
    return p;
  };

  const compileList = (list: Condition[], where: string, kind: 'all' | 'any'): Predicate => {
    const parts = list.map((c, i) => compile(c, `${where}.${kind}[${i}]`));
    // json-rules-engine: an empty list passes, whether all or any.
    if (parts.length === 0) return () => true;
    if (parts.length === 1) return parts[0] as Predicate;
    if (kind === 'all')
      return (facts, ops) => {
        for (const p of parts) if (!p(facts, ops)) return false;
        return true;
      };
    return (facts, ops) => {
      for (const p of parts) if (p(facts, ops)) return true;
      return false;
    };
  };

  function compile(c: Condition, where: string): Predicate {
    if ('all' in c) return compileList(c.all, where, 'all');
    if ('any' in c) return compileList(c.any, where, 'any');
    if ('not' in c) {
      const inner = compile(c.not, `${where}.not`);
      return (facts, ops) => !inner(facts, ops);
    }
    if ('condition' in c) return compileShared(c.condition, where);
    return compileLeaf(c, where);
  }

  const predicates = new Map<string, Predicate>();
  const add = (key: string, c: Condition, where: string): void => {
    predicates.set(key, compile(c, where));
  };
  const addCriteria = (rules: CriterionRule[], prefix: string, where: string): void =>
    rules.forEach((r, j) => {
      add(`${prefix}${j}`, r.when, `${where}[${j}].when`);
      if (r.appliesWhen) add(`${prefix}${j}:applies`, r.appliesWhen, `${where}[${j}].appliesWhen`);
    });
  protocol.routes.forEach((r, i) => add(`route:${i}`, r.when, `$.routes[${i}].when`));
  addCriteria(protocol.guards, 'guard:', '$.guards');
  protocol.categories.forEach((c, i) => {
    const at = `$.categories[${i}]`;
    add(`category:${i}`, c.when, `${at}.when`);
    addCriteria(c.criteria, `category:${i}:criterion:`, `${at}.criteria`);
    c.supply?.forEach((s, j) => add(`category:${i}:supply:${j}`, s.when, `${at}.supply[${j}].when`));
    c.actions?.forEach((a, j) => add(`category:${i}:action:${j}`, a.when, `${at}.actions[${j}].when`));
  });
  protocol.bridgeSupply.forEach((b, i) => add(`bridge:${i}`, b.when, `$.bridgeSupply[${i}].when`));

  const plan = planOutcome(protocol, opts);
  let lastAsOf = '';
  let lastOps: Ops | undefined;
  return (facts) => {
    if (!lastOps || facts.asOf !== lastAsOf) {
      lastOps = customOperatorPredicates(facts.asOf);
      lastAsOf = facts.asOf;
    }
    const ops = lastOps;
    // An unknown key is false, as json-rules-engine's result lookup is (decideOutcome asks only for keys added here).
    return decideOutcome(protocol, facts, (key) => predicates.get(key)?.(facts, ops) ?? false, plan);
  };
}
