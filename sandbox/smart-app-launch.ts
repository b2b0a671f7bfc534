import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';
import { z } from 'zod';
import type { SmartAuthority } from './smart-auth.ts';

// SMART App Launch 2.x (https://hl7.org/fhir/smart-app-launch/) on the sandbox EHR: the authorization code flow with
// PKCE (S256 only) for apps a clinician opens, from inside the EHR (EHR launch: `launch` names the patient and the
// signed-in practitioner) or on their own (standalone launch: the sandbox's picker page stands in for the EHR's
// sign-in and patient picker). Authorization codes are single-use and live 60 s; a code presented twice also revokes
// the token it was exchanged for (RFC 6749 §4.1.2). Public clients only (token_endpoint_auth_method `none`).

/** How long an authorization code, a pending picker request and an EHR launch id stay usable. */
export const CODE_LIFETIME_S = 60;
const PENDING_LIFETIME_S = 600;
export const LAUNCH_LIFETIME_S = 300;
const ID_TOKEN_LIFETIME_S = 300;

/** An app registered for the authorization code flow: its id and the redirect URIs it may use (exact match). */
export interface AppClient {
  clientId: string;
  redirectUris: readonly string[];
}

/** What the EHR knows when it opens an app: the patient in context and the signed-in practitioner. */
export interface LaunchContext {
  patient: string;
  practitioner: string;
}

/** A validated authorization request, waiting for the user (standalone) or approved at once (EHR launch). */
export interface AuthorizationRequest {
  clientId: string;
  redirectUri: string;
  scope: string;
  state: string;
  codeChallenge: string;
  /** The EHR launch context, when the request carried a valid `launch`. */
  launch?: LaunchContext;
}

/** The outcome of an authorization request: redirect the browser, show the picker, or show an error page. */
export type AuthorizeResult =
  | { kind: 'redirect'; location: string }
  | { kind: 'pick'; requestId: string; request: AuthorizationRequest; needsPatient: boolean }
  | { kind: 'error'; status: 400; error: string; description: string };

export interface TokenResult {
  status: 200 | 400 | 401;
  body: Record<string, string | number>;
}

interface IssuedCode {
  request: AuthorizationRequest;
  practitioner: string;
  patient: string | undefined;
  expiresAt: number;
  /** The access token the code was exchanged for (set on first use; a second use revokes it). */
  redeemedWith?: string;
}

const B64URL_43_128 = /^[A-Za-z0-9\-._~]{43,128}$/;
const FHIR_ID = /^[A-Za-z0-9\-.]{1,64}$/;

export const RegisterAppSchema = z.strictObject({
  client_id: z
    .string()
    .min(1)
    .max(128)
    .regex(/^[A-Za-z0-9._:-]+$/),
  redirect_uris: z
    .array(z.url({ protocol: /^https?$/ }).max(2048))
    .min(1)
    .max(10),
  token_endpoint_auth_method: z.literal('none').optional(),
});

const AuthorizeQuerySchema = z.object({
  response_type: z.string().max(64).optional(),
  client_id: z.string().max(128).optional(),
  redirect_uri: z.string().max(2048).optional(),
  scope: z.string().max(2048).optional(),
  state: z.string().max(512).optional(),
  aud: z.string().max(2048).optional(),
  code_challenge: z.string().max(256).optional(),
  code_challenge_method: z.string().max(16).optional(),
  launch: z.string().max(256).optional(),
});

const CodeTokenFormSchema = z.object({
  grant_type: z.literal('authorization_code'),
  code: z.string().max(256).optional(),
  redirect_uri: z.string().max(2048).optional(),
  client_id: z.string().max(128).optional(),
  code_verifier: z.string().max(256).optional(),
});

/** base64url(sha256(verifier)): the S256 code challenge (RFC 7636 §4.2). */
export function s256(verifier: string): string {
  return createHash('sha256').update(verifier, 'ascii').digest('base64url');
}

const newId = () => randomBytes(32).toString('base64url');
const sameText = (a: string, b: string) =>
  a.length === b.length && timingSafeEqual(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));

/**
 * The sandbox's authorization server for apps a person opens (SMART App Launch): registered app clients, EHR launch
 * ids, pending picker requests and authorization codes, in memory. Access tokens are issued by the Backend Services
 * authority, so they work on the sandbox's FHIR API like any other token.
 */
export class AppLaunchAuthority {
  private readonly clients = new Map<string, AppClient>();
  private readonly launches = new Map<string, LaunchContext & { expiresAt: number }>();
  private readonly pending = new Map<string, AuthorizationRequest & { expiresAt: number }>();
  private readonly codes = new Map<string, IssuedCode>();
  private signingKey: Promise<{ privateKey: CryptoKey; publicJwk: JWK }> | undefined;

  constructor(
    private readonly tokens: SmartAuthority,
    private readonly now: () => number = Date.now,
  ) {}

  /** Registers (or replaces) an app client. @throws Error when the registration is malformed. */
  registerApp(client: AppClient): void {
    const parsed = RegisterAppSchema.parse({ client_id: client.clientId, redirect_uris: [...client.redirectUris] });
    this.clients.set(parsed.client_id, { clientId: parsed.client_id, redirectUris: parsed.redirect_uris });
  }

  /** Mints an opaque `launch` id for "the EHR opens the app with this patient, as this practitioner". */
  createLaunch(context: LaunchContext): string {
    if (!FHIR_ID.test(context.patient) || !FHIR_ID.test(context.practitioner)) throw new Error('invalid FHIR ids');
    this.purge();
    const id = randomBytes(16).toString('base64url');
    this.launches.set(id, { ...context, expiresAt: this.now() + LAUNCH_LIFETIME_S * 1000 });
    return id;
  }

  /**
   * The authorization endpoint (GET). An unknown client or an unregistered redirect URI is an error page (never a
   * redirect: RFC 6749 §4.1.2.1); every other problem is redirected to the app as `error` with its `state`.
   * An EHR launch is approved at once (the practitioner is signed in to the EHR); a standalone launch shows the
   * picker.
   */
  authorize(query: Record<string, string | undefined>, audience: string): AuthorizeResult {
    const q = AuthorizeQuerySchema.safeParse(query);
    if (!q.success) return { kind: 'error', status: 400, error: 'invalid_request', description: 'Malformed request' };
    const { client_id, redirect_uri } = q.data;
    const client = client_id ? this.clients.get(client_id) : undefined;
    if (!client) return { kind: 'error', status: 400, error: 'invalid_client', description: 'Unknown client_id' };
    if (!redirect_uri || !client.redirectUris.includes(redirect_uri)) {
      return {
        kind: 'error',
        status: 400,
        error: 'invalid_request',
        description: 'redirect_uri is not registered for this client',
      };
    }
    const fail = (error: string, description: string): AuthorizeResult => ({
      kind: 'redirect',
      location: withParams(redirect_uri, {
        error,
        error_description: description,
        ...(q.data.state ? { state: q.data.state } : {}),
      }),
    });
    const { response_type, scope = '', state, aud, code_challenge, code_challenge_method, launch } = q.data;
    if (response_type !== 'code') return fail('unsupported_response_type', 'Only response_type=code is supported');
    if (!state) return fail('invalid_request', 'state is required');
    if (!code_challenge || !B64URL_43_128.test(code_challenge) || code_challenge_method !== 'S256') {
      return fail('invalid_request', 'PKCE is required: code_challenge with code_challenge_method=S256');
    }
    if (aud !== audience) return fail('invalid_request', 'aud must be this server’s FHIR base URL');
    const scopes = scope.split(/\s+/).filter(Boolean);
    this.purge();
    const request: AuthorizationRequest = {
      clientId: client.clientId,
      redirectUri: redirect_uri,
      scope: scopes.join(' '),
      state,
      codeChallenge: code_challenge,
    };
    if (launch !== undefined) {
      const context = this.launches.get(launch);
      if (!context || !scopes.includes('launch')) {
        return fail('invalid_request', 'launch is unknown or expired, or the scope lacks `launch`');
      }
      this.launches.delete(launch);
      return this.approve(
        { ...request, launch: { patient: context.patient, practitioner: context.practitioner } },
        context.practitioner,
        context.patient,
      );
    }
    const requestId = newId();
    this.pending.set(requestId, { ...request, expiresAt: this.now() + PENDING_LIFETIME_S * 1000 });
    return { kind: 'pick', requestId, request, needsPatient: scopes.includes('launch/patient') };
  }

  /** The picker's answer (POST): approve as `practitioner` (with `patient` when asked for), or deny. */
  decide(form: { requestId?: string; practitioner?: string; patient?: string; decision?: string }): AuthorizeResult {
    const request = form.requestId ? this.pending.get(form.requestId) : undefined;
    if (!request || request.expiresAt <= this.now()) {
      return { kind: 'error', status: 400, error: 'invalid_request', description: 'This sign-in has expired' };
    }
    this.pending.delete(form.requestId!);
    if (form.decision !== 'approve') {
      return {
        kind: 'redirect',
        location: withParams(request.redirectUri, {
          error: 'access_denied',
          error_description: 'The user declined',
          state: request.state,
        }),
      };
    }
    const needsPatient = request.scope.split(' ').includes('launch/patient');
    if (!form.practitioner || !FHIR_ID.test(form.practitioner) || (needsPatient && !FHIR_ID.test(form.patient ?? ''))) {
      return { kind: 'error', status: 400, error: 'invalid_request', description: 'Choose a user and a patient' };
    }
    return this.approve(request, form.practitioner, needsPatient ? form.patient : undefined);
  }

  /**
   * The token endpoint for `grant_type=authorization_code`: the code must be known, unexpired and unused, issued to
   * this client for this redirect URI, and the verifier must hash to the code's challenge.
   */
  async exchange(form: Record<string, unknown>, audience: string, issuer: string): Promise<TokenResult> {
    const parsed = CodeTokenFormSchema.safeParse(form);
    if (!parsed.success) return oauthError(400, 'invalid_request', 'Malformed token request');
    const { code, redirect_uri, client_id, code_verifier } = parsed.data;
    if (!client_id || !this.clients.has(client_id)) return oauthError(401, 'invalid_client', 'Unknown client_id');
    if (!code || !redirect_uri || !code_verifier) {
      return oauthError(400, 'invalid_request', 'code, redirect_uri and code_verifier are required');
    }
    const issued = this.codes.get(code);
    if (!issued || issued.expiresAt <= this.now()) {
      return oauthError(400, 'invalid_grant', 'The code is unknown or expired');
    }
    if (issued.redeemedWith !== undefined) {
      // A code presented twice: refuse, and revoke what the first use got (RFC 6749 §4.1.2).
      this.tokens.revoke(issued.redeemedWith);
      this.codes.delete(code);
      return oauthError(400, 'invalid_grant', 'The code was already used');
    }
    if (issued.request.clientId !== client_id) return oauthError(400, 'invalid_grant', 'The code is another client’s');
    if (issued.request.redirectUri !== redirect_uri) {
      return oauthError(400, 'invalid_grant', 'redirect_uri differs from the authorization request');
    }
    if (!B64URL_43_128.test(code_verifier) || !sameText(s256(code_verifier), issued.request.codeChallenge)) {
      return oauthError(400, 'invalid_grant', 'code_verifier does not match the code_challenge');
    }
    const scopes = issued.request.scope.split(' ').filter(Boolean);
    const { token, expiresIn } = this.tokens.grantUser(client_id, issued.request.scope);
    issued.redeemedWith = token;
    const fhirUser = `Practitioner/${issued.practitioner}`;
    const body: Record<string, string | number> = {
      access_token: token,
      token_type: 'Bearer',
      expires_in: expiresIn,
      scope: issued.request.scope,
    };
    if (issued.patient !== undefined) body.patient = issued.patient;
    if (scopes.includes('fhirUser') || scopes.includes('openid')) body.fhirUser = fhirUser;
    if (scopes.includes('openid') && scopes.includes('fhirUser')) {
      body.id_token = await this.idToken({ issuer, audience: client_id, fhirUser: `${audience}/${fhirUser}` });
    }
    return { status: 200, body };
  }

  /** The public key that signs id_tokens, as a JWKS (`jwks_uri`). */
  async jwks(): Promise<{ keys: JWK[] }> {
    return { keys: [(await this.key()).publicJwk] };
  }

  private approve(request: AuthorizationRequest, practitioner: string, patient: string | undefined): AuthorizeResult {
    const code = newId();
    this.codes.set(code, { request, practitioner, patient, expiresAt: this.now() + CODE_LIFETIME_S * 1000 });
    return { kind: 'redirect', location: withParams(request.redirectUri, { code, state: request.state }) };
  }

  private async idToken(claims: { issuer: string; audience: string; fhirUser: string }): Promise<string> {
    const { privateKey, publicJwk } = await this.key();
    const nowS = Math.floor(this.now() / 1000);
    return new SignJWT({ fhirUser: claims.fhirUser })
      .setProtectedHeader({ alg: 'ES256', kid: publicJwk.kid ?? 'sandbox' })
      .setIssuer(claims.issuer)
      .setAudience(claims.audience)
      .setSubject(claims.fhirUser)
      .setIssuedAt(nowS)
      .setExpirationTime(nowS + ID_TOKEN_LIFETIME_S)
      .sign(privateKey);
  }

  private key(): Promise<{ privateKey: CryptoKey; publicJwk: JWK }> {
    this.signingKey ??= generateKeyPair('ES256').then(async ({ privateKey, publicKey }) => ({
      privateKey,
      publicJwk: { ...(await exportJWK(publicKey)), kid: 'sandbox-id-token', alg: 'ES256', use: 'sig' },
    }));
    return this.signingKey;
  }

  private purge(): void {
    const now = this.now();
    for (const [id, l] of this.launches) if (l.expiresAt <= now) this.launches.delete(id);
    for (const [id, p] of this.pending) if (p.expiresAt <= now) this.pending.delete(id);
    // A used code is kept until it expires, so that a second use is recognised as such.
    for (const [code, c] of this.codes) if (c.expiresAt <= now) this.codes.delete(code);
  }
}

function oauthError(status: 400 | 401, error: string, description: string): TokenResult {
  return { status, body: { error, error_description: description } };
}

/** `url` with `params` added to its query. */
function withParams(url: string, params: Record<string, string>): string {
  const u = new URL(url);
  for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
  return u.toString();
}
