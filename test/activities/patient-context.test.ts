// fetchPatientRecord against the real sandbox EHR (SMART auth required) serving a generated synthetic clinic.
// Ground truth is the generator's own output: what the EHR holds for a patient is what the record must contain.
import type { MedicationRequest, Resource } from '@medplum/fhirtypes';
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { fetchPatientRecord } from '../../activities/kinds/refill/patient-context.ts';
import { generateClientKeyPair } from '../../connectors/fhir/auth.ts';
import { createFhirConnector, type FhirConnector } from '../../connectors/fhir/connector.ts';
import { AppError } from '../../rules/index.ts';
import { startSandbox, type SandboxHandle } from '../../sandbox/fhir-server.ts';
import { IndexedRepository, loadResources } from '../../sandbox/indexed-repository.ts';
import { generateClinic, type SyntheticClinic } from '../../sandbox/synthetic/index.ts';

const AS_OF = '2025-06-15';
const CLIENT_ID = 'autopilot-worker';

let sandbox: SandboxHandle;
let clinic: SyntheticClinic;
let fhir: FhirConnector;
let requestId: string | undefined;

function connector(): FhirConnector {
  return createFhirConnector({
    baseUrl: sandbox.fhirBaseUrl,
    timeoutMs: 5000,
    requestId: () => requestId,
    auth: { clientId: CLIENT_ID, privateKeyJwk: privateJwk },
  });
}
let privateJwk: Awaited<ReturnType<typeof generateClientKeyPair>>['privateJwk'];

/** The generator's resources of `type` that point at the patient (subject, patient or participant actor). */
function heldFor(patientId: string, type: string, keep: (r: Resource) => boolean = () => true): string[] {
  return clinic.resources
    .filter((r) => r.resourceType === type && JSON.stringify(r).includes(`"Patient/${patientId}"`) && keep(r))
    .map((r) => r.id!)
    .sort();
}

const ids = (rs: Resource[]) => rs.map((r) => r.id!).sort();
const isLabOrVital = (r: Resource) =>
  r.resourceType === 'Observation' &&
  (r.category ?? []).some((c) => (c.coding ?? []).some((k) => k.code === 'laboratory' || k.code === 'vital-signs'));
const isUpcoming = (r: Resource) => r.resourceType === 'Appointment' && (r.start ?? '') >= AS_OF;

async function rejection(p: Promise<unknown>): Promise<AppError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AppError);
  return err as AppError;
}

beforeAll(async () => {
  const keys = await generateClientKeyPair('worker-key');
  privateJwk = keys.privateJwk;
  clinic = generateClinic({ seed: 2015, patients: 40, asOf: AS_OF });
  const repo = new IndexedRepository();
  loadResources(repo, clinic.resources);
  sandbox = await startSandbox({ repo, requireAuth: true, clients: [{ clientId: CLIENT_ID, jwks: keys.publicJwks }] });
  fhir = connector();
  await fhir.capabilities(); // a worker's connector is long-lived: the CapabilityStatement is read once per process
});

afterAll(async () => {
  await sandbox?.close();
});

beforeEach(() => {
  requestId = undefined;
  sandbox.clearFaults();
});

describe('fetchPatientRecord against the sandbox EHR', () => {
  test('reads the whole record of every refill request in 2–3 round trips, matching what the EHR holds', async () => {
    const trips: number[] = [];
    for (const refill of clinic.refillRequests) {
      const { record, roundTrips, resourceCounts } = await fetchPatientRecord(fhir, {
        medicationRequestId: refill.medicationRequestId,
        asOf: AS_OF,
      });
      trips.push(roundTrips);
      const pid = refill.patientId;
      expect(record.request.id).toBe(refill.medicationRequestId);
      expect(record.patient.id).toBe(pid);
      expect(ids(record.medicationRequests)).toEqual(heldFor(pid, 'MedicationRequest'));
      expect(ids(record.encounters)).toEqual(heldFor(pid, 'Encounter'));
      expect(ids(record.observations)).toEqual(heldFor(pid, 'Observation', isLabOrVital));
      expect(ids(record.conditions)).toEqual(heldFor(pid, 'Condition'));
      expect(ids(record.allergies)).toEqual(heldFor(pid, 'AllergyIntolerance'));
      expect(ids(record.appointments)).toEqual(heldFor(pid, 'Appointment', isUpcoming));

      // The prescription being renewed, its medications, the requester and the clinicians who saw the patient.
      const priorRef = record.request.priorPrescription?.reference;
      if (priorRef) expect(`MedicationRequest/${record.priorPrescription?.id}`).toBe(priorRef);
      const medRefs = [record.request, ...record.medicationRequests]
        .map((m) => m.medicationReference?.reference)
        .filter((r): r is string => !!r);
      expect(record.medications.map((m) => `Medication/${m.id}`)).toEqual(expect.arrayContaining(medRefs));
      expect(record.organizations.map((o) => `Organization/${o.id}`)).toContain(record.request.requester?.reference);
      const clinicians = [
        ...(record.patient.generalPractitioner ?? []),
        ...record.encounters.flatMap((e) => (e.participant ?? []).map((p) => p.individual)),
      ]
        .map((r) => r?.reference)
        .filter((r): r is string => !!r?.startsWith('Practitioner/'));
      expect(record.practitioners.map((p) => `Practitioner/${p.id}`)).toEqual(expect.arrayContaining(clinicians));

      expect(resourceCounts).toMatchObject({ Patient: 1, Encounter: record.encounters.length });
      expect(Object.values(resourceCounts).every((n) => n > 0)).toBe(true);
    }
    expect(Math.min(...trips)).toBeGreaterThanOrEqual(2);
    expect(Math.max(...trips)).toBeLessThanOrEqual(3);
  });

  test('with the patient named, every refill request is read in one round trip fewer, into the same record', async () => {
    const trips: number[] = [];
    for (const refill of clinic.refillRequests) {
      const input = { medicationRequestId: refill.medicationRequestId, asOf: AS_OF };
      const plain = await fetchPatientRecord(fhir, input);
      const named = await fetchPatientRecord(fhir, { ...input, patientId: refill.patientId });
      expect(named.record).toEqual(plain.record);
      expect(named.resourceCounts).toEqual(plain.resourceCounts);
      expect(named.roundTrips).toBe(plain.roundTrips - 1);
      trips.push(named.roundTrips);
    }
    // The request, its requester and the patient's whole context in one batch; a third clinician costs one more.
    expect(trips.filter((n) => n === 1).length).toBeGreaterThan(trips.length / 2);
  });

  test('a wrong patient named costs a round trip, never the answer: the request’s own subject wins', async () => {
    const [refill, other] = [clinic.refillRequests[2]!, clinic.refillRequests[3]!];
    expect(other.patientId).not.toBe(refill.patientId);
    const input = { medicationRequestId: refill.medicationRequestId, asOf: AS_OF };
    const plain = await fetchPatientRecord(fhir, input);
    const misnamed = await fetchPatientRecord(fhir, { ...input, patientId: other.patientId });
    expect(misnamed.record).toEqual(plain.record);
    expect(misnamed.record.patient.id).toBe(refill.patientId);
    expect(misnamed.roundTrips).toBe(plain.roundTrips + 1);
  });

  test('with the patient named, a prior prescription that is not the patient’s own is read in a second round trip', async () => {
    const refill = clinic.refillRequests.find(
      (r, i) =>
        i > 10 &&
        clinic.resources.some(
          (x) => x.resourceType === 'MedicationRequest' && x.id === r.medicationRequestId && x.priorPrescription,
        ),
    )!;
    const request = sandbox.repo.read('MedicationRequest', refill.medicationRequestId)!;
    const priorId = (request as { priorPrescription?: { reference?: string } }).priorPrescription!.reference!.split(
      '/',
    )[1]!;
    const prior = sandbox.repo.read('MedicationRequest', priorId) as MedicationRequest;
    // The EHR filed the prior prescription under another (merged) patient record: the patient's search misses it.
    sandbox.repo.update({ ...prior, subject: { reference: `Patient/${clinic.refillRequests[0]!.patientId}` } });
    try {
      const input = { medicationRequestId: refill.medicationRequestId, asOf: AS_OF };
      const plain = await fetchPatientRecord(fhir, input);
      const named = await fetchPatientRecord(fhir, { ...input, patientId: refill.patientId });
      expect(named.record.priorPrescription?.id).toBe(priorId);
      expect(named.record).toEqual(plain.record);
      expect(named.roundTrips).toBe(plain.roundTrips);
    } finally {
      sandbox.repo.update(prior);
    }
  });

  test('with the patient named, an unknown refill request is still EHR_NOT_FOUND naming MedicationRequest', async () => {
    const err = await rejection(
      fetchPatientRecord(fhir, {
        medicationRequestId: 'no-such-request',
        patientId: clinic.refillRequests[0]!.patientId,
      }),
    );
    expect(err).toMatchObject({
      code: 'EHR_NOT_FOUND',
      retryable: false,
      context: { resourceType: 'MedicationRequest' },
    });
  });

  test('a clinician the EHR could not _include is fetched in a third round trip', async () => {
    const refill = clinic.refillRequests[8]!;
    const before = await fetchPatientRecord(fhir, { medicationRequestId: refill.medicationRequestId, asOf: AS_OF });
    expect(before.roundTrips).toBe(2);
    // The prior prescription was signed by a physician this patient never saw and who is not their PCP.
    const held = new Set(before.record.practitioners.map((p) => p.id));
    const stranger = ['pract-pcp-1', 'pract-pcp-2', 'pract-pcp-3', 'pract-pcp-4'].find((id) => !held.has(id))!;
    const prior = before.record.priorPrescription!;
    sandbox.repo.update({ ...prior, requester: { reference: `Practitioner/${stranger}` } });

    const after = await fetchPatientRecord(fhir, { medicationRequestId: refill.medicationRequestId, asOf: AS_OF });
    expect(after.roundTrips).toBe(3);
    expect(after.record.practitioners.map((p) => p.id)).toContain(stranger);
    expect(after.resourceCounts.Practitioner).toBe(before.resourceCounts.Practitioner! + 1);
  });

  test('a fresh connector adds exactly one round trip: the CapabilityStatement, read alongside the request', async () => {
    const refill = clinic.refillRequests[1]!;
    const warm = await fetchPatientRecord(fhir, { medicationRequestId: refill.medicationRequestId, asOf: AS_OF });
    const cold = await fetchPatientRecord(connector(), {
      medicationRequestId: refill.medicationRequestId,
      asOf: AS_OF,
    });
    expect(cold.roundTrips).toBe(warm.roundTrips + 1);
    expect(cold.resourceCounts).toEqual(warm.resourceCounts);
  });

  test('every FHIR request carries the request id and a bearer token the EHR accepted', async () => {
    requestId = 'case-7f3a-run-1';
    const before = sandbox.requests.length;
    const refill = clinic.refillRequests[2]!;
    const { roundTrips } = await fetchPatientRecord(fhir, { medicationRequestId: refill.medicationRequestId });
    const mine = sandbox.requests.slice(before).filter((r) => r.path.startsWith('/fhir/R4'));
    expect(mine).toHaveLength(roundTrips);
    expect(mine.map((r) => [r.requestId, r.status])).toEqual(mine.map(() => ['case-7f3a-run-1', 200]));
    expect(mine[1]).toMatchObject({ method: 'POST', path: '/fhir/R4' }); // the batch
  });

  test('after the EHR revokes every token, the read fetches a new one and still succeeds', async () => {
    const authBefore = fhir.authRoundTrips;
    sandbox.auth.revokeAll();
    const refill = clinic.refillRequests[3]!;
    const { record } = await fetchPatientRecord(fhir, { medicationRequestId: refill.medicationRequestId });
    expect(record.patient.id).toBe(refill.patientId);
    expect(fhir.authRoundTrips - authBefore).toBe(1); // one new token, the discovery stays cached
  });

  test('an unknown refill request is EHR_NOT_FOUND naming MedicationRequest', async () => {
    const err = await rejection(fetchPatientRecord(fhir, { medicationRequestId: 'no-such-request' }));
    expect(err).toMatchObject({
      code: 'EHR_NOT_FOUND',
      retryable: false,
      context: { resourceType: 'MedicationRequest' },
    });
  });

  test('a refill request whose patient is gone is EHR_NOT_FOUND naming Patient, without PHI', async () => {
    const refill = clinic.refillRequests[4]!;
    sandbox.repo.delete('Patient', refill.patientId);
    const err = await rejection(fetchPatientRecord(fhir, { medicationRequestId: refill.medicationRequestId }));
    expect(err).toMatchObject({ code: 'EHR_NOT_FOUND', context: { resourceType: 'Patient' } });
    expect(err.message).not.toContain(refill.patientId);
  });

  test('a refill request whose prior prescription is gone is EHR_NOT_FOUND naming MedicationRequest', async () => {
    const refill = clinic.refillRequests.find(
      (r, i) =>
        i > 4 &&
        clinic.resources.some(
          (x) => x.resourceType === 'MedicationRequest' && x.id === r.medicationRequestId && x.priorPrescription,
        ),
    )!;
    const request = sandbox.repo.read('MedicationRequest', refill.medicationRequestId)!;
    const priorId = (request as { priorPrescription?: { reference?: string } }).priorPrescription!.reference!.split(
      '/',
    )[1]!;
    sandbox.repo.delete('MedicationRequest', priorId);
    const err = await rejection(fetchPatientRecord(fhir, { medicationRequestId: refill.medicationRequestId }));
    expect(err).toMatchObject({
      code: 'EHR_NOT_FOUND',
      context: { resourceType: 'MedicationRequest', part: 'priorPrescription' },
    });
  });

  test('an EHR outage during the batch is EHR_UNAVAILABLE and retryable', async () => {
    sandbox.injectFaults({ status: 503, count: 1, match: (r) => r.method === 'POST' && r.path === '/fhir/R4' });
    const refill = clinic.refillRequests[6]!;
    const err = await rejection(fetchPatientRecord(fhir, { medicationRequestId: refill.medicationRequestId }));
    expect(err).toMatchObject({ code: 'EHR_UNAVAILABLE', retryable: true, context: { status: 503 } });
    // …and the retry Temporal makes succeeds once the EHR is back.
    await expect(fetchPatientRecord(fhir, { medicationRequestId: refill.medicationRequestId })).resolves.toMatchObject({
      record: { patient: { id: refill.patientId } },
    });
  });

  test('a malformed id is INVALID_INPUT before anything is sent', async () => {
    const before = sandbox.requests.length;
    const err = await rejection(fetchPatientRecord(fhir, { medicationRequestId: '../Patient' }));
    expect(err.code).toBe('INVALID_INPUT');
    expect(sandbox.requests.length).toBe(before);
  });
});
