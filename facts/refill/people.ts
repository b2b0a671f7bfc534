import type { Encounter, Practitioner } from '@medplum/fhirtypes';
import { SYSTEMS } from './codes.ts';
import { extensionValue, keyOf, refKey } from '../fhir.ts';

/** Whether a practitioner holds a v2-0360 qualification (`MD`, `RN`) and this clinic's role extension. */
export function hasRole(p: Practitioner, qualification: string, role: string): boolean {
  const qualified = (p.qualification ?? []).some((q) =>
    (q.code.coding ?? []).some((c) => c.system === SYSTEMS.v20360 && c.code === qualification),
  );
  return qualified && extensionValue(p.extension, SYSTEMS.role) === role;
}

/** The practitioners taking part in an encounter, resolved against the record (unresolvable ones are dropped). */
export function participantsOf(e: Encounter, practitioners: readonly Practitioner[]): Practitioner[] {
  const keys = (e.participant ?? []).map((p) => refKey(p.individual)).filter((k): k is string => !!k);
  return practitioners.filter((p) => keys.includes(keyOf(p)));
}
