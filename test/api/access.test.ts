// Access monitoring through the API in process, with a real SQLite store (issue 10 §3): the role `privacy` (a clinic's
// privacy officer) reads the access-monitoring routes of its clinic and /v1/me, and nothing else; admins read them too.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createApp } from '../../api/app.ts';
import type { WorkflowGateway } from '../../api/workflow-gateway.ts';
import { loadConfig } from '../../connectors/config.ts';
import { createStore, type Store } from '../../connectors/db/index.ts';
import { createLogger } from '../../connectors/logger.ts';
import { openTestDatabase, type TestDatabase } from '../helpers/db.ts';

const config = loadConfig({ LOG_LEVEL: 'silent', PAYLOAD_KEY: randomBytes(32).toString('base64') });
const logger = createLogger(config, 'test');
const GLOBAL_ADMIN = 'access-global-admin-token-0123456789';
const CLINIC_ADMIN = 'access-clinic-admin-token-0123456789';
const PRIVACY = 'access-privacy-token-0123456789abcdef';
const NURSE = 'access-nurse-token-0123456789abcdefgh';

let testDb: TestDatabase;
let store: Store;
let app: ReturnType<typeof createApp>;
const clock = Date.now();

const gateway: WorkflowGateway = {
  startCase: () => Promise.reject(new Error('unused')),
  submitDecision: () => Promise.reject(new Error('unused')),
  getCaseState: () => Promise.resolve(null),
  ping: () => Promise.resolve(),
};

const clinic = (id: string) => ({
  id,
  name: id,
  webhookSecret: `whsec_${id}_0123456789abcdef`,
  fhirBaseUrl: 'https://ehr.example.org/fhir/R4',
  fhirClientId: 'x',
  protocolId: 'family-medicine-2015',
  nurseSlaSeconds: 3600,
  timezone: 'America/Chicago',
});

beforeAll(async () => {
  testDb = await openTestDatabase('sqlite');
  store = createStore(testDb.db);
  await store.clinics.upsert(clinic('ac-a'));
  await store.clinics.upsert(clinic('ac-b'));
  const token = (role: 'admin' | 'nurse' | 'privacy', userId: string, t: string, clinicId: string | null) =>
    store.tokens.createToken({ name: userId, role, userId, clinicId, token: t });
  await token('admin', 'root@example.org', GLOBAL_ADMIN, null);
  await token('admin', 'lead@ac-a.example', CLINIC_ADMIN, 'ac-a');
  await token('privacy', 'po@ac-a.example', PRIVACY, 'ac-a');
  await token('nurse', 'ana@ac-a.example', NURSE, 'ac-a');
  app = createApp({ config, db: testDb.db, store, workflows: gateway, logger, now: () => new Date(clock) });
});
afterAll(async () => {
  await testDb?.cleanup();
});

async function call(method: string, path: string, token: string | null, body?: unknown) {
  const headers: Record<string, string> = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await app.request(path, {
    method,
    headers,
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // CSV, or an empty body
  }
  return { status: res.status, text, json, headers: res.headers };
}

interface OpenApiDoc {
  paths: Record<string, Record<string, { security?: unknown[] }>>;
}

/** Routes a privacy officer may read: who it is, and access monitoring. */
const PRIVACY_ROUTES = /^\/v1\/(me|clinics\/\{clinicId\}\/access-[a-z-]+(\.csv)?(\/.*)?)$/;

describe('the role privacy', () => {
  test('a clinic admin issues a privacy officer’s token for its clinic; one for no clinic is refused', async () => {
    const issued = await call('POST', '/v1/tokens', CLINIC_ADMIN, { role: 'privacy', userId: 'po2@ac-a.example' });
    expect(issued.status, issued.text).toBe(201);
    expect(issued.json.record).toMatchObject({ role: 'privacy', clinicId: 'ac-a' });
    const me = await call('GET', '/v1/me', (issued.json as { token: string }).token);
    expect(me.json).toEqual({ userId: 'po2@ac-a.example', role: 'privacy', clinicId: 'ac-a' });

    const unbound = await call('POST', '/v1/tokens', GLOBAL_ADMIN, { role: 'privacy', userId: 'po3@example.org' });
    expect(unbound.status, unbound.text).toBe(422);
    expect(unbound.json.error).toMatchObject({ issues: [{ path: '$.clinicId' }] });
  });

  test('a privacy token bound to no clinic (written around the API) is refused everywhere', async () => {
    await store.tokens.createToken({
      name: 'x',
      role: 'privacy',
      userId: 'po-unbound@example.org',
      token: 'access-unbound-privacy-token-01234567',
    });
    const me = await call('GET', '/v1/me', 'access-unbound-privacy-token-01234567');
    expect(me.status).toBe(403);
  });

  test('every other route of the API refuses it with 403, before reading anything', async () => {
    const doc = (await call('GET', '/openapi.json', null)).json as unknown as OpenApiDoc;
    const refused: string[] = [];
    let checked = 0;
    for (const [path, methods] of Object.entries(doc.paths)) {
      if (PRIVACY_ROUTES.test(path)) continue;
      for (const [method, op] of Object.entries(methods)) {
        if (!op.security) continue; // webhooks (signed) and public documents
        const concrete = path.replace(/\{([^}]+)\}/g, (_, name: string) => (name === 'clinicId' ? 'ac-a' : 'x-1'));
        const res = await call(method.toUpperCase(), concrete, PRIVACY, method === 'get' ? undefined : {});
        checked++;
        if (res.status !== 403) refused.push(`${method} ${path}: ${res.status}`);
      }
    }
    expect(refused).toEqual([]);
    expect(checked).toBeGreaterThan(30);
    expect((await call('GET', '/v1/queues/nurse/cases', PRIVACY)).json.error).toMatchObject({
      code: 'FORBIDDEN',
      message: 'A privacy token reads access monitoring only, not cases, queues or settings',
    });
  });
});
