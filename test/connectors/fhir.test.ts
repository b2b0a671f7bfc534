// The FHIR connector over real HTTP. Error shapes, the token flow and paging edge cases run against a tiny
// fault-injecting stand-in (faults a real server will not produce on demand); paging, conditional create, update and
// validation errors run against the sandbox EHR, as do whole-record reads (test/activities/patient-context.test.ts).
import type { AddressInfo } from 'node:net';
import type { Task } from '@medplum/fhirtypes';
import type { Server } from 'node:http';
import { serve } from '@hono/node-server';
import { Client } from 'fhir-kit-client';
import { Hono } from 'hono';
import { decodeProtectedHeader, importJWK, jwtVerify, type JWK } from 'jose';
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { createFhirConnector, searchUrl, type FhirConnector } from '../../connectors/fhir/connector.ts';
import { generateClientKeyPair, signClientAssertion } from '../../connectors/fhir/auth.ts';
import { toFhirError } from '../../connectors/fhir/errors.ts';
import { AppError } from '../../rules/index.ts';
import { startSandbox, type SandboxHandle } from '../../sandbox/fhir-server.ts';
import { IndexedRepository, loadResources } from '../../sandbox/indexed-repository.ts';
import { generateClinic } from '../../sandbox/synthetic/index.ts';

const CLIENT_ID = 'autopilot-test';

interface Seen {
  path: string;
  authorization: string | undefined;
  requestId: string | undefined;
  ifNoneExist?: string | undefined;
  cacheControl?: string | undefined;
}

function outcome(code: string) {
  return { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code, diagnostics: 'Jane Doe 1970-01-01' }] };
}

/** The stand-in: an authorization server and a FHIR base whose resource ids choose the fault. */
function standIn(publicJwk: JWK) {
  const state = {
    seen: [] as Seen[],
    tokensIssued: 0,
    assertions: [] as { header: Record<string, unknown>; payload: Record<string, unknown>; scope: string | null }[],
    revoked: new Set<string>(),
    expiresIn: 300,
    batchOffered: true,
    /** How POST [base] answers a batch: a batch-response, 405 (no batch here), or 503 (unavailable). */
    batchAnswer: 'batch-response' as 'batch-response' | 405 | 503,
    origin: '',
    tasks: new Map<string, string>(),
  };
  const app = new Hono();
  app.get('/fhir/R4/.well-known/smart-configuration', (c) =>
    c.json({ token_endpoint: `${state.origin}/oauth2/token`, grant_types_supported: ['client_credentials'] }),
  );
  app.post('/oauth2/token', async (c) => {
    const form = await c.req.parseBody();
    const assertion = typeof form.client_assertion === 'string' ? form.client_assertion : '';
    try {
      const { payload, protectedHeader } = await jwtVerify(assertion, await importJWK(publicJwk, 'ES384'), {
        issuer: CLIENT_ID,
        subject: CLIENT_ID,
        audience: `${state.origin}/oauth2/token`,
        algorithms: ['ES384'],
      });
      if (form.grant_type !== 'client_credentials') return c.json({ error: 'unsupported_grant_type' }, 400);
      if (form.client_assertion_type !== 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer') {
        return c.json({ error: 'invalid_request' }, 400);
      }
      state.assertions.push({
        header: protectedHeader,
        payload,
        scope: typeof form.scope === 'string' ? form.scope : null,
      });
    } catch {
      return c.json({ error: 'invalid_client' }, 401);
    }
    state.tokensIssued += 1;
    return c.json({ access_token: `tok-${state.tokensIssued}`, token_type: 'Bearer', expires_in: state.expiresIn });
  });
  app.use('/fhir/R4/*', async (c, next) => {
    const authorization = c.req.header('authorization');
    state.seen.push({
      path: c.req.path + (new URL(c.req.url).search || ''),
      authorization,
      requestId: c.req.header('x-request-id'),
      ifNoneExist: c.req.header('if-none-exist'),
      cacheControl: c.req.header('cache-control'),
    });
    const token = authorization?.replace(/^Bearer /, '');
    if (!token || !/^tok-\d+$/.test(token) || state.revoked.has(token)) return c.json(outcome('login'), 401);
    await next();
  });
  app.get('/fhir/R4/metadata', (c) =>
    c.json({
      resourceType: 'CapabilityStatement',
      fhirVersion: '4.0.1',
      rest: [
        {
          mode: 'server',
          interaction: state.batchOffered ? [{ code: 'batch' }] : [{ code: 'search-system' }],
          resource: [
            { type: 'Task', conditionalCreate: true },
            { type: 'Patient', conditionalCreate: false },
          ],
        },
      ],
    }),
  );
  app.get('/fhir/R4/Patient/:id', async (c) => {
    const id = c.req.param('id');
    switch (id) {
      case 'missing':
        return c.json(outcome('not-found'), 404);
      case 'gone':
        return c.json(outcome('deleted'), 410);
      case 'busy':
        return c.json(outcome('throttled'), 429);
      case 'broken':
        return c.json(outcome('exception'), 500);
      case 'down':
        return c.text('Service Unavailable', 503);
      case 'forbidden':
        return c.json(outcome('forbidden'), 403);
      case 'garbage':
        return c.html('<html><body>Gateway login</body></html>', 200);
      case 'slow':
        await new Promise((r) => setTimeout(r, 1500));
        return c.json({ resourceType: 'Patient', id });
      case 'wrong-type':
        return c.json({ resourceType: 'Practitioner', id });
      default:
        return c.json({ resourceType: 'Patient', id });
    }
  });
  // Paged search: three pages of Observations, the first with an included Patient.
  app.get('/fhir/R4/Observation', (c) => {
    const page = Number(c.req.query('page') ?? '1');
    const foreign = c.req.query('patient') === 'leaky';
    const next =
      page < 3
        ? foreign
          ? 'http://evil.example/fhir/R4/Observation?page=2'
          : `${state.origin}/fhir/R4/Observation?patient=p1&page=${page + 1}`
        : undefined;
    return c.json({
      resourceType: 'Bundle',
      type: 'searchset',
      link: next ? [{ relation: 'next', url: next }] : [],
      entry: [
        { resource: { resourceType: 'Observation', id: `o${page}` }, search: { mode: 'match' } },
        ...(page === 1 ? [{ resource: { resourceType: 'Patient', id: 'p1' }, search: { mode: 'include' } }] : []),
        { resource: outcome('informational'), search: { mode: 'outcome' } },
      ],
    });
  });
  app.post('/fhir/R4', async (c) => {
    if (state.batchAnswer !== 'batch-response') return c.json(outcome('not-supported'), state.batchAnswer);
    const body = await c.req.json<{ type: string; entry: { request: { method: string; url: string } }[] }>();
    return c.json({
      resourceType: 'Bundle',
      type: 'batch-response',
      entry: body.entry.map(({ request }) => {
        const [type, id] = request.url.split('/');
        if (id === 'missing') return { response: { status: '404 Not Found', outcome: outcome('not-found') } };
        if (id === 'busy') return { response: { status: '429 Too Many Requests' } };
        return { resource: { resourceType: type, id }, response: { status: '200 OK' } };
      }),
    });
  });
  app.post('/fhir/R4/Task', async (c) => {
    const criteria = c.req.header('if-none-exist') ?? '';
    const existing = state.tasks.get(criteria);
    const task = await c.req.json<Record<string, unknown>>();
    if (existing) return c.json({ ...task, id: existing }, 200);
    const id = `t${state.tasks.size + 1}`;
    if (criteria) state.tasks.set(criteria, id);
    return c.json({ ...task, id }, 201, { location: `${state.origin}/fhir/R4/Task/${id}/_history/1` });
  });
  app.put('/fhir/R4/Task/:id', async (c) => {
    if (c.req.header('if-match') !== 'W/"1"') return c.json(outcome('conflict'), 412);
    return c.json({ ...(await c.req.json<Record<string, unknown>>()), meta: { versionId: '2' } });
  });
  return { app, state };
}

let server: Server;
let state: ReturnType<typeof standIn>['state'];
let baseUrl: string;
let privateJwk: JWK;
let requestId: string | undefined;

function connector(
  overrides: { timeoutMs?: number; auth?: boolean; batch?: 'auto' | 'always' | 'never' } = {},
): FhirConnector {
  return createFhirConnector({
    baseUrl,
    ...(overrides.batch ? { batch: overrides.batch } : {}),
    timeoutMs: overrides.timeoutMs ?? 1000,
    requestId: () => requestId,
    ...(overrides.auth === false ? {} : { auth: { clientId: CLIENT_ID, privateKeyJwk: privateJwk } }),
  });
}

async function rejection(p: Promise<unknown>): Promise<AppError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AppError);
  return err as AppError;
}

beforeAll(async () => {
  const keys = await generateClientKeyPair('test-key');
  privateJwk = keys.privateJwk;
  const standin = standIn(keys.publicJwks.keys[0]!);
  state = standin.state;
  server = await new Promise<Server>((resolve) => {
    const s = serve({ fetch: standin.app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s as Server));
  });
  state.origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  baseUrl = `${state.origin}/fhir/R4`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

beforeEach(() => {
  state.seen.length = 0;
  state.revoked.clear();
  state.batchOffered = true;
  state.batchAnswer = 'batch-response';
  state.expiresIn = 300;
  requestId = 'req-1';
});

describe('fhir-kit-client 2.0.3 rejection shape (pinned: toFhirError depends on it)', () => {
  test('an HTTP error rejects with an Error carrying response.status and the parsed body', async () => {
    const client = new Client({ baseUrl, bearerToken: 'tok-1' });
    const err: unknown = await client.read({ resourceType: 'Patient', id: 'missing' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect(err).toMatchObject({ response: { status: 404, data: { resourceType: 'OperationOutcome' } } });
  });

  test('a 200 with a non-JSON body rejects too, with status 200 and the raw text', async () => {
    const client = new Client({ baseUrl, bearerToken: 'tok-1' });
    const err: unknown = await client.read({ resourceType: 'Patient', id: 'garbage' }).catch((e: unknown) => e);
    expect(err).toMatchObject({ response: { status: 200, data: expect.stringContaining('<html>') as unknown } });
  });
});

describe('error shapes over real HTTP', () => {
  test.each([
    ['missing', 'EHR_NOT_FOUND', false, 404],
    ['gone', 'EHR_NOT_FOUND', false, 410],
    ['busy', 'EHR_UNAVAILABLE', true, 429],
    ['broken', 'EHR_UNAVAILABLE', true, 500],
    ['down', 'EHR_UNAVAILABLE', true, 503],
    ['forbidden', 'EHR_REJECTED', false, 403],
    ['garbage', 'EHR_UNAVAILABLE', true, 200],
  ] as const)('Patient/%s → %s (retryable: %s)', async (id, code, retryable, status) => {
    const err = await rejection(connector().read('Patient', id));
    expect(err.code).toBe(code);
    expect(err.retryable).toBe(retryable);
    expect(err.context).toMatchObject({ status, action: 'read', resourceType: 'Patient' });
  });

  test('messages, context and cause carry no PHI and no token', async () => {
    const err = await rejection(connector().read('Patient', 'missing'));
    expect(err.context.issue).toBe('not-found'); // the FHIR issue code survives, the diagnostics do not
    const everything = JSON.stringify({ message: err.message, context: err.context, cause: String(err.cause) });
    expect(everything).not.toContain('Jane');
    expect(everything).not.toContain('tok-');
    expect(err.cause).toBeUndefined();
  });

  test('a request slower than timeoutMs is aborted and is retryable', async () => {
    const started = Date.now();
    const err = await rejection(connector({ timeoutMs: 200 }).read('Patient', 'slow'));
    expect(Date.now() - started).toBeLessThan(1200);
    expect(err).toMatchObject({ code: 'EHR_UNAVAILABLE', retryable: true, context: { reason: 'timeout' } });
  });

  test('a refused connection is retryable', async () => {
    const closed = createFhirConnector({ baseUrl: 'http://127.0.0.1:9/fhir/R4', timeoutMs: 1000 });
    const err = await rejection(closed.read('Patient', 'p1'));
    expect(err).toMatchObject({ code: 'EHR_UNAVAILABLE', retryable: true, context: { reason: 'network' } });
  });

  test('a resource of the wrong type is rejected, not passed on', async () => {
    const err = await rejection(connector().read('Patient', 'wrong-type'));
    expect(err).toMatchObject({ code: 'EHR_REJECTED', context: { reason: 'wrong-resource-type' } });
  });

  test('toFhirError passes an AppError through unchanged', () => {
    const original = new AppError('EHR_REJECTED', 'x');
    expect(toFhirError(original, { action: 'read', resourceType: 'Patient' })).toBe(original);
  });
});

describe('SMART Backend Services', () => {
  test('signs an ES384 assertion the server can verify, fetches a token once, and sends it with the request id', async () => {
    const before = { issued: state.tokensIssued, assertions: state.assertions.length };
    const fhir = connector();
    requestId = 'req-abc';
    await fhir.read('Patient', 'p1');
    await fhir.read('Patient', 'p2');
    expect(state.tokensIssued - before.issued).toBe(1);
    expect(fhir.authRoundTrips).toBe(2); // discovery + token, once
    expect(fhir.roundTrips).toBe(2);
    const { header, payload, scope } = state.assertions[before.assertions]!;
    expect(header).toMatchObject({ alg: 'ES384', kid: 'test-key', typ: 'JWT' });
    expect(payload.exp! as number).toBeLessThanOrEqual((payload.iat as number) + 300);
    expect(payload.jti).toEqual(expect.any(String));
    expect(scope).toBe('system/*.read system/*.write');
    expect(state.seen.map((s) => [s.authorization, s.requestId])).toEqual([
      [`Bearer tok-${state.tokensIssued}`, 'req-abc'],
      [`Bearer tok-${state.tokensIssued}`, 'req-abc'],
    ]);
  });

  test('every assertion has a fresh jti', async () => {
    const tokenUrl = `${state.origin}/oauth2/token`;
    const a = await signClientAssertion({ clientId: CLIENT_ID, privateKeyJwk: privateJwk }, tokenUrl);
    const b = await signClientAssertion({ clientId: CLIENT_ID, privateKeyJwk: privateJwk }, tokenUrl);
    expect(decodeProtectedHeader(a).alg).toBe('ES384');
    const jti = (jwt: string) =>
      (JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString()) as { jti: string }).jti;
    expect(jti(a)).not.toBe(jti(b));
  });

  test('concurrent first calls share one token request', async () => {
    const before = state.tokensIssued;
    const fhir = connector();
    await Promise.all(['a', 'b', 'c', 'd'].map((id) => fhir.read('Patient', id)));
    expect(state.tokensIssued - before).toBe(1);
  });

  test('a 401 drops the token, fetches a new one and retries once', async () => {
    const fhir = connector();
    await fhir.read('Patient', 'p1');
    const first = `tok-${state.tokensIssued}`;
    state.revoked.add(first);
    await expect(fhir.read('Patient', 'p1')).resolves.toMatchObject({ id: 'p1' });
    const second = `tok-${state.tokensIssued}`;
    expect(second).not.toBe(first);
    expect(state.seen.map((s) => s.authorization)).toEqual([`Bearer ${first}`, `Bearer ${first}`, `Bearer ${second}`]);
    expect(fhir.roundTrips).toBe(3);
  });

  test('a second 401 in a row is EHR_REJECTED, not an endless loop', async () => {
    const fhir = connector();
    await fhir.read('Patient', 'p1');
    for (let i = 1; i <= state.tokensIssued + 5; i += 1) state.revoked.add(`tok-${i}`);
    const err = await rejection(fhir.read('Patient', 'p1'));
    expect(err).toMatchObject({ code: 'EHR_REJECTED', retryable: false, context: { status: 401 } });
    expect(fhir.roundTrips).toBe(3);
  });

  test('a token about to expire is refreshed before use', async () => {
    state.expiresIn = 1; // refreshed a fifth early: after 800 ms
    const before = state.tokensIssued;
    const fhir = connector();
    await fhir.read('Patient', 'p1');
    await new Promise((r) => setTimeout(r, 900));
    await fhir.read('Patient', 'p1');
    expect(state.tokensIssued - before).toBe(2);
  });

  test('a key the EHR does not know is EHR_REJECTED with the OAuth error code', async () => {
    const stranger = await generateClientKeyPair('stranger');
    const fhir = createFhirConnector({
      baseUrl,
      timeoutMs: 1000,
      auth: { clientId: CLIENT_ID, privateKeyJwk: stranger.privateJwk },
    });
    const err = await rejection(fhir.read('Patient', 'p1'));
    expect(err).toMatchObject({ code: 'EHR_REJECTED', context: { status: 401, oauthError: 'invalid_client' } });
    expect(state.seen).toHaveLength(0); // never reached the FHIR server
  });

  test('an unusable key is CONFIG_INVALID and the message does not echo it', async () => {
    const fhir = createFhirConnector({
      baseUrl,
      timeoutMs: 1000,
      auth: { clientId: CLIENT_ID, privateKeyJwk: { kty: 'oct', k: 'c2VjcmV0LXNlY3JldA' } },
    });
    const err = await rejection(fhir.read('Patient', 'p1'));
    expect(err.code).toBe('CONFIG_INVALID');
    expect(err.message).not.toContain('c2VjcmV0');
  });
});

describe('search, batch, capabilities, writes', () => {
  test('search follows next links and separates matches from included resources', async () => {
    const fhir = connector();
    const result = await fhir.search('Observation', { patient: 'p1', category: 'laboratory' });
    expect(result.matches.map((r) => r.id)).toEqual(['o1', 'o2', 'o3']);
    expect(result.included.map((r) => `${r.resourceType}/${r.id}`)).toEqual(['Patient/p1']);
    expect(fhir.roundTrips).toBe(3);
    expect(state.seen[0]!.path).toBe('/fhir/R4/Observation?patient=p1&category=laboratory');
  });

  test('a next link to another host is refused (it would receive our token)', async () => {
    const err = await rejection(connector().search('Observation', { patient: 'leaky' }));
    expect(err).toMatchObject({ code: 'EHR_REJECTED', context: { reason: 'foreign-link' } });
    expect(state.seen).toHaveLength(1);
  });

  test('capabilities are read once and report batch and conditional create', async () => {
    const fhir = connector();
    const [a, b] = await Promise.all([fhir.capabilities(), fhir.capabilities()]);
    expect(a).toBe(b);
    expect(a).toMatchObject({ fhirVersion: '4.0.1', batch: true, conditionalCreateTypes: ['Task'] });
    await fhir.capabilities();
    expect(state.seen.filter((s) => s.path === '/fhir/R4/metadata')).toHaveLength(1);
  });

  test('batch sends one Bundle and returns per-entry results in order', async () => {
    const fhir = connector();
    await fhir.capabilities();
    const session = fhir.session();
    const results = await session.batch([
      { method: 'GET', url: 'Patient/p1' },
      { method: 'GET', url: 'MedicationRequest/missing' },
      { method: 'GET', url: 'Organization/busy' },
    ]);
    expect(session.roundTrips).toBe(1);
    expect(fhir.roundTrips).toBe(2); // the parent counts its sessions' requests too
    expect(results[0]).toMatchObject({ ok: true, status: 200, resource: { resourceType: 'Patient', id: 'p1' } });
    expect(results[1]).toMatchObject({ ok: false, status: 404 });
    expect(results[1]!.ok === false && results[1]!.error).toMatchObject({
      code: 'EHR_NOT_FOUND',
      context: { resourceType: 'MedicationRequest', issue: 'not-found' },
    });
    expect(results[2]!.ok === false && results[2]!.error).toMatchObject({ code: 'EHR_UNAVAILABLE', retryable: true });
  });

  test('without batch in the CapabilityStatement, one probe; refused, the same requests go out in parallel', async () => {
    state.batchOffered = false;
    state.batchAnswer = 405;
    const fhir = connector();
    const results = await fhir.batch([
      { method: 'GET', url: 'Patient/p1' },
      { method: 'GET', url: 'Patient/missing' },
      { method: 'GET', url: searchUrl('Observation', { patient: 'p1', page: 3 }) },
    ]);
    expect(fhir.roundTrips).toBe(5); // metadata + the probe + three requests
    expect(await fhir.capabilities()).toMatchObject({ batch: false, batchFrom: 'probed' });
    await fhir.batch([{ method: 'GET', url: 'Patient/p1' }]);
    expect(state.seen.filter((s) => s.path === '/fhir/R4')).toHaveLength(1); // the refusal is remembered
    expect(results.map((r) => r.status)).toEqual([200, 404, 200]);
    expect(results[1]!.ok === false && results[1]!.error.code).toBe('EHR_NOT_FOUND');
    expect(results[2]).toMatchObject({ ok: true, resource: { resourceType: 'Bundle', type: 'searchset' } });
  });

  test('a batch the CapabilityStatement does not advertise but the EHR answers (HAPI FHIR) is found and used', async () => {
    state.batchOffered = false;
    const fhir = connector();
    const caps = await fhir.capabilities();
    expect(caps).toMatchObject({ batch: true, batchFrom: 'probed' });
    const session = fhir.session();
    const results = await session.batch([
      { method: 'GET', url: 'Patient/p1' },
      { method: 'GET', url: 'Patient/p2' },
    ]);
    expect(session.roundTrips).toBe(1);
    expect(results.map((r) => r.status)).toEqual([200, 200]);
    expect(state.seen.map((s) => s.path)).toEqual(['/fhir/R4/metadata', '/fhir/R4', '/fhir/R4']);
  });

  test('a probe that meets an unavailable EHR fails the call, retryable, and is not remembered', async () => {
    state.batchOffered = false;
    state.batchAnswer = 503;
    const fhir = connector();
    const err = await rejection(fhir.capabilities());
    expect(err).toMatchObject({ code: 'EHR_UNAVAILABLE', retryable: true });
    state.batchAnswer = 'batch-response';
    expect(await fhir.capabilities()).toMatchObject({ batch: true, batchFrom: 'probed' });
  });

  test('batch configured per EHR: `never` and `always` are obeyed without a probe', async () => {
    const never = connector({ batch: 'never' });
    await never.batch([
      { method: 'GET', url: 'Patient/p1' },
      { method: 'GET', url: 'Patient/p2' },
    ]);
    expect(await never.capabilities()).toMatchObject({ batch: false, batchFrom: 'configured' });
    expect(state.seen.map((s) => s.path).sort()).toEqual([
      '/fhir/R4/Patient/p1',
      '/fhir/R4/Patient/p2',
      '/fhir/R4/metadata',
    ]);
    state.seen.length = 0;
    state.batchOffered = false;
    const always = connector({ batch: 'always' });
    await always.batch([{ method: 'GET', url: 'Patient/p1' }]);
    expect(state.seen.map((s) => s.path)).toEqual(['/fhir/R4/metadata', '/fhir/R4']);
  });

  test('every request asks for a fresh answer (Cache-Control: no-cache: HAPI FHIR caches searches 60 s)', async () => {
    const fhir = connector();
    await fhir.search('Observation', { patient: 'p1' });
    await fhir.read('Patient', 'p1');
    await fhir.batch([{ method: 'GET', url: 'Patient/p1' }]);
    const fhirCalls = state.seen.filter((s) => s.path.startsWith('/fhir/R4'));
    expect(fhirCalls.length).toBeGreaterThanOrEqual(4);
    expect(fhirCalls.every((s) => s.cacheControl === 'no-cache')).toBe(true);
  });
  test('conditional create returns the existing resource the second time', async () => {
    const fhir = connector();
    const task = { resourceType: 'Task', status: 'requested', intent: 'order' } as const;
    const first = await fhir.create(task, { ifNoneExist: { identifier: 'urn:autopilot|case-1' } });
    const again = await fhir.create(task, { ifNoneExist: { identifier: 'urn:autopilot|case-1' } });
    expect(first).toMatchObject({ created: true, resource: { id: 't1' } });
    expect(again).toMatchObject({ created: false, resource: { id: 't1' } });
    expect(state.seen[0]!.ifNoneExist).toBe('identifier=urn%3Aautopilot%7Ccase-1');
  });

  test('update with ifMatch sends a weak ETag; a stale version is EHR_REJECTED (412)', async () => {
    const fhir = connector();
    const task = { resourceType: 'Task', id: 't1', status: 'completed', intent: 'order' } as const;
    await expect(fhir.update(task, { ifMatch: '1' })).resolves.toMatchObject({ meta: { versionId: '2' } });
    const err = await rejection(fhir.update(task, { ifMatch: '7' }));
    expect(err).toMatchObject({ code: 'EHR_REJECTED', context: { status: 412, resourceType: 'Task' } });
  });

  test('ids and resource types are checked before anything is sent', async () => {
    const fhir = connector();
    expect((await rejection(fhir.read('Patient', '../metadata'))).code).toBe('INVALID_INPUT');
    expect(state.seen).toHaveLength(0);
  });
});

describe('against the sandbox EHR (a real FHIR server with SMART auth)', () => {
  let sandbox: SandboxHandle;
  let ehr: FhirConnector;
  const clinic = generateClinic({ seed: 7, patients: 5, asOf: '2025-06-15' });
  const patientId = clinic.refillRequests[0]!.patientId;

  beforeAll(async () => {
    const keys = await generateClientKeyPair('sandbox-key');
    const repo = new IndexedRepository();
    loadResources(repo, clinic.resources);
    sandbox = await startSandbox({ repo, clients: [{ clientId: CLIENT_ID, jwks: keys.publicJwks }] });
    ehr = createFhirConnector({
      baseUrl: sandbox.fhirBaseUrl,
      timeoutMs: 5000,
      auth: { clientId: CLIENT_ID, privateKeyJwk: keys.privateJwk },
    });
  });
  afterAll(async () => {
    await sandbox?.close();
  });

  test('a paged search returns every match exactly once', async () => {
    const held = clinic.resources.filter(
      (r) => r.resourceType === 'Observation' && r.subject?.reference === `Patient/${patientId}`,
    );
    expect(held.length).toBeGreaterThan(10);
    const session = ehr.session();
    const { matches } = await session.search('Observation', { patient: patientId, _count: 5 });
    expect(matches.map((o) => o.id).sort()).toEqual(held.map((o) => o.id).sort());
    expect(session.roundTrips).toBe(Math.ceil(held.length / 5));
  });

  test('the CapabilityStatement offers batch and conditional create', async () => {
    const caps = await ehr.capabilities();
    expect(caps.batch).toBe(true);
    expect(caps.conditionalCreateTypes).toContain('Task');
  });

  test('conditional create is idempotent and update returns the new version', async () => {
    const task: Task = {
      resourceType: 'Task',
      status: 'requested',
      intent: 'order',
      identifier: [{ system: 'urn:ehr-autopilot:case', value: 'case-42' }],
      for: { reference: `Patient/${patientId}` },
    };
    const first = await ehr.create(task, { ifNoneExist: { identifier: 'urn:ehr-autopilot:case|case-42' } });
    const again = await ehr.create(task, { ifNoneExist: { identifier: 'urn:ehr-autopilot:case|case-42' } });
    expect(first.created).toBe(true);
    expect(again).toMatchObject({ created: false, resource: { id: first.resource.id } });
    const updated = await ehr.update({ ...first.resource, status: 'completed' });
    expect(updated).toMatchObject({ status: 'completed', meta: { versionId: '2' } });
  });

  test('an invalid resource is EHR_REJECTED (400), not retried', async () => {
    const err = await rejection(ehr.create({ resourceType: 'Task' } as Task));
    expect(err).toMatchObject({ code: 'EHR_REJECTED', retryable: false, context: { status: 400 } });
  });
});
