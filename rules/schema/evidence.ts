import { z } from 'zod';

/** A calendar date, `YYYY-MM-DD`. Facts carry dates, never "within N months" booleans: thresholds belong to protocols. */
export const IsoDateSchema = z.iso.date();

/**
 * Where a fact came from: the FHIR resource, its date and value. The console shows it as
 * "CBC on 2026-03-02 (Observation/obs-123)"; the audit trail keeps it with the decision.
 */
export const EvidenceSchema = z.strictObject({
  resourceType: z.string().regex(/^[A-Z][A-Za-z]+$/),
  id: z.string().min(1),
  date: IsoDateSchema.optional(),
  value: z.union([z.number(), z.string(), z.boolean()]).optional(),
  display: z.string().optional(),
});
export type Evidence = z.infer<typeof EvidenceSchema>;

/** Evidence of something that happened on a date (a visit, a lab result). */
export const DatedEvidenceSchema = EvidenceSchema.extend({ date: IsoDateSchema });
export type DatedEvidence = z.infer<typeof DatedEvidenceSchema>;
