// Refill triage end to end: the API's webhook → the real Temporal dev server → the worker's activities → the sandbox
// EHR (SMART auth on), and a clinician's decision back through the API into the EHR.
import type { MedicationRequest, Task } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ORDER_IDENTIFIER_SYSTEM, TASK_IDENTIFIER_SYSTEM } from '../../activities/kinds/refill/ehr-writeback.ts';
import { refillCaseId } from '../../rules/kinds/refill/intake.ts';
import { signWebhook } from '../../api/middleware/webhook-signature.ts';
import { createTemporalClient } from '../../connectors/temporal.ts';
import {
  refillEvent,
  startHarness,
  subscriptionNotification,
  WEBHOOK_SECRET,
  type Harness,
} from '../helpers/harness.ts';

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ patients: 60, clinic: { nurseSlaSeconds: 3600 } });
});
afterAll(async () => {
  await h?.close();
});

function orderFor(caseId: string): MedicationRequest | undefined {
  return h.sandbox.repo
    .search('MedicationRequest', new URLSearchParams({ identifier: `${ORDER_IDENTIFIER_SYSTEM}|${caseId}` }))
    .entry?.map((e) => e.resource as MedicationRequest)[0];
}
function proposal(id: string): MedicationRequest | undefined {
  return h.sandbox.repo.read('MedicationRequest', id) as MedicationRequest | undefined;
}
function tasksFor(caseId: string): Task[] {
  return (
    h.sandbox.repo
      .search('Task', new URLSearchParams({ identifier: `${TASK_IDENTIFIER_SYSTEM}|${caseId}` }))
      .entry?.map((e) => e.resource as Task) ?? []
  );
}
async function decide(caseId: string, as: 'nurse' | 'doctor' | 'admin', body: Record<string, unknown>) {
  return h.api(`/v1/cases/${caseId}/decision`, { method: 'POST', as, body: JSON.stringify(body) });
}

describe('a refill request that meets protocol', () => {
  test('is approved per protocol, pended in the EHR for signature, and closed when a doctor signs', async () => {
    const s = h.scenario((x) => x.scenario === 'ppi-rov-within-18mo');
    // First, the EHR posts a signed refill.requested webhook…
    const res = await h.webhook(h.clinicId, refillEvent(s.medicationRequestId));
    expect(res.status, await res.clone().text()).toBe(202);
    const accepted = (await res.json()) as { caseId: string; status: string; links: { self: string } };
    expect(accepted.caseId).toBe(refillCaseId(h.clinicId, s.medicationRequestId));
    expect(accepted.links.self).toContain(`/v1/cases/${accepted.caseId}`);
    const requestId = res.headers.get('x-request-id');
    expect(requestId).toBeTruthy();

    // …the workflow reads the record, evaluates family-medicine-2015 and routes to the signature queue…
    const c = await h.waitForCase(accepted.caseId, (x) => x.status === 'queued');
    expect(c.disposition).toBe('approve');
    expect(c.queue).toBe('signature');
    expect(c.protocol).toEqual({ id: 'family-medicine-2015', version: 1 });
    const visit = c.criteria.find((k) => k.id === 'visit_within_18mo');
    expect(visit?.passed).toBe(true);
    expect(visit?.evidence[0]?.resourceType).toBe('Encounter');
    expect(c.failedCriteria).toEqual([]);

    // …and the renewal is pended in the EHR: a draft order (not actionable until signed) based on the proposal,
    // which stays open.
    const order = orderFor(c.caseId);
    expect(order?.status).toBe('draft');
    expect(order?.intent).toBe('order');
    expect(order?.requester).toBeUndefined();
    expect(order?.basedOn?.[0]?.reference).toBe(`MedicationRequest/${s.medicationRequestId}`);
    expect(proposal(s.medicationRequestId)?.status).not.toBe('completed');
    const [task] = tasksFor(c.caseId);
    expect(task?.businessStatus?.text).toBe('awaiting-signature');
    expect(task?.focus?.reference).toBe(`MedicationRequest/${s.medicationRequestId}`);

    // The webhook's request id travelled into every FHIR call the workflow made for it.
    expect(h.sandbox.requests.filter((r) => r.requestId === requestId).length).toBeGreaterThanOrEqual(3);

    // A nurse cannot sign; a doctor can.
    expect((await decide(c.caseId, 'nurse', { action: 'approve' })).status).toBe(403);
    const signed = await decide(c.caseId, 'doctor', { action: 'approve', note: 'signed' });
    expect(signed.status, await signed.clone().text()).toBe(200);
    const closed = await h.waitForCase(c.caseId, (x) => x.status === 'closed');
    expect(closed.outcome).toBe('approved');
    // The EHR (validating every write against R4) accepted each write-back.
    expect(closed.timeline.filter((e) => e.kind === 'ehr.write_failed')).toEqual([]);
    // The signature activated the draft, with the doctor as requester, and completed the proposal.
    expect(orderFor(c.caseId)).toMatchObject({ id: order?.id, status: 'active', requester: { reference: '#signer' } });
    expect(proposal(s.medicationRequestId)?.status).toBe('completed');
    expect(tasksFor(c.caseId)[0]?.status).toBe('completed');
    expect(tasksFor(c.caseId)).toHaveLength(1);

    // Every step left an audit record.
    const audit = await h.api(`/v1/cases/${c.caseId}/audit`, { as: 'admin' });
    const actions = ((await audit.json()) as { items: { action: string }[] }).items.map((a) => a.action);
    for (const a of [
      'case.created',
      'patient_context.read',
      'protocol.evaluated',
      'case.routed',
      'decision.recorded',
      'ehr.write_back',
      'case.closed',
    ]) {
      expect(actions).toContain(a);
    }
  });
});

describe('cases a human must see', () => {
  test('a needs-visit case reaches the nurse queue with the failed criterion and a nurse decision is written back', async () => {
    const s = h.scenario((x) => x.scenario === 'ppi-no-rov-within-18mo');
    const res = await h.webhook(h.clinicId, subscriptionNotification(s.medicationRequestId));
    expect(res.status, await res.clone().text()).toBe(202);
    const { caseId } = (await res.json()) as { caseId: string };
    const c = await h.waitForCase(caseId, (x) => x.status === 'queued');
    expect(c.queue).toBe('nurse');
    expect(c.disposition).toBe('needs_visit');
    expect(c.failedCriteria).toContain('visit_within_18mo');
    expect(c.bridgeSupply).not.toBeNull();
    expect(tasksFor(caseId)[0]?.businessStatus?.text).toBe('nurse-review');
    expect(tasksFor(caseId)[0]?.restriction?.period?.end).toBeTruthy();

    const queue = await h.api('/v1/queues/nurse/cases', { as: 'nurse' });
    const ids = ((await queue.json()) as { items: { caseId: string }[] }).items.map((i) => i.caseId);
    expect(ids).toContain(caseId);

    const r = await decide(caseId, 'nurse', { action: 'needs_visit', note: 'Bridge sent; appointment booked' });
    expect(r.status, await r.clone().text()).toBe(200);
    const closed = await h.waitForCase(caseId, (x) => x.status === 'closed');
    expect(closed.outcome).toBe('needs_visit');
    expect(closed.timeline.filter((e) => e.kind === 'ehr.write_failed')).toEqual([]);
    // The bridge supply is pended as an order, and the proposal records the visit requirement.
    const order = orderFor(caseId);
    expect(order?.dispenseRequest?.numberOfRepeatsAllowed).toBeDefined();
    expect(proposal(s.medicationRequestId)?.statusReason?.text).toMatch(/visit/i);
    // A second decision on a closed case is refused.
    expect((await decide(caseId, 'nurse', { action: 'approve' })).status).toBe(409);
  });

  test('a doctor-only case refuses a nurse (403) and takes a doctor’s denial', async () => {
    const s = h.scenario((x) => x.scenario === 'clopidogrel-task-to-provider');
    const { caseId } = (await (await h.webhook(h.clinicId, refillEvent(s.medicationRequestId))).json()) as {
      caseId: string;
    };
    const c = await h.waitForCase(caseId, (x) => x.status === 'queued');
    expect(c.queue).toBe('doctor');
    expect(c.disposition).toBe('doctor_review');
    expect(c.failedCriteria).toContain('clopidogrel_provider_each_time');
    const nurse = await decide(caseId, 'nurse', { action: 'approve' });
    expect(nurse.status).toBe(403);
    const admin = await decide(caseId, 'admin', { action: 'approve' });
    expect(admin.status).toBe(403);
    const doctor = await decide(caseId, 'doctor', {
      action: 'deny',
      note: 'Stop clopidogrel',
      decisionId: 'dec-clopi-0001',
    });
    expect(doctor.status, await doctor.clone().text()).toBe(200);
    // A retried request with the same decisionId is deduplicated by the Update id…
    const retry = await decide(caseId, 'doctor', {
      action: 'deny',
      note: 'Stop clopidogrel',
      decisionId: 'dec-clopi-0001',
    });
    expect([200, 409]).toContain(retry.status);
    const closed = await h.waitForCase(caseId, (x) => x.status === 'closed');
    expect(closed.outcome).toBe('denied');
    expect(proposal(s.medicationRequestId)?.status).toBe('cancelled');
    expect(orderFor(caseId)).toBeUndefined();
    // …and only one decision is on the timeline.
    expect(closed.timeline.filter((e) => e.kind === 'decision.received')).toHaveLength(1);
  });

  test('warfarin goes to the Protime nurse pool', async () => {
    const s = h.scenario((x) => x.scenario === 'warfarin-to-protime-nurse');
    const { caseId } = (await (await h.webhook(h.clinicId, refillEvent(s.medicationRequestId))).json()) as {
      caseId: string;
    };
    const c = await h.waitForCase(caseId, (x) => x.status === 'queued');
    expect(c.queue).toBe('nurse');
    expect(c.pool).toBe('protime_nurse_pool');
    expect(c.disposition).toBe('nurse_review');
    const pool = await h.api('/v1/queues/nurse/cases?pool=protime_nurse_pool', { as: 'nurse' });
    expect(((await pool.json()) as { items: { caseId: string }[] }).items.map((i) => i.caseId)).toContain(caseId);
  });
});

describe('intake faults', () => {
  test('a redelivered webhook (even concurrent, in both body forms) returns the same case and starts nothing new', async () => {
    const s = h.scenario((x) => x.scenario === 'antiviral-rov-within-18mo');
    const responses = await Promise.all([
      h.webhook(h.clinicId, refillEvent(s.medicationRequestId)),
      h.webhook(h.clinicId, refillEvent(s.medicationRequestId)),
      h.webhook(h.clinicId, subscriptionNotification(s.medicationRequestId)),
    ]);
    const ids = await Promise.all(responses.map(async (r) => ((await r.json()) as { caseId: string }).caseId));
    expect(responses.map((r) => r.status)).toEqual([202, 202, 202]);
    expect(new Set(ids).size).toBe(1);
    const c = await h.waitForCase(ids[0]!, (x) => x.status === 'queued');
    const again = await h.webhook(h.clinicId, refillEvent(s.medicationRequestId));
    expect(((await again.json()) as { caseId: string; status: string }).status).toBe('queued');
    expect(c.timeline.filter((e) => e.kind === 'case.received')).toHaveLength(1);
    expect(c.timeline.filter((e) => e.kind === 'case.triaging')).toHaveLength(1);
  });

  test('a forged signature is 401, a stale timestamp is 401, an unknown clinic is 401 too', async () => {
    const body = refillEvent('mr-0001-req');
    expect((await h.webhook(h.clinicId, body, { secret: 'not-the-secret-000000000' })).status).toBe(401);
    expect((await h.webhook(h.clinicId, body, { timestamp: Math.floor(Date.now() / 1000) - 301 })).status).toBe(401);
    // A body changed after signing: the signature covers the raw bytes.
    const ts = Math.floor(Date.now() / 1000);
    const tampered = await h.app.request(`/v1/webhooks/${h.clinicId}/refill-requests`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-autopilot-timestamp': String(ts),
        'x-autopilot-signature': signWebhook(WEBHOOK_SECRET, ts, JSON.stringify(body)),
      },
      body: JSON.stringify(refillEvent('mr-0002-req')),
    });
    expect(tampered.status).toBe(401);
    expect((await h.webhook(h.clinicId, body, { timestamp: Math.floor(Date.now() / 1000) + 3600 })).status).toBe(401);
    // An unknown clinic is answered like a bad signature, so clinic ids cannot be enumerated.
    expect((await h.webhook('no-such-clinic', body)).status).toBe(401);
  });

  test('a malformed body is 400 with the JSON path of the problem, and nothing is recorded', async () => {
    const res = await h.webhook(h.clinicId, {
      type: 'refill.requested',
      id: 'evt-x',
      medicationRequest: 'Patient/123',
    });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: { code: string; issues: { path: string }[] } };
    expect(body.error.code).toBe('INVALID_INPUT');
    expect(body.error.issues[0]?.path).toBe('$.medicationRequest');
    const bundle = subscriptionNotification('mr-0002-req') as { entry: { resource: { parameter: unknown[] } }[] };
    bundle.entry[0]!.resource.parameter = [];
    const res2 = await h.webhook(h.clinicId, bundle);
    expect(res2.status).toBe(400);
    expect(((await res2.json()) as { error: { issues: { path: string }[] } }).error.issues[0]?.path).toBe(
      '$.entry[0].resource.parameter',
    );
    const res3 = await h.webhook(h.clinicId, null, { raw: '{"type": "refill.requested",' });
    expect(res3.status).toBe(400);
    expect(await h.store.cases.getCase(refillCaseId(h.clinicId, 'mr-0002-req'))).toBeNull();
  });
});

describe('EHR faults', () => {
  test('a burst of 503s is retried with backoff and the case completes triage', async () => {
    const s = h.scenario((x) => x.scenario === 'dabigatran-visit-within-12mo');
    h.sandbox.injectFaults({ status: 503, count: 4 });
    const { caseId } = (await (await h.webhook(h.clinicId, refillEvent(s.medicationRequestId))).json()) as {
      caseId: string;
    };
    const c = await h.waitForCase(caseId, (x) => x.status === 'queued');
    expect(c.disposition).toBe('approve');
    expect(h.sandbox.requests.filter((r) => r.status === 503).length).toBeGreaterThanOrEqual(4);
  });

  test('an EHR that refuses the read for good (403) routes the case to a nurse: the case is never lost', async () => {
    const s = h.scenarios.filter((x) => x.expectedDisposition === 'approve').at(-4)!;
    h.sandbox.injectFaults({ status: 403, count: 1 });
    const { caseId } = (await (await h.webhook(h.clinicId, refillEvent(s.medicationRequestId))).json()) as {
      caseId: string;
    };
    const c = await h.waitForCase(caseId, (x) => x.status === 'queued');
    expect(c.queue).toBe('nurse');
    expect(c.reason).toBe('ehr_unavailable');
    expect(c.disposition).toBeNull();
  });

  test('an EHR that answers 404 for the refill request routes the case to a nurse with that reason', async () => {
    const { caseId } = (await (await h.webhook(h.clinicId, refillEvent('mr-does-not-exist'))).json()) as {
      caseId: string;
    };
    const c = await h.waitForCase(caseId, (x) => x.status === 'queued');
    expect(c.queue).toBe('nurse');
    expect(c.reason).toBe('ehr_record_not_found');
    expect(c.disposition).toBeNull();
  });
});

describe('the EHR tried first in the worker', () => {
  const approvals = () => h.scenarios.filter((x) => x.expectedDisposition === 'approve');
  /** The case's history, by event type: how many of each, and the durable activities' types. */
  async function historyOf(caseId: string) {
    const temporal = await createTemporalClient(h.config);
    try {
      const { events } = await temporal.client.workflow.getHandle(caseId).fetchHistory();
      const count = (type: string) => (events ?? []).filter((e) => e[type as keyof typeof e] != null).length;
      const activities = (events ?? []).flatMap((e) =>
        e.activityTaskScheduledEventAttributes?.activityType?.name
          ? [e.activityTaskScheduledEventAttributes.activityType.name]
          : [],
      );
      return { count, activities };
    } finally {
      await temporal.close();
    }
  }

  test('a triage whose EHR answers is one workflow task and one local activity: the read, then the routing writes and their projection', async () => {
    const s = approvals().at(-1)!;
    const res = await h.webhook(h.clinicId, refillEvent(s.medicationRequestId));
    const { caseId } = (await res.json()) as { caseId: string };
    const requestId = res.headers.get('x-request-id');
    const c = await h.waitForCase(caseId, (x) => x.status === 'queued');
    expect(c.queue).toBe('signature');
    expect(orderFor(caseId)?.status).toBe('draft');
    expect(tasksFor(caseId)).toHaveLength(1);
    // The proposal stays open, with the note pointing at the draft (written from the triage's read, version-aware).
    expect(proposal(s.medicationRequestId)?.note?.map((n) => n.text)).toContain(
      `Pended as draft MedicationRequest/${orderFor(caseId)?.id} for signature (protocol family-medicine-2015 v1).`,
    );
    const history = await historyOf(caseId);
    expect(history.activities).toEqual([]);
    expect(history.count('workflowTaskCompletedEventAttributes')).toBe(1);
    // The patch marker and triageFirst (triaging, pins, the read and the decision, then the order, the Task and the
    // routed projection).
    expect(history.count('markerRecordedEventAttributes')).toBe(2);
    // The EHR, for this case (past the connection's discovery and token): the request and the patient's context read
    // (two round trips: this plain event does not name the patient), then the order (a conditional create), the
    // proposal's note and the Task (a conditional create), at the same time; the proposal is not read a second time.
    const calls = h.sandbox.requests
      .filter((r) => r.requestId === requestId && r.path.includes('/R4') && !r.path.endsWith('/metadata'))
      .map((r) => `${r.method} ${r.path.replace(/^.*\/R4/, '')}`);
    expect(calls.slice(0, 2)).toEqual([`GET /MedicationRequest/${s.medicationRequestId}`, 'POST ']);
    expect(calls.slice(2).sort()).toEqual(
      ['POST /MedicationRequest', `PUT /MedicationRequest/${s.medicationRequestId}`, 'POST /Task'].sort(),
    );
    // Each write left its audit row, with the routing's, in one transaction.
    const audit = await h.api(`/v1/cases/${caseId}/audit`, { as: 'admin' });
    const actions = ((await audit.json()) as { items: { action: string }[] }).items.map((a) => a.action);
    expect(actions).toEqual(expect.arrayContaining(['ehr.write_back', 'ehr.task_synced', 'case.routed']));
  });

  test('an EHR failing the quick tries hands the read to the durable activity, and the case still triages', async () => {
    const s = approvals().at(-2)!;
    h.sandbox.injectFaults({ status: 503, count: 2 });
    const { caseId } = (await (await h.webhook(h.clinicId, refillEvent(s.medicationRequestId))).json()) as {
      caseId: string;
    };
    const c = await h.waitForCase(caseId, (x) => x.status === 'queued');
    expect(c.disposition).toBe('approve');
    expect(c.queue).toBe('signature');
    const history = await historyOf(caseId);
    // The first try met a 503 and the durable read another, then succeeded on its retry; the routing writes went
    // first-try again.
    expect(history.activities).toEqual(['triageRequest']);
    expect(tasksFor(caseId)).toHaveLength(1);
  });

  test('once a case is in a queue, a clinician’s decision is written back by durable activities', async () => {
    const s = approvals().at(-3)!;
    const { caseId } = (await (await h.webhook(h.clinicId, refillEvent(s.medicationRequestId))).json()) as {
      caseId: string;
    };
    await h.waitForCase(caseId, (x) => x.status === 'queued');
    const res = await decide(caseId, 'doctor', { decisionId: `dec-first-try-${caseId}`, action: 'approve' });
    expect(res.status, await res.clone().text()).toBeLessThan(300);
    await h.waitForCase(caseId, (x) => x.status === 'closed');
    const history = await historyOf(caseId);
    expect(history.activities.sort()).toEqual(['syncQueueTask', 'writeBackOutcome']);
  });
});
