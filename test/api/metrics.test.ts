// GET /metrics on the API without Temporal: the exposition format, labels by route TEMPLATE (never the raw path),
// the webhook outcome per clinic only once the clinic is known, the METRICS_TOKEN gate and the queue gauges from one
// grouped query of the app database.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createApp } from '../../api/app.ts';
import { ensureBuiltinProtocols } from '../../api/seed.ts';
import { methodLabel } from '../../api/middleware/telemetry.ts';
import { signWebhook } from '../../api/middleware/webhook-signature.ts';
import type { WorkflowGateway } from '../../api/workflow-gateway.ts';
import { loadConfig } from '../../connectors/config.ts';
import { createStore, type Store } from '../../connectors/db/index.ts';
import { createLogger } from '../../connectors/logger.ts';
import { bearerMatches, idLabel, statusClass } from '../../connectors/telemetry/metrics.ts';
import { fhirInteraction, fhirStatusClass } from '../../connectors/telemetry/fhir-calls.ts';
import { readQueueStats } from '../../connectors/telemetry/queue-gauges.ts';
import { openTestDatabase, type TestDatabase } from '../helpers/db.ts';

const NURSE = 'nurse-token-metrics-test-0123456';
const METRICS_TOKEN = 'metrics-token-0123456789abcdef';
const SECRET = 'metrics-test-webhook-secret-01';
let testDb: TestDatabase;
let store: Store;
const NOW = new Date('2026-03-01T12:00:00Z');

function appWith(env: Record<string, string> = {}) {
  const config = loadConfig({ LOG_LEVEL: 'silent', ...env });
  const workflows = { ping: () => Promise.resolve() } as unknown as WorkflowGateway;
  return createApp({ config, db: testDb.db, store, workflows, logger: createLogger(config, 'test'), now: () => NOW });
}

/** `name{labels} value` lines of an exposition, as [labels object, value]. */
function samples(text: string, name: string): { labels: Record<string, string>; value: number }[] {
  const out: { labels: Record<string, string>; value: number }[] = [];
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    out.push({ labels, value: Number(m[3]) });
  }
  return out;
}

const value = (text: string, name: string, labels: Record<string, string>) =>
  samples(text, name)
    .filter((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((sum, s) => sum + s.value, 0);

beforeAll(async () => {
  testDb = await openTestDatabase('sqlite');
  store = createStore(testDb.db);
  await ensureBuiltinProtocols(store, createLogger(loadConfig({ LOG_LEVEL: 'silent' }), 'test'));
  for (const id of ['mx-a', 'mx-b'])
    await store.clinics.upsert({
      id,
      name: 'Metrics clinic',
      webhookSecret: SECRET,
      fhirBaseUrl: 'http://127.0.0.1:9/fhir/R4',
      fhirClientId: 'x',
      fhirPrivateKeyJwk: null,
      fhirTokenUrl: null,
      protocolId: 'family-medicine-2015',
      kinds: [{ kind: 'refill', enabled: true }],
      nurseSlaSeconds: 3600,
      timezone: 'UTC',
    });
  await store.tokens.createToken({ name: 'n', role: 'nurse', userId: 'nurse-1', clinicId: 'mx-a', token: NURSE });
  const cases = [
    // clinic, n, queue, created, SLA due
    ['mx-a', 1, 'nurse', '2026-03-01T10:00:00.000Z', '2026-03-01T11:00:00.000Z'], // 2 h old, overdue
    ['mx-a', 2, 'nurse', '2026-03-01T11:30:00.000Z', '2026-03-01T12:30:00.000Z'],
    ['mx-a', 3, 'doctor', '2026-03-01T11:00:00.000Z', null],
    ['mx-b', 4, 'signature', '2026-03-01T11:59:00.000Z', null],
  ] as const;
  for (const [clinicId, n, queue, at, slaDueAt] of cases) {
    await store.cases.upsertCaseProjection(
      {
        id: `rf_${clinicId}_mr-${n}`,
        clinicId,
        requestId: 'seed',
        patientId: `pat-${n}`,
        medicationRequestId: `mr-${n}`,
        status: 'queued',
        queue,
        slaDueAt,
        at,
      },
      3,
    );
  }
  // A closed case is not waiting anywhere.
  await store.cases.upsertCaseProjection(
    {
      id: 'rf_mx-a_mr-9',
      clinicId: 'mx-a',
      requestId: 'seed',
      patientId: 'pat-9',
      medicationRequestId: 'mr-9',
      status: 'closed',
      queue: 'nurse',
      at: '2026-01-01T00:00:00.000Z',
    },
    3,
  );
});
afterAll(async () => {
  await testDb?.cleanup();
});

describe('GET /metrics', () => {
  test('Prometheus text: requests by route template, never the raw path', async () => {
    const app = appWith();
    expect(
      (await app.request('/v1/cases/rf_mx-a_mr-1', { headers: { authorization: `Bearer ${NURSE}` } })).status,
    ).toBe(200);
    expect(
      (await app.request('/v1/cases/rf_mx-a_mr-2', { headers: { authorization: `Bearer ${NURSE}` } })).status,
    ).toBe(200);
    expect((await app.request('/v1/no-such-thing/pat-4711')).status).toBe(404);
    const res = await app.request('/metrics');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    expect(text).toContain('# TYPE autopilot_http_requests_total counter');
    expect(
      value(text, 'autopilot_http_requests_total', { route: '/v1/cases/:caseId', status: '200', method: 'GET' }),
    ).toBe(2);
    expect(value(text, 'autopilot_http_requests_total', { route: 'unmatched', status: '404' })).toBe(1);
    expect(value(text, 'autopilot_http_request_duration_seconds_count', { route: '/v1/cases/:caseId' })).toBe(2);
    // No id of a path reaches a label.
    expect(text).not.toContain('rf_mx-a_mr-1');
    expect(text).not.toContain('pat-4711');
    // The process's own metrics come along.
    expect(text).toContain('process_cpu_user_seconds_total');
    expect(text).toContain('nodejs_eventloop_lag_seconds');
  });

  test('queue gauges: depth, oldest age and overdue per clinic and queue, from the waiting cases only', async () => {
    const stats = await readQueueStats(testDb.db, NOW);
    expect(stats.sort((a, b) => `${a.clinicId}${a.queue}`.localeCompare(`${b.clinicId}${b.queue}`))).toEqual([
      { clinicId: 'mx-a', queue: 'doctor', depth: 1, oldestCreatedAt: '2026-03-01T11:00:00.000Z', overdue: 0 },
      { clinicId: 'mx-a', queue: 'nurse', depth: 2, oldestCreatedAt: '2026-03-01T10:00:00.000Z', overdue: 1 },
      { clinicId: 'mx-b', queue: 'signature', depth: 1, oldestCreatedAt: '2026-03-01T11:59:00.000Z', overdue: 0 },
    ]);
    const text = await (await appWith().request('/metrics')).text();
    expect(value(text, 'autopilot_queue_depth', { clinic: 'mx-a', queue: 'nurse' })).toBe(2);
    expect(value(text, 'autopilot_queue_oldest_age_seconds', { clinic: 'mx-a', queue: 'nurse' })).toBe(7200);
    expect(value(text, 'autopilot_queue_overdue_cases', { clinic: 'mx-a', queue: 'nurse' })).toBe(1);
    expect(value(text, 'autopilot_queue_oldest_age_seconds', { clinic: 'mx-b', queue: 'signature' })).toBe(60);
  });

  test('webhook outcomes: by clinic once the clinic is known; an invented clinic id never becomes a label', async () => {
    const app = appWith();
    const post = (clinic: string, secret: string, raw = '{"type":"refill.requested"}') => {
      const ts = Math.floor(NOW.getTime() / 1000);
      return app.request(`/v1/webhooks/${clinic}/refill-requests`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'x-autopilot-timestamp': String(ts),
          'x-autopilot-signature': signWebhook(secret, ts, raw),
        },
        body: raw,
      });
    };
    expect((await post('mx-a', 'wrong-secret-0123456789')).status).toBe(401);
    expect((await post('invented-clinic-77', SECRET)).status).toBe(401);
    expect((await post('mx-a', SECRET)).status).toBe(400); // signed, but not a refill event
    const text = await (await app.request('/metrics')).text();
    const webhook = '/v1/webhooks/:clinicId/refill-requests';
    expect(value(text, 'autopilot_webhook_deliveries_total', { webhook, clinic: 'mx-a', status: '401' })).toBe(1);
    expect(value(text, 'autopilot_webhook_deliveries_total', { webhook, clinic: 'mx-a', status: '400' })).toBe(1);
    expect(value(text, 'autopilot_webhook_deliveries_total', { webhook, clinic: 'unverified', status: '401' })).toBe(1);
    expect(text).not.toContain('invented-clinic-77');
  });

  test('with METRICS_TOKEN: 401 without it or with an API token, 200 with it; the document says bearer', async () => {
    const app = appWith({ METRICS_TOKEN });
    const none = await app.request('/metrics');
    expect(none.status).toBe(401);
    expect(((await none.json()) as { error: { code: string } }).error.code).toBe('UNAUTHENTICATED');
    expect((await app.request('/metrics', { headers: { authorization: `Bearer ${NURSE}` } })).status).toBe(401);
    const ok = await app.request('/metrics', { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
    expect(ok.status).toBe(200);
    expect(await ok.text()).toContain('autopilot_http_requests_total');
    type Doc = { paths: Record<string, { get: { security?: unknown; responses: Record<string, unknown> } }> };
    const doc = (await (await app.request('/openapi.json')).json()) as Doc;
    expect(doc.paths['/metrics']!.get.security).toEqual([{ bearer: [] }]);
    expect(Object.keys(doc.paths['/metrics']!.get.responses).sort()).toEqual(['200', '401', '413', '429']);
    const open = (await (await appWith().request('/openapi.json')).json()) as Doc;
    expect(open.paths['/metrics']!.get.security).toBeUndefined();
    expect(Object.keys(open.paths['/metrics']!.get.responses).sort()).toEqual(['200', '413', '429']);
  });
});

describe('label choices', () => {
  test('ids and codes pass; anything else is `other`, nothing is `none`', () => {
    expect(idLabel('demo')).toBe('demo');
    expect(idLabel('clinic-7f3a.b_c:1')).toBe('clinic-7f3a.b_c:1');
    expect(idLabel('Jane Doe')).toBe('other');
    expect(idLabel('a'.repeat(65))).toBe('other');
    expect(idLabel('x/y')).toBe('other');
    expect(idLabel(null)).toBe('none');
    expect(idLabel('')).toBe('none');
  });

  test('status classes, FHIR interactions and methods come from closed vocabularies', () => {
    expect([statusClass(200), statusClass(404), statusClass(503), statusClass(0)]).toEqual([
      '2xx',
      '4xx',
      '5xx',
      'other',
    ]);
    expect(
      ['read', 'search', 'batch', 'get', 'post', 'put', 'token', 'discovery', 'weird'].map(fhirInteraction),
    ).toEqual(['read', 'search', 'batch', 'read', 'create', 'update', 'token', 'discovery', 'other']);
    const timeout = new Error('x');
    timeout.name = 'TimeoutError';
    expect(fhirStatusClass(undefined, timeout)).toBe('timeout');
    expect(fhirStatusClass(undefined, new TypeError('fetch failed'))).toBe('network');
    expect(fhirStatusClass(429)).toBe('4xx');
    expect(['GET', 'PATCH', 'FOO'].map(methodLabel)).toEqual(['GET', 'PATCH', 'other']);
  });

  test('the metrics bearer check: exact token only', () => {
    expect(bearerMatches(`Bearer ${METRICS_TOKEN}`, METRICS_TOKEN)).toBe(true);
    expect(bearerMatches(`bearer  ${METRICS_TOKEN} `, METRICS_TOKEN)).toBe(true);
    expect(bearerMatches(`Bearer ${METRICS_TOKEN}x`, METRICS_TOKEN)).toBe(false);
    expect(bearerMatches(METRICS_TOKEN, METRICS_TOKEN)).toBe(false);
    expect(bearerMatches(undefined, METRICS_TOKEN)).toBe(false);
  });
});
