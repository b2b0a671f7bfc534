import { z } from '@hono/zod-openapi';
import type { Logger } from '../connectors/logger.ts';
import { ageOn, type IdentityResult, type PatientIdentityReader } from '../connectors/fhir/patient-identity.ts';

// Who a case's patient is, read live from the clinic's EHR when a person views the case or a queue page
// (connectors/fhir/patient-identity.ts). The response carries it; the database, Temporal, the logs and the audit
// log's free text never do.

export const PatientIdentityView = z
  .union([
    z.object({
      name: z.string().nullable(),
      /** As the EHR has it: YYYY, YYYY-MM or YYYY-MM-DD. */
      birthDate: z.string().nullable(),
      /** Whole years today; null for a partial birth date. */
      age: z.number().int().nonnegative().nullable(),
      /** FHIR `Patient.gender`: male | female | other | unknown. */
      sex: z.string().nullable(),
      /** The Patient.identifier typed MR (HL7 v2 table 0203). */
      mrn: z.string().nullable(),
    }),
    z.object({
      unavailable: z.literal(true),
      reason: z.enum(['ehr_unavailable', 'timeout', 'busy', 'not_found']),
    }),
  ])
  .openapi('PatientIdentity', {
    description:
      'Read live from the clinic’s EHR for this response; never stored. `unavailable` when the EHR did not answer ' +
      'in time or has no such patient: the case is shown without it.',
  });
export type PatientIdentityView = z.infer<typeof PatientIdentityView>;

/** The cases of one response whose patient identities to read: the clinic and patient of each. */
interface Subject {
  clinicId: string;
  patientId: string | null;
}

/**
 * Reads the identity of every subject's patient (one batch per clinic, clinics in parallel) and answers a lookup by
 * clinic and patient id. Without a reader (an API built without EHR access) every lookup is undefined, and views
 * carry no `patient`. A failure is logged with its clinic, reason and count only.
 */
export async function readIdentities(
  reader: PatientIdentityReader | undefined,
  subjects: readonly Subject[],
  ctx: { requestId: string; logger: Logger; today: string },
): Promise<(clinicId: string, patientId: string | null) => PatientIdentityView | undefined> {
  if (!reader) return () => undefined;
  const byClinic = new Map<string, Set<string>>();
  for (const s of subjects) {
    if (!s.patientId) continue;
    const ids = byClinic.get(s.clinicId) ?? new Set<string>();
    ids.add(s.patientId);
    byClinic.set(s.clinicId, ids);
  }
  const results = new Map<string, Map<string, IdentityResult>>();
  await Promise.all(
    [...byClinic].map(async ([clinicId, ids]) => {
      const read = await reader.read(clinicId, [...ids], ctx.requestId);
      results.set(clinicId, read);
      const failed = new Map<string, number>();
      for (const r of read.values()) if (!r.ok) failed.set(r.reason, (failed.get(r.reason) ?? 0) + 1);
      for (const [reason, count] of failed) {
        ctx.logger.warn({ clinicId, reason, count }, 'patient identity unavailable');
      }
    }),
  );
  return (clinicId, patientId) => {
    if (!patientId) return undefined;
    const r = results.get(clinicId)?.get(patientId);
    if (!r) return undefined;
    if (!r.ok) return { unavailable: true, reason: r.reason };
    return { ...r.identity, age: ageOn(r.identity.birthDate, ctx.today) };
  };
}
