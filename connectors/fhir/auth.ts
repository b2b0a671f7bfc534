import { randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair, importJWK, SignJWT, type JWK } from 'jose';
import { z } from 'zod';
import { AppError } from '../../rules/index.ts';
import { createEgressFetch, sameOrigin, type EgressPolicy } from './egress.ts';
import { toFhirError, type FhirOperation } from './errors.ts';
import { observeFhirCall } from '../telemetry/fhir-calls.ts';

/** SMART Backend Services client registration, as the clinic configured it. */
export interface SmartBackendAuthOptions {
  clientId: string;
  /** The private half of the key registered with the EHR (its public half is in the EHR's JWKS for this client). */
  privateKeyJwk: JWK;
  /**
   * Token endpoint pinned at onboarding (it may be on another origin, e.g. a separate authorization server); when
   * absent it is discovered from `${baseUrl}/.well-known/smart-configuration` and must be on the base URL's origin.
   */
  tokenUrl?: string;
  /** Requested scopes; defaults to {@link DEFAULT_SCOPE}. */
  scope?: string;
}

/** Reads everything, writes back the outcome. SMART v1 syntax, which v2 servers also accept. */
export const DEFAULT_SCOPE = 'system/*.read system/*.write';

/** The signing algorithms SMART Backend Services requires servers to support. */
const ALGORITHMS = ['RS384', 'ES384'] as const;
type SigningAlg = (typeof ALGORITHMS)[number];

const PrivateJwkSchema = z.looseObject({
  kty: z.enum(['EC', 'RSA']),
  d: z.string().min(1),
  alg: z.enum(ALGORITHMS).optional(),
  kid: z.string().min(1).optional(),
});

const SmartConfigurationSchema = z.looseObject({ token_endpoint: z.url() });

const TokenResponseSchema = z.looseObject({
  access_token: z.string().min(1),
  token_type: z.string().refine((t) => t.toLowerCase() === 'bearer', { message: 'token_type must be bearer' }),
  expires_in: z.coerce.number().positive().optional(),
});

const OAuthErrorSchema = z.looseObject({ error: z.string().regex(/^[a-z_]{1,40}$/) });

/** Token lifetime assumed when the server omits `expires_in` (the spec recommends at most five minutes). */
const DEFAULT_EXPIRES_IN_S = 300;
const TOKEN_OP: FhirOperation = { action: 'token', resourceType: 'AccessToken' };

/** A source of bearer tokens for one EHR client registration. */
export interface AccessTokenSource {
  /** A valid access token: the cached one, or a freshly fetched one. Concurrent callers share one fetch. */
  token(): Promise<string>;
  /** Forgets `token` if it is still the cached one, so the next {@link token} call fetches anew (after a 401). */
  invalidate(token: string): void;
  /** HTTP requests made to the authorization server (discovery + token requests), for benchmarks. */
  readonly roundTrips: number;
}

export interface AccessTokenSourceOptions extends SmartBackendAuthOptions {
  /** FHIR base URL; the SMART configuration is discovered under it when `tokenUrl` is absent. */
  baseUrl: string;
  timeoutMs: number;
  requestId?: () => string | undefined;
  /** Clock, injectable for tests. */
  now?: () => number;
  /** Which addresses the discovery and token requests may reach; absent: any (trusted URLs only: scripts, tests). */
  egress?: EgressPolicy;
}

/**
 * A discovered token endpoint must be on the FHIR base URL's origin: otherwise whoever answers the discovery (or
 * a moved base URL) chooses where our signed client assertion goes and which server hands us tokens.
 *
 * @throws AppError `EHR_REJECTED` (context `reason: token-origin`).
 */
export function assertDiscoveredTokenUrl(baseUrl: string, tokenEndpoint: string): string {
  if (!sameOrigin(baseUrl, tokenEndpoint)) {
    throw new AppError(
      'EHR_REJECTED',
      'SMART discovery: token_endpoint is on another origin than the FHIR base URL; pin the token URL at onboarding',
      { context: { action: TOKEN_OP.action, step: 'discovery', reason: 'token-origin' } },
    );
  }
  return tokenEndpoint;
}

function signingAlg(jwk: z.infer<typeof PrivateJwkSchema>): SigningAlg {
  return jwk.alg ?? (jwk.kty === 'EC' ? 'ES384' : 'RS384');
}

function parsePrivateJwk(jwk: JWK): z.infer<typeof PrivateJwkSchema> {
  const parsed = PrivateJwkSchema.safeParse(jwk);
  if (!parsed.success) {
    // Never echo the key: name the fields only.
    const fields = parsed.error.issues.map((i) => i.path.join('.') || '(root)').join(', ');
    throw new AppError('CONFIG_INVALID', `FHIR client private key is not a usable RS384/ES384 private JWK (${fields})`);
  }
  return parsed.data;
}

/**
 * Signs the SMART Backend Services client assertion (RFC 7523 JWT): iss = sub = client id, aud = token URL, a random
 * jti, five minutes of validity. The algorithm follows the key: its `alg`, else ES384 for EC and RS384 for RSA keys.
 *
 * @throws AppError `CONFIG_INVALID` when the JWK is not an EC/RSA private key.
 */
export async function signClientAssertion(
  auth: Pick<SmartBackendAuthOptions, 'clientId' | 'privateKeyJwk'>,
  tokenUrl: string,
): Promise<string> {
  const jwk = parsePrivateJwk(auth.privateKeyJwk);
  const alg = signingAlg(jwk);
  const key = await importJWK(auth.privateKeyJwk, alg);
  return new SignJWT({})
    .setProtectedHeader({ alg, typ: 'JWT', ...(jwk.kid ? { kid: jwk.kid } : {}) })
    .setIssuer(auth.clientId)
    .setSubject(auth.clientId)
    .setAudience(tokenUrl)
    .setJti(randomUUID())
    .setIssuedAt()
    .setExpirationTime('5m')
    .sign(key);
}

/**
 * Generates an ES384 key pair for a SMART Backend Services client: the private JWK for our configuration, the public
 * JWKS for the EHR's client registration. Used by the demo clinic and tests.
 */
export async function generateClientKeyPair(
  kid: string = randomUUID(),
): Promise<{ privateJwk: JWK; publicJwks: { keys: JWK[] } }> {
  const { privateKey, publicKey } = await generateKeyPair('ES384', { extractable: true });
  const privateJwk: JWK = { ...(await exportJWK(privateKey)), kid, alg: 'ES384', use: 'sig' };
  const publicJwk: JWK = { ...(await exportJWK(publicKey)), kid, alg: 'ES384', use: 'sig' };
  return { privateJwk, publicJwks: { keys: [publicJwk] } };
}

function authServerError(status: number, body: unknown, step: string): AppError {
  const oauth = OAuthErrorSchema.safeParse(body);
  const context = { status, action: TOKEN_OP.action, step, ...(oauth.success ? { oauthError: oauth.data.error } : {}) };
  // A 404 or 400 here means a wrong token URL or a client the EHR does not know: configuration, not a passing fault.
  if (status === 408 || status === 429 || status >= 500) {
    return new AppError('EHR_UNAVAILABLE', `SMART ${step}: authorization server answered ${status}`, {
      retryable: true,
      context,
    });
  }
  return new AppError('EHR_REJECTED', `SMART ${step}: authorization server refused (${status})`, { context });
}

/**
 * Creates the token source for SMART Backend Services (client_credentials with a signed JWT assertion). The token is
 * cached until shortly before `expires_in` runs out, so a busy worker asks the EHR once per token lifetime, not once
 * per FHIR call.
 *
 * @throws (from `token()`) AppError `EHR_REJECTED` when the EHR refuses the client, `EHR_UNAVAILABLE` when it cannot
 * be reached, `CONFIG_INVALID` for an unusable key.
 */
export function createAccessTokenSource(opts: AccessTokenSourceOptions): AccessTokenSource {
  const now = opts.now ?? Date.now;
  const baseUrl = opts.baseUrl.replace(/\/+$/, '');
  // Redirects are refused even without an address policy: a 3xx could send the assertion or the token elsewhere.
  const send = opts.egress
    ? createEgressFetch(opts.egress)
    : (url: string, init: RequestInit) => noRedirectFetch(url, init);
  let roundTrips = 0;
  let tokenUrl: Promise<string> | undefined = opts.tokenUrl ? Promise.resolve(opts.tokenUrl) : undefined;
  let cached: { token: string; refreshAt: number } | undefined;
  let inflight: Promise<string> | undefined;

  async function httpJson(url: string, init: RequestInit, step: string): Promise<unknown> {
    const headers = new Headers(init.headers);
    headers.set('accept', 'application/json');
    const requestId = opts.requestId?.();
    if (requestId) headers.set('x-request-id', requestId);
    roundTrips += 1;
    let res: Response | undefined;
    let text: string;
    const observed = observeFhirCall(step === 'discovery' ? 'discovery' : 'token', step); // connectors/telemetry
    try {
      res = await send(url, { ...init, headers, signal: AbortSignal.timeout(opts.timeoutMs) });
      text = await res.text();
      observed.end(res.status);
    } catch (err) {
      observed.end(res?.status, err);
      throw toFhirError(err, { action: TOKEN_OP.action, resourceType: step });
    }
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
    if (!res.ok || body === undefined) throw authServerError(res.ok ? 502 : res.status, body, step);
    return body;
  }

  async function discoverTokenUrl(): Promise<string> {
    const body = await httpJson(`${baseUrl}/.well-known/smart-configuration`, { method: 'GET' }, 'discovery');
    const parsed = SmartConfigurationSchema.safeParse(body);
    if (!parsed.success) {
      throw new AppError('EHR_REJECTED', 'SMART discovery: smart-configuration has no token_endpoint', {
        context: { action: TOKEN_OP.action, step: 'discovery' },
      });
    }
    return assertDiscoveredTokenUrl(baseUrl, parsed.data.token_endpoint);
  }

  async function fetchToken(): Promise<string> {
    tokenUrl ??= discoverTokenUrl().catch((err: unknown) => {
      tokenUrl = undefined; // a failed discovery is retried on the next call
      throw err;
    });
    const url = await tokenUrl;
    const form = new URLSearchParams({
      grant_type: 'client_credentials',
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: await signClientAssertion(opts, url),
      scope: opts.scope ?? DEFAULT_SCOPE,
    });
    const issuedAt = now();
    const body = await httpJson(
      url,
      { method: 'POST', body: form, headers: { 'content-type': 'application/x-www-form-urlencoded' } },
      'token',
    );
    const parsed = TokenResponseSchema.safeParse(body);
    if (!parsed.success) {
      throw new AppError('EHR_REJECTED', 'SMART token: response is not a bearer access token', {
        context: { action: TOKEN_OP.action, step: 'token' },
      });
    }
    const lifetimeMs = (parsed.data.expires_in ?? DEFAULT_EXPIRES_IN_S) * 1000;
    // Refresh a minute early (a fifth early for short-lived tokens) so a token never expires mid-request.
    cached = { token: parsed.data.access_token, refreshAt: issuedAt + lifetimeMs - Math.min(60_000, lifetimeMs / 5) };
    return parsed.data.access_token;
  }

  return {
    token() {
      if (cached && now() < cached.refreshAt) return Promise.resolve(cached.token);
      inflight ??= fetchToken().finally(() => {
        inflight = undefined;
      });
      return inflight;
    },
    invalidate(token) {
      if (cached?.token === token) cached = undefined;
    },
    get roundTrips() {
      return roundTrips;
    },
  };
}

/** fetch that answers a 3xx with EHR_REJECTED instead of following it. */
async function noRedirectFetch(url: string, init: RequestInit): Promise<Response> {
  const res = await fetch(url, { ...init, redirect: 'manual' });
  if (res.status >= 300 && res.status < 400) {
    await res.body?.cancel().catch(() => undefined);
    throw new AppError(
      'EHR_REJECTED',
      `SMART: authorization server answered a redirect (${res.status}); not followed`,
      {
        context: { status: res.status, reason: 'redirect' },
      },
    );
  }
  return res;
}
