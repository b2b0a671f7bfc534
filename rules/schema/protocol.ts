import { z } from 'zod';
import { AppError, jsonPath } from '../errors.ts';
import { createFactPathResolver, type FactPathResolver } from './fact-paths.ts';
import { OPERATOR_NAMES, OPERATOR_SPECS, type OperatorName } from './operators.ts';

// ---------------------------------------------------------------------------------------------------------------
// Conditions: json-rules-engine syntax (all / any / not / shared condition reference / fact condition), restricted to
// the facts a kind's facts schema declares and the operators OPERATOR_SPECS lists (`createConditionSchemas`); the
// refill schemas below are built from RefillFactsSchema.
// ---------------------------------------------------------------------------------------------------------------

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

export interface FactCondition<F extends string = string> {
  fact: F;
  path?: string;
  operator: OperatorName;
  value: JsonValue;
}
export interface ConditionReference {
  condition: string;
}
export type TopLevelCondition<F extends string = string> =
  { all: Condition<F>[] } | { any: Condition<F>[] } | { not: Condition<F> } | ConditionReference;
export type Condition<F extends string = string> = FactCondition<F> | TopLevelCondition<F>;

const JsonValueSchema: z.ZodType<JsonValue> = z.lazy(() =>
  z.union([
    z.string(),
    z.number(),
    z.boolean(),
    z.null(),
    z.array(JsonValueSchema),
    z.record(z.string(), JsonValueSchema),
  ]),
);

export const ConditionNameSchema = z.string().regex(/^[a-zA-Z][a-zA-Z0-9_]*$/, 'use letters, digits and _');

const MONTHS = z.number().int().positive().max(600);
const DAYS = z.number().int().positive().max(36_600);

/** The condition schemas of one kind: conditions may name only the facts its facts schema declares. */
export interface ConditionSchemas<F extends string> {
  /** Any condition (nested inside all/any/not). */
  ConditionSchema: z.ZodType<Condition<F>>;
  /** A rule's root condition, as json-rules-engine requires: all, any, not, or a shared-condition reference. */
  TopLevelConditionSchema: z.ZodType<TopLevelCondition<F>>;
  resolveFactPath: FactPathResolver;
}

/**
 * Builds the json-rules-engine condition schemas (all / any / not / shared condition reference / fact condition) for
 * one kind's facts schema (a zod object whose keys are the facts): a fact condition must name a declared fact and
 * path, use an operator of OPERATOR_SPECS that fits the fact's type, and give a value of the right shape.
 * `freeText(fact, path)` names the fact paths rules may not test (free text that recorded snapshots do not keep);
 * any `display` field always is.
 */
export function createConditionSchemas<S extends z.ZodObject>(
  factsSchema: S,
  opts: { freeText?: (fact: string, path: string | undefined) => boolean } = {},
): ConditionSchemas<Extract<keyof z.infer<S>, string>> {
  type F = Extract<keyof z.infer<S>, string>;
  const FactName = factsSchema.keyof();
  const resolve = createFactPathResolver(factsSchema);

  /** A rule value that reads another fact's date (json-rules-engine fact reference), checked like a condition's path. */
  const DATE_FACT = z.strictObject({ fact: FactName, path: z.string() }).superRefine((ref, ctx) => {
    const target = resolve(ref.fact, ref.path);
    if ('error' in target) ctx.addIssue({ code: 'custom', path: ['path'], message: target.error });
    else if (target.kind !== 'date') ctx.addIssue({ code: 'custom', path: ['path'], message: 'not a date' });
  });

  const FactConditionSchema = z
    .strictObject({
      fact: FactName,
      path: z.string().optional(),
      operator: z.enum(OPERATOR_NAMES),
      value: JsonValueSchema,
    })
    .superRefine((c, ctx) => {
      const fact = c.fact;
      const target = resolve(fact, c.path);
      if ('error' in target) {
        ctx.addIssue({ code: 'custom', path: [c.path === undefined ? 'fact' : 'path'], message: target.error });
        return;
      }
      const last = (c.path ?? '$').split('.').pop() ?? '';
      if (opts.freeText?.(fact, c.path) || last === 'display') {
        ctx.addIssue({
          code: 'custom',
          path: ['path'],
          message: `${fact}${(c.path ?? '$').slice(1)} is free text, which recorded snapshots do not keep (no PHI); test codes, classes or values instead`,
        });
        return;
      }
      const spec = OPERATOR_SPECS[c.operator];
      const where = `${fact}${c.path && c.path !== '$' ? c.path.slice(1) : ''}`;
      // An evidence `value` is number | string | boolean: numeric operators may use it.
      const kindOk =
        spec.accepts === 'any' ||
        spec.accepts === target.kind ||
        (spec.accepts === 'scalar' && (target.kind === 'date' || target.kind === 'number')) ||
        (spec.accepts === 'number' && target.kind === 'scalar' && target.schema.safeParse(0).success);
      if (!kindOk) {
        ctx.addIssue({
          code: 'custom',
          path: ['operator'],
          message: `operator "${c.operator}" needs a ${spec.accepts} fact, but ${where} is ${target.kind}`,
        });
        return;
      }
      const element = target.element ?? z.never();
      const valueSchema = {
        leaf: target.schema,
        leafList: z.array(target.schema).min(1),
        element,
        elementList: z.array(element).min(1),
        months: MONTHS,
        days: DAYS,
        dateFact: DATE_FACT,
      }[spec.value];
      const parsed = valueSchema.safeParse(c.value);
      if (!parsed.success) {
        const first = parsed.error.issues[0];
        const at = first && first.path.length ? ` at ${jsonPath(first.path)}` : '';
        ctx.addIssue({
          code: 'custom',
          path: ['value'],
          message: `value does not fit ${where} with "${c.operator}"${at}: ${first?.message ?? 'invalid'}`,
        });
      }
    });

  const BRANCHES: Record<'all' | 'any' | 'not' | 'condition' | 'fact', z.ZodType> = {
    all: z.strictObject({ all: z.array(z.lazy(() => ConditionSchema)).min(1) }),
    any: z.strictObject({ any: z.array(z.lazy(() => ConditionSchema)).min(1) }),
    not: z.strictObject({ not: z.lazy(() => ConditionSchema) }),
    condition: z.strictObject({ condition: ConditionNameSchema }),
    fact: FactConditionSchema,
  };

  function checkBranch(allowFact: boolean) {
    return (value: unknown, ctx: z.RefinementCtx): void => {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) {
        ctx.addIssue({ code: 'custom', message: 'expected a condition object' });
        return;
      }
      const key = (['all', 'any', 'not', 'condition', 'fact'] as const).find((k) => k in value);
      if (!key || (key === 'fact' && !allowFact)) {
        ctx.addIssue({
          code: 'custom',
          message: allowFact
            ? 'expected one of: all, any, not, condition, or a fact condition {fact, path?, operator, value}'
            : 'expected a top-level condition: all, any, not or condition',
        });
        return;
      }
      const result = BRANCHES[key].safeParse(value);
      if (!result.success) {
        for (const issue of result.error.issues) {
          ctx.addIssue({ code: 'custom', path: issue.path, message: issue.message });
        }
      }
    };
  }

  const ConditionSchema = z.unknown().superRefine(checkBranch(true)) as unknown as z.ZodType<Condition<F>>;
  const TopLevelConditionSchema = z.unknown().superRefine(checkBranch(false)) as unknown as z.ZodType<
    TopLevelCondition<F>
  >;
  return { ConditionSchema, TopLevelConditionSchema, resolveFactPath: resolve };
}

/** A cycle among shared conditions (`a → b → a`), or `null`. Any kind's conditions. */
export function findConditionCycle<F extends string>(
  conditions: Record<string, TopLevelCondition<F>>,
): string[] | null {
  const refs = (c: Condition<F>, out: string[]): string[] => {
    if ('condition' in c) out.push(c.condition);
    else if ('all' in c) c.all.forEach((x) => refs(x, out));
    else if ('any' in c) c.any.forEach((x) => refs(x, out));
    else if ('not' in c) refs(c.not, out);
    return out;
  };
  const visit = (name: string, stack: string[]): string[] | null => {
    if (stack.includes(name)) return [...stack.slice(stack.indexOf(name)), name];
    const c = conditions[name];
    if (!c) return null;
    for (const next of refs(c, [])) {
      const found = visit(next, [...stack, name]);
      if (found) return found;
    }
    return null;
  };
  for (const name of Object.keys(conditions)) {
    const found = visit(name, []);
    if (found) return found;
  }
  return null;
}

/** One problem in a protocol document, at a JSON path (`$.categories[2].criteria[0].when.all[1].path`). */
export interface ProtocolIssue {
  path: string;
  message: string;
}

/** How deeply a protocol document may nest (the deepest built-in protocol nests 9 levels). */
export const MAX_PROTOCOL_DEPTH = 64;

/**
 * True when `value` nests objects/arrays `max` levels deep or more. Iterative, so a 5,000-deep document is reported
 * instead of overflowing the stack in the recursive schema.
 */
export function nestedDeeperThan(value: unknown, max: number): boolean {
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length) {
    const [v, depth] = stack.pop()!;
    if (v === null || typeof v !== 'object') continue;
    if (depth >= max) return true;
    for (const child of Object.values(v)) stack.push([child, depth + 1]);
  }
  return false;
}

/**
 * Validation and parsing of one kind's protocol documents by its schema, the same for every kind: the nesting limit
 * first (the schemas are recursive), then every issue with its JSON path; `parse` throws the first of them.
 */
export function protocolValidator<T>(schema: z.ZodType<T>): {
  validate(input: unknown): ProtocolIssue[];
  parse(input: unknown): T;
} {
  const issuesOf = (input: unknown): { issues: ProtocolIssue[]; data?: T } => {
    if (nestedDeeperThan(input, MAX_PROTOCOL_DEPTH))
      return { issues: [{ path: '$', message: `nested deeper than ${MAX_PROTOCOL_DEPTH} levels` }] };
    const result = schema.safeParse(input);
    return result.success
      ? { issues: [], data: result.data }
      : { issues: result.error.issues.map((i) => ({ path: jsonPath(i.path), message: i.message })) };
  };
  return {
    validate: (input) => issuesOf(input).issues,
    parse(input) {
      const { issues, data } = issuesOf(input);
      if (data !== undefined) return data;
      const first = issues[0];
      throw new AppError(
        'PROTOCOL_INVALID',
        `protocol is invalid: ${first ? `${first.path}: ${first.message}` : 'unknown problem'}`,
        { issues },
      );
    },
  };
}
