import type { Bundle, MedicationRequest, Patient, Reference, Resource } from '@medplum/fhirtypes';
import { z } from 'zod';
import type {
  BatchEntryResult,
  BatchRequest,
  FhirConnector,
  FhirSearchParams,
  SearchResult,
} from '../../../connectors/fhir/connector.ts';
import { searchUrl } from '../../../connectors/fhir/connector.ts';
import { AppError, jsonPath } from '../../../rules/index.ts';
import type { PatientRecord } from '../../../facts/refill/record.ts';

const FHIR_ID = /^[A-Za-z0-9\-.]{1,64}$/;

export const FetchPatientRecordInputSchema = z.strictObject({
  /** The refill request (a MedicationRequest, intent proposal) the EHR announced. */
  medicationRequestId: z.string().regex(FHIR_ID),
  /** The day "upcoming appointments" start from (YYYY-MM-DD); defaults to today (UTC). */
  asOf: z.iso.date().optional(),
  /**
   * The patient the intake named, if it did: the request is then read in the same batch as the patient's context (one
   * round trip), and its subject checked against this id. A wrong hint costs the round trips it saved, never the answer.
   */
  patientId: z.string().regex(FHIR_ID).optional(),
});
export type FetchPatientRecordInput = z.input<typeof FetchPatientRecordInputSchema>;

export interface FetchPatientRecordResult {
  record: PatientRecord;
  /**
   * FHIR HTTP requests this read took: 1 batch when the intake named the patient (+ 1 for the prior prescription or
   * requester when not among the patient's own resources), else 1 read + 1 batch; + 1 for references the batch could
   * not include; + pages.
   */
  roundTrips: number;
  /** How many resources of each type the record holds (PHI-free: for logs and benchmarks). */
  resourceCounts: Record<string, number>;
}

/** `Patient/123`, `https://ehr/fhir/R4/Patient/123/_history/2` → `123` when the reference is to `type`. */
function refId(ref: Reference | undefined, type: string): string | undefined {
  const m = ref?.reference
    ? new RegExp(`(?:^|/)${type}/([A-Za-z0-9\\-.]{1,64})(?:/_history/[^/]+)?$`).exec(ref.reference)
    : null;
  return m?.[1];
}

function key(r: Resource): string {
  return `${r.resourceType}/${r.id ?? ''}`;
}

/** Adds resources not already present (by type/id), keeping first-seen order. */
function addUnique<T extends Resource>(into: T[], items: readonly Resource[], type: T['resourceType']): void {
  const seen = new Set(into.map(key));
  for (const r of items) {
    if (r.resourceType === type && !seen.has(key(r))) {
      seen.add(key(r));
      into.push(r as T);
    }
  }
}

/** Which part of the record an entry fills; `required` entries fail the read when the EHR has no such resource. */
interface Slot {
  name: string;
  request: BatchRequest;
  search?: string;
  required?: boolean;
}

/**
 * Reads what the refill protocol may look at for one refill request from the EHR, in as few round trips as the EHR
 * allows: the refill request itself, then one batch (or, where the EHR offers no batch, the same requests in
 * parallel) for the patient, their medication orders with the medications, encounters with their participants,
 * labs and vitals, conditions, allergies, upcoming appointments, the prior prescription and the requester; then at
 * most one more round trip for practitioners and medications the EHR could not `_include`. Read-only: safe to retry.
 *
 * @throws AppError `EHR_NOT_FOUND` (not retried) when the refill request, the patient or the prior prescription does
 * not exist (context names the resource type); `EHR_UNAVAILABLE` (retried); `EHR_REJECTED`; `INVALID_INPUT`.
 */
export async function fetchPatientRecord(
  fhir: FhirConnector,
  input: FetchPatientRecordInput,
): Promise<FetchPatientRecordResult> {
  const parsed = FetchPatientRecordInputSchema.safeParse(input);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => ({ path: jsonPath(i.path), message: i.message }));
    throw new AppError('INVALID_INPUT', 'Invalid patient-record request', { issues });
  }
  const { medicationRequestId } = parsed.data;
  const asOf = parsed.data.asOf ?? new Date().toISOString().slice(0, 10);
  const session = fhir.session();

  // One round trip when the intake named the patient and the request's subject is that patient.
  const hinted = parsed.data.patientId
    ? await readWithPatient(session, medicationRequestId, parsed.data.patientId, asOf)
    : null;

  let request: MedicationRequest;
  let patientId: string;
  let slots: Slot[];
  let results: BatchEntryResult[];
  if (hinted) {
    ({ request, slots, results } = hinted);
    patientId = parsed.data.patientId!;
  } else {
    // Round trip 1 (the CapabilityStatement rides along in parallel the first time a connector is used).
    [request] = await Promise.all([session.read('MedicationRequest', medicationRequestId), session.capabilities()]);
    const subject = refId(request.subject, 'Patient');
    if (!subject) throw noSubject();
    patientId = subject;
    // Round trip 2: everything else we can name from the request.
    slots = batchSlots(request, patientId, asOf);
    results = await session.batch(slots.map((s) => s.request));
  }
  const filled = await Promise.all(
    results.map(async (result, i): Promise<SearchResult> => {
      const slot = slots[i]!;
      if (!result.ok) {
        // An optional reference (the requester) that is gone leaves the record complete without it.
        if (result.error.code === 'EHR_NOT_FOUND' && !slot.required) return { matches: [], included: [] };
        throw new AppError(result.error.code, result.error.message, {
          retryable: result.error.retryable,
          context: { ...result.error.context, part: slot.name },
        });
      }
      if (!result.resource) return { matches: [], included: [] };
      // A search entry is a searchset Bundle; further pages (if any) cost a round trip each.
      return slot.search
        ? session.searchPages(result.resource as Bundle, slot.search)
        : { matches: [result.resource], included: [] };
    }),
  );
  const part = (name: string) => filled[slots.findIndex((s) => s.name === name)] ?? { matches: [], included: [] };

  const patient = part('patient').matches.find((r): r is Patient => r.resourceType === 'Patient' && r.id === patientId);
  if (!patient) {
    throw new AppError('EHR_NOT_FOUND', 'FHIR read Patient: Patient not found', {
      context: { resourceType: 'Patient', part: 'patient' },
    });
  }
  const prior = part('priorPrescription').matches.find(
    (r): r is MedicationRequest => r.resourceType === 'MedicationRequest',
  );
  const record = assemble(request, patient, prior, filled);

  // Round trip 3, only when needed: practitioners and medications referenced but not included above.
  const missing = missingReferences(record);
  if (missing.length > 0) {
    const extra = await session.batch(
      missing.map(([type, ids]) => ({ method: 'GET', url: searchUrl(type, { _id: ids.join(',') }) })),
    );
    const pages = await Promise.all(
      extra.map(async (r, i): Promise<SearchResult> => {
        if (!r.ok) throw r.error;
        return r.resource ? session.searchPages(r.resource as Bundle, missing[i]![0]) : { matches: [], included: [] };
      }),
    );
    const resolved = pages.flatMap((p) => p.matches);
    addUnique(record.practitioners, resolved, 'Practitioner');
    addUnique(record.medications, resolved, 'Medication');
  }

  return { record, roundTrips: session.roundTrips, resourceCounts: countResources(record) };
}

const noSubject = () =>
  new AppError('INVALID_INPUT', 'The refill request has no Patient subject', {
    context: { resourceType: 'MedicationRequest' },
  });

/**
 * The request and the patient's context in one batch, for a patient the intake named; then the slots that depend on
 * the request (its prior prescription, its requester) filled from what the batch returned, as the two-round-trip
 * read would have filled them, or read in one more round trip when the batch did not hold them. Null when the
 * request's subject is not that patient (the caller reads as if no patient were named: the EHR is the truth).
 *
 * @throws as {@link fetchPatientRecord}: `EHR_NOT_FOUND` when the request does not exist.
 */
async function readWithPatient(
  session: ReturnType<FhirConnector['session']>,
  medicationRequestId: string,
  patientId: string,
  asOf: string,
): Promise<{ request: MedicationRequest; slots: Slot[]; results: BatchEntryResult[] } | null> {
  const context = patientSlots(patientId, asOf);
  // The request by _id, with its requester (a pharmacy or a clinician), which the patient's own searches never hold.
  const requestSearch: BatchRequest = {
    method: 'GET',
    url: searchUrl('MedicationRequest', { _id: medicationRequestId, _include: 'MedicationRequest:requester' }),
  };
  const [, answers] = await Promise.all([
    session.capabilities(),
    session.batch([requestSearch, ...context.map((s) => s.request)]),
  ]);
  const [first, ...rest] = answers as [BatchEntryResult, ...BatchEntryResult[]];
  if (!first.ok) {
    const { code, message, retryable, context: errorContext } = first.error;
    throw new AppError(code, message, { retryable, context: { ...errorContext, resourceType: 'MedicationRequest' } });
  }
  const found = first.resource ? await session.searchPages(first.resource as Bundle, 'MedicationRequest') : null;
  const request = found?.matches.find(
    (r): r is MedicationRequest => r.resourceType === 'MedicationRequest' && r.id === medicationRequestId,
  );
  if (!request) {
    throw new AppError('EHR_NOT_FOUND', 'FHIR read MedicationRequest: MedicationRequest not found', {
      context: { resourceType: 'MedicationRequest' },
    });
  }
  const subject = refId(request.subject, 'Patient');
  if (!subject) throw noSubject();
  if (subject !== patientId) return null;

  // The slots that name what the request references, answered from the batch when it holds them, else read now.
  const dependent = requestSlots(request);
  const held = new Map<string, Resource>();
  for (const r of [...found!.matches, ...found!.included]) held.set(key(r), r);
  for (const r of rest) {
    if (!r.ok || r.resource?.resourceType !== 'Bundle') continue;
    for (const e of r.resource.entry ?? []) if (e.resource) held.set(key(e.resource), e.resource);
  }
  const fromBatch = dependent.map((slot) => held.get(slot.request.url));
  const toRead = dependent.filter((_, i) => fromBatch[i] === undefined);
  const read = toRead.length > 0 ? await session.batch(toRead.map((s) => s.request)) : [];
  let next = 0;
  const dependentResults = dependent.map((_, i): BatchEntryResult =>
    fromBatch[i] ? { ok: true, status: 200, resource: fromBatch[i] } : read[next++]!,
  );
  return { request, slots: [...context, ...dependent], results: [...rest, ...dependentResults] };
}

function batchSlots(request: MedicationRequest, patientId: string, asOf: string): Slot[] {
  return [...patientSlots(patientId, asOf), ...requestSlots(request)];
}

/** The patient's context: what the batch reads by patient id alone. */
function patientSlots(patientId: string, asOf: string): Slot[] {
  // One page holds years of a chronic patient's labs; servers clamp a larger _count to their maximum.
  const patient = { patient: patientId, _count: 500 };
  const search = (name: string, type: string, params: FhirSearchParams): Slot => ({
    name,
    search: type,
    request: { method: 'GET', url: searchUrl(type, params) },
  });
  return [
    // A search by _id rather than a read, so the PCP comes along; "no match" is a missing patient.
    search('patient', 'Patient', { _id: patientId, _include: 'Patient:general-practitioner' }),
    search('medicationRequests', 'MedicationRequest', { ...patient, _include: 'MedicationRequest:medication' }),
    search('encounters', 'Encounter', { ...patient, _sort: '-date', _include: 'Encounter:participant' }),
    search('observations', 'Observation', { ...patient, category: 'laboratory,vital-signs,social-history' }),
    search('conditions', 'Condition', patient),
    search('allergies', 'AllergyIntolerance', patient),
    search('appointments', 'Appointment', { ...patient, date: `ge${asOf}` }),
  ];
}

/** What the request references: its prior prescription (required when named) and its requester. */
function requestSlots(request: MedicationRequest): Slot[] {
  const slots: Slot[] = [];
  const priorId = refId(request.priorPrescription, 'MedicationRequest');
  if (priorId) {
    slots.push({
      name: 'priorPrescription',
      request: { method: 'GET', url: `MedicationRequest/${priorId}` },
      required: true,
    });
  }
  for (const type of ['Organization', 'Practitioner'] as const) {
    const id = refId(request.requester, type);
    if (id) slots.push({ name: 'requester', request: { method: 'GET', url: `${type}/${id}` } });
  }
  return slots;
}

function assemble(
  request: MedicationRequest,
  patient: Patient,
  prior: MedicationRequest | undefined,
  filled: SearchResult[],
): PatientRecord {
  const record: PatientRecord = {
    request,
    ...(prior ? { priorPrescription: prior } : {}),
    patient,
    medicationRequests: [],
    medications: [],
    encounters: [],
    observations: [],
    conditions: [],
    allergies: [],
    appointments: [],
    practitioners: [],
    organizations: [],
  };
  const matches = filled.flatMap((f) => f.matches);
  const everything = [...matches, ...filled.flatMap((f) => f.included)];
  addUnique(record.medicationRequests, matches, 'MedicationRequest');
  addUnique(record.encounters, matches, 'Encounter');
  addUnique(record.observations, matches, 'Observation');
  addUnique(record.conditions, matches, 'Condition');
  addUnique(record.allergies, matches, 'AllergyIntolerance');
  addUnique(record.appointments, matches, 'Appointment');
  addUnique(record.medications, everything, 'Medication');
  addUnique(record.practitioners, everything, 'Practitioner');
  addUnique(record.organizations, everything, 'Organization');
  return record;
}

/** `[type, ids]` for Practitioners and Medications the record references but does not hold. */
function missingReferences(record: PatientRecord): [string, string[]][] {
  const want = (type: string, refs: (Reference | undefined)[], have: Resource[]): [string, string[]] | undefined => {
    const held = new Set(have.map((r) => r.id));
    const ids = [...new Set(refs.map((r) => refId(r, type)).filter((id): id is string => !!id && !held.has(id)))];
    return ids.length > 0 ? [type, ids.sort()] : undefined;
  };
  const orders = [
    record.request,
    ...(record.priorPrescription ? [record.priorPrescription] : []),
    ...record.medicationRequests,
  ];
  const practitioners = want(
    'Practitioner',
    [
      ...(record.patient.generalPractitioner ?? []),
      ...record.encounters.flatMap((e) => (e.participant ?? []).map((p) => p.individual)),
      record.request.requester,
      record.priorPrescription?.requester,
    ],
    record.practitioners,
  );
  const medications = want(
    'Medication',
    orders.map((o) => o.medicationReference),
    record.medications,
  );
  return [practitioners, medications].filter((x): x is [string, string[]] => x !== undefined);
}

function countResources(record: PatientRecord): Record<string, number> {
  const all: Resource[] = [
    record.patient,
    ...record.medicationRequests,
    ...record.medications,
    ...record.encounters,
    ...record.observations,
    ...record.conditions,
    ...record.allergies,
    ...record.appointments,
    ...record.practitioners,
    ...record.organizations,
  ];
  const counts: Record<string, number> = {};
  for (const r of all) counts[r.resourceType] = (counts[r.resourceType] ?? 0) + 1;
  return counts;
}
