// A clinic's signing policy per protocol through the API (in process, real SQLite store): admins read the `doctor`
// default, set a delegation or a standing order (a new version each time, audited in the same transaction), and are
// told with JSON paths what is wrong (400 for the schema, 422 for a policy that does not hold together); a stale
// `expectedVersion` is 409; other clinics' admins and clinicians are refused. Tokens for the new roles are issued.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createApp } from '../../api/app.ts';
import { Delegate } from '../../api/routes/signing-policy.ts';
import { ensureBuiltinProtocols } from '../../api/seed.ts';
import { SIGNING_DELEGATES } from '../../rules/lifecycle/index.ts';
import type { WorkflowGateway } from '../../api/workflow-gateway.ts';
import { loadConfig } from '../../connectors/config.ts';
import { createStore, type Store } from '../../connectors/db/index.ts';
import { createLogger } from '../../connectors/logger.ts';
import { openTestDatabase, type TestDatabase } from '../helpers/db.ts';

const config = loadConfig({ LOG_LEVEL: 'silent' });
const logger = createLogger(config, 'test');
const TOKENS = {
  admin: 'sp-admin-token-0123456789',
  otherAdmin: 'sp-other-admin-token-0123456789',
  doctor: 'sp-doctor-token-0123456789',
  pharmacist: 'sp-pharmacist-token-0123456789',
} as const;
type As = keyof typeof TOKENS;
const PROTOCOL = 'family-medicine-2015';
const PATH = `/v1/clinics/north/signing-policy/${PROTOCOL}`;

let testDb: TestDatabase;
let store: Store;
let app: ReturnType<typeof createApp>;

const clinic = (id: string) => ({
  id,
  name: id,
  webhookSecret: 'whsec_0123456789abcdef',
  fhirBaseUrl: 'https://ehr.example.org/fhir/R4',
  fhirClientId: 'c',
  protocolId: PROTOCOL,
  nurseSlaSeconds: 3600,
  timezone: 'UTC',
});

beforeAll(async () => {
  testDb = await openTestDatabase('sqlite');
  store = createStore(testDb.db);
  await ensureBuiltinProtocols(store, logger);
  await store.clinics.create(clinic('north'));
  await store.clinics.create(clinic('south'));
  await store.tokens.createToken({ name: 'a', role: 'admin', userId: 'admin-1', token: TOKENS.admin });
  await store.tokens.createToken({
    name: 'o',
    role: 'admin',
    userId: 'south-admin',
    clinicId: 'south',
    token: TOKENS.otherAdmin,
  });
  await store.tokens.createToken({
    name: 'd',
    role: 'doctor',
    userId: 'doctor-1',
    clinicId: 'north',
    token: TOKENS.doctor,
  });
  await store.tokens.createToken({
    name: 'p',
    role: 'pharmacist',
    userId: 'pharmacist-1',
    clinicId: 'north',
    token: TOKENS.pharmacist,
  });
  const workflows = { ping: () => Promise.resolve() } as unknown as WorkflowGateway;
  app = createApp({ config, db: testDb.db, store, workflows, logger, now: () => new Date() });
});
afterAll(async () => {
  await testDb?.cleanup();
});

interface Answer {
  [field: string]: unknown;
  error: { code: string; message: string; issues?: { path: string; message: string }[] };
}

async function api(path: string, init: { method?: string; body?: unknown; as?: As } = {}) {
  const headers: Record<string, string> = {};
  if (init.as) headers.authorization = `Bearer ${TOKENS[init.as]}`;
  if (init.body !== undefined) headers['content-type'] = 'application/json';
  const res = await app.request(path, {
    method: init.method ?? 'GET',
    headers,
    ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
  });
  return { status: res.status, body: (await res.json()) as Answer };
}

const AUTHORITY = { reference: 'Practitioner/dr-lopez', display: 'Dr. Ana Lopez, medical director' };

describe('signing policy per clinic and protocol', () => {
  test('a protocol without a policy runs the `doctor` default (version 0)', async () => {
    const r = await api(PATH, { as: 'admin' });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ clinicId: 'north', protocolId: PROTOCOL, mode: 'doctor', delegates: [] });
    expect(r.body).toMatchObject({ cosignDays: 7, version: 0, authority: null, updatedBy: null });
    expect((await api('/v1/clinics/north/signing-policy', { as: 'admin' })).body).toEqual({
      clinicId: 'north',
      items: [],
    });
  });

  test('setting a delegation makes a new version, audited with who and what (no patient data)', async () => {
    const r = await api(PATH, {
      method: 'PUT',
      as: 'admin',
      body: { mode: 'delegated', delegates: ['pharmacist', 'pa'], authority: AUTHORITY, expectedVersion: 0 },
    });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body).toMatchObject({ mode: 'delegated', delegates: ['pharmacist', 'pa'], version: 1 });
    expect(r.body.authority).toEqual(AUTHORITY);
    expect(r.body.updatedBy).toBe('admin-1');
    const { items } = await store.audit.listAudit({ clinicId: 'north', action: 'signing_policy.updated' });
    expect(items).toHaveLength(1);
    expect(items[0]).toMatchObject({ actorId: 'admin-1', actorRole: 'admin', protocolId: PROTOCOL });
    expect(items[0]?.detail).toMatchObject({ mode: 'delegated', delegates: ['pharmacist', 'pa'], version: 1 });

    const standing = await api(PATH, {
      method: 'PUT',
      as: 'admin',
      body: { mode: 'standing_order', cosignDays: 3, authority: AUTHORITY, expectedVersion: 1 },
    });
    expect(standing.status).toBe(200);
    expect(standing.body).toMatchObject({ mode: 'standing_order', cosignDays: 3, delegates: [], version: 2 });
    const list = await api('/v1/clinics/north/signing-policy', { as: 'admin' });
    expect((list.body.items as { version: number }[]).map((p) => p.version)).toEqual([2]);
    // The other clinic's policy is its own.
    expect((await api(`/v1/clinics/south/signing-policy/${PROTOCOL}`, { as: 'admin' })).body.mode).toBe('doctor');
  });

  test('a stale expectedVersion is 409 and changes nothing', async () => {
    const r = await api(PATH, { method: 'PUT', as: 'admin', body: { mode: 'doctor', expectedVersion: 0 } });
    expect(r.status).toBe(409);
    expect((await api(PATH, { as: 'admin' })).body.mode).toBe('standing_order');
  });

  test('bad bodies: 400 with the JSON path for the schema, 422 with the path for a policy that does not hold', async () => {
    const cases: [unknown, number, string][] = [
      [{ mode: 'anyone' }, 400, '$.mode'],
      [{ mode: 'delegated', delegates: ['doctor'], authority: AUTHORITY }, 400, '$.delegates[0]'],
      [{ mode: 'standing_order', cosignDays: 0, authority: AUTHORITY }, 400, '$.cosignDays'],
      [{ mode: 'standing_order', authority: { display: 'x', reference: 'Patient/p1' } }, 400, '$.authority.reference'],
      [{ mode: 'doctor', extra: true }, 400, '$'],
      [{ mode: 'delegated', authority: AUTHORITY }, 422, '$.delegates'],
      [{ mode: 'delegated', delegates: ['nurse', 'nurse'], authority: AUTHORITY }, 422, '$.delegates'],
      [{ mode: 'doctor', delegates: ['nurse'] }, 422, '$.delegates'],
      [{ mode: 'standing_order' }, 422, '$.authority'],
    ];
    for (const [body, status, path] of cases) {
      const r = await api(PATH, { method: 'PUT', as: 'admin', body });
      expect(r.status, JSON.stringify(body)).toBe(status);
      expect(
        r.body.error.issues?.map((i) => i.path),
        JSON.stringify(r.body),
      ).toContain(path);
    }
    expect((await api(PATH, { as: 'admin' })).body.version).toBe(2);
  });

  test('only admins, and a clinic-bound admin only for its clinic; unknown clinic or protocol is 404', async () => {
    expect((await api(PATH, { as: 'doctor' })).status).toBe(403);
    expect((await api(PATH, { method: 'PUT', as: 'pharmacist', body: { mode: 'doctor' } })).status).toBe(403);
    expect((await api(PATH)).status).toBe(401);
    expect((await api(PATH, { as: 'otherAdmin' })).status).toBe(404);
    expect((await api(`/v1/clinics/south/signing-policy/${PROTOCOL}`, { as: 'otherAdmin' })).status).toBe(200);
    expect((await api('/v1/clinics/nowhere/signing-policy/x', { as: 'admin' })).status).toBe(404);
    expect((await api('/v1/clinics/north/signing-policy/no-such-protocol', { as: 'admin' })).status).toBe(404);
  });
});

describe('the new roles', () => {
  test('an admin issues pharmacist and PA tokens; they sign in and see their role', async () => {
    for (const role of ['pharmacist', 'pa'] as const) {
      const r = await api('/v1/tokens', {
        method: 'POST',
        as: 'admin',
        body: { role, userId: `${role}.one@clinic.example`, clinicId: 'north' },
      });
      expect(r.status, JSON.stringify(r.body)).toBe(201);
      const token = r.body.token as string;
      const me = await app.request('/v1/me', { headers: { authorization: `Bearer ${token}` } });
      expect(await me.json()).toEqual({ userId: `${role}.one@clinic.example`, role, clinicId: 'north' });
    }
    expect(
      (await api('/v1/tokens', { method: 'POST', as: 'admin', body: { role: 'chemist', userId: 'x' } })).status,
    ).toBe(400);
  });

  test('the API’s delegate enum is the lifecycle’s list', () => {
    expect(Delegate.options).toEqual([...SIGNING_DELEGATES]);
  });

  test('the lifecycle tells the console which queues each role works', async () => {
    const r = await api('/v1/lifecycle', { as: 'pharmacist' });
    expect(r.status).toBe(200);
    const roles = r.body.roles as { role: string; queues: string[] }[];
    expect(roles.find((x) => x.role === 'pharmacist')?.queues).toEqual(['nurse']);
    expect(roles.find((x) => x.role === 'pa')?.queues).toEqual(['nurse', 'doctor']);
    expect(roles.find((x) => x.role === 'doctor')?.queues).toContain('cosign');
  });
});
