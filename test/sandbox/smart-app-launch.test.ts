// SMART App Launch on the sandbox EHR: EHR launch and standalone launch with the authorization code flow and PKCE
// (S256); what a real authorization server refuses (a wrong verifier, a reused code, another redirect_uri, an
// unregistered redirect_uri, no PKCE), and the token response's patient and fhirUser.
import { randomBytes } from 'node:crypto';
import { decodeJwt } from 'jose';
import { beforeEach, describe, expect, test } from 'vitest';
import { createSandboxApp, SandboxState } from '../../sandbox/fhir-server.ts';
import { s256 } from '../../sandbox/smart-app-launch.ts';

const ORIGIN = 'http://ehr.test';
const BASE = `${ORIGIN}/fhir/R4`;
const APP = { clientId: 'console-app', redirectUris: ['http://app.test/smart/callback'] };
const REDIRECT = APP.redirectUris[0]!;

let now = Date.parse('2026-01-01T10:00:00Z');
let state: SandboxState;
let app: ReturnType<typeof createSandboxApp>;

beforeEach(() => {
  now = Date.parse('2026-01-01T10:00:00Z');
  state = new SandboxState({ appClients: [APP], now: () => now });
  state.repo.update({ resourceType: 'Patient', id: 'pat-1', name: [{ given: ['Ada'], family: 'Byron' }] });
  state.repo.update({ resourceType: 'Practitioner', id: 'pract-1', name: [{ given: ['Mia'], family: 'Okafor' }] });
  app = createSandboxApp({ state, publicUrl: ORIGIN, validate: false });
});

const verifier = () => randomBytes(32).toString('base64url');

function authorizeUrl(params: Record<string, string | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined) q.set(k, v);
  return `/oauth2/authorize?${q.toString()}`;
}

const request = (extra: Record<string, string | undefined>, v = verifier()) => ({
  response_type: 'code',
  client_id: APP.clientId,
  redirect_uri: REDIRECT,
  scope: 'launch openid fhirUser',
  state: 'st-0123456789',
  aud: BASE,
  code_challenge: s256(v),
  code_challenge_method: 'S256',
  ...extra,
});

async function launchId(patient = 'pat-1', practitioner = 'pract-1'): Promise<string> {
  const res = await app.request(
    `/launch?app=${encodeURIComponent('http://app.test/smart/launch')}&patient=${patient}&practitioner=${practitioner}`,
  );
  expect(res.status).toBe(302);
  const to = new URL(res.headers.get('location')!);
  expect(to.origin + to.pathname).toBe('http://app.test/smart/launch');
  expect(to.searchParams.get('iss')).toBe(BASE);
  return to.searchParams.get('launch')!;
}

async function codeFor(v: string, extra: Record<string, string | undefined> = {}): Promise<string> {
  const res = await app.request(authorizeUrl(request({ launch: await launchId(), ...extra }, v)));
  expect(res.status).toBe(302);
  const to = new URL(res.headers.get('location')!);
  expect(to.searchParams.get('state')).toBe('st-0123456789');
  return to.searchParams.get('code')!;
}

const token = (form: Record<string, string>) =>
  app.request('/oauth2/token', { method: 'POST', body: new URLSearchParams(form) });

const exchangeForm = (code: string, v: string) => ({
  grant_type: 'authorization_code',
  code,
  redirect_uri: REDIRECT,
  client_id: APP.clientId,
  code_verifier: v,
});

describe('discovery', () => {
  test('smart-configuration advertises the authorization code flow with S256 and the launch capabilities', async () => {
    const conf = (await (await app.request('/fhir/R4/.well-known/smart-configuration')).json()) as Record<
      string,
      string[]
    >;
    expect(conf.grant_types_supported).toEqual(['client_credentials', 'authorization_code']);
    expect(conf.code_challenge_methods_supported).toEqual(['S256']);
    expect(conf.capabilities).toEqual(
      expect.arrayContaining([
        'launch-ehr',
        'launch-standalone',
        'context-ehr-patient',
        'context-standalone-patient',
        'sso-openid-connect',
      ]),
    );
  });
});

describe('EHR launch', () => {
  test('launch → code → token with patient, fhirUser and an id_token; the access token reads FHIR', async () => {
    const v = verifier();
    const res = await token(exchangeForm(await codeFor(v), v));
    expect(res.status).toBe(200);
    const body = (await res.json()) as Record<string, string | number>;
    expect(body).toMatchObject({
      token_type: 'Bearer',
      patient: 'pat-1',
      fhirUser: 'Practitioner/pract-1',
      scope: 'launch openid fhirUser',
    });
    expect(body.expires_in).toBeGreaterThan(0);
    const claims = decodeJwt(String(body.id_token));
    expect(claims).toMatchObject({ aud: APP.clientId, iss: ORIGIN, fhirUser: `${BASE}/Practitioner/pract-1` });
    // No user/ or patient/ scope was asked for: the token reads nothing.
    const read = await app.request('/fhir/R4/Patient/pat-1', {
      headers: { authorization: `Bearer ${String(body.access_token)}` },
    });
    expect(read.status).toBe(403);
  });

  test('a wrong code_verifier is refused', async () => {
    const v = verifier();
    const code = await codeFor(v);
    const res = await token(exchangeForm(code, verifier()));
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: 'invalid_grant' });
  });

  test('a code is single-use: the second use is refused and revokes the first use’s token', async () => {
    const v = verifier();
    const code = await codeFor(v, { scope: 'launch openid fhirUser patient/*.rs' });
    const first = (await (await token(exchangeForm(code, v))).json()) as { access_token: string };
    const read = () =>
      app.request('/fhir/R4/Patient/pat-1', { headers: { authorization: `Bearer ${first.access_token}` } });
    expect((await read()).status).toBe(200);
    const second = await token(exchangeForm(code, v));
    expect(second.status).toBe(400);
    expect(await second.json()).toMatchObject({ error: 'invalid_grant' });
    expect((await read()).status).toBe(401);
  });

  test('a code expires after 60 s', async () => {
    const v = verifier();
    const code = await codeFor(v);
    now += 61_000;
    expect((await token(exchangeForm(code, v))).status).toBe(400);
  });

  test('a redirect_uri other than the authorization request’s is refused at the token endpoint', async () => {
    const v = verifier();
    state.apps.registerApp({ ...APP, redirectUris: [REDIRECT, 'http://app.test/other'] });
    const code = await codeFor(v);
    const res = await token({ ...exchangeForm(code, v), redirect_uri: 'http://app.test/other' });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: 'invalid_grant' });
  });

  test('an unregistered redirect_uri or client is an error page, never a redirect', async () => {
    for (const extra of [{ redirect_uri: 'http://evil.test/cb' }, { client_id: 'nobody' }]) {
      const res = await app.request(authorizeUrl(request({ launch: await launchId(), ...extra })));
      expect(res.status).toBe(400);
      expect(res.headers.get('location')).toBeNull();
      expect(res.headers.get('content-type')).toContain('text/html');
    }
  });

  test('without PKCE S256, with another aud, or an unknown launch, the app gets an error redirect', async () => {
    for (const extra of [
      { code_challenge_method: 'plain' },
      { code_challenge: undefined },
      { aud: 'http://elsewhere.test/fhir' },
      { launch: 'no-such-launch' },
      { response_type: 'token' },
    ]) {
      const res = await app.request(authorizeUrl(request({ launch: await launchId(), ...extra })));
      expect(res.status, JSON.stringify(extra)).toBe(302);
      const to = new URL(res.headers.get('location')!);
      expect(to.searchParams.get('code')).toBeNull();
      expect(to.searchParams.get('error')).toMatch(/^(invalid_request|unsupported_response_type)$/);
      expect(to.searchParams.get('state')).toBe('st-0123456789');
    }
  });

  test('a launch id is used once; the launch endpoint refuses unknown patients', async () => {
    const id = await launchId();
    expect((await app.request(authorizeUrl(request({ launch: id })))).status).toBe(302);
    const again = await app.request(authorizeUrl(request({ launch: id })));
    expect(new URL(again.headers.get('location')!).searchParams.get('error')).toBe('invalid_request');
    const res = await app.request(
      `/launch?app=${encodeURIComponent('http://app.test/')}&patient=nope&practitioner=pract-1`,
    );
    expect(res.status).toBe(400);
  });
});

describe('standalone launch', () => {
  test('the picker signs in a practitioner and chooses the patient; deny answers access_denied', async () => {
    const v = verifier();
    const res = await app.request(authorizeUrl(request({ scope: 'launch/patient openid fhirUser' }, v)));
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(html).toContain('<option value="pract-1">Mia Okafor (pract-1)</option>');
    expect(html).toContain('<option value="pat-1">Ada Byron (pat-1)</option>');
    const requestId = /name="request_id" value="([^"]+)"/.exec(html)![1]!;
    const post = await app.request('/oauth2/authorize', {
      method: 'POST',
      body: new URLSearchParams({
        request_id: requestId,
        practitioner: 'pract-1',
        patient: 'pat-1',
        decision: 'approve',
      }),
    });
    expect(post.status).toBe(303);
    const code = new URL(post.headers.get('location')!).searchParams.get('code')!;
    const body = (await (await token(exchangeForm(code, v))).json()) as Record<string, string>;
    expect(body).toMatchObject({ patient: 'pat-1', fhirUser: 'Practitioner/pract-1' });

    const again = await app.request(authorizeUrl(request({ scope: 'launch/patient openid fhirUser' })));
    const id2 = /name="request_id" value="([^"]+)"/.exec(await again.text())![1]!;
    const deny = await app.request('/oauth2/authorize', {
      method: 'POST',
      body: new URLSearchParams({ request_id: id2, decision: 'deny' }),
    });
    expect(new URL(deny.headers.get('location')!).searchParams.get('error')).toBe('access_denied');
  });
});
