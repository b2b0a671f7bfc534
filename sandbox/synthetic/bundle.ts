import type { Bundle, BundleEntry, Resource } from '@medplum/fhirtypes';
import { AppError } from '../../rules/index.ts';

const key = (r: Resource): string => `${r.resourceType}/${r.id ?? ''}`;

/** Every `reference` string anywhere inside a resource. */
function referencesOf(value: unknown, out: Set<string>): Set<string> {
  if (Array.isArray(value)) {
    for (const v of value) referencesOf(v, out);
  } else if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (k === 'reference' && typeof v === 'string') out.add(v);
      else referencesOf(v, out);
    }
  }
  return out;
}

/** True when the resource belongs to the patient's compartment as this generator writes it. */
function belongsTo(r: Resource, patientRef: string): boolean {
  if (r.resourceType === 'Patient') return key(r) === patientRef;
  if (r.resourceType === 'Appointment') return (r.participant ?? []).some((p) => p.actor?.reference === patientRef);
  if (r.resourceType === 'AllergyIntolerance') return r.patient?.reference === patientRef;
  return 'subject' in r && (r.subject as { reference?: string } | undefined)?.reference === patientRef;
}

/**
 * Packs one refill request and its patient's record into a FHIR `collection` Bundle: the refill request first, then
 * the patient, the rest of their record, and the shared resources they reference (practitioners, pharmacy, clinic,
 * Medications). This is the CLI's input shape, so a synthetic case can be triaged without a server.
 *
 * @param resources - a generated clinic's resources (or any superset of the patient's record)
 * @param medicationRequestId - id of the refill request (MedicationRequest, intent proposal)
 * @throws AppError `NOT_FOUND` when no refill request has that id; `INVALID_INPUT` when it has no patient.
 */
export function toPatientBundle(
  resources: readonly Resource[],
  medicationRequestId: string,
  opts: { timestamp?: string } = {},
): Bundle {
  const request = resources.find(
    (r) => r.resourceType === 'MedicationRequest' && r.id === medicationRequestId && r.intent === 'proposal',
  );
  if (request?.resourceType !== 'MedicationRequest') {
    throw new AppError('NOT_FOUND', 'No refill request with that id', { context: { medicationRequestId } });
  }
  const patientRef = request.subject?.reference;
  if (!patientRef?.startsWith('Patient/')) {
    throw new AppError('INVALID_INPUT', 'The refill request has no patient', { context: { medicationRequestId } });
  }
  const record = resources.filter((r) => r !== request && belongsTo(r, patientRef));
  const inRecord = new Set([key(request), ...record.map(key)]);
  const wanted = new Set<string>();
  for (const r of [request, ...record]) referencesOf(r, wanted);
  const referenced = resources.filter((r) => wanted.has(key(r)) && !inRecord.has(key(r)));
  const patientFirst = [...record].sort(
    (a, b) => Number(b.resourceType === 'Patient') - Number(a.resourceType === 'Patient'),
  );
  const entry: BundleEntry[] = [request, ...patientFirst, ...referenced].map((resource) => ({ resource }));
  return {
    resourceType: 'Bundle',
    type: 'collection',
    ...(opts.timestamp ? { timestamp: opts.timestamp } : {}),
    entry,
  };
}
