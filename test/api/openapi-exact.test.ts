// The rules that make /openapi.json exact, each checked directly (test/api/contract.test.ts fuzzes them all):
// undeclared methods are 405 with Allow, time zones are an enum the code checks, cursors are a declared shape,
// every documented status carries the error envelope.
import { request as httpRequest } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createApp } from '../../api/app.ts';
import { TIME_ZONES } from '../../api/schemas.ts';
import { ensureBuiltinProtocols } from '../../api/seed.ts';
import { parseRefillWebhook } from '../../api/kinds/refill/webhook-body.ts';
import type { WorkflowGateway } from '../../api/workflow-gateway.ts';
import { loadConfig } from '../../connectors/config.ts';
import { createStore, type Store } from '../../connectors/db/index.ts';
import { createLogger } from '../../connectors/logger.ts';
import { openTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { subscriptionNotification } from '../helpers/harness.ts';

const ADMIN = 'admin-token-openapi-exact-0123';
const NURSE = 'nurse-token-openapi-exact-0123';
let testDb: TestDatabase;
let store: Store;
let app: ReturnType<typeof createApp>;
let server: ServerType;
let port: number;

/** Over a real socket: fetch's Request refuses TRACE, an HTTP client does not. */
function send(
  method: string,
  path: string,
  token?: string,
): Promise<{ status: number; allow: string | null; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: '127.0.0.1', port, method, path, headers: token ? { authorization: `Bearer ${token}` } : {} },
      (res) => {
        let body = '';
        res.on('data', (b: Buffer) => (body += b.toString()));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, allow: (res.headers.allow as string) ?? null, body }),
        );
      },
    );
    req.once('error', reject);
    req.end();
  });
}

interface OpenApiDoc {
  paths: Record<string, Record<string, { responses: Record<string, { content?: unknown }>; requestBody?: unknown }>>;
  components: { schemas: Record<string, { properties?: Record<string, { enum?: string[] }> }> };
}

beforeAll(async () => {
  testDb = await openTestDatabase('sqlite');
  store = createStore(testDb.db);
  const config = loadConfig({ LOG_LEVEL: 'silent' });
  const logger = createLogger(config, 'test');
  await ensureBuiltinProtocols(store, logger);
  await store.tokens.createToken({ name: 'a', role: 'admin', userId: 'admin-1', token: ADMIN });
  await store.tokens.createToken({ name: 'n', role: 'nurse', userId: 'nurse-1', token: NURSE });
  const workflows = { ping: () => Promise.resolve() } as unknown as WorkflowGateway;
  app = createApp({ config, db: testDb.db, store, workflows, logger, now: () => new Date() });
  server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' });
  if (!server.listening) await once(server, 'listening');
  port = (server.address() as AddressInfo).port;
});
afterAll(async () => {
  if (server) await new Promise((resolve) => server.close(resolve));
  await testDb?.cleanup();
});

const as = (token: string, init: RequestInit = {}) => ({
  ...init,
  headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...init.headers },
});

describe('undeclared methods', () => {
  test.each([
    ['TRACE', '/health', 'GET, HEAD, OPTIONS'],
    ['TRACE', '/v1/me', 'GET, HEAD, OPTIONS'],
    ['PUT', '/v1/clinics', 'GET, POST, HEAD, OPTIONS'],
    ['DELETE', '/v1/protocols/family-medicine-2015', 'GET, HEAD, OPTIONS'],
    ['GET', '/v1/protocols/family-medicine-2015/rollback', 'POST, OPTIONS'],
    ['TRACE', '/v1/protocols/validate', 'POST, OPTIONS'], // the concrete path wins over /v1/protocols/{id}
    ['GET', '/v1/webhooks/some-clinic/refill-requests', 'POST, OPTIONS'],
  ])('%s %s is 405 with Allow: %s', async (method, path, allow) => {
    const res = await send(method, path, ADMIN);
    expect(res.status).toBe(405);
    expect(res.allow).toBe(allow);
    expect((JSON.parse(res.body) as { error: { code: string } }).error.code).toBe('METHOD_NOT_ALLOWED');
  });

  test('OPTIONS is 204 with Allow; HEAD is the GET without a body; unknown paths stay 404', async () => {
    const options = await app.request('/v1/clinics/x/settings', as(ADMIN, { method: 'OPTIONS' }));
    expect(options.status).toBe(204);
    expect(options.headers.get('allow')).toBe('PATCH, OPTIONS');
    const head = await app.request('/v1/me', as(NURSE, { method: 'HEAD' }));
    expect(head.status).toBe(200);
    expect(await head.text()).toBe('');
    for (const method of ['GET', 'TRACE', 'PUT']) {
      const res = await send(method, '/v1/no-such-thing', ADMIN);
      expect(res.status).toBe(404);
      expect(res.allow).toBeNull();
    }
  });

  test('authentication still comes first on protected paths: TRACE without a token is 401', async () => {
    expect((await send('TRACE', '/v1/clinics')).status).toBe(401);
  });
});

describe('constraints live in the schema', () => {
  let doc: OpenApiDoc;
  beforeAll(async () => {
    doc = (await (await app.request('/openapi.json')).json()) as OpenApiDoc;
  });

  test('the time zone is an enum of exactly the zones the API accepts', async () => {
    const create = doc.components.schemas.ClinicCreate!;
    expect(create.properties!.timezone!.enum).toEqual(TIME_ZONES);
    expect(TIME_ZONES).toContain('UTC');
    expect(TIME_ZONES).toContain('America/Chicago');
    // An alias Intl resolves but the document does not list is refused, like any zone not in the list.
    const res = await app.request(
      '/v1/clinics/x/settings',
      as(ADMIN, { method: 'PATCH', body: '{"timezone":"US/Eastern"}' }),
    );
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { issues: { path: string }[] } }).error.issues[0]?.path).toBe('$.timezone');
  });

  test('any cursor of the declared shape is accepted (an empty page at worst); others are 400', async () => {
    const ok = await app.request('/v1/queues/nurse/cases?cursor=AAAA.BBBB', as(NURSE));
    expect(ok.status).toBe(200);
    expect(((await ok.json()) as { items: unknown[] }).items).toEqual([]);
    expect((await app.request('/v1/queues/nurse/cases?cursor=not-a-cursor', as(NURSE))).status).toBe(400);
  });

  test('every documented error status carries the error envelope; every route documents 413 and 429', () => {
    // The SMART App Launch pages a browser opens (api/routes/smart.ts) answer their own refusals as HTML pages for
    // the person; the edge's 413 and 429 stay the JSON envelope there too.
    const htmlPage = (path: string, status: string) =>
      ['/smart/launch', '/smart/callback'].includes(path) && !['413', '429'].includes(status);
    for (const [path, methods] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(methods)) {
        const statuses = Object.keys(op.responses);
        expect(statuses, `${method} ${path}`).toEqual(expect.arrayContaining(['413', '429']));
        for (const status of statuses.filter((s) => Number(s) >= 400 && !(path === '/health' && s === '503'))) {
          if (htmlPage(path, status)) {
            expect(Object.keys(op.responses[status]!.content as object), `${method} ${path} ${status}`).toEqual([
              'text/html',
            ]);
            continue;
          }
          expect(op.responses[status]!.content, `${method} ${path} ${status}`).toEqual({
            'application/json': { schema: { $ref: '#/components/schemas/Error' } },
          });
        }
      }
    }
  });
});

describe('webhook bodies: what the document declares is what is parsed', () => {
  type Notification = { entry: { resource: { parameter: { name: string; part?: unknown[] }[] } }[] };
  const withParts = (parts: unknown[]) => {
    const n = subscriptionNotification('mr-1') as Notification;
    n.entry[0]!.resource.parameter = [{ name: 'notification-event', part: parts }];
    return n;
  };

  test('a focus, when given, must reference a MedicationRequest (the schema says so per part: `if`/`then`)', () => {
    const n = withParts([
      { name: 'event-number', valueString: '7' },
      { name: 'focus', valueReference: { reference: 'https://ehr.example.org/fhir/MedicationRequest/mr-7' } },
    ]);
    const intake = parseRefillWebhook(n);
    expect('medicationRequestId' in intake && intake.medicationRequestId).toBe('mr-7');
    // No focus at all is an `empty` notification: no request of its own (the catch-up queries).
    expect(parseRefillWebhook(withParts([{ name: 'event-number', valueString: '8' }]))).toHaveProperty('statusOnly');
  });

  test('a focus of another type, or a first entry that is not the status, is 400 with a path', () => {
    const paths = (body: unknown) => {
      try {
        parseRefillWebhook(body);
        return null;
      } catch (err) {
        return (err as { issues: { path: string }[] }).issues.map((i) => i.path);
      }
    };
    expect(paths(withParts([{ name: 'focus', valueReference: { reference: 'Patient/p-1' } }]))).toEqual([
      '$.entry[0].resource.parameter[0].part[0].valueReference.reference',
    ]);
    const wrongFirst = subscriptionNotification('mr-1') as { entry: { resource: { resourceType: string } }[] };
    wrongFirst.entry[0]!.resource.resourceType = 'Patient';
    expect(paths(wrongFirst)).toEqual(['$.entry[0].resource.resourceType']);
    expect(paths({ type: 'refill.requested', id: '', medicationRequest: 'MedicationRequest/x' })).toEqual(['$.id']);
  });
});
