// The events webhook (`POST /v1/webhooks/{clinicId}/events`) in process, with a real SQLite store and a recording
// gateway standing in for Temporal: signed exactly like the refill webhook, every body form, bad bodies with the JSON
// path, redeliveries deduplicated. The intake workflow itself runs in test/integration/care-gap-sweep.int.test.ts.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createApp } from '../../api/app.ts';
import { eventIntakeId } from '../../connectors/care-events.ts';
import { signWebhook } from '../../api/middleware/webhook-signature.ts';
import { ensureBuiltinProtocols } from '../../api/seed.ts';
import type { WorkflowGateway } from '../../api/workflow-gateway.ts';
import { loadConfig } from '../../connectors/config.ts';
import { createStore, type Store } from '../../connectors/db/index.ts';
import { createLogger } from '../../connectors/logger.ts';
import { AppError } from '../../rules/index.ts';
import type { EventIntakeInput, EventIntakeResult } from '../../workflows/event-intake.ts';
import type { SubscriptionCatchUpInput } from '../../workflows/subscription-catch-up.ts';
import { openTestDatabase, type TestDatabase } from '../helpers/db.ts';

const CLINIC = 'events-clinic';
const SECRET = 'events-test-secret-0123456789abcdef';
const OLD_SECRET = 'events-old-secret-0123456789abcdef';
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
    name: 'Events test clinic',
    webhookSecret: SECRET,
    previousWebhookSecret: OLD_SECRET,
    previousWebhookSecretExpiresAt: new Date(Date.now() + 3_600_000).toISOString(),
    fhirBaseUrl: 'http://127.0.0.1:9/fhir/R4',
    fhirClientId: 'x',
    fhirPrivateKeyJwk: null,
    fhirTokenUrl: null,
    protocolId: 'family-medicine-2015',
    nurseSlaSeconds: 60,
    timezone: 'UTC',
  });
});
afterAll(async () => {
  await testDb?.cleanup();
});

/**
 * A stand-in for Temporal's side of the intake: the first start of an intake id runs it (the case id derived from
 * the focus, as the intake would after reading it); later starts of the same id find it (USE_EXISTING).
 */
function recordingGateway(
  opts: { result?: (input: EventIntakeInput) => EventIntakeResult | null; down?: () => boolean } = {},
) {
  const runs = new Map<string, EventIntakeInput>();
  const starts: EventIntakeInput[] = [];
  const catchUps: SubscriptionCatchUpInput[] = [];
  const gateway: WorkflowGateway = {
    // A gap in a Subscription's numbers (or a batched notification) starts the catch-up: recorded here.
    startSubscriptionCatchUp: (input) => {
      catchUps.push(input);
      return Promise.resolve();
    },
    startCase: () => Promise.reject(new Error('unused')),
    submitDecision: () => Promise.reject(new Error('unused')),
    getCaseState: () => Promise.resolve(null),
    ping: () => Promise.resolve(),
    startEventIntake: (input) => {
      if (opts.down?.()) {
        return Promise.reject(new AppError('TEMPORAL_UNAVAILABLE', 'unreachable', { retryable: true }));
      }
      starts.push(input);
      if (!runs.has(input.intakeId)) runs.set(input.intakeId, input);
      const run = runs.get(input.intakeId)!;
      const result = opts.result
        ? opts.result(run)
        : ({
            intakeId: run.intakeId,
            eventId: run.event.eventId,
            status: 'cases',
            caseIds: [`cg_${run.clinicId}_crc-screening-2021_${run.event.resource.replace('/', '-')}`],
          } satisfies EventIntakeResult);
      return Promise.resolve(result);
    },
  };
  return { gateway, runs, starts, catchUps };
}

function appWith(workflows: WorkflowGateway) {
  return createApp({ config, db: testDb.db, store, workflows, logger, now: () => new Date() });
}

function post(
  app: ReturnType<typeof appWith>,
  body: unknown,
  o: { clinic?: string; secret?: string; timestamp?: number; raw?: string; headers?: Record<string, string> } = {},
) {
  const raw = o.raw ?? JSON.stringify(body);
  const ts = o.timestamp ?? Math.floor(Date.now() / 1000);
  return app.request(`/v1/webhooks/${o.clinic ?? CLINIC}/events`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-autopilot-timestamp': String(ts),
      'x-autopilot-signature': signWebhook(o.secret ?? SECRET, ts, raw),
      ...o.headers,
    },
    body: raw,
  });
}

interface Accepted {
  eventId: string;
  intakeId: string;
  status: string;
  caseIds: string[];
  links: { intake: string; cases: string[] };
}
interface ErrorBody {
  error: { code: string; message: string; issues?: { path: string; message: string }[] };
}

/** An R4 backport notification (Parameters) whose event's focus is `focus`; `resource` makes it full-resource. */
function r4Notification(focus: string, o: { id?: string; eventNumber?: string; resource?: object } = {}) {
  return {
    resourceType: 'Bundle',
    ...(o.id ? { id: o.id } : {}),
    type: 'history',
    timestamp: new Date().toISOString(),
    entry: [
      {
        fullUrl: 'urn:uuid:9b1deb4d-3b7d-4bad-9bdd-2b0d7b3dcb6d',
        resource: {
          resourceType: 'Parameters',
          parameter: [
            { name: 'subscription', valueReference: { reference: 'Subscription/care-events' } },
            { name: 'topic', valueCanonical: 'http://example.org/topics/results' },
            { name: 'status', valueCode: 'active' },
            { name: 'type', valueCode: 'event-notification' },
            {
              name: 'notification-event',
              part: [
                ...(o.eventNumber ? [{ name: 'event-number', valueString: o.eventNumber }] : []),
                { name: 'focus', valueReference: { reference: focus } },
              ],
            },
          ],
        },
      },
      ...(o.resource ? [{ fullUrl: focus, resource: o.resource }] : []),
    ],
  };
}

describe('signed exactly like the refill webhook', () => {
  const body = { type: 'appointment.booked', id: 'sig-1', appointment: 'Appointment/ap-sig-1' };

  test('a good signature is accepted; during a rotation the previous secret still is', async () => {
    const { gateway, starts } = recordingGateway();
    const app = appWith(gateway);
    expect((await post(app, body)).status).toBe(202);
    const res = await post(app, { ...body, id: 'sig-2' }, { secret: OLD_SECRET });
    expect(res.status, await res.clone().text()).toBe(202);
    expect(starts).toHaveLength(2);
  });

  test('a bad signature, a missing header, a stale or future timestamp: 401, nothing recorded or started', async () => {
    const { gateway, starts } = recordingGateway();
    const app = appWith(gateway);
    const now = Math.floor(Date.now() / 1000);
    const cases = [
      post(app, { ...body, id: 'sig-bad' }, { secret: 'not-the-secret-0123456789abcdef' }),
      post(app, { ...body, id: 'sig-stale' }, { timestamp: now - 301 }),
      post(app, { ...body, id: 'sig-future' }, { timestamp: now + 301 }),
      post(app, { ...body, id: 'sig-nohdr' }, { headers: { 'x-autopilot-signature': '' } }),
      // A body changed after signing: the signature covers the raw bytes.
      app.request(`/v1/webhooks/${CLINIC}/events`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'x-autopilot-timestamp': String(now),
          'x-autopilot-signature': signWebhook(SECRET, now, JSON.stringify(body)),
        },
        body: JSON.stringify({ ...body, appointment: 'Appointment/ap-other' }),
      }),
    ];
    for (const res of await Promise.all(cases.map((r) => Promise.resolve(r)))) {
      expect(res.status).toBe(401);
      expect(((await res.json()) as ErrorBody).error.code).toBe('UNAUTHENTICATED');
    }
    expect(starts).toHaveLength(0);
    const audit = await store.audit.listAudit({ clinicId: CLINIC, action: 'event.received', limit: 500 });
    expect(audit.items.map((a) => a.detail.eventId)).not.toContain('sig-bad');
  });

  test('an unknown clinic is answered exactly like a bad signature', async () => {
    const { gateway } = recordingGateway();
    const app = appWith(gateway);
    const unknown = await post(app, body, { clinic: 'no-such-clinic' });
    const badSig = await post(app, body, { secret: 'not-the-secret-0123456789abcdef' });
    expect(unknown.status).toBe(401);
    const strip = (b: ErrorBody) => ({ ...b.error, requestId: undefined });
    expect(strip((await unknown.json()) as ErrorBody)).toEqual(strip((await badSig.json()) as ErrorBody));
  });
});

describe('every body form starts the intake of its event', () => {
  test.each([
    [
      'appointment.booked',
      { type: 'appointment.booked', id: 'evt-ap-1', appointment: 'Appointment/ap-1' },
      { type: 'appointment.booked', eventId: 'evt-ap-1', resource: 'Appointment/ap-1' },
    ],
    [
      'result.available (Observation, absolute reference with a version)',
      {
        type: 'result.available',
        id: 'evt-obs-1',
        resource: 'https://ehr.example.org/fhir/R4/Observation/obs-1/_history/3',
        occurredAt: '2026-01-31T09:30:00Z',
      },
      { type: 'result.available', eventId: 'evt-obs-1', resource: 'Observation/obs-1' },
    ],
    [
      'result.available (DiagnosticReport)',
      { type: 'result.available', id: 'evt-dr-1', resource: 'DiagnosticReport/dr-1' },
      { type: 'result.available', eventId: 'evt-dr-1', resource: 'DiagnosticReport/dr-1' },
    ],
    [
      'result.available (Procedure)',
      { type: 'result.available', id: 'evt-pr-1', resource: 'Procedure/pr-1' },
      { type: 'result.available', eventId: 'evt-pr-1', resource: 'Procedure/pr-1' },
    ],
    [
      'R4 backport notification, id-only, with subscription and event number',
      r4Notification('Observation/obs-2', { id: 'bundle-2', eventNumber: '17' }),
      { type: 'result.available', eventId: 'Subscription/care-events#17', resource: 'Observation/obs-2' },
    ],
    [
      'R4 backport notification, full-resource, Appointment focus, no event number',
      r4Notification('Appointment/ap-3', {
        id: 'bundle-3',
        resource: { resourceType: 'Appointment', id: 'ap-3', status: 'booked' },
      }),
      { type: 'appointment.booked', eventId: 'bundle-3', resource: 'Appointment/ap-3' },
    ],
    [
      'R4 backport notification without ids: the focus with its version is the event',
      r4Notification('Procedure/pr-4/_history/2'),
      { type: 'result.available', eventId: 'Procedure/pr-4/_history/2', resource: 'Procedure/pr-4' },
    ],
    [
      'R4B SubscriptionStatus notification',
      {
        resourceType: 'Bundle',
        type: 'history',
        entry: [
          {
            resource: {
              resourceType: 'SubscriptionStatus',
              subscription: { reference: 'Subscription/r4b' },
              notificationEvent: [{ eventNumber: '5', focus: { reference: 'DiagnosticReport/dr-5' } }],
            },
          },
        ],
      },
      { type: 'result.available', eventId: 'Subscription/r4b#5', resource: 'DiagnosticReport/dr-5' },
    ],
  ])('%s', async (_name, body, expected) => {
    const { gateway, starts } = recordingGateway();
    const res = await post(appWith(gateway), body);
    expect(res.status, await res.clone().text()).toBe(202);
    const out = (await res.json()) as Accepted;
    const intakeId = eventIntakeId(CLINIC, expected.eventId);
    expect(starts).toHaveLength(1);
    expect(starts[0]).toMatchObject({ intakeId, clinicId: CLINIC, event: expected });
    const caseId = `cg_${CLINIC}_crc-screening-2021_${expected.resource.replace('/', '-')}`;
    expect(out).toEqual({
      eventId: expected.eventId,
      intakeId,
      status: 'cases',
      caseIds: [caseId],
      links: {
        intake: `http://127.0.0.1:3000/v1/clinics/${CLINIC}/events/${intakeId}`,
        cases: [`http://127.0.0.1:3000/v1/cases/${caseId}`],
      },
    });
    // The intake id carries neither the event id nor anything the EHR sent: a hash.
    expect(intakeId).toMatch(new RegExp(`^ev_${CLINIC}_[0-9a-f]{32}$`));
  });

  test('an intake still reading the EHR: 202 pending, with the intake’s id and link, no case ids', async () => {
    const { gateway } = recordingGateway({ result: () => null });
    const res = await post(appWith(gateway), { type: 'result.available', id: 'slow-1', resource: 'Observation/o' });
    expect(res.status).toBe(202);
    const out = (await res.json()) as Accepted;
    expect(out.status).toBe('pending');
    expect(out.caseIds).toEqual([]);
    expect(out.links.intake).toBe(`http://127.0.0.1:3000/v1/clinics/${CLINIC}/events/${out.intakeId}`);
  });
});

describe('bad bodies: 400 with the JSON path, nothing recorded or started', () => {
  test.each([
    ['not JSON', '{"type":', '$'],
    ['not an object', '[1,2]', '$'],
    ['an unknown type', JSON.stringify({ type: 'refill.requested', id: 'x', appointment: 'Appointment/1' }), '$.type'],
    [
      'an appointment that is not one',
      JSON.stringify({ type: 'appointment.booked', id: 'x', appointment: 'Patient/1' }),
      '$.appointment',
    ],
    [
      'a result that is a MedicationRequest',
      JSON.stringify({ type: 'result.available', id: 'x', resource: 'MedicationRequest/1' }),
      '$.resource',
    ],
    ['an empty event id', JSON.stringify({ type: 'result.available', id: '', resource: 'Observation/1' }), '$.id'],
    [
      'an unknown field',
      JSON.stringify({ type: 'result.available', id: 'x', resource: 'Observation/1', patient: 'Patient/1' }),
      '$',
    ],
    [
      'a bad occurredAt',
      JSON.stringify({ type: 'result.available', id: 'x', resource: 'Observation/1', occurredAt: 'yesterday' }),
      '$.occurredAt',
    ],
    [
      'a notification whose focus is a MedicationRequest',
      JSON.stringify(r4Notification('MedicationRequest/mr-1', { id: 'b' })),
      '$.entry[0].resource.parameter[4].part[0].valueReference.reference',
    ],
    [
      'a notification whose first entry is not the status',
      JSON.stringify({
        resourceType: 'Bundle',
        type: 'history',
        entry: [{ resource: { resourceType: 'Observation' } }],
      }),
      '$.entry[0].resource.resourceType',
    ],
  ])('%s → 400 with the JSON path', async (_name, raw, path) => {
    const { gateway, starts } = recordingGateway();
    const res = await post(appWith(gateway), undefined, { raw });
    expect(res.status, await res.clone().text()).toBe(400);
    const err = ((await res.json()) as ErrorBody).error;
    expect(err.code).toBe('INVALID_INPUT');
    expect(err.issues?.[0]?.path).toBe(path);
    expect(starts).toHaveLength(0);
  });

  test('a body nested too deep is 400 naming where, not a crash', async () => {
    let deep: unknown = 'x';
    for (let i = 0; i < 200; i += 1) deep = [deep];
    const { gateway } = recordingGateway();
    const res = await post(appWith(gateway), { type: 'result.available', id: 'x', resource: 'Observation/1', deep });
    expect(res.status).toBe(400);
    expect(((await res.json()) as ErrorBody).error.issues?.[0]?.path).toMatch(/^\$\.deep(\[0\])+$/);
  });
});

describe('redeliveries', () => {
  test('the same event twice: one delivery and one audit row, the same intake, the same case ids', async () => {
    const { gateway, runs } = recordingGateway();
    const app = appWith(gateway);
    const body = { type: 'result.available', id: 'redeliver-1', resource: 'Observation/obs-r1' };
    const first = (await (await post(app, body)).json()) as Accepted;
    const again = await post(app, body);
    expect(again.status).toBe(202);
    expect((await again.json()) as Accepted).toEqual(first);
    expect(runs.size).toBe(1);
    const audit = await store.audit.listAudit({ clinicId: CLINIC, action: 'event.received', limit: 500 });
    expect(audit.items.filter((a) => a.detail.eventId === 'redeliver-1')).toHaveLength(1);
  });

  test('a notification redelivered (same subscription and event number) is one event; the next number is another', async () => {
    const { gateway, runs } = recordingGateway();
    const app = appWith(gateway);
    const a = (await (
      await post(app, r4Notification('Observation/obs-n', { id: 'b-1', eventNumber: '40' }))
    ).json()) as Accepted;
    // A redelivery may come in a new Bundle (new id): the backport's event identity is what counts.
    const b = (await (
      await post(app, r4Notification('Observation/obs-n', { id: 'b-2', eventNumber: '40' }))
    ).json()) as Accepted;
    const c = (await (
      await post(app, r4Notification('Observation/obs-n', { id: 'b-3', eventNumber: '41' }))
    ).json()) as Accepted;
    expect(b.intakeId).toBe(a.intakeId);
    expect(c.intakeId).not.toBe(a.intakeId);
    expect(runs.size).toBe(2);
  });

  test('Temporal down: 503 with Retry-After, the delivery is kept, and the EHR’s retry starts the intake', async () => {
    let down = true;
    const { gateway, runs } = recordingGateway({ down: () => down });
    const app = appWith(gateway);
    const body = { type: 'appointment.booked', id: 'down-1', appointment: 'Appointment/ap-down' };
    const first = await post(app, body);
    expect(first.status).toBe(503);
    expect(first.headers.get('retry-after')).toBeTruthy();
    down = false;
    const retry = await post(app, body);
    expect(retry.status).toBe(202);
    expect(((await retry.json()) as Accepted).caseIds).toHaveLength(1);
    expect(runs.size).toBe(1);
    const audit = await store.audit.listAudit({ clinicId: CLINIC, action: 'event.received', limit: 500 });
    expect(audit.items.filter((a) => a.detail.eventId === 'down-1')).toHaveLength(1);
  });

  test('the refill webhook is untouched: an event body there is refused, a refill body here is refused', async () => {
    const { gateway } = recordingGateway();
    const app = appWith(gateway);
    const ts = Math.floor(Date.now() / 1000);
    const raw = JSON.stringify({ type: 'appointment.booked', id: 'x', appointment: 'Appointment/1' });
    const refill = await app.request(`/v1/webhooks/${CLINIC}/refill-requests`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-autopilot-timestamp': String(ts),
        'x-autopilot-signature': signWebhook(SECRET, ts, raw),
      },
      body: raw,
    });
    expect(refill.status).toBe(400);
    const res = await post(app, { type: 'refill.requested', id: 'x', medicationRequest: 'MedicationRequest/1' });
    expect(res.status).toBe(400);
  });
});

describe('the OpenAPI document', () => {
  test('declares the events webhook with its body forms and answers', async () => {
    const { gateway } = recordingGateway();
    const doc = (await (await appWith(gateway).request('/openapi.json')).json()) as {
      paths: Record<string, Record<string, { responses: Record<string, unknown> }>>;
      components: { schemas: Record<string, unknown> };
    };
    const op = doc.paths['/v1/webhooks/{clinicId}/events']?.post;
    expect(Object.keys(op?.responses ?? {}).sort()).toEqual(['200', '202', '400', '401', '413', '429', '503']);
    for (const name of ['CareEventWebhook', 'AppointmentBookedEvent', 'ResultAvailableEvent', 'EventAccepted']) {
      expect(doc.components.schemas[name], name).toBeDefined();
    }
    const res = await appWith(gateway).request(`/v1/webhooks/${CLINIC}/events`, { method: 'GET' });
    expect(res.status).toBe(405);
  });
});
