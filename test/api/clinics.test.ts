// Clinic onboarding through the API, in process, with a real SQLite store and the real sandbox EHR on loopback: an
// admin creates a clinic with its SMART key, receives the webhook secret once, rotates it with a grace period, and
// checks the connection; nobody else can, and no response, row or audit entry carries a secret in the clear.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import type { JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createApp } from '../../api/app.ts';
import { signWebhook } from '../../api/middleware/webhook-signature.ts';
import { ensureBuiltinProtocols } from '../../api/seed.ts';
import type { WorkflowGateway } from '../../api/workflow-gateway.ts';
import { loadConfig } from '../../connectors/config.ts';
import { createStore, type Store } from '../../connectors/db/index.ts';
import { generateClientKeyPair } from '../../connectors/fhir/auth.ts';
import { createClinicFhir } from '../../connectors/fhir/clinic-connectors.ts';
import { createLogger } from '../../connectors/logger.ts';
import { createSecretBox } from '../../connectors/secret-box.ts';
import { startSandbox, type SandboxHandle } from '../../sandbox/fhir-server.ts';
import { openTestDatabase, type TestDatabase } from '../helpers/db.ts';

const config = loadConfig({
  LOG_LEVEL: 'silent',
  PAYLOAD_KEY: randomBytes(32).toString('base64'),
  PAYLOAD_KEY_ID: 'clinics-k1',
  // The sandbox-style EHR URLs below are on loopback: allowed explicitly, as `npm start` allows them with DEMO=1.
  EHR_ALLOW_PRIVATE_NETWORKS: 'true',
});
const logger = createLogger(config, 'test');
/** The sandbox EHR listens on loopback. */
const LOOPBACK_OK = { allowPrivateNetworks: true, requireHttps: false };
const TOKENS = {
  admin: 'clinics-admin-token-0123456789',
  boundAdmin: 'clinics-bound-admin-token-0123456789',
  doctor: 'clinics-doctor-token-0123456789',
  nurse: 'clinics-nurse-token-0123456789',
} as const;
type As = keyof typeof TOKENS;

let testDb: TestDatabase;
let store: Store;
let sandbox: SandboxHandle;
let app: ReturnType<typeof createApp>;
let clock = Date.now();
const started: string[] = [];

const gateway: WorkflowGateway = {
  startCase: (start) => {
    started.push(start.caseId);
    return Promise.resolve({ caseId: start.caseId, runId: 'r1' });
  },
  submitDecision: () => Promise.reject(new Error('unused')),
  getCaseState: () => Promise.resolve(null),
  ping: () => Promise.resolve(),
};

beforeAll(async () => {
  testDb = await openTestDatabase('sqlite');
  store = createStore(testDb.db);
  await ensureBuiltinProtocols(store, logger);
  await store.tokens.createToken({ name: 'a', role: 'admin', userId: 'admin-1', token: TOKENS.admin });
  await store.tokens.createToken({ name: 'd', role: 'doctor', userId: 'doctor-1', token: TOKENS.doctor });
  await store.tokens.createToken({ name: 'n', role: 'nurse', userId: 'nurse-1', token: TOKENS.nurse });
  sandbox = await startSandbox({ validate: false });
  app = createApp({ config, db: testDb.db, store, workflows: gateway, logger, now: () => new Date(clock) });
});
afterAll(async () => {
  await sandbox?.close();
  await testDb?.cleanup();
});

function api(path: string, init: { method?: string; body?: unknown; raw?: string; as?: As } = {}) {
  const headers: Record<string, string> = {};
  if (init.as) headers.authorization = `Bearer ${TOKENS[init.as]}`;
  if (init.body !== undefined || init.raw !== undefined) headers['content-type'] = 'application/json';
  return Promise.resolve(
    app.request(path, {
      method: init.method ?? 'GET',
      headers,
      ...(init.raw !== undefined
        ? { body: init.raw }
        : init.body !== undefined
          ? { body: JSON.stringify(init.body) }
          : {}),
    }),
  );
}

function webhook(clinicId: string, secret: string, medicationRequestId: string) {
  const raw = JSON.stringify({
    type: 'refill.requested',
    id: `evt-${medicationRequestId}`,
    medicationRequest: `MedicationRequest/${medicationRequestId}`,
  });
  const ts = Math.floor(clock / 1000);
  return Promise.resolve(
    app.request(`/v1/webhooks/${clinicId}/refill-requests`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-autopilot-timestamp': String(ts),
        'x-autopilot-signature': signWebhook(secret, ts, raw),
      },
      body: raw,
    }),
  );
}

interface Created {
  clinic: { id: string; fhirKey: { set: boolean; encryptedAtRest: boolean; keyId: string | null; thumbprint: string } };
  webhookSecret: string;
  publicJwks: { keys: JWK[] } | null;
}

function clinicBody(id: string, overrides: Record<string, unknown> = {}) {
  return {
    id,
    name: `Clinic ${id}`,
    fhirBaseUrl: sandbox.fhirBaseUrl,
    fhirClientId: `client-${id}`,
    protocolId: 'family-medicine-2015',
    refillAutomationEnabled: true,
    nurseSlaSeconds: 3600,
    timezone: 'America/Chicago',
    ...overrides,
  };
}

async function create(id: string, overrides: Record<string, unknown> = {}): Promise<Created> {
  const res = await api('/v1/clinics', { method: 'POST', as: 'admin', body: clinicBody(id, overrides) });
  expect(res.status, await res.clone().text()).toBe(201);
  return (await res.json()) as Created;
}

describe('onboarding a clinic', () => {
  let keys: Awaited<ReturnType<typeof generateClientKeyPair>>;
  let created: Created;
  beforeAll(async () => {
    keys = await generateClientKeyPair('north-key-1');
    created = await create('north', { privateKey: JSON.stringify(keys.privateJwk) });
  });

  test('answers with the webhook secret once and the public key to register with the EHR', async () => {
    expect(created.webhookSecret).toMatch(/^whsec_[A-Za-z0-9_-]{43}$/);
    expect(created.clinic.fhirKey).toMatchObject({ set: true, encryptedAtRest: true, keyId: 'north-key-1' });
    expect(created.publicJwks?.keys).toHaveLength(1);
    const pub = created.publicJwks!.keys[0]!;
    expect(pub).toMatchObject({ kid: 'north-key-1', alg: 'ES384', kty: 'EC', crv: 'P-384', x: keys.privateJwk.x });
    expect(pub).not.toHaveProperty('d');
    // The secret really is the clinic's: a webhook signed with it is accepted.
    expect((await webhook('north', created.webhookSecret, 'mr-north-1')).status).toBe(202);
  });

  test('GET and list never show a secret or the private key, only key id, thumbprint and whether set', async () => {
    for (const path of ['/v1/clinics/north', '/v1/clinics']) {
      const res = await api(path, { as: 'admin' });
      expect(res.status).toBe(200);
      const text = await res.text();
      expect(text).not.toContain(created.webhookSecret);
      expect(text).not.toContain(keys.privateJwk.d!);
      expect(text).not.toContain('enc:v1:');
      expect(text).toContain(created.clinic.fhirKey.thumbprint);
    }
    const one = (await (await api('/v1/clinics/north', { as: 'admin' })).json()) as Record<string, unknown>;
    expect(one).toMatchObject({
      id: 'north',
      webhookSecret: { set: true, previousValidUntil: null },
      fhirKey: { set: true, keyId: 'north-key-1' },
      refillAutomationEnabled: true,
      nurseSlaSeconds: 3600,
      timezone: 'America/Chicago',
    });
  });

  test('the private key is ciphertext in the database row, bound to its clinic', async () => {
    const row = await testDb.db.kysely
      .selectFrom('clinics')
      .select(['fhirPrivateKeyJwk', 'fhirPublicJwk'])
      .where('id', '=', 'north')
      .executeTakeFirstOrThrow();
    expect(row.fhirPrivateKeyJwk).toMatch(/^enc:v1:clinics-k1:[A-Za-z0-9+/]+=*$/);
    expect(row.fhirPrivateKeyJwk).not.toContain(keys.privateJwk.d!);
    expect(row.fhirPublicJwk).not.toContain('"d"');
    const box = createSecretBox(config);
    expect(JSON.parse(box.decrypt(row.fhirPrivateKeyJwk!, 'clinic:north:fhirPrivateKeyJwk'))).toMatchObject({
      d: keys.privateJwk.d,
    });
    expect(() => box.decrypt(row.fhirPrivateKeyJwk!, 'clinic:south:fhirPrivateKeyJwk')).toThrow(/authentication/);
  });

  test('audit entries record who created the clinic, without any secret', async () => {
    const { items } = await store.audit.listAudit({ clinicId: 'north', action: 'clinic.created' });
    expect(items).toHaveLength(1);
    expect(items[0]).toMatchObject({ actorId: 'admin-1', actorRole: 'admin', clinicId: 'north' });
    const text = JSON.stringify(items);
    expect(text).not.toContain(created.webhookSecret);
    expect(text).not.toContain(keys.privateJwk.d!);
  });

  test('the connection check reads the CapabilityStatement and gets a SMART token with the key', async () => {
    sandbox.registerClient({ clientId: 'client-north', jwks: created.publicJwks! });
    const res = await api('/v1/clinics/north/connection-check', { method: 'POST', as: 'admin' });
    expect(res.status, await res.clone().text()).toBe(200);
    const report = (await res.json()) as Record<string, unknown>;
    expect(report).toMatchObject({
      ok: true,
      fhirVersion: expect.stringMatching(/^4\.0/) as unknown,
      batch: true,
      smart: { configured: true, tokenEndpoint: `${sandbox.url}/oauth2/token`, tokenOk: true },
    });
    expect(report.conditionalCreateTypes).toContain('MedicationRequest');
    const steps = report.steps as { id: string; status: string; fix: string | null }[];
    expect(steps.map((s) => `${s.id}:${s.status}`)).toEqual([
      'capability_statement:pass',
      'smart_discovery:pass',
      'token:pass',
      'test_read:pass',
    ]);
    // Audited with each step's outcome and the test read, which reads a count and no patient record.
    const { items } = await store.audit.listAudit({ clinicId: 'north', action: 'clinic.connection_checked' });
    expect(items[0]?.detail).toMatchObject({
      ok: true,
      steps: { capability_statement: 'pass', smart_discovery: 'pass', token: 'pass', test_read: 'pass' },
      testRead: 'Patient?_summary=count',
    });
  });

  test('the worker’s connectors decrypt the stored key and read the EHR with a token', async () => {
    const fhir = createClinicFhir(store, { timeoutMs: 5000, secrets: createSecretBox(config), egress: LOOPBACK_OK });
    const connector = await fhir.forClinic('north');
    await expect(connector.search('Patient', { _count: 1 })).resolves.toHaveProperty('matches');
    const without = createClinicFhir(store, { timeoutMs: 5000, egress: LOOPBACK_OK });
    await expect(without.forClinic('north')).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
  });

  test('a PEM RSA key works too; its key id defaults to the thumbprint', async () => {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const pem = privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    const c = await create('west', { privateKey: pem });
    expect(c.clinic.fhirKey.keyId).toBe(c.clinic.fhirKey.thumbprint);
    expect(c.publicJwks!.keys[0]).toMatchObject({ kty: 'RSA', alg: 'RS384' });
    sandbox.registerClient({ clientId: 'client-west', jwks: c.publicJwks! });
    const report = (await (await api('/v1/clinics/west/connection-check', { method: 'POST', as: 'admin' })).json()) as {
      smart: { tokenOk: boolean };
      problems: string[];
    };
    expect(report.smart.tokenOk, report.problems.join('; ')).toBe(true);
  });

  test('a key the EHR does not know is reported, not thrown', async () => {
    const other = await generateClientKeyPair();
    await create('east', { privateKey: other.privateJwk });
    const res = await api('/v1/clinics/east/connection-check', { method: 'POST', as: 'admin' });
    expect(res.status).toBe(200);
    const report = (await res.json()) as {
      ok: boolean;
      fhirVersion: string;
      smart: { tokenOk: boolean };
      problems: string[];
    };
    expect(report.fhirVersion).toMatch(/^4\.0/);
    expect(report.ok).toBe(false);
    expect(report.smart.tokenOk).toBe(false);
    expect(report.problems.join(' ')).toMatch(/SMART token: authorization server refused/);
    const steps = (report as unknown as { steps: { id: string; status: string; fix: string | null }[] }).steps;
    expect(steps.map((s) => s.status)).toEqual(['pass', 'pass', 'fail', 'skipped']);
    expect(steps[2]?.fix).toMatch(/client id client-east/);
  });

  test('an EHR that is down is reported as problems with 200, never a 500', async () => {
    await create('down', { fhirBaseUrl: 'http://127.0.0.1:9/fhir/R4', privateKey: keys.privateJwk });
    const res = await api('/v1/clinics/down/connection-check', { method: 'POST', as: 'admin' });
    expect(res.status, await res.clone().text()).toBe(200);
    const report = (await res.json()) as { ok: boolean; fhirVersion: string | null; problems: string[] };
    expect(report.ok).toBe(false);
    expect(report.fhirVersion).toBeNull();
    expect(report.problems).toHaveLength(1);
    expect(report.problems[0]).toMatch(/^CapabilityStatement: /);
    // The first step failed: the others are not run (each would fail for the same reason).
    const steps = (report as unknown as { steps: { status: string; fix: string | null }[] }).steps;
    expect(steps.map((s) => s.status)).toEqual(['fail', 'skipped', 'skipped', 'skipped']);
    expect(steps[0]?.fix).toMatch(/did not answer/);
    const { items } = await store.audit.listAudit({ clinicId: 'down', action: 'clinic.connection_checked' });
    expect(items[0]?.detail).toMatchObject({ ok: false });
  });
});

describe('settings', () => {
  test('an admin switches automation off, changes the SLA and the protocol; each change is audited', async () => {
    await create('set-1');
    const res = await api('/v1/clinics/set-1/settings', {
      method: 'PATCH',
      as: 'admin',
      body: { refillAutomationEnabled: false, nurseSlaSeconds: 7200, name: 'Set One' },
    });
    expect(res.status, await res.clone().text()).toBe(200);
    expect(await res.json()).toMatchObject({ refillAutomationEnabled: false, nurseSlaSeconds: 7200 });
    const stored = await store.clinics.get('set-1');
    expect(stored).toMatchObject({ nurseSlaSeconds: 7200, timezone: 'America/Chicago' });
    // The field is the refill kind's switch, stored as its clinic_kinds entry (migration 0010).
    expect((await store.clinics.kinds('set-1')).find((k) => k.kind === 'refill')?.enabled).toBe(false);
    const { items } = await store.audit.listAudit({ clinicId: 'set-1', action: 'clinic.settings_changed' });
    expect(items[0]?.detail).toEqual({
      changes: {
        name: { from: 'Clinic set-1', to: 'Set One' },
        refillAutomationEnabled: { from: true, to: false },
        nurseSlaSeconds: { from: 3600, to: 7200 },
      },
    });
  });

  test('refillAutomationEnabled is the refill switch: a kinds entry for the own kind changes its cadence, never the switch', async () => {
    await create('sw-1');
    const patch = (body: unknown) => api('/v1/clinics/sw-1/settings', { method: 'PATCH', as: 'admin', body });
    expect((await patch({ refillAutomationEnabled: false })).status).toBe(200);
    const res = await patch({ kinds: [{ kind: 'refill', enabled: true, sweepCron: '0 7 * * 2' }] });
    expect(res.status, await res.clone().text()).toBe(200);
    const view = (await res.json()) as { refillAutomationEnabled: boolean; kinds: { kind: string }[] };
    expect(view.refillAutomationEnabled).toBe(false);
    expect(view.kinds.find((k) => k.kind === 'refill')).toMatchObject({ enabled: true, sweepCron: '0 7 * * 2' });
    expect((await store.clinics.kinds('sw-1')).find((k) => k.kind === 'refill')).toMatchObject({
      enabled: false,
      sweepCron: '0 7 * * 2',
    });
    const on = await patch({ refillAutomationEnabled: true });
    expect(((await on.json()) as { refillAutomationEnabled: boolean }).refillAutomationEnabled).toBe(true);
    const read = await api('/v1/clinics/sw-1', { as: 'admin' });
    expect(await read.json()).toMatchObject({ refillAutomationEnabled: true });
  });

  test('a clinic is pinned to a published version of its protocol and unpinned; drafts and unknown versions are refused', async () => {
    await create('pin-1');
    const patch = (body: unknown) => api('/v1/clinics/pin-1/settings', { method: 'PATCH', as: 'admin', body });
    const pinned = await patch({ protocolVersion: 1 });
    expect(pinned.status, await pinned.clone().text()).toBe(200);
    expect(await pinned.json()).toMatchObject({ protocolVersion: 1 });
    expect((await store.clinics.get('pin-1'))?.protocolVersion).toBe(1);

    const unknown = await patch({ protocolVersion: 999 });
    expect(unknown.status).toBe(422);
    expect(((await unknown.json()) as { error: { issues: { path: string }[] } }).error.issues[0]?.path).toBe(
      '$.protocolVersion',
    );
    const protocolId = (await store.clinics.get('pin-1'))!.protocolId;
    const published = (await store.protocols.getPublished(protocolId))!;
    const draft = await store.protocols.createDraft({ protocolId, definition: published.definition, by: 'x' });
    expect((await patch({ protocolVersion: draft.version })).status).toBe(409);
    expect((await store.clinics.get('pin-1'))?.protocolVersion).toBe(1);

    const cleared = await patch({ protocolVersion: null });
    expect(await cleared.json()).toMatchObject({ protocolVersion: null });
    const { items } = await store.audit.listAudit({ clinicId: 'pin-1', action: 'clinic.settings_changed' });
    expect(items.map((e) => e.detail)).toEqual([
      { changes: { protocolVersion: { from: 1, to: null } } },
      { changes: { protocolVersion: { from: null, to: 1 } } },
    ]);
  });

  test('a protocol that is not published is refused with its path', async () => {
    const res = await api('/v1/clinics/set-1/settings', { method: 'PATCH', as: 'admin', body: { protocolId: 'nope' } });
    expect(res.status).toBe(422); // well-formed (the schema holds), but refers to nothing
    expect(((await res.json()) as { error: { issues: { path: string }[] } }).error.issues[0]?.path).toBe(
      '$.protocolId',
    );
  });
});

describe('changing the EHR connection', () => {
  test('the batch setting: auto by default, set on onboarding or changed (audited), used by the worker’s connector and the check', async () => {
    const made = await create('batchy');
    expect(made.clinic).toMatchObject({ fhirBatch: 'auto' });
    const fhir = createClinicFhir(store, { timeoutMs: 5000, egress: LOOPBACK_OK });
    // The sandbox advertises batch: auto uses it without a probe.
    expect(await (await fhir.forClinic('batchy')).capabilities()).toMatchObject({
      batch: true,
      batchFrom: 'advertised',
    });

    const res = await api('/v1/clinics/batchy/ehr-connection', {
      method: 'PATCH',
      as: 'admin',
      body: { fhirBatch: 'never' },
    });
    expect(res.status, await res.clone().text()).toBe(200);
    expect(((await res.json()) as { clinic: { fhirBatch: string } }).clinic.fhirBatch).toBe('never');
    expect(await (await api('/v1/clinics/batchy', { as: 'admin' })).json()).toMatchObject({ fhirBatch: 'never' });
    // The worker's connector is rebuilt from the new settings on its next call.
    expect(await (await fhir.forClinic('batchy')).capabilities()).toMatchObject({
      batch: false,
      batchFrom: 'configured',
    });
    const { items } = await store.audit.listAudit({ clinicId: 'batchy', action: 'clinic.ehr_connection_changed' });
    expect(items[0]?.detail).toEqual({ changes: { fhirBatch: { from: 'auto', to: 'never' } } });

    // The check probes the EHR whatever the setting, and reports both.
    const report = (await (
      await api('/v1/clinics/batchy/connection-check', { method: 'POST', as: 'admin' })
    ).json()) as {
      batch: boolean;
      batchSetting: string;
      batchSupport: string;
      steps: { id: string; detail: string }[];
    };
    expect(report).toMatchObject({ batch: false, batchSetting: 'never', batchSupport: 'advertised' });
    expect(report.steps[0]?.detail).toContain('setting "never"');
    const checked = await store.audit.listAudit({ clinicId: 'batchy', action: 'clinic.connection_checked' });
    expect(checked.items[0]?.detail).toMatchObject({ batchSetting: 'never', batchSupport: 'advertised' });

    const bad = await api('/v1/clinics/batchy/ehr-connection', {
      method: 'PATCH',
      as: 'admin',
      body: { fhirBatch: 'sometimes' },
    });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { issues: { path: string }[] } }).error.issues[0]?.path).toBe('$.fhirBatch');
    const onboarded = await create('batchy-always', { fhirBatch: 'always' });
    expect(onboarded.clinic).toMatchObject({ fhirBatch: 'always' });
    expect((await store.clinics.get('batchy-always'))?.fhirBatch).toBe('always');
  });

  test('a typo in the base URL is fixed, the key replaced (encrypted, audited by thumbprint) and then removed', async () => {
    const first = await generateClientKeyPair('conn-key-1');
    await create('conn', { fhirBaseUrl: 'http://127.0.0.1:9/fhir/R4', privateKey: first.privateJwk });
    const bad = (await (await api('/v1/clinics/conn/connection-check', { method: 'POST', as: 'admin' })).json()) as {
      ok: boolean;
    };
    expect(bad.ok).toBe(false);

    const second = await generateClientKeyPair('conn-key-2');
    const res = await api('/v1/clinics/conn/ehr-connection', {
      method: 'PATCH',
      as: 'admin',
      body: { fhirBaseUrl: sandbox.fhirBaseUrl, privateKey: JSON.stringify(second.privateJwk) },
    });
    const text = await res.clone().text();
    expect(res.status, text).toBe(200);
    expect(text).not.toContain(second.privateJwk.d!);
    const changed = (await res.json()) as { clinic: Created['clinic']; publicJwks: { keys: JWK[] } };
    expect(changed.clinic.fhirKey).toMatchObject({ set: true, encryptedAtRest: true, keyId: 'conn-key-2' });
    sandbox.registerClient({ clientId: 'client-conn', jwks: changed.publicJwks });
    const good = (await (await api('/v1/clinics/conn/connection-check', { method: 'POST', as: 'admin' })).json()) as {
      ok: boolean;
      problems: string[];
    };
    expect(good.ok, good.problems.join('; ')).toBe(true);

    const { items } = await store.audit.listAudit({ clinicId: 'conn', action: 'clinic.ehr_connection_changed' });
    expect(items[0]?.detail).toMatchObject({
      changes: {
        fhirBaseUrl: { from: 'http://127.0.0.1:9/fhir/R4', to: sandbox.fhirBaseUrl },
        key: { from: { keyId: 'conn-key-1' }, to: { keyId: 'conn-key-2' } },
      },
    });
    expect(JSON.stringify(items)).not.toContain(second.privateJwk.d!);

    const removed = await api('/v1/clinics/conn/ehr-connection', {
      method: 'PATCH',
      as: 'admin',
      body: { privateKey: null },
    });
    expect(((await removed.json()) as { clinic: Created['clinic'] }).clinic.fhirKey).toMatchObject({
      set: false,
      keyId: null,
    });
    expect((await store.clinics.get('conn'))?.fhirPrivateKeyJwk).toBeNull();
  });

  test('keyId without a key, an empty body or a non-http URL are 400 with paths', async () => {
    for (const [body, path] of [
      [{ keyId: 'k' }, '$.keyId'],
      [{}, '$'],
      [{ fhirBaseUrl: 'file:///etc/passwd' }, '$.fhirBaseUrl'],
    ] as const) {
      const res = await api('/v1/clinics/conn/ehr-connection', { method: 'PATCH', as: 'admin', body });
      expect(res.status).toBe(400);
      const err = (await res.json()) as { error: { issues: { path: string }[] } };
      expect(err.error.issues.map((i) => i.path)).toContain(path);
    }
  });
});

describe('webhook secrets at rest', () => {
  test('onboarding stores the webhook secret as ciphertext bound to the clinic, and webhooks still verify', async () => {
    // The API's store, as api/main.ts builds it: the database opened with the deployment's secret box.
    const box = createSecretBox(config);
    const sealedStore = createStore({ ...testDb.db, secrets: box });
    const sealed = createApp({
      config,
      db: testDb.db,
      store: sealedStore,
      workflows: gateway,
      logger,
      now: () => new Date(clock),
    });
    const res = await sealed.request('/v1/clinics', {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKENS.admin}`, 'content-type': 'application/json' },
      body: JSON.stringify(clinicBody('sealed')),
    });
    expect(res.status, await res.clone().text()).toBe(201);
    const { webhookSecret } = (await res.json()) as Created;
    const row = await testDb.db.kysely
      .selectFrom('clinics')
      .select('webhookSecret')
      .where('id', '=', 'sealed')
      .executeTakeFirstOrThrow();
    expect(row.webhookSecret).toMatch(/^enc:v1:clinics-k1:/);
    expect(row.webhookSecret).not.toContain(webhookSecret);
    expect(box.decrypt(row.webhookSecret, 'clinic:sealed:webhookSecret')).toBe(webhookSecret);
    expect(() => box.decrypt(row.webhookSecret, 'clinic:north:webhookSecret')).toThrow(/authentication/);

    const raw = JSON.stringify({
      type: 'refill.requested',
      id: 'evt-sealed-1',
      medicationRequest: 'MedicationRequest/mr-s1',
    });
    const ts = Math.floor(clock / 1000);
    const hook = await sealed.request('/v1/webhooks/sealed/refill-requests', {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-autopilot-timestamp': String(ts),
        'x-autopilot-signature': signWebhook(webhookSecret, ts, raw),
      },
      body: raw,
    });
    expect(hook.status, await hook.clone().text()).toBe(202);
    // Rotation keeps both secrets encrypted.
    const rot = await sealed.request('/v1/clinics/sealed/webhook-secret/rotate', {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKENS.admin}` },
    });
    expect(rot.status).toBe(200);
    const after = await testDb.db.kysely
      .selectFrom('clinics')
      .select(['webhookSecret', 'previousWebhookSecret'])
      .where('id', '=', 'sealed')
      .executeTakeFirstOrThrow();
    expect(after.webhookSecret).toMatch(/^enc:v1:/);
    expect(after.previousWebhookSecret).toMatch(/^enc:v1:/);
  });
});

describe('where an EHR connection may point, and who may move it', () => {
  test('only a global admin changes a connection; a clinic admin gets 403 and nothing changes', async () => {
    await create('conn-bound');
    await store.tokens.createToken({
      name: 'cb',
      role: 'admin',
      userId: 'admin-conn-bound',
      clinicId: 'conn-bound',
      token: 'clinics-conn-bound-admin-token-0123456789',
    });
    const before = await store.clinics.get('conn-bound');
    const res = await app.request('/v1/clinics/conn-bound/ehr-connection', {
      method: 'PATCH',
      headers: {
        authorization: 'Bearer clinics-conn-bound-admin-token-0123456789',
        'content-type': 'application/json',
      },
      body: JSON.stringify({ fhirBaseUrl: 'https://attacker.example.net/fhir' }),
    });
    expect(res.status, await res.clone().text()).toBe(403);
    expect(await store.clinics.get('conn-bound')).toEqual(before);
    const { items } = await store.audit.listAudit({ clinicId: 'conn-bound', action: 'clinic.ehr_connection_changed' });
    expect(items).toEqual([]);
  });

  test('metadata, multicast and non-http URLs are refused at $.fhirBaseUrl / $.fhirTokenUrl, before anything is stored', async () => {
    for (const [body, path] of [
      [{ fhirBaseUrl: 'http://169.254.169.254/latest/meta-data' }, '$.fhirBaseUrl'],
      [{ fhirTokenUrl: 'http://[fd00:ec2::254]/token' }, '$.fhirTokenUrl'],
      [{ fhirBaseUrl: 'http://224.0.0.1/fhir' }, '$.fhirBaseUrl'],
    ] as const) {
      const res = await api('/v1/clinics/conn-bound/ehr-connection', { method: 'PATCH', as: 'admin', body });
      expect(res.status, await res.clone().text()).toBe(400);
      expect(((await res.json()) as { error: { issues: { path: string }[] } }).error.issues[0]?.path).toBe(path);
    }
    const onboard = await api('/v1/clinics', {
      method: 'POST',
      as: 'admin',
      body: clinicBody('meta', { fhirBaseUrl: 'http://169.254.169.254/fhir' }),
    });
    expect(onboard.status).toBe(400);
    expect(await store.clinics.get('meta')).toBeNull();
  });

  test('moving the base URL away from a token URL pinned on another origin needs the token URL again', async () => {
    await create('pinned-token', {
      fhirBaseUrl: 'https://ehr.example.org/fhir/R4',
      fhirTokenUrl: 'https://auth.example.org/oauth2/token',
    });
    const moved = await api('/v1/clinics/pinned-token/ehr-connection', {
      method: 'PATCH',
      as: 'admin',
      body: { fhirBaseUrl: 'https://attacker.example.net/fhir' },
    });
    expect(moved.status, await moved.clone().text()).toBe(400);
    expect(((await moved.json()) as { error: { issues: { path: string }[] } }).error.issues[0]?.path).toBe(
      '$.fhirTokenUrl',
    );
    expect((await store.clinics.get('pinned-token'))?.fhirBaseUrl).toBe('https://ehr.example.org/fhir/R4');
    const both = await api('/v1/clinics/pinned-token/ehr-connection', {
      method: 'PATCH',
      as: 'admin',
      body: { fhirBaseUrl: 'https://ehr2.example.org/fhir/R4', fhirTokenUrl: null },
    });
    expect(both.status, await both.clone().text()).toBe(200);
    const { items } = await store.audit.listAudit({
      clinicId: 'pinned-token',
      action: 'clinic.ehr_connection_changed',
    });
    expect(items).toHaveLength(1);
    expect(items[0]).toMatchObject({
      actorId: 'admin-1',
      actorRole: 'admin',
      detail: {
        changes: {
          fhirBaseUrl: { from: 'https://ehr.example.org/fhir/R4', to: 'https://ehr2.example.org/fhir/R4' },
          fhirTokenUrl: { from: 'https://auth.example.org/oauth2/token', to: null },
        },
      },
    });
    expect(items[0]?.requestId).not.toBeNull();
  });

  test('outside development, loopback and private EHR URLs are refused, and https is required in production', async () => {
    const strict = createApp({
      config: { ...config, NODE_ENV: 'production', EHR_ALLOW_PRIVATE_NETWORKS: undefined },
      db: testDb.db,
      store,
      workflows: gateway,
      logger,
      now: () => new Date(clock),
    });
    const call = (path: string, method: string, body?: unknown) =>
      strict.request(path, {
        method,
        headers: { authorization: `Bearer ${TOKENS.admin}`, 'content-type': 'application/json' },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
    for (const fhirBaseUrl of [
      sandbox.fhirBaseUrl,
      'https://127.0.0.1:7233/',
      'https://10.0.0.5/fhir',
      'https://localhost/fhir',
      'http://ehr.example.org/fhir',
    ]) {
      const res = await call('/v1/clinics', 'POST', clinicBody('strict-1', { fhirBaseUrl }));
      expect(res.status, `${fhirBaseUrl}: ${await res.clone().text()}`).toBe(400);
    }
    expect(await store.clinics.get('strict-1')).toBeNull();
    // A clinic already stored with a loopback URL: the connection check reports the refusal and contacts nothing.
    const check = await call('/v1/clinics/north/connection-check', 'POST');
    const report = (await check.json()) as { ok: boolean; problems: string[] };
    expect(report.ok).toBe(false);
    expect(report.problems.join(' ')).toMatch(/refused/);
  });
});

describe('webhook secret rotation', () => {
  test('old and new secrets both verify during the grace period; after it, only the new one', async () => {
    const { webhookSecret: oldSecret } = await create('rot-1');
    const res = await api('/v1/clinics/rot-1/webhook-secret/rotate', {
      method: 'POST',
      as: 'admin',
      body: { graceSeconds: 3600 },
    });
    expect(res.status, await res.clone().text()).toBe(200);
    const { webhookSecret: newSecret, previousValidUntil } = (await res.json()) as {
      webhookSecret: string;
      previousValidUntil: string;
    };
    expect(newSecret).not.toBe(oldSecret);
    expect(Date.parse(previousValidUntil)).toBe(clock + 3600_000);

    expect((await webhook('rot-1', oldSecret, 'mr-rot-1')).status).toBe(202);
    expect((await webhook('rot-1', newSecret, 'mr-rot-2')).status).toBe(202);
    expect((await webhook('rot-1', 'some-other-secret-0123456789', 'mr-rot-3')).status).toBe(401);
    const shown = (await (await api('/v1/clinics/rot-1', { as: 'admin' })).json()) as Record<string, unknown>;
    expect(shown.webhookSecret).toEqual({ set: true, previousValidUntil });

    const before = clock;
    clock += 3601_000; // past the grace period
    try {
      expect((await webhook('rot-1', oldSecret, 'mr-rot-4')).status).toBe(401);
      expect((await webhook('rot-1', newSecret, 'mr-rot-5')).status).toBe(202);
      const later = (await (await api('/v1/clinics/rot-1', { as: 'admin' })).json()) as Record<string, unknown>;
      expect(later.webhookSecret).toEqual({ set: true, previousValidUntil: null });
    } finally {
      clock = before;
    }
    const { items } = await store.audit.listAudit({ clinicId: 'rot-1', action: 'clinic.webhook_secret_rotated' });
    expect(items[0]?.detail).toEqual({ graceSeconds: 3600, previousValidUntil });
    expect(JSON.stringify(items)).not.toContain(newSecret);
  });

  test('without a body the grace period is 24 hours; a second rotation retires the oldest secret at once', async () => {
    const { webhookSecret: first } = await create('rot-2');
    const r1 = await api('/v1/clinics/rot-2/webhook-secret/rotate', { method: 'POST', as: 'admin' });
    expect(r1.status, await r1.clone().text()).toBe(200);
    const { webhookSecret: second, previousValidUntil } = (await r1.json()) as {
      webhookSecret: string;
      previousValidUntil: string;
    };
    expect(Date.parse(previousValidUntil)).toBe(clock + 24 * 3600_000);
    const r2 = await api('/v1/clinics/rot-2/webhook-secret/rotate', { method: 'POST', as: 'admin', body: {} });
    const { webhookSecret: third } = (await r2.json()) as { webhookSecret: string };
    expect((await webhook('rot-2', first, 'mr-rot2-1')).status).toBe(401);
    expect((await webhook('rot-2', second, 'mr-rot2-2')).status).toBe(202);
    expect((await webhook('rot-2', third, 'mr-rot2-3')).status).toBe(202);
  });

  test('with graceSeconds 0 the old secret stops at once', async () => {
    const { webhookSecret: old } = await create('rot-3');
    const r = await api('/v1/clinics/rot-3/webhook-secret/rotate', {
      method: 'POST',
      as: 'admin',
      body: { graceSeconds: 0 },
    });
    expect(r.status).toBe(200);
    expect((await webhook('rot-3', old, 'mr-rot3-1')).status).toBe(401);
  });
});

describe('who changed what and when', () => {
  interface Change {
    id: number;
    at: string;
    actorId: string;
    actorRole: string | null;
    action: string;
    detail: Record<string, unknown>;
  }
  type Page = { items: Change[]; nextCursor: string | null };

  test('a clinic’s admin audit entries, newest first, in pages; patient access is never among them', async () => {
    const { webhookSecret } = await create('hist');
    const patch = (body: unknown) => api('/v1/clinics/hist/settings', { method: 'PATCH', as: 'admin', body });
    expect((await patch({ nurseSlaSeconds: 7200 })).status).toBe(200);
    expect((await patch({ refillAutomationEnabled: false })).status).toBe(200);
    const rotated = await api('/v1/clinics/hist/webhook-secret/rotate', {
      method: 'POST',
      as: 'admin',
      body: { graceSeconds: 600 },
    });
    const { webhookSecret: newSecret } = (await rotated.json()) as { webhookSecret: string };
    // Something that is not a configuration change, for the same clinic: it must not be listed.
    await store.audit.appendAudit({
      actorType: 'user',
      actorId: 'nurse-1',
      actorRole: 'nurse',
      action: 'case.viewed',
      clinicId: 'hist',
      caseId: 'rf_hist_mr-1',
    });

    const res = await api('/v1/clinics/hist/changes', { as: 'admin' });
    expect(res.status, await res.clone().text()).toBe(200);
    const text = await res.clone().text();
    expect(text).not.toContain(webhookSecret);
    expect(text).not.toContain(newSecret);
    const all = (await res.json()) as Page;
    expect(all.items.map((c) => c.action)).toEqual([
      'clinic.webhook_secret_rotated',
      'clinic.settings_changed',
      'clinic.settings_changed',
      'clinic.created',
    ]);
    expect(all.nextCursor).toBeNull();
    expect(all.items[0]).toMatchObject({ actorId: 'admin-1', actorRole: 'admin', detail: { graceSeconds: 600 } });
    expect(all.items[2]?.detail).toEqual({ changes: { nurseSlaSeconds: { from: 3600, to: 7200 } } });

    // Two at a time: the cursor walks the same list.
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const q: string = cursor ? `?limit=2&cursor=${cursor}` : '?limit=2';
      const page = (await (await api(`/v1/clinics/hist/changes${q}`, { as: 'admin' })).json()) as Page;
      expect(page.items.length).toBeLessThanOrEqual(2);
      seen.push(...page.items.map((c) => `${c.id}`));
      cursor = page.nextCursor;
    } while (cursor);
    expect(seen).toEqual(all.items.map((c) => `${c.id}`));
  });

  test('page size 1–100, cursors of the declared shape; another clinic’s changes are 404 to a clinic admin', async () => {
    for (const q of ['limit=0', 'limit=101', 'limit=x', 'cursor=abc', 'cursor=0', 'cursor=1234567890123456']) {
      const res = await api(`/v1/clinics/hist/changes?${q}`, { as: 'admin' });
      expect(res.status, q).toBe(400);
    }
    const far = await api('/v1/clinics/hist/changes?cursor=1', { as: 'admin' });
    expect(((await far.json()) as Page).items).toEqual([]);
    const histAdmin = 'clinics-hist-admin-token-0123456789';
    await store.tokens.createToken({
      name: 'h',
      role: 'admin',
      userId: 'admin-hist',
      clinicId: 'hist',
      token: histAdmin,
    });
    const asHist = (path: string) => app.request(path, { headers: { authorization: `Bearer ${histAdmin}` } });
    expect((await asHist('/v1/clinics/hist/changes')).status).toBe(200);
    expect((await asHist('/v1/clinics/north/changes')).status).toBe(404);
    expect((await api('/v1/clinics/missing/changes', { as: 'admin' })).status).toBe(404);
  });
});

describe('who may do what', () => {
  beforeAll(async () => {
    await create('bound');
    await store.tokens.createToken({
      name: 'b',
      role: 'admin',
      userId: 'admin-bound',
      clinicId: 'bound',
      token: TOKENS.boundAdmin,
    });
  });

  const routes: { method: string; path: string; body?: unknown }[] = [
    { method: 'GET', path: '/v1/clinics' },
    { method: 'GET', path: '/v1/clinics/bound' },
    { method: 'POST', path: '/v1/clinics', body: { id: 'x' } },
    { method: 'PATCH', path: '/v1/clinics/bound/settings', body: { nurseSlaSeconds: 600 } },
    { method: 'PATCH', path: '/v1/clinics/bound/ehr-connection', body: { fhirClientId: 'x' } },
    { method: 'POST', path: '/v1/clinics/bound/webhook-secret/rotate', body: {} },
    { method: 'POST', path: '/v1/clinics/bound/connection-check' },
    { method: 'GET', path: '/v1/clinics/bound/changes' },
  ];

  test.each(routes)('$method $path: 401 without a token, 403 for a nurse or a doctor', async (r) => {
    expect((await api(r.path, { method: r.method, body: r.body })).status).toBe(401);
    for (const as of ['nurse', 'doctor'] as const) {
      const res = await api(r.path, { method: r.method, body: r.body, as });
      expect(res.status, `${as}: ${await res.clone().text()}`).toBe(403);
    }
  });

  test('an admin bound to a clinic sees and manages only that clinic and cannot create clinics', async () => {
    const list = (await (await api('/v1/clinics', { as: 'boundAdmin' })).json()) as { items: { id: string }[] };
    expect(list.items.map((c) => c.id)).toEqual(['bound']);
    expect((await api('/v1/clinics/north', { as: 'boundAdmin' })).status).toBe(404);
    expect(
      (await api('/v1/clinics/north/webhook-secret/rotate', { method: 'POST', as: 'boundAdmin', body: {} })).status,
    ).toBe(404);
    expect((await api('/v1/clinics/bound', { as: 'boundAdmin' })).status).toBe(200);
    const res = await api('/v1/clinics', { method: 'POST', as: 'boundAdmin', body: clinicBody('bound-2') });
    expect(res.status).toBe(403);
  });
});

describe('bad input', () => {
  async function issues(res: Response): Promise<string[]> {
    const body = (await res.json()) as { error: { issues?: { path: string }[] } };
    return (body.error.issues ?? []).map((i) => i.path).sort();
  }

  test('a malformed clinic is refused with the path of every problem', async () => {
    const res = await api('/v1/clinics', {
      method: 'POST',
      as: 'admin',
      body: clinicBody('bad id!', { fhirBaseUrl: 'ftp://ehr.example.org', timezone: 'Mars/Olympus', extra: 1 }),
    });
    expect(res.status).toBe(400);
    expect(await issues(res)).toEqual(['$', '$.fhirBaseUrl', '$.id', '$.timezone']);
  });

  test.each([
    ['garbage', 'not a key: some text long enough that an echo of it would show in the body'],
    ['a public key', JSON.stringify({ kty: 'EC', crv: 'P-384', x: 'AA', y: 'AA' })],
    [
      'a P-256 key',
      JSON.stringify(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' })),
    ],
    [
      'a short RSA key',
      generateKeyPairSync('rsa', { modulusLength: 1024 })
        .privateKey.export({ format: 'pem', type: 'pkcs8' })
        .toString(),
    ],
  ])('a private key that is %s is refused at $.privateKey, without echoing it', async (_name, privateKey) => {
    const res = await api('/v1/clinics', { method: 'POST', as: 'admin', body: clinicBody('bad-key', { privateKey }) });
    const text = await res.clone().text();
    expect(res.status, text).toBe(422); // a string or object as the schema says, but not a usable key
    expect(await issues(res)).toEqual(['$.privateKey']);
    expect(text).not.toContain(privateKey.slice(20, 60));
    expect(await store.clinics.get('bad-key')).toBeNull();
  });

  test('a duplicate id is 409, an unknown protocol 422, unknown clinics 404', async () => {
    await create('dup');
    expect((await api('/v1/clinics', { method: 'POST', as: 'admin', body: clinicBody('dup') })).status).toBe(409);
    const p = await api('/v1/clinics', { method: 'POST', as: 'admin', body: clinicBody('p', { protocolId: 'nope' }) });
    expect(p.status).toBe(422);
    expect(await issues(p)).toEqual(['$.protocolId']);
    expect((await api('/v1/clinics/missing', { as: 'admin' })).status).toBe(404);
    expect((await api('/v1/clinics/missing/connection-check', { method: 'POST', as: 'admin' })).status).toBe(404);
  });

  test('empty settings, negative grace, malformed JSON are 400', async () => {
    const empty = await api('/v1/clinics/dup/settings', { method: 'PATCH', as: 'admin', body: {} });
    expect(empty.status).toBe(400);
    const neg = await api('/v1/clinics/dup/webhook-secret/rotate', {
      method: 'POST',
      as: 'admin',
      body: { graceSeconds: -1 },
    });
    expect(neg.status).toBe(400);
    expect(await issues(neg)).toEqual(['$.graceSeconds']);
    const raw = await api('/v1/clinics', { method: 'POST', as: 'admin', raw: '{"id":' });
    expect(raw.status).toBe(400);
  });

  test('fuzzed bodies never produce a 500', async () => {
    let seed = 7;
    const rnd = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const values = [null, true, 0, -1, 1e308, '', 'x'.repeat(300), [], {}, { kty: 'EC' }, '-----BEGIN x', 'Mars/X'];
    const pick = <T>(a: readonly T[]) => a[Math.floor(rnd() * a.length)]!;
    const keys = [
      'id',
      'name',
      'fhirBaseUrl',
      'fhirClientId',
      'privateKey',
      'protocolId',
      'timezone',
      'graceSeconds',
      'nurseSlaSeconds',
      'refillAutomationEnabled',
      'fhirTokenUrl',
      'keyId',
      'fhirBatch',
    ];
    for (let i = 0; i < 150; i++) {
      const body: Record<string, unknown> = rnd() < 0.5 ? clinicBody(`fz-${i}`) : {};
      for (let k = 0; k < 3; k++) body[pick(keys)] = pick(values);
      const target = pick([
        { method: 'POST', path: '/v1/clinics' },
        { method: 'PATCH', path: '/v1/clinics/dup/settings' },
        { method: 'POST', path: '/v1/clinics/dup/webhook-secret/rotate' },
        { method: 'PATCH', path: '/v1/clinics/dup/ehr-connection' },
      ]);
      const res = await api(target.path, { method: target.method, as: 'admin', body });
      expect(
        res.status,
        `${target.method} ${target.path} ${JSON.stringify(body)}: ${await res.clone().text()}`,
      ).toBeLessThan(500);
    }
  });
});

test('the OpenAPI document lists the clinic routes and never a private key field in a response', async () => {
  const res = await api('/openapi.json');
  expect(res.status).toBe(200);
  const doc = (await res.json()) as {
    paths: Record<string, unknown>;
    components: { schemas: Record<string, unknown> };
  };
  for (const p of [
    '/v1/clinics',
    '/v1/clinics/{id}',
    '/v1/clinics/{id}/settings',
    '/v1/clinics/{id}/ehr-connection',
    '/v1/clinics/{id}/webhook-secret/rotate',
    '/v1/clinics/{id}/connection-check',
    '/v1/clinics/{id}/changes',
  ]) {
    expect(doc.paths, p).toHaveProperty([p]);
  }
  expect(JSON.stringify(doc.components.schemas.Clinic)).not.toMatch(/privateKey|fhirPrivateKeyJwk/);
});
