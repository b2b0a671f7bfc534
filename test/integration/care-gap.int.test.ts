// Care gaps end to end: events signalled to the patient's careGap workflow on the real Temporal dev server, the
// worker's activities reading and writing the sandbox EHR (SMART auth on), the case served by the API. Outreach timers
// run on short protocol "days" (daySeconds), the day counts coming from the protocol's outreach section.
import type { CommunicationRequest, Observation, Patient, Resource, ServiceRequest, Task } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  CARE_GAP_COMMUNICATION_SYSTEM,
  CARE_GAP_ORDER_SYSTEM,
  CARE_GAP_TASK_SYSTEM,
} from '../../activities/kinds/care-gap/writeback.ts';
import { subjectKey } from '../../connectors/subject-key.ts';
import { CARE_GAP_BUILTINS } from '../../rules/kinds/care-gap/index.ts';
import { canTakeAction } from '../../rules/lifecycle/index.ts';
import { CARE_GAP_ACTIONS, type CareGapEvent, type CareGapInput } from '../../workflows/care-gap-messages.ts';
import { careGapCaseId } from '../../activities/kinds/care-gap/triggers.ts';
import { startHarness, TEST_POLICY, type CaseBody, type Harness } from '../helpers/harness.ts';
import { createTestClient } from '../helpers/temporal.ts';

const PROTOCOL = 'crc-screening-2021';
const today = new Date().toISOString().slice(0, 10);

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ patients: 4 });
  // The built-in care-gap protocol, published as `npm start` publishes it (if the seed did not already).
  if (!(await h.store.protocols.getPublished(PROTOCOL))) {
    const builtin = CARE_GAP_BUILTINS.find((p) => p.id === PROTOCOL)!;
    await h.store.protocols.create({ id: PROTOCOL, title: builtin.title });
    const draft = await h.store.protocols.createDraft({ protocolId: PROTOCOL, definition: builtin, by: 'system' });
    await h.store.protocols.publish({ protocolId: PROTOCOL, version: draft.version, by: 'system' });
  }
});
afterAll(async () => {
  await h?.close();
});

function yearsAgo(n: number, days = 0): string {
  const d = new Date();
  d.setUTCFullYear(d.getUTCFullYear() - n);
  d.setUTCDate(d.getUTCDate() - days);
  return d.toISOString().slice(0, 10);
}
function daysAgo(n: number): string {
  return new Date(Date.now() - n * 86_400_000).toISOString().slice(0, 10);
}

let patients = 0;
/** A reachable patient of `age` in the sandbox EHR, with `extra` resources of their record. */
function aPatient(age: number, extra: (id: string) => Resource[] = () => []): string {
  patients += 1;
  const id = `cg-pat-${patients}-${Math.random().toString(36).slice(2, 8)}`;
  const patient: Patient = {
    resourceType: 'Patient',
    id,
    birthDate: yearsAgo(age, 30),
    address: [{ line: ['1 Main St'], city: 'Springfield', postalCode: '12345' }],
    telecom: [{ system: 'phone', value: '555-0100' }],
  };
  for (const r of [patient, ...extra(id)]) h.sandbox.repo.update(r);
  return id;
}
let results = 0;
function fitResult(patientId: string, result: 'NEG' | 'POS', date = today): Observation {
  results += 1;
  return {
    resourceType: 'Observation',
    id: `fit-${results}-${result}`,
    status: 'final',
    code: { coding: [{ system: 'http://loinc.org', code: '29771-3' }] },
    subject: { reference: `Patient/${patientId}` },
    effectiveDateTime: date,
    interpretation: [
      { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation', code: result }] },
    ],
  };
}

function caseIdOf(patientId: string): string {
  return careGapCaseId(h.clinicId, PROTOCOL, subjectKey(h.config, h.clinicId, patientId));
}
function inputFor(patientId: string, extra: Partial<CareGapInput> = {}): CareGapInput {
  return {
    caseId: caseIdOf(patientId),
    clinicId: h.clinicId,
    protocolId: PROTOCOL,
    patientId,
    requestId: `req-${patientId}`,
    policy: TEST_POLICY,
    ...extra,
  };
}
let events = 0;
async function signal(input: CareGapInput, type: CareGapEvent['type'], extra: Partial<CareGapEvent> = {}) {
  events += 1;
  const event: CareGapEvent = { type, eventId: `evt-${events}`, at: new Date().toISOString(), ...extra };
  const r = await h.deps.workflows.signalPatientCase!('careGap', input, event);
  expect(r.caseId).toBe(input.caseId);
  return event;
}
const act = (caseId: string, as: 'nurse' | 'doctor', body: Record<string, unknown>) =>
  h.api(`/v1/cases/${caseId}/actions`, { method: 'POST', as, body: JSON.stringify(body) });

function byIdentifier<T extends Resource>(type: T['resourceType'], system: string, value: string): T[] {
  return (h.sandbox.repo.search(type, new URLSearchParams({ identifier: `${system}|${value}` })).entry ?? []).map(
    (e) => e.resource as T,
  );
}
function ordersOf(caseId: string): ServiceRequest[] {
  return (h.sandbox.repo.search('ServiceRequest', new URLSearchParams({ _count: '1000' })).entry ?? [])
    .map((e) => e.resource as ServiceRequest)
    .filter((r) => r.identifier?.some((i) => i.system === CARE_GAP_ORDER_SYSTEM && i.value?.startsWith(caseId)));
}
function communicationsOf(caseId: string): CommunicationRequest[] {
  return (h.sandbox.repo.search('CommunicationRequest', new URLSearchParams({ _count: '1000' })).entry ?? [])
    .map((e) => e.resource as CommunicationRequest)
    .filter((r) =>
      r.identifier?.some((i) => i.system === CARE_GAP_COMMUNICATION_SYSTEM && i.value?.startsWith(caseId)),
    );
}
const taskOf = (caseId: string) => byIdentifier<Task>('Task', CARE_GAP_TASK_SYSTEM, caseId)[0];

describe('a due patient books a visit', () => {
  test('outreach (draft FIT order, letter, outreach item + Task) → a doctor signs → a negative FIT closes the gap', async () => {
    const patientId = aPatient(55);
    const input = inputFor(patientId);
    // First, the EHR says a visit was booked: the patient's care gap starts by signal-with-start…
    await signal(input, 'appointment.booked', { resource: 'Appointment/appt-1' });
    const c = await h.waitForCase(input.caseId, (x) => x.status === 'queued');
    // …the protocol finds screening due (CRC-17): the outreach queue tracks it.
    expect(c).toMatchObject({ kind: 'care-gap', disposition: 'outreach', clause: 'CRC-17', queue: 'outreach' });
    expect(c.protocol).toEqual({ id: PROTOCOL, version: expect.any(Number) as number });
    expect(c.medicationRequestId).toBeNull();
    expect(input.caseId).not.toContain(patientId);
    expect((c.reasons as { id: string }[]).map((r) => r.id)).toEqual(['screening_due']);
    expect((c.clauses as unknown[]).length).toBe(18);

    // The FIT order is pended as a draft, never active by the protocol alone.
    const [order] = ordersOf(input.caseId);
    expect(order).toMatchObject({
      status: 'draft',
      intent: 'order',
      subject: { reference: `Patient/${patientId}` },
      code: { coding: [{ system: 'http://loinc.org', code: '29771-3' }] },
      reasonCode: [{ coding: [{ system: 'http://hl7.org/fhir/sid/icd-10-cm', code: 'Z12.11' }] }],
    });
    // Day 0: the introductory letter, a CommunicationRequest (category reminder) about the patient and the order.
    const [letter] = communicationsOf(input.caseId);
    expect(letter?.category?.[0]?.coding?.[0]?.code).toBe('reminder');
    expect(letter?.subject?.reference).toBe(`Patient/${patientId}`);
    expect(letter?.about?.[0]?.reference).toBe(`ServiceRequest/${order!.id}`);
    // The item is mirrored as a Task; the outreach queue lists it, as a care gap.
    expect(taskOf(input.caseId)).toMatchObject({ status: 'requested', businessStatus: { text: 'outreach' } });
    const list = (await (await h.api('/v1/queues/outreach/cases', { as: 'nurse' })).json()) as {
      items: { caseId: string; kind: string; priority: string }[];
    };
    expect(list.items.find((i) => i.caseId === input.caseId)).toMatchObject({ kind: 'care-gap', priority: 'routine' });

    // A nurse cannot sign; a doctor signs: the order goes active and the kit is mailed.
    expect((await act(input.caseId, 'nurse', { action: 'sign_order' })).status).toBe(403);
    const signed = await act(input.caseId, 'doctor', { action: 'sign_order', actionId: 'sign-0001' });
    expect(signed.status, await signed.clone().text()).toBe(200);
    await h.waitForCase(input.caseId, (x) => x.timeline.some((e) => e.kind === 'outreach.kit_mailed'));
    expect(ordersOf(input.caseId)[0]?.status).toBe('active');
    expect(communicationsOf(input.caseId)).toHaveLength(2);

    // Then the lab posts a negative FIT: the result closes the gap, due again in 12 months.
    const negative = h.sandbox.repo.update(fitResult(patientId, 'NEG')).resource;
    const resultEvent = await signal(input, 'result.available', { resource: `Observation/${negative.id}` });
    const closed = await h.waitForCase(input.caseId, (x) => x.status === 'closed');
    const inAYear = new Date();
    inAYear.setUTCFullYear(inAYear.getUTCFullYear() + 1);
    expect(closed).toMatchObject({
      disposition: 'gap_closed',
      clause: 'CRC-10',
      queue: null,
      outcome: 'gap_closed',
      nextDueDate: inAYear.toISOString().slice(0, 10),
    });
    expect(closed.dueAt).toBe(`${inAYear.toISOString().slice(0, 10)}T00:00:00.000Z`);
    expect(ordersOf(input.caseId)[0]?.status).toBe('completed');
    expect(taskOf(input.caseId)).toMatchObject({ status: 'completed' });

    // A redelivered event is handled once; a new event re-evaluates but writes nothing twice.
    const before = closed.timeline.length;
    await h.deps.workflows.signalPatientCase!('careGap', input, resultEvent);
    await signal(input, 'panel.sweep');
    const again = await h.waitForCase(input.caseId, (x) => x.timeline.length > before && x.status === 'closed');
    expect(again.timeline.filter((e) => e.detail.eventId === resultEvent.eventId)).toHaveLength(1);
    expect(again.timeline.filter((e) => e.detail.trigger === 'panel.sweep')).toHaveLength(1);
    expect(ordersOf(input.caseId)).toHaveLength(1);
    expect(communicationsOf(input.caseId)).toHaveLength(2);
    expect(
      h.sandbox.repo.search('Task', new URLSearchParams({ identifier: `${CARE_GAP_TASK_SYSTEM}|${input.caseId}` }))
        .entry,
    ).toHaveLength(1);

    // Every read of the patient's record by the worker was audited; the timeline carries no patient id.
    const audit = await h.store.audit.listAudit({ caseId: input.caseId, limit: 500 });
    expect(audit.items.filter((a) => a.action === 'patient_context.read').length).toBeGreaterThanOrEqual(3);
    expect(audit.items.filter((a) => a.action === 'ehr.write_back').length).toBeGreaterThanOrEqual(4);
    expect(JSON.stringify(again.timeline)).not.toContain(patientId);
  });
});

describe('a positive stool test', () => {
  test('is CRC-8: an urgent doctor item in gi_followup with a draft GI referral, signed by the doctor', async () => {
    let positive: Observation | undefined;
    const patientId = aPatient(60, (id) => [(positive = fitResult(id, 'POS', daysAgo(20)))]);
    const input = inputFor(patientId);
    await signal(input, 'result.available', { resource: `Observation/${positive!.id}` });
    const c = await h.waitForCase(input.caseId, (x) => x.status === 'queued');
    expect(c).toMatchObject({
      kind: 'care-gap',
      disposition: 'doctor_review',
      clause: 'CRC-8',
      queue: 'doctor',
      pool: 'gi_followup',
      priority: 'urgent',
    });
    const [referral] = ordersOf(input.caseId);
    expect(referral).toMatchObject({
      status: 'draft',
      intent: 'order',
      code: { coding: [{ system: 'http://snomed.info/sct', code: '306182006' }] },
      reasonReference: [{ reference: `Observation/${positive!.id}` }],
    });
    expect(taskOf(input.caseId)).toMatchObject({
      status: 'requested',
      priority: 'urgent',
      focus: { reference: `ServiceRequest/${referral!.id}` },
    });
    // No FIT outreach for a positive test: nothing mailed.
    expect(communicationsOf(input.caseId)).toEqual([]);
    // Doctor-queue items are the doctor's; a nurse is refused, a doctor signs the referral.
    expect((await act(input.caseId, 'nurse', { action: 'escalate' })).status).toBe(403);
    expect((await act(input.caseId, 'doctor', { action: 'sign_order' })).status).toBe(200);
    const closed = await h.waitForCase(input.caseId, (x) => x.status === 'closed');
    expect(closed.outcome).toBe('referred');
    expect(ordersOf(input.caseId)[0]?.status).toBe('active');
    expect(taskOf(input.caseId)?.status).toBe('completed');
  });
});

describe('the outreach sequence on durable timers', () => {
  test('day 28 reminder, day 56 nurse call, day 90 closed as not returned (order revoked)', async () => {
    const patientId = aPatient(50);
    // One protocol "day" is 0.1 s here: reminder at 2.8 s, call at 5.6 s, close at 9 s.
    const input = inputFor(patientId, { daySeconds: 0.1 });
    await signal(input, 'appointment.booked');
    await h.waitForCase(input.caseId, (x) => x.queue === 'outreach');
    const reminded = await h.waitForCase(
      input.caseId,
      (x) => x.timeline.some((e) => e.kind === 'outreach.reminder_sent'),
      20_000,
    );
    expect(reminded.queue).toBe('outreach');
    expect(communicationsOf(input.caseId).map((r) => r.identifier?.[0]?.value?.split(':').at(-1))).toEqual([
      'letter',
      'reminder',
    ]);
    const call = await h.waitForCase(input.caseId, (x) => x.queue === 'nurse', 20_000);
    expect(call).toMatchObject({ pool: 'screening_outreach', reason: 'follow_up_due', status: 'queued' });
    expect(taskOf(input.caseId)?.businessStatus?.text).toBe('kit-not-returned-call');
    const closed = await h.waitForCase(input.caseId, (x) => x.status === 'closed', 20_000);
    expect(closed.outcome).toBe('not_returned');
    expect(ordersOf(input.caseId)[0]?.status).toBe('revoked');
    expect(taskOf(input.caseId)?.status).toBe('cancelled');
    // The next sweep does not restart the outreach before restartAfterMonths: no new order, still closed.
    const before = closed.timeline.length;
    await signal(input, 'panel.sweep');
    const swept = await h.waitForCase(input.caseId, (x) => x.timeline.length > before && x.status === 'closed');
    expect(swept.outcome).toBe('outreach_not_returned');
    expect(ordersOf(input.caseId)).toHaveLength(1);
  });
});

describe('history stays bounded', () => {
  test('continue-as-new keeps the same case (same workflow id, state carried, timeline continuous)', async () => {
    const patientId = aPatient(52);
    const input = inputFor(patientId, { maxStepsPerRun: 2 });
    const temporal = await createTestClient(h.config);
    try {
      await signal(input, 'appointment.booked');
      await h.waitForCase(input.caseId, (x) => x.queue === 'outreach');
      const first = await temporal.client.workflow.getHandle(input.caseId).describe();
      await signal(input, 'panel.sweep');
      await signal(input, 'panel.sweep');
      await signal(input, 'panel.sweep');
      const c: CaseBody = await h.waitForCase(
        input.caseId,
        (x) => x.timeline.filter((e) => e.detail.trigger === 'panel.sweep').length === 3,
      );
      const now = await temporal.client.workflow.getHandle(input.caseId).describe();
      // A new run of the same workflow id: continue-as-new happened, the case is the same one.
      expect(now.runId).not.toBe(first.runId);
      expect(now.status.name).toBe('RUNNING');
      expect(c.caseId).toBe(input.caseId);
      expect(c.queue).toBe('outreach');
      expect(c.timeline.map((e) => e.seq)).toEqual(c.timeline.map((_, i) => i + 1));
      // The outreach carried over: still one order, one letter.
      expect(ordersOf(input.caseId)).toHaveLength(1);
      expect(communicationsOf(input.caseId)).toHaveLength(1);
    } finally {
      await temporal.close();
    }
  });
});

describe('clinician actions (Temporal Updates with validators)', () => {
  test('escalate, snooze, re-open, decline: each moves the case and the EHR as the lifecycle says', async () => {
    const patientId = aPatient(58);
    const input = inputFor(patientId);
    await signal(input, 'appointment.booked');
    await h.waitForCase(input.caseId, (x) => x.queue === 'outreach');

    // The workflow's own validator refuses what the lifecycle forbids, typed (the API precheck is bypassed here).
    await expect(
      h.deps.workflows.submitKindAction!(input.caseId, 'careGap', {
        actionId: 'direct-0001',
        action: 'sign_order',
        actor: { userId: 'nurse-1', role: 'nurse' },
        at: new Date().toISOString(),
      }),
    ).rejects.toMatchObject({ code: 'FORBIDDEN' });

    // A nurse escalates the outreach item to her queue, then to the doctor queue.
    expect((await act(input.caseId, 'nurse', { action: 'escalate' })).status).toBe(200);
    await h.waitForCase(input.caseId, (x) => x.queue === 'nurse');
    expect((await act(input.caseId, 'nurse', { action: 'escalate' })).status).toBe(200);
    const atDoctor = await h.waitForCase(input.caseId, (x) => x.queue === 'doctor');
    expect(atDoctor.escalated).toBe(true);
    expect(taskOf(input.caseId)?.businessStatus?.text).toBe('doctor-review');

    // The doctor snoozes it until tomorrow: it leaves the queue, the outreach stops (its draft revoked).
    const tomorrow = new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);
    expect((await act(input.caseId, 'doctor', { action: 'snooze', until: tomorrow })).status).toBe(200);
    const snoozed = await h.waitForCase(input.caseId, (x) => x.status === 'closed');
    expect(snoozed).toMatchObject({ outcome: 'snoozed', queue: null, dueAt: `${tomorrow}T00:00:00.000Z` });
    expect(ordersOf(input.caseId).map((o) => o.status)).toEqual(['revoked']);
    expect(taskOf(input.caseId)?.status).toBe('cancelled');
    // A closed case takes no action.
    expect((await act(input.caseId, 'doctor', { action: 'escalate' })).status).toBe(409);

    // The weekly sweep leaves a snoozed case alone until its date…
    const sweep = await signal(input, 'panel.sweep');
    await new Promise((r) => setTimeout(r, 500));
    const still = await h.waitForCase(input.caseId, (x) => x.status === 'closed');
    expect(still.timeline.some((e) => e.detail.eventId === sweep.eventId)).toBe(false);
    // …a booked visit re-opens it: a new gap episode, a new draft order (the revoked one stays revoked).
    await signal(input, 'appointment.booked');
    await h.waitForCase(input.caseId, (x) => x.queue === 'outreach');
    expect(
      ordersOf(input.caseId)
        .map((o) => o.status)
        .sort(),
    ).toEqual(['draft', 'revoked']);

    // The patient declines: recorded in the EHR as a refused procedure, which the protocol then reads (CRC-15).
    expect((await act(input.caseId, 'nurse', { action: 'record_decline' })).status).toBe(200);
    const declined = await h.waitForCase(input.caseId, (x) => x.status === 'closed');
    expect(declined.outcome).toBe('declined');
    const refusals = (h.sandbox.repo.search('Procedure', new URLSearchParams({ patient: patientId })).entry ?? []).map(
      (e) => e.resource as { status: string; statusReason?: { coding?: { code?: string }[] } },
    );
    expect(refusals).toEqual([
      expect.objectContaining({
        status: 'not-done',
        statusReason: { coding: [expect.objectContaining({ code: '183944003' })] },
      }),
    ]);
    await signal(input, 'panel.sweep');
    const suppressed = await h.waitForCase(input.caseId, (x) => x.disposition === 'suppressed');
    expect(suppressed).toMatchObject({ status: 'closed', clause: 'CRC-15' });
    expect(
      ordersOf(input.caseId)
        .map((o) => o.status)
        .sort(),
    ).toEqual(['revoked', 'revoked']);
  });

  test('the API precheck and the workflow validator refuse alike, role × action, on an outreach and a doctor item', async () => {
    const out = inputFor(aPatient(54));
    await signal(out, 'appointment.booked');
    await h.waitForCase(out.caseId, (x) => x.queue === 'outreach');
    const doc = inputFor(aPatient(61, (id) => [fitResult(id, 'POS', daysAgo(10))]));
    await signal(doc, 'result.available');
    await h.waitForCase(doc.caseId, (x) => x.queue === 'doctor');
    const bodies: Record<string, Record<string, unknown>> = {
      sign_order: {},
      record_decline: {},
      done_elsewhere: { date: yearsAgo(1), test: 'colonoscopy' },
      snooze: { until: today },
      escalate: {},
    };
    const STATUS: Record<string, number> = { FORBIDDEN: 403, CONFLICT: 409 };
    let compared = 0;
    for (const [caseId, queue] of [
      [out.caseId, 'outreach'],
      [doc.caseId, 'doctor'],
    ] as const) {
      for (const role of ['admin', 'nurse', 'doctor'] as const) {
        for (const [action, extra] of Object.entries(bodies)) {
          // Only refusals are probed: an accepted action would change the case under the next probe.
          if (canTakeAction(role, { status: 'queued', queue }, action, CARE_GAP_ACTIONS).ok) continue;
          const viaApi = await h.api(`/v1/cases/${caseId}/actions`, {
            method: 'POST',
            as: role,
            body: JSON.stringify({ action, ...extra, actionId: `probe-${compared}-api` }),
          });
          expect([403, 409], `${role} ${action}`).toContain(viaApi.status);
          const viaUpdate = await h.deps.workflows.submitKindAction!(caseId, 'careGap', {
            actionId: `probe-${compared}-upd`,
            action,
            ...(extra as object),
            actor: { userId: `${role}-1`, role },
            at: new Date().toISOString(),
          }).then(
            () => 200,
            (err: { code?: string }) => STATUS[err.code ?? ''] ?? 500,
          );
          expect(viaUpdate, `${caseId.slice(0, 20)} ${role} ${action}`).toBe(viaApi.status);
          compared += 1;
        }
      }
    }
    expect(compared).toBe(18);
  });

  test('done elsewhere: the test is recorded, the outreach cancelled, and data closes the gap', async () => {
    const patientId = aPatient(62);
    const input = inputFor(patientId);
    await signal(input, 'appointment.booked');
    await h.waitForCase(input.caseId, (x) => x.queue === 'outreach');
    // Bad input is a 400 naming the field; the case is untouched.
    const bad = await act(input.caseId, 'nurse', { action: 'done_elsewhere', test: 'colonoscopy' });
    expect(bad.status).toBe(400);
    expect(await bad.text()).toContain('date');
    const when = yearsAgo(2);
    const ok = await act(input.caseId, 'nurse', { action: 'done_elsewhere', date: when, test: 'colonoscopy' });
    expect(ok.status, await ok.clone().text()).toBe(200);
    const closed = await h.waitForCase(input.caseId, (x) => x.status === 'closed');
    const due = new Date(`${when}T00:00:00Z`);
    due.setUTCFullYear(due.getUTCFullYear() + 10);
    expect(closed).toMatchObject({
      disposition: 'gap_closed',
      clause: 'CRC-10',
      nextDueDate: due.toISOString().slice(0, 10),
    });
    expect(ordersOf(input.caseId).map((o) => o.status)).toEqual(['revoked']);
    const colonoscopies = h.sandbox.repo.search('Procedure', new URLSearchParams({ patient: patientId })).entry ?? [];
    expect(colonoscopies.map((e) => (e.resource as { status: string }).status)).toEqual(['completed']);
  });

  test('a colonoscopy done elsewhere arriving as data cancels the outreach and closes the gap', async () => {
    const patientId = aPatient(64);
    const input = inputFor(patientId);
    await signal(input, 'appointment.booked');
    await h.waitForCase(input.caseId, (x) => x.queue === 'outreach');
    // The outside report reaches the EHR and the EHR says so: no clinician involved.
    const when = daysAgo(30);
    h.sandbox.repo.update({
      resourceType: 'Procedure',
      id: `colo-${patientId.slice(-6)}`,
      status: 'completed',
      code: { coding: [{ system: 'http://www.ama-assn.org/go/cpt', code: '45378' }] },
      subject: { reference: `Patient/${patientId}` },
      performedDateTime: when,
    });
    await signal(input, 'result.available', { resource: `Procedure/colo-${patientId.slice(-6)}` });
    const closed = await h.waitForCase(input.caseId, (x) => x.status === 'closed');
    expect(closed).toMatchObject({ disposition: 'gap_closed', clause: 'CRC-10', outcome: 'gap_closed' });
    // The unsigned FIT draft is revoked (no kit went out), the tracking item's Task is completed.
    expect(ordersOf(input.caseId).map((o) => o.status)).toEqual(['revoked']);
    expect(taskOf(input.caseId)?.status).toBe('completed');
  });

  test('a refill case takes decisions, not actions', async () => {
    const s = h.scenarios[0]!;
    const res = await h.webhook(h.clinicId, {
      type: 'refill.requested',
      id: 'evt-rf-1',
      medicationRequest: `MedicationRequest/${s.medicationRequestId}`,
    });
    const { caseId } = (await res.json()) as { caseId: string };
    const c = await h.waitForCase(caseId, (x) => x.status === 'queued');
    expect(c.kind).toBe('refill');
    expect((await act(caseId, 'doctor', { action: 'escalate' })).status).toBe(409);
  });

  test('a care-gap case takes actions, not decisions; the gateway reads its state with the Query its kind declares', async () => {
    const input = inputFor(aPatient(58));
    await signal(input, 'appointment.booked');
    await h.waitForCase(input.caseId, (x) => x.queue === 'outreach');
    const state = await h.deps.workflows.getCaseState<{ caseId: string; queue: string | null }>(
      input.caseId,
      'careGap',
    );
    expect(state).toMatchObject({ caseId: input.caseId, queue: 'outreach' });
    await expect(
      h.deps.workflows.submitDecision(input.caseId, 'careGap', {
        decisionId: 'dec-cg-1',
        action: 'approve',
        actor: { userId: 'doctor-1', role: 'doctor' },
        at: new Date().toISOString(),
      }),
    ).rejects.toMatchObject({ code: 'CONFLICT', message: 'This case takes actions, not decisions' });
  });
});

describe('protocol versions (runs last: it publishes a new version)', () => {
  test("an open gap episode keeps its version; a new case takes the clinic's pin, else the live version", async () => {
    const a = inputFor(aPatient(56));
    await signal(a, 'appointment.booked');
    const open = await h.waitForCase(a.caseId, (x) => x.queue === 'outreach');
    const v1 = open.protocol!.version;

    // An admin publishes a new version (same rules): the open episode is not affected…
    const live = (await h.store.protocols.getPublished(PROTOCOL))!;
    const draft = await h.store.protocols.createDraft({
      protocolId: PROTOCOL,
      definition: live.definition,
      by: 'admin-1',
    });
    await h.store.protocols.publish({ protocolId: PROTOCOL, version: draft.version, by: 'admin-1' });
    await signal(a, 'panel.sweep');
    const again = await h.waitForCase(a.caseId, (x) => x.timeline.some((e) => e.detail.trigger === 'panel.sweep'));
    expect(again.protocol?.version).toBe(v1);

    // …a new case runs the live version…
    const b = inputFor(aPatient(57));
    await signal(b, 'appointment.booked');
    expect((await h.waitForCase(b.caseId, (x) => x.status === 'queued')).protocol?.version).toBe(draft.version);

    // …unless the clinic pins a version for the kind.
    await h.store.clinics.updateSettings(h.clinicId, {
      kinds: [{ kind: 'care-gap', enabled: true, protocolId: PROTOCOL, protocolVersion: v1 }],
    });
    const c = inputFor(aPatient(58));
    await signal(c, 'appointment.booked');
    expect((await h.waitForCase(c.caseId, (x) => x.status === 'queued')).protocol?.version).toBe(v1);
  });
});

describe('EHR faults on a care gap', () => {
  test('an EHR that refuses the read for good (403) routes the gap to a nurse: the case is never lost', async () => {
    const patientId = aPatient(57);
    const input = inputFor(patientId);
    h.sandbox.injectFaults({ status: 403, count: 1 });
    await signal(input, 'appointment.booked', { resource: 'Appointment/appt-403' });
    const c = await h.waitForCase(input.caseId, (x) => x.status === 'queued');
    expect(c).toMatchObject({ kind: 'care-gap', queue: 'nurse', reason: 'ehr_unavailable' });
  });
});
