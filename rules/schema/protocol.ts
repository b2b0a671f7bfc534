import { z } from 'zod';
import { AppError, jsonPath } from '../errors.ts';
import { DispositionSchema, QuantitySupplySchema, SupplySchema } from './decision.ts';
import { RefillFactsSchema, type FactName } from './facts.ts';
import {
  createFactPathResolver,
  PLACEHOLDER_PATTERN,
  placeholderToFactPath,
  resolveFactPath,
  type FactPathResolver,
} from './fact-paths.ts';
import { OPERATOR_NAMES, OPERATOR_SPECS, type OperatorName } from './operators.ts';
import { checkProtocolSemantics } from './protocol-semantics.ts';

// ---------------------------------------------------------------------------------------------------------------
// Conditions: json-rules-engine syntax (all / any / not / shared condition reference / fact condition), restricted to
// the facts a kind's facts schema declares and the operators OPERATOR_SPECS lists (`createConditionSchemas`); the
// refill schemas below are built from RefillFactsSchema.
// ---------------------------------------------------------------------------------------------------------------

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

export interface FactCondition<F extends string = FactName> {
  fact: F;
  path?: string;
  operator: OperatorName;
  value: JsonValue;
}
export interface ConditionReference {
  condition: string;
}
export type TopLevelCondition<F extends string = FactName> =
  { all: Condition<F>[] } | { any: Condition<F>[] } | { not: Condition<F> } | ConditionReference;
export type Condition<F extends string = FactName> = FactCondition<F> | TopLevelCondition<F>;

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

const REFILL_CONDITIONS = createConditionSchemas(RefillFactsSchema, {
  freeText: (fact, path) => fact === 'drug' && path === '$.name',
});
/** Any refill condition (nested inside all/any/not). */
export const ConditionSchema: z.ZodType<Condition> = REFILL_CONDITIONS.ConditionSchema;
/** A refill rule's root condition, as json-rules-engine requires: all, any, not, or a shared-condition reference. */
export const TopLevelConditionSchema: z.ZodType<TopLevelCondition> = REFILL_CONDITIONS.TopLevelConditionSchema;

// ---------------------------------------------------------------------------------------------------------------
// Rules and the protocol
// ---------------------------------------------------------------------------------------------------------------

const SnakeId = z.string().regex(/^[a-z][a-z0-9_]*$/, 'use snake_case (a-z, 0-9, _)');
const ClauseId = z.string().regex(/^[A-Z][A-Z0-9]*-\d+[a-z]?$/, 'a clause id such as PPI-1');
const Description = z.string().min(10, 'say what the rule is for, in words a reviewer can check');
/** The guideline clause a rule implements ("Family Medicine – Renewal Guidelines (Jan 2015), PPI-1"). */
const Source = z.string().min(3, 'name the guideline, section or [S#] source this rule implements');

const TemplateSchema = z
  .string()
  .min(5)
  .superRefine((text, ctx) => {
    for (const m of text.matchAll(PLACEHOLDER_PATTERN)) {
      const { fact, path } = placeholderToFactPath(m[1] ?? '');
      const target = resolveFactPath(fact, path);
      if ('error' in target) ctx.addIssue({ code: 'custom', message: `placeholder {{${m[1]}}}: ${target.error}` });
    }
  });

/** A visit/lab/safety check. `when` is the condition for PASSING. */
export const CriterionRuleSchema = z.strictObject({
  id: SnakeId,
  clause: ClauseId,
  description: Description,
  source: Source,
  /** Only evaluated when this holds (e.g. the drug-level criterion applies to five drugs only). */
  appliesWhen: TopLevelConditionSchema.optional(),
  when: TopLevelConditionSchema,
  /**
   * What a failure means: `unclear` → the protocol's unclear outcome (G-1, doctor review); `needs_visit` → a visit
   * and a bridge supply (G-3); `needs_visit_no_bridge` → a visit and no supply (AD-2).
   */
  onFail: z.enum(['unclear', 'needs_visit', 'needs_visit_no_bridge']),
  /** A failure makes the criteria after it in this protocol not apply (AD-1: the rest apply only to adults). */
  stopOnFail: z.boolean().optional(),
  explanation: z.strictObject({ pass: TemplateSchema, fail: TemplateSchema }),
});

/** Sends the request somewhere before any visit or lab check (AC-2, AC-3, DM-4). Never a supply. */
export const RouteRuleSchema = z.strictObject({
  id: SnakeId,
  clause: ClauseId,
  description: Description,
  source: Source,
  /** Higher first; the first route that matches decides. Ties keep document order. */
  precedence: z.number().int().min(1).max(1000),
  when: TopLevelConditionSchema,
  disposition: DispositionSchema.exclude(['approve']),
  routeTo: SnakeId,
  explanation: TemplateSchema,
});

/** Supply on approval other than the default renewal (AS-2: PRN inhalers #1 with 2 refills). First match wins. */
export const SupplyRuleSchema = z.strictObject({
  id: SnakeId,
  clause: ClauseId,
  description: Description,
  when: TopLevelConditionSchema,
  supply: SupplySchema,
});

/** An order the protocol places when `when` holds (DM-2, DM-3). Never changes the disposition. */
export const ActionRuleSchema = z.strictObject({
  action: SnakeId,
  clause: ClauseId,
  description: Description,
  when: TopLevelConditionSchema,
});

/** The short supply given when criteria fail (G-3). First match wins. */
export const BridgeRuleSchema = z.strictObject({
  id: SnakeId,
  clause: ClauseId,
  description: Description,
  when: TopLevelConditionSchema,
  supply: QuantitySupplySchema,
});

/** A group of drugs the protocol lists, with its criteria. A drug may fall in several; then all their criteria apply. */
export const CategorySchema = z.strictObject({
  id: SnakeId,
  clause: ClauseId,
  title: z.string().min(3),
  description: Description,
  source: Source,
  when: TopLevelConditionSchema,
  /**
   * Says the protocol approves every drug of this category with no visit or lab check (AL-1). Without it an empty
   * `criteria` list is reported as a mistake (a category whose checks were deleted would approve everything).
   */
  approvesWithoutCriteria: z.literal(true).optional(),
  criteria: z.array(CriterionRuleSchema),
  supply: z.array(SupplyRuleSchema).optional(),
  actions: z.array(ActionRuleSchema).optional(),
});

/**
 * A protocol: data that admins edit, validate, simulate and publish as immutable versions. Evaluation order (see
 * `rules/engine/evaluate.ts`): routes → guards and the matched categories' criteria → disposition → supply → actions.
 */
export const ProtocolDefinitionSchema = z
  .strictObject({
    schemaVersion: z.literal(1),
    id: z.string().regex(/^[a-z0-9]+(-[a-z0-9]+)*$/, 'use kebab-case'),
    version: z.number().int().positive(),
    title: z.string().min(3),
    description: Description,
    /** The guideline or policy document this protocol implements. */
    source: z.string().min(3),
    /** Named conditions rules can reuse with `{ "condition": "<name>" }` (json-rules-engine shared conditions). */
    conditions: z.record(ConditionNameSchema, TopLevelConditionSchema).optional(),
    outcomes: z.strictObject({
      /** Where "unclear" goes (G-1). */
      unclear: z.strictObject({
        clause: ClauseId,
        disposition: z.literal('doctor_review'),
        routeTo: SnakeId,
      }),
      /** The default supply when every criterion passes (G-2). */
      approval: z.strictObject({ clause: ClauseId, supply: SupplySchema }),
      /** Reported when no category matches the drug (→ unclear). */
      notInProtocol: z.strictObject({
        criterion: SnakeId,
        clause: ClauseId,
        explanation: TemplateSchema,
      }),
    }),
    routes: z.array(RouteRuleSchema),
    /** Criteria for every drug in a category (allergy, active prescription), evaluated before the categories'. */
    guards: z.array(CriterionRuleSchema),
    categories: z.array(CategorySchema).min(1),
    bridgeSupply: z.array(BridgeRuleSchema).min(1),
  })
  .superRefine(
    (p, ctx) => {
      const named = new Set(Object.keys(p.conditions ?? {}));
      const unique = (ids: string[], at: (i: number) => PropertyKey[], what: string): void => {
        const seen = new Set<string>();
        ids.forEach((id, i) => {
          if (seen.has(id)) ctx.addIssue({ code: 'custom', path: at(i), message: `duplicate ${what} "${id}"` });
          seen.add(id);
        });
      };
      unique(
        p.routes.map((r) => r.id),
        (i) => ['routes', i, 'id'],
        'route id',
      );
      unique(
        p.guards.map((r) => r.id),
        (i) => ['guards', i, 'id'],
        'guard id',
      );
      unique(
        p.categories.map((c) => c.id),
        (i) => ['categories', i, 'id'],
        'category id',
      );
      unique(
        p.bridgeSupply.map((b) => b.id),
        (i) => ['bridgeSupply', i, 'id'],
        'bridge rule id',
      );
      p.categories.forEach((c, ci) =>
        unique(
          c.criteria.map((r) => r.id),
          (i) => ['categories', ci, 'criteria', i, 'id'],
          'criterion id',
        ),
      );

      forEachCondition(p, (cond, path) => {
        if ('condition' in cond && !named.has(cond.condition)) {
          ctx.addIssue({
            code: 'custom',
            path: [...path, 'condition'],
            message: `unknown shared condition "${cond.condition}"`,
          });
        }
      });
      const cycle = findConditionCycle(p.conditions ?? {});
      if (cycle)
        ctx.addIssue({
          code: 'custom',
          path: ['conditions', cycle[0] ?? ''],
          message: `shared conditions refer to each other in a cycle: ${cycle.join(' → ')}`,
        });
      else for (const issue of checkProtocolSemantics(p)) ctx.addIssue({ code: 'custom', ...issue });
    },
    // Cross-rule checks need well-formed rules: a condition that failed its own check may be any JSON value.
    { when: (payload) => payload.issues.length === 0 },
  );

export type ProtocolDefinition = z.infer<typeof ProtocolDefinitionSchema>;
export type CriterionRule = z.infer<typeof CriterionRuleSchema>;
export type RouteRule = z.infer<typeof RouteRuleSchema>;
export type SupplyRule = z.infer<typeof SupplyRuleSchema>;
export type ActionRule = z.infer<typeof ActionRuleSchema>;
export type BridgeRule = z.infer<typeof BridgeRuleSchema>;
export type Category = z.infer<typeof CategorySchema>;

type ProtocolShape = Pick<ProtocolDefinition, 'conditions' | 'routes' | 'guards' | 'categories' | 'bridgeSupply'>;

/** Visits every condition node of a protocol with its path (shared conditions, then each rule's `when`/`appliesWhen`). */
export function forEachCondition(p: ProtocolShape, visit: (c: Condition, path: PropertyKey[]) => void): void {
  const walk = (c: Condition, path: PropertyKey[]): void => {
    visit(c, path);
    if ('all' in c) c.all.forEach((x, i) => walk(x, [...path, 'all', i]));
    else if ('any' in c) c.any.forEach((x, i) => walk(x, [...path, 'any', i]));
    else if ('not' in c) walk(c.not, [...path, 'not']);
  };
  for (const [name, c] of Object.entries(p.conditions ?? {})) walk(c, ['conditions', name]);
  p.routes.forEach((r, i) => walk(r.when, ['routes', i, 'when']));
  const criteria = (rules: CriterionRule[], base: PropertyKey[]): void =>
    rules.forEach((r, i) => {
      walk(r.when, [...base, i, 'when']);
      if (r.appliesWhen) walk(r.appliesWhen, [...base, i, 'appliesWhen']);
    });
  criteria(p.guards, ['guards']);
  p.categories.forEach((c, ci) => {
    walk(c.when, ['categories', ci, 'when']);
    criteria(c.criteria, ['categories', ci, 'criteria']);
    c.supply?.forEach((s, i) => walk(s.when, ['categories', ci, 'supply', i, 'when']));
    c.actions?.forEach((a, i) => walk(a.when, ['categories', ci, 'actions', i, 'when']));
  });
  p.bridgeSupply.forEach((b, i) => walk(b.when, ['bridgeSupply', i, 'when']));
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

const REFILL_PROTOCOLS = protocolValidator(ProtocolDefinitionSchema);

/**
 * Validates a protocol document and lists every problem with its JSON path; `[]` means valid. This is what the admin
 * API answers on "validate", so an author sees all mistakes at once rather than one per save. Covers shape, unknown
 * facts, operators that do not fit the fact's type, nesting depth, and the semantic checks of
 * `checkProtocolSemantics` (unreachable rules, categories without criteria, overlapping categories).
 */
export function validateProtocol(input: unknown): ProtocolIssue[] {
  return REFILL_PROTOCOLS.validate(input);
}

/**
 * Parses a protocol document.
 *
 * @throws AppError `PROTOCOL_INVALID` with `issues` (path + message) when the document does not validate.
 */
export function parseProtocol(input: unknown): ProtocolDefinition {
  return REFILL_PROTOCOLS.parse(input);
}
