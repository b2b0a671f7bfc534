// The HTTP edge against hostile or careless callers (issue 7 §3): body limits before anything is read, rate limits
// shared by replicas, an unknown clinic indistinguishable from a bad signature, deep nesting refused, reads of
// patient data audited, security headers and no-store everywhere, and request ids the caller cannot forge.
import { request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { createApp } from '../../api/app.ts';
import { signWebhook } from '../../api/middleware/webhook-signature.ts';
import { ensureBuiltinProtocols } from '../../api/seed.ts';
import { parseRefillWebhook } from '../../api/kinds/refill/webhook-body.ts';
import type { WorkflowGateway } from '../../api/workflow-gateway.ts';
import { loadConfig } from '../../connectors/config.ts';
import { createStore, type Store } from '../../connectors/db/index.ts';
import { createLogger } from '../../connectors/logger.ts';
import { AppError } from '../../rules/index.ts';
import { openTestDatabase, type TestDatabase } from '../helpers/db.ts';

const SECRET = 'edge-test-secret-0123456789abcdef';
const TOKENS = {
  nurse: 'edge-nurse-token-0123456789',
  doctor: 'edge-doctor-token-0123456789',
  admin: 'edge-admin-token-0123456789',
} as const;
const CLINIC = 'edge-clinic';
const logger = createLogger(loadConfig({ LOG_LEVEL: 'silent' }), 'test');

let testDb: TestDatabase;
let store: Store;
/** How often the webhook looked its clinic up: proves when a request never reached the handler. */
let clinicLookups = 0;
const started: string[] = [];
const gateway: WorkflowGateway = {
  startCase: (start) => {
    started.push(start.caseId);
    return Promise.resolve({ caseId: start.caseId, runId: 'r1' });
  },
  submitDecision: () => Promise.reject(new AppError('TEMPORAL_UNAVAILABLE', 'unused', { retryable: true })),
  getCaseState: () => Promise.resolve(null),
  ping: () => Promise.resolve(),
};

beforeAll(async () => {
  testDb = await openTestDatabase('sqlite');
  const real = createStore(testDb.db);
  store = {
    ...real,
    clinics: {
      ...real.clinics,
      get: (id) => {
        clinicLookups++;
        return real.clinics.get(id);
      },
    },
  };
  await ensureBuiltinProtocols(store, logger);
  await store.clinics.upsert({
    id: CLINIC,
    name: 'Edge test clinic',
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
  for (const role of ['nurse', 'doctor', 'admin'] as const) {
    await store.tokens.createToken({ name: role, role, userId: `${role}-1`, token: TOKENS[role] });
  }
  for (const [i, queue] of (['nurse', 'nurse', 'doctor'] as const).entries()) {
    await store.cases.upsertCaseProjection(
      {
        id: `rf_${CLINIC}_mr-${i}`,
        clinicId: CLINIC,
        requestId: 'seed',
        patientId: `pat-${i}`,
        medicationRequestId: `mr-${i}`,
        drugName: 'Lisinopril 10 mg',
        status: 'queued',
        queue,
      },
      3,
    );
  }
});
afterAll(async () => {
  await testDb?.cleanup();
});

function appWith(env: Record<string, string> = {}) {
  const config = loadConfig({ LOG_LEVEL: 'silent', ...env });
  return createApp({ config, db: testDb.db, store, workflows: gateway, logger, now: () => new Date() });
}
type App = ReturnType<typeof appWith>;

function signedHeaders(raw: string, secret = SECRET): Record<string, string> {
  const ts = Math.floor(Date.now() / 1000);
  return {
    'content-type': 'application/json',
    'x-autopilot-timestamp': String(ts),
    'x-autopilot-signature': signWebhook(secret, ts, raw),
  };
}
function webhook(
  app: App,
  raw: string,
  opts: { clinic?: string; secret?: string; headers?: Record<string, string> } = {},
) {
  return app.request(`/v1/webhooks/${opts.clinic ?? CLINIC}/refill-requests`, {
    method: 'POST',
    headers: { ...signedHeaders(raw, opts.secret), ...opts.headers },
    body: raw,
  });
}
const event = (id: string) =>
  JSON.stringify({ type: 'refill.requested', id: `evt-${id}`, medicationRequest: `MedicationRequest/${id}` });
/** A Subscription notification whose focus sits under `depth` levels of Parameters.part, built as text. */
const deepNotification = (depth: number) =>
  '{"resourceType":"Bundle","type":"history","entry":[{"resource":{"resourceType":"Parameters","parameter":[' +
  '{"name":"notification-event","part":['.repeat(depth) +
  '{"name":"focus","valueReference":{"reference":"MedicationRequest/mr-deep"}}' +
  ']}'.repeat(depth) +
  ']}}]}';
const asJson = async (res: Response) =>
  (await res.json()) as { error: { code: string; message: string; requestId: string; issues?: { path: string }[] } };

describe('bodies: a limit on every route, enforced before the body is read', () => {
  test('an oversized webhook is 413 in the error envelope, signed or not, and never reaches the handler', async () => {
    const app = appWith();
    const big = JSON.stringify({ type: 'refill.requested', id: 'x'.repeat(70 * 1024) });
    const before = clinicLookups;
    for (const res of [
      await webhook(app, big),
      await webhook(app, big, { headers: { 'x-autopilot-signature': '' } }),
    ]) {
      expect(res.status).toBe(413);
      const body = await asJson(res);
      expect(body.error.code).toBe('PAYLOAD_TOO_LARGE');
      expect(body.error.requestId).toBe(res.headers.get('x-request-id'));
    }
    expect(clinicLookups).toBe(before);
  });

  test('an unsigned body within the limit is 401 before the clinic is even looked up', async () => {
    const before = clinicLookups;
    const res = await webhook(appWith(), event('mr-unsigned'), { headers: { 'x-autopilot-signature': '' } });
    expect(res.status).toBe(401);
    expect(clinicLookups).toBe(before);
  });

  test('a decision body is limited to 16 KB, other routes to 1 MB', async () => {
    const app = appWith();
    const decision = await app.request(`/v1/cases/rf_${CLINIC}_mr-0/decision`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKENS.nurse}`, 'content-type': 'application/json' },
      body: JSON.stringify({ action: 'approve', note: 'n'.repeat(17 * 1024) }),
    });
    expect(decision.status).toBe(413);
    // Any other route: 1 MB, refused before authentication.
    const big = await app.request('/v1/protocols/validate', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ definition: 'x'.repeat(1024 * 1024) }),
    });
    expect(big.status).toBe(413);
    const small = await app.request('/v1/protocols/validate', { method: 'POST', body: '{}' });
    expect(small.status).toBe(401);
  });

  describe('over a real socket', () => {
    let server: ServerType;
    let port: number;
    beforeAll(async () => {
      const app = appWith();
      server = await new Promise<ServerType>((resolve) => {
        const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s));
      });
      port = (server.address() as AddressInfo).port;
    });
    afterAll(async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    });

    /** Sends `chunks` of 16 KB one by one (stopping when the answer comes); resolves with the answer and bytes sent. */
    function send(
      headers: Record<string, string>,
      chunks: number,
    ): Promise<{ status: number; body: string; sent: number }> {
      return new Promise((resolve, reject) => {
        let sent = 0;
        let answered = false;
        const req = httpRequest(
          { host: '127.0.0.1', port, method: 'POST', path: `/v1/webhooks/${CLINIC}/refill-requests`, headers },
          (res) => {
            answered = true;
            let body = '';
            res.on('data', (d: Buffer) => (body += d.toString()));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body, sent }));
          },
        );
        req.on('error', (err) => (answered ? undefined : reject(err)));
        const chunk = Buffer.alloc(16 * 1024, 'a');
        const pump = (i: number) => {
          if (answered || i >= chunks) return void req.end();
          sent += chunk.length;
          req.write(chunk, () => setTimeout(() => pump(i + 1), 5));
        };
        pump(0);
      });
    }

    test('a chunked body without Content-Length is cut off once it passes 64 KB', async () => {
      const { status, body, sent } = await send({ ...signedHeaders('x'), 'transfer-encoding': 'chunked' }, 640);
      expect(status).toBe(413);
      expect(JSON.parse(body)).toMatchObject({ error: { code: 'PAYLOAD_TOO_LARGE' } });
      expect(sent).toBeLessThan(1024 * 1024); // answered long before the 10 MB the client meant to send
    });

    test('a Content-Length over the limit is refused without waiting for the body', async () => {
      const { status, sent } = await send({ ...signedHeaders('x'), 'content-length': String(10 * 1024 * 1024) }, 1);
      expect(status).toBe(413);
      expect(sent).toBe(16 * 1024);
    });
  });
});

describe('deep nesting in a signed Subscription notification', () => {
  test('the deepest body that fits in 64 KB is 400 with the path, not a stack overflow', async () => {
    // About 1,000 levels of `part` used to overflow the stack; 1,500 still fit under the 64 KB limit.
    const fits = deepNotification(1500);
    expect(fits.length).toBeLessThan(64 * 1024);
    const res = await webhook(appWith(), fits);
    expect(res.status).toBe(400);
    const body = await asJson(res);
    expect(body.error.code).toBe('INVALID_INPUT');
    expect(body.error.issues?.[0]?.path).toMatch(/^\$\.entry\[0\]\.resource\.parameter\[0\](\.part\[0\])+\.part$/);
  });

  test('20,000 levels: 413 at the edge (over 64 KB), and 400 with the path from the parser itself', async () => {
    const raw = deepNotification(20_000);
    const res = await webhook(appWith(), raw);
    expect(res.status).toBe(413);
    let thrown: unknown;
    try {
      parseRefillWebhook(JSON.parse(raw));
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(AppError);
    expect((thrown as AppError).code).toBe('INVALID_INPUT');
    expect((thrown as AppError).issues[0]?.path).toMatch(
      /^\$\.entry\[0\]\.resource\.parameter\[0\](\.part\[0\])+\.part$/,
    );
  });

  test('an ordinary notification still parses', () => {
    expect(parseRefillWebhook(JSON.parse(deepNotification(1)))).toMatchObject({ medicationRequestId: 'mr-deep' });
  });
});

describe('an unknown clinic looks exactly like a bad signature', () => {
  test('same status, same body (but for the request id), same headers', async () => {
    const app = appWith();
    const raw = event('mr-enum');
    const unknown = await webhook(app, raw, { clinic: 'no-such-clinic' });
    const badSig = await webhook(app, raw, { secret: 'not-the-secret-0123456789' });
    expect(unknown.status).toBe(401);
    expect(badSig.status).toBe(401);
    const strip = async (res: Response) => (await res.text()).replace(/"requestId":"[^"]+"/, '"requestId":"-"');
    expect(await strip(unknown)).toBe(await strip(badSig));
    const names = (res: Response) => {
      const all: string[] = [];
      res.headers.forEach((_, name) => all.push(name));
      return all.sort();
    };
    expect(names(unknown)).toEqual(names(badSig));
    // And the same for every other way a signature can be wrong.
    const variants: Record<string, string>[] = [
      { 'x-autopilot-timestamp': 'x' },
      { 'x-autopilot-timestamp': '1' },
      { 'x-autopilot-signature': 'v0=1' },
    ];
    for (const headers of variants) {
      const a = await webhook(app, raw, { clinic: 'no-such-clinic', headers });
      const b = await webhook(app, raw, { headers });
      expect(a.status).toBe(401);
      expect(await strip(a)).toBe(await strip(b));
    }
  });
});

describe('rate limits, shared by every replica on the database', () => {
  // Every request in this file counts; each test starts from empty counters.
  beforeEach(async () => {
    await testDb.db.kysely.deleteFrom('rate_limits').execute();
  });

  test('per client IP: 429 with Retry-After in the error envelope; other clients unaffected', async () => {
    const env = { RATE_LIMIT_PER_IP: '3', TRUST_PROXY: 'true' };
    const [a, b] = [appWith(env), appWith(env)]; // two replicas, one database
    const from = (app: App, ip: string) =>
      app.request('/v1/me', { headers: { 'x-forwarded-for': `198.51.100.9, ${ip}` } });
    expect((await from(a, '203.0.113.10')).status).toBe(401);
    expect((await from(b, '203.0.113.10')).status).toBe(401);
    expect((await from(a, '203.0.113.10')).status).toBe(401);
    const limited = await from(b, '203.0.113.10');
    expect(limited.status).toBe(429);
    const retryAfter = Number(limited.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(60);
    const body = await asJson(limited);
    expect(body.error.code).toBe('RATE_LIMITED');
    expect(body.error.requestId).toBe(limited.headers.get('x-request-id'));
    expect(limited.headers.get('cache-control')).toBe('no-store');
    expect((await from(a, '203.0.113.11')).status).toBe(401);
    // An IPv6 client is one client across its /64.
    for (let i = 0; i < 3; i++) expect((await from(a, `2001:db8:1:2::${i + 1}`)).status).toBe(401);
    expect((await from(a, '2001:db8:1:2:ffff::1')).status).toBe(429);
    // /health is never limited.
    const health = await a.request('/health', { headers: { 'x-forwarded-for': '203.0.113.10' } });
    expect(health.status).toBe(200);
  });

  test('X-Forwarded-For is not believed without TRUST_PROXY', async () => {
    const app = appWith({ RATE_LIMIT_PER_IP: '2' });
    // Each request claims another address; without a trusted proxy they are all one client.
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) {
      statuses.push((await app.request('/v1/me', { headers: { 'x-forwarded-for': `192.0.2.${i}` } })).status);
    }
    expect(statuses).toEqual([401, 401, 429]);
  });

  test('per clinic, counted only for correctly signed webhooks', async () => {
    const app = appWith({ RATE_LIMIT_WEBHOOKS_PER_CLINIC: '2' });
    // Unsigned or wrongly signed requests do not spend the clinic's allowance.
    for (let i = 0; i < 3; i++)
      expect((await webhook(app, event(`mr-rl-${i}`), { secret: 'wrong-secret-0123456789' })).status).toBe(401);
    expect((await webhook(app, event('mr-rl-a'))).status).toBe(202);
    expect((await webhook(app, event('mr-rl-b'))).status).toBe(202);
    const limited = await webhook(app, event('mr-rl-c'));
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    expect((await asJson(limited)).error.code).toBe('RATE_LIMITED');
    expect(started).not.toContain(`rf_${CLINIC}_mr-rl-c`);
    // Unknown clinic ids create no counters.
    await webhook(app, event('mr-rl-d'), { clinic: 'nope-clinic' });
    const buckets = (await testDb.db.kysely.selectFrom('rate_limits').select('bucket').execute()).map((r) => r.bucket);
    expect(buckets).toContain(`webhook-clinic:${CLINIC}`);
    expect(buckets.some((b) => b.includes('nope-clinic'))).toBe(false);
  });

  test(
    'the defaults let the bench through: 600 signed webhooks from one client in one window',
    { timeout: 120_000 },
    async () => {
      const app = appWith();
      const statuses = new Map<number, number>();
      for (let i = 0; i < 600; i++) {
        const res = await webhook(app, event(`mr-bench-${i}`));
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      }
      expect([...statuses]).toEqual([[202, 600]]);
    },
  );
});

describe('reads of patient data are audited', () => {
  const get = (app: App, path: string, as: keyof typeof TOKENS, headers: Record<string, string> = {}) =>
    app.request(path, { headers: { authorization: `Bearer ${TOKENS[as]}`, ...headers } });

  test('each GET /v1/cases/{id} writes exactly one case.viewed row, with who, role, clinic, case and request id', async () => {
    const app = appWith();
    const caseId = `rf_${CLINIC}_mr-0`;
    const rows = async () => (await store.audit.listAudit({ caseId, action: 'case.viewed', limit: 500 })).items;
    const before = (await rows()).length;
    const res = await get(app, `/v1/cases/${caseId}`, 'nurse', { 'x-request-id': 'ehr-trace:42' });
    expect(res.status).toBe(200);
    await get(app, `/v1/cases/${caseId}`, 'doctor');
    const after = await rows();
    expect(after).toHaveLength(before + 2);
    const [doctorView, nurseView] = after;
    expect(nurseView).toMatchObject({
      actorType: 'user',
      actorId: 'nurse-1',
      actorRole: 'nurse',
      clinicId: CLINIC,
      caseId,
      requestId: res.headers.get('x-request-id'),
      detail: { callerRequestId: 'ehr-trace:42', patientId: 'pat-0' },
    });
    expect(doctorView).toMatchObject({ actorId: 'doctor-1', actorRole: 'doctor', detail: { patientId: 'pat-0' } });
    // The patient by id only (a person read their record: issue 9 §4); no other patient data, no drug. This app has
    // no EHR reader, so no identity was shown and none is recorded as shown.
    expect(JSON.stringify(after)).not.toMatch(/Lisinopril|"identity"/);
    // A case the caller cannot see is 404 and is not recorded as viewed.
    expect((await get(app, `/v1/cases/rf_${CLINIC}_missing`, 'nurse')).status).toBe(404);
    expect(await store.audit.listAudit({ caseId: `rf_${CLINIC}_missing` })).toMatchObject({ items: [] });
  });

  test('each read of a case’s audit trail writes one case.audit_viewed row, which the trail it returns includes', async () => {
    const app = appWith();
    const caseId = `rf_${CLINIC}_mr-1`;
    const rows = async () => (await store.audit.listAudit({ caseId, action: 'case.audit_viewed', limit: 500 })).items;
    const before = (await rows()).length;
    const res = await get(app, `/v1/cases/${caseId}/audit`, 'admin');
    expect(res.status).toBe(200);
    const after = await rows();
    expect(after).toHaveLength(before + 1);
    expect(after[0]).toMatchObject({
      actorType: 'user',
      actorId: 'admin-1',
      actorRole: 'admin',
      clinicId: CLINIC,
      caseId,
      requestId: res.headers.get('x-request-id'),
    });
    const trail = (await res.json()) as { items: { action: string; requestId: string | null }[] };
    expect(trail.items.some((e) => e.action === 'case.audit_viewed' && e.requestId === after[0]!.requestId)).toBe(true);
    // A role that may not read the trail is refused and leaves no row.
    expect((await get(app, `/v1/cases/${caseId}/audit`, 'nurse')).status).toBe(403);
    expect(await rows()).toHaveLength(before + 1);
  });

  test('each queue listing writes one queue.listed row with the case ids shown, their patients’ ids and their count', async () => {
    const app = appWith();
    const listed = async () => (await store.audit.listAudit({ action: 'queue.listed', limit: 500 })).items;
    const before = (await listed()).length;
    const res = await get(app, '/v1/queues/nurse/cases?limit=10', 'nurse');
    expect(res.status).toBe(200);
    const rows = await listed();
    expect(rows).toHaveLength(before + 1);
    expect(rows[0]).toMatchObject({
      actorId: 'nurse-1',
      actorRole: 'nurse',
      caseId: null,
      requestId: res.headers.get('x-request-id'),
      detail: {
        queue: 'nurse',
        count: 2,
        caseIds: [`rf_${CLINIC}_mr-0`, `rf_${CLINIC}_mr-1`],
        patientIds: ['pat-0', 'pat-1'],
        identitiesShown: 0,
      },
    });
    expect(JSON.stringify(rows[0])).not.toMatch(/Lisinopril/);
  });
});

describe('headers on every response', () => {
  test('security headers on API answers, errors, 404s, the console and the docs; no-store on every /v1 answer', async () => {
    const app = appWith();
    const auth = { authorization: `Bearer ${TOKENS.nurse}` };
    const responses: [string, Response][] = [
      ['case', await app.request(`/v1/cases/rf_${CLINIC}_mr-0`, { headers: auth })],
      ['queue', await app.request('/v1/queues/nurse/cases', { headers: auth })],
      ['401', await app.request('/v1/queues/nurse/cases')],
      ['404 route', await app.request('/v1/nothing')],
      ['webhook 401', await webhook(app, event('mr-h'), { secret: 'wrong-secret-0123456789' })],
      ['health', await app.request('/health')],
      ['openapi', await app.request('/openapi.json')],
      ['console', await app.request('/')],
      ['docs', await app.request('/docs')],
    ];
    for (const [what, res] of responses) {
      const csp = res.headers.get('content-security-policy') ?? '';
      expect(csp, what).toContain("default-src 'none'");
      expect(csp, what).toContain("frame-ancestors 'none'");
      expect(res.headers.get('x-content-type-options'), what).toBe('nosniff');
      expect(res.headers.get('x-frame-options'), what).toBe('DENY');
      expect(res.headers.get('strict-transport-security'), what).toContain('max-age=');
      expect(res.headers.get('referrer-policy'), what).toBe('no-referrer');
    }
    for (const [what, res] of responses.slice(0, 5)) expect(res.headers.get('cache-control'), what).toBe('no-store');
    // The console keeps its own policy: its script and styles from this origin.
    const consoleCsp = responses.find(([w]) => w === 'console')![1].headers.get('content-security-policy')!;
    expect(consoleCsp).toContain("script-src 'self'");
    expect(consoleCsp).toContain("connect-src 'self'");
  });

  test('/docs loads Swagger UI from this origin only, under a CSP that forbids other scripts', async () => {
    const app = appWith();
    const res = await app.request('/docs');
    expect(res.status).toBe(200);
    const csp = res.headers.get('content-security-policy')!;
    const scriptSrc = /script-src ([^;]*)/.exec(csp)?.[1];
    expect(scriptSrc).toBe("'self'");
    const html = await res.text();
    expect(html).not.toMatch(/https?:\/\//);
    expect(html).not.toMatch(/<script>(?!<\/script>)/); // no inline script
    const srcs = [...html.matchAll(/<(?:script src|link rel="stylesheet" href)="([^"]+)"/g)].map((m) => m[1]!);
    expect(srcs.length).toBeGreaterThanOrEqual(3);
    for (const src of srcs) {
      expect(src.startsWith('/docs/'), src).toBe(true);
      const asset = await app.request(src);
      expect(asset.status, src).toBe(200);
      expect((await asset.text()).length, src).toBeGreaterThan(100);
    }
  });
});

describe('request ids', () => {
  test('the server always uses its own id; a well-formed caller id is kept beside it, a bad one dropped', async () => {
    const app = appWith();
    const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
    for (const given of ['ehr-123', 'a'.repeat(65), 'x y', '<script>', 'a/b']) {
      const res = await app.request('/v1/nothing', { headers: { 'x-request-id': given } });
      const id = res.headers.get('x-request-id')!;
      expect(id).toMatch(uuid);
      expect((await asJson(res)).error.requestId).toBe(id);
    }
    // Two requests sending the same id still get different ids: one cannot collide with another's audit trail.
    const raw = event('mr-rid-1');
    const first = await webhook(app, raw, { headers: { 'x-request-id': 'same-id' } });
    const second = await webhook(app, event('mr-rid-2'), { headers: { 'x-request-id': 'same-id' } });
    expect(first.status).toBe(202);
    expect(first.headers.get('x-request-id')).not.toBe(second.headers.get('x-request-id'));
    const created = (await store.audit.listAudit({ caseId: `rf_${CLINIC}_mr-rid-1`, action: 'case.created' })).items[0];
    expect(created).toMatchObject({
      requestId: first.headers.get('x-request-id'),
      detail: { callerRequestId: 'same-id' },
    });
    expect((await store.cases.getCase(`rf_${CLINIC}_mr-rid-1`))?.requestId).toBe(first.headers.get('x-request-id'));
    // A malformed caller id is not stored anywhere.
    const bad = await webhook(app, event('mr-rid-3'), { headers: { 'x-request-id': 'bad id;drop' } });
    expect(bad.status).toBe(202);
    const row = (await store.audit.listAudit({ caseId: `rf_${CLINIC}_mr-rid-3`, action: 'case.created' })).items[0];
    expect(row?.detail).not.toHaveProperty('callerRequestId');
  });
});
