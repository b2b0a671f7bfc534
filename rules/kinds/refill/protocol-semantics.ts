import { INGREDIENTS } from '../../drugs/table.ts';
import type { DoseForm } from '../../drugs/vocabulary.ts';
import type { Condition, FactCondition, ProtocolDefinition, TopLevelCondition } from './protocol.ts';

// ---------------------------------------------------------------------------------------------------------------
// Checks a protocol's meaning once its shape is valid: rules that can never fire, categories without criteria, and
// categories that overlap. Decidable cases only: a condition is read as the conjunction of the fact conditions it
// certainly requires (`all`, a one-branch `any`, `not` of a single fact condition, shared conditions expanded); every
// other `any`/`not` is opaque, so a reported problem is always real and an unreported one may still exist.
// ---------------------------------------------------------------------------------------------------------------

/** One semantic problem, at a zod-style path inside the protocol document. */
export interface SemanticIssue {
  path: PropertyKey[];
  message: string;
}

interface Conjunction {
  atoms: FactCondition[];
  /** True when the atoms are the whole condition (nothing opaque was dropped): then it is no stronger than them. */
  exact: boolean;
}

const NEGATION: Partial<Record<FactCondition['operator'], FactCondition['operator']>> = {
  equal: 'notEqual',
  notEqual: 'equal',
  in: 'notIn',
  notIn: 'in',
  contains: 'doesNotContain',
  doesNotContain: 'contains',
};
const MAX_EXPANSION = 32;

/** JSON text with object keys sorted: equal for equal JSON values. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v !== null && typeof v === 'object')
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  return JSON.stringify(v) ?? 'undefined';
}
const isDeepStrictEqual = (a: unknown, b: unknown): boolean => canonical(a) === canonical(b);

function conjunction(c: Condition | undefined, named: Record<string, TopLevelCondition>, depth = 0): Conjunction {
  if (c === undefined) return { atoms: [], exact: true };
  if (depth > MAX_EXPANSION) return { atoms: [], exact: false };
  if ('all' in c) {
    const parts = c.all.map((x) => conjunction(x, named, depth + 1));
    return { atoms: parts.flatMap((p) => p.atoms), exact: parts.every((p) => p.exact) };
  }
  if ('any' in c) return c.any.length === 1 ? conjunction(c.any[0], named, depth + 1) : { atoms: [], exact: false };
  if ('not' in c) {
    const inner = c.not;
    const negated = 'fact' in inner ? NEGATION[inner.operator] : undefined;
    return 'fact' in inner && negated
      ? { atoms: [{ ...inner, operator: negated }], exact: true }
      : { atoms: [], exact: false };
  }
  if ('condition' in c) {
    const target = Object.hasOwn(named, c.condition) ? named[c.condition] : undefined;
    return target ? conjunction(target, named, depth + 1) : { atoms: [], exact: false };
  }
  return { atoms: [c], exact: true };
}

const keyOf = (a: FactCondition): string => `${a.fact}${a.path && a.path !== '$' ? a.path.slice(1) : ''}`;
const show = (a: FactCondition): string => `${keyOf(a)} ${a.operator} ${JSON.stringify(a.value)}`;
const has = (list: unknown, v: unknown): boolean => Array.isArray(list) && list.some((x) => isDeepStrictEqual(x, v));

/** Two atoms on the same fact path that cannot both hold, as a sentence; `null` when they can. */
function clash(a: FactCondition, b: FactCondition): string | null {
  const [x, y] = [a.operator, b.operator];
  const pair = (p: string, q: string): [FactCondition, FactCondition] | null =>
    x === p && y === q ? [a, b] : x === q && y === p ? [b, a] : null;
  let m: [FactCondition, FactCondition] | null;
  if (x === 'equal' && y === 'equal' && !isDeepStrictEqual(a.value, b.value)) return 'a value cannot equal both';
  if ((m = pair('equal', 'notEqual')) && isDeepStrictEqual(m[0].value, m[1].value))
    return 'equal and notEqual the same value';
  if ((m = pair('equal', 'in')) && !has(m[1].value, m[0].value)) return 'the required value is not in the list';
  if ((m = pair('equal', 'notIn')) && has(m[1].value, m[0].value)) return 'the required value is excluded';
  if (x === 'in' && y === 'in' && Array.isArray(a.value) && !a.value.some((v) => has(b.value, v)))
    return 'the two lists have no value in common';
  if ((m = pair('contains', 'doesNotContain')) && isDeepStrictEqual(m[0].value, m[1].value))
    return 'the list must both contain and not contain the value';
  if (
    (m = pair('equal', 'withinMonths')) ??
    (m = pair('equal', 'onOrBeforeMonthsAgo')) ??
    (m = pair('equal', 'beforeMonthsAgo'))
  )
    if (m[0].value === null) return 'a missing date never satisfies a months operator';
  if ((m = pair('withinMonths', 'onOrBeforeMonthsAgo')) && Number(m[1].value) > Number(m[0].value))
    return 'no date is both that recent and that old';
  if ((m = pair('withinMonths', 'beforeMonthsAgo')) && Number(m[1].value) >= Number(m[0].value))
    return 'no date is both that recent and that old';
  return null;
}

/** Numeric bounds on one path that leave no number. */
function emptyRange(atoms: FactCondition[]): [FactCondition, FactCondition] | null {
  let lo: { v: number; inc: boolean; a: FactCondition } | null = null;
  let hi: { v: number; inc: boolean; a: FactCondition } | null = null;
  for (const a of atoms) {
    if (typeof a.value !== 'number') continue;
    const v = a.value;
    const lower = a.operator === 'greaterThan' || a.operator === 'greaterThanInclusive' || a.operator === 'equal';
    const upper = a.operator === 'lessThan' || a.operator === 'lessThanInclusive' || a.operator === 'equal';
    const inc = a.operator !== 'greaterThan' && a.operator !== 'lessThan';
    if (lower && (!lo || v > lo.v || (v === lo.v && !inc))) lo = { v, inc, a };
    if (upper && (!hi || v < hi.v || (v === hi.v && !inc))) hi = { v, inc, a };
  }
  if (lo && hi && (lo.v > hi.v || (lo.v === hi.v && !(lo.inc && hi.inc)))) return [lo.a, hi.a];
  return null;
}

/** Why a conjunction can never hold, or `null`. */
function contradiction(atoms: FactCondition[]): string | null {
  const byKey = new Map<string, FactCondition[]>();
  for (const a of atoms) byKey.set(keyOf(a), [...(byKey.get(keyOf(a)) ?? []), a]);
  for (const group of byKey.values()) {
    for (let i = 0; i < group.length; i++)
      for (let j = i + 1; j < group.length; j++) {
        const [a, b] = [group[i]!, group[j]!];
        const why = clash(a, b);
        if (why) return `${show(a)} and ${show(b)}: ${why}`;
      }
    const range = emptyRange(group);
    if (range) return `${show(range[0])} and ${show(range[1])}: no number satisfies both`;
    const anyOf = group.find((a) => a.operator === 'containsAny' && Array.isArray(a.value));
    if (anyOf && Array.isArray(anyOf.value)) {
      const excluded = group.filter((a) => a.operator === 'doesNotContain').map((a) => a.value);
      if (anyOf.value.every((v) => has(excluded, v))) return `${show(anyOf)}: every one of its values is excluded`;
    }
  }
  return null;
}

// Drug coverage: which (ingredient, dose form) a category's drug selectors let through, from the drug table.

const ANY_FORM = '*';
type Coverage = Set<string>; // `${ingredient}|${form or *}`

const CLASS_COVERAGE = new Map<string, Coverage>();
for (const ing of INGREDIENTS) {
  for (const cls of ing.classes)
    CLASS_COVERAGE.set(cls, (CLASS_COVERAGE.get(cls) ?? new Set()).add(`${ing.name}|${ANY_FORM}`));
  for (const [form, classes] of Object.entries(ing.byForm ?? {}) as [DoseForm, readonly string[]][])
    for (const cls of classes)
      CLASS_COVERAGE.set(cls, (CLASS_COVERAGE.get(cls) ?? new Set()).add(`${ing.name}|${form}`));
}

/** The single-ingredient products a conjunction's `drug.classes` / `drug.ingredients` selectors admit; null = any. */
function coverage(atoms: FactCondition[]): Coverage | null {
  let result: Coverage | null = null;
  for (const a of atoms) {
    if (a.fact !== 'drug' || (a.operator !== 'contains' && a.operator !== 'containsAny')) continue;
    const values = (Array.isArray(a.value) ? a.value : [a.value]).map(String);
    const admitted = new Set<string>();
    if (a.path === '$.classes') for (const v of values) for (const k of CLASS_COVERAGE.get(v) ?? []) admitted.add(k);
    else if (a.path === '$.ingredients') for (const v of values) admitted.add(`${v}|${ANY_FORM}`);
    else continue;
    result = result ? intersect(result, admitted) : admitted;
  }
  return result;
}

function intersect(a: Coverage, b: Coverage): Coverage {
  const out: Coverage = new Set();
  const split = (k: string): [string, string] => k.split('|') as [string, string];
  for (const x of a)
    for (const y of b) {
      const [ia, fa] = split(x);
      const [ib, fb] = split(y);
      if (ia !== ib) continue;
      if (fa === fb || fb === ANY_FORM) out.add(x);
      else if (fa === ANY_FORM) out.add(y);
    }
  return out;
}

const sameSet = (a: Coverage, b: Coverage): boolean => a.size === b.size && [...a].every((k) => b.has(k));

/**
 * The semantic checks of a shape-valid protocol (see the module comment for what "decidable" covers):
 *
 * - **unreachable**: a route, category or rule whose condition contradicts itself; a criterion whose `appliesWhen`
 *   contradicts its category's `when` (never applies) or whose `when` does (can never pass); a category, supply or
 *   action rule likewise; a category whose drug selectors admit no ingredient of the drug table; a route that a route
 *   of higher (or equal, earlier) precedence always takes first because its condition is identical or weaker;
 * - **no criteria**: a category with an empty `criteria` list that does not say `approvesWithoutCriteria: true`;
 * - **overlap**: two categories that admit the same single-ingredient product (same ingredient, compatible dose form)
 *   and can both hold, when they select exactly the same products (duplicate coverage) or carry different supply
 *   rules (which one applies would depend on document order). A combination product matching two categories through
 *   different ingredients is not an overlap: there both categories' criteria apply, by design.
 */
export function checkProtocolSemantics(p: ProtocolDefinition): SemanticIssue[] {
  const issues: SemanticIssue[] = [];
  const named = p.conditions ?? {};
  const conj = (c: Condition | undefined): Conjunction => conjunction(c, named);
  const never = (path: PropertyKey[], what: string, atoms: FactCondition[]): boolean => {
    const why = contradiction(atoms);
    if (why) issues.push({ path, message: `${what} can never be true: ${why}` });
    return why !== null;
  };

  // Routes: contradictions, then shadowing by precedence (ties keep document order).
  p.routes.forEach((r, i) => never(['routes', i, 'when'], `route "${r.id}"`, conj(r.when).atoms));
  const order = p.routes.map((r, i) => ({ r, i })).sort((a, b) => b.r.precedence - a.r.precedence || a.i - b.i);
  order.forEach(({ r, i }, k) => {
    const mine = conj(r.when).atoms;
    for (const { r: earlier } of order.slice(0, k)) {
      const theirs = conj(earlier.when);
      if (
        theirs.exact &&
        theirs.atoms.length > 0 &&
        theirs.atoms.every((t) => mine.some((m) => isDeepStrictEqual(t, m)))
      ) {
        issues.push({
          path: ['routes', i, 'when'],
          message: `route "${r.id}" is unreachable: route "${earlier.id}" (precedence ${earlier.precedence}) has an identical or weaker condition and is taken first`,
        });
        break;
      }
    }
  });
  p.routes.forEach((r, i) => {
    const cov = coverage(conj(r.when).atoms);
    if (cov && cov.size === 0)
      issues.push({
        path: ['routes', i, 'when'],
        message: `route "${r.id}" is unreachable: no drug in the drug table has the classes and ingredients it requires`,
      });
  });

  const criteria = (rules: ProtocolDefinition['guards'], base: PropertyKey[], context: FactCondition[]): void =>
    rules.forEach((rule, j) => {
      const applies = [...context, ...conj(rule.appliesWhen).atoms];
      if (rule.appliesWhen && never([...base, j, 'appliesWhen'], `criterion "${rule.id}" (appliesWhen)`, applies))
        return;
      never([...base, j, 'when'], `criterion "${rule.id}" (it could never pass)`, [
        ...applies,
        ...conj(rule.when).atoms,
      ]);
    });
  criteria(p.guards, ['guards'], []);

  const covers: (Coverage | null)[] = [];
  p.categories.forEach((c, ci) => {
    const own = conj(c.when).atoms;
    covers.push(coverage(own));
    if (never(['categories', ci, 'when'], `category "${c.id}"`, own)) return;
    const cov = covers[ci];
    if (cov && cov.size === 0)
      issues.push({
        path: ['categories', ci, 'when'],
        message: `category "${c.id}" is unreachable: no drug in the drug table has the classes and ingredients it requires`,
      });
    if (c.criteria.length === 0 && !c.approvesWithoutCriteria)
      issues.push({
        path: ['categories', ci, 'criteria'],
        message: `category "${c.id}" has no criteria, so every drug it matches would be approved unchecked; add criteria or set "approvesWithoutCriteria": true`,
      });
    if (c.criteria.length > 0 && c.approvesWithoutCriteria)
      issues.push({
        path: ['categories', ci, 'approvesWithoutCriteria'],
        message: `category "${c.id}" has criteria, so it does not approve without them`,
      });
    criteria(c.criteria, ['categories', ci, 'criteria'], own);
    c.supply?.forEach((s, j) =>
      never(['categories', ci, 'supply', j, 'when'], `supply rule "${s.id}"`, [...own, ...conj(s.when).atoms]),
    );
    c.actions?.forEach((a, j) =>
      never(['categories', ci, 'actions', j, 'when'], `action "${a.action}"`, [...own, ...conj(a.when).atoms]),
    );
  });
  p.bridgeSupply.forEach((b, i) => never(['bridgeSupply', i, 'when'], `bridge rule "${b.id}"`, conj(b.when).atoms));

  // Overlapping categories.
  p.categories.forEach((a, i) =>
    p.categories.slice(i + 1).forEach((b, k) => {
      const j = i + 1 + k;
      const [ca, cb] = [covers[i], covers[j]];
      if (!ca || !cb) return;
      const shared = intersect(ca, cb);
      if (shared.size === 0 || contradiction([...conj(a.when).atoms, ...conj(b.when).atoms])) return;
      const example =
        [...shared][0]!.replace(`|${ANY_FORM}`, '').replace('|', ' (') +
        ([...shared][0]!.endsWith(ANY_FORM) ? '' : ')');
      const duplicate = sameSet(ca, cb);
      const conflicting = !isDeepStrictEqual(a.supply ?? [], b.supply ?? []);
      if (!duplicate && !conflicting) return;
      issues.push({
        path: ['categories', j, 'when'],
        message: duplicate
          ? `categories "${a.id}" and "${b.id}" select exactly the same drugs (e.g. ${example}); merge them or narrow one`
          : `categories "${a.id}" and "${b.id}" both match ${example} but give different supplies; which applies would depend on their order`,
      });
    }),
  );
  return issues;
}
