import { z } from 'zod';
import { AppError, IsoDateSchema, jsonPath } from '../../rules/index.ts';
import type { CareGapFacts } from '../../rules/kinds/care-gap/facts.ts';
import { refKey } from '../fhir.ts';
import { careGapFactsFromResources, type CareGapExtractOptions, type FhirResource } from './extract.ts';

const Id = z.string().regex(/^[A-Za-z0-9\-.]{1,64}$/, 'a FHIR id (letters, digits, - and ., up to 64)');
const Str = z.string();
const Ref = z.looseObject({ reference: Str.optional(), display: Str.optional() });
const Concept = z.looseObject({
  text: Str.optional(),
  coding: z.array(z.looseObject({ system: Str.optional(), code: Str.optional(), display: Str.optional() })).optional(),
});
const DateTime = Str.regex(/^\d{4}(-\d{2}(-\d{2}(T[0-9:.]+(Z|[+-]\d{2}:\d{2})?)?)?)?$/, 'a FHIR date or dateTime');
const Subject = { subject: Ref.optional(), patient: Ref.optional() };

// The fields the care-gap extraction reads, per resource type (anything else passes through untouched), so a
// malformed record is refused with its JSON path instead of being misread.
const SHAPES: Record<string, z.ZodType> = {
  Patient: z.looseObject({
    birthDate: Str.optional(),
    address: z
      .array(z.looseObject({ line: z.array(Str).optional(), city: Str.optional(), use: Str.optional() }))
      .optional(),
    telecom: z.array(z.looseObject({ system: Str.optional(), value: Str.optional(), use: Str.optional() })).optional(),
  }),
  Condition: z.looseObject({
    ...Subject,
    code: Concept.optional(),
    clinicalStatus: Concept.optional(),
    verificationStatus: Concept.optional(),
    onsetDateTime: DateTime.optional(),
    recordedDate: DateTime.optional(),
  }),
  Procedure: z.looseObject({
    ...Subject,
    status: Str,
    code: Concept.optional(),
    statusReason: Concept.optional(),
    performedDateTime: DateTime.optional(),
    performedPeriod: z.looseObject({ end: DateTime.optional() }).optional(),
  }),
  Observation: z.looseObject({
    ...Subject,
    status: Str,
    code: Concept,
    effectiveDateTime: DateTime.optional(),
    interpretation: z.array(Concept).optional(),
    valueCodeableConcept: Concept.optional(),
  }),
  DiagnosticReport: z.looseObject({ ...Subject, status: Str, code: Concept, effectiveDateTime: DateTime.optional() }),
  Encounter: z.looseObject({
    ...Subject,
    status: Str,
    type: z.array(Concept).optional(),
    period: z.looseObject({ start: DateTime.optional() }).optional(),
    hospitalization: z.looseObject({ dischargeDisposition: Concept.optional() }).optional(),
  }),
  MedicationRequest: z.looseObject({
    ...Subject,
    status: Str,
    authoredOn: DateTime.optional(),
    medicationCodeableConcept: Concept.optional(),
    medicationReference: Ref.optional(),
  }),
  Medication: z.looseObject({
    code: Concept.optional(),
    ingredient: z.array(z.looseObject({ itemCodeableConcept: Concept.optional() })).optional(),
  }),
  ServiceRequest: z.looseObject({ ...Subject, status: Str, code: Concept.optional(), authoredOn: DateTime.optional() }),
};

const BundleSchema = z.looseObject({
  resourceType: z.literal('Bundle'),
  type: z.string(),
  entry: z
    .array(
      z.looseObject({
        fullUrl: z.string().optional(),
        resource: z.looseObject({ resourceType: z.string().min(1), id: Id.optional() }),
      }),
    )
    .min(1, 'the bundle has no entries'),
});

function fail(path: PropertyKey[], message: string): never {
  const p = jsonPath(path);
  throw new AppError('INVALID_INPUT', `${p}: ${message}`, { issues: [{ path: p, message }] });
}

/** Rewrites references that point at a bundle entry's fullUrl (`urn:uuid:…`, absolute URLs) to `Type/id`. */
function normaliseReferences(value: unknown, byFullUrl: ReadonlyMap<string, string>): unknown {
  if (Array.isArray(value)) return value.map((v) => normaliseReferences(v, byFullUrl));
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    out[k] =
      k === 'reference' && typeof v === 'string' && byFullUrl.has(v)
        ? byFullUrl.get(v)
        : normaliseReferences(v, byFullUrl);
  }
  return out;
}

/**
 * Reads a FHIR Bundle holding a patient's record (a searchset, a collection, an export) and returns that patient's
 * care-gap facts: how the CLI (and tests) feed the code the worker runs. With several patients in the bundle,
 * `patientId` says which; resources about another patient are left out. `asOf` defaults to today (UTC).
 *
 * @throws AppError `INVALID_INPUT` with the JSON path of the first problem: not a Bundle, an entry without an id, a
 *   field the extraction reads that is not of its FHIR type (`$.entry[3].resource.code.coding`),
 *   no Patient, several patients and no `patientId`, a `patientId` the bundle does not hold, a bad `asOf`.
 */
export function careGapFactsFromBundle(
  bundle: unknown,
  opts: { patientId?: string; asOf?: string } & CareGapExtractOptions = {},
): CareGapFacts {
  const parsed = BundleSchema.safeParse(bundle);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    fail(issue?.path ?? [], issue?.message ?? 'not a FHIR Bundle');
  }
  const asOf = opts.asOf ?? new Date().toISOString().slice(0, 10);
  if (!IsoDateSchema.safeParse(asOf).success) fail([], `asOf must be a date YYYY-MM-DD, got "${asOf}"`);

  const byFullUrl = new Map<string, string>();
  const withIds = parsed.data.entry.map((e, i) => {
    const r = e.resource;
    const id = r.id ?? e.fullUrl?.match(/^urn:uuid:([A-Za-z0-9\-.]{1,64})$/)?.[1];
    if (!id) fail(['entry', i, 'resource', 'id'], `${r.resourceType} has no id`);
    if (e.fullUrl) byFullUrl.set(e.fullUrl, `${r.resourceType}/${id}`);
    return { ...r, id };
  });
  withIds.forEach((r, i) => {
    const result = SHAPES[r.resourceType]?.safeParse(r);
    if (result && !result.success) {
      const issue = result.error.issues[0];
      fail(['entry', i, 'resource', ...(issue?.path ?? [])], issue?.message ?? `invalid ${r.resourceType}`);
    }
  });
  const resources = withIds.map((r) => normaliseReferences(r, byFullUrl) as FhirResource);

  const patients = resources.filter((r) => r.resourceType === 'Patient').map((r) => r.id ?? '');
  const patientId = opts.patientId ?? patients[0] ?? fail(['entry'], 'no Patient in the bundle');
  if (opts.patientId === undefined && patients.length > 1)
    fail(['entry'], `the bundle holds ${patients.length} patients: say which with a patient id`);
  // Without the Patient resource there is no birth date or address: a record must hold its patient.
  if (!patients.includes(patientId)) fail(['entry'], `no Patient with id "${patientId}" in the bundle`);
  const key = `Patient/${patientId}`;
  const theirs = resources.filter((r) => {
    if (r.resourceType === 'Patient') return r.id === patientId;
    const rec = r as unknown as Record<string, { reference?: string } | undefined>;
    const refs = [refKey(rec.subject), refKey(rec.patient)].filter((k) => k?.startsWith('Patient/'));
    // A resource that names no patient is kept only in a one-patient bundle.
    return refs.length ? refs.includes(key) : patients.length === 1;
  });
  return careGapFactsFromResources(theirs, patientId, asOf, opts);
}
