// Registering an EHR as a CDS Hooks client through the admin API (in process, real SQLite store): the EHR's JWTs are
// accepted only while it is registered for the clinic; an issuer belongs to one clinic; other clinics' admins and
// clinicians are refused; bad bodies are 400 with the JSON path; every change is audited.
import { randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createApp } from '../../api/app.ts';
import { ensureBuiltinProtocols } from '../../api/seed.ts';
import type { WorkflowGateway } from '../../api/workflow-gateway.ts';
import { loadConfig, publicUrl } from '../../connectors/config.ts';
import { createStore, type Store } from '../../connectors/db/index.ts';
import { createLogger } from '../../connectors/logger.ts';
import { openTestDatabase, type TestDatabase } from '../helpers/db.ts';

const ISS = 'https://ehr.north.example.org/cds';
const NOW = new Date('2026-06-15T15:00:00Z');
const TOKENS = {
  admin: 'cdsc-admin-token-0123456789',
  north: 'cdsc-north-admin-token-0123456789',
  south: 'cdsc-south-admin-token-0123456789',
  nurse: 'cdsc-nurse-token-0123456789',
} as const;
const config = loadConfig({ LOG_LEVEL: 'silent' });
const gateway: WorkflowGateway = {
  startCase: () => Promise.reject(new Error('unused')),
  submitDecision: () => Promise.reject(new Error('unused')),
  getCaseState: () => Promise.resolve(null),
  ping: () => Promise.resolve(),
};

let testDb: TestDatabase;
let store: Store;
let app: ReturnType<typeof createApp>;
let key: CryptoKey;
let publicJwk: Record<string, unknown>;

const clinic = (id: string) => ({
  id,
  name: id,
  webhookSecret: 'whsec_0123456789abcdef',
  fhirBaseUrl: 'https://ehr.example.org/fhir/R4',
  fhirClientId: 'c',
  protocolId: 'family-medicine-2015',
  nurseSlaSeconds: 3600,
  timezone: 'UTC',
});

beforeAll(async () => {
  testDb = await openTestDatabase('sqlite');
  store = createStore(testDb.db);
  await ensureBuiltinProtocols(store, createLogger(config, 'test'));
  await store.clinics.create(clinic('north'));
  await store.clinics.create(clinic('south'));
  await store.tokens.createToken({ name: 'a', role: 'admin', userId: 'admin-1', token: TOKENS.admin });
  await store.tokens.createToken({
    name: 'n',
    role: 'admin',
    userId: 'north-admin',
    clinicId: 'north',
    token: TOKENS.north,
  });
  await store.tokens.createToken({
    name: 's',
    role: 'admin',
    userId: 'south-admin',
    clinicId: 'south',
    token: TOKENS.south,
  });
  await store.tokens.createToken({
    name: 'u',
    role: 'nurse',
    userId: 'nurse-1',
    clinicId: 'north',
    token: TOKENS.nurse,
  });
  const pair = await generateKeyPair('ES384', { extractable: true });
  key = pair.privateKey;
  publicJwk = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES384' };
  app = createApp({
    config,
    db: testDb.db,
    store,
    workflows: gateway,
    logger: createLogger(config, 'test'),
    now: () => NOW,
  });
});
afterAll(async () => {
  await testDb?.cleanup();
});

const admin = (method: string, path: string, token: string, body?: unknown) =>
  app.request(path, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });

/** A CDS Hooks feedback call from the EHR, signed with its key: 200 only while it is a registered client. */
async function ehrCall(): Promise<number> {
  const path = '/cds-services/refill-protocol/feedback';
  const iat = Math.floor(NOW.getTime() / 1000);
  const token = await new SignJWT({})
    .setProtectedHeader({ alg: 'ES384', kid: 'k1', typ: 'JWT' })
    .setIssuer(ISS)
    .setSubject('ehr-client')
    .setAudience(`${publicUrl(config)}${path}`)
    .setIssuedAt(iat)
    .setExpirationTime(iat + 300)
    .setJti(randomUUID())
    .sign(key);
  const res = await app.request(path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({
      feedback: [
        {
          card: 'card-1',
          outcome: 'accepted',
          acceptedSuggestions: [{ id: 's' }],
          outcomeTimestamp: NOW.toISOString(),
        },
      ],
    }),
  });
  await res.body?.cancel();
  return res.status;
}

describe('CDS clients of a clinic', () => {
  test('an EHR is accepted only while registered: register, list, call, remove, call again; each change audited', async () => {
    expect(await ehrCall()).toBe(401);
    const put = await admin('PUT', '/v1/clinics/north/cds-clients', TOKENS.north, {
      iss: ISS,
      jwks: { keys: [publicJwk] },
    });
    expect(put.status, await put.clone().text()).toBe(200);
    expect(await put.json()).toMatchObject({
      iss: ISS,
      jwksUrl: null,
      jwks: { keys: [expect.objectContaining({ kid: 'k1' })] },
    });

    const list = (await (await admin('GET', '/v1/clinics/north/cds-clients', TOKENS.north)).json()) as {
      items: { iss: string }[];
    };
    expect(list.items.map((i) => i.iss)).toEqual([ISS]);
    expect(await ehrCall()).toBe(200);

    const del = await admin('DELETE', `/v1/clinics/north/cds-clients?iss=${encodeURIComponent(ISS)}`, TOKENS.north);
    expect(del.status).toBe(204);
    expect(await ehrCall()).toBe(401);
    const again = await admin('DELETE', `/v1/clinics/north/cds-clients?iss=${encodeURIComponent(ISS)}`, TOKENS.north);
    expect(again.status).toBe(404);

    const rows = (await store.audit.listAudit({ clinicId: 'north', limit: 100 })).items.filter((r) =>
      r.action.startsWith('cds_client.'),
    );
    expect(rows.map((r) => [r.action, r.actorId])).toEqual(
      expect.arrayContaining([
        ['cds_client.registered', 'north-admin'],
        ['cds_client.removed', 'north-admin'],
      ]),
    );
  });

  test('an issuer belongs to one clinic: another clinic registering it is 409, and nothing changes', async () => {
    expect(
      (
        await admin('PUT', '/v1/clinics/north/cds-clients', TOKENS.admin, {
          iss: ISS,
          jwksUrl: 'https://ehr.north.example.org/jwks.json',
        })
      ).status,
    ).toBe(200);
    const res = await admin('PUT', '/v1/clinics/south/cds-clients', TOKENS.south, {
      iss: ISS,
      jwks: { keys: [publicJwk] },
    });
    expect(res.status).toBe(409);
    expect(((await res.json()) as { error: { issues: { path: string }[] } }).error.issues[0]?.path).toBe('$.iss');
    expect(await store.cdsClients.get(ISS)).toMatchObject({
      clinicId: 'north',
      jwksUrl: 'https://ehr.north.example.org/jwks.json',
    });
  });

  test('other clinics’ admins and clinicians are refused; bad bodies are 400 at their path', async () => {
    // Another clinic is not even said to exist (404), as on every clinic route.
    expect((await admin('GET', '/v1/clinics/north/cds-clients', TOKENS.south)).status).toBe(404);
    expect((await admin('GET', '/v1/clinics/north/cds-clients', TOKENS.nurse)).status).toBe(403);
    const both = await admin('PUT', '/v1/clinics/north/cds-clients', TOKENS.north, {
      iss: 'https://x.example.org',
      jwksUrl: 'https://x.example.org/jwks',
      jwks: { keys: [publicJwk] },
    });
    expect(both.status).toBe(400);
    expect(((await both.json()) as { error: { issues: { path: string }[] } }).error.issues[0]?.path).toBe('$.jwksUrl');
    const http = await admin('PUT', '/v1/clinics/north/cds-clients', TOKENS.north, {
      iss: 'https://x.example.org',
      jwksUrl: 'http://x.example.org/jwks',
    });
    expect(http.status).toBe(400);
    expect(((await http.json()) as { error: { issues: { path: string }[] } }).error.issues[0]?.path).toBe('$.jwksUrl');
  });
});
