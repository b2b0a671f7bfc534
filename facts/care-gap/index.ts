// The care-gap kind's FHIR reads and pure FHIR-to-facts extraction (worker, API, CLI, sandbox).
import {
  CARE_GAP_VALUE_SETS,
  type CareGapValueSetId,
  type CareGapValueSets,
} from '../../rules/kinds/care-gap/value-sets.ts';

export { careGapFactsFromBundle } from './bundle.ts';
export { careGapFactsFromResources, type CareGapExtractOptions, type FhirResource } from './extract.ts';

/** One FHIR request of a care-gap evaluation: a search `GET {resourceType}?{params}` (the patient read is `_id`). */
export interface CareGapRead {
  resourceType: string;
  params: Record<string, string>;
}

/** At most this many `system|code` tokens per search (a few KB of URL); more codes make more searches. */
export const MAX_CODES_PER_SEARCH = 100;
/**
 * At most this many characters of URL-encoded `code` list per search. An EHR without batch gets each search as a GET,
 * and servers cap the request line: HAPI FHIR (Jetty) answers 414 past 8 KiB, IIS refuses a query string past 2,048
 * characters by default. A hundred codes of a long system (a clinic's loaded expansion) would pass 8 KiB; this keeps
 * every search's query within IIS's default.
 */
export const MAX_CODE_PARAM_CHARS = 1_800;

/** `system|code` tokens of the exact codes of some value sets (a FHIR token search; prefixes cannot be searched). */
function tokens(sets: CareGapValueSets, ids: readonly CareGapValueSetId[]): string[] {
  const out = new Set<string>();
  for (const id of ids) for (const e of sets[id].entries) if (e.match !== 'prefix') out.add(`${e.system}|${e.code}`);
  return [...out];
}

/** One search per chunk of at most MAX_CODES_PER_SEARCH codes and MAX_CODE_PARAM_CHARS encoded characters. */
function byCode(resourceType: string, patientId: string, codes: string[]): CareGapRead[] {
  const chunks: string[][] = [];
  let chunk: string[] = [];
  let chars = 0;
  for (const code of codes) {
    const length = encodeURIComponent(code).length;
    const full = chunk.length === MAX_CODES_PER_SEARCH || chars + 3 + length > MAX_CODE_PARAM_CHARS; // 3: `%2C`
    if (chunk.length && full) {
      chunks.push(chunk);
      chunk = [];
      chars = 0;
    }
    chars += (chunk.length ? 3 : 0) + length;
    chunk.push(code);
  }
  if (chunk.length) chunks.push(chunk);
  return chunks.map((c) => ({ resourceType, params: { patient: patientId, code: c.join(',') } }));
}

const OBSERVATION_SETS: readonly CareGapValueSetId[] = [
  'fit-fobt',
  'sdna-fit',
  'ct-colonography',
  'hospice',
  'palliative-care',
  'housing-status',
];
const REPORT_SETS: readonly CareGapValueSetId[] = ['ct-colonography'];

/**
 * The FHIR reads a care-gap evaluation needs for one patient: the Patient (by `_id`, so every read is a search the
 * worker may send in one `batch` Bundle: one round trip), then the Conditions, Procedures, coded Observations and
 * DiagnosticReports, Encounters, active MedicationRequests (with their Medications) and open ServiceRequests. The
 * results, pages followed, go to `careGapFactsFromResources`. Conditions, Procedures and Encounters are read whole:
 * ICD-10-CM prefixes (`C18.*`) and discharge dispositions cannot be searched by token. The coded searches use the
 * codes of `valueSets` (default: the built-in ones; a clinic's loaded expansions add codes), at most
 * MAX_CODES_PER_SEARCH and MAX_CODE_PARAM_CHARS per search: a large expansion makes several searches (a resource may
 * then come twice).
 */
export function careGapReads(patientId: string, valueSets: CareGapValueSets = CARE_GAP_VALUE_SETS): CareGapRead[] {
  return [
    { resourceType: 'Patient', params: { _id: patientId } },
    { resourceType: 'Condition', params: { patient: patientId } },
    { resourceType: 'Procedure', params: { patient: patientId } },
    ...byCode('Observation', patientId, tokens(valueSets, OBSERVATION_SETS)),
    ...byCode('DiagnosticReport', patientId, tokens(valueSets, REPORT_SETS)),
    { resourceType: 'Encounter', params: { patient: patientId } },
    {
      resourceType: 'MedicationRequest',
      params: { patient: patientId, status: 'active', _include: 'MedicationRequest:medication' },
    },
    { resourceType: 'ServiceRequest', params: { patient: patientId, status: 'draft,active,on-hold' } },
  ];
}
