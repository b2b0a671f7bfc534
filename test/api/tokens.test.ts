// API tokens over their whole life, through the API in process with a real SQLite store: an admin issues a token for
// one person (shown once, always expiring), lists tokens without ever seeing one, revokes; expired and revoked tokens
// stop working at once; a doctor or nurse token bound to no clinic stops working once a second clinic exists, and
// cannot be issued then; a clinic admin manages only its own clinic's tokens. Every issue and revoke is audited.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createApp } from '../../api/app.ts';
import type { WorkflowGateway } from '../../api/workflow-gateway.ts';
import { loadConfig } from '../../connectors/config.ts';
import { createStore, hashToken, type Store } from '../../connectors/db/index.ts';
import { createLogger } from '../../connectors/logger.ts';
import { openTestDatabase, type TestDatabase } from '../helpers/db.ts';

const config = loadConfig({ LOG_LEVEL: 'silent', PAYLOAD_KEY: randomBytes(32).toString('base64') });
const logger = createLogger(config, 'test');
const GLOBAL_ADMIN = 'tokens-global-admin-token-0123456789';
const CLINIC_ADMIN = 'tokens-clinic-admin-token-0123456789';
const UNBOUND_NURSE = 'tokens-unbound-nurse-token-0123456789';

let testDb: TestDatabase;
let store: Store;
let app: ReturnType<typeof createApp>;
let clock = Date.now();

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
  timezone: 'UTC',
});

beforeAll(async () => {
  testDb = await openTestDatabase('sqlite');
  store = createStore(testDb.db);
  await store.clinics.upsert(clinic('tk-a'));
  await store.tokens.createToken({ name: 'g', role: 'admin', userId: 'root@example.org', token: GLOBAL_ADMIN });
  await store.tokens.createToken({
    name: 'c',
    role: 'admin',
    userId: 'lead@tk-a.example',
    clinicId: 'tk-a',
    token: CLINIC_ADMIN,
  });
  // Issued while the installation had one clinic, bound to none (as single-clinic installs used to do).
  await store.tokens.createToken({ name: 'n', role: 'nurse', userId: 'nurse@tk-a.example', token: UNBOUND_NURSE });
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
  return { status: res.status, text, json: (text ? JSON.parse(text) : null) as Record<string, unknown> };
}

interface Issued {
  token: string;
  record: { id: string; expiresAt: string; userId: string; role: string; clinicId: string | null };
}

describe('issuing, listing and revoking', () => {
  test('a global admin issues a token for one person: shown once, expiring by default after 90 days', async () => {
    const res = await call('POST', '/v1/tokens', GLOBAL_ADMIN, {
      role: 'doctor',
      userId: 'dr.house@tk-a.example',
      clinicId: 'tk-a',
    });
    expect(res.status, res.text).toBe(201);
    const { token, record } = res.json as unknown as Issued;
    expect(record).toMatchObject({ userId: 'dr.house@tk-a.example', role: 'doctor', clinicId: 'tk-a' });
    expect(Date.parse(record.expiresAt) - clock).toBe(90 * 86_400_000);
    expect((await call('GET', '/v1/me', token)).json).toMatchObject({ userId: 'dr.house@tk-a.example' });

    const list = await call('GET', '/v1/tokens', GLOBAL_ADMIN);
    expect(list.status).toBe(200);
    expect(list.text).not.toContain(token);
    expect(list.text).not.toContain(hashToken(token));
    expect(list.text).not.toContain(hashToken(GLOBAL_ADMIN));
    expect((list.json.items as { id: string }[]).map((t) => t.id)).toContain(record.id);

    const { items } = await store.audit.listAudit({ action: 'token.issued' });
    expect(items[0]).toMatchObject({
      actorId: 'root@example.org',
      actorRole: 'admin',
      clinicId: 'tk-a',
      detail: { tokenId: record.id, role: 'doctor', userId: 'dr.house@tk-a.example' },
    });
    expect(items[0]?.requestId).not.toBeNull();
    expect(JSON.stringify(items)).not.toContain(token);
  });

  test('a revoked token stops at once; the revocation is audited', async () => {
    const issued = (await call('POST', '/v1/tokens', GLOBAL_ADMIN, { role: 'nurse', userId: 'rn.1', clinicId: 'tk-a' }))
      .json as unknown as Issued;
    expect((await call('GET', '/v1/me', issued.token)).status).toBe(200);
    const del = await call('DELETE', `/v1/tokens/${issued.record.id}`, GLOBAL_ADMIN);
    expect(del.status, del.text).toBe(204);
    expect((await call('GET', '/v1/me', issued.token)).status).toBe(401);
    expect((await call('DELETE', `/v1/tokens/${issued.record.id}`, GLOBAL_ADMIN)).status).toBe(404);
    const { items } = await store.audit.listAudit({ action: 'token.revoked' });
    expect(items[0]).toMatchObject({ actorId: 'root@example.org', detail: { tokenId: issued.record.id } });
  });

  test('an expired token is refused with 401 and says so', async () => {
    const issued = (
      await call('POST', '/v1/tokens', GLOBAL_ADMIN, { role: 'admin', userId: 'temp.admin', expiresIn: '1h' })
    ).json as unknown as Issued;
    expect(Date.parse(issued.record.expiresAt) - clock).toBe(3_600_000);
    expect((await call('GET', '/v1/tokens', issued.token)).status).toBe(200);
    const before = clock;
    clock += 3_600_000;
    try {
      const res = await call('GET', '/v1/tokens', issued.token);
      expect(res.status, res.text).toBe(401);
      expect(res.json.error).toMatchObject({
        code: 'UNAUTHENTICATED',
        message: expect.stringMatching(/expired/) as unknown,
      });
    } finally {
      clock = before;
    }
  });

  test('malformed requests are 400 and unusable ones 422, with the path', async () => {
    for (const [body, path, status] of [
      [{ role: 'nurse', clinicId: 'tk-a' }, '$.userId', 400],
      [{ role: 'nurse', userId: 'all nurses', clinicId: 'tk-a' }, '$.userId', 400],
      [{ role: 'nurse', userId: 'rn.2', clinicId: 'tk-a', expiresIn: 'forever' }, '$.expiresIn', 400],
      [{ role: 'owner', userId: 'rn.2' }, '$.role', 400],
      // Well-formed, but past this deployment's maximum lifetime, or naming a clinic that does not exist.
      [{ role: 'nurse', userId: 'rn.2', clinicId: 'tk-a', expiresIn: '366d' }, '$.expiresIn', 422],
      [{ role: 'nurse', userId: 'rn.2', clinicId: 'nope' }, '$.clinicId', 422],
    ] as const) {
      const res = await call('POST', '/v1/tokens', GLOBAL_ADMIN, body);
      expect(res.status, `${JSON.stringify(body)}: ${res.text}`).toBe(status);
      expect((res.json.error as { issues: { path: string }[] }).issues[0]?.path).toBe(path);
    }
    expect((await call('POST', '/v1/tokens', UNBOUND_NURSE, { role: 'nurse', userId: 'x' })).status).toBe(403);
    expect((await call('POST', '/v1/tokens', null, { role: 'nurse', userId: 'x' })).status).toBe(401);
  });
});

describe('a clinic admin manages its own clinic’s tokens only', () => {
  test('issues for its clinic (by default), never for another clinic or for every clinic', async () => {
    await store.clinics.upsert(clinic('tk-b'));
    const own = await call('POST', '/v1/tokens', CLINIC_ADMIN, { role: 'nurse', userId: 'rn.a' });
    expect(own.status, own.text).toBe(201);
    expect((own.json as unknown as Issued).record.clinicId).toBe('tk-a');
    for (const body of [
      { role: 'nurse', userId: 'rn.b', clinicId: 'tk-b' },
      { role: 'admin', userId: 'root2', clinicId: null },
    ]) {
      const res = await call('POST', '/v1/tokens', CLINIC_ADMIN, body);
      expect(res.status, res.text).toBe(403);
    }
    const foreign = (
      await call('POST', '/v1/tokens', GLOBAL_ADMIN, { role: 'nurse', userId: 'rn.b', clinicId: 'tk-b' })
    ).json as unknown as Issued;
    const listed = await call('GET', '/v1/tokens', CLINIC_ADMIN);
    const ids = (listed.json.items as { id: string; clinicId: string | null }[]).map((t) => t.clinicId);
    expect(new Set(ids)).toEqual(new Set(['tk-a']));
    expect((await call('GET', '/v1/tokens?clinicId=tk-b', CLINIC_ADMIN)).json.items).toEqual([]);
    expect((await call('DELETE', `/v1/tokens/${foreign.record.id}`, CLINIC_ADMIN)).status).toBe(404);
    expect((await call('GET', '/v1/me', foreign.token)).status).toBe(200);
  });
});

describe('tokens bound to no clinic', () => {
  test('a nurse token for every clinic works while there is one clinic, and is refused once there are several', async () => {
    // By now tk-b exists (previous describe); remove the doubt by checking the count.
    expect(await store.clinics.count()).toBeGreaterThan(1);
    const res = await call('GET', '/v1/me', UNBOUND_NURSE);
    expect(res.status, res.text).toBe(403);
    expect(res.json.error).toMatchObject({
      code: 'FORBIDDEN',
      message: expect.stringMatching(/bound to no clinic/) as unknown,
    });
    // Global admins stay unbound.
    expect((await call('GET', '/v1/me', GLOBAL_ADMIN)).status).toBe(200);
    // Issuing one is refused too, with the path to fix.
    const issue = await call('POST', '/v1/tokens', GLOBAL_ADMIN, { role: 'doctor', userId: 'dr.any' });
    expect(issue.status, issue.text).toBe(422);
    expect((issue.json.error as { issues: { path: string }[] }).issues[0]?.path).toBe('$.clinicId');
  });

  test('with a single clinic the same token is accepted', async () => {
    const single = await openTestDatabase('sqlite');
    try {
      const s = createStore(single.db);
      await s.clinics.upsert(clinic('only'));
      await s.tokens.createToken({ name: 'n', role: 'nurse', userId: 'nurse.only', token: UNBOUND_NURSE });
      const one = createApp({ config, db: single.db, store: s, workflows: gateway, logger, now: () => new Date() });
      const res = await one.request('/v1/me', { headers: { authorization: `Bearer ${UNBOUND_NURSE}` } });
      expect(res.status, await res.clone().text()).toBe(200);
    } finally {
      await single.cleanup();
    }
  });
});
