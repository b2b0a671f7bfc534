import { z } from 'zod';
import { EvidenceSchema, IsoDateSchema } from '../../schema/evidence.ts';

/**
 * What a care-gap protocol can conclude (docs/protocols/crc-screening-2021.md, "Dispositions"). There is no "deny" and
 * no active order: the protocol closes, suppresses, or hands the gap to outreach or a person.
 */
export const CareGapDispositionSchema = z.enum([
  'not_applicable',
  'gap_closed',
  'suppressed',
  'outreach',
  'nurse_review',
  'doctor_review',
]);
export type CareGapDisposition = z.infer<typeof CareGapDispositionSchema>;

export const CareGapPrioritySchema = z.enum(['routine', 'urgent']);
export type CareGapPriority = z.infer<typeof CareGapPrioritySchema>;

/** A clause id of a care-gap protocol (`CRC-8`). */
export const CareGapClauseIdSchema = z.string().regex(/^[A-Z][A-Z0-9]*-\d+[a-z]?$/, 'a clause id such as CRC-8');

export const CareGapReasonSchema = z.strictObject({
  /** Reason id (`positive_stool_test_without_colonoscopy`). */
  id: z.string(),
  evidence: z.array(EvidenceSchema),
});
export type CareGapReason = z.infer<typeof CareGapReasonSchema>;

/** One clause of the protocol as evaluated: `passed` `null` when a clause before it decided (not reached). */
export const CareGapClauseResultSchema = z.strictObject({
  id: CareGapClauseIdSchema,
  title: z.string(),
  source: z.string(),
  passed: z.boolean().nullable(),
  evidence: z.array(EvidenceSchema),
});
export type CareGapClauseResult = z.infer<typeof CareGapClauseResultSchema>;

/**
 * The decision of a care-gap protocol for one patient: the disposition, the clause that decided and why (reasons
 * with evidence), where it goes, when screening is next due (`gap_closed` only), the pended actions, the protocol
 * id+version, and every clause in order with pass / fail / not reached (for the console and a simulation diff).
 */
export const CareGapDecisionSchema = z.strictObject({
  disposition: CareGapDispositionSchema,
  clause: CareGapClauseIdSchema,
  reasons: z.array(CareGapReasonSchema),
  priority: CareGapPrioritySchema,
  /** The pool the work item goes to (`gi_followup`); `null` when there is none. */
  routeTo: z.string().nullable(),
  /** For `gap_closed`: the latest of (test date + its window) over every qualifying test on file. */
  nextDueDate: IsoDateSchema.nullable(),
  /** Actions the protocol pends (`pend_fit_order`, `mail_fit_outreach`, `pend_gi_referral`): drafts only. */
  actions: z.array(z.string()),
  protocol: z.strictObject({ id: z.string(), version: z.number().int().positive() }),
  clauses: z.array(CareGapClauseResultSchema),
});
export type CareGapDecision = z.infer<typeof CareGapDecisionSchema>;
