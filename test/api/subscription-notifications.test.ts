// FHIR Subscriptions as EHRs send them (issue 12 §4), at the HTTP edge with a real SQLite store and a recording
// gateway: notifications shaped as the R4 backport IG's examples (STU 1.1: `Parameters` with `subscription`, `topic`,
// `status`, `type`, `events-since-subscription-start` and `notification-event` parts). Handshakes and heartbeats
// answer 200 and start nothing; a gap in the event numbers starts a catch-up before the number is recorded.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createApp } from '../../api/app.ts';
import { signWebhook } from '../../api/middleware/webhook-signature.ts';
import { ensureBuiltinProtocols } from '../../api/seed.ts';
import { subscriptionGap, type SubscriptionAck } from '../../api/subscription-tracking.ts';
import type { WorkflowGateway } from '../../api/workflow-gateway.ts';
import { loadConfig } from '../../connectors/config.ts';
import { createStore, type Store } from '../../connectors/db/index.ts';
import { createLogger } from '../../connectors/logger.ts';
import { AppError } from '../../rules/index.ts';
import { eventIntakeId } from '../../connectors/care-events.ts';
import type { EventIntakeInput } from '../../workflows/event-intake.ts';
import type { SubscriptionCatchUpInput } from '../../workflows/subscription-catch-up.ts';
import { openTestDatabase, type TestDatabase } from '../helpers/db.ts';

const SECRET = 'subscription-test-secret-0123456789';
const CLINIC = 'sub-clinic';
let testDb: TestDatabase;
let store: Store;
const config = loadConfig({ LOG_LEVEL: 'silent' });
const logger = createLogger(config, 'test');

beforeAll(async () => {
  testDb = await openTestDatabase('sqlite');
  store = createStore(testDb.db);
  await ensureBuiltinProtocols(store, logger);
  await store.clinics.upsert({
    id: CLINIC,
    name: 'Subscription test clinic',
    webhookSecret: SECRET,
    fhirBaseUrl: 'http://127.0.0.1:9/fhir/R4',
    fhirClientId: 'x',
    fhirPrivateKeyJwk: null,
    fhirTokenUrl: null,
    protocolId: 'family-medicine-2015',
    kinds: [{ kind: 'refill', enabled: true }],
    nurseSlaSeconds: 60,
    timezone: 'UTC',
  });
});
afterAll(async () => {
  await testDb?.cleanup();
});

/** A gateway that records what starts; `down` makes every start fail as an unreachable Temporal does. */
function recordingGateway() {
  const cases: string[] = [];
  const catchUps: SubscriptionCatchUpInput[] = [];
  const state = { down: false };
  const unavailable = () =>
    Promise.reject(new AppError('TEMPORAL_UNAVAILABLE', 'The workflow service is unreachable', { retryable: true }));
  const intakes: EventIntakeInput[] = [];
  const gateway: WorkflowGateway = {
    startEventIntake: (input) => {
      if (state.down) return unavailable();
      intakes.push(input);
      return Promise.resolve(null);
    },
    startCase: (start) => {
      if (state.down) return unavailable();
      cases.push(start.caseId);
      return Promise.resolve({ caseId: start.caseId, runId: 'r' });
    },
    startSubscriptionCatchUp: (input) => {
      if (state.down) return unavailable();
      catchUps.push(input);
      return Promise.resolve();
    },
    submitDecision: () => Promise.reject(new Error('unused')),
    getCaseState: () => Promise.resolve(null),
    ping: () => Promise.resolve(),
  };
  return { gateway, cases, catchUps, intakes, state };
}

function post(gateway: WorkflowGateway, body: unknown, webhook: 'refill-requests' | 'events' = 'refill-requests') {
  const app = createApp({ config, db: testDb.db, store, workflows: gateway, logger, now: () => new Date() });
  const raw = JSON.stringify(body);
  const ts = Math.floor(Date.now() / 1000);
  return app.request(`/v1/webhooks/${CLINIC}/${webhook}`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-autopilot-timestamp': String(ts),
      'x-autopilot-signature': signWebhook(SECRET, ts, raw),
    },
    body: raw,
  });
}

type Payload = 'id-only' | 'full-resource' | 'empty';

/**
 * A notification as the backport IG's R4 examples shape it (notification-shapes: handshake, heartbeat,
 * event-notification; id-only, full-resource and empty content).
 */
function notification(
  subscription: string,
  type: 'handshake' | 'heartbeat' | 'event-notification',
  since: number,
  events: { n: number; mr?: string }[] = [],
  payload: Payload = 'id-only',
) {
  const base = 'https://ehr.example.org/fhir';
  const at = new Date().toISOString();
  return {
    resourceType: 'Bundle',
    id: `${type}-${since}-${events.map((e) => e.n).join('.')}`,
    meta: {
      profile: [
        'http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-subscription-notification-r4',
      ],
    },
    type: 'history',
    timestamp: at,
    entry: [
      {
        fullUrl: 'urn:uuid:9e41ff6d-5be6-4e6a-8b85-abd4e7f58400',
        resource: {
          resourceType: 'Parameters',
          id: '9e41ff6d-5be6-4e6a-8b85-abd4e7f58400',
          meta: {
            profile: [
              'http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-subscription-status-r4',
            ],
          },
          parameter: [
            { name: 'subscription', valueReference: { reference: `${base}/Subscription/${subscription}` } },
            { name: 'topic', valueCanonical: 'http://example.org/fhir/SubscriptionTopic/refill-request' },
            { name: 'status', valueCode: type === 'handshake' ? 'requested' : 'active' },
            { name: 'type', valueCode: type },
            { name: 'events-since-subscription-start', valueString: String(since) },
            ...events.map((e) => ({
              name: 'notification-event',
              part: [
                { name: 'event-number', valueString: String(e.n) },
                { name: 'timestamp', valueInstant: at },
                ...(payload !== 'empty' && e.mr
                  ? [{ name: 'focus', valueReference: { reference: `${base}/MedicationRequest/${e.mr}` } }]
                  : []),
              ],
            })),
          ],
        },
        request: { method: 'GET', url: `${base}/Subscription/${subscription}/$status` },
        response: { status: '200' },
      },
      ...(payload === 'full-resource'
        ? events.flatMap((e) =>
            e.mr
              ? [
                  {
                    fullUrl: `${base}/MedicationRequest/${e.mr}`,
                    resource: {
                      resourceType: 'MedicationRequest',
                      id: e.mr,
                      status: 'draft',
                      intent: 'proposal',
                      subject: { reference: 'Patient/p-1' },
                    },
                    request: { method: 'POST', url: 'MedicationRequest' },
                    response: { status: '201' },
                  },
                ]
              : [],
          )
        : []),
    ],
  };
}

const ack = async (res: Response) => (await res.json()) as SubscriptionAck;

describe('the gap rule (pure)', () => {
  const ev = (...ns: number[]) => ns.map((n) => ({ eventNumber: n, focus: 'MedicationRequest/x', timestamp: null }));
  test.each([
    ['a handshake (re)starts the count', 9, 'handshake', 0, [], { missed: 0, highest: 0, record: true }],
    [
      'a first notification without a handshake is the baseline',
      null,
      'event-notification',
      7,
      ev(7),
      { missed: 0, highest: 7, record: true },
    ],
    ['the next event', 3, 'event-notification', 4, ev(4), { missed: 0, highest: 4, record: true }],
    ['a skipped number', 3, 'event-notification', 6, ev(6), { missed: 2, highest: 6, record: true }],
    ['a batch that closes the gap', 3, 'event-notification', 6, ev(4, 5, 6), { missed: 0, highest: 6, record: true }],
    ['a heartbeat at the count', 6, 'heartbeat', 6, [], { missed: 0, highest: 6, record: true }],
    ['a heartbeat above the count', 6, 'heartbeat', 8, [], { missed: 2, highest: 8, record: true }],
    ['a duplicate of the highest', 6, 'event-notification', null, ev(6), { missed: 0, highest: 6, record: false }],
    ['a late (out-of-order) event', 6, 'event-notification', 5, ev(5), { missed: 0, highest: 6, record: false }],
  ] as const)('%s', (_name, highest, type, count, events, expected) => {
    expect(subscriptionGap(highest, { type, eventsSinceSubscriptionStart: count, events: [...events] })).toEqual(
      expected,
    );
  });
});

describe('notifications at the refill webhook', () => {
  test('a handshake answers 200, starts nothing, and sets the count', async () => {
    const g = recordingGateway();
    const res = await post(g.gateway, notification('hs', 'handshake', 0));
    expect(res.status, await res.clone().text()).toBe(200);
    expect(await ack(res)).toEqual({
      type: 'handshake',
      subscription: 'https://ehr.example.org/fhir/Subscription/hs',
      eventsSinceSubscriptionStart: 0,
      highestEventNumber: 0,
      missed: 0,
      catchUp: null,
    });
    expect(g.cases).toEqual([]);
    expect(g.catchUps).toEqual([]);
    expect(await store.subscriptions.get(CLINIC, 'https://ehr.example.org/fhir/Subscription/hs')).toMatchObject({
      highestEvent: 0,
      topic: 'refill',
    });
  });

  test('a heartbeat without a gap answers 200 and starts nothing; with a gap it starts a catch-up', async () => {
    const g = recordingGateway();
    await post(g.gateway, notification('hb', 'handshake', 0));
    for (const [n, mr] of [
      [1, 'mr-hb-1'],
      [2, 'mr-hb-2'],
    ] as const) {
      expect((await post(g.gateway, notification('hb', 'event-notification', n, [{ n, mr }]))).status).toBe(202);
    }
    const quiet = await post(g.gateway, notification('hb', 'heartbeat', 2));
    expect(quiet.status).toBe(200);
    expect((await ack(quiet)).catchUp).toBeNull();
    expect(g.catchUps).toEqual([]);
    const before = (await store.subscriptions.get(CLINIC, 'https://ehr.example.org/fhir/Subscription/hb'))!;

    // Events 3 and 4 were sent and lost; the heartbeat's count says so.
    const gap = await post(g.gateway, notification('hb', 'heartbeat', 4));
    expect(gap.status).toBe(200);
    const body = await ack(gap);
    expect(body).toMatchObject({ type: 'heartbeat', highestEventNumber: 4, missed: 2 });
    expect(g.catchUps).toHaveLength(1);
    const started = g.catchUps[0]!;
    expect(body.catchUp).toEqual({ catchUpId: started.catchUpId, missed: 2, since: started.since });
    expect(started).toMatchObject({ clinicId: CLINIC, topic: 'refill', references: [] });
    // Since the last notification seen, less the skew margin (5 minutes by default).
    expect(Date.parse(started.since!)).toBe(Date.parse(before.lastEventAt) - 300_000);
    expect(started.catchUpId).toMatch(/^sc_sub-clinic_[0-9a-f]{32}$/);
    expect(g.cases).toHaveLength(2); // only the two events' cases, none for the heartbeats
    const audit = await store.audit.listAudit({ clinicId: CLINIC, action: 'subscription.catch_up' });
    const row = audit.items.find((a) => (a.detail as { catchUpId?: string }).catchUpId === started.catchUpId);
    expect(row?.detail).toMatchObject({ missed: 2, type: 'heartbeat', topic: 'refill' });
  });

  test('an event with a gap starts its own case and a catch-up; a redelivery starts neither again', async () => {
    const g = recordingGateway();
    await post(g.gateway, notification('ev', 'handshake', 0));
    await post(g.gateway, notification('ev', 'event-notification', 1, [{ n: 1, mr: 'mr-ev-1' }], 'full-resource'));
    const res = await post(g.gateway, notification('ev', 'event-notification', 4, [{ n: 4, mr: 'mr-ev-4' }]));
    expect(res.status).toBe(202);
    expect(((await res.json()) as { caseId: string }).caseId).toBe(`rf_${CLINIC}_mr-ev-4`);
    expect(g.catchUps).toHaveLength(1);
    expect(g.catchUps[0]).toMatchObject({ topic: 'refill', references: [] });
    expect(g.catchUps[0]!.since).not.toBeNull();
    // The same notification again: the same case, no second catch-up (the number is recorded).
    const again = await post(g.gateway, notification('ev', 'event-notification', 4, [{ n: 4, mr: 'mr-ev-4' }]));
    expect(((await again.json()) as { caseId: string }).caseId).toBe(`rf_${CLINIC}_mr-ev-4`);
    expect(g.catchUps).toHaveLength(1);
    expect(g.cases.filter((c) => c === `rf_${CLINIC}_mr-ev-4`)).toHaveLength(2); // USE_EXISTING finds the one case
    expect((await store.cases.getCase(`rf_${CLINIC}_mr-ev-4`))?.status).toBe('received');
  });

  test('out-of-order and duplicate numbers start no catch-up and do not move the count back', async () => {
    const g = recordingGateway();
    await post(g.gateway, notification('oo', 'handshake', 0));
    await post(
      g.gateway,
      notification('oo', 'event-notification', 3, [
        { n: 1, mr: 'mr-oo-1' },
        { n: 2, mr: 'mr-oo-2' },
        { n: 3, mr: 'mr-oo-3' },
      ]),
    );
    // A batch: the first event's case by the webhook, the further ones by the catch-up path (no query).
    expect(g.catchUps).toHaveLength(1);
    expect(g.catchUps[0]).toMatchObject({
      since: null,
      references: [
        'https://ehr.example.org/fhir/MedicationRequest/mr-oo-2',
        'https://ehr.example.org/fhir/MedicationRequest/mr-oo-3',
      ],
    });
    const late = await post(g.gateway, notification('oo', 'event-notification', 2, [{ n: 2, mr: 'mr-oo-2' }]));
    expect(late.status).toBe(202);
    const dup = await post(g.gateway, notification('oo', 'event-notification', 3, [{ n: 3, mr: 'mr-oo-3' }]));
    expect(dup.status).toBe(202);
    expect(g.catchUps).toHaveLength(1);
    expect((await store.subscriptions.get(CLINIC, 'https://ehr.example.org/fhir/Subscription/oo'))?.highestEvent).toBe(
      3,
    );
  });

  test('an empty notification (no focus) answers 200 and starts a catch-up query', async () => {
    const g = recordingGateway();
    await post(g.gateway, notification('em', 'handshake', 0));
    const res = await post(g.gateway, notification('em', 'event-notification', 1, [{ n: 1 }], 'empty'));
    expect(res.status).toBe(200);
    const body = await ack(res);
    expect(body).toMatchObject({ type: 'event-notification', missed: 0, highestEventNumber: 1 });
    expect(body.catchUp?.since).toBeTruthy();
    expect(g.catchUps).toHaveLength(1);
    expect(g.cases).toEqual([]);
  });

  test('a catch-up that cannot start is 503 and records nothing: the retry finds the same gap and catch-up id', async () => {
    const g = recordingGateway();
    await post(g.gateway, notification('dn', 'handshake', 0));
    g.state.down = true;
    const down = await post(g.gateway, notification('dn', 'heartbeat', 3));
    expect(down.status).toBe(503);
    expect((await store.subscriptions.get(CLINIC, 'https://ehr.example.org/fhir/Subscription/dn'))?.highestEvent).toBe(
      0,
    );
    g.state.down = false;
    const retry = await post(g.gateway, notification('dn', 'heartbeat', 3));
    expect(retry.status).toBe(200);
    expect((await ack(retry)).missed).toBe(3);
    expect(g.catchUps).toHaveLength(1);
    // A third delivery: the gap is closed, nothing more starts.
    await post(g.gateway, notification('dn', 'heartbeat', 3));
    expect(g.catchUps).toHaveLength(1);
  });

  test('a bad type or count is 400 with its JSON path', async () => {
    const g = recordingGateway();
    const bad = notification('bad', 'heartbeat', 1) as {
      entry: { resource: { parameter: Record<string, unknown>[] } }[];
    };
    bad.entry[0]!.resource.parameter[4] = { name: 'events-since-subscription-start', valueString: 'many' };
    const res = await post(g.gateway, bad);
    expect(res.status).toBe(400);
    const err = ((await res.json()) as { error: { issues: { path: string }[] } }).error;
    expect(err.issues[0]?.path).toBe('$.entry[0].resource.parameter[4].valueString');
  });
});

/**
 * A care-events notification as the backport IG's R4 examples shape it: `events` are `[number, focus]`; a focus given
 * as `[reference, versionId]` is a full-resource event whose entry carries `meta.versionId`.
 */
function careEvents(subscription: string, since: number, events: [number, string | [string, string]][]) {
  const base = 'https://ehr.example.org/fhir';
  const at = new Date().toISOString();
  const refOf = (f: string | [string, string]) => (typeof f === 'string' ? f : f[0]);
  return {
    resourceType: 'Bundle',
    id: `care-events-${since}`,
    type: 'history',
    timestamp: at,
    entry: [
      {
        fullUrl: 'urn:uuid:2f1c3a5e-7d0b-4c5e-9a57-3c0f6a1d2e40',
        resource: {
          resourceType: 'Parameters',
          meta: {
            profile: [
              'http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-subscription-status-r4',
            ],
          },
          parameter: [
            { name: 'subscription', valueReference: { reference: `${base}/Subscription/${subscription}` } },
            { name: 'topic', valueCanonical: 'http://example.org/fhir/SubscriptionTopic/care-events' },
            { name: 'status', valueCode: 'active' },
            { name: 'type', valueCode: 'event-notification' },
            { name: 'events-since-subscription-start', valueString: String(since) },
            ...events.map(([n, focus]) => ({
              name: 'notification-event',
              part: [
                { name: 'event-number', valueString: String(n) },
                { name: 'timestamp', valueInstant: at },
                { name: 'focus', valueReference: { reference: `${base}/${refOf(focus)}` } },
              ],
            })),
          ],
        },
      },
      ...events.flatMap(([, focus]) => {
        if (typeof focus === 'string') return [];
        const [type, id] = focus[0].split('/');
        return [
          {
            fullUrl: `${base}/${focus[0]}`,
            resource: { resourceType: type, id, meta: { versionId: focus[1] }, status: 'final' },
          },
        ];
      }),
    ],
  };
}

describe('notifications at the events webhook', () => {
  test('a batched notification with 3 events: the first is the webhook’s intake, the 2 further go to the catch-up with their event ids; a redelivery is the same', async () => {
    const g = recordingGateway();
    await post(g.gateway, handshakeOf('ce-batch'), 'events');
    const body = careEvents('ce-batch', 3, [
      [1, 'Observation/obs-b1'],
      [2, ['DiagnosticReport/dr-b2', '4']],
      [3, 'Appointment/ap-b3'],
    ]);
    const res = await post(g.gateway, body, 'events');
    expect(res.status, await res.clone().text()).toBe(202);
    const sub = 'https://ehr.example.org/fhir/Subscription/ce-batch';
    expect(g.intakes.map((i) => i.intakeId)).toEqual([eventIntakeId(CLINIC, `${sub}#1`)]);
    expect(g.catchUps).toHaveLength(1);
    expect(g.catchUps[0]).toMatchObject({
      topic: 'events',
      since: null,
      references: [
        // A full-resource event's version is its id (what a catch-up finding that version gives it too).
        { reference: 'DiagnosticReport/dr-b2', eventId: 'DiagnosticReport/dr-b2/_history/4' },
        { reference: 'Appointment/ap-b3', eventId: `${sub}#3` },
      ],
    });
    const received = await store.audit.listAudit({ clinicId: CLINIC, action: 'event.received', limit: 500 });
    expect(received.items.filter((a) => a.detail.eventId === `${sub}#1`)).toHaveLength(1);

    // The same Bundle again: the same intake and the same catch-up id (Temporal's USE_EXISTING starts neither again).
    const again = await post(g.gateway, body, 'events');
    expect(again.status).toBe(202);
    expect(new Set(g.intakes.map((i) => i.intakeId)).size).toBe(1);
    expect(new Set(g.catchUps.map((c) => c.catchUpId)).size).toBe(1);
    const after = await store.audit.listAudit({ clinicId: CLINIC, action: 'event.received', limit: 500 });
    expect(after.items.filter((a) => a.detail.eventId === `${sub}#1`)).toHaveLength(1);
  });

  test('a gap in the events topic starts the catch-up query (no longer only audited)', async () => {
    const g = recordingGateway();
    await post(g.gateway, handshakeOf('ce-gap'), 'events');
    const res = await post(g.gateway, careEvents('ce-gap', 4, [[4, 'Observation/obs-g4']]), 'events');
    expect(res.status).toBe(202);
    expect(g.intakes).toHaveLength(1);
    expect(g.catchUps).toHaveLength(1);
    expect(g.catchUps[0]).toMatchObject({ topic: 'events', references: [] });
    expect(g.catchUps[0]!.since).not.toBeNull();
    const audit = await store.audit.listAudit({ clinicId: CLINIC, action: 'subscription.catch_up' });
    const row = audit.items.find((a) => a.detail.catchUpId === g.catchUps[0]!.catchUpId);
    expect(row?.detail).toMatchObject({ topic: 'events', missed: 3 });
    const notCaughtUp = await store.audit.listAudit({ clinicId: CLINIC, action: 'subscription.gap_not_caught_up' });
    expect(notCaughtUp.items).toHaveLength(0);
  });
});

/** A handshake on a care-events Subscription (the count starts at 0). */
function handshakeOf(subscription: string) {
  const body = careEvents(subscription, 0, []);
  const parameter = (body.entry[0]!.resource as { parameter: Record<string, unknown>[] }).parameter;
  parameter[3] = { name: 'type', valueCode: 'handshake' };
  parameter[2] = { name: 'status', valueCode: 'requested' };
  return body;
}
