// The refill kind's protocol document: its rules (routes, guards, categories with criteria, supply and actions,
// bridge supply) over the refill facts, with the engine's condition schemas (rules/schema/protocol.ts).
import { z } from 'zod';
import { DispositionSchema, QuantitySupplySchema, SupplySchema } from './decision.ts';
import { RefillFactsSchema, resolveFactPath, type FactName } from './facts.ts';
import { PLACEHOLDER_PATTERN, placeholderToFactPath } from '../../schema/fact-paths.ts';
import {
  ConditionNameSchema,
  createConditionSchemas,
  findConditionCycle,
  protocolValidator,
  type Condition as AnyCondition,
  type FactCondition as AnyFactCondition,
  type ProtocolIssue,
  type TopLevelCondition as AnyTopLevelCondition,
} from '../../schema/protocol.ts';
import { checkProtocolSemantics } from './protocol-semantics.ts';

export type { ConditionReference, JsonValue, ProtocolIssue } from '../../schema/protocol.ts';
/** A refill fact condition: it names one of the refill facts. */
export type FactCondition = AnyFactCondition<FactName>;
export type TopLevelCondition = AnyTopLevelCondition<FactName>;
export type Condition = AnyCondition<FactName>;

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
