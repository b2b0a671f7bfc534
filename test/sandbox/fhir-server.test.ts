// Conformance of the sandbox EHR's FHIR R4 REST surface, driven through `app.request` (and, for the SMART flow, over
// real HTTP): what a connector relies on, answered the way a real server answers.
import type { Bundle, CapabilityStatement, OperationOutcome, Patient, Resource } from '@medplum/fhirtypes';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createSandboxApp, SandboxState, startSandbox, type SandboxHandle } from '../../sandbox/fhir-server.ts';
import { IndexedRepository, loadResources } from '../../sandbox/indexed-repository.ts';
import { A1C, buildFixtureClinic, LOINC } from './fixture-clinic.ts';

const BASE = 'http://sandbox.test/fhir/R4';
const clinic = buildFixtureClinic(12, 3);
const [p0 = '', p1 = ''] = clinic.patientIds;

function seededRepo(): IndexedRepository {
  const repo = new IndexedRepository();
  loadResources(repo, clinic.resources);
  return repo;
}

async function json<T>(res: Response): Promise<T> {
  return (await res.json()) as T;
}

const fhirHeaders = { 'Content-Type': 'application/fhir+json' };

describe('FHIR REST without auth', () => {
  const state = new SandboxState({ repo: seededRepo() });
  const app = createSandboxApp({ state, requireAuth: false });
  const get = (path: string, headers: Record<string, string> = {}) => app.request(`${BASE}${path}`, { headers });

  test('reads a resource, with version headers, and answers 404 with an OperationOutcome for a missing one', async () => {
    const res = await get(`/Patient/${p0}`);
    expect(res.status, await res.clone().text()).toBe(200);
    expect(res.headers.get('content-type')).toContain('application/fhir+json');
    expect(res.headers.get('etag')).toBe('W/"1"');
    expect((await json<Patient>(res)).id).toBe(p0);

    const missing = await get('/Patient/nope');
    expect(missing.status).toBe(404);
    expect((await json<OperationOutcome>(missing)).resourceType).toBe('OperationOutcome');
    expect((await get('/NotAType/1')).status).toBe(404);
  });

  test('searches by patient reference and token, with total, match mode and a self link', async () => {
    const res = await get(`/Observation?patient=Patient/${p0}&code=${LOINC}|${A1C}`);
    const bundle = await json<Bundle>(res);
    expect(bundle.type).toBe('searchset');
    const expected = clinic.resources.filter(
      (r) =>
        r.resourceType === 'Observation' &&
        r.subject?.reference === `Patient/${p0}` &&
        r.code?.coding?.[0]?.code === A1C,
    );
    expect(bundle.total).toBe(expected.length);
    expect(bundle.entry?.map((e) => e.resource?.id).sort()).toEqual(expected.map((r) => r.id).sort());
    expect(bundle.entry?.every((e) => e.search?.mode === 'match' && e.fullUrl?.startsWith(BASE))).toBe(true);
    expect(bundle.link?.find((l) => l.relation === 'self')?.url).toContain('/Observation?');
  });

  test('a bare id means the reference type the parameter targets', async () => {
    const typed = await json<Bundle>(await get(`/Encounter?patient=Patient/${p1}`));
    const bare = await json<Bundle>(await get(`/Encounter?patient=${p1}`));
    expect(typed.total).toBeGreaterThan(0);
    expect(bare.entry?.map((e) => e.resource?.id)).toEqual(typed.entry?.map((e) => e.resource?.id));
  });

  test('date prefixes bound the result on both sides', async () => {
    const all = await json<Bundle>(await get(`/Encounter?patient=${p0}&_count=1000`));
    const dates = (all.entry ?? []).map((e) => (e.resource as { period?: { start?: string } }).period?.start ?? '');
    const pivot = [...dates].sort()[Math.floor(dates.length / 2)] ?? '';
    const ge = await json<Bundle>(await get(`/Encounter?patient=${p0}&date=ge${pivot}`));
    const lt = await json<Bundle>(await get(`/Encounter?patient=${p0}&date=lt${pivot}`));
    expect((ge.total ?? 0) + (lt.total ?? 0)).toBe(all.total);
    expect(ge.total).toBeGreaterThan(0);
    expect(lt.total).toBeGreaterThan(0);
  });

  test('_sort=-date orders newest first; _count pages with a next link', async () => {
    const res = await json<Bundle>(await get(`/Encounter?patient=${p0}&_sort=-date&_count=2`));
    expect(res.entry).toHaveLength(2);
    const [a, b] = (res.entry ?? []).map((e) => (e.resource as { period?: { start?: string } }).period?.start ?? '');
    expect(a! >= b!).toBe(true);
    const next = res.link?.find((l) => l.relation === 'next')?.url;
    expect(next).toContain('_offset=2');
    const page2 = await json<Bundle>(await app.request(next ?? ''));
    expect(page2.entry?.[0]?.resource?.id).not.toBe(res.entry?.[0]?.resource?.id);
  });

  test('_include=MedicationRequest:medication adds each Medication once, as include', async () => {
    const bundle = await json<Bundle>(
      await get(`/MedicationRequest?patient=${p1}&_include=MedicationRequest:medication`),
    );
    const included = (bundle.entry ?? []).filter((e) => e.search?.mode === 'include').map((e) => e.resource);
    const matches = (bundle.entry ?? []).filter((e) => e.search?.mode === 'match');
    const referenced = new Set(
      matches.flatMap((e) => {
        const ref = (e.resource as { medicationReference?: { reference?: string } }).medicationReference?.reference;
        return ref ? [ref] : [];
      }),
    );
    expect(referenced.size).toBeGreaterThan(0);
    expect(new Set(included.map((r) => `Medication/${r?.id}`))).toEqual(referenced);
    expect(bundle.total).toBe(matches.length); // includes are not counted
  });

  test('_summary=count answers the total without entries; POST _search equals GET', async () => {
    const count = await json<Bundle>(await get(`/Observation?patient=${p0}&_summary=count`));
    expect(count.entry).toBeUndefined();
    expect(count.total).toBeGreaterThan(0);
    const posted = await app.request(`${BASE}/Observation/_search`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: `patient=${p0}`,
    });
    expect((await json<Bundle>(posted)).total).toBe(count.total);
  });

  test('unsupported or unknown search parameters are a 400 OperationOutcome, not silently ignored', async () => {
    for (const query of [
      'Observation?value-quantity=gt5',
      'Observation?flavour=sweet',
      'Patient?name:phonetic=x',
      'Patient?birthdate=yesterday',
      'Observation?subject.name=x',
      'Observation?_sort=nonsense',
    ]) {
      const res = await get(`/${query}`);
      expect(res.status, query).toBe(400);
      expect((await json<OperationOutcome>(res)).issue?.[0]?.severity).toBe('error');
    }
  });

  test('create assigns id, version and Location; conditional create returns the single match or 412', async () => {
    const body: Patient = { resourceType: 'Patient', id: 'client-chosen', name: [{ family: 'Created' }] };
    const res = await app.request(`${BASE}/Patient`, {
      method: 'POST',
      headers: fhirHeaders,
      body: JSON.stringify(body),
    });
    expect(res.status, await res.clone().text()).toBe(201);
    const created = await json<Patient>(res);
    expect(created.id).not.toBe('client-chosen');
    expect(created.meta?.versionId).toBe('1');
    expect(res.headers.get('location')).toBe(`${BASE}/Patient/${created.id}/_history/1`);

    const conditional = (ifNoneExist: string) =>
      app.request(`${BASE}/Patient`, {
        method: 'POST',
        headers: { ...fhirHeaders, 'If-None-Exist': ifNoneExist },
        body: JSON.stringify({ resourceType: 'Patient', name: [{ family: 'Again' }] }),
      });
    const existing = await conditional(`_id=${created.id}`);
    expect(existing.status).toBe(200);
    expect((await json<Patient>(existing)).id).toBe(created.id);
    expect((await conditional('gender=female')).status).toBe(412);
    const fresh = await conditional('identifier=urn:test|never-seen');
    expect(fresh.status).toBe(201);
  });

  test('update-as-create answers 201; a later update answers 200 and bumps the version', async () => {
    const put = (family: string) =>
      app.request(`${BASE}/Task/task-42`, {
        method: 'PUT',
        headers: fhirHeaders,
        body: JSON.stringify({
          resourceType: 'Task',
          id: 'task-42',
          status: 'requested',
          intent: 'order',
          note: [{ text: family }],
        }),
      });
    const first = await put('one');
    expect(first.status, await first.clone().text()).toBe(201);
    const second = await put('two');
    expect(second.status).toBe(200);
    expect((await json<Resource>(second)).meta?.versionId).toBe('2');
    expect(second.headers.get('etag')).toBe('W/"2"');
  });

  test('a version-aware update (If-Match) lands only on the version it names: 412 on another, 400 malformed', async () => {
    const task = (text: string) =>
      JSON.stringify({ resourceType: 'Task', id: 'task-vu', status: 'requested', intent: 'order', note: [{ text }] });
    const put = (text: string, ifMatch?: string) =>
      app.request(`${BASE}/Task/task-vu`, {
        method: 'PUT',
        headers: { ...fhirHeaders, ...(ifMatch ? { 'If-Match': ifMatch } : {}) },
        body: task(text),
      });
    expect((await put('missing', 'W/"1"')).status).toBe(404); // nothing to match yet
    expect((await put('one')).status).toBe(201);
    expect((await put('two', 'W/"1"')).status).toBe(200);
    const stale = await put('three', 'W/"1"'); // someone else wrote version 2 since
    expect(stale.status).toBe(412);
    expect((await json<OperationOutcome>(stale)).resourceType).toBe('OperationOutcome');
    expect((await put('four', 'version-2')).status).toBe(400);
    expect((await put('five', '"2"')).status).toBe(200); // a strong ETag names the version too
    // In a batch, the entry's ifMatch does the same, entry by entry.
    const bundle: Bundle = {
      resourceType: 'Bundle',
      type: 'batch',
      entry: ['W/"3"', 'W/"3"'].map((ifMatch) => ({
        request: { method: 'PUT', url: 'Task/task-vu', ifMatch },
        resource: JSON.parse(task('batch')) as Resource,
      })),
    };
    const res = await app.request(`${BASE}/`, { method: 'POST', headers: fhirHeaders, body: JSON.stringify(bundle) });
    expect((await json<Bundle>(res)).entry?.map((e) => e.response?.status)).toEqual([
      '200 OK',
      '412 Precondition Failed',
    ]);
    expect((await json<Resource>(await app.request(`${BASE}/Task/task-vu`))).meta?.versionId).toBe('4');
  });

  test('malformed bodies are 400: wrong type, not JSON, id mismatch, structurally invalid', async () => {
    const post = (path: string, body: string, method = 'POST') =>
      app.request(`${BASE}${path}`, { method, headers: fhirHeaders, body });
    expect((await post('/Patient', JSON.stringify({ resourceType: 'Observation' }))).status).toBe(400);
    expect((await post('/Patient', '{not json')).status).toBe(400);
    expect((await post('/Patient', '[1,2]')).status).toBe(400);
    expect((await post('/Patient/a', JSON.stringify({ resourceType: 'Patient', id: 'b' }), 'PUT')).status).toBe(400);
    const invalid = await post('/Patient', JSON.stringify({ resourceType: 'Patient', favouriteColour: 'blue' }));
    expect(invalid.status).toBe(400);
    expect(JSON.stringify(await json<OperationOutcome>(invalid))).toContain('favouriteColour');
  });

  test('batch: each entry is answered on its own (read, search, create with ifNoneExist, update, errors)', async () => {
    const bundle: Bundle = {
      resourceType: 'Bundle',
      type: 'batch',
      entry: [
        { request: { method: 'GET', url: `Patient/${p0}` } },
        { request: { method: 'GET', url: `MedicationRequest?patient=${p0}&_include=MedicationRequest:medication` } },
        { request: { method: 'GET', url: 'Patient/does-not-exist' } },
        {
          request: { method: 'POST', url: 'Organization', ifNoneExist: '_id=org-1' },
          resource: { resourceType: 'Organization', name: 'dup' },
        },
        {
          request: { method: 'PUT', url: 'Basic/b1' },
          resource: { resourceType: 'Basic', id: 'b1', code: { text: 'x' } },
        },
        { request: { method: 'GET', url: 'Observation?bogus=1' } },
      ],
    };
    const res = await app.request(`${BASE}/`, { method: 'POST', headers: fhirHeaders, body: JSON.stringify(bundle) });
    expect(res.status).toBe(200);
    const out = await json<Bundle>(res);
    expect(out.type).toBe('batch-response');
    expect(out.entry?.map((e) => e.response?.status)).toEqual([
      '200 OK',
      '200 OK',
      '404 Not Found',
      '200 OK',
      '201 Created',
      '400 Bad Request',
    ]);
    expect((out.entry?.[1]?.resource as Bundle).entry?.some((e) => e.search?.mode === 'include')).toBe(true);
    expect(out.entry?.[3]?.resource?.id).toBe('org-1');
    expect(out.entry?.[2]?.response?.outcome?.resourceType).toBe('OperationOutcome');
  });

  test('X-Request-Id is echoed and every request is logged', async () => {
    const before = state.requests.length;
    const res = await get(`/Patient/${p0}`, { 'X-Request-Id': 'req-abc-123' });
    expect(res.headers.get('x-request-id')).toBe('req-abc-123');
    expect(state.requests.length).toBe(before + 1);
    expect(state.requests.at(-1)).toMatchObject({
      method: 'GET',
      path: `/fhir/R4/Patient/${p0}`,
      requestId: 'req-abc-123',
      status: 200,
    });
  });

  test('injected faults: the next N matching requests fail with Retry-After, then service resumes', async () => {
    state.injectFaults({ status: 503, count: 2, match: '/Observation' });
    const first = await get(`/Observation?patient=${p0}`);
    expect(first.status).toBe(503);
    expect(first.headers.get('retry-after')).toBe('1');
    expect((await get(`/Patient/${p0}`)).status).toBe(200); // does not match: unaffected
    expect((await get(`/Observation?patient=${p0}`)).status).toBe(503);
    expect((await get(`/Observation?patient=${p0}`)).status).toBe(200);
  });

  test('faultRate fails that share of FHIR requests, never metadata', async () => {
    let i = 0;
    const flaky = createSandboxApp({
      repo: seededRepo(),
      requireAuth: false,
      faultRate: 0.5,
      random: () => (i++ % 2) / 2,
    });
    const statuses = [];
    for (let n = 0; n < 4; n++) statuses.push((await flaky.request(`${BASE}/Patient/${p0}`)).status);
    expect(statuses).toEqual([503, 200, 503, 200]);
    expect((await flaky.request(`${BASE}/metadata`)).status).toBe(200);
  });

  test('metadata is a CapabilityStatement with batch, conditional create, search params and SMART URIs', async () => {
    const cs = await json<CapabilityStatement>(await get('/metadata'));
    const rest = cs.rest?.[0];
    expect(cs.fhirVersion).toBe('4.0.1');
    expect(rest?.interaction?.map((i) => i.code)).toContain('batch');
    const mr = rest?.resource?.find((r) => r.type === 'MedicationRequest');
    expect(mr?.conditionalCreate).toBe(true);
    expect(mr?.searchParam?.map((p) => p.name)).toEqual(expect.arrayContaining(['patient', 'status', 'authoredon']));
    expect(mr?.searchInclude).toContain('MedicationRequest:medication');
    const uris = rest?.security?.extension?.[0]?.extension?.map((e) => e.url);
    expect(uris).toEqual(expect.arrayContaining(['token', 'authorize']));
  });
});

describe('SMART Backend Services over HTTP', () => {
  let sandbox: SandboxHandle;
  let privateKey: CryptoKey;
  const clientId = 'clinic-demo';

  beforeAll(async () => {
    const pair = await generateKeyPair('ES384', { extractable: true });
    privateKey = pair.privateKey;
    const jwk = { ...(await exportJWK(pair.publicKey)), alg: 'ES384', kid: 'k1' };
    sandbox = await startSandbox({ repo: seededRepo(), latencyMs: 0 });
    // Registered at run time, as `npm start` does for the demo clinic's key.
    const reg = await fetch(`${sandbox.url}/oauth2/register`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ client_id: clientId, jwks: { keys: [jwk] } }),
    });
    expect(reg.status).toBe(201);
  });
  afterAll(async () => {
    await sandbox?.close();
  });

  const assertion = (claims: { aud?: string; expiresIn?: string; jti?: string; iss?: string } = {}) =>
    new SignJWT({})
      .setProtectedHeader({ alg: 'ES384', kid: 'k1' })
      .setIssuer(claims.iss ?? clientId)
      .setSubject(clientId)
      .setAudience(claims.aud ?? `${sandbox.url}/oauth2/token`)
      .setJti(claims.jti ?? crypto.randomUUID())
      .setExpirationTime(claims.expiresIn ?? '4m')
      .sign(privateKey);

  const requestToken = async (jwt: string, scope = 'system/*.rs') =>
    fetch(`${sandbox.url}/oauth2/token`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'client_credentials',
        client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
        client_assertion: jwt,
        scope,
      }),
    });

  test('discovery advertises private_key_jwt with RS384/ES384 and the token endpoint', async () => {
    const res = await fetch(`${sandbox.fhirBaseUrl}/.well-known/smart-configuration`);
    const config = (await res.json()) as Record<string, unknown>;
    expect(config.token_endpoint).toBe(`${sandbox.url}/oauth2/token`);
    expect(config.token_endpoint_auth_methods_supported).toEqual(['private_key_jwt', 'none']); // none: SMART App Launch public clients
    expect(config.token_endpoint_auth_signing_alg_values_supported).toEqual(['RS384', 'ES384']);
  });

  test('FHIR requests without a valid bearer token are 401; metadata stays open', async () => {
    expect((await fetch(`${sandbox.fhirBaseUrl}/Patient/${p0}`)).status).toBe(401);
    const bogus = await fetch(`${sandbox.fhirBaseUrl}/Patient/${p0}`, { headers: { Authorization: 'Bearer nope' } });
    expect(bogus.status).toBe(401);
    expect((await fetch(`${sandbox.fhirBaseUrl}/metadata`)).status).toBe(200);
  });

  test('a signed assertion earns a 300 s token that reads; its scopes bound what it may do', async () => {
    const res = await requestToken(await assertion());
    expect(res.status, await res.clone().text()).toBe(200);
    const token = (await res.json()) as { access_token: string; expires_in: number; token_type: string };
    expect(token.expires_in).toBe(300);
    const auth = { Authorization: `Bearer ${token.access_token}` };
    expect((await fetch(`${sandbox.fhirBaseUrl}/Patient/${p0}`, { headers: auth })).status).toBe(200);
    const write = await fetch(`${sandbox.fhirBaseUrl}/Patient`, {
      method: 'POST',
      headers: { ...auth, ...fhirHeaders },
      body: JSON.stringify({ resourceType: 'Patient' }),
    });
    expect(write.status).toBe(403); // system/*.rs cannot create
  });

  test('assertions are rejected for a wrong audience, a far expiry, a replayed jti or an unknown client', async () => {
    expect((await requestToken(await assertion({ aud: 'https://elsewhere/token' }))).status).toBe(401);
    expect((await requestToken(await assertion({ expiresIn: '1h' }))).status).toBe(401);
    const once = await assertion({ jti: 'same-jti' });
    expect((await requestToken(once)).status).toBe(200);
    expect((await requestToken(once)).status).toBe(401);
    const unknown = await requestToken(await assertion({ iss: 'stranger' }));
    expect(unknown.status).toBe(401);
    expect(((await unknown.json()) as { error: string }).error).toBe('invalid_client');
  });

  test('a key the client did not register cannot sign for it', async () => {
    const other = await generateKeyPair('ES384');
    const forged = await new SignJWT({})
      .setProtectedHeader({ alg: 'ES384', kid: 'k1' })
      .setIssuer(clientId)
      .setSubject(clientId)
      .setAudience(`${sandbox.url}/oauth2/token`)
      .setJti(crypto.randomUUID())
      .setExpirationTime('4m')
      .sign(other.privateKey);
    expect((await requestToken(forged)).status).toBe(401);
  });

  test('a wrong grant type is a 400 OAuth error', async () => {
    const res = await fetch(`${sandbox.url}/oauth2/token`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=password',
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: string }).error).toBe('unsupported_grant_type');
  });
});
