// Where a clinic's FHIR requests and SMART credentials may go (connectors/fhir/egress.ts). An admin-entered EHR URL
// must not turn the worker into an SSRF proxy or hand the clinic's EHR token to another host: loopback, private and
// metadata addresses are refused (by literal and after DNS), redirects are never followed, and a discovered token
// endpoint must be on the FHIR base URL's origin. Every refusal is checked on a server that counts what reached it.
import { lookup } from 'node:dns/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { generateClientKeyPair } from '../../connectors/fhir/auth.ts';
import { checkFhirConnection } from '../../connectors/fhir/connection-check.ts';
import { createFhirConnector } from '../../connectors/fhir/connector.ts';
import {
  addressRefusal,
  assertEgressUrl,
  EGRESS_PINS_ADDRESSES,
  egressPolicy,
  type EgressPolicy,
} from '../../connectors/fhir/egress.ts';
import { loadConfig } from '../../connectors/config.ts';

const STRICT: EgressPolicy = { allowPrivateNetworks: false, requireHttps: false };
const LOOPBACK_OK: EgressPolicy = { allowPrivateNetworks: true, requireHttps: false };

interface StandIn {
  url: string;
  hits: string[];
  server: Server;
}

/** A loopback HTTP server that records every request path and answers with `handler`. */
async function standIn(handler: (req: IncomingMessage, res: ServerResponse, self: StandIn) => void): Promise<StandIn> {
  const self = { hits: [] as string[] } as StandIn;
  self.server = createServer((req, res) => {
    self.hits.push(`${req.method} ${req.url}`);
    handler(req, res, self);
  });
  await new Promise<void>((r) => self.server.listen(0, '127.0.0.1', r));
  self.url = `http://127.0.0.1:${(self.server.address() as AddressInfo).port}`;
  return self;
}

const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
};

const capabilityStatement = {
  resourceType: 'CapabilityStatement',
  fhirVersion: '4.0.1',
  rest: [{ mode: 'server', interaction: [{ code: 'batch' }] }],
};

let attacker: StandIn;
let keys: Awaited<ReturnType<typeof generateClientKeyPair>>;
beforeAll(async () => {
  // Whatever reaches it is a leak: it answers like a willing EHR and token server.
  attacker = await standIn((req, res) =>
    req.url?.includes('token')
      ? json(res, 200, { access_token: 'stolen', token_type: 'bearer', expires_in: 300 })
      : json(res, 200, { resourceType: 'Patient', id: 'p1' }),
  );
  keys = await generateClientKeyPair();
});
afterAll(() => {
  attacker?.server.close();
});

describe('which addresses an EHR URL may reach', () => {
  test.each([
    ['127.0.0.1', 'loopback'],
    ['::1', 'loopback'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['10.1.2.3', 'private'],
    ['172.16.0.1', 'private'],
    ['192.168.1.10', 'private'],
    ['100.64.0.1', 'carrierGradeNat'],
    ['169.254.10.10', 'linkLocal'],
    ['fe80::1', 'linkLocal'],
    ['fc00::1', 'uniqueLocal'],
    ['0.0.0.0', 'unspecified'],
  ])('%s (%s) is refused unless private networks are allowed', (address, range) => {
    expect(addressRefusal(address, STRICT)).toContain(range);
    expect(addressRefusal(address, LOOPBACK_OK)).toBeNull();
  });

  test.each(['169.254.169.254', 'fd00:ec2::254', '::ffff:169.254.169.254', '100.100.100.200'])(
    'the cloud metadata address %s is refused even where private networks are allowed',
    (address) => {
      expect(addressRefusal(address, LOOPBACK_OK)).toContain('metadata');
    },
  );

  test('public addresses pass', () => {
    expect(addressRefusal('8.8.8.8', STRICT)).toBeNull();
    expect(addressRefusal('2606:4700:4700::1111', STRICT)).toBeNull();
  });

  test('URLs: literal addresses, localhost names, credentials, non-http and (in production) http are refused', () => {
    for (const url of [
      'http://127.0.0.1:7233/',
      'http://[::1]/fhir',
      'http://localhost:3001/fhir/R4',
      'http://api.localhost/fhir',
      'http://169.254.169.254/latest/meta-data/',
      'http://user:pass@ehr.example.org/fhir',
      'file:///etc/passwd',
    ]) {
      expect(() => assertEgressUrl(url, STRICT), url).toThrow(/refused/);
    }
    expect(() => assertEgressUrl('http://ehr.example.org/fhir', { ...STRICT, requireHttps: true })).toThrow(
      /https is required/,
    );
    expect(assertEgressUrl('https://ehr.example.org/fhir', { ...STRICT, requireHttps: true }).hostname).toBe(
      'ehr.example.org',
    );
  });

  test('the policy from configuration: private networks only for the demo, https in production', () => {
    expect(egressPolicy(loadConfig({ NODE_ENV: 'development', DEMO: '1' }))).toEqual(LOOPBACK_OK);
    // NODE_ENV defaults to development: a deploy that forgets it must not reach private networks.
    expect(egressPolicy(loadConfig({ NODE_ENV: 'development' }))).toEqual(STRICT);
    expect(egressPolicy(loadConfig({}))).toEqual(STRICT);
    expect(egressPolicy(loadConfig({ NODE_ENV: 'test' }))).toEqual(STRICT);
    expect(egressPolicy(loadConfig({ NODE_ENV: 'production' }))).toEqual({
      allowPrivateNetworks: false,
      requireHttps: true,
    });
    expect(
      egressPolicy(
        loadConfig({ NODE_ENV: 'production', EHR_ALLOW_PRIVATE_NETWORKS: 'true', EHR_REQUIRE_HTTPS: 'false' }),
      ),
    ).toEqual(LOOPBACK_OK);
  });
});

describe('a clinic connector under a strict policy', () => {
  test('a loopback base URL (the Temporal port, say) is refused before any request', async () => {
    expect(() => createFhirConnector({ baseUrl: `${attacker.url}/fhir`, timeoutMs: 2000, egress: STRICT })).toThrow(
      expect.objectContaining({ code: 'EHR_REJECTED' }) as Error,
    );
    const report = await checkFhirConnection({ baseUrl: `${attacker.url}/fhir`, timeoutMs: 2000, egress: STRICT });
    expect(report.ok).toBe(false);
    expect(report.problems.join(' ')).toMatch(/FHIR base URL refused/);
    const metadata = await checkFhirConnection({
      baseUrl: 'http://169.254.169.254/latest',
      timeoutMs: 2000,
      egress: LOOPBACK_OK,
    });
    expect(metadata.problems.join(' ')).toMatch(/metadata/);
    expect(attacker.hits).toEqual([]);
  });

  // This machine's own name resolves to a non-public address (loopback or the container's private address) on
  // every machine we run on: it exercises the DNS-time check, which a literal-address check cannot.
  const own = hostname();
  test('a host name that resolves to a non-public address is refused when the connection is made', async () => {
    const addresses = await lookup(own, { all: true });
    expect(
      addresses.every((a) => addressRefusal(a.address, STRICT) !== null),
      `${own} → public address`,
    ).toBe(true);
    const port = new URL(attacker.url).port;
    const before = attacker.hits.length;
    const ehr = createFhirConnector({ baseUrl: `http://${own}:${port}/fhir`, timeoutMs: 2000, egress: STRICT });
    await expect(ehr.read('Patient', 'p1')).rejects.toMatchObject({
      code: 'EHR_REJECTED',
      context: { reason: 'egress-refused' },
    });
    // Pinned to the address it checked when the runtime allows it (Node's bundled undici).
    expect(EGRESS_PINS_ADDRESSES).toBe(true);
    expect(attacker.hits.length).toBe(before);
  });
});

describe('redirects and token endpoints', () => {
  let ehr: StandIn;
  beforeAll(async () => {
    ehr = await standIn((req, res) => {
      if (req.url === '/fhir/.well-known/smart-configuration') {
        return json(res, 200, { token_endpoint: `${attacker.url}/token` });
      }
      if (req.url?.startsWith('/fhir/Patient/')) {
        res.writeHead(302, { location: `${attacker.url}/fhir/Patient/p1` });
        return res.end();
      }
      if (req.url === '/fhir/metadata') return json(res, 200, capabilityStatement);
      if (req.url === '/auth/token') {
        res.writeHead(307, { location: `${attacker.url}/token` });
        return res.end();
      }
      json(res, 404, {});
    });
  });
  afterAll(() => {
    ehr?.server.close();
  });

  test('a FHIR read answered with a redirect is refused, and the redirect is not followed', async () => {
    const before = attacker.hits.length;
    const fhir = createFhirConnector({ baseUrl: `${ehr.url}/fhir`, timeoutMs: 2000, egress: LOOPBACK_OK });
    await expect(fhir.read('Patient', 'p1')).rejects.toMatchObject({
      code: 'EHR_REJECTED',
      context: { reason: 'redirect', status: 302 },
    });
    expect(attacker.hits.length).toBe(before);
  });

  test('a discovered token endpoint on another origin is refused: no assertion, no token, no FHIR call', async () => {
    const before = attacker.hits.length;
    const fhir = createFhirConnector({
      baseUrl: `${ehr.url}/fhir`,
      timeoutMs: 2000,
      egress: LOOPBACK_OK,
      auth: { clientId: 'c', privateKeyJwk: keys.privateJwk },
    });
    await expect(fhir.capabilities()).rejects.toMatchObject({
      code: 'EHR_REJECTED',
      context: { reason: 'token-origin' },
    });
    const report = await checkFhirConnection({
      baseUrl: `${ehr.url}/fhir`,
      timeoutMs: 2000,
      egress: LOOPBACK_OK,
      auth: { clientId: 'c', privateKeyJwk: keys.privateJwk },
    });
    expect(report.smart.tokenOk).toBe(false);
    expect(report.problems.join(' ')).toMatch(/token_endpoint is on another origin/);
    expect(attacker.hits.length).toBe(before);
  });

  test('a token endpoint that redirects is refused, and the redirect is not followed', async () => {
    const before = attacker.hits.length;
    const fhir = createFhirConnector({
      baseUrl: `${ehr.url}/fhir`,
      timeoutMs: 2000,
      egress: LOOPBACK_OK,
      auth: { clientId: 'c', privateKeyJwk: keys.privateJwk, tokenUrl: `${ehr.url}/auth/token` },
    });
    await expect(fhir.capabilities()).rejects.toMatchObject({
      code: 'EHR_REJECTED',
      context: { reason: 'redirect' },
    });
    expect(attacker.hits.length).toBe(before);
  });

  test('a token URL pinned at onboarding may be on another origin', async () => {
    const before = attacker.hits.length;
    const fhir = createFhirConnector({
      baseUrl: `${ehr.url}/fhir`,
      timeoutMs: 2000,
      egress: LOOPBACK_OK,
      auth: { clientId: 'c', privateKeyJwk: keys.privateJwk, tokenUrl: `${attacker.url}/token` },
    });
    await expect(fhir.capabilities()).resolves.toMatchObject({ fhirVersion: '4.0.1' });
    expect(attacker.hits.slice(before)).toEqual(['POST /token']);
  });
});
