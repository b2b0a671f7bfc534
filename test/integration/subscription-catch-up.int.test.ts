// A lost Subscription notification, end to end (issue 12 §4): the refill webhook sees a gap in the event numbers and
// starts the catch-up workflow on the real Temporal dev server; the worker queries the sandbox EHR for the refill
// requests changed since the last notification seen and starts their cases through the webhook's deduplicated path.
// A late redelivery of a lost notification finds the case the catch-up made.
import type { MedicationRequest } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { SubscriptionAck } from '../../api/subscription-tracking.ts';
import { refillCaseId } from '../../rules/kinds/refill/intake.ts';
import { startHarness, type Harness } from '../helpers/harness.ts';

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
