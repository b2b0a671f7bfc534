// triageFirst and enterFirstQueue (issue 11). triageFirst: the case shown triaging, protocol and signing policy
// pinned, the EHR read and the decision in one activity, a failed read returned with the pins. enterFirstQueue: a protocol approval's pended order and its Task written to the EHR at the same time,
// then their audit rows and the routed step in one transaction; a write the EHR refuses for good is returned (the
// workflow records it) with the others audited; a failure a retry may mend projects nothing. Against the sandbox EHR
// (SMART auth on) and the real store (SQLite).
import type { MedicationRequest, Task } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ORDER_IDENTIFIER_SYSTEM, TASK_IDENTIFIER_SYSTEM } from '../../activities/kinds/refill/ehr-writeback.ts';
import { enterFirstQueue, triageFirst, type EnterFirstQueueInput } from '../../activities/kinds/refill/first-queue.ts';
import { ensureBuiltinProtocols } from '../../api/seed.ts';
import { loadConfig } from '../../connectors/config.ts';
import { createLogger } from '../../connectors/logger.ts';
import { createStore, type Store } from '../../connectors/db/index.ts';
import { generateClientKeyPair } from '../../connectors/fhir/auth.ts';
import { createFhirConnector, type FhirConnector } from '../../connectors/fhir/connector.ts';
import { startSandbox, type SandboxHandle } from '../../sandbox/fhir-server.ts';
import { IndexedRepository, loadResources } from '../../sandbox/indexed-repository.ts';
import { generateClinic } from '../../sandbox/synthetic/index.ts';
import { openTestDatabase, type TestDatabase } from '../helpers/db.ts';

const CLINIC = 'fq-clinic';
const clinic = generateClinic({ seed: 11, patients: 12, asOf: '2026-06-15' });
let testDb: TestDatabase;
let store: Store;
let sandbox: SandboxHandle;
let fhir: FhirConnector;
let deps: Parameters<typeof enterFirstQueue>[0];

beforeAll(async () => {
  testDb = await openTestDatabase('sqlite');
  store = createStore(testDb.db);
  await ensureBuiltinProtocols(store, createLogger(loadConfig({ LOG_LEVEL: 'silent' }), 'test'));
  await store.clinics.upsert({
    id: CLINIC,
    name: 'First-queue clinic',
    webhookSecret: 'first-queue-test-secret-0123456789',
    fhirBaseUrl: 'http://127.0.0.1:9/fhir/R4', // unused: the test hands the activity its connector
    fhirClientId: 'fq',
    fhirPrivateKeyJwk: null,
    fhirTokenUrl: null,
    protocolId: 'family-medicine-2015',
    nurseSlaSeconds: 3600,
    timezone: 'UTC',
  });
  const repo = new IndexedRepository();
  loadResources(repo, clinic.resources);
  const keys = await generateClientKeyPair();
  sandbox = await startSandbox({ repo, clients: [{ clientId: 'fq', jwks: keys.publicJwks }] });
  fhir = createFhirConnector({
    baseUrl: sandbox.fhirBaseUrl,
    timeoutMs: 5000,
    auth: { clientId: 'fq', privateKeyJwk: keys.privateJwk },
  });
  deps = { store, fhir: { forClinic: () => Promise.resolve(fhir), withRequestId: (_id, fn) => fn() } };
});
afterAll(async () => {
  await sandbox?.close();
  await testDb?.cleanup();
});

const PROTOCOL = { id: 'family-medicine-2015', version: 1 };
function approval(caseId: string, medicationRequestId: string): EnterFirstQueueInput {
  const ids = { caseId, clinicId: CLINIC, requestId: `req-${caseId}`, medicationRequestId };
  const state = {
    caseId,
    status: 'queued' as const,
    queue: 'signature' as const,
    pool: null,
    reason: 'protocol' as const,
    protocol: PROTOCOL,
    decision: null,
    escalated: false,
    outcome: null,
    decidedBy: null,
    slaDueAt: null,
  };
  return {
    order: {
      ...ids,
      kind: 'pend_order',
      decision: { protocol: PROTOCOL, approvedSupply: { renewalMonths: 12 }, bridgeSupply: null },
      note: null,
      decidedBy: { kind: 'protocol', protocol: PROTOCOL },
      signedAs: null,
    },
    task: {
      ...ids,
      queue: 'signature',
      pool: null,
      businessStatus: 'awaiting-signature',
      status: 'requested',
      slaDueAt: null,
      first: true,
    },
    projection: {
      ...ids,
      patientId: 'pat-1',
      drugName: null,
      seq: 2,
      at: '2026-06-15T10:00:00.000Z',
      event: 'case.queued',
      actor: null,
      detail: { queue: 'signature', pool: null, reason: 'protocol', slaDueAt: null },
      state,
    },
  };
}
const search = <T>(type: string, identifier: string) =>
  (sandbox.repo.search(type, new URLSearchParams({ identifier })).entry ?? []).map((e) => e.resource as T);
const actionsOf = async (caseId: string) =>
  (await store.audit.listAudit({ caseId, limit: 50 })).items.map((a) => a.action).sort();

test('writes the order and the Task, then audits both and projects the step together', async () => {
  const input = approval('rf_fq_1', clinic.refillRequests[0]!.medicationRequestId);
  expect(await enterFirstQueue(deps, input, new Date())).toEqual({ projected: true });
  expect(search<MedicationRequest>('MedicationRequest', `${ORDER_IDENTIFIER_SYSTEM}|rf_fq_1`)[0]?.status).toBe('draft');
  expect(search<Task>('Task', `${TASK_IDENTIFIER_SYSTEM}|rf_fq_1`)).toHaveLength(1);
  expect(await store.cases.getCase('rf_fq_1')).toMatchObject({ status: 'queued', queue: 'signature' });
  expect(await actionsOf('rf_fq_1')).toEqual(['case.routed', 'ehr.task_synced', 'ehr.write_back']);

  // Run again (a retried activity, or the workflow's fallback): nothing written twice.
  expect(await enterFirstQueue(deps, input, new Date())).toEqual({ projected: true });
  expect(search('MedicationRequest', `${ORDER_IDENTIFIER_SYSTEM}|rf_fq_1`)).toHaveLength(1);
  expect(search('Task', `${TASK_IDENTIFIER_SYSTEM}|rf_fq_1`)).toHaveLength(1);
  expect(await actionsOf('rf_fq_1')).toEqual(['case.routed', 'ehr.task_synced', 'ehr.write_back']);
  expect(await store.cases.listCaseEvents('rf_fq_1')).toHaveLength(1);
});

test('a write the EHR refuses for good is returned; the write that landed is audited; the step is left to the workflow', async () => {
  const input = approval('rf_fq_2', 'mr-not-in-this-ehr');
  const result = await enterFirstQueue(deps, input, new Date());
  expect(result).toEqual({ projected: false, refused: [{ what: 'pend_order', error: 'EHR_NOT_FOUND' }] });
  expect(search<Task>('Task', `${TASK_IDENTIFIER_SYSTEM}|rf_fq_2`)).toHaveLength(1);
  expect(await actionsOf('rf_fq_2')).toEqual(['ehr.task_synced']);
  expect(await store.cases.getCase('rf_fq_2')).toBeNull();
});

test('an EHR that is down fails the activity (a retry may mend it) and nothing is projected or audited', async () => {
  const input = approval('rf_fq_3', clinic.refillRequests[1]!.medicationRequestId);
  sandbox.injectFaults({ status: 503, count: 50 });
  try {
    await expect(enterFirstQueue(deps, input, new Date())).rejects.toMatchObject({ code: 'EHR_UNAVAILABLE' });
  } finally {
    sandbox.clearFaults();
  }
  expect(await store.cases.getCase('rf_fq_3')).toBeNull();
  expect(await actionsOf('rf_fq_3')).toEqual([]);
});

describe('triageFirst', () => {
  const start = (caseId: string, medicationRequestId: string) => {
    const ids = { caseId, clinicId: CLINIC, requestId: `req-${caseId}`, medicationRequestId };
    return {
      projection: {
        ...ids,
        patientId: null,
        drugName: null,
        seq: 1,
        at: '2026-06-15T10:00:00.000Z',
        event: 'case.triaging',
        actor: null,
        detail: {},
        state: { ...approval(caseId, medicationRequestId).projection.state, status: 'triaging' as const, queue: null },
      },
      clinicId: CLINIC,
      read: { ...ids, asOf: '2026-06-15' },
    };
  };
  const logger = createLogger(loadConfig({ LOG_LEVEL: 'silent' }), 'test');

  test('shows the case triaging, pins the published protocol and the policy, reads and decides', async () => {
    const r = clinic.refillRequests[2]!;
    const result = await triageFirst({ ...deps, logger }, start('rf_fq_t1', r.medicationRequestId));
    expect(result.pinned.protocol).toEqual({ id: 'family-medicine-2015', version: 1 });
    expect(result.pinned.policy).toMatchObject({ mode: 'doctor' });
    expect(result.error).toBeUndefined();
    expect(result.triaged?.decision.disposition).toBe(r.expectedDisposition);
    expect(await store.cases.getCase('rf_fq_t1')).toMatchObject({ status: 'triaging' });
    expect(await actionsOf('rf_fq_t1')).toEqual(['patient_context.read', 'protocol.evaluated']);
  });

  test('a request the EHR does not have comes back as EHR_NOT_FOUND, with the pins; nothing read is audited', async () => {
    const result = await triageFirst({ ...deps, logger }, start('rf_fq_t2', 'mr-not-in-this-ehr'));
    expect(result.pinned.protocol).toEqual({ id: 'family-medicine-2015', version: 1 });
    expect(result.triaged).toBeUndefined();
    expect(result.error).toBe('EHR_NOT_FOUND');
    expect(await actionsOf('rf_fq_t2')).toEqual([]);
  });

  test('with a route: the approval goes on into its first queue in the same activity (order, Task, routed step)', async () => {
    const r = clinic.refillRequests.find((q) => q.expectedDisposition === 'approve')!;
    const at = new Date('2026-06-15T10:00:05.000Z');
    const result = await triageFirst(
      { ...deps, logger },
      { ...start('rf_fq_r1', r.medicationRequestId), route: { seq: 2, nurseSlaSeconds: 3600 } },
      () => at,
    );
    expect(result.triaged?.decision.disposition).toBe('approve');
    expect(result.routed).toEqual({
      route: { queue: 'signature', pool: null, reason: 'protocol', order: 'pend_order' },
      seq: 2,
      at: at.toISOString(),
      slaDueAt: null,
      entered: { projected: true },
    });
    expect(search<MedicationRequest>('MedicationRequest', `${ORDER_IDENTIFIER_SYSTEM}|rf_fq_r1`)[0]?.status).toBe(
      'draft',
    );
    const [task] = search<Task>('Task', `${TASK_IDENTIFIER_SYSTEM}|rf_fq_r1`);
    expect(task?.businessStatus?.text).toBe('awaiting-signature');
    expect(task?.for?.reference).toBe(`Patient/${result.triaged?.patientId}`);
    expect(await store.cases.getCase('rf_fq_r1')).toMatchObject({
      status: 'queued',
      queue: 'signature',
      reason: 'protocol',
      disposition: 'approve',
      protocolId: 'family-medicine-2015',
    });
    expect((await store.cases.listCaseEvents('rf_fq_r1')).map((e) => [e.seq, e.kind, e.at])).toEqual([
      [1, 'case.triaging', '2026-06-15T10:00:00.000Z'],
      [2, 'case.queued', at.toISOString()],
    ]);
    expect(await actionsOf('rf_fq_r1')).toEqual([
      'case.routed',
      'ehr.task_synced',
      'ehr.write_back',
      'patient_context.read',
      'protocol.evaluated',
    ]);
  });

  test('with a route: a case the protocol sends to a nurse gets its Task and SLA, and no order', async () => {
    const r = clinic.refillRequests.find(
      (q) => q.expectedDisposition === 'needs_visit' || q.expectedDisposition === 'nurse_review',
    )!;
    const at = new Date('2026-06-15T10:00:05.000Z');
    const result = await triageFirst(
      { ...deps, logger },
      { ...start('rf_fq_r2', r.medicationRequestId), route: { seq: 2, nurseSlaSeconds: 3600 } },
      () => at,
    );
    expect(result.routed).toMatchObject({
      route: { queue: 'nurse', reason: 'protocol', order: null },
      slaDueAt: '2026-06-15T11:00:05.000Z',
      entered: { projected: true },
    });
    expect(search('MedicationRequest', `${ORDER_IDENTIFIER_SYSTEM}|rf_fq_r2`)).toHaveLength(0);
    const [task] = search<Task>('Task', `${TASK_IDENTIFIER_SYSTEM}|rf_fq_r2`);
    expect(task?.businessStatus?.text).toBe('nurse-review');
    expect(task?.restriction?.period?.end).toBe('2026-06-15T11:00:05.000Z');
    expect(await store.cases.getCase('rf_fq_r2')).toMatchObject({ status: 'queued', queue: 'nurse' });
  });

  test('with a route: writes the EHR cannot take now come back as entered null, the decision kept, nothing routed', async () => {
    const r = clinic.refillRequests.find((q) => q.expectedDisposition === 'approve' && q !== clinic.refillRequests[2])!;
    sandbox.injectFaults({ status: 503, count: 50, match: ({ path }) => path.endsWith('/Task') });
    let result;
    try {
      result = await triageFirst(
        { ...deps, logger },
        { ...start('rf_fq_r3', r.medicationRequestId), route: { seq: 2, nurseSlaSeconds: 3600 } },
      );
    } finally {
      sandbox.clearFaults();
    }
    expect(result.triaged?.decision.disposition).toBe('approve');
    expect(result.routed).toMatchObject({ seq: 2, entered: null });
    expect(search('Task', `${TASK_IDENTIFIER_SYSTEM}|rf_fq_r3`)).toHaveLength(0);
    expect(await store.cases.getCase('rf_fq_r3')).toMatchObject({ status: 'triaging' });
  });

  test('an EHR that is down comes back as EHR_UNAVAILABLE (the workflow reads again durably)', async () => {
    sandbox.injectFaults({ status: 503, count: 50 });
    try {
      const result = await triageFirst(
        { ...deps, logger },
        start('rf_fq_t3', clinic.refillRequests[3]!.medicationRequestId),
      );
      expect(result.error).toBe('EHR_UNAVAILABLE');
    } finally {
      sandbox.clearFaults();
    }
  });
});
