// Where ehr-autopilot may send a clinic's FHIR requests and its SMART credentials. A clinic's EHR URLs are entered by
// an admin, so they are untrusted: without this, an EHR URL (or a redirect, or a DNS answer) pointing at loopback,
// the cloud metadata service or the Temporal port would make the API or the worker an SSRF proxy, and would hand a
// real `system/*` EHR token to whoever controls that address.
import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import ipaddr from 'ipaddr.js';
import { AppError } from '../../rules/index.ts';
import type { Config } from '../config.ts';

/** What a deployment allows its EHR connections to reach. */
export interface EgressPolicy {
  /**
   * Loopback, private (RFC 1918), link-local, unique-local, CGNAT and other non-public addresses. Needed for the
   * sandbox EHR on loopback (demo, tests) and for an EHR inside the clinic's private network.
   */
  allowPrivateNetworks: boolean;
  /** Refuse `http:` EHR URLs (production). */
  requireHttps: boolean;
}

/**
 * The policy from configuration: `EHR_ALLOW_PRIVATE_NETWORKS` (default: only with `DEMO=1`, i.e. `npm start` and its
 * sandbox EHR on loopback; not from NODE_ENV, whose default is development, so a deploy that forgets NODE_ENV is still
 * strict) and `EHR_REQUIRE_HTTPS` (default: when NODE_ENV=production).
 */
export function egressPolicy(
  config: Pick<Config, 'NODE_ENV' | 'DEMO' | 'EHR_ALLOW_PRIVATE_NETWORKS' | 'EHR_REQUIRE_HTTPS'>,
): EgressPolicy {
  return {
    allowPrivateNetworks: config.EHR_ALLOW_PRIVATE_NETWORKS ?? config.DEMO,
    requireHttps: config.EHR_REQUIRE_HTTPS ?? config.NODE_ENV === 'production',
  };
}

/** Cloud instance-metadata endpoints (AWS/GCP/Azure/OCI, AWS IPv6, ECS task metadata, Alibaba): never an EHR. */
const METADATA = new Set(['169.254.169.254', 'fd00:ec2::254', '169.254.170.2', '100.100.100.200']);

/** Why an address may not be contacted under `policy`, or null when it may. */
export function addressRefusal(address: string, policy: EgressPolicy): string | null {
  let ip: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    ip = ipaddr.process(address); // IPv4-mapped IPv6 (::ffff:127.0.0.1) is judged as the IPv4 it is
  } catch {
    return 'not an IP address';
  }
  if (METADATA.has(ip.toNormalizedString()) || METADATA.has(ip.toString())) return 'a cloud metadata address';
  const range = ip.range();
  if (range === 'unicast') return null;
  if (range === 'multicast' || range === 'broadcast') return `a ${range} address`;
  return policy.allowPrivateNetworks ? null : `a ${range} address (not a public one)`;
}

function refused(what: string, reason: string): AppError {
  return new AppError('EHR_REJECTED', `${what} refused: ${reason}`, { context: { reason: 'egress-refused' } });
}

const LOCAL_NAMES = /(^|\.)localhost\.?$/i;

/**
 * Checks what can be checked without DNS: an http(s) URL, https when required, no credentials in it, and a host that
 * is not a refused IP literal or a `localhost` name. Host names are checked again on every connection
 * ({@link createEgressFetch}).
 *
 * @throws AppError `EHR_REJECTED` (context `reason: egress-refused`) naming what is wrong.
 */
export function assertEgressUrl(url: string, policy: EgressPolicy, what = 'EHR URL'): URL {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw refused(what, 'not a URL');
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') throw refused(what, 'only http(s) URLs');
  if (policy.requireHttps && u.protocol !== 'https:') throw refused(what, 'https is required');
  if (u.username !== '' || u.password !== '') throw refused(what, 'credentials in the URL');
  const host = u.hostname.replace(/^\[|\]$/g, '');
  if (ipaddr.isValid(host)) {
    const reason = addressRefusal(host, policy);
    if (reason) throw refused(what, `${host} is ${reason}`);
  } else if (LOCAL_NAMES.test(host) && !policy.allowPrivateNetworks) {
    throw refused(what, `${host} is a loopback name`);
  }
  return u;
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/**
 * A `dns.lookup` that refuses a host if any address it resolves to is refused, and hands the connection exactly the
 * addresses it checked: the socket connects to what was validated, so a DNS answer that changes between check and
 * connect (rebinding) cannot slip through.
 */
function guardedLookup(policy: EgressPolicy) {
  return (hostname: string, options: LookupOptions, callback: LookupCallback): void => {
    dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, []);
      for (const a of addresses) {
        const reason = addressRefusal(a.address, policy);
        if (reason) return callback(refused('EHR address', `${hostname} resolves to ${reason}`), []);
      }
      if (options.all) return callback(null, addresses);
      const first = addresses[0];
      if (!first) return callback(Object.assign(new Error('no address'), { code: 'ENOTFOUND' }), []);
      callback(null, first.address, first.family);
    });
  };
}

// Node's fetch is undici, bundled without a public import; its Agent class is reachable through the global
// dispatcher (a cross-version contract: `Symbol.for('undici.globalDispatcher.1')`), which exists after one fetch.
// Installing the `undici` package would make this an import; until then this avoids a dependency.
type AgentCtor = new (opts: { connect: { lookup: ReturnType<typeof guardedLookup> } }) => object;
await fetch('data:,').catch(() => undefined);
const globalDispatcher = (globalThis as Record<symbol, unknown>)[Symbol.for('undici.globalDispatcher.1')] as
  { constructor?: AgentCtor & { name?: string } } | undefined;
const UndiciAgent: AgentCtor | undefined =
  globalDispatcher?.constructor?.name === 'Agent' ? globalDispatcher.constructor : undefined;

/** Options every request to an EHR carries: the guarded dispatcher, and no redirects followed. */
export interface EgressRequestInit {
  redirect: 'manual';
  dispatcher?: object;
}

/**
 * The request options that enforce `policy` on every connection: a dispatcher whose DNS lookup refuses forbidden
 * addresses (and pins the connection to the addresses it checked), and `redirect: 'manual'` (a 3xx is an answer,
 * never followed, so a redirect cannot carry a request or a token elsewhere).
 */
export function egressRequestInit(policy: EgressPolicy): EgressRequestInit {
  if (!UndiciAgent) return { redirect: 'manual' };
  // One connection pool per policy for the whole process, not one per connector or connection check.
  const key = `${policy.allowPrivateNetworks}:${policy.requireHttps}`;
  let dispatcher = dispatchers.get(key);
  if (!dispatcher) {
    dispatcher = new UndiciAgent({ connect: { lookup: guardedLookup(policy) } });
    dispatchers.set(key, dispatcher);
  }
  return { redirect: 'manual', dispatcher };
}
const dispatchers = new Map<string, object>();

/** Whether connections are pinned to the checked addresses (false only if Node's fetch is not undici). */
export const EGRESS_PINS_ADDRESSES = UndiciAgent !== undefined;

/**
 * A `fetch` for EHR URLs: checks the URL ({@link assertEgressUrl}), connects only to allowed addresses, refuses
 * redirects (EHR_REJECTED, context `reason: redirect`).
 */
export function createEgressFetch(policy: EgressPolicy): (url: string, init?: RequestInit) => Promise<Response> {
  const extra = egressRequestInit(policy);
  return async (url, init = {}) => {
    assertEgressUrl(url, policy);
    const res = await fetch(url, { ...init, ...extra });
    if (res.status >= 300 && res.status < 400) {
      await res.body?.cancel().catch(() => undefined);
      throw new AppError('EHR_REJECTED', `EHR answered a redirect (${res.status}); redirects are not followed`, {
        context: { status: res.status, reason: 'redirect' },
      });
    }
    return res;
  };
}

/** True when both URLs have the same origin (scheme, host and port). */
export function sameOrigin(a: string, b: string): boolean {
  try {
    return new URL(a).origin === new URL(b).origin;
  } catch {
    return false;
  }
}
