// A lost Subscription notification, end to end (issue 12 §4): the refill webhook sees a gap in the event numbers and
// starts the catch-up workflow on the real Temporal dev server; the worker queries the sandbox EHR for the refill
// requests changed since the last notification seen and starts their cases through the webhook's deduplicated path.
// A late redelivery of a lost notification finds the case the catch-up made. The events webhook the same way: its
// catch-up queries the care-event resources (booked Appointments, results) and starts each event's intake; a batched
// notification's further events start their own intakes.
import type { Appointment, MedicationRequest, Observation } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { signWebhook } from '../../api/middleware/webhook-signature.ts';
import type { SubscriptionAck } from '../../api/subscription-tracking.ts';
import { eventIntakeId } from '../../connectors/care-events.ts';
import { refillCaseId } from '../../rules/kinds/refill/intake.ts';
import { startHarness, WEBHOOK_SECRET, type Harness } from '../helpers/harness.ts';

let h: Harness;
beforeAll(async () => {
  // No skew margin: only what changed after the handshake is "missed" (the seeded record is older).
  h = await startHarness({ patients: 12, env: { SUBSCRIPTION_CATCH_UP_SKEW_SECONDS: '0' } });
});
afterAll(async () => {
  await h?.close();
});

/** An R4 backport notification as the IG's examples shape it (id-only content). */
function notification(type: 'handshake' | 'heartbeat' | 'event-notification', count: number, event?: [number, string]) {
  return {
    resourceType: 'Bundle',
    type: 'history',
    timestamp: new Date().toISOString(),
    entry: [
      {
        fullUrl: 'urn:uuid:1b2c3d4e-0000-4000-8000-000000000001',
        resource: {
          resourceType: 'Parameters',
          parameter: [
            { name: 'subscription', valueReference: { reference: 'Subscription/refill-requests' } },
            { name: 'topic', valueCanonical: 'http://example.org/fhir/SubscriptionTopic/refill-request' },
            { name: 'status', valueCode: type === 'handshake' ? 'requested' : 'active' },
            { name: 'type', valueCode: type },
            { name: 'events-since-subscription-start', valueString: String(count) },
            ...(event
              ? [
                  {
                    name: 'notification-event',
                    part: [
                      { name: 'event-number', valueString: String(event[0]) },
                      { name: 'focus', valueReference: { reference: `MedicationRequest/${event[1]}` } },
                    ],
                  },
                ]
              : []),
          ],
        },
      },
    ],
  };
}

async function waitFor<T>(what: () => Promise<T | null | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await what();
    if (v) return v;
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('a gap in the event numbers', () => {
  test('starts a catch-up that creates the missed cases; a late redelivery finds the same case', async () => {
    const [a, b, c] = h.scenarios.map((s) => s.medicationRequestId);
    const hs = await h.webhook(h.clinicId, notification('handshake', 0));
    expect(hs.status).toBe(200);
    expect(await h.store.cases.getCase(refillCaseId(h.clinicId, a!))).toBeNull();
    await new Promise((r) => setTimeout(r, 20));
    // Events 1 and 2: the EHR changes two refill requests and its notifications are lost.
    for (const id of [a!, b!]) {
      const mr = h.sandbox.repo.read('MedicationRequest', id) as MedicationRequest;
      h.sandbox.repo.update({ ...mr, note: [{ text: 'pharmacy asked again' }] });
    }
    const mrC = h.sandbox.repo.read('MedicationRequest', c!) as MedicationRequest;
    h.sandbox.repo.update({ ...mrC, note: [{ text: 'pharmacy asked' }] });
    // Event 3 arrives: its own case, and a catch-up for 1 and 2.
    const res = await h.webhook(h.clinicId, notification('event-notification', 3, [3, c!]));
    expect(res.status, await res.clone().text()).toBe(202);
    expect(((await res.json()) as { caseId: string }).caseId).toBe(refillCaseId(h.clinicId, c!));

    for (const id of [a!, b!, c!]) {
      const caseId = refillCaseId(h.clinicId, id);
      const done = await h.waitForCase(caseId, (x) => x.status === 'queued' || x.status === 'closed');
      expect(done.caseId).toBe(caseId);
    }
    // Nothing else changed since the handshake, so nothing else started.
    const others = h.scenarios.slice(3).map((s) => refillCaseId(h.clinicId, s.medicationRequestId));
    for (const id of others) expect(await h.store.cases.getCase(id)).toBeNull();
    // c was both notified and found: one case, one `case.received`.
    const received = (await h.store.cases.listCaseEvents(refillCaseId(h.clinicId, c!))).filter(
      (e) => e.kind === 'case.received',
    );
    expect(received).toHaveLength(1);
    expect(received[0]!.detail).toMatchObject({ form: 'subscription-notification' });
    const caughtUp = (await h.store.cases.listCaseEvents(refillCaseId(h.clinicId, a!))).find(
      (e) => e.kind === 'case.received',
    );
    expect(caughtUp?.detail).toMatchObject({ form: 'subscription-catch-up', medicationRequestId: a });

    // The catch-up is audited with ids only: its page (counts) and what it started (references and case ids).
    const started = await waitFor(async () => {
      const rows = await h.store.audit.listAudit({ clinicId: h.clinicId, action: 'subscription.catch_up_started' });
      return rows.items[0];
    });
    expect((started.detail as { caseIds: string[] }).caseIds.sort()).toEqual(
      [a!, b!, c!].map((id) => refillCaseId(h.clinicId, id)).sort(),
    );

    // Event 1's notification, delivered late after all: the case the catch-up made.
    const late = await h.webhook(h.clinicId, notification('event-notification', 1, [1, a!]));
    expect(late.status).toBe(202);
    expect(((await late.json()) as { caseId: string }).caseId).toBe(refillCaseId(h.clinicId, a!));
    const receivedA = (await h.store.cases.listCaseEvents(refillCaseId(h.clinicId, a!))).filter(
      (e) => e.kind === 'case.received',
    );
    expect(receivedA).toHaveLength(1);

    // A heartbeat at the count: 200, nothing new.
    const hb = await h.webhook(h.clinicId, notification('heartbeat', 3));
    expect(hb.status).toBe(200);
    expect(((await hb.json()) as SubscriptionAck).catchUp).toBeNull();
  });
});

/** An R4 backport notification on the care-events Subscription (id-only content), with its events in one Bundle. */
function careEventNotification(
  type: 'handshake' | 'event-notification',
  count: number,
  events: [number, string][] = [],
  id?: string,
) {
  return {
    resourceType: 'Bundle',
    ...(id ? { id } : {}),
    type: 'history',
    timestamp: new Date().toISOString(),
    entry: [
      {
        fullUrl: 'urn:uuid:1b2c3d4e-0000-4000-8000-000000000002',
        resource: {
          resourceType: 'Parameters',
          parameter: [
            { name: 'subscription', valueReference: { reference: 'Subscription/care-events' } },
            { name: 'topic', valueCanonical: 'http://example.org/fhir/SubscriptionTopic/care-events' },
            { name: 'status', valueCode: type === 'handshake' ? 'requested' : 'active' },
            { name: 'type', valueCode: type },
            { name: 'events-since-subscription-start', valueString: String(count) },
            ...events.map(([n, focus]) => ({
              name: 'notification-event',
              part: [
                { name: 'event-number', valueString: String(n) },
                { name: 'focus', valueReference: { reference: focus } },
              ],
            })),
          ],
        },
      },
    ],
  };
}

function postEvents(body: unknown) {
  const raw = JSON.stringify(body);
  const ts = Math.floor(Date.now() / 1000);
  return Promise.resolve(
    h.app.request(`/v1/webhooks/${h.clinicId}/events`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-autopilot-timestamp': String(ts),
        'x-autopilot-signature': signWebhook(WEBHOOK_SECRET, ts, raw),
      },
      body: raw,
    }),
  );
}

/** The `event.received` rows of an intake (one per intake, however often it was announced or found). */
async function receivedRows(intakeId: string) {
  const rows = await h.store.audit.listAudit({ clinicId: h.clinicId, action: 'event.received', limit: 500 });
  return rows.items.filter((a) => a.detail.intakeId === intakeId);
}

/** Waits for the intake to finish (through the API, as an admin) and answers its status. */
async function intakeOutcome(intakeId: string): Promise<string> {
  const body = await waitFor(async () => {
    const res = await h.api(`/v1/clinics/${h.clinicId}/events/${intakeId}`, { as: 'admin' });
    if (res.status !== 200) return null;
    const out = (await res.json()) as { status: string };
    return out.status === 'pending' ? null : out;
  });
  return body.status;
}

describe('the events webhook (care-events Subscription)', () => {
  /** The seeded Observations of patients (results the intake can resolve to a patient). */
  const observations = () =>
    h.resources.filter(
      (r): r is Observation => r.resourceType === 'Observation' && !!r.subject?.reference?.startsWith('Patient/'),
    );
  const touch = (o: Observation) =>
    h.sandbox.repo.update({ ...(h.sandbox.repo.read('Observation', o.id!) as Observation), note: [{ text: 'x' }] })
      .resource;

  test('a gap starts the catch-up: the missed Observation and booked Appointment get their intakes; found and announced later is one intake', async () => {
    const hs = await postEvents(careEventNotification('handshake', 0));
    expect(hs.status).toBe(200);
    await new Promise((r) => setTimeout(r, 20));
    const [obsA, obsC] = observations();
    // Events 1 and 2 (a result, a booked visit) are lost; event 3 (a result) arrives.
    const a = touch(obsA!);
    const patient = obsA!.subject!.reference!;
    const b = h.sandbox.repo.create<Appointment>({
      resourceType: 'Appointment',
      status: 'booked',
      participant: [{ actor: { reference: patient }, status: 'accepted' }],
    });
    h.sandbox.repo.create<Appointment>({
      resourceType: 'Appointment',
      status: 'cancelled',
      participant: [{ actor: { reference: patient }, status: 'declined' }],
    });
    const c = touch(obsC!);
    const versioned = (r: { resourceType: string; id: string; meta?: { versionId?: string } }) =>
      `${r.resourceType}/${r.id}/_history/${r.meta!.versionId!}`;

    const res = await postEvents(careEventNotification('event-notification', 3, [[3, versioned(c)]]));
    expect(res.status, await res.clone().text()).toBe(202);
    const third = (await res.json()) as { eventId: string; intakeId: string };
    // A focus with its version: the version is the event (what a catch-up finding it gives it too).
    expect(third.eventId).toBe(versioned(c));
    expect(third.intakeId).toBe(eventIntakeId(h.clinicId, versioned(c)));

    const ids = [a, b, c].map((r) => eventIntakeId(h.clinicId, versioned(r)));
    // One `subscription.catch_up_started` row per page that found something (Appointments first, then Observations).
    const started = await waitFor(async () => {
      const rows = await h.store.audit.listAudit({ clinicId: h.clinicId, action: 'subscription.catch_up_started' });
      const found = rows.items.filter((x) => x.detail.topic === 'events').flatMap((x) => x.detail.caseIds as string[]);
      return found.length >= ids.length ? found : null;
    });
    expect(started.sort()).toEqual([...ids].sort());
    // Each intake ran: it read its focus, found the patient (this clinic runs no patient-level kind: no case).
    for (const id of ids) expect(await intakeOutcome(id)).toBe('no_kind');
    const [rowA, rowB, rowC] = await Promise.all(ids.map(receivedRows));
    expect(rowA).toHaveLength(1);
    expect(rowA![0]!.detail).toMatchObject({ form: 'subscription-catch-up', type: 'result.available' });
    expect(rowB).toHaveLength(1);
    expect(rowB![0]!.detail).toMatchObject({ form: 'subscription-catch-up', type: 'appointment.booked' });
    // c was both announced and found: one intake, received once (from its notification).
    expect(rowC).toHaveLength(1);
    expect(rowC![0]!.detail).toMatchObject({ form: 'subscription-notification' });
    // The cancelled Appointment is no `appointment.booked` event.
    const page = await h.store.audit.listAudit({ clinicId: h.clinicId, action: 'event.received', limit: 500 });
    expect(page.items.filter((x) => x.detail.type === 'appointment.booked')).toHaveLength(1);

    // Event 1's notification, delivered late after all: the intake the catch-up made, nothing new.
    const late = await postEvents(careEventNotification('event-notification', 1, [[1, versioned(a)]]));
    expect(late.status).toBe(202);
    expect(((await late.json()) as { intakeId: string }).intakeId).toBe(ids[0]);
    expect(await receivedRows(ids[0]!)).toHaveLength(1);
  });

  test('a batched notification with 3 events starts 3 intakes; its redelivery starts none again', async () => {
    const [, , d, e, f] = observations();
    const events: [number, string][] = [
      [4, `Observation/${d!.id!}`],
      [5, `Observation/${e!.id!}`],
      [6, `Observation/${f!.id!}`],
    ];
    const body = careEventNotification('event-notification', 6, events, 'batch-4-6');
    const res = await postEvents(body);
    expect(res.status, await res.clone().text()).toBe(202);
    // Unversioned focus: each event is `{subscription}#{event-number}`.
    const ids = [4, 5, 6].map((n) => eventIntakeId(h.clinicId, `Subscription/care-events#${n}`));
    expect(((await res.json()) as { intakeId: string }).intakeId).toBe(ids[0]);
    for (const id of ids) expect(await intakeOutcome(id)).toBe('no_kind');
    const rows = await Promise.all(ids.map(receivedRows));
    expect(rows.map((r) => r.length)).toEqual([1, 1, 1]);
    expect(rows.map((r) => r[0]!.detail.form)).toEqual([
      'subscription-notification',
      'subscription-notification',
      'subscription-notification',
    ]);
    expect(rows.map((r) => r[0]!.detail.resource)).toEqual(events.map(([, ref]) => ref));

    // The EHR redelivers the whole Bundle: the same intakes, none received or started again.
    const again = await postEvents(body);
    expect(again.status).toBe(202);
    expect(((await again.json()) as { intakeId: string }).intakeId).toBe(ids[0]);
    await new Promise((r) => setTimeout(r, 500));
    expect((await Promise.all(ids.map(receivedRows))).map((r) => r.length)).toEqual([1, 1, 1]);
    // The batch's catch-up is the same one (its id is a hash of the Subscription, the numbers and the events).
    const requested = await h.store.audit.listAudit({ clinicId: h.clinicId, action: 'subscription.catch_up' });
    const batch = requested.items.filter((x) => x.detail.topic === 'events' && x.detail.references === 2);
    expect(new Set(batch.map((x) => x.detail.catchUpId)).size).toBe(1);
  });
});
