// The slower parts of a case's life, through the real Temporal server and sandbox EHR: SLA escalation, a nurse's
// escalation, a clinic with automation switched off, and protocol versions pinned per case.
import type { MedicationRequest, Task } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ORDER_IDENTIFIER_SYSTEM, TASK_IDENTIFIER_SYSTEM } from '../../activities/kinds/refill/ehr-writeback.ts';
import { refillEvent, startHarness, type Harness } from '../helpers/harness.ts';

let h: Harness;
beforeAll(async () => {
  // The SLA is a clinic setting; here a nurse-queue case escalates after 2 seconds.
  h = await startHarness({ patients: 60, clinic: { nurseSlaSeconds: 2 } });
});
afterAll(async () => {
  await h?.close();
});

function taskFor(caseId: string): Task | undefined {
  return h.sandbox.repo
    .search('Task', new URLSearchParams({ identifier: `${TASK_IDENTIFIER_SYSTEM}|${caseId}` }))
    .entry?.map((e) => e.resource as Task)[0];
}
async function start(medicationRequestId: string): Promise<string> {
  const res = await h.webhook(h.clinicId, refillEvent(medicationRequestId));
  expect(res.status, await res.clone().text()).toBe(202);
  return ((await res.json()) as { caseId: string }).caseId;
}
const decide = (caseId: string, as: 'nurse' | 'doctor', body: Record<string, unknown>) =>
  h.api(`/v1/cases/${caseId}/decision`, { method: 'POST', as, body: JSON.stringify(body) });

describe('escalation', () => {
  test('a case left in the nurse queue past the clinic SLA escalates to the doctor queue', async () => {
    const s = h.scenario((x) => x.scenario === 'bladder-no-rov-within-12mo');
    const caseId = await start(s.medicationRequestId);
    const queued = await h.waitForCase(caseId, (c) => c.status === 'queued');
    expect(queued.queue).toBe('nurse');
    expect(queued.slaDueAt).toBeTruthy();

    // Nobody acts for 2 seconds: the durable timer moves it to the doctor queue, and the EHR's Task follows.
    const escalated = await h.waitForCase(caseId, (c) => c.queue === 'doctor', 15_000);
    expect(escalated.escalated).toBe(true);
    expect(escalated.reason).toBe('escalated_sla');
    expect(escalated.slaDueAt).toBeNull();
    const task = taskFor(caseId);
    expect(task?.businessStatus?.text).toBe('doctor-review');
    expect(task?.performerType?.[0]?.coding?.[0]?.code).toBe('158965000');

    // The nurse can no longer decide it; the doctor approves and the renewal is pended in the EHR.
    expect((await decide(caseId, 'nurse', { action: 'approve' })).status).toBe(403);
    expect((await decide(caseId, 'doctor', { action: 'approve', note: 'ok for 30 days' })).status).toBe(200);
    const closed = await h.waitForCase(caseId, (c) => c.status === 'closed');
    expect(closed.outcome).toBe('approved');
    const order = h.sandbox.repo.search(
      'MedicationRequest',
      new URLSearchParams({ identifier: `${ORDER_IDENTIFIER_SYSTEM}|${caseId}` }),
    ).entry?.[0]?.resource as MedicationRequest | undefined;
    expect(order?.status).toBe('active');
    const audit = (await (await h.api(`/v1/cases/${caseId}/audit`, { as: 'admin' })).json()) as {
      items: { action: string }[];
    };
    expect(audit.items.map((a) => a.action)).toContain('case.escalated');
  });

  test('a nurse can escalate a case to the doctor queue herself', async () => {
    const s = h.scenario((x) => x.scenario === 'warfarin-to-protime-nurse');
    const caseId = await start(s.medicationRequestId);
    await h.waitForCase(caseId, (c) => c.status === 'queued' && c.queue === 'nurse');
    const r = await decide(caseId, 'nurse', { action: 'escalate', note: 'INR trend worrying' });
    expect(r.status, await r.clone().text()).toBe(200);
    const escalated = await h.waitForCase(caseId, (c) => c.queue === 'doctor');
    expect(escalated.reason).toBe('escalated_by_nurse');
    expect(escalated.status).toBe('queued');
  });
});

describe('clinic settings and protocol versions', () => {
  test('with refill automation switched off, a request goes to the nurse queue untriaged and says so', async () => {
    const clinic = (await h.store.clinics.get(h.clinicId))!;
    const { createdAt: _c, updatedAt: _u, ...settings } = clinic;
    await h.store.clinics.upsert({ ...settings, refillAutomationEnabled: false, nurseSlaSeconds: 3600 });
    try {
      const s = h.scenario((x) => x.scenario === 'ppi-rov-within-18mo');
      const caseId = await start(s.medicationRequestId);
      const c = await h.waitForCase(caseId, (x) => x.status === 'queued');
      expect(c.queue).toBe('nurse');
      expect(c.reason).toBe('automation_disabled');
      expect(c.disposition).toBeNull();
      expect(c.protocol).toBeNull();
      expect(c.criteria).toEqual([]);
    } finally {
      await h.store.clinics.upsert({ ...settings });
    }
  });

  test('a clinic whose protocol has no published version still gets its requests triaged by a human', async () => {
    const clinic = (await h.store.clinics.get(h.clinicId))!;
    const { createdAt: _c, updatedAt: _u, ...settings } = clinic;
    await h.store.protocols.create({ id: 'unpublished-protocol', title: 'Never published' });
    await h.store.clinics.upsert({
      ...settings,
      protocolId: 'unpublished-protocol',
      protocolVersion: null,
      nurseSlaSeconds: 3600,
    });
    try {
      const s = h.scenario((x) => x.scenario === 'dabigatran-visit-within-12mo');
      const caseId = await start(s.medicationRequestId);
      const c = await h.waitForCase(caseId, (x) => x.status === 'queued');
      expect(c.queue).toBe('nurse');
      expect(c.reason).toBe('protocol_unavailable');
    } finally {
      await h.store.clinics.upsert({ ...settings });
    }
  });

  test('a case in flight keeps the protocol version it started with after a new version is published', async () => {
    const s1 = h.scenario((x) => x.scenario === 'antiviral-rov-within-18mo');
    const s2 = h.scenario((x) => x.scenario === 'seasonal-allergy-renew-as-needed');
    // The EHR is down for a while: case 1 pins version 1, then waits in retries before it can read the record.
    h.sandbox.injectFaults({
      status: 503,
      count: 12,
      match: (r) => r.method === 'GET' && r.path.includes('MedicationRequest/'),
    });
    const first = await start(s1.medicationRequestId);
    await waitUntil(async () => (await h.store.audit.listAudit({ caseId: first, limit: 50 })).items.length > 0);
    await waitUntil(() => Promise.resolve(h.sandbox.requests.some((r) => r.status === 503)));

    // Meanwhile an admin publishes version 2.
    const v1 = (await h.store.protocols.getPublished('family-medicine-2015'))!;
    const draft = await h.store.protocols.createDraft({
      protocolId: 'family-medicine-2015',
      definition: v1.definition,
      by: 'admin-1',
      note: 'republished for the pinning test',
    });
    await h.store.protocols.publish({ protocolId: 'family-medicine-2015', version: draft.version, by: 'admin-1' });
    expect(draft.version).toBe(2);

    h.sandbox.clearFaults();
    const c1 = await h.waitForCase(first, (c) => c.status === 'queued');
    expect(c1.protocol).toEqual({ id: 'family-medicine-2015', version: 1 });
    const evaluated = (await h.store.audit.listAudit({ caseId: first, action: 'protocol.evaluated', limit: 5 })).items;
    expect(evaluated[0]?.protocolVersion).toBe(1);

    const second = await start(s2.medicationRequestId);
    const c2 = await h.waitForCase(second, (c) => c.status === 'queued');
    expect(c2.protocol).toEqual({ id: 'family-medicine-2015', version: 2 });
  });
});

async function waitUntil(pred: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await pred()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('condition not reached');
}
