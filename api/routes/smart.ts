import { randomBytes, createHash, timingSafeEqual } from 'node:crypto';
import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import { decodeJwt } from 'jose';
import { publicUrl } from '../../connectors/config.ts';
import { FhirUserSchema, type LaunchMode } from '../../connectors/db/index.ts';
import { createEgressFetch, egressPolicy } from '../../connectors/fhir/egress.ts';
import { AppError } from '../../rules/index.ts';
import { RoleSchema } from '../../rules/schema/case.ts';
import type { ApiDeps } from '../deps.ts';
import type { ApiEnv } from '../env.ts';
import { errorResponses, openApiRouter } from '../errors.ts';
import { requireRole, storeTokenLookup } from '../middleware/auth.ts';

// SMART App Launch 2.x (issue 12 §3): a clinician opens the console from the EHR (EHR launch: `iss` + `launch`) or
// signs in through it (standalone launch: `iss` only). We are a public client using the authorization code flow with
// PKCE (S256). `iss` must be the FHIR base of a clinic with a registered SMART client, so the API never fetches (SSRF)
// or redirects to (open redirect) an address an admin did not configure. The state and the PKCE verifier stay in the
// database (a short-lived row keyed by the state's hash) and the state is bound to the browser by an HttpOnly cookie.
// The callback exchanges the code server-to-server, maps `fhirUser` to our user and role, and leaves a one-time
// hand-off code in another HttpOnly cookie; the console takes it (POST /smart/session) for one of our session tokens.
// Neither the token nor any code ever appears in a URL we control.

const LAUNCH_LIFETIME_S = 600;
const HANDOFF_LIFETIME_S = 60;
const FETCH_TIMEOUT_MS = 5000;
const MAX_EHR_JSON_BYTES = 64 * 1024;
const STATE_COOKIE = 'smart_state';
const HANDOFF_COOKIE = 'smart_handoff';
const SCOPES: Record<LaunchMode, string> = {
  ehr: 'launch openid fhirUser',
  standalone: 'launch/patient openid fhirUser',
};

const SmartConfigurationSchema = z.looseObject({
  authorization_endpoint: z.url({ protocol: /^https?$/ }),
  token_endpoint: z.url({ protocol: /^https?$/ }),
  code_challenge_methods_supported: z.array(z.string()).optional(),
});
const TokenResponseSchema = z.looseObject({
  access_token: z.string().min(1),
  token_type: z.string().refine((t) => t.toLowerCase() === 'bearer'),
  patient: z
    .string()
    .regex(/^[A-Za-z0-9\-.]{1,64}$/)
    .optional(),
  fhirUser: z.string().max(2048).optional(),
  id_token: z.string().max(16_384).optional(),
});

/**
 * OAuth's `1*VSCHAR` (RFC 6749 Appendix A: codes, states, launch ids). The query limits keep every request line far
 * below Node's 16 KB header limit, which would otherwise answer an undocumented 431 before the route is reached.
 */
const Vschar = z.string().regex(/^[\x20-\x7e]+$/, 'printable ASCII');

const html = (description: string) => ({
  description,
  content: { 'text/html': { schema: z.string().openapi({ description: 'A page for the person in the browser' }) } },
});
const redirect = (description: string) => ({
  description,
  headers: { Location: { description: 'Where the browser goes next', schema: { type: 'string' as const } } },
});

const launchRoute = createRoute({
  method: 'get',
  path: '/smart/launch',
  summary: 'SMART App Launch: sign in through the clinic’s EHR (EHR launch with `launch`; standalone without)',
  description:
    'A page the EHR (or a person) opens, not an API call. `iss` must be the FHIR base of a clinic with a registered ' +
    'SMART client (PUT /v1/clinics/{clinicId}/smart-app); any other is refused. Discovers the EHR’s ' +
    '`.well-known/smart-configuration` and redirects to its authorization endpoint (authorization code, PKCE S256).',
  request: {
    query: z.object({
      iss: z.url({ protocol: /^https?$/ }).max(512),
      launch: Vschar.max(256).optional(),
    }),
  },
  responses: {
    302: redirect('To the EHR’s authorization endpoint (sets the HttpOnly `smart_state` cookie)'),
    400: html('The query breaks the schema'),
    404: html('No clinic has a SMART client at this EHR (`iss`)'),
    409: html('Several clinics have a SMART client at this EHR'),
    502: html('The EHR’s smart-configuration could not be read, or it does not support PKCE S256'),
    ...errorResponses<never>(),
  },
});

const callbackRoute = createRoute({
  method: 'get',
  path: '/smart/callback',
  summary: 'SMART App Launch: the redirect URI; exchanges the code and maps the EHR user to a console user',
  description:
    'The EHR sends the browser here. The state must match the browser’s `smart_state` cookie and a launch under ' +
    'way (single use, 10 minutes). The code is exchanged with the EHR server-to-server; `fhirUser` must be mapped ' +
    '(PUT /v1/clinics/{clinicId}/smart-users). Then the browser goes to the console with a one-time hand-off cookie.',
  request: {
    query: z.object({
      state: Vschar.max(128),
      code: Vschar.max(512).optional(),
      error: z
        .string()
        .regex(/^[a-z_]{1,64}$/)
        .optional(),
    }),
  },
  responses: {
    303: redirect('To the console (sets the HttpOnly `smart_handoff` cookie, good for 60 s)'),
    400: html('The query breaks the schema, or carries neither a code nor an error'),
    403: html(
      'Refused: the state does not match this browser or a launch under way, the EHR did not authorise, or the EHR ' +
        'user is not mapped to a console user. Nothing is issued.',
    ),
    502: html('The EHR refused the code exchange or answered something unusable'),
    ...errorResponses<never>(),
  },
});

const SessionView = z
  .object({
    token: z.string().openapi({ description: 'A bearer token for this API (an ordinary API token, revocable)' }),
    expiresAt: z.string(),
    userId: z.string(),
    role: RoleSchema,
    clinicId: z.string(),
    patientId: z
      .string()
      .nullable()
      .openapi({ description: 'The patient in context (FHIR id at the clinic’s EHR); null without one' }),
  })
  .openapi('SmartSession');

const sessionRoute = createRoute({
  method: 'post',
  path: '/smart/session',
  summary: 'SMART App Launch: the console takes the session of a finished sign-in (one-time, by cookie)',
  description:
    'Reads the HttpOnly `smart_handoff` cookie the callback set, once, within 60 s, and issues a session token ' +
    '(SMART_SESSION_TTL_HOURS, default 8 h) through the API token store: it expires, can be revoked and is listed ' +
    'like any other. Audited (`smart.signed_in`, actor: the mapped user).',
  responses: {
    200: { description: 'The session', content: { 'application/json': { schema: SessionView } } },
    ...errorResponses(401),
  },
});

const signOutRoute = createRoute({
  method: 'post',
  path: '/smart/sign-out',
  summary: 'SMART App Launch: end the session (revokes the calling SMART session token)',
  description:
    'The console’s *Sign out* for a session that came from a SMART sign-in: the bearer token is revoked at once. ' +
    'Other API tokens are refused (409): they belong to their owner, not to a browser tab. Audited (`token.revoked`).',
  security: [{ bearer: [] }],
  responses: { 204: { description: 'Revoked' }, ...errorResponses(401, 403, 409) },
});

/** A small page for the person in the browser; `message` is text (escaped here). */
function page(title: string, message: string): string {
  const esc = (t: string) => t.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
  return (
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" ` +
    `content="width=device-width, initial-scale=1"><meta name="referrer" content="no-referrer">` +
    `<title>${esc(title)} · ehr-autopilot</title><link rel="stylesheet" href="/console/app.css"></head><body>` +
    `<main id="main" class="card signin"><h1>${esc(title)}</h1><p>${esc(message)}</p>` +
    `<p><a href="/">Open the console</a></p></main></body></html>`
  );
}

const newSecret = () => randomBytes(32).toString('base64url');
const sameText = (a: string, b: string) => {
  const x = createHash('sha256').update(a).digest();
  const y = createHash('sha256').update(b).digest();
  return timingSafeEqual(x, y);
};
const oauthCode = (value: string | undefined) => (value && /^[a-z_]{1,40}$/.test(value) ? value : 'an error');

/** Reads a JSON body of at most `max` bytes (an EHR answer is small; a huge one is refused, not buffered). */
async function cappedJson(res: Response, max: number): Promise<unknown> {
  const reader = res.body?.getReader();
  if (!reader) return undefined;
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > max) {
      await reader.cancel();
      throw new Error('answer too large');
    }
    chunks.push(value);
  }
  return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
}

/** An EHR answer we refuse, described without its body (safe to log). */
class EhrAnswer extends Error {}

/** What went wrong, safe to log: our own description of an EHR answer, else only the error's class. */
function errorKind(err: unknown): string {
  if (err instanceof EhrAnswer) return err.message;
  if (err instanceof AppError) return err.code;
  return err instanceof Error ? err.name : 'unknown';
}

/** `fhirUser` as a relative reference: an absolute one must be under the clinic's FHIR base. */
function relativeFhirUser(fhirUser: string, fhirBaseUrl: string): string | null {
  const base = `${fhirBaseUrl.replace(/\/+$/, '')}/`;
  const relative = fhirUser.startsWith(base) ? fhirUser.slice(base.length) : fhirUser;
  return FhirUserSchema.safeParse(relative).success ? relative : null;
}

/** The browser side of SMART App Launch: `/smart/launch`, `/smart/callback` and `/smart/session`. */
export function smartRoutes(deps: ApiDeps): OpenAPIHono<ApiEnv> {
  const { store, config } = deps;
  const app = openApiRouter();
  const egress = egressPolicy(config);
  const ehrFetch = createEgressFetch(egress);
  const redirectUri = `${publicUrl(config)}/smart/callback`;
  const secure = redirectUri.startsWith('https:');
  app.use('/smart/*', async (c, next) => {
    await next();
    c.res.headers.set('Cache-Control', 'no-store');
    c.res.headers.set('Pragma', 'no-cache');
  });
  const refuse = (c: Context<ApiEnv>, status: 400 | 403 | 404 | 409 | 502, title: string, message: string) =>
    c.html(page(title, message), status);
  const badQuery = (result: { success: boolean }, c: Context<ApiEnv>) =>
    result.success ? undefined : refuse(c, 400, 'Sign-in failed', 'The link that opened this page is malformed.');

  app.openapi(
    launchRoute,
    async (c) => {
      const { iss, launch } = c.req.valid('query');
      const clients = await store.smart.clientsForIss(iss);
      if (clients.length === 0) {
        return refuse(c, 404, 'Unknown EHR', 'No clinic signs in through this EHR. Ask an admin to register it.');
      }
      if (clients.length > 1) {
        return refuse(c, 409, 'Ambiguous EHR', 'Several clinics sign in through this EHR; ask an admin to fix it.');
      }
      const client = clients[0]!;
      let conf: z.infer<typeof SmartConfigurationSchema>;
      try {
        const res = await ehrFetch(`${client.fhirBaseUrl.replace(/\/+$/, '')}/.well-known/smart-configuration`, {
          headers: { accept: 'application/json' },
          signal: AbortSignal.timeout(FETCH_TIMEOUT_MS),
        });
        if (!res.ok) throw new EhrAnswer(`status ${res.status}`);
        conf = SmartConfigurationSchema.parse(await cappedJson(res, MAX_EHR_JSON_BYTES));
      } catch (err) {
        // The error's class only: a parser's message can quote the body.
        c.get('logger').warn({ clinicId: client.clinicId, error: errorKind(err) }, 'smart: discovery failed');
        return refuse(c, 502, 'The EHR did not answer', 'The EHR’s SMART configuration could not be read.');
      }
      if (!conf.code_challenge_methods_supported?.includes('S256')) {
        return refuse(c, 502, 'The EHR cannot be used', 'The EHR does not support PKCE (S256).');
      }
      if (egress.requireHttps && !conf.authorization_endpoint.startsWith('https:')) {
        return refuse(c, 502, 'The EHR cannot be used', 'The EHR’s authorization endpoint is not https.');
      }
      const state = newSecret();
      const codeVerifier = newSecret();
      const mode: LaunchMode = launch === undefined ? 'standalone' : 'ehr';
      await store.smart.createLaunch(state, {
        clinicId: client.clinicId,
        clientId: client.clientId,
        redirectUri,
        tokenEndpoint: conf.token_endpoint,
        codeVerifier,
        mode,
        expiresAt: new Date(deps.now().getTime() + LAUNCH_LIFETIME_S * 1000).toISOString(),
      });
      setCookie(c, STATE_COOKIE, state, {
        httpOnly: true,
        secure,
        sameSite: 'Lax', // sent on the EHR's top-level redirect back to the callback
        path: '/smart/callback',
        maxAge: LAUNCH_LIFETIME_S,
      });
      const to = new URL(conf.authorization_endpoint);
      const params: Record<string, string> = {
        response_type: 'code',
        client_id: client.clientId,
        redirect_uri: redirectUri,
        scope: SCOPES[mode],
        state,
        aud: iss, // the EHR's own spelling of its base, which the launch named
        code_challenge: createHash('sha256').update(codeVerifier).digest('base64url'),
        code_challenge_method: 'S256',
        ...(launch !== undefined ? { launch } : {}),
      };
      for (const [k, v] of Object.entries(params)) to.searchParams.set(k, v);
      return c.redirect(to.toString(), 302);
    },
    badQuery,
  );

  app.openapi(
    callbackRoute,
    async (c) => {
      const q = c.req.valid('query');
      const cookie = getCookie(c, STATE_COOKIE);
      deleteCookie(c, STATE_COOKIE, { path: '/smart/callback', secure, httpOnly: true, sameSite: 'Lax' });
      if (!cookie || !sameText(cookie, q.state)) {
        return refuse(c, 403, 'Sign-in refused', 'This sign-in did not start in this browser. Open the app again.');
      }
      const launch = await store.smart.takeLaunch(q.state, deps.now());
      if (!launch)
        return refuse(c, 403, 'Sign-in expired', 'This sign-in has expired or was used. Open the app again.');
      if (q.error !== undefined) {
        return refuse(c, 403, 'Sign-in refused', `The EHR did not authorise the sign-in (${oauthCode(q.error)}).`);
      }
      if (q.code === undefined) return refuse(c, 400, 'Sign-in failed', 'The EHR sent neither a code nor an error.');
      const clinic = await store.clinics.get(launch.clinicId);
      if (!clinic) return refuse(c, 403, 'Sign-in refused', 'This clinic no longer exists.');

      let token: z.infer<typeof TokenResponseSchema>;
      try {
        const res = await ehrFetch(launch.tokenEndpoint, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
          body: new URLSearchParams({
            grant_type: 'authorization_code',
            code: q.code,
            redirect_uri: launch.redirectUri,
            client_id: launch.clientId,
            code_verifier: launch.codeVerifier,
          }),
          signal: AbortSignal.timeout(FETCH_TIMEOUT_MS),
        });
        const body = await cappedJson(res, MAX_EHR_JSON_BYTES).catch(() => undefined);
        if (!res.ok) {
          const error = (body as { error?: string } | undefined)?.error;
          throw new EhrAnswer(`token endpoint ${res.status} ${oauthCode(error)}`);
        }
        token = TokenResponseSchema.parse(body);
      } catch (err) {
        // The status and OAuth error code only: a parser's message can quote the body (tokens, the patient).
        c.get('logger').warn({ clinicId: launch.clinicId, error: errorKind(err) }, 'smart: code exchange failed');
        return refuse(c, 502, 'Sign-in failed', 'The EHR refused to complete the sign-in. Open the app again.');
      }
      // Who signed in: `fhirUser` of the token response, else the id_token's claim (received directly from the token
      // endpoint over TLS, so its signature need not be checked: OpenID Connect Core §3.1.3.7), meant for us.
      let claimed = token.fhirUser;
      if (claimed === undefined && token.id_token !== undefined) {
        try {
          const claims = decodeJwt(token.id_token);
          const aud = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
          if (aud.includes(launch.clientId) && typeof claims.fhirUser === 'string') claimed = claims.fhirUser;
        } catch {
          claimed = undefined;
        }
      }
      const fhirUser = claimed === undefined ? null : relativeFhirUser(claimed, clinic.fhirBaseUrl);
      if (fhirUser === null) {
        return refuse(c, 403, 'Sign-in refused', 'The EHR did not say who signed in (no usable fhirUser).');
      }
      const user = await store.smart.getUser(launch.clinicId, fhirUser);
      if (!user) {
        await store.audit.appendAudit({
          at: deps.now().toISOString(),
          actorType: 'ehr',
          actorId: fhirUser,
          action: 'smart.sign_in_refused',
          clinicId: launch.clinicId,
          requestId: c.get('requestId'),
          detail: { reason: 'unmapped_user', launch: launch.mode },
        });
        return refuse(
          c,
          403,
          'Sign-in refused',
          `Your EHR user (${fhirUser}) has no console account at this clinic. Ask an admin to map it.`,
        );
      }
      const handoff = newSecret();
      await store.smart.createHandoff(handoff, {
        clinicId: launch.clinicId,
        userId: user.userId,
        role: user.role,
        fhirUser,
        patientId: token.patient ?? null,
        mode: launch.mode,
        expiresAt: new Date(deps.now().getTime() + HANDOFF_LIFETIME_S * 1000).toISOString(),
      });
      setCookie(c, HANDOFF_COOKIE, handoff, {
        httpOnly: true,
        secure,
        sameSite: 'Lax',
        path: '/smart/session',
        maxAge: HANDOFF_LIFETIME_S,
      });
      return c.redirect('/#/smart', 303);
    },
    badQuery,
  );

  // Every role a SMART sign-in can map to (never `privacy`: smart-users refuses it).
  app.use('/smart/sign-out', requireRole(storeTokenLookup(store, deps.now)));
  app.openapi(signOutRoute, async (c) => {
    const principal = c.get('principal');
    const t = principal.tokenId ? await store.tokens.get(principal.tokenId) : null;
    if (!t || t.createdBy !== 'smart') {
      throw new AppError('CONFLICT', 'Only a SMART session token is revoked here; ask an admin to revoke other tokens');
    }
    await store.tokens.revoke(t.id, {
      at: deps.now().toISOString(),
      actorType: 'user',
      actorId: principal.userId,
      actorRole: principal.role,
      action: 'token.revoked',
      clinicId: t.clinicId,
      requestId: c.get('requestId'),
      detail: { role: t.role, userId: t.userId, reason: 'smart_sign_out' },
    });
    return c.body(null, 204);
  });

  app.openapi(sessionRoute, async (c) => {
    const code = getCookie(c, HANDOFF_COOKIE);
    deleteCookie(c, HANDOFF_COOKIE, { path: '/smart/session', secure, httpOnly: true, sameSite: 'Lax' });
    const now = deps.now();
    const handoff = code ? await store.smart.takeHandoff(code, now) : null;
    if (!handoff) throw new AppError('UNAUTHENTICATED', 'No SMART sign-in to take here (it expired or was taken)');
    const expiresAt = new Date(now.getTime() + config.SMART_SESSION_TTL_HOURS * 3_600_000).toISOString();
    const { token } = await store.tokens.createToken(
      {
        name: `SMART session (${handoff.mode} launch)`,
        role: handoff.role,
        userId: handoff.userId,
        clinicId: handoff.clinicId,
        expiresAt,
        createdBy: 'smart',
      },
      {
        at: now.toISOString(),
        actorType: 'user',
        actorId: handoff.userId,
        actorRole: handoff.role,
        action: 'smart.signed_in',
        clinicId: handoff.clinicId,
        requestId: c.get('requestId'),
        detail: {
          fhirUser: handoff.fhirUser,
          launch: handoff.mode,
          patientContext: handoff.patientId !== null,
          expiresAt,
        },
      },
    );
    return c.json(
      {
        token,
        expiresAt,
        userId: handoff.userId,
        role: handoff.role,
        clinicId: handoff.clinicId,
        patientId: handoff.patientId,
      },
      200,
    );
  });

  return app;
}
