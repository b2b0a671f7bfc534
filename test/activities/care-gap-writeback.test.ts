// Care-gap write-backs run at least once (Temporal retries activities): every write must land exactly once, orders
// only move forward, and nothing the protocol writes is active. Against the real sandbox EHR (validating, SMART on).
import type { CommunicationRequest, ServiceRequest, Task } from '@medplum/fhirtypes';
import { afterAll, beforeAll, expect, test } from 'vitest';
import {
  CARE_GAP_ORDER_SYSTEM,
  pendOrder,
  recordDecline,
  recordDoneElsewhere,
  sendOutreach,
  setOrderStatus,
  syncCareGapTask,
} from '../../activities/kinds/care-gap/writeback.ts';
import { generateClientKeyPair } from '../../connectors/fhir/auth.ts';
import { createFhirConnector, type FhirConnector } from '../../connectors/fhir/connector.ts';
import { startSandbox, type SandboxHandle } from '../../sandbox/fhir-server.ts';
import { IndexedRepository } from '../../sandbox/indexed-repository.ts';

let sandbox: SandboxHandle;
let fhir: FhirConnector;
const caseId = 'cg_c1_crc-screening-2021_00112233445566778899aabbccddeeff';
const at = '2026-06-15T10:00:00.000Z';

beforeAll(async () => {
  const repo = new IndexedRepository();
  repo.update({ resourceType: 'Patient', id: 'p1', birthDate: '1970-01-01' });
  const keys = await generateClientKeyPair();
  sandbox = await startSandbox({ repo, clients: [{ clientId: 'cg', jwks: keys.publicJwks }] });
  fhir = createFhirConnector({
    baseUrl: sandbox.fhirBaseUrl,
    timeoutMs: 5000,
    auth: { clientId: 'cg', privateKeyJwk: keys.privateJwk },
  });
});
afterAll(async () => {
  await sandbox?.close();
});

const all = <T>(type: string) =>
  (sandbox.repo.search(type, new URLSearchParams({ _count: '1000' })).entry ?? []).map((e) => e.resource as T);

test('a retried pend finds its own draft; a signature activates it; a revoke after completion changes nothing', async () => {
  const input = { caseId, episode: 1, patientId: 'p1', order: 'fit' as const, at };
  const first = await pendOrder(fhir, input);
  const again = await pendOrder(fhir, input);
  expect(first).toMatchObject({ status: 'draft', created: true });
  expect(again).toEqual({ ...first, created: false });
  const orders = all<ServiceRequest>('ServiceRequest');
  expect(orders).toHaveLength(1);
  expect(orders[0]).toMatchObject({
    status: 'draft',
    intent: 'order',
    identifier: [{ system: CARE_GAP_ORDER_SYSTEM }],
  });

  const sign = { caseId, episode: 1, order: 'fit' as const, note: 'signed', at };
  expect(await setOrderStatus(fhir, { ...sign, status: 'active' })).toMatchObject({ status: 'active' });
  expect(await setOrderStatus(fhir, { ...sign, status: 'active' })).toMatchObject({ status: 'active' });
  expect(await setOrderStatus(fhir, { ...sign, status: 'completed' })).toMatchObject({ status: 'completed' });
  // Forward only: a completed order is never revoked or re-activated by a late or retried write.
  expect(await setOrderStatus(fhir, { ...sign, status: 'revoked' })).toMatchObject({ status: 'completed' });
  expect(await setOrderStatus(fhir, { ...sign, status: 'active' })).toMatchObject({ status: 'completed' });
  expect(all<ServiceRequest>('ServiceRequest')[0]?.note).toHaveLength(3); // pended, signed, completed
  // Nothing pended for another episode or order: nothing to change.
  expect(await setOrderStatus(fhir, { ...sign, order: 'gi_referral', status: 'active' })).toEqual({
    orderId: null,
    status: null,
  });
});

test('each outreach step is one CommunicationRequest, however often it is sent', async () => {
  for (let i = 0; i < 2; i += 1) {
    await sendOutreach(fhir, { caseId, episode: 1, patientId: 'p1', step: 'letter', orderId: null, at });
    await sendOutreach(fhir, { caseId, episode: 1, patientId: 'p1', step: 'reminder', orderId: null, at });
  }
  const sent = all<CommunicationRequest>('CommunicationRequest');
  expect(sent).toHaveLength(2);
  expect(sent.every((c) => c.category?.[0]?.coding?.[0]?.code === 'reminder')).toBe(true);
});

test('one Task per case, updated in place; a repeated sync writes nothing', async () => {
  const base = {
    caseId,
    patientId: 'p1',
    queue: 'outreach' as const,
    pool: null,
    priority: 'routine' as const,
    businessStatus: 'outreach',
    status: 'requested' as const,
    focusOrderId: null,
  };
  const a = await syncCareGapTask(fhir, base, new Date(at));
  const b = await syncCareGapTask(fhir, base, new Date(at));
  const c = await syncCareGapTask(
    fhir,
    { ...base, queue: 'nurse', businessStatus: 'kit-not-returned-call' },
    new Date(at),
  );
  expect(new Set([a.taskId, b.taskId, c.taskId]).size).toBe(1);
  const tasks = all<Task>('Task');
  expect(tasks).toHaveLength(1);
  expect(tasks[0]).toMatchObject({ status: 'requested', businessStatus: { text: 'kit-not-returned-call' } });
});

test('a first sync is one conditional create; one that finds the Task there updates it in place', async () => {
  const first = {
    caseId: `${caseId}-first`,
    patientId: 'p1',
    queue: 'outreach' as const,
    pool: null,
    priority: 'routine' as const,
    businessStatus: 'outreach',
    status: 'requested' as const,
    focusOrderId: null,
    first: true,
  };
  const before = fhir.roundTrips;
  const a = await syncCareGapTask(fhir, first, new Date(at));
  expect(fhir.roundTrips - before).toBe(1);
  const b = await syncCareGapTask(fhir, { ...first, businessStatus: 'outreach-again' }, new Date(at));
  expect(b.taskId).toBe(a.taskId);
  const tasks = all<Task>('Task').filter((t) => t.identifier?.[0]?.value === `${caseId}-first`);
  expect(tasks).toHaveLength(1);
  expect(tasks[0]).toMatchObject({ status: 'requested', businessStatus: { text: 'outreach-again' } });
});

test('a decline and a test done elsewhere are recorded once each, as the protocol reads them', async () => {
  const d1 = await recordDecline(fhir, { caseId, episode: 2, patientId: 'p1', date: '2026-06-15', by: 'nurse n1' });
  const d2 = await recordDecline(fhir, { caseId, episode: 2, patientId: 'p1', date: '2026-06-15', by: 'nurse n1' });
  expect(d2).toEqual({ ...d1, created: false });
  const e = { caseId, episode: 2, patientId: 'p1', date: '2025-01-10', by: 'doctor d1' };
  const fit = await recordDoneElsewhere(fhir, { ...e, test: 'fit' });
  expect((await recordDoneElsewhere(fhir, { ...e, test: 'fit' })).resourceId).toBe(fit.resourceId);
  const colo = await recordDoneElsewhere(fhir, { ...e, test: 'colonoscopy' });
  expect(fit.resourceId).toMatch(/^Observation\//);
  expect(colo.resourceId).toMatch(/^Procedure\//);
  const procedures = all<{ status: string }>('Procedure')
    .map((p) => p.status)
    .sort();
  expect(procedures).toEqual(['completed', 'not-done']);
});
