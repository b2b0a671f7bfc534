// The care-gap kind's FHIR reads and pure FHIR-to-facts extraction (worker, API, CLI, sandbox).
import { CARE_GAP_VALUE_SETS, type CareGapValueSetId } from '../../rules/kinds/care-gap/value-sets.ts';

export { careGapFactsFromBundle } from './bundle.ts';
export { careGapFactsFromResources, type CareGapExtractOptions, type FhirResource } from './extract.ts';

/** One FHIR request of a care-gap evaluation: a search `GET {resourceType}?{params}` (the patient read is `_id`). */
export interface CareGapRead {
  resourceType: string;
  params: Record<string, string>;
}

/** `system|code` tokens of the exact codes of some value sets (a FHIR token search; prefixes cannot be searched). */
function tokens(ids: readonly CareGapValueSetId[]): string {
  const out = new Set<string>();
  for (const id of ids)
    for (const e of CARE_GAP_VALUE_SETS[id].entries) if (e.match !== 'prefix') out.add(`${e.system}|${e.code}`);
  return [...out].join(',');
}

const OBSERVATION_CODES = tokens([
  'fit-fobt',
  'sdna-fit',
  'ct-colonography',
  'hospice',
  'palliative-care',
  'housing-status',
]);
const REPORT_CODES = tokens(['ct-colonography']);

/**
 * The FHIR reads a care-gap evaluation needs for one patient: the Patient (by `_id`, so every read is a search the
 * worker may send in one `batch` Bundle: one round trip), then the Conditions, Procedures, coded Observations and
 * DiagnosticReports, Encounters, active MedicationRequests (with their Medications) and open ServiceRequests. The
 * results, pages followed, go to `careGapFactsFromResources`. Conditions, Procedures and Encounters are read whole:
 * ICD-10-CM prefixes (`C18.*`) and discharge dispositions cannot be searched by token.
 */
export function careGapReads(patientId: string): CareGapRead[] {
  return [
    { resourceType: 'Patient', params: { _id: patientId } },
    { resourceType: 'Condition', params: { patient: patientId } },
    { resourceType: 'Procedure', params: { patient: patientId } },
    { resourceType: 'Observation', params: { patient: patientId, code: OBSERVATION_CODES } },
    { resourceType: 'DiagnosticReport', params: { patient: patientId, code: REPORT_CODES } },
    { resourceType: 'Encounter', params: { patient: patientId } },
    {
      resourceType: 'MedicationRequest',
      params: { patient: patientId, status: 'active', _include: 'MedicationRequest:medication' },
    },
    { resourceType: 'ServiceRequest', params: { patient: patientId, status: 'draft,active,on-hold' } },
  ];
}
