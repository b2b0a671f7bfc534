// The HTTP edge in process (app.request), with a real SQLite store: what an EHR and a clinician see when things go
// wrong — Temporal unreachable, bad input, missing auth — and that nothing is lost or half-written.
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createApp } from '../../api/app.ts';
import { signWebhook } from '../../api/middleware/webhook-signature.ts';
import { ensureBuiltinProtocols } from '../../api/seed.ts';
import { createWorkflowGateway, type WorkflowGateway } from '../../api/workflow-gateway.ts';
import { loadConfig } from '../../connectors/config.ts';
import { createStore, type Store } from '../../connectors/db/index.ts';
import { createLogger } from '../../connectors/logger.ts';
import { AppError } from '../../rules/index.ts';
import type { RefillTriageInput } from '../../workflows/refill-triage.ts';
import { openTestDatabase, type TestDatabase } from '../helpers/db.ts';

const SECRET = 'api-test-secret-0123456789abcdef';
const NURSE = 'nurse-token-api-test-0123456789';
let testDb: TestDatabase;
let store: Store;
const config = loadConfig({ LOG_LEVEL: 'silent' });
const logger = createLogger(config, 'test');

beforeAll(async () => {
  testDb = await openTestDatabase('sqlite');
  store = createStore(testDb.db);
  await ensureBuiltinProtocols(store, logger);
  await store.clinics.upsert({
    id: 'api-clinic',
    name: 'API test clinic',
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
  await store.tokens.createToken({ name: 'n', role: 'nurse', userId: 'nurse-1', token: NURSE });
});
afterAll(async () => {
  await testDb?.cleanup();
});

function appWith(workflows: WorkflowGateway) {
  return createApp({ config, db: testDb.db, store, workflows, logger, now: () => new Date() });
}
function post(app: ReturnType<typeof appWith>, body: string) {
  const ts = Math.floor(Date.now() / 1000);
  return app.request('/v1/webhooks/api-clinic/refill-requests', {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-autopilot-timestamp': String(ts),
      'x-autopilot-signature': signWebhook(SECRET, ts, body),
    },
    body,
  });
}
const event = (id: string) =>
  JSON.stringify({ type: 'refill.requested', id: `evt-${id}`, medicationRequest: `MedicationRequest/${id}` });

describe('when Temporal is unreachable', () => {
  test('the webhook answers 503 with Retry-After, keeps the delivery, and the EHR’s retry starts the case', async () => {
    const started: RefillTriageInput[] = [];
    let down = true;
    const gateway: WorkflowGateway = {
      startCase: (start) => {
        const input = start.input as RefillTriageInput;
        if (down)
          return Promise.reject(
            new AppError('TEMPORAL_UNAVAILABLE', 'The workflow service is unreachable; retry later', {
              retryable: true,
            }),
          );
        started.push(input);
        return Promise.resolve({ caseId: input.caseId, runId: 'r1' });
      },
      submitDecision: () => Promise.reject(new Error('unused')),
      getCaseState: () => Promise.resolve(null),
      ping: () => Promise.resolve(),
    };
    const app = appWith(gateway);
    const first = await post(app, event('mr-down-1'));
    expect(first.status).toBe(503);
    expect(first.headers.get('retry-after')).toBeTruthy();
    expect(((await first.json()) as { error: { code: string } }).error.code).toBe('TEMPORAL_UNAVAILABLE');
    // The delivery and the case row are durable: nothing is lost while Temporal is down.
    const c = await store.cases.getCase('rf_api-clinic_mr-down-1');
    expect(c?.status).toBe('received');

    down = false;
    const retry = await post(app, event('mr-down-1'));
    expect(retry.status).toBe(202);
    expect(((await retry.json()) as { caseId: string }).caseId).toBe('rf_api-clinic_mr-down-1');
    expect(started).toHaveLength(1);
    expect(
      (await store.cases.listCaseEvents('rf_api-clinic_mr-down-1')).filter((e) => e.kind === 'case.received'),
    ).toHaveLength(1);
  });

  test('the real gateway maps a dead Temporal address to 503, and /health to 503', async () => {
    const connection = Connection.lazy({ address: '127.0.0.1:1', connectTimeout: 500 });
    const app = appWith(createWorkflowGateway(new Client({ connection }), { taskQueue: 'none' }));
    const res = await post(app, event('mr-down-2'));
    expect(res.status, await res.clone().text()).toBe(503);
    const health = await app.request('/health');
    expect(health.status).toBe(503);
    expect(await health.json()).toEqual({
      status: 'down',
      parts: { temporal: 'down', database: 'ok', worker: 'down' },
    });
    // /health answers after 2 s, but the probes' gRPC calls retry with the Temporal client's backoff until their own
    // 2 s deadline and one last attempt (~3.5 s at most). A retry timer that fires into a closed channel throws an
    // uncaught "Channel has been shut down", so let them end before closing.
    await new Promise((resolve) => setTimeout(resolve, 4000));
    await connection.close();
  });
});

describe('bad requests get a 4xx with the path of the problem', () => {
  const app = () =>
    appWith({
      startCase: (s) => Promise.resolve({ caseId: s.caseId, runId: 'r' }),
      submitDecision: () =>
        Promise.reject(new AppError('TEMPORAL_UNAVAILABLE', 'not confirmed in time', { retryable: true })),
      getCaseState: () => Promise.resolve(null),
      ping: () => Promise.resolve(),
    });

  test('a decision without a token is 401, with a bad action 400 naming $.action, on an unknown case 404', async () => {
    const a = app();
    expect((await a.request('/v1/cases/x/decision', { method: 'POST', body: '{}' })).status).toBe(401);
    const bad = await a.request('/v1/cases/rf_api-clinic_mr-down-1/decision', {
      method: 'POST',
      headers: { authorization: `Bearer ${NURSE}`, 'content-type': 'application/json' },
      body: JSON.stringify({ action: 'sign' }),
    });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { issues: { path: string }[] } }).error.issues[0]?.path).toBe('$.action');
    const missing = await a.request('/v1/cases/rf_api-clinic_nope/decision', {
      method: 'POST',
      headers: { authorization: `Bearer ${NURSE}`, 'content-type': 'application/json' },
      body: JSON.stringify({ action: 'approve' }),
    });
    expect(missing.status).toBe(404);
  });

  test('a decision the workflow does not confirm in time is 503 with Retry-After, never 200', async () => {
    await store.cases.upsertCaseProjection(
      {
        id: 'rf_api-clinic_mr-q-1',
        clinicId: 'api-clinic',
        requestId: 'r',
        patientId: 'p',
        medicationRequestId: 'mr-q-1',
        status: 'queued',
        queue: 'nurse',
      },
      3,
    );
    const res = await app().request('/v1/cases/rf_api-clinic_mr-q-1/decision', {
      method: 'POST',
      headers: {
        authorization: `Bearer ${NURSE}`,
        'content-type': 'application/json',
        'idempotency-key': 'dec-retry-0001',
      },
      body: JSON.stringify({ action: 'approve' }),
    });
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBeTruthy();
  });

  test('a queue that does not exist is 400; an unknown route is a JSON 404', async () => {
    const a = app();
    const res = await a.request('/v1/queues/pharmacist/cases', { headers: { authorization: `Bearer ${NURSE}` } });
    expect(res.status).toBe(400);
    const nf = await a.request('/v1/nothing');
    expect(nf.status).toBe(404);
    expect(((await nf.json()) as { error: { code: string } }).error.code).toBe('NOT_FOUND');
  });

  test('a body that is not JSON is 400 at $, and nothing is recorded', async () => {
    const res = await post(app(), '{"type": "refill.requested", "id": ');
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { issues: { path: string }[] } }).error.issues[0]?.path).toBe('$');
  });

  test('the OpenAPI document describes the contract', async () => {
    const doc = (await (await app().request('/openapi.json')).json()) as { paths: Record<string, unknown> };
    for (const p of [
      '/v1/webhooks/{clinicId}/refill-requests',
      '/v1/cases/{caseId}',
      '/v1/queues/{queue}/cases',
      '/v1/cases/{caseId}/decision',
      '/health',
    ]) {
      expect(Object.keys(doc.paths)).toContain(p);
    }
  });
});
