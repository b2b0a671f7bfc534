import { z } from 'zod';
import {
  ConditionNameSchema,
  createConditionSchemas,
  findConditionCycle,
  protocolValidator,
  type Condition,
  type ProtocolIssue,
  type TopLevelCondition,
} from '../../schema/protocol.ts';
import { CareGapClauseIdSchema, CareGapDispositionSchema, CareGapPrioritySchema } from './decision.ts';
import { CareGapFactsSchema, type CareGapFactName } from './facts.ts';

export type { ProtocolIssue } from '../../schema/protocol.ts';

const CONDITIONS = createConditionSchemas(CareGapFactsSchema);
/** Any care-gap condition (nested inside all/any/not), over the facts CareGapFactsSchema declares. */
export const CareGapConditionSchema = CONDITIONS.ConditionSchema;
/** A care-gap clause's root condition: all, any, not, or a shared-condition reference. */
export const CareGapTopLevelConditionSchema = CONDITIONS.TopLevelConditionSchema;
/** Resolves `fact` + `path` against CareGapFactsSchema. */
export const resolveCareGapFactPath = CONDITIONS.resolveFactPath;
export type CareGapCondition = Condition<CareGapFactName>;
export type CareGapTopLevelCondition = TopLevelCondition<CareGapFactName>;

const SnakeId = z.string().regex(/^[a-z][a-z0-9_]*$/, 'use snake_case (a-z, 0-9, _)');
const Description = z.string().min(10, 'say what the clause is for, in words a reviewer can check');
const Source = z.string().min(3, 'name the guideline, section or measure this clause implements');

/**
 * Dispositions that create no work item and write nothing to the EHR: a clause deciding them may pend no action.
 * (`docs/protocols/crc-screening-2021.md`, "Three outcomes create no work item and no Task".)
 */
export const NO_WORK_DISPOSITIONS = ['not_applicable', 'gap_closed', 'suppressed'] as const;

/**
 * What a protocol action may be: a **draft** the protocol pends for a signature (`pend_*`: a FIT order, a GI
 * referral) or a mailed outreach letter (`mail_*`, outreach only). Nothing else: the protocol never orders anything
 * active and never denies (clinical safety; validation refuses any other action).
 */
export const CARE_GAP_ACTION_PATTERN = /^(pend|mail)_[a-z0-9_]+$/;

/** A fact path (`tests.lastColonoscopy`) whose Evidence (or Evidence[], or object with `evidence`) a reason cites. */
const EvidenceRefSchema = z.string().superRefine((ref, ctx) => {
  const [fact = '', ...rest] = ref.split('.');
  const target = resolveCareGapFactPath(fact, rest.length ? `$.${rest.join('.')}` : '$');
  if ('error' in target) ctx.addIssue({ code: 'custom', message: target.error });
  else if (target.kind !== 'object' && target.kind !== 'array')
    ctx.addIssue({ code: 'custom', message: `${ref} is not evidence (an object or a list)` });
});

export const CareGapReasonRuleSchema = z.strictObject({
  /** Reason id as the document lists it (`age_under_45`). */
  id: SnakeId,
  /**
   * When the clause decides, this reason is given when `when` holds (a clause with two reasons, such as CRC-1's
   * under 45 / over 85); without `when` it always is. Its evidence is what made `when` (else the clause) hold.
   */
  when: CareGapTopLevelConditionSchema.optional(),
  /** Further evidence to cite, by fact path (`patient`, `tests.lastColonoscopy`). */
  evidence: z.array(EvidenceRefSchema).optional(),
});

export const CareGapClauseSchema = z.strictObject({
  id: CareGapClauseIdSchema,
  title: z.string().min(3),
  /** The guideline or measure clause it implements. */
  source: Source,
  description: Description.optional(),
  /** When the clause applies (decides). Omitted only on the last clause: "otherwise". */
  when: CareGapTopLevelConditionSchema.optional(),
  disposition: CareGapDispositionSchema,
  reasons: z.array(CareGapReasonRuleSchema).min(1),
  priority: CareGapPrioritySchema.default('routine'),
  /** The pool of the work item (`gi_followup`); `null` for none. */
  routeTo: SnakeId.nullable().default(null),
  actions: z
    .array(z.string().regex(CARE_GAP_ACTION_PATTERN, 'an action is pend_* (a draft) or mail_* (a letter)'))
    .default([]),
});

/** A qualifying test and its window: how long a test keeps a patient up to date (and when they are next due). */
export const CareGapTestWindowSchema = z.strictObject({
  id: SnakeId,
  title: z.string().min(3),
  /** How the EHR records it and when it counts, in words (`Observation; result negative`). */
  countsWhen: z.string().min(3),
  windowMonths: z.number().int().positive().max(600),
  /** The fact holding the date of the latest such test that counts (`tests`, `$.lastNegativeFit.date`). */
  fact: z.string(),
  path: z.string(),
});

/** The outreach sequence defaults (days after the outreach started), which a clinic may configure. */
export const CareGapOutreachSchema = z
  .strictObject({
    /** No result by then: a reminder (CommunicationRequest, category `reminder`). */
    reminderDay: z.number().int().positive(),
    /** No result by then: `nurse_review` ("kit not returned: call"). */
    nurseCallDay: z.number().int().positive(),
    /** Closed as not returned (the gap stays open). */
    closeDay: z.number().int().positive(),
    /** The next sweep may restart outreach this many months after a close. */
    restartAfterMonths: z.number().int().positive(),
  })
  .refine((o) => o.reminderDay < o.nurseCallDay && o.nurseCallDay < o.closeDay, {
    message: 'the steps must come in order: reminderDay < nurseCallDay < closeDay',
  });
export type CareGapOutreach = z.infer<typeof CareGapOutreachSchema>;

/**
 * A care-gap protocol: ordered clauses (the first that applies decides), each a json-rules-engine condition over the
 * care-gap facts with its disposition, reasons, priority, pool and pended actions; the qualifying tests' windows as
 * data (for `nextDueDate`); and the outreach sequence defaults. Evaluated by `evaluateCareGap`.
 */
export const CareGapProtocolSchema = z
  .strictObject({
    schemaVersion: z.literal(1),
    kind: z.literal('care-gap'),
    id: z.string().regex(/^[a-z0-9]+(-[a-z0-9]+)*$/, 'use kebab-case'),
    version: z.number().int().positive(),
    title: z.string().min(3),
    description: Description,
    source: z.string().min(3),
    /** Named conditions clauses can reuse with `{ "condition": "<name>" }`. */
    conditions: z.record(ConditionNameSchema, CareGapTopLevelConditionSchema).optional(),
    tests: z.array(CareGapTestWindowSchema).min(1),
    clauses: z.array(CareGapClauseSchema).min(1),
    outreach: CareGapOutreachSchema,
  })
  .superRefine(
    (p, ctx) => {
      for (const issue of checkCareGapProtocol(p)) ctx.addIssue({ code: 'custom', ...issue });
    },
    { when: (payload) => payload.issues.length === 0 },
  );
export type CareGapProtocol = z.infer<typeof CareGapProtocolSchema>;
export type CareGapClause = z.infer<typeof CareGapClauseSchema>;
export type CareGapTestWindow = z.infer<typeof CareGapTestWindowSchema>;

/** Visits every condition of a care-gap protocol with its path (shared conditions, clauses, reasons). */
export function forEachCareGapCondition(
  p: Pick<CareGapProtocol, 'conditions' | 'clauses'>,
  visit: (c: CareGapCondition, path: PropertyKey[]) => void,
): void {
  const walk = (c: CareGapCondition, path: PropertyKey[]): void => {
    visit(c, path);
    if ('all' in c) c.all.forEach((x, i) => walk(x, [...path, 'all', i]));
    else if ('any' in c) c.any.forEach((x, i) => walk(x, [...path, 'any', i]));
    else if ('not' in c) walk(c.not, [...path, 'not']);
  };
  for (const [name, c] of Object.entries(p.conditions ?? {})) walk(c, ['conditions', name]);
  p.clauses.forEach((clause, i) => {
    if (clause.when) walk(clause.when, ['clauses', i, 'when']);
    clause.reasons.forEach((r, j) => r.when && walk(r.when, ['clauses', i, 'reasons', j, 'when']));
  });
}

/** Cross-field checks of a well-formed definition: ids, references, the fallback clause, safety, windows. */
function checkCareGapProtocol(p: CareGapProtocol): { path: PropertyKey[]; message: string }[] {
  const issues: { path: PropertyKey[]; message: string }[] = [];
  const unique = (ids: string[], at: (i: number) => PropertyKey[], what: string): void => {
    const seen = new Set<string>();
    ids.forEach((id, i) => {
      if (seen.has(id)) issues.push({ path: at(i), message: `duplicate ${what} "${id}"` });
      seen.add(id);
    });
  };
  unique(
    p.clauses.map((c) => c.id),
    (i) => ['clauses', i, 'id'],
    'clause id',
  );
  unique(
    p.tests.map((t) => t.id),
    (i) => ['tests', i, 'id'],
    'test id',
  );

  // Every patient gets a decision: the last clause is the fallback ("otherwise"), and only it may omit `when`.
  p.clauses.forEach((c, i) => {
    const last = i === p.clauses.length - 1;
    if (!c.when && !last)
      issues.push({ path: ['clauses', i, 'when'], message: 'only the last clause may omit "when" (otherwise)' });
    if (c.when && last)
      issues.push({
        path: ['clauses', i, 'when'],
        message: 'the last clause is the fallback ("otherwise"): omit "when" so every patient gets a decision',
      });
  });

  // Clinical safety: actions pend drafts or mail letters, and only where a person or outreach follows.
  p.clauses.forEach((c, i) => {
    c.actions.forEach((a, j) => {
      if ((NO_WORK_DISPOSITIONS as readonly string[]).includes(c.disposition))
        issues.push({
          path: ['clauses', i, 'actions', j],
          message: `a ${c.disposition} clause writes nothing to the EHR: it may not pend "${a}"`,
        });
      else if (a.startsWith('mail_') && c.disposition !== 'outreach')
        issues.push({ path: ['clauses', i, 'actions', j], message: `"${a}" mails the patient: outreach clauses only` });
    });
    if (c.priority === 'urgent' && (NO_WORK_DISPOSITIONS as readonly string[]).includes(c.disposition))
      issues.push({ path: ['clauses', i, 'priority'], message: `a ${c.disposition} clause creates no work item` });
  });

  // Windows: each names a date fact, and a clause testing that date "withinMonths" uses the window's months.
  const windowByPath = new Map<string, CareGapTestWindow>();
  p.tests.forEach((t, i) => {
    const target = resolveCareGapFactPath(t.fact, t.path);
    if ('error' in target) issues.push({ path: ['tests', i, 'path'], message: target.error });
    else if (target.kind !== 'date') issues.push({ path: ['tests', i, 'path'], message: 'not a date' });
    windowByPath.set(`${t.fact}${t.path}`, t);
  });

  const named = new Set(Object.keys(p.conditions ?? {}));
  forEachCareGapCondition(p, (c, path) => {
    if ('condition' in c && !named.has(c.condition))
      issues.push({ path: [...path, 'condition'], message: `unknown shared condition "${c.condition}"` });
    if ('fact' in c && c.operator === 'withinMonths') {
      const w = windowByPath.get(`${c.fact}${c.path ?? '$'}`);
      if (w && c.value !== w.windowMonths)
        issues.push({
          path: [...path, 'value'],
          message: `${w.title} counts for ${w.windowMonths} months (tests[${w.id}]); this condition says ${JSON.stringify(c.value)}`,
        });
    }
  });
  const cycle = findConditionCycle(p.conditions ?? {});
  if (cycle)
    issues.push({
      path: ['conditions', cycle[0] ?? ''],
      message: `shared conditions refer to each other in a cycle: ${cycle.join(' → ')}`,
    });
  return issues;
}

const CARE_GAP_PROTOCOLS = protocolValidator(CareGapProtocolSchema);

/**
 * Validates a care-gap protocol document and lists every problem with its JSON path; `[]` means valid. Covers shape,
 * unknown facts and paths, operators that do not fit, shared conditions, the fallback clause, the safety rules
 * (actions only `pend_*` drafts or `mail_*` letters, none on a disposition that writes nothing) and the windows.
 */
export function validateCareGapProtocol(input: unknown): ProtocolIssue[] {
  return CARE_GAP_PROTOCOLS.validate(input);
}

/**
 * Parses a care-gap protocol document.
 *
 * @throws AppError `PROTOCOL_INVALID` with `issues` (path + message) when the document does not validate.
 */
export function parseCareGapProtocol(input: unknown): CareGapProtocol {
  return CARE_GAP_PROTOCOLS.parse(input);
}
