// The care gap's write-backs on HAPI FHIR JPA 8.8.0, and what the protocol then reads of them. Each write (the FIT
// order and the GI referral as ServiceRequests, their status moves, the outreach CommunicationRequests, a decline and
// tests done elsewhere as Procedures and Observations) is made through the FHIR connector, repeated as a retried
// activity would repeat it (it must land once), validated by HAPI (`$validate`), and then read back by the worker's
// own read (fetchCareGapResources): the decision after each write must be the one the protocol gives, and the same
// as when the same writes go to the sandbox EHR.
import type { Resource } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, inject, test } from 'vitest';
import { fetchCareGapResources } from '../../activities/kinds/care-gap/patient-context.ts';
import {
  CARE_GAP_COMMUNICATION_SYSTEM,
  CARE_GAP_ORDER_SYSTEM,
  CARE_GAP_RECORD_SYSTEM,
  pendOrder,
  recordDecline,
  recordDoneElsewhere,
  sendOutreach,
  setOrderStatus,
} from '../../activities/kinds/care-gap/writeback.ts';
import { createFhirConnector, type FhirConnector } from '../../connectors/fhir/connector.ts';
import { careGapFactsFromResources } from '../../facts/care-gap/index.ts';
import {
  CARE_GAP_BUILTINS,
  careGapValueSetsWith,
  evaluateCareGap,
  type CareGapDecision,
} from '../../rules/kinds/care-gap/index.ts';
import { startSandbox, type SandboxHandle } from '../../sandbox/fhir-server.ts';
import { IndexedRepository, loadResources } from '../../sandbox/indexed-repository.ts';
import { aPatient, aStoolTest, SYSTEMS } from '../helpers/care-gap-builders.ts';
import { hapiGet, hapiValidationErrors, loadIntoHapi } from '../helpers/peer.ts';

const hapiBaseUrl = inject('hapiBaseUrl');
const protocol = CARE_GAP_BUILTINS.find((p) => p.id === 'crc-screening-2021')!;
// Every run writes under its own ids and case ids: a HAPI reused across runs (HAPI_PEER_URL) starts clean each time.
const run = `c${Date.now().toString(36)}`;
const AS_OF = '2026-06-15';
const at = `${AS_OF}T10:00:00.000Z`;

/** Average risk, 60, reachable, never screened: due (CRC-17). One per scenario below. */
const patients = ['loop', 'elsewhere', 'referral'].map((name) => aPatient({ id: `${run}-${name}` }));
const positiveFit = aStoolTest('fit', '2026-05-01', { result: 'positive', id: `${run}-fit-pos` });
(positiveFit as { subject: { reference: string } }).subject.reference = `Patient/${run}-referral`;

interface Ehr {
  name: 'sandbox' | 'HAPI';
  fhir: FhirConnector;
}
let sandbox: SandboxHandle;
const sandboxRepo = new IndexedRepository();
let ehrs: Ehr[];

beforeAll(async () => {
  const seed: Resource[] = [...patients, positiveFit];
  loadResources(sandboxRepo, seed);
  sandbox = await startSandbox({ repo: sandboxRepo, requireAuth: false });
  await loadIntoHapi(hapiBaseUrl, seed);
  ehrs = [
    { name: 'sandbox', fhir: createFhirConnector({ baseUrl: sandbox.fhirBaseUrl, timeoutMs: 30_000 }) },
    { name: 'HAPI', fhir: createFhirConnector({ baseUrl: hapiBaseUrl, timeoutMs: 30_000 }) },
  ];
});

afterAll(async () => {
  await sandbox?.close();
});

async function decide(fhir: FhirConnector, patientId: string): Promise<CareGapDecision> {
  const { resources } = await fetchCareGapResources(fhir, { patientId });
  return evaluateCareGap(protocol, careGapFactsFromResources(resources, patientId, AS_OF));
}

/**
 * The decision with the ids of what we wrote left out: each EHR assigns its own (HAPI numeric, the sandbox its own);
 * everything else (clause, reasons, every clause's outcome, evidence types, dates, values) must be equal.
 */
function withoutIds(d: CareGapDecision): unknown {
  return JSON.parse(JSON.stringify(d, (key, value: unknown) => (key === 'id' ? undefined : value)));
}

/** The decision through each EHR after the same writes: equal but for ids; the HAPI one is returned. */
async function decideBoth(patientId: string): Promise<CareGapDecision> {
  const [viaSandbox, viaHapi] = await Promise.all(ehrs.map((e) => decide(e.fhir, patientId)));
  expect(withoutIds(viaHapi!)).toEqual(withoutIds(viaSandbox!));
  return viaHapi!;
}

async function expectValid(resource: Resource): Promise<void> {
  expect(await hapiValidationErrors(hapiBaseUrl, resource), `${resource.resourceType} $validate`).toEqual([]);
}

/** How many resources of `type` HAPI holds under `identifier`, asked fresh. */
async function heldOnHapi(type: string, identifier: string): Promise<Resource[]> {
  const bundle = (await hapiGet(hapiBaseUrl, `${type}?identifier=${encodeURIComponent(identifier)}`, {
    'cache-control': 'no-cache',
  })) as { entry?: { resource: Resource }[] };
  return (bundle.entry ?? []).map((e) => e.resource);
}

describe('care-gap write-backs on HAPI FHIR, read back by the protocol', () => {
  test('outreach → FIT pended (CRC-13) → revoked (due again) → declined (CRC-15), the same through both EHRs', async () => {
    const patientId = `${run}-loop`;
    const caseId = `cg_peer_${run}_loop`;
    expect(await decideBoth(patientId)).toMatchObject({ clause: 'CRC-17', disposition: 'outreach' });

    for (const { fhir, name } of ehrs) {
      const pend = { caseId, episode: 1, patientId, order: 'fit' as const, at };
      const first = await pendOrder(fhir, pend);
      expect(await pendOrder(fhir, pend), name).toEqual({ ...first, created: false });
      for (const step of ['letter', 'kit_mailed', 'reminder'] as const) {
        const outreach = { caseId, episode: 1, patientId, step, orderId: step === 'letter' ? null : first.orderId, at };
        const sent = await sendOutreach(fhir, outreach);
        expect(await sendOutreach(fhir, outreach), `${name} ${step}`).toEqual({ ...sent, created: false });
      }
    }
    const orders = await heldOnHapi('ServiceRequest', `${CARE_GAP_ORDER_SYSTEM}|${caseId}:1:fit`);
    expect(orders.map((o) => (o as { status: string }).status)).toEqual(['draft']);
    await expectValid(orders[0]!);
    for (const step of ['letter', 'kit_mailed', 'reminder']) {
      const sent = await heldOnHapi('CommunicationRequest', `${CARE_GAP_COMMUNICATION_SYSTEM}|${caseId}:1:${step}`);
      expect(sent, step).toHaveLength(1);
      await expectValid(sent[0]!);
    }
    // Our own draft order is what the protocol reads as "already ordered" (its authoredOn is a dateTime).
    const pended = await decideBoth(patientId);
    expect(pended).toMatchObject({ clause: 'CRC-13', disposition: 'suppressed' });
    expect(pended.reasons[0]?.evidence).toEqual([
      expect.objectContaining({ resourceType: 'ServiceRequest', id: orders[0]!.id, date: AS_OF }),
    ]);

    for (const { fhir } of ehrs) {
      const revoke = { caseId, episode: 1, order: 'fit' as const, status: 'revoked' as const, note: 'Cancelled.', at };
      expect(await setOrderStatus(fhir, revoke)).toMatchObject({ status: 'revoked' });
      // Only forward: a revoked order is never made active again.
      expect(await setOrderStatus(fhir, { ...revoke, status: 'active' })).toMatchObject({ status: 'revoked' });
    }
    const [revoked] = await heldOnHapi('ServiceRequest', `${CARE_GAP_ORDER_SYSTEM}|${caseId}:1:fit`);
    expect(revoked).toMatchObject({ status: 'revoked', note: [{}, { text: 'Cancelled.' }] });
    await expectValid(revoked!);
    expect(await decideBoth(patientId)).toMatchObject({ clause: 'CRC-17', disposition: 'outreach' });

    for (const { fhir } of ehrs) {
      const decline = { caseId, episode: 1, patientId, date: AS_OF, by: 'nurse-peer' };
      const first = await recordDecline(fhir, decline);
      expect(await recordDecline(fhir, decline)).toEqual({ ...first, created: false });
    }
    const declines = await heldOnHapi('Procedure', `${CARE_GAP_RECORD_SYSTEM}|${caseId}:1:declined`);
    expect(declines).toHaveLength(1);
    await expectValid(declines[0]!);
    expect(await decideBoth(patientId)).toMatchObject({
      clause: 'CRC-15',
      disposition: 'suppressed',
      reasons: [{ id: 'screening_declined' }],
    });
  });

  test.each([
    ['fit', '2026-01-10', '2027-01-10'],
    ['sdna_fit', '2025-02-01', '2028-02-01'],
    ['ct_colonography', '2024-03-01', '2029-03-01'],
    ['flexible_sigmoidoscopy', '2025-07-01', '2030-07-01'],
    ['colonoscopy', '2021-05-20', '2031-05-20'],
  ] as const)(
    'a %s done elsewhere on %s closes the gap until %s, the same through both EHRs',
    async (kind, date, due) => {
      const patientId = `${run}-elsewhere`;
      const caseId = `cg_peer_${run}_elsewhere_${kind}`;
      let resourceId = '';
      for (const { fhir, name } of ehrs) {
        const input = { caseId, episode: 1, patientId, date, test: kind, by: 'nurse-peer' };
        const first = await recordDoneElsewhere(fhir, input);
        expect(await recordDoneElsewhere(fhir, input), name).toEqual({ ...first, created: false });
        if (name === 'HAPI') resourceId = first.resourceId;
      }
      const type = resourceId.split('/')[0]!;
      const held = await heldOnHapi(type, `${CARE_GAP_RECORD_SYSTEM}|${caseId}:1:done-elsewhere:${kind}:${date}`);
      expect(held.map((r) => `${r.resourceType}/${r.id}`)).toEqual([resourceId]);
      await expectValid(held[0]!);
      // The tests are recorded one after the other on the same patient: each one's due date is later than the last's.
      const d = await decideBoth(patientId);
      expect(d).toMatchObject({ clause: 'CRC-10', disposition: 'gap_closed', nextDueDate: due });
    },
  );

  test('a GI referral after a positive FIT names the FIT it is for; signed, it validates; the FIT still decides (CRC-8)', async () => {
    const patientId = `${run}-referral`;
    const caseId = `cg_peer_${run}_referral`;
    const before = await decideBoth(patientId);
    expect(before).toMatchObject({ clause: 'CRC-8', disposition: 'doctor_review', actions: ['pend_gi_referral'] });
    for (const { fhir } of ehrs) {
      const pend = {
        caseId,
        episode: 1,
        patientId,
        order: 'gi_referral' as const,
        reasonReferences: [`Observation/${positiveFit.id}`],
        at,
      };
      const first = await pendOrder(fhir, pend);
      expect(await pendOrder(fhir, pend)).toEqual({ ...first, created: false });
      const sign = {
        caseId,
        episode: 1,
        order: 'gi_referral' as const,
        status: 'active' as const,
        note: 'Signed.',
        at,
      };
      expect(await setOrderStatus(fhir, sign)).toMatchObject({ orderId: first.orderId, status: 'active' });
    }
    const [referral] = await heldOnHapi('ServiceRequest', `${CARE_GAP_ORDER_SYSTEM}|${caseId}:1:gi_referral`);
    expect(referral).toMatchObject({
      status: 'active',
      code: { coding: [{ system: SYSTEMS.snomed, code: '306182006' }] },
      reasonReference: [{ reference: `Observation/${positiveFit.id}` }],
    });
    await expectValid(referral!);
    // The referral is not a screening test order (SNOMED, not in the screening value sets): CRC-8 stands until the
    // colonoscopy is recorded.
    expect(await decideBoth(patientId)).toMatchObject({ clause: 'CRC-8', disposition: 'doctor_review' });
  });
});

describe('HAPI FHIR behaviours the care-gap read meets, and how it meets them', () => {
  test('HAPI refuses a search URL past 8 KiB (414, EHR_REJECTED); a large expansion is read in short searches', async () => {
    const fhir = createFhirConnector({ baseUrl: hapiBaseUrl, timeoutMs: 30_000, batch: 'never' });
    const err = await fhir.search('Observation', { patient: `${run}-loop`, code: `urn:x|${'9'.repeat(9000)}` }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ code: 'EHR_REJECTED', retryable: false, context: { status: 414 } });

    // A clinic's expansion of 300 FIT codes of a long system; the patient's FIT is coded with the last of them.
    const system = `urn:example:clinic-lab:${'stool-immunochemistry-'.repeat(2)}codes`;
    const codes = Array.from({ length: 300 }, (_, i) => ({ system, code: `FIT-${String(i).padStart(4, '0')}` }));
    const patientId = `${run}-expansion`;
    const fit = aStoolTest('fit', '2026-02-01', { id: `${run}-fit-local` });
    Object.assign(fit, {
      subject: { reference: `Patient/${patientId}` },
      code: { coding: [{ system, code: codes.at(-1)!.code }] },
    });
    await loadIntoHapi(hapiBaseUrl, [aPatient({ id: patientId }), fit]);
    const valueSets = careGapValueSetsWith([{ valueSetId: 'fit-fobt', expansion: { source: 'clinic|1', codes } }]);
    for (const batch of ['never', 'auto'] as const) {
      const connector = createFhirConnector({ baseUrl: hapiBaseUrl, timeoutMs: 30_000, batch });
      const { resources, roundTrips } = await fetchCareGapResources(connector, { patientId, valueSets });
      expect(resources.map((r) => r.id)).toContain(fit.id);
      const facts = careGapFactsFromResources(resources, patientId, AS_OF, { valueSets });
      expect(await evaluateCareGap(protocol, facts)).toMatchObject({ clause: 'CRC-10', nextDueDate: '2027-02-01' });
      if (batch === 'never') expect(roundTrips).toBeGreaterThan(10); // 100 codes of this system would be ~9.5 KB
    }
  });
  test('_include of MedicationRequest:medication: HAPI returns the Medication (search mode include), in a batch too', async () => {
    // 70, frail, on donepezil prescribed by reference to a Medication coded in RxNorm: CRC-6 needs the Medication.
    const patientId = `${run}-include`;
    const medication = {
      resourceType: 'Medication',
      id: `${run}-donepezil`,
      code: { coding: [{ system: SYSTEMS.rxnorm, code: '135447' }], text: 'donepezil 10 mg tablet' },
    } as Resource;
    const record: Resource[] = [
      aPatient({ id: patientId, birthDate: '1956-01-01' }),
      medication,
      {
        resourceType: 'Condition',
        id: `${run}-frail`,
        subject: { reference: `Patient/${patientId}` },
        code: { coding: [{ system: SYSTEMS.icd10, code: 'R54' }] },
        clinicalStatus: { coding: [{ system: SYSTEMS.clinicalStatus, code: 'active' }] },
        onsetDateTime: '2026-03-01',
      },
      {
        resourceType: 'MedicationRequest',
        id: `${run}-mr-donepezil`,
        status: 'active',
        intent: 'order',
        subject: { reference: `Patient/${patientId}` },
        medicationReference: { reference: `Medication/${medication.id}` },
        authoredOn: '2026-01-05',
      },
    ];
    await loadIntoHapi(hapiBaseUrl, record);
    loadResources(sandboxRepo, record);
    for (const batch of ['auto', 'never'] as const) {
      const connector = createFhirConnector({ baseUrl: hapiBaseUrl, timeoutMs: 30_000, batch });
      const { resources } = await fetchCareGapResources(connector, { patientId });
      expect(resources.map((r) => `${r.resourceType}/${r.id}`)).toContain(`Medication/${medication.id}`);
    }
    expect(await decideBoth(patientId)).toMatchObject({
      clause: 'CRC-6',
      reasons: [{ id: 'frailty_and_dementia_medication' }],
    });
  });
});
