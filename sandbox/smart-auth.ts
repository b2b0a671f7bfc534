import { randomBytes } from 'node:crypto';
import { createLocalJWKSet, decodeJwt, jwtVerify, type JSONWebKeySet } from 'jose';
import { z } from 'zod';

/** A SMART Backend Services client registered with the sandbox: its id and its public keys. */
export interface SandboxClient {
  clientId: string;
  jwks: JSONWebKeySet;
}

/** What an access token allows: `system/<Type|*>.<permissions>` scopes, flattened. */
export interface Grant {
  readonly clientId: string;
  readonly scope: string;
  readonly permissions: ReadonlyMap<string, ReadonlySet<string>>;
  readonly expiresAt: number;
}

/** The FHIR interactions a scope can allow, by SMART v2 permission letter. */
export type ScopedInteraction = 'create' | 'read' | 'update' | 'delete' | 'search';

/** The answer of the token endpoint: an OAuth 2.0 token response or error (RFC 6749 §5). */
export interface TokenResponse {
  status: 200 | 400 | 401;
  body: Record<string, string | number>;
}

export const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
export const SIGNING_ALGORITHMS = ['RS384', 'ES384'] as const;
export const ACCESS_TOKEN_LIFETIME_S = 300;
/** Longest an assertion may live (SMART: "no more than five minutes in the future"), plus clock skew. */
const MAX_ASSERTION_LIFETIME_S = 300;
const CLOCK_SKEW_S = 30;

const LETTER: Record<ScopedInteraction, string> = { create: 'c', read: 'r', update: 'u', delete: 'd', search: 's' };
const SCOPE = /^system\/(\*|[A-Z][A-Za-z]+)\.(read|write|\*|c?r?u?d?s?)$/;
/** The scopes of a person's app (SMART App Launch): `user/…` and `patient/…`. */
const PERSON_SCOPE = /^(?:user|patient)\/(\*|[A-Z][A-Za-z]+)\.(read|write|\*|c?r?u?d?s?)$/;

export const RegisterClientSchema = z.strictObject({
  client_id: z
    .string()
    .min(1)
    .max(128)
    .regex(/^[A-Za-z0-9._:-]+$/),
  jwks: z.object({
    keys: z
      .array(
        z.looseObject({ kty: z.enum(['RSA', 'EC']) }).refine((k) => !('d' in k), {
          message: 'must be a public key (no private parts)',
        }),
      )
      .min(1),
  }),
});

const TokenFormSchema = z.object({
  grant_type: z.string(),
  client_assertion_type: z.string().optional(),
  client_assertion: z.string().optional(),
  client_id: z.string().optional(),
  scope: z.string().optional(),
});

function oauthError(status: 400 | 401, error: string, description: string): TokenResponse {
  return { status, body: { error, error_description: description } };
}

/** Parses SMART scopes (v1 `.read/.write/.*` and v2 `.cruds`) into permission letters per resource type. */
export function parseScopes(scope: string, pattern: RegExp = SCOPE): Map<string, Set<string>> {
  const permissions = new Map<string, Set<string>>();
  for (const item of scope.split(/\s+/).filter(Boolean)) {
    const m = pattern.exec(item);
    if (!m?.[1] || !m[2]) continue;
    const letters = m[2] === 'read' ? 'rs' : m[2] === 'write' ? 'cud' : m[2] === '*' ? 'cruds' : m[2];
    const set = permissions.get(m[1]) ?? new Set<string>();
    for (const l of letters) set.add(l);
    permissions.set(m[1], set);
  }
  return permissions;
}

/** True when the grant's scopes allow `interaction` on `resourceType`. */
export function scopeAllows(grant: Grant, resourceType: string, interaction: ScopedInteraction): boolean {
  const letter = LETTER[interaction];
  return !!(grant.permissions.get(resourceType)?.has(letter) || grant.permissions.get('*')?.has(letter));
}

/**
 * The sandbox's authorization server for SMART Backend Services (client_credentials with a private_key_jwt
 * assertion), holding registered clients, seen assertion ids and issued opaque tokens in memory.
 *
 * Why a real one: the connector's token flow (signing, audience, expiry, replay, 401 → refresh) is only tested if the
 * EHR stand-in checks what a real EHR checks.
 */
export class SmartAuthority {
  private readonly clients = new Map<string, SandboxClient>();
  private readonly tokens = new Map<string, Grant>();
  private readonly seenJti = new Map<string, number>();
  private readonly now: () => number;

  constructor(options: { clients?: readonly SandboxClient[]; now?: () => number } = {}) {
    this.now = options.now ?? Date.now;
    for (const client of options.clients ?? []) this.registerClient(client);
  }

  /**
   * Registers (or replaces) a client's public JWKS.
   * @throws Error when the key set holds private keys or is malformed.
   */
  registerClient(client: SandboxClient): void {
    const parsed = RegisterClientSchema.parse({ client_id: client.clientId, jwks: client.jwks });
    this.clients.set(parsed.client_id, { clientId: parsed.client_id, jwks: client.jwks });
  }

  /**
   * The token endpoint: verifies the client assertion against the client's registered keys (iss = sub = client id,
   * aud = one of `tokenUrls`, RS384/ES384, exp at most five minutes ahead, jti never seen before) and issues an opaque
   * bearer token for the requested system scopes.
   */
  async issueToken(form: Record<string, unknown>, tokenUrls: readonly string[]): Promise<TokenResponse> {
    const parsed = TokenFormSchema.safeParse(form);
    if (!parsed.success) return oauthError(400, 'invalid_request', 'grant_type is required');
    const { grant_type, client_assertion_type, client_assertion, client_id, scope } = parsed.data;
    if (grant_type !== 'client_credentials') {
      return oauthError(400, 'unsupported_grant_type', 'Only client_credentials is supported');
    }
    if (client_assertion_type !== JWT_BEARER || !client_assertion) {
      return oauthError(400, 'invalid_request', `client_assertion_type must be ${JWT_BEARER}, with client_assertion`);
    }
    let issuer: string | undefined;
    try {
      issuer = decodeJwt(client_assertion).iss;
    } catch {
      return oauthError(400, 'invalid_request', 'client_assertion is not a JWT');
    }
    const client = issuer ? this.clients.get(issuer) : undefined;
    if (!client || (client_id && client_id !== client.clientId)) {
      return oauthError(401, 'invalid_client', 'Unknown client');
    }
    let payload;
    try {
      ({ payload } = await jwtVerify(client_assertion, createLocalJWKSet(client.jwks), {
        issuer: client.clientId,
        subject: client.clientId,
        audience: [...tokenUrls],
        algorithms: [...SIGNING_ALGORITHMS],
        requiredClaims: ['exp', 'jti'],
        clockTolerance: CLOCK_SKEW_S,
        currentDate: new Date(this.now()),
      }));
    } catch (err) {
      const reason = err instanceof Error ? err.message : 'verification failed';
      return oauthError(401, 'invalid_client', `client_assertion rejected: ${reason}`);
    }
    const nowS = Math.floor(this.now() / 1000);
    const exp = payload.exp ?? 0;
    if (exp - nowS > MAX_ASSERTION_LIFETIME_S + CLOCK_SKEW_S) {
      return oauthError(401, 'invalid_client', 'client_assertion exp is more than five minutes ahead');
    }
    this.purge(nowS);
    const jtiKey = `${client.clientId} ${payload.jti ?? ''}`;
    if (this.seenJti.has(jtiKey)) return oauthError(401, 'invalid_client', 'client_assertion jti was already used');
    this.seenJti.set(jtiKey, exp);

    const requested = scope ?? 'system/*.rs';
    const permissions = parseScopes(requested);
    if (permissions.size === 0) return oauthError(400, 'invalid_scope', 'Request system/ scopes, e.g. system/*.rs');
    const granted = requested
      .split(/\s+/)
      .filter((s) => SCOPE.test(s))
      .join(' ');
    const token = randomBytes(32).toString('base64url');
    const expiresAt = this.now() + ACCESS_TOKEN_LIFETIME_S * 1000;
    this.tokens.set(token, { clientId: client.clientId, scope: granted, permissions, expiresAt });
    return {
      status: 200,
      body: { access_token: token, token_type: 'bearer', expires_in: ACCESS_TOKEN_LIFETIME_S, scope: granted },
    };
  }

  /** The grant behind an `Authorization` header, or undefined when it is missing, unknown or expired. */
  authenticate(authorization: string | undefined): Grant | undefined {
    const m = /^Bearer\s+(\S+)$/i.exec(authorization ?? '');
    const grant = m?.[1] ? this.tokens.get(m[1]) : undefined;
    return grant && grant.expiresAt > this.now() ? grant : undefined;
  }

  /**
   * Issues an access token to a person's app (SMART App Launch, after the authorization code exchange) for its
   * `user/` and `patient/` scopes. The sandbox does not narrow `patient/` scopes to the patient's compartment.
   */
  grantUser(clientId: string, scope: string): { token: string; expiresIn: number } {
    const token = randomBytes(32).toString('base64url');
    const permissions = parseScopes(scope, PERSON_SCOPE);
    this.tokens.set(token, { clientId, scope, permissions, expiresAt: this.now() + ACCESS_TOKEN_LIFETIME_S * 1000 });
    return { token, expiresIn: ACCESS_TOKEN_LIFETIME_S };
  }

  /** Revokes one token (a reused authorization code revokes the token it was exchanged for). */
  revoke(token: string): void {
    this.tokens.delete(token);
  }

  /** Revokes every issued token (tests use it to force the client's 401 → new token path). */
  revokeAll(): void {
    this.tokens.clear();
  }

  private purge(nowS: number): void {
    for (const [jti, exp] of this.seenJti) if (exp + CLOCK_SKEW_S < nowS) this.seenJti.delete(jti);
    for (const [token, grant] of this.tokens) if (grant.expiresAt <= nowS * 1000) this.tokens.delete(token);
  }
}
