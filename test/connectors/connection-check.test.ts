// The connection check step by step (connectors/fhir/connection-check.ts) against the sandbox EHR on loopback, and a
// tiny stand-in for what the sandbox cannot be (another FHIR version, no SMART discovery): each step passes, fails
// with a fix in plain words, or is skipped, and the test read reads a count, never a patient record.
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { generateClientKeyPair } from '../../connectors/fhir/auth.ts';
import { checkFhirConnection, type ConnectionReport } from '../../connectors/fhir/connection-check.ts';
import type { BatchMode } from '../../connectors/fhir/connector.ts';
import { startSandbox, type SandboxHandle } from '../../sandbox/fhir-server.ts';

const LOOPBACK_OK = { allowPrivateNetworks: true, requireHttps: false };
let sandbox: SandboxHandle;
let open: SandboxHandle;
let standIn: Server;
let standInUrl: string;
let keys: Awaited<ReturnType<typeof generateClientKeyPair>>;
/** The batch probes the stand-in received, by server. */
const batchPosts: string[] = [];

beforeAll(async () => {
  sandbox = await startSandbox({ validate: false });
  open = await startSandbox({ validate: false, requireAuth: false });
  keys = await generateClientKeyPair('check-key');
  sandbox.registerClient({ clientId: 'check-client', jwks: keys.publicJwks });
  // An STU3 server at /stu3 and an R4 server without SMART discovery at /r4.
  standIn = createServer((req, res) => {
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/fhir+json' });
      res.end(JSON.stringify(body));
    };
    const statement = (fhirVersion: string) => ({
      resourceType: 'CapabilityStatement',
      status: 'active',
      fhirVersion,
      rest: [{ mode: 'server', interaction: [{ code: 'batch' }] }],
    });
    if (req.url === '/stu3/metadata') return send(200, statement('3.0.2'));
    if (req.url === '/r4/metadata') return send(200, statement('4.0.1'));
    // Two R4 servers that do not advertise batch, without auth: /quiet answers a batch anyway (as HAPI FHIR does),
    // /nobatch refuses it. Both answer the count-only test read.
    const [, server, rest] = /^\/(quiet|nobatch)(.*)$/.exec(req.url ?? '') ?? [];
    if (server) {
      if (rest === '/metadata') return send(200, { ...statement('4.0.1'), rest: [{ mode: 'server' }] });
      if (req.method === 'POST' && rest === '') {
        batchPosts.push(server);
        return server === 'quiet'
          ? send(200, { resourceType: 'Bundle', type: 'batch-response', entry: [] })
          : send(400, { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'not-supported' }] });
      }
      if (rest?.startsWith('/Patient?')) return send(200, { resourceType: 'Bundle', type: 'searchset', total: 0 });
    }
    send(404, { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'not-found' }] });
  });
  standIn.listen(0, '127.0.0.1');
  await once(standIn, 'listening');
  standInUrl = `http://127.0.0.1:${(standIn.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await sandbox?.close();
  await open?.close();
  await new Promise((resolve) => standIn?.close(resolve));
});

const check = (baseUrl: string, auth?: { clientId: string; tokenUrl?: string }) =>
  checkFhirConnection({
    baseUrl,
    timeoutMs: 3000,
    egress: LOOPBACK_OK,
    ...(auth ? { auth: { ...auth, privateKeyJwk: keys.privateJwk } } : {}),
  });

/** `id:status` of each step, in order. */
const statuses = (r: ConnectionReport) => r.steps.map((s) => `${s.id}:${s.status}`);
const step = (r: ConnectionReport, id: string) => r.steps.find((s) => s.id === id)!;

describe('the connection check, step by step', () => {
  test('a registered client passes all four steps; the test read is a count-only Patient search', async () => {
    const before = sandbox.requests.length;
    const report = await check(sandbox.fhirBaseUrl, { clientId: 'check-client' });
    expect(statuses(report)).toEqual([
      'capability_statement:pass',
      'smart_discovery:pass',
      'token:pass',
      'test_read:pass',
    ]);
    expect(report.ok).toBe(true);
    expect(report.steps.every((s) => s.fix === null)).toBe(true);
    expect(step(report, 'smart_discovery').detail).toContain(`${sandbox.url}/oauth2/token`);
    // What the EHR saw: the only FHIR search is Patient?_summary=count (no resource comes back).
    const searches = sandbox.requests.slice(before).filter((r) => r.path.endsWith('/Patient'));
    expect(searches.map((r) => `${r.method} ${r.query}`)).toEqual(['GET ?_summary=count']);
    expect(searches[0]!.status).toBe(200);
  });

  test('a key the EHR does not know fails the token step with what to register; the read is skipped', async () => {
    const report = await check(sandbox.fhirBaseUrl, { clientId: 'nobody-registered-this' });
    expect(statuses(report)).toEqual([
      'capability_statement:pass',
      'smart_discovery:pass',
      'token:fail',
      'test_read:skipped',
    ]);
    expect(report.ok).toBe(false);
    const token = step(report, 'token');
    expect(token.detail).toMatch(/SMART token: authorization server refused \(401\)/);
    expect(token.fix).toMatch(/client id nobody-registered-this/);
    expect(token.fix).toMatch(/public key shown for this clinic/);
    expect(report.problems).toEqual([token.detail]);
  });

  test('a token URL that is set skips discovery', async () => {
    const report = await check(sandbox.fhirBaseUrl, {
      clientId: 'check-client',
      tokenUrl: `${sandbox.url}/oauth2/token`,
    });
    expect(statuses(report)).toEqual([
      'capability_statement:pass',
      'smart_discovery:skipped',
      'token:pass',
      'test_read:pass',
    ]);
  });

  test('without a key: an EHR that needs a token fails the read with "enter the key"; an open one passes', async () => {
    const closed = await check(sandbox.fhirBaseUrl);
    expect(statuses(closed)).toEqual([
      'capability_statement:pass',
      'smart_discovery:skipped',
      'token:skipped',
      'test_read:fail',
    ]);
    expect(step(closed, 'test_read').fix).toMatch(/needs an access token. Enter the SMART client’s private key/);
    const opened = await check(open.fhirBaseUrl);
    expect(opened.ok).toBe(true);
    expect(step(opened, 'test_read').status).toBe('pass');
    expect(opened.problems).toEqual(['No SMART client key: requests will carry no access token']);
  });

  test('a token that may not search Patient (403) says which access to grant', async () => {
    sandbox.injectFaults({ status: 403, count: 1, match: (r) => r.path.endsWith('/Patient') });
    const report = await check(sandbox.fhirBaseUrl, { clientId: 'check-client' });
    sandbox.clearFaults();
    expect(step(report, 'test_read').status).toBe('fail');
    expect(step(report, 'test_read').fix).toMatch(/system\/Patient\.read/);
  });

  test('a wrong base URL fails the first step with "the base URL is probably wrong"; the rest is skipped', async () => {
    const report = await check(`${sandbox.url}/fhir`, { clientId: 'check-client' });
    expect(statuses(report)).toEqual([
      'capability_statement:fail',
      'smart_discovery:skipped',
      'token:skipped',
      'test_read:skipped',
    ]);
    expect(step(report, 'capability_statement').fix).toMatch(/FHIR base URL is probably wrong/);
  });

  test('an EHR that does not answer, one that speaks STU3, one without SMART discovery', async () => {
    const down = await check('http://127.0.0.1:9/fhir/R4', { clientId: 'check-client' });
    expect(step(down, 'capability_statement').fix).toMatch(/did not answer/);
    expect(down.fhirVersion).toBeNull();

    const stu3 = await check(`${standInUrl}/stu3`, { clientId: 'check-client' });
    expect(stu3.fhirVersion).toBe('3.0.2');
    expect(step(stu3, 'capability_statement').status).toBe('fail');
    expect(step(stu3, 'capability_statement').fix).toMatch(/FHIR R4 base URL/);

    const noDiscovery = await check(`${standInUrl}/r4`, { clientId: 'check-client' });
    expect(statuses(noDiscovery)).toEqual([
      'capability_statement:pass',
      'smart_discovery:fail',
      'token:skipped',
      'test_read:skipped',
    ]);
    expect(step(noDiscovery, 'smart_discovery').fix).toMatch(/Enter the token URL/);
  });

  test('a stored key that cannot be used fails the token step without contacting the token endpoint', async () => {
    const before = sandbox.requests.length;
    const report = await checkFhirConnection({
      baseUrl: sandbox.fhirBaseUrl,
      timeoutMs: 3000,
      egress: LOOPBACK_OK,
      keyError: 'The stored client key cannot be read',
    });
    expect(statuses(report)).toEqual([
      'capability_statement:pass',
      'smart_discovery:skipped',
      'token:fail',
      'test_read:skipped',
    ]);
    expect(step(report, 'token').fix).toMatch(/Enter the private key again/);
    expect(sandbox.requests.slice(before).map((r) => r.path)).toEqual(['/fhir/R4/metadata']);
  });
});

describe('batch: the check probes it whatever the clinic’s setting, and says what the setting makes of it', () => {
  const checkWith = (path: string, batch?: BatchMode) =>
    checkFhirConnection({
      baseUrl: `${standInUrl}/${path}`,
      timeoutMs: 3000,
      egress: LOOPBACK_OK,
      ...(batch ? { batch } : {}),
    });

  test('an EHR that answers a batch it does not advertise: found by the probe, used unless the setting is never', async () => {
    batchPosts.length = 0;
    const auto = await checkWith('quiet');
    expect(auto).toMatchObject({ ok: true, batch: true, batchSetting: 'auto', batchSupport: 'probed' });
    expect(step(auto, 'capability_statement').detail).toBe('FHIR 4.0.1, batch (not advertised; it answered a probe).');
    const never = await checkWith('quiet', 'never');
    expect(never).toMatchObject({ ok: true, batch: false, batchSetting: 'never', batchSupport: 'probed' });
    expect(step(never, 'capability_statement').detail).toContain('Batch is off for this clinic (setting "never")');
    expect(batchPosts).toEqual(['quiet', 'quiet']); // probed with the setting never too
  });

  test('an EHR that refuses batch: auto reads by parallel searches; always fails the step with the fix', async () => {
    const auto = await checkWith('nobatch');
    expect(auto).toMatchObject({ ok: true, batch: false, batchSupport: 'none' });
    expect(step(auto, 'capability_statement').detail).toContain('No batch interaction');
    const always = await checkWith('nobatch', 'always');
    expect(always).toMatchObject({ ok: false, batch: true, batchSetting: 'always', batchSupport: 'none' });
    expect(step(always, 'capability_statement').status).toBe('fail');
    expect(step(always, 'capability_statement').fix).toContain('batch setting to auto');
    // The rest of the check still runs: the EHR is reachable, only the setting is wrong.
    expect(step(always, 'test_read').status).toBe('pass');
    expect(always.problems).toEqual([expect.stringContaining('"always"'), expect.stringContaining('No SMART')]);
  });

  test('an EHR that advertises batch is not probed', async () => {
    const before = open.requests.length;
    const report = await checkFhirConnection({
      baseUrl: open.fhirBaseUrl,
      timeoutMs: 3000,
      egress: LOOPBACK_OK,
      batch: 'never',
    });
    expect(report).toMatchObject({ batch: false, batchSupport: 'advertised', batchSetting: 'never' });
    expect(open.requests.slice(before).filter((r) => r.method === 'POST')).toEqual([]);
  });
});
