// SMART App Launch through the API against the real sandbox EHR on loopback (real SQLite store): the EHR launch and
// the standalone launch end to end (launch → authorize → callback → one-time hand-off → session token → the patient's
// cases), and what is refused: an unknown iss, a state that does not match the browser or a launch, a code from another
// launch (PKCE), an unmapped fhirUser, the EHR's own refusal. Every sign-in and read is audited; the admin routes too.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createApp } from '../../api/app.ts';
import { ensureBuiltinProtocols } from '../../api/seed.ts';
import type { WorkflowGateway } from '../../api/workflow-gateway.ts';
import { loadConfig } from '../../connectors/config.ts';
import { createStore, type Store } from '../../connectors/db/index.ts';
import { createLogger } from '../../connectors/logger.ts';
import { startSandbox, type SandboxHandle } from '../../sandbox/fhir-server.ts';
import { openTestDatabase, type TestDatabase } from '../helpers/db.ts';

const PUBLIC = 'http://127.0.0.1:39917';
const CLIENT = 'console-app';
const ADMIN = 'smart-admin-token-0123456789';
const NURSE = 'smart-nurse-token-0123456789';
const config = loadConfig({ LOG_LEVEL: 'silent', PUBLIC_URL: PUBLIC, EHR_ALLOW_PRIVATE_NETWORKS: 'true' });
const gateway: WorkflowGateway = {
  startCase: () => Promise.reject(new Error('unused')),
  submitDecision: () => Promise.reject(new Error('unused')),
  getCaseState: () => Promise.resolve(null),
  ping: () => Promise.resolve(),
};

let testDb: TestDatabase;
let store: Store;
let sandbox: SandboxHandle;
let app: ReturnType<typeof createApp>;

beforeAll(async () => {
  sandbox = await startSandbox({
    appClients: [{ clientId: CLIENT, redirectUris: [`${PUBLIC}/smart/callback`] }],
    validate: false,
  });
  sandbox.repo.update({ resourceType: 'Patient', id: 'pat-1', name: [{ given: ['Ada'], family: 'Byron' }] });
  sandbox.repo.update({ resourceType: 'Patient', id: 'pat-2', name: [{ given: ['Alan'], family: 'Turing' }] });
  for (const id of ['pract-1', 'pract-2']) sandbox.repo.update({ resourceType: 'Practitioner', id });
  testDb = await openTestDatabase('sqlite');
  store = createStore(testDb.db);
  await ensureBuiltinProtocols(store, createLogger(config, 'test'));
  for (const [id, base] of [
    ['north', sandbox.fhirBaseUrl],
    ['south', 'https://ehr.south.example.org/fhir/R4'],
  ] as const) {
    await store.clinics.create({
      id,
      name: id,
      webhookSecret: 'whsec_0123456789abcdef',
      fhirBaseUrl: base,
      fhirClientId: 'backend',
      protocolId: 'family-medicine-2015',
      nurseSlaSeconds: 3600,
      timezone: 'UTC',
    });
  }
  await store.tokens.createToken({ name: 'a', role: 'admin', userId: 'admin-1', token: ADMIN });
  await store.tokens.createToken({ name: 'n', role: 'nurse', userId: 'nurse-1', clinicId: 'north', token: NURSE });
  for (const [n, patientId, status] of [
    [1, 'pat-1', 'queued'],
    [2, 'pat-1', 'closed'],
    [3, 'pat-2', 'queued'],
  ] as const) {
    await store.cases.upsertCaseProjection(
      {
        id: `rf_north_mr-${n}`,
        clinicId: 'north',
        requestId: `req-${n}`,
        patientId,
        medicationRequestId: `mr-${n}`,
        status,
        queue: 'doctor',
        reason: 'protocol',
        disposition: 'doctor_review',
        drugName: 'Lisinopril 10 mg tablet',
        at: new Date(Date.now() - n * 60_000).toISOString(),
      },
      1,
    );
  }
  app = createApp({
    config,
    db: testDb.db,
    store,
    workflows: gateway,
    logger: createLogger(config, 'test'),
    now: () => new Date(),
  });
  const admin = { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' };
  expect(
    (
      await app.request('/v1/clinics/north/smart-app', {
        method: 'PUT',
        headers: admin,
        body: JSON.stringify({ clientId: CLIENT }),
      })
    ).status,
  ).toBe(200);
  const map = await app.request('/v1/clinics/north/smart-users', {
    method: 'PUT',
    headers: admin,
    body: JSON.stringify({ fhirUser: 'Practitioner/pract-1', userId: 'dr.okafor@north.example', role: 'doctor' }),
  });
  expect(map.status).toBe(200);
});

afterAll(async () => {
  await sandbox?.close();
  await testDb?.cleanup();
});

/** `name=value` of a Set-Cookie header the response carries. */
function cookieOf(res: Response, name: string): string | undefined {
  const set = res.headers.getSetCookie().find((c) => c.startsWith(`${name}=`) && !c.startsWith(`${name}=;`));
  return set?.split(';')[0];
}

/** Our launch route: the redirect to the EHR and the browser's state cookie. */
async function startLaunch(query: string): Promise<{ authorize: string; cookie: string }> {
  const res = await app.request(`/smart/launch?${query}`);
  expect(res.status, await res.clone().text()).toBe(302);
  const cookie = cookieOf(res, 'smart_state')!;
  expect(res.headers.get('set-cookie')).toMatch(/HttpOnly/);
  return { authorize: res.headers.get('location')!, cookie };
}

/** The EHR's authorization endpoint (a browser would follow): the redirect back to our callback. */
async function authorizeAtEhr(url: string): Promise<string> {
  const res = await fetch(url, { redirect: 'manual' });
  expect(res.status, await res.clone().text()).toBe(302);
  return res.headers.get('location')!;
}

const callbackPath = (url: string) => url.slice(PUBLIC.length);

async function ehrLaunch(practitioner = 'pract-1', patient = 'pat-1') {
  const launch = sandbox.apps.createLaunch({ patient, practitioner });
  const { authorize, cookie } = await startLaunch(
    `iss=${encodeURIComponent(sandbox.fhirBaseUrl)}&launch=${encodeURIComponent(launch)}`,
  );
  return { callback: await authorizeAtEhr(authorize), cookie };
}

async function takeSession(callback: string, cookie: string) {
  const res = await app.request(callbackPath(callback), { headers: { cookie } });
  expect(res.status, await res.clone().text()).toBe(303);
  expect(res.headers.get('location')).toBe('/#/smart');
  const handoff = cookieOf(res, 'smart_handoff')!;
  const session = await app.request('/smart/session', { method: 'POST', headers: { cookie: handoff } });
  return { session, handoff };
}

describe('EHR launch', () => {
  test('the EHR opens the app: the mapped user gets an 8 h session with the patient in context', async () => {
    const { authorize } = await startLaunch(`iss=${encodeURIComponent(sandbox.fhirBaseUrl)}&launch=x`);
    const a = new URL(authorize);
    expect(a.origin + a.pathname).toBe(`${sandbox.url}/oauth2/authorize`);
    expect(Object.fromEntries(a.searchParams)).toMatchObject({
      response_type: 'code',
      client_id: CLIENT,
      redirect_uri: `${PUBLIC}/smart/callback`,
      aud: sandbox.fhirBaseUrl,
      code_challenge_method: 'S256',
      launch: 'x',
      scope: 'launch openid fhirUser',
    });

    const { callback, cookie } = await ehrLaunch();
    const { session, handoff } = await takeSession(callback, cookie);
    expect(session.status).toBe(200);
    const body = (await session.json()) as { token: string; expiresAt: string; patientId: string; role: string };
    expect(body).toMatchObject({
      userId: 'dr.okafor@north.example',
      role: 'doctor',
      clinicId: 'north',
      patientId: 'pat-1',
    });
    const hours = (Date.parse(body.expiresAt) - Date.now()) / 3_600_000;
    expect(hours).toBeGreaterThan(7.9);
    expect(hours).toBeLessThanOrEqual(8);

    const me = await app.request('/v1/me', { headers: { authorization: `Bearer ${body.token}` } });
    expect(await me.json()).toEqual({ userId: 'dr.okafor@north.example', role: 'doctor', clinicId: 'north' });
    // The session is an ordinary API token: listed, expiring, revocable.
    const listed = (await (
      await app.request('/v1/tokens?clinicId=north', { headers: { authorization: `Bearer ${ADMIN}` } })
    ).json()) as { items: { name: string; userId: string; expiresAt: string; createdBy: string }[] };
    expect(listed.items.find((t) => t.userId === 'dr.okafor@north.example')).toMatchObject({
      name: 'SMART session (ehr launch)',
      createdBy: 'smart',
      expiresAt: body.expiresAt,
    });
    const { items: audit } = await store.audit.listAudit({ action: 'smart.signed_in', limit: 10 });
    expect(audit[0]).toMatchObject({
      actorType: 'user',
      actorId: 'dr.okafor@north.example',
      actorRole: 'doctor',
      clinicId: 'north',
    });
    expect(audit[0]!.detail).toMatchObject({ fhirUser: 'Practitioner/pract-1', launch: 'ehr', patientContext: true });
    expect(JSON.stringify(audit[0]!.detail)).not.toContain('pat-1');

    // The hand-off is single-use.
    const again = await app.request('/smart/session', { method: 'POST', headers: { cookie: handoff } });
    expect(again.status).toBe(401);

    // The patient's cases: open first, then closed; audited as a read of patient data.
    const cases = await app.request('/v1/cases?patientId=pat-1', {
      headers: { authorization: `Bearer ${body.token}` },
    });
    expect(cases.status).toBe(200);
    const list = (await cases.json()) as { items: { caseId: string; status: string }[]; more: boolean };
    expect(list.items.map((c) => c.caseId)).toEqual(['rf_north_mr-1', 'rf_north_mr-2']);
    expect(list.more).toBe(false);
    const { items: reads } = await store.audit.listAudit({ action: 'patient.cases_listed', limit: 1 });
    expect(reads[0]).toMatchObject({
      actorId: 'dr.okafor@north.example',
      clinicId: 'north',
    });
    expect(reads[0]!.detail).toMatchObject({ patientId: 'pat-1', caseIds: ['rf_north_mr-1', 'rf_north_mr-2'] });

    // Sign-out revokes the session; another API token is not revoked through this route.
    const bearer = (token: string) => ({ method: 'POST', headers: { authorization: `Bearer ${token}` } });
    expect((await app.request('/smart/sign-out', bearer(ADMIN))).status).toBe(409);
    expect((await app.request('/smart/sign-out', bearer(body.token))).status).toBe(204);
    expect((await app.request('/v1/me', { headers: { authorization: `Bearer ${body.token}` } })).status).toBe(401);
  });

  test('replaying the callback is refused: the launch was used', async () => {
    const { callback, cookie } = await ehrLaunch();
    expect((await takeSession(callback, cookie)).session.status).toBe(200);
    const replay = await app.request(callbackPath(callback), { headers: { cookie } });
    expect(replay.status).toBe(403);
    expect(await replay.text()).toContain('expired or was used');
  });

  test('a state that is not this browser’s is refused, and nothing is issued', async () => {
    const { callback } = await ehrLaunch();
    const before = (await store.tokens.list()).length;
    for (const cookie of [undefined, 'smart_state=someone-elses-state']) {
      const res = await app.request(callbackPath(callback), { headers: cookie ? { cookie } : {} });
      expect(res.status).toBe(403);
      expect(res.headers.get('content-type')).toContain('text/html');
      expect(cookieOf(res, 'smart_handoff')).toBeUndefined();
    }
    expect((await store.tokens.list()).length).toBe(before);
  });

  test('a code from another launch is refused by the EHR (PKCE): 502, nothing issued', async () => {
    const victim = await ehrLaunch();
    const attacker = await ehrLaunch();
    const stolen = new URL(victim.callback).searchParams.get('code')!;
    const own = new URL(attacker.callback);
    own.searchParams.set('code', stolen);
    const res = await app.request(callbackPath(own.toString()), { headers: { cookie: attacker.cookie } });
    expect(res.status).toBe(502);
    expect(cookieOf(res, 'smart_handoff')).toBeUndefined();
  });

  test('an unmapped EHR user gets a refusal page, nothing is issued, the refusal is audited', async () => {
    const { callback, cookie } = await ehrLaunch('pract-2');
    const before = (await store.tokens.list()).length;
    const res = await app.request(callbackPath(callback), { headers: { cookie } });
    expect(res.status).toBe(403);
    expect(await res.text()).toContain('Practitioner/pract-2');
    expect(cookieOf(res, 'smart_handoff')).toBeUndefined();
    expect((await store.tokens.list()).length).toBe(before);
    const { items } = await store.audit.listAudit({ action: 'smart.sign_in_refused', limit: 1 });
    expect(items[0]).toMatchObject({ actorType: 'ehr', actorId: 'Practitioner/pract-2', clinicId: 'north' });
  });

  test('the EHR’s refusal (error=access_denied) is a refusal page', async () => {
    const { authorize, cookie } = await startLaunch(`iss=${encodeURIComponent(sandbox.fhirBaseUrl)}`);
    const state = new URL(authorize).searchParams.get('state')!;
    const res = await app.request(`/smart/callback?state=${state}&error=access_denied`, { headers: { cookie } });
    expect(res.status).toBe(403);
    expect(await res.text()).toContain('access_denied');
  });
});

describe('what /smart/launch refuses', () => {
  test('an iss that is no clinic’s registered EHR: 404 page, and the address is never contacted', async () => {
    const before = sandbox.requests.length;
    for (const iss of [
      `${sandbox.url}/other/fhir`,
      'https://ehr.south.example.org/fhir/R4',
      'http://169.254.169.254/',
    ]) {
      const res = await app.request(`/smart/launch?iss=${encodeURIComponent(iss)}`);
      expect(res.status, iss).toBe(404);
      expect(res.headers.get('content-type')).toContain('text/html');
      expect(res.headers.get('location')).toBeNull();
    }
    expect(sandbox.requests.length).toBe(before);
  });

  test('a malformed query is a 400 page', async () => {
    const res = await app.request('/smart/launch?iss=javascript:alert(1)');
    expect(res.status).toBe(400);
    expect(res.headers.get('content-type')).toContain('text/html');
  });
});

describe('standalone launch', () => {
  test('sign in through the EHR’s picker: the chosen patient comes back in context', async () => {
    const { authorize, cookie } = await startLaunch(`iss=${encodeURIComponent(sandbox.fhirBaseUrl)}`);
    expect(new URL(authorize).searchParams.get('scope')).toBe('launch/patient openid fhirUser');
    const picker = await (await fetch(authorize)).text();
    const requestId = /name="request_id" value="([^"]+)"/.exec(picker)![1]!;
    const approve = await fetch(`${sandbox.url}/oauth2/authorize`, {
      method: 'POST',
      body: new URLSearchParams({
        request_id: requestId,
        practitioner: 'pract-1',
        patient: 'pat-2',
        decision: 'approve',
      }),
      redirect: 'manual',
    });
    const { session } = await takeSession(approve.headers.get('location')!, cookie);
    expect(await session.json()).toMatchObject({ role: 'doctor', patientId: 'pat-2' });
  });
});

describe('GET /v1/cases?patientId', () => {
  test('a global token must name the clinic (422 at $.clinicId); a clinic-bound one sees its clinic only', async () => {
    const admin = { authorization: `Bearer ${ADMIN}` };
    const unnamed = await app.request('/v1/cases?patientId=pat-1', { headers: admin });
    expect(unnamed.status).toBe(422);
    expect(((await unnamed.json()) as { error: { issues: { path: string }[] } }).error.issues[0]!.path).toBe(
      '$.clinicId',
    );
    const named = await app.request('/v1/cases?patientId=pat-2&clinicId=north', { headers: admin });
    expect(((await named.json()) as { items: { caseId: string }[] }).items.map((c) => c.caseId)).toEqual([
      'rf_north_mr-3',
    ]);
    const nurse = await app.request('/v1/cases?patientId=pat-2&clinicId=south', {
      headers: { authorization: `Bearer ${NURSE}` },
    });
    expect(((await nurse.json()) as { items: unknown[] }).items).toHaveLength(1); // its own clinic (north), not south
    const bad = await app.request('/v1/cases?patientId=a/b', { headers: admin });
    expect(bad.status).toBe(400);
  });
});

describe('admin routes', () => {
  const as = (token: string, method = 'GET', body?: unknown) => ({
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });

  test('the SMART client: read, 409 for a second clinic on the same EHR, admin only, audited', async () => {
    const got = await app.request('/v1/clinics/north/smart-app', as(ADMIN));
    expect(await got.json()).toMatchObject({
      clientId: CLIENT,
      iss: sandbox.fhirBaseUrl,
      redirectUri: `${PUBLIC}/smart/callback`,
      launchUrl: `${PUBLIC}/smart/launch`,
    });
    await store.clinics.create({
      id: 'east',
      name: 'east',
      webhookSecret: 'whsec_0123456789abcdef',
      fhirBaseUrl: `${sandbox.fhirBaseUrl}/`, // the same EHR, written with a trailing slash
      fhirClientId: 'backend',
      protocolId: 'family-medicine-2015',
      nurseSlaSeconds: 3600,
      timezone: 'UTC',
    });
    const twice = await app.request('/v1/clinics/east/smart-app', as(ADMIN, 'PUT', { clientId: 'other' }));
    expect(twice.status).toBe(409);
    expect((await app.request('/v1/clinics/north/smart-app', as(NURSE))).status).toBe(403);
    const bad = await app.request('/v1/clinics/north/smart-app', as(ADMIN, 'PUT', { clientId: 'has space' }));
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { issues: { path: string }[] } }).error.issues[0]!.path).toBe('$.clientId');
    const { items } = await store.audit.listAudit({ action: 'smart_app.registered', limit: 1 });
    expect(items[0]).toMatchObject({
      actorId: 'admin-1',
      clinicId: 'north',
      detail: { clientId: CLIENT, replaced: false },
    });
  });

  test('mappings: list, 400 with the path for a bad fhirUser, delete (then that user’s sign-in is refused)', async () => {
    const list = (await (await app.request('/v1/clinics/north/smart-users', as(ADMIN))).json()) as { items: unknown[] };
    expect(list.items).toEqual([expect.objectContaining({ fhirUser: 'Practitioner/pract-1', role: 'doctor' })]);
    const bad = await app.request(
      '/v1/clinics/north/smart-users',
      as(ADMIN, 'PUT', { fhirUser: 'pract-1', userId: 'x', role: 'doctor' }),
    );
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { issues: { path: string }[] } }).error.issues[0]!.path).toBe('$.fhirUser');
    const privacy = await app.request(
      '/v1/clinics/north/smart-users',
      as(ADMIN, 'PUT', { fhirUser: 'Practitioner/pract-9', userId: 'po', role: 'privacy' }),
    );
    expect(privacy.status).toBe(400); // a privacy officer does not open the console from the EHR
    expect(((await privacy.json()) as { error: { issues: { path: string }[] } }).error.issues[0]!.path).toBe('$.role');
    expect(
      (
        await app.request(
          '/v1/clinics/north/smart-users',
          as(ADMIN, 'PUT', { fhirUser: 'Practitioner/pract-2', userId: 'nurse-2', role: 'nurse' }),
        )
      ).status,
    ).toBe(200);
    const del = await app.request(
      `/v1/clinics/north/smart-users?fhirUser=${encodeURIComponent('Practitioner/pract-2')}`,
      as(ADMIN, 'DELETE'),
    );
    expect(del.status).toBe(204);
    expect(
      (
        await app.request(
          `/v1/clinics/north/smart-users?fhirUser=${encodeURIComponent('Practitioner/pract-2')}`,
          as(ADMIN, 'DELETE'),
        )
      ).status,
    ).toBe(404);
    const actions = (await store.audit.listAudit({ clinicId: 'north', limit: 50 })).items.map((a) => a.action);
    expect(actions).toEqual(expect.arrayContaining(['smart_user.mapped', 'smart_user.removed']));
    const { callback, cookie } = await ehrLaunch('pract-2');
    expect((await app.request(callbackPath(callback), { headers: { cookie } })).status).toBe(403);
  });
});
