// `npm run demo:traffic` against the seeded sandbox EHR (SMART client registered) and a stand-in API that checks each
// webhook's signature: refill webhooks as before, then booked visits and FIT results created in the EHR and announced
// on the events webhook with the bodies of the contract.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Appointment, Observation } from '@medplum/fhirtypes';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { checkWebhookHeaders, checkWebhookSignature } from '../../api/middleware/webhook-signature.ts';
import { loadConfig } from '../../connectors/config.ts';
import { createFhirConnector } from '../../connectors/fhir/connector.ts';
import { createLogger } from '../../connectors/logger.ts';
import { startSeededSandbox, type SeededSandbox } from '../../sandbox/main.ts';

const SECRET = 'demo-traffic-test-secret';
const dir = mkdtempSync(join(tmpdir(), 'ehr-autopilot-demo-traffic-'));
const received: { path: string; body: Record<string, unknown>; signatureOk: boolean }[] = [];
let sandbox: SeededSandbox;
let api: Server;
let apiPort = 0;
let privateJwk: JWK;

beforeAll(async () => {
  const config = loadConfig({ SANDBOX_PATIENTS: '8', SANDBOX_SEED: '5', LOG_LEVEL: 'silent' });
  sandbox = await startSeededSandbox(config, createLogger(config, 'sandbox-test'), { port: 0 });
  const { publicKey, privateKey } = await generateKeyPair('ES384', { extractable: true });
  const publicJwk = { ...(await exportJWK(publicKey)), alg: 'ES384', kid: 'demo-1' };
  privateJwk = { ...(await exportJWK(privateKey)), alg: 'ES384', kid: 'demo-1' };
  sandbox.handle.registerClient({ clientId: 'demo-client', jwks: { keys: [publicJwk] } });
  api = createServer((req, res) => {
    let raw = '';
    req.on('data', (chunk: Buffer) => (raw += chunk.toString('utf8')));
    req.on('end', () => {
      if (req.method === 'POST') {
        let signatureOk = true;
        try {
          const headers = checkWebhookHeaders(
            {
              timestamp: req.headers['x-autopilot-timestamp'] as string | undefined,
              signature: req.headers['x-autopilot-signature'] as string | undefined,
            },
            Math.floor(Date.now() / 1000),
          );
          checkWebhookSignature(SECRET, headers, raw);
        } catch {
          signatureOk = false;
        }
        received.push({ path: req.url ?? '', body: JSON.parse(raw) as Record<string, unknown>, signatureOk });
        res.writeHead(202, { 'content-type': 'application/json' }).end('{"caseIds":[]}');
      } else {
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"counts":{"nurse":0}}');
      }
    });
  });
  await new Promise<void>((resolve) => api.listen(0, '127.0.0.1', resolve));
  apiPort = (api.address() as { port: number }).port;
  writeFileSync(
    join(dir, 'demo-credentials.json'),
    JSON.stringify({
      clinicId: 'demo',
      webhookSecret: SECRET,
      fhirClientId: 'demo-client',
      privateJwk,
      tokens: { admin: 'x' },
    }),
  );
});

afterAll(async () => {
  await sandbox?.handle.close();
  await new Promise((resolve) => api?.close(resolve));
  rmSync(dir, { recursive: true, force: true });
});

test('books visits and posts FIT results in the EHR and announces each on the signed events webhook', async () => {
  const sandboxPort = new URL(sandbox.handle.fhirBaseUrl).port;
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ['--import', 'tsx', 'scripts/demo-traffic.ts', '--limit', '4', '--care-gaps', '10', '--concurrency', '3'],
    {
      env: {
        PATH: process.env.PATH,
        DATA_DIR: dir,
        PORT: String(apiPort),
        SANDBOX_PORT: sandboxPort,
        LOG_LEVEL: 'warn',
      },
      timeout: 60_000,
    },
  );
  expect(stdout).toContain('booked 5 visits and posted 5 FIT results');
  expect(received.every((r) => r.signatureOk)).toBe(true);
  expect(received.filter((r) => r.path === '/v1/webhooks/demo/refill-requests')).toHaveLength(4);
  const events = received.filter((r) => r.path === '/v1/webhooks/demo/events').map((r) => r.body);
  expect(events).toHaveLength(10);

  // Read back as the demo client (the sandbox runs with SMART auth on).
  const fhir = createFhirConnector({
    baseUrl: sandbox.handle.fhirBaseUrl,
    timeoutMs: 10_000,
    auth: { clientId: 'demo-client', privateKeyJwk: privateJwk },
  });
  const read = async <T>(ref: string): Promise<T> => {
    const [type = '', id = ''] = ref.split('/');
    return (await fhir.read(type as 'Appointment', id)) as T;
  };
  const booked = events.filter((e) => e.type === 'appointment.booked');
  const results = events.filter((e) => e.type === 'result.available');
  expect(booked).toHaveLength(5);
  expect(results).toHaveLength(5);
  for (const e of booked) {
    expect(Object.keys(e).sort()).toEqual(['appointment', 'id', 'type']);
    expect(e.appointment).toMatch(/^Appointment\/[A-Za-z0-9.-]+$/);
    const appointment = await read<Appointment>(e.appointment as string);
    expect(appointment.status).toBe('booked');
    expect(appointment.participant?.[0]?.actor?.reference).toMatch(/^Patient\/pat-cg-/);
    expect((appointment.start ?? '') > new Date().toISOString()).toBe(true);
  }
  const interpretations: string[] = [];
  for (const e of results) {
    expect(Object.keys(e).sort()).toEqual(['id', 'resource', 'type']);
    const observation = await read<Observation>(e.resource as string);
    expect(observation).toMatchObject({
      status: 'final',
      code: { coding: [{ system: 'http://loinc.org', code: '29771-3' }] },
    });
    expect(observation.subject?.reference).toMatch(/^Patient\/pat-cg-/);
    interpretations.push(observation.interpretation?.[0]?.coding?.[0]?.code ?? '');
  }
  expect(interpretations.sort()).toEqual(['NEG', 'NEG', 'NEG', 'NEG', 'POS']);
  expect(new Set(events.map((e) => e.id)).size).toBe(10);
}, 90_000);
