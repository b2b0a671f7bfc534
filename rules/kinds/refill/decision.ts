import { z } from 'zod';
import { ControlledScheduleSchema, DrugClassSchema } from '../../drugs/vocabulary.ts';
import { EvidenceSchema } from '../../schema/evidence.ts';

/** What a protocol can conclude. There is no "deny": denial is a clinician's act. */
export const DispositionSchema = z.enum(['approve', 'needs_visit', 'nurse_review', 'doctor_review']);
export type Disposition = z.infer<typeof DispositionSchema>;

export const RenewalSupplySchema = z.strictObject({ renewalMonths: z.number().int().positive() });
export const QuantitySupplySchema = z.strictObject({
  quantity: z.number().positive(),
  refills: z.number().int().nonnegative(),
});
/** A renewal term ("12 months") or a dispensed quantity with refills ("#1 with 2 refills"). */
export const SupplySchema = z.union([RenewalSupplySchema, QuantitySupplySchema]);
export type Supply = z.infer<typeof SupplySchema>;
export type QuantitySupply = z.infer<typeof QuantitySupplySchema>;

export const CriterionResultSchema = z.strictObject({
  /** Criterion id (`visit_within_18mo`) or fired routing rule (`warfarin_to_protime_nurse`). */
  id: z.string(),
  /** Protocol clause (`PPI-1`). */
  clause: z.string(),
  /**
   * The guideline clause the rule implements (the rule's `source`), so the reason a nurse reads names what it rests
   * on. Absent on outcomes that are not rules (not in protocol, bridge undetermined) and on decisions recorded before
   * protocols carried a source.
   */
  source: z.string().optional(),
  passed: z.boolean(),
  /** In words a nurse understands, with the evidence's dates filled in. */
  explanation: z.string(),
  evidence: z.array(EvidenceSchema),
});
export type CriterionResult = z.infer<typeof CriterionResultSchema>;

/**
 * The outcome of one protocol version on one request's facts. Recorded in workflow history (the audit trail), shown
 * in the queues, printed by the CLI.
 */
export const TriageDecisionSchema = z.strictObject({
  disposition: DispositionSchema,
  /** Ids of the criteria that did not pass, in evaluation order (fired routing rules included). */
  failedCriteria: z.array(z.string()),
  /** Every criterion evaluated, passed or not. */
  criteria: z.array(CriterionResultSchema),
  approvedSupply: SupplySchema.nullable(),
  bridgeSupply: QuantitySupplySchema.nullable(),
  routeTo: z.string().nullable(),
  /** Orders the protocol places (care-gap labs); they never change the disposition. */
  actions: z.array(z.string()),
  protocol: z.strictObject({ id: z.string(), version: z.number().int().positive() }),
  drug: z.strictObject({
    name: z.string(),
    ingredients: z.array(z.string()),
    classes: z.array(DrugClassSchema),
    controlledSchedule: ControlledScheduleSchema.nullable(),
  }),
});
export type TriageDecision = z.infer<typeof TriageDecisionSchema>;
