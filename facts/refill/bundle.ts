import type {
  AllergyIntolerance,
  Appointment,
  Condition,
  Encounter,
  Medication,
  MedicationRequest,
  Observation,
  Organization,
  Patient,
  Practitioner,
} from '@medplum/fhirtypes';
import { z } from 'zod';
import { AppError, jsonPath } from '../../rules/index.ts';
import { refKey } from '../fhir.ts';
import type { PatientRecord } from './record.ts';

const Id = z.string().regex(/^[A-Za-z0-9\-.]{1,64}$/, 'a FHIR id (letters, digits, - and ., up to 64)');
const Ref = z.looseObject({ reference: z.string().min(1) });
const Concept = z.looseObject({
  text: z.string().optional(),
  coding: z
    .array(
      z.looseObject({ system: z.string().optional(), code: z.string().optional(), display: z.string().optional() }),
    )
    .optional(),
});
const DateTime = z
  .string()
  .regex(/^\d{4}(-\d{2}(-\d{2}(T[0-9:.]+(Z|[+-]\d{2}:\d{2})?)?)?)?$/, 'a FHIR date or dateTime');

// The fields fact extraction reads, per resource type; anything else passes through untouched.
const SHAPES: Record<string, z.ZodType> = {
  MedicationRequest: z
    .looseObject({
      status: z.string(),
      intent: z.string(),
      subject: Ref,
      medicationCodeableConcept: Concept.optional(),
      medicationReference: Ref.optional(),
      authoredOn: DateTime.optional(),
    })
    .refine(
      (m) => m.medicationCodeableConcept || m.medicationReference,
      'needs medicationCodeableConcept or medicationReference',
    ),
  Patient: z.looseObject({
    birthDate: z
      .string()
      .regex(/^\d{4}(-\d{2}(-\d{2})?)?$/, 'a FHIR date')
      .optional(),
  }),
  Encounter: z.looseObject({
    status: z.string(),
    class: z.looseObject({ code: z.string().optional() }),
    period: z.looseObject({ start: DateTime.optional(), end: DateTime.optional() }).optional(),
  }),
  Observation: z.looseObject({ status: z.string(), code: Concept, effectiveDateTime: DateTime.optional() }),
  AllergyIntolerance: z.looseObject({ patient: Ref, code: Concept.optional() }),
  Condition: z.looseObject({ subject: Ref }),
  Medication: z.looseObject({ code: Concept.optional() }),
  Organization: z.looseObject({}),
  Practitioner: z.looseObject({}),
  Appointment: z.looseObject({ status: z.string() }),
};

const EntrySchema = z.looseObject({
  fullUrl: z.string().optional(),
  resource: z.looseObject({ resourceType: z.string().min(1), id: Id.optional() }),
});
const BundleSchema = z.looseObject({
  resourceType: z.literal('Bundle'),
  type: z.string(),
  entry: z.array(EntrySchema).min(1, 'the bundle has no entries'),
});

type Json = Record<string, unknown>;

function fail(path: PropertyKey[], message: string): never {
  const p = jsonPath(path);
  throw new AppError('INVALID_INPUT', `${p}: ${message}`, { issues: [{ path: p, message }] });
}

/** Rewrites references that point at a bundle entry's fullUrl (`urn:uuid:…`, absolute URLs) to `Type/id`. */
function normaliseReferences(value: unknown, byFullUrl: ReadonlyMap<string, string>): unknown {
  if (Array.isArray(value)) return value.map((v) => normaliseReferences(v, byFullUrl));
  if (value === null || typeof value !== 'object') return value;
  const out: Json = {};
  for (const [k, v] of Object.entries(value)) {
    out[k] =
      k === 'reference' && typeof v === 'string' && byFullUrl.has(v)
        ? byFullUrl.get(v)
        : normaliseReferences(v, byFullUrl);
  }
  return out;
}

/**
 * Reads a FHIR Bundle holding one refill request (MedicationRequest, intent `proposal`) and the patient's record, and
 * returns the PatientRecord that `extractRefillFacts` reduces. This is how the CLI (and tests) feed the same code the
 * worker runs. Resources of types the protocol does not read are ignored.
 *
 * @throws AppError `INVALID_INPUT` naming the first problem with its JSON path (`$.entry[3].resource.status: …`):
 *   not a Bundle, malformed resources, no or several refill requests, no or several patients, or a resource that
 *   belongs to another patient.
 */
export function patientRecordFromBundle(bundle: unknown): PatientRecord {
  const parsed = BundleSchema.safeParse(bundle);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => ({ path: jsonPath(i.path), message: i.message }));
    const first = issues[0] ?? { path: '$', message: 'not a FHIR Bundle' };
    throw new AppError('INVALID_INPUT', `${first.path}: ${first.message}`, { issues });
  }
  const entries = parsed.data.entry;

  // Ids: take the resource id, or derive one from a urn:uuid fullUrl.
  const byFullUrl = new Map<string, string>();
  const withIds = entries.map((e, i) => {
    const r = e.resource;
    const id = r.id ?? e.fullUrl?.match(/^urn:uuid:([A-Za-z0-9\-.]{1,64})$/)?.[1];
    if (!id && r.resourceType in SHAPES) fail(['entry', i, 'resource', 'id'], `${r.resourceType} has no id`);
    if (id && e.fullUrl) byFullUrl.set(e.fullUrl, `${r.resourceType}/${id}`);
    return { ...r, ...(id ? { id } : {}) };
  });

  const resources = withIds.map((r, i) => {
    const shape = SHAPES[r.resourceType];
    if (!shape) return null;
    const result = shape.safeParse(r);
    if (!result.success) {
      const issue = result.error.issues[0];
      fail(['entry', i, 'resource', ...(issue?.path ?? [])], issue?.message ?? `invalid ${r.resourceType}`);
    }
    return { index: i, resource: normaliseReferences(r, byFullUrl) as Json & { resourceType: string; id: string } };
  });
  const present = resources.filter((r): r is NonNullable<typeof r> => r !== null);
  const ofType = <T>(type: string): { index: number; resource: T }[] =>
    present.filter((r) => r.resource.resourceType === type).map((r) => ({ index: r.index, resource: r.resource as T }));

  const proposals = ofType<MedicationRequest>('MedicationRequest').filter((m) => m.resource.intent === 'proposal');
  if (proposals.length === 0)
    fail(['entry'], 'no refill request (MedicationRequest with intent "proposal") in the bundle');
  if (proposals.length > 1) {
    fail(
      ['entry', proposals[1]?.index ?? 0],
      `more than one refill request (intent "proposal"): entries ${proposals.map((p) => p.index).join(', ')}`,
    );
  }
  const request = (proposals[0] as { resource: MedicationRequest }).resource;

  const patients = ofType<Patient>('Patient');
  if (patients.length !== 1) fail(['entry'], `expected exactly one Patient, found ${patients.length}`);
  const patient = (patients[0] as { resource: Patient }).resource;
  const patientKey = `Patient/${patient.id}`;

  // A record mixing patients is refused outright: facts about someone else must never decide a refill.
  for (const { index, resource } of present) {
    for (const field of ['subject', 'patient'] as const) {
      const key = refKey(resource[field] as { reference?: string } | undefined);
      if (key?.startsWith('Patient/') && key !== patientKey) {
        fail(['entry', index, 'resource', field, 'reference'], `refers to ${key}, not the bundle's patient`);
      }
    }
  }

  const medicationRequests = ofType<MedicationRequest>('MedicationRequest').map((m) => m.resource);
  const priorKey = refKey(request.priorPrescription);
  const priorPrescription = medicationRequests.find(
    (m) => priorKey !== undefined && `MedicationRequest/${m.id}` === priorKey,
  );
  return {
    request,
    ...(priorPrescription ? { priorPrescription } : {}),
    patient,
    medicationRequests,
    medications: ofType<Medication>('Medication').map((r) => r.resource),
    encounters: ofType<Encounter>('Encounter').map((r) => r.resource),
    observations: ofType<Observation>('Observation').map((r) => r.resource),
    conditions: ofType<Condition>('Condition').map((r) => r.resource),
    allergies: ofType<AllergyIntolerance>('AllergyIntolerance').map((r) => r.resource),
    appointments: ofType<Appointment>('Appointment').map((r) => r.resource),
    practitioners: ofType<Practitioner>('Practitioner').map((r) => r.resource),
    organizations: ofType<Organization>('Organization').map((r) => r.resource),
  };
}
