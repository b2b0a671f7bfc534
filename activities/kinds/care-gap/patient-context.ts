// The care-gap kind's read of one patient's record: every search of `careGapReads`, in one batch Bundle where the
// EHR offers batch (else in parallel), pages followed. Shared by the worker's activity and the peer suite, which runs
// it against HAPI FHIR and the sandbox and compares the decisions.
import type { Bundle } from '@medplum/fhirtypes';
import { searchUrl, type FhirConnector, type SearchResult } from '../../../connectors/fhir/connector.ts';
import { careGapReads, type FhirResource } from '../../../facts/care-gap/index.ts';
import type { CareGapValueSets } from '../../../rules/kinds/care-gap/value-sets.ts';
import { AppError } from '../../../rules/index.ts';

/**
 * Reads what a care-gap evaluation may look at for `patientId` through a fresh session of `fhir`: one resource per
 * `Type/id` (a large expansion splits a search in several, so a resource may match twice), and the round trips it
 * took (the capability look-up included when this session is the first to ask). Read-only, safe to retry.
 *
 * @throws AppError `EHR_NOT_FOUND` when the patient does not exist (not retried), `EHR_UNAVAILABLE` (retried), or the
 * error of the first search the EHR refused.
 */
export async function fetchCareGapResources(
  fhir: FhirConnector,
  input: { patientId: string; valueSets?: CareGapValueSets },
): Promise<{ resources: FhirResource[]; roundTrips: number }> {
  const session = fhir.session();
  const reads = careGapReads(input.patientId, input.valueSets);
  const results = await session.batch(reads.map((r) => ({ method: 'GET', url: searchUrl(r.resourceType, r.params) })));
  const pages = await Promise.all(
    results.map(async (r, i): Promise<SearchResult> => {
      if (!r.ok) throw r.error;
      return r.resource
        ? session.searchPages(r.resource as Bundle, reads[i]!.resourceType)
        : { matches: [], included: [] };
    }),
  );
  const byKey = new Map<string, FhirResource>();
  for (const r of pages.flatMap((p) => [...p.matches, ...p.included])) byKey.set(`${r.resourceType}/${r.id}`, r);
  const resources = [...byKey.values()];
  if (!resources.some((r) => r.resourceType === 'Patient' && r.id === input.patientId)) {
    throw new AppError('EHR_NOT_FOUND', 'FHIR read Patient: Patient not found', {
      context: { resourceType: 'Patient' },
    });
  }
  return { resources, roundTrips: session.roundTrips };
}
