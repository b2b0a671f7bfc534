// What ehr-autopilot writes, written to a peer EHR: HAPI FHIR JPA 8.8.0. Each write-back (the refill order and its
// proposal, the queue Task; the care gap's ServiceRequest, Task and CommunicationRequest) is made through the FHIR
// connector, repeated as a retried activity would repeat it (it must land once), and then validated by HAPI
// (`$validate` against the base R4 definitions). HAPI's own quirks are pinned here too, each with how we meet it.
import type { MedicationRequest, Resource, Task } from '@medplum/fhirtypes';
import { beforeAll, describe, expect, inject, test } from 'vitest';
import {
  pendOrder,
  sendOutreach,
  setOrderStatus,
  syncCareGapTask,
  CARE_GAP_ORDER_SYSTEM,
} from '../../activities/kinds/care-gap/writeback.ts';
import {
  ORDER_IDENTIFIER_SYSTEM,
  TASK_IDENTIFIER_SYSTEM,
  syncQueueTask,
  writeBackOutcome,
  type WriteBackInput,
} from '../../activities/kinds/refill/ehr-writeback.ts';
import { fetchPatientRecord } from '../../activities/kinds/refill/patient-context.ts';
import { createFhirConnector, searchUrl, type FhirConnector } from '../../connectors/fhir/connector.ts';
import type { TriageDecision } from '../../rules/kinds/refill/decision.ts';
import { AppError } from '../../rules/index.ts';
import { aRefillBundle } from '../helpers/fhir-builders.ts';
import { hapiGet, hapiValidationErrors, loadIntoHapi, withIdPrefix } from '../helpers/peer.ts';

const baseUrl = inject('hapiBaseUrl');
// Every run writes under its own ids and case ids: a HAPI reused across runs (HAPI_PEER_URL) starts clean each time.
const run = `r${Date.now().toString(36)}`;
const fhir: FhirConnector = createFhirConnector({ baseUrl, timeoutMs: 30_000 });
const patientId = `${run}-pat-1`;
const proposalId = `${run}-refill-req`;

const approve: TriageDecision = {
  disposition: 'approve',
  failedCriteria: [],
  criteria: [],
  approvedSupply: { renewalMonths: 12 },
  bridgeSupply: null,
  routeTo: null,
  actions: [],
  protocol: { id: 'family-medicine-2015', version: 1 },
  drug: {
    name: 'Omeprazole 20 mg capsule',
    ingredients: ['omeprazole'],
    classes: ['proton_pump_inhibitor'],
    controlledSchedule: null,
  },
};

/** Every resource of `type` HAPI holds under `identifier`, asked fresh (no-cache), by a raw search. */
async function held<T extends Resource>(type: string, identifier: string): Promise<T[]> {
  const bundle = (await hapiGet(baseUrl, `${type}?identifier=${encodeURIComponent(identifier)}`, {
    'cache-control': 'no-cache',
  })) as { entry?: { resource: T }[] };
  return (bundle.entry ?? []).map((e) => e.resource);
}

async function expectValid(resource: Resource): Promise<void> {
  expect(await hapiValidationErrors(baseUrl, resource), `${resource.resourceType} $validate`).toEqual([]);
}

async function rejection(p: Promise<unknown>): Promise<AppError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AppError);
  return err as AppError;
}

beforeAll(async () => {
  // 60 A1c results: more than HAPI puts on one page (see the paging test).
  const labs = Array.from({ length: 60 }, (_, i) => ({
    kind: 'a1c' as const,
    date: `2021-${String((i % 12) + 1).padStart(2, '0')}-${String(Math.floor(i / 12) + 1).padStart(2, '0')}`,
    value: 6 + (i % 10) / 10,
  }));
  const scenario = aRefillBundle({ drug: 'omeprazole', visits: [{ kind: 'pcp', date: '2026-03-01' }], labs });
  await loadIntoHapi(
    baseUrl,
    withIdPrefix(
      (scenario.entry ?? []).map((e) => e.resource!),
      run,
    ),
  );
});

describe('refill write-back on HAPI FHIR', () => {
  const caseId = `rf_peer_${run}`;
  const input: WriteBackInput = {
    caseId,
    clinicId: 'peer',
    requestId: 'req-peer',
    medicationRequestId: proposalId,
    kind: 'pend_order',
    decision: approve,
    note: null,
    decidedBy: { kind: 'protocol', protocol: { id: 'family-medicine-2015', version: 1 } },
    signedAs: null,
  };

  test('a retried protocol approval pends one draft order; a doctor signs it once; both validate', async () => {
    const first = await writeBackOutcome(fhir, input, new Date());
    const again = await writeBackOutcome(fhir, input, new Date());
    expect(first).toMatchObject({ created: true, proposalStatus: 'draft' }); // the proposal stays open
    expect(again).toMatchObject({ created: false, orderId: first.orderId });
    // HAPI assigns purely numeric ids to what is POSTed; updating them later (below) is an update, not a create.
    expect(first.orderId).toMatch(/^\d+$/);
    const orders = await held<MedicationRequest>('MedicationRequest', `${ORDER_IDENTIFIER_SYSTEM}|${caseId}`);
    expect(orders.map((o) => [o.id, o.status])).toEqual([[first.orderId, 'draft']]);

    const sign: WriteBackInput = {
      ...input,
      kind: 'sign_order',
      decidedBy: {
        kind: 'clinician',
        actor: { userId: 'dr-peer', role: 'doctor' },
        decisionId: 'd1',
      },
      signedAs: 'requester',
    };
    const signed = await writeBackOutcome(fhir, sign, new Date());
    const resigned = await writeBackOutcome(fhir, sign, new Date());
    expect(signed).toMatchObject({ orderId: first.orderId, proposalStatus: 'completed' });
    expect(resigned).toMatchObject({ orderId: first.orderId, proposalStatus: 'completed', created: false });
    const [order] = await held<MedicationRequest>('MedicationRequest', `${ORDER_IDENTIFIER_SYSTEM}|${caseId}`);
    expect(order).toMatchObject({ status: 'active', requester: { reference: '#signer' } });
    expect(order?.note?.filter((n) => n.text?.startsWith('Signed'))).toHaveLength(1);
    const proposal = await fhir.read('MedicationRequest', proposalId);
    expect(proposal.status).toBe('completed');
    await expectValid(order!);
    await expectValid(proposal);
  });

  test('a version-aware note on the proposal: HAPI answers 409 to a stale If-Match; the write-back reads again and keeps both changes', async () => {
    // An open proposal of its own (update-as-create, a non-numeric id), read as the triage reads it.
    const source = await fhir.read('MedicationRequest', proposalId);
    const id = `${proposalId}-vu`;
    const { meta: _meta, note: _note, ...rest } = source;
    await fhir.update({ ...rest, id, status: 'active' });
    const known = await fhir.read('MedicationRequest', id);
    expect(known.meta?.versionId).toBeDefined();
    // The pharmacy adds a note after that read: the version moves on.
    await fhir.update({ ...known, note: [{ text: 'Patient asked for a 90-day supply.' }] });
    const stale = await rejection(
      fhir.update({ ...known, note: [{ text: 'stale' }] }, { ifMatch: known.meta!.versionId! }),
    );
    // FHIR R4 says 412; HAPI answers 409 (its version conflict). The write-back takes either as "read it again".
    expect(stale).toMatchObject({ code: 'EHR_REJECTED', context: { status: 409 } });
    // The write-back starting from the stale read: a conflict, read again, note re-applied on the current version.
    const result = await writeBackOutcome(
      fhir,
      { ...input, caseId: `${caseId}-vu`, medicationRequestId: id },
      new Date(),
      known,
    );
    const after = await fhir.read('MedicationRequest', id);
    expect(after.note?.map((n) => n.text)).toEqual([
      'Patient asked for a 90-day supply.',
      `Pended as draft MedicationRequest/${result.orderId} for signature (protocol family-medicine-2015 v1).`,
    ]);
    await expectValid(after);
  });

  test('a retried queue Task sync writes one Task, updated in place, valid', async () => {
    const base = { caseId, clinicId: 'peer', requestId: 'req-peer', medicationRequestId: proposalId, pool: null };
    const due = new Date(Date.now() + 3600_000).toISOString();
    const nurse = { ...base, queue: 'nurse' as const, businessStatus: 'nurse-review', status: 'requested' as const };
    const a = await syncQueueTask(fhir, { ...nurse, slaDueAt: due }, new Date());
    const b = await syncQueueTask(fhir, { ...nurse, slaDueAt: due }, new Date());
    const c = await syncQueueTask(
      fhir,
      { ...base, queue: 'doctor', businessStatus: 'doctor-review', status: 'requested', slaDueAt: null },
      new Date(),
    );
    expect(new Set([a.taskId, b.taskId, c.taskId]).size).toBe(1);
    const tasks = await held<Task>('Task', `${TASK_IDENTIFIER_SYSTEM}|${caseId}`);
    expect(tasks).toHaveLength(1);
    expect(tasks[0]).toMatchObject({
      businessStatus: { text: 'doctor-review' },
      focus: { reference: `MedicationRequest/${proposalId}` },
      for: { reference: `Patient/${patientId}` },
    });
    await expectValid(tasks[0]!);
  });

  test('a first Task sync (the patient known from the triage) is one conditional create; retried, HAPI answers 200 with the Task, which is updated in place', async () => {
    const first = `rf_peer_${run}_first`;
    const input = {
      caseId: first,
      clinicId: 'peer',
      requestId: 'req-peer',
      medicationRequestId: proposalId,
      pool: null,
      queue: 'signature' as const,
      businessStatus: 'awaiting-signature',
      status: 'requested' as const,
      slaDueAt: null,
      first: true,
      patientId,
    };
    const before = fhir.roundTrips;
    const { taskId } = await syncQueueTask(fhir, input, new Date());
    expect(fhir.roundTrips - before).toBe(1);
    const again = await syncQueueTask(fhir, { ...input, businessStatus: 'awaiting-signature-again' }, new Date());
    expect(again.taskId).toBe(taskId);
    const tasks = await held<Task>('Task', `${TASK_IDENTIFIER_SYSTEM}|${first}`);
    expect(tasks).toHaveLength(1);
    expect(tasks[0]).toMatchObject({
      businessStatus: { text: 'awaiting-signature-again' },
      focus: { reference: `MedicationRequest/${proposalId}` },
      for: { reference: `Patient/${patientId}` },
    });
    await expectValid(tasks[0]!);
  });

  test('a proposal HAPI does not have still gets its Task: named, not referenced (HAPI refuses dangling ones)', async () => {
    const gone = `rf_peer_${run}_gone`;
    const input = {
      caseId: gone,
      clinicId: 'peer',
      requestId: 'req-peer',
      medicationRequestId: `${run}-not-there`,
      pool: null,
      queue: 'nurse' as const,
      businessStatus: 'nurse-review',
      status: 'requested' as const,
      slaDueAt: null,
    };
    const { taskId } = await syncQueueTask(fhir, input, new Date());
    expect((await syncQueueTask(fhir, input, new Date())).taskId).toBe(taskId);
    const tasks = await held<Task>('Task', `${TASK_IDENTIFIER_SYSTEM}|${gone}`);
    expect(tasks.map((t) => t.focus)).toEqual([
      { type: 'MedicationRequest', display: `MedicationRequest/${run}-not-there (not in the EHR)` },
    ]);
    await expectValid(tasks[0]!);
  });
});

describe('care-gap write-back on HAPI FHIR', () => {
  const caseId = `cg_peer_${run}`;
  const at = '2026-06-15T10:00:00.000Z';

  test('the FIT order (ServiceRequest), its Task and the outreach land once each, and validate', async () => {
    const pend = { caseId, episode: 1, patientId, order: 'fit' as const, at };
    const first = await pendOrder(fhir, pend);
    expect(await pendOrder(fhir, pend)).toEqual({ ...first, created: false });
    expect(first).toMatchObject({ status: 'draft', created: true });
    const signed = { caseId, episode: 1, order: 'fit' as const, note: 'Signed by dr-peer', at };
    expect(await setOrderStatus(fhir, { ...signed, status: 'active' })).toEqual({
      orderId: first.orderId,
      status: 'active',
    });
    expect(await setOrderStatus(fhir, { ...signed, status: 'active' })).toMatchObject({ status: 'active' });
    const orders = await held<Resource>('ServiceRequest', `${CARE_GAP_ORDER_SYSTEM}|${caseId}:1:fit`);
    expect(orders).toHaveLength(1);
    expect(orders[0]).toMatchObject({ status: 'active', note: [{}, {}] });
    await expectValid(orders[0]!);

    const task = {
      caseId,
      patientId,
      queue: 'outreach' as const,
      pool: null,
      priority: 'routine' as const,
      businessStatus: 'outreach',
      status: 'requested' as const,
      focusOrderId: first.orderId,
    };
    const t1 = await syncCareGapTask(fhir, task, new Date(at));
    const t2 = await syncCareGapTask(fhir, { ...task, businessStatus: 'kit-not-returned-call' }, new Date(at));
    expect(t2.taskId).toBe(t1.taskId);
    const tasks = await held<Task>('Task', `urn:ehr-autopilot:care-gap-task|${caseId}`);
    expect(tasks).toHaveLength(1);
    expect(tasks[0]).toMatchObject({
      businessStatus: { text: 'kit-not-returned-call' },
      focus: { reference: `ServiceRequest/${first.orderId}` },
    });
    await expectValid(tasks[0]!);

    const letter = { caseId, episode: 1, patientId, step: 'letter' as const, orderId: first.orderId, at };
    const sent = await sendOutreach(fhir, letter);
    expect(await sendOutreach(fhir, letter)).toEqual({ ...sent, created: false });
    await expectValid(await fhir.read('CommunicationRequest', sent.communicationRequestId));
  });
});

test('$validate finds what is wrong (so the checks above can fail)', async () => {
  const errors = await hapiValidationErrors(baseUrl, {
    resourceType: 'MedicationRequest',
    subject: { reference: `Patient/${patientId}` },
    status: 'draft',
  } as unknown as Resource); // no intent (1..1), no medication[x] (1..1)
  expect(errors.join('\n')).toMatch(/MedicationRequest\.intent/);
  expect(errors.join('\n')).toMatch(/medication/);
});

describe('HAPI FHIR behaviours a real integration meets, and how the connector meets them', () => {
  test('searches are cached 60 s: a client without no-cache misses a write just made; the connector does not', async () => {
    const identifier = `${ORDER_IDENTIFIER_SYSTEM}|cache-${run}`;
    const path = `MedicationRequest?identifier=${encodeURIComponent(identifier)}`;
    const count = (b: unknown) => (b as { entry?: unknown[] }).entry?.length ?? 0;
    expect(count(await hapiGet(baseUrl, path))).toBe(0);
    await fhir.create({
      resourceType: 'MedicationRequest',
      identifier: [{ system: ORDER_IDENTIFIER_SYSTEM, value: `cache-${run}` }],
      status: 'draft',
      intent: 'order',
      subject: { reference: `Patient/${patientId}` },
      medicationCodeableConcept: { text: 'omeprazole' },
    });
    expect(count(await hapiGet(baseUrl, path))).toBe(0); // HAPI's cached answer: stale
    expect((await fhir.search('MedicationRequest', { identifier })).matches).toHaveLength(1);
  });

  test('a batch asks fresh too: its searches see a write just made, though HAPI holds a stale answer', async () => {
    const identifier = `${ORDER_IDENTIFIER_SYSTEM}|batch-${run}`;
    const url = searchUrl('MedicationRequest', { identifier });
    const count = (b: unknown) => (b as { entry?: unknown[] }).entry?.length ?? 0;
    expect(count(await hapiGet(baseUrl, url))).toBe(0); // primes HAPI's cache with "none"
    await fhir.create({
      resourceType: 'MedicationRequest',
      identifier: [{ system: ORDER_IDENTIFIER_SYSTEM, value: `batch-${run}` }],
      status: 'draft',
      intent: 'order',
      subject: { reference: `Patient/${patientId}` },
      medicationCodeableConcept: { text: 'omeprazole' },
    });
    expect(count(await hapiGet(baseUrl, url))).toBe(0);
    // HAPI answers a batch's searches from the same cache: a batch sent without no-cache is stale too.
    const raw = await fetch(baseUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/fhir+json' },
      body: JSON.stringify({ resourceType: 'Bundle', type: 'batch', entry: [{ request: { method: 'GET', url } }] }),
    });
    const rawEntries = ((await raw.json()) as { entry: { resource: unknown }[] }).entry;
    expect(count(rawEntries[0]?.resource)).toBe(0);
    const batched = createFhirConnector({ baseUrl, timeoutMs: 30_000, batch: 'always' });
    const [result] = await batched.batch([{ method: 'GET', url }]);
    expect(result?.ok && count(result.resource)).toBe(1);
  });

  test('HAPI caps a page at 50 (we ask for 500): the patient read follows its next link, in the batch too', async () => {
    for (const batch of ['auto', 'never'] as const) {
      const { record, roundTrips } = await fetchPatientRecord(
        createFhirConnector({ baseUrl, timeoutMs: 30_000, batch }),
        {
          medicationRequestId: proposalId,
          asOf: '2026-06-15',
        },
      );
      expect(record.observations).toHaveLength(60);
      expect(new Set(record.observations.map((o) => o.id)).size).toBe(60);
      if (batch === 'auto') expect(roundTrips).toBe(5); // metadata and probe, the read, the batch, page 2
    }
  });

  test('update-as-create works though not advertised, but not for a purely numeric id (HAPI-0960)', async () => {
    const caps = await fhir.capabilities();
    const patient = caps.statement.rest?.[0]?.resource?.find((r) => r.type === 'Patient');
    expect(patient?.updateCreate).toBeUndefined();
    const put = (id: string) =>
      fetch(`${baseUrl}/Patient/${id}`, {
        method: 'PUT',
        headers: { 'content-type': 'application/fhir+json' },
        body: JSON.stringify({ resourceType: 'Patient', id }),
      });
    expect((await put(`${run}-new`)).status).toBe(201);
    const numeric = await put(`9${Date.now()}`);
    expect(numeric.status).toBe(400);
    expect(await numeric.text()).toContain('HAPI-0960');
    // Our write-backs never choose an id: every create is a POST (HAPI assigns a numeric id, as the order above
    // shows) and every update is of a resource found first. Only this suite's loader writes by PUT, with ids that
    // are never purely numeric.
  });

  test('a dangling reference is refused (HAPI-1094): the connector says EHR_REJECTED, not retried', async () => {
    const err = await rejection(
      fhir.create({
        resourceType: 'Task',
        status: 'requested',
        intent: 'order',
        focus: { reference: `MedicationRequest/${run}-nowhere` },
      }),
    );
    expect(err).toMatchObject({
      code: 'EHR_REJECTED',
      retryable: false,
      context: { status: 400, issue: 'processing' },
    });
  });
});
