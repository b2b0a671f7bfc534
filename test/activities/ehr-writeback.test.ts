// Write-back to the EHR runs at least once (Temporal retries activities): every write must land exactly once.
// Against the real sandbox EHR with SMART auth on.
import type { MedicationRequest, Task } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  ORDER_IDENTIFIER_SYSTEM,
  TASK_IDENTIFIER_SYSTEM,
  USER_IDENTIFIER_SYSTEM,
  orderSupply,
  syncQueueTask,
  writeBackOutcome,
  type WriteBackInput,
} from '../../activities/kinds/refill/ehr-writeback.ts';
import { generateClientKeyPair } from '../../connectors/fhir/auth.ts';
import { createFhirConnector, type FhirConnector } from '../../connectors/fhir/connector.ts';
import type { TriageDecision } from '../../rules/kinds/refill/decision.ts';
import { startSandbox, type SandboxHandle } from '../../sandbox/fhir-server.ts';
import { IndexedRepository, loadResources } from '../../sandbox/indexed-repository.ts';
import { generateClinic } from '../../sandbox/synthetic/index.ts';

let sandbox: SandboxHandle;
let fhir: FhirConnector;
const clinic = generateClinic({ seed: 7, patients: 20, asOf: '2026-06-15' });

beforeAll(async () => {
  const repo = new IndexedRepository();
  loadResources(repo, clinic.resources);
  const keys = await generateClientKeyPair();
  sandbox = await startSandbox({ repo, clients: [{ clientId: 'wb', jwks: keys.publicJwks }] });
  fhir = createFhirConnector({
    baseUrl: sandbox.fhirBaseUrl,
    timeoutMs: 5000,
    auth: { clientId: 'wb', privateKeyJwk: keys.privateJwk },
  });
});
afterAll(async () => {
  await sandbox?.close();
});

const decision = (over: Partial<TriageDecision>): TriageDecision => ({
  disposition: 'approve',
  failedCriteria: [],
  criteria: [],
  approvedSupply: { renewalMonths: 12 },
  bridgeSupply: null,
  routeTo: null,
  actions: [],
  protocol: { id: 'family-medicine-2015', version: 1 },
  drug: { name: 'omeprazole 20 MG', ingredients: [], classes: [], controlledSchedule: null },
  ...over,
});
const search = <T>(type: string, identifier: string) =>
  (sandbox.repo.search(type, new URLSearchParams({ identifier })).entry ?? []).map((e) => e.resource as T);

describe('write-back is idempotent', () => {
  test('a retried protocol approval pends exactly one draft order and leaves the proposal open', async () => {
    const mrId = clinic.refillRequests[0]!.medicationRequestId;
    const before = (sandbox.repo.read('MedicationRequest', mrId) as MedicationRequest).status;
    const input: WriteBackInput = {
      caseId: 'case-wb-1',
      clinicId: 'c',
      requestId: 'req-1',
      medicationRequestId: mrId,
      kind: 'pend_order',
      decision: decision({}),
      note: null,
      decidedBy: { kind: 'protocol', protocol: { id: 'family-medicine-2015', version: 1 } },
      signedAs: null,
    };
    const first = await writeBackOutcome(fhir, input, new Date());
    const second = await writeBackOutcome(fhir, input, new Date()); // the activity retried after a lost response
    expect(first.created).toBe(true);
    expect(second.created).toBe(false);
    expect(second.orderId).toBe(first.orderId);
    const orders = search<MedicationRequest>('MedicationRequest', `${ORDER_IDENTIFIER_SYSTEM}|case-wb-1`);
    expect(orders).toHaveLength(1);
    expect(orders[0]?.status).toBe('draft');
    expect(orders[0]?.requester).toBeUndefined();
    expect(orders[0]?.basedOn?.[0]?.reference).toBe(`MedicationRequest/${mrId}`);
    const proposal = sandbox.repo.read('MedicationRequest', mrId) as MedicationRequest;
    expect(proposal.status).toBe(before);
    expect(proposal.status).not.toBe('completed');
    expect(proposal.note?.filter((n) => n.text?.startsWith('Pended as draft'))).toHaveLength(1);
  });

  test('a retried Task sync creates one Task per case and updates it in place', async () => {
    const mrId = clinic.refillRequests[1]!.medicationRequestId;
    const base = { caseId: 'case-wb-2', clinicId: 'c', requestId: 'req-2', medicationRequestId: mrId, pool: null };
    const due = new Date(Date.now() + 3600_000).toISOString();
    const a = await syncQueueTask(
      fhir,
      { ...base, queue: 'nurse', businessStatus: 'nurse-review', status: 'requested', slaDueAt: due },
      new Date(),
    );
    const b = await syncQueueTask(
      fhir,
      { ...base, queue: 'nurse', businessStatus: 'nurse-review', status: 'requested', slaDueAt: due },
      new Date(),
    );
    const c = await syncQueueTask(
      fhir,
      { ...base, queue: 'doctor', businessStatus: 'doctor-review', status: 'requested', slaDueAt: null },
      new Date(),
    );
    expect(new Set([a.taskId, b.taskId, c.taskId]).size).toBe(1);
    const tasks = search<Task>('Task', `${TASK_IDENTIFIER_SYSTEM}|case-wb-2`);
    expect(tasks).toHaveLength(1);
    expect(tasks[0]?.businessStatus?.text).toBe('doctor-review');
    expect(tasks[0]?.restriction).toBeUndefined();
    expect(tasks[0]?.focus?.reference).toBe(`MedicationRequest/${mrId}`);
    expect(tasks[0]?.for?.reference).toMatch(/^Patient\//);
  });

  test('a first sync with the patient known is one conditional create; retried, it updates the same Task', async () => {
    const scenario = clinic.refillRequests[2]!;
    const input = {
      caseId: 'case-wb-first',
      clinicId: 'c',
      requestId: 'req-f',
      medicationRequestId: scenario.medicationRequestId,
      pool: null,
      queue: 'signature' as const,
      businessStatus: 'awaiting-signature',
      status: 'requested' as const,
      slaDueAt: null,
      first: true,
      patientId: scenario.patientId,
    };
    const before = fhir.roundTrips;
    const a = await syncQueueTask(fhir, input, new Date());
    expect(fhir.roundTrips - before).toBe(1);
    // A retried attempt (the first one's answer lost) finds the Task there and brings it up to date, in place.
    const b = await syncQueueTask(fhir, { ...input, businessStatus: 'awaiting-signature-retried' }, new Date());
    expect(b.taskId).toBe(a.taskId);
    const tasks = search<Task>('Task', `${TASK_IDENTIFIER_SYSTEM}|case-wb-first`);
    expect(tasks).toHaveLength(1);
    expect(tasks[0]?.businessStatus?.text).toBe('awaiting-signature-retried');
    expect(tasks[0]?.for?.reference).toBe(`Patient/${scenario.patientId}`);
    expect(tasks[0]?.focus?.reference).toBe(`MedicationRequest/${scenario.medicationRequestId}`);
  });

  test('a proposal the EHR does not have gets its Task, naming the proposal without a reference to it', async () => {
    const base = {
      caseId: 'case-wb-gone',
      clinicId: 'c',
      requestId: 'req-g',
      medicationRequestId: 'not-there',
      pool: null,
    };
    const input = { ...base, queue: 'nurse' as const, businessStatus: 'nurse-review', status: 'requested' as const };
    const a = await syncQueueTask(fhir, { ...input, slaDueAt: null }, new Date());
    const b = await syncQueueTask(fhir, { ...input, slaDueAt: null }, new Date());
    expect(b.taskId).toBe(a.taskId);
    const tasks = search<Task>('Task', `${TASK_IDENTIFIER_SYSTEM}|case-wb-gone`);
    expect(tasks).toHaveLength(1);
    expect(tasks[0]?.focus).toEqual({
      type: 'MedicationRequest',
      display: 'MedicationRequest/not-there (not in the EHR)',
    });
    expect(tasks[0]?.for).toBeUndefined();
  });

  test('a denial cancels the proposal once, with the reason', async () => {
    const mrId = clinic.refillRequests[2]!.medicationRequestId;
    const input: WriteBackInput = {
      caseId: 'case-wb-3',
      clinicId: 'c',
      requestId: 'req-3',
      medicationRequestId: mrId,
      kind: 'record_denial',
      decision: decision({ disposition: 'doctor_review', approvedSupply: null }),
      note: 'Discontinue',
      decidedBy: { kind: 'clinician', actor: { userId: 'dr-1', role: 'doctor' }, decisionId: 'd-00000001' },
      signedAs: 'requester',
    };
    await writeBackOutcome(fhir, input, new Date());
    await writeBackOutcome(fhir, input, new Date());
    const proposal = sandbox.repo.read('MedicationRequest', mrId) as MedicationRequest;
    expect(proposal.status).toBe('cancelled');
    expect(proposal.statusReason?.text).toMatch(/denied/i);
    expect(proposal.note?.filter((n) => n.text?.includes('Refill denied'))).toHaveLength(1);
  });
});

describe('order semantics (FHIR R4): draft until signed', () => {
  const DOCTOR = { userId: 'dr-sign@clinic.example', role: 'doctor' } as const;
  const NURSE = { userId: 'rn-1@clinic.example', role: 'nurse' } as const;
  const base = (i: number, caseId: string) => ({
    caseId,
    clinicId: 'c',
    requestId: `req-${caseId}`,
    medicationRequestId: clinic.refillRequests[i]!.medicationRequestId,
    decision: decision({}),
    note: null,
  });
  const byProtocol = { kind: 'protocol', protocol: { id: 'family-medicine-2015', version: 1 } } as const;
  const by = (actor: typeof DOCTOR | typeof NURSE) =>
    ({ kind: 'clinician', actor, decisionId: `d-${actor.role}-000001` }) as const;
  const orderOf = (caseId: string) =>
    search<MedicationRequest>('MedicationRequest', `${ORDER_IDENTIFIER_SYSTEM}|${caseId}`);
  const proposalOf = (i: number) =>
    sandbox.repo.read('MedicationRequest', clinic.refillRequests[i]!.medicationRequestId) as MedicationRequest;

  test('signing makes the draft active with the signer as requester, then completes the proposal, once', async () => {
    await writeBackOutcome(
      fhir,
      { ...base(4, 'case-sign-1'), kind: 'pend_order', decidedBy: byProtocol, signedAs: null },
      new Date(),
    );
    expect(orderOf('case-sign-1')[0]?.status).toBe('draft');
    const sign = { ...base(4, 'case-sign-1'), kind: 'sign_order' as const, decidedBy: by(DOCTOR) };
    const signed = await writeBackOutcome(fhir, { ...sign, signedAs: 'requester' }, new Date());
    await writeBackOutcome(fhir, { ...sign, signedAs: 'requester' }, new Date()); // retried
    expect(signed.proposalStatus).toBe('completed');
    const [order] = orderOf('case-sign-1');
    expect(orderOf('case-sign-1')).toHaveLength(1);
    expect(order?.status).toBe('active');
    expect(order?.requester).toEqual({ reference: '#signer', display: `doctor ${DOCTOR.userId}` });
    expect(order?.performer).toBeUndefined();
    expect(order?.contained?.[0]).toMatchObject({
      resourceType: 'PractitionerRole',
      identifier: [{ system: USER_IDENTIFIER_SYSTEM, value: DOCTOR.userId }],
      code: [
        {
          coding: [
            { system: 'http://snomed.info/sct', code: '158965000' },
            { system: 'http://terminology.hl7.org/CodeSystem/practitioner-role', code: 'doctor' },
          ],
        },
      ],
    });
    expect(order?.note?.filter((n) => n.text?.startsWith('Signed'))).toHaveLength(1);
    const proposal = proposalOf(4);
    expect(proposal.status).toBe('completed');
    expect(proposal.note?.filter((n) => n.text?.startsWith('Renewed as'))).toHaveLength(1);
  });

  test('a signer’s own approval pends the order active at once and completes the proposal', async () => {
    const r = await writeBackOutcome(
      fhir,
      { ...base(5, 'case-sign-2'), kind: 'pend_order', decidedBy: by(DOCTOR), signedAs: 'requester' },
      new Date(),
    );
    expect(r).toMatchObject({ proposalStatus: 'completed', created: true });
    expect(orderOf('case-sign-2')[0]).toMatchObject({ status: 'active', requester: { reference: '#signer' } });
    expect(proposalOf(5).status).toBe('completed');
  });

  test('a denial cancels a draft (withdrawn before any use) and the proposal, once', async () => {
    await writeBackOutcome(
      fhir,
      { ...base(6, 'case-deny-1'), kind: 'pend_order', decidedBy: byProtocol, signedAs: null },
      new Date(),
    );
    const deny = { ...base(6, 'case-deny-1'), kind: 'record_denial' as const, decidedBy: by(DOCTOR) };
    await writeBackOutcome(fhir, { ...deny, signedAs: 'requester' }, new Date());
    await writeBackOutcome(fhir, { ...deny, signedAs: 'requester' }, new Date());
    const [order] = orderOf('case-deny-1');
    expect(order?.status).toBe('cancelled');
    expect(order?.note?.filter((n) => n.text?.startsWith('Withdrawn: refill denied'))).toHaveLength(1);
    expect(proposalOf(6).status).toBe('cancelled');
  });

  test('a nurse’s needs-visit bridge is a draft and leaves the proposal open; a doctor’s is active', async () => {
    const bridge = decision({
      disposition: 'needs_visit',
      approvedSupply: null,
      bridgeSupply: { quantity: 30, refills: 0 },
    });
    await writeBackOutcome(
      fhir,
      { ...base(7, 'case-nv-1'), decision: bridge, kind: 'record_needs_visit', decidedBy: by(NURSE), signedAs: null },
      new Date(),
    );
    expect(orderOf('case-nv-1')[0]?.status).toBe('draft');
    const open = proposalOf(7);
    expect(open.status).not.toBe('completed');
    expect(open.note?.some((n) => n.text?.includes('bridge supply pended as draft'))).toBe(true);
    await writeBackOutcome(
      fhir,
      {
        ...base(8, 'case-nv-2'),
        decision: bridge,
        kind: 'record_needs_visit',
        decidedBy: by(DOCTOR),
        signedAs: 'requester',
      },
      new Date(),
    );
    expect(orderOf('case-nv-2')[0]?.status).toBe('active');
    expect(proposalOf(8).status).toBe('completed');
  });

  describe('orders pended `active` before drafts existed are not migrated', () => {
    /** What the old pend wrote: an active order with no signer, and the proposal completed. */
    const pendTheOldWay = async (i: number, caseId: string) => {
      const proposal = proposalOf(i);
      const old: MedicationRequest = {
        resourceType: 'MedicationRequest',
        identifier: [{ system: ORDER_IDENTIFIER_SYSTEM, value: caseId }],
        status: 'active',
        intent: 'order',
        subject: proposal.subject,
        medicationCodeableConcept: proposal.medicationCodeableConcept,
        basedOn: [{ reference: `MedicationRequest/${proposal.id}` }],
        authoredOn: '2026-01-02T03:04:05.000Z',
        note: [{ text: 'Refill approved (protocol family-medicine-2015 v1); pended for signature.' }],
      };
      const { resource } = await fhir.create(old);
      await fhir.update({ ...proposal, status: 'completed' });
      return resource;
    };

    test('signing one leaves it active as it was (no requester, no re-activation) and records the signature', async () => {
      const old = await pendTheOldWay(9, 'case-old-1');
      const sign = { ...base(9, 'case-old-1'), kind: 'sign_order' as const, decidedBy: by(DOCTOR) };
      await writeBackOutcome(fhir, { ...sign, signedAs: 'requester' }, new Date());
      await writeBackOutcome(fhir, { ...sign, signedAs: 'requester' }, new Date());
      const [order] = orderOf('case-old-1');
      expect(order?.id).toBe(old.id);
      expect(order?.status).toBe('active');
      expect(order?.requester).toBeUndefined();
      expect(order?.contained).toBeUndefined();
      expect(order?.authoredOn).toBe(old.authoredOn);
      expect(order?.note?.filter((n) => n.text?.startsWith('Signed'))).toHaveLength(1);
      expect(proposalOf(9).status).toBe('completed');
    });

    test('denying one stops it (it was actionable, it may have been filled): never `cancelled`', async () => {
      await pendTheOldWay(10, 'case-old-2');
      const deny = { ...base(10, 'case-old-2'), kind: 'record_denial' as const, decidedBy: by(DOCTOR) };
      await writeBackOutcome(fhir, { ...deny, signedAs: 'requester' }, new Date());
      await writeBackOutcome(fhir, { ...deny, signedAs: 'requester' }, new Date());
      expect(orderOf('case-old-2')[0]?.status).toBe('stopped');
      expect(proposalOf(10).status).toBe('cancelled');
    });
  });
});

describe('a write-back that starts from the triage’s read of the proposal', () => {
  const input = (i: number, caseId: string): WriteBackInput => ({
    caseId,
    clinicId: 'c',
    requestId: `req-${caseId}`,
    medicationRequestId: clinic.refillRequests[i]!.medicationRequestId,
    kind: 'pend_order',
    decision: decision({}),
    note: null,
    decidedBy: { kind: 'protocol', protocol: { id: 'family-medicine-2015', version: 1 } },
    signedAs: null,
  });
  /** The sandbox's requests from `from` on (this file's writes run one at a time). */
  const since = (from: number) => sandbox.requests.slice(from);
  const readsOf = (id: string, from: number) =>
    since(from).filter((r) => r.method === 'GET' && r.path.endsWith(`/MedicationRequest/${id}`)).length;

  test('does not read the proposal again, and notes it with a version-aware update', async () => {
    const wb = input(11, 'case-known-1');
    const known = await fhir.read('MedicationRequest', wb.medicationRequestId);
    const from = sandbox.requests.length;
    const result = await writeBackOutcome(fhir, wb, new Date(), known);
    expect(result.created).toBe(true);
    expect(readsOf(wb.medicationRequestId, from)).toBe(0);
    const after = sandbox.repo.read('MedicationRequest', wb.medicationRequestId) as MedicationRequest;
    expect(Number(after.meta?.versionId)).toBe(Number(known.meta?.versionId) + 1);
    expect(after.note?.at(-1)?.text).toBe(
      `Pended as draft MedicationRequest/${result.orderId} for signature (protocol family-medicine-2015 v1).`,
    );
  });

  test('a proposal changed since the read is read again (412), never overwritten: both changes stand', async () => {
    const wb = input(12, 'case-known-2');
    const known = await fhir.read('MedicationRequest', wb.medicationRequestId);
    // The pharmacy adds a note between the triage's read and the write-back.
    await fhir.update({ ...known, note: [...(known.note ?? []), { text: 'Patient asked for a 90-day supply.' }] });
    const from = sandbox.requests.length;
    const result = await writeBackOutcome(fhir, wb, new Date(), known);
    const after = sandbox.repo.read('MedicationRequest', wb.medicationRequestId) as MedicationRequest;
    const notes = after.note?.map((n) => n.text);
    expect(notes).toContain('Patient asked for a 90-day supply.');
    expect(notes).toContain(
      `Pended as draft MedicationRequest/${result.orderId} for signature (protocol family-medicine-2015 v1).`,
    );
    expect(readsOf(wb.medicationRequestId, from)).toBe(1); // the one read again after the 412
    expect(
      since(from)
        .filter((r) => r.method === 'PUT')
        .map((r) => r.status),
    ).toEqual([412, 200]);
  });

  test('a read of another request, or one without a version, is not used', async () => {
    const wb = input(13, 'case-known-3');
    const other = await fhir.read('MedicationRequest', clinic.refillRequests[14]!.medicationRequestId);
    const from = sandbox.requests.length;
    await writeBackOutcome(fhir, wb, new Date(), other);
    expect(readsOf(wb.medicationRequestId, from)).toBe(1);
    // Without a version, the read is not enough for a version-aware update: read again.
    const { meta: _meta, ...unversioned } = await fhir.read(
      'MedicationRequest',
      clinic.refillRequests[15]!.medicationRequestId,
    );
    const wb2 = input(15, 'case-known-4');
    const from2 = sandbox.requests.length;
    await writeBackOutcome(fhir, wb2, new Date(), unversioned);
    expect(readsOf(wb2.medicationRequestId, from2)).toBe(1);
    const other2 = sandbox.repo.read(
      'MedicationRequest',
      clinic.refillRequests[14]!.medicationRequestId,
    ) as MedicationRequest;
    expect(other2.note?.some((n) => n.text?.startsWith('Pended as draft'))).not.toBe(true); // the other one untouched
  });
});

describe('the pended supply follows the decision', () => {
  const request: MedicationRequest = {
    resourceType: 'MedicationRequest',
    status: 'draft',
    intent: 'proposal',
    subject: { reference: 'Patient/p' },
    dispenseRequest: {
      quantity: { value: 30 },
      numberOfRepeatsAllowed: 5,
      expectedSupplyDuration: { value: 30, unit: 'd' },
    },
  };
  test('a 12-month renewal of a 30-day fill is the fill plus 11 refills; of a 90-day fill, plus 3', () => {
    expect(orderSupply(request, decision({}), 'pend_order')?.numberOfRepeatsAllowed).toBe(11);
    const ninety = {
      ...request,
      dispenseRequest: { ...request.dispenseRequest, expectedSupplyDuration: { value: 90, unit: 'd' } },
    };
    expect(orderSupply(ninety, decision({}), 'pend_order')?.numberOfRepeatsAllowed).toBe(3);
  });
  test('an explicit quantity (AS-2 #1 + 2 refills, or a bridge #30 + 1) is used as given', () => {
    const s = orderSupply(request, decision({ approvedSupply: { quantity: 1, refills: 2 } }), 'pend_order');
    expect(s?.quantity?.value).toBe(1);
    expect(s?.numberOfRepeatsAllowed).toBe(2);
    const b = orderSupply(
      request,
      decision({ disposition: 'needs_visit', approvedSupply: null, bridgeSupply: { quantity: 30, refills: 1 } }),
      'record_needs_visit',
    );
    expect(b?.quantity?.value).toBe(30);
    expect(b?.numberOfRepeatsAllowed).toBe(1);
  });
  test('without a protocol supply, the pharmacy’s request stands', () => {
    expect(orderSupply(request, null, 'pend_order')).toEqual(request.dispenseRequest);
  });
});
