import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import type { Context, MiddlewareHandler } from 'hono';
import { createMiddleware } from 'hono/factory';
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  decodeJwt,
  decodeProtectedHeader,
  jwtVerify,
  type JWTPayload,
  type JWTVerifyGetKey,
} from 'jose';
import type { Bundle } from '@medplum/fhirtypes';
import { publicUrl } from '../../connectors/config.ts';
import type { ClinicFhir } from '../../connectors/fhir/clinic-connectors.ts';
import type { CdsClient, Clinic } from '../../connectors/db/index.ts';
import { AppError, jsonPath } from '../../rules/index.ts';
import { localDateOf } from '../../rules/zone-time.ts';
import { CdsCardSchema, type CdsService } from '../cds-types.ts';
import type { ApiDeps } from '../deps.ts';
import type { ApiEnv } from '../env.ts';
import { errorResponses, openApiRouter } from '../errors.ts';
import { KIND_APIS } from '../kinds/index.ts';
import { clinicRateLimit } from '../middleware/rate-limit.ts';

// CDS Hooks 2.0 (https://cds-hooks.hl7.org/2.0/) on the same server (issue 12 §2): discovery, each kind's services
// (api/kinds/<k>/cds.ts, from the API's kind registry), feedback. The EHR authenticates with a JWT it signs
// (`Authorization: Bearer`), verified with jose against the keys registered for its `iss` (store.cdsClients, one clinic
// per issuer, migration 0016). Every evaluation and every feedback item leaves an audit row (ids only).

/** The services every kind offers, by id. */
function services(): CdsService[] {
  return KIND_APIS.flatMap((k) => k.cdsServices ?? []);
}

const ALGORITHMS = ['ES384', 'RS384', 'ES256', 'RS256', 'ES512', 'RS512', 'PS384'];
const remoteSets = new Map<string, JWTVerifyGetKey>();
const PREFETCH_TIMEOUT_MS = 2_000;
/** Prefetch keys one request may fetch itself (the rest of a long template list is refused). */
const MAX_PREFETCH_FETCHES = 10;

/** A token is at most this old (seconds since `iat`), and its jti is remembered that long at most. */
const MAX_TOKEN_AGE_S = 300;
const MAX_JTI_LENGTH = 256;
/** Expired jtis are deleted at most this often per process. */
const JTI_SWEEP_MS = 60_000;

const unauthenticated = (message: string) => new AppError('UNAUTHENTICATED', message);

/** The keys of a registered client: its inline JWKS, or its JWKS URL (cached, refreshed by jose on unknown `kid`). */
function keysOf(client: CdsClient, jku: string | undefined): JWTVerifyGetKey {
  if (client.jwks) return createLocalJWKSet(client.jwks);
  const url = client.jwksUrl!;
  // A `jku` header must name the registered URL: an EHR's token never picks where its keys come from.
  if (jku !== undefined && jku !== url) throw unauthenticated('The token’s jku is not the registered JWKS URL');
  let set = remoteSets.get(url);
  if (!set) {
    set = createRemoteJWKSet(new URL(url), { timeoutDuration: 2_000, cooldownDuration: 30_000 });
    remoteSets.set(url, set);
  }
  return set;
}

type CdsEnv = { Variables: ApiEnv['Variables'] & { cdsClinic: Clinic } };

/**
 * Verifies the EHR's JWT: signed by a key of the client registered for its `iss`, `aud` this endpoint's URL, not
 * expired, at most 5 minutes old, with a `jti` not seen before (store.cdsClients.claimJti, migration 0018). An unknown
 * issuer is answered like a bad signature.
 */
function cdsAuth(deps: ApiDeps) {
  let lastJtiSweep = 0;
  return createMiddleware<CdsEnv>(async (c, next) => {
    const header = c.req.header('authorization') ?? '';
    const token = /^Bearer\s+([A-Za-z0-9_\-.]+)$/.exec(header)?.[1];
    if (!token) throw unauthenticated('A CDS Hooks JWT is required (Authorization: Bearer)');
    let iss: unknown;
    let jku: unknown;
    try {
      iss = decodeJwt(token).iss;
      jku = decodeProtectedHeader(token).jku;
    } catch {
      throw unauthenticated('Malformed JWT');
    }
    const client = typeof iss === 'string' ? await deps.store.cdsClients.get(iss) : null;
    if (!client) throw unauthenticated('Invalid JWT');
    const audience = `${publicUrl(deps.config)}${c.req.path}`;
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, keysOf(client, typeof jku === 'string' ? jku : undefined), {
        issuer: client.iss,
        audience,
        algorithms: ALGORITHMS,
        maxTokenAge: MAX_TOKEN_AGE_S,
        requiredClaims: ['exp', 'iat', 'jti'],
        currentDate: deps.now(),
      }));
    } catch (err) {
      if (err instanceof AppError) throw err;
      throw unauthenticated('Invalid JWT');
    }
    // Replay: a jti is accepted once while its token could be (until `exp`, at most `iat` + 5 minutes), across
    // replicas (the database's primary key decides). Checked after the signature, so only the EHR can fill the table.
    const { jti, exp, iat } = payload as { jti: unknown; exp: number; iat: number };
    if (typeof jti !== 'string' || jti.length === 0 || jti.length > MAX_JTI_LENGTH)
      throw unauthenticated('Invalid JWT');
    const now = deps.now();
    const expiresAt = new Date(Math.min(exp, iat + MAX_TOKEN_AGE_S) * 1000);
    if (now.getTime() - lastJtiSweep >= JTI_SWEEP_MS) {
      lastJtiSweep = now.getTime();
      await deps.store.cdsClients.deleteExpiredJtis(now);
    }
    if (!(await deps.store.cdsClients.claimJti(client.iss, jti, expiresAt, now))) {
      throw unauthenticated('JWT replayed: its jti was already used');
    }
    const clinic = await deps.store.clinics.get(client.clinicId);
    if (!clinic) throw unauthenticated('Invalid JWT');
    c.set('cdsClinic', clinic);
    await next();
  });
}

const ServiceParam = z.object({
  id: z
    .string()
    .regex(/^[a-z0-9-]{1,64}$/)
    .openapi({ example: 'my-service' }),
});

const DiscoverySchema = z
  .object({
    services: z.array(
      z.object({
        hook: z.string(),
        id: z.string(),
        title: z.string(),
        description: z.string(),
        prefetch: z.record(z.string(), z.string()),
      }),
    ),
  })
  .openapi('CdsDiscovery');

const HookRequestSchema = z
  .object({
    hook: z.string().min(1).max(64),
    hookInstance: z.string().min(1).max(128),
    fhirServer: z
      .url({ protocol: /^https?$/ })
      .max(2048)
      .optional(),
    fhirAuthorization: z
      .object({
        access_token: z.string().min(1).max(8192),
        token_type: z.literal('Bearer'),
        expires_in: z.number().int().nonnegative(),
        scope: z.string().max(4096),
        subject: z.string().max(256),
        patient: z.string().max(64).optional(),
      })
      .optional(),
    context: z.record(z.string(), z.unknown()),
    prefetch: z.record(z.string(), z.unknown()).optional(),
  })
  .openapi('CdsHookRequest');

const HookResponseSchema = z.object({ cards: z.array(CdsCardSchema) }).openapi('CdsHookResponse');

const FeedbackSchema = z
  .object({
    feedback: z
      .array(
        z.object({
          card: z.string().min(1).max(128),
          outcome: z.enum(['accepted', 'overridden']),
          acceptedSuggestions: z
            .array(z.object({ id: z.string().min(1).max(128) }))
            .max(20)
            .optional(),
          overrideReason: z
            .object({
              reason: z
                .object({ code: z.string().max(128), system: z.string().max(512).optional() })
                .passthrough()
                .optional(),
              userComment: z.string().max(2000).optional(),
            })
            .optional(),
          outcomeTimestamp: z.iso.datetime({ offset: true }),
        }),
      )
      .min(1)
      .max(50),
  })
  .openapi('CdsFeedback');

const jwtSecurity = [{ bearer: [] }];

const discoveryRoute = createRoute({
  method: 'get',
  path: '/cds-services',
  summary: 'CDS Hooks discovery: the services, with their hooks and prefetch templates',
  responses: {
    200: { description: 'The services', content: { 'application/json': { schema: DiscoverySchema } } },
    ...errorResponses(),
  },
});

const hookRoute = createRoute({
  method: 'post',
  path: '/cds-services/{id}',
  summary: 'Call a CDS service (the EHR’s signed JWT; CDS Hooks 2.0)',
  description:
    'The EHR signs a JWT (`iss` registered for a clinic, `aud` this URL, `exp`, `iat` ≤ 5 minutes old, a `jti` not ' +
    'used before: a replay is 401) with a key of its registered JWKS (URL or inline; a `jku` header must name the ' +
    'registered URL). Prefetch the request leaves out is read from `fhirServer` (which must be the clinic’s FHIR ' +
    'base URL) with `fhirAuthorization`, or without it through the clinic’s configured FHIR connection (422 where ' +
    'the server has none); each such read is audited. The clinic’s protocol is evaluated synchronously; every card ' +
    'carries the protocol id and version. Each evaluation is audited.',
  security: jwtSecurity,
  request: {
    params: ServiceParam,
    body: { content: { 'application/json': { schema: HookRequestSchema } }, required: true },
  },
  responses: {
    200: { description: 'Cards', content: { 'application/json': { schema: HookResponseSchema } } },
    ...errorResponses(400, 401, 404, 422, 502, 503),
  },
});

const feedbackRoute = createRoute({
  method: 'post',
  path: '/cds-services/{id}/feedback',
  summary: 'Feedback on cards: accepted or overridden (recorded for analytics, audited)',
  security: jwtSecurity,
  request: {
    params: ServiceParam,
    body: { content: { 'application/json': { schema: FeedbackSchema } }, required: true },
  },
  responses: {
    200: { description: 'Recorded', content: { 'application/json': { schema: z.object({}) } } },
    ...errorResponses(400, 401, 404),
  },
});

function serviceOf(id: string): CdsService {
  const service = services().find((s) => s.id === id);
  if (!service) throw new AppError('NOT_FOUND', 'No such CDS service');
  return service;
}

/** `{{context.x}}` of a prefetch template, from the hook's context (ids only: anything else is refused). */
function fillTemplate(template: string, context: Record<string, unknown>): string {
  return template.replace(/\{\{context\.(\w+)\}\}/g, (_m, key: string) => {
    const v = context[key];
    if (typeof v !== 'string' || !/^[A-Za-z0-9\-.]{1,64}$/.test(v)) {
      throw new AppError('INVALID_INPUT', `Invalid hook request at $.context.${key}: not a FHIR id`, {
        issues: [{ path: `$.context.${key}`, message: 'not a FHIR id' }],
      });
    }
    return encodeURIComponent(v);
  });
}

/** Counts of a prefetch read by resource type (what its audit row records: never content). */
function resourceCounts(values: readonly unknown[]): Record<string, number> {
  const counts: Record<string, number> = {};
  const count = (r: unknown) => {
    const type = (r as { resourceType?: unknown } | null)?.resourceType;
    if (typeof type === 'string') counts[type] = (counts[type] ?? 0) + 1;
  };
  for (const v of values) {
    const entries = (v as { resourceType?: unknown; entry?: unknown } | null)?.entry;
    if ((v as { resourceType?: unknown } | null)?.resourceType === 'Bundle' && Array.isArray(entries)) {
      for (const e of entries) count((e as { resource?: unknown } | null)?.resource);
    } else count(v);
  }
  return counts;
}

/**
 * The prefetch the EHR left out: read from its FHIR server with the token it sent (only the clinic's own FHIR base
 * URL: the request cannot point us elsewhere), or, without `fhirAuthorization`, through the clinic's own connector
 * (its SMART Backend Services connection, as the worker reads; searches' further pages followed). Either read is
 * audited (`patient_context.read`, ids and counts only).
 */
async function completePrefetch(
  deps: ApiDeps,
  service: CdsService,
  clinic: Clinic,
  body: z.infer<typeof HookRequestSchema>,
  requestId: string,
): Promise<Record<string, unknown>> {
  const prefetch = { ...body.prefetch };
  const missing = Object.entries(service.prefetch).filter(([key]) => !(key in prefetch));
  if (missing.length === 0) return prefetch;
  if (missing.length > MAX_PREFETCH_FETCHES) throw new AppError('UNPROCESSABLE', 'Too much prefetch missing');
  const queries = missing.map(([key, template]) => [key, fillTemplate(template, body.context)] as const);
  let via: 'fhirAuthorization' | 'clinic_connector';
  let roundTrips: number;
  if (body.fhirAuthorization) {
    via = 'fhirAuthorization';
    roundTrips = await fetchWithEhrToken(clinic, body, queries, prefetch);
  } else if (deps.clinicFhir) {
    via = 'clinic_connector';
    roundTrips = await fetchWithConnector(deps.clinicFhir, clinic, requestId, queries, prefetch);
  } else {
    throw new AppError('UNPROCESSABLE', 'Prefetch missing and no fhirAuthorization to read it with', {
      issues: missing.map(([key]) => ({ path: `$.prefetch.${key}`, message: 'missing' })),
    });
  }
  const patientId = body.context.patientId;
  await deps.store.audit.appendAudit({
    // Our own connection is the system's read (as the worker's); with the EHR's token, the EHR's, like the call.
    ...(via === 'clinic_connector'
      ? { actorType: 'system' as const, actorId: 'api' }
      : { actorType: 'ehr' as const, actorId: clinic.id }),
    action: 'patient_context.read',
    clinicId: clinic.id,
    requestId,
    detail: {
      patientId: typeof patientId === 'string' ? patientId : null,
      service: service.id,
      hookInstance: body.hookInstance,
      via,
      prefetch: missing.map(([key]) => key),
      roundTrips,
      resourceCounts: resourceCounts(missing.map(([key]) => prefetch[key])),
    },
  });
  return prefetch;
}

/** Reads each query from `fhirServer` with the EHR's `fhirAuthorization` (one GET each); returns the round trips. */
async function fetchWithEhrToken(
  clinic: Clinic,
  body: z.infer<typeof HookRequestSchema>,
  queries: readonly (readonly [string, string])[],
  prefetch: Record<string, unknown>,
): Promise<number> {
  const base = (body.fhirServer ?? '').replace(/\/+$/, '');
  if (!body.fhirServer || base !== clinic.fhirBaseUrl.replace(/\/+$/, '')) {
    throw new AppError('INVALID_INPUT', 'Invalid hook request at $.fhirServer: not the clinic’s FHIR server', {
      issues: [{ path: '$.fhirServer', message: 'not the clinic’s FHIR server' }],
    });
  }
  const token = body.fhirAuthorization!.access_token;
  await Promise.all(
    queries.map(async ([key, query]) => {
      let res: Response;
      try {
        res = await fetch(`${base}/${query}`, {
          headers: { authorization: `Bearer ${token}`, accept: 'application/fhir+json' },
          redirect: 'error',
          signal: AbortSignal.timeout(PREFETCH_TIMEOUT_MS),
        });
      } catch {
        throw new AppError('EHR_UNAVAILABLE', 'The EHR’s FHIR server did not answer the prefetch', { retryable: true });
      }
      if (res.status === 404) {
        prefetch[key] = null;
        return;
      }
      if (!res.ok) throw new AppError('EHR_REJECTED', `The EHR’s FHIR server answered ${res.status} to a prefetch`);
      prefetch[key] = await res.json();
    }),
  );
  return queries.length;
}

/**
 * Reads the queries through the clinic's connector: one batch Bundle where the EHR offers batch (else in parallel),
 * each search's further pages followed, as one searchset Bundle per key; a read the EHR answers 404 is null.
 */
async function fetchWithConnector(
  clinicFhir: ClinicFhir,
  clinic: Clinic,
  requestId: string,
  queries: readonly (readonly [string, string])[],
  prefetch: Record<string, unknown>,
): Promise<number> {
  return clinicFhir.withRequestId(requestId, async () => {
    const session = (await clinicFhir.forClinic(clinic.id)).session();
    const results = await session.batch(queries.map(([, url]) => ({ method: 'GET', url })));
    await Promise.all(
      results.map(async (r, i) => {
        const [key, url] = queries[i]!;
        if (!r.ok) {
          if (r.status === 404) {
            prefetch[key] = null;
            return;
          }
          throw r.error;
        }
        const resource = r.resource as { resourceType?: string; type?: string } | undefined;
        if (resource?.resourceType === 'Bundle' && resource.type === 'searchset') {
          const type = url.split('?')[0]!;
          const { matches, included } = await session.searchPages(resource as Bundle, type);
          prefetch[key] = {
            resourceType: 'Bundle',
            type: 'searchset',
            entry: [
              ...matches.map((m) => ({ resource: m, search: { mode: 'match' } })),
              ...included.map((m) => ({ resource: m, search: { mode: 'include' } })),
            ],
          };
        } else prefetch[key] = resource ?? null;
      }),
    );
    return session.roundTrips;
  });
}

export function cdsHookRoutes(deps: ApiDeps): OpenAPIHono<ApiEnv> {
  const app = openApiRouter();
  const auth = cdsAuth(deps);
  const perClinic = clinicRateLimit<CdsEnv>(deps, (c) => `cds:${c.get('cdsClinic').id}`);
  // Authenticate (and rate-limit per clinic) before the body is validated; discovery is public.
  const onPost =
    (mw: MiddlewareHandler<CdsEnv>): MiddlewareHandler<ApiEnv> =>
    (c, next) =>
      c.req.method === 'POST' ? mw(c as unknown as Context<CdsEnv, string>, next) : next();
  app.use('/cds-services/:id', onPost(auth), onPost(perClinic));
  app.use('/cds-services/:id/feedback', onPost(auth), onPost(perClinic));

  app.openapi(discoveryRoute, (c) =>
    c.json(
      {
        services: services().map((s) => ({
          hook: s.hook,
          id: s.id,
          title: s.title,
          description: s.description,
          prefetch: s.prefetch,
        })),
      },
      200,
    ),
  );

  app.openapi(hookRoute, async (c) => {
    const service = serviceOf(c.req.valid('param').id);
    const clinic = (c as unknown as Context<CdsEnv>).get('cdsClinic');
    const body = c.req.valid('json');
    if (body.hook !== service.hook) {
      throw new AppError('INVALID_INPUT', `Invalid hook request at $.hook: this service answers ${service.hook}`, {
        issues: [{ path: '$.hook', message: `this service answers ${service.hook}` }],
      });
    }
    const context = service.context.safeParse(body.context);
    if (!context.success) {
      const issues = context.error.issues.map((i) => ({ path: jsonPath(['context', ...i.path]), message: i.message }));
      throw new AppError('INVALID_INPUT', `Invalid hook request at ${issues[0]!.path}: ${issues[0]!.message}`, {
        issues,
      });
    }
    const requestId = c.get('requestId');
    const prefetch = await completePrefetch(deps, service, clinic, body, requestId);
    const at = deps.now().toISOString();
    const { cards, audit } = await service.evaluate(deps, {
      clinic,
      hookInstance: body.hookInstance,
      context: context.data,
      prefetch,
      requestId,
      asOf: localDateOf(at, clinic.timezone),
    });
    const userId = context.data.userId;
    await deps.store.audit.appendAudit({
      at,
      actorType: 'ehr',
      actorId: clinic.id,
      action: 'cds.evaluated',
      clinicId: clinic.id,
      requestId,
      protocolId: audit.protocol?.id ?? null,
      protocolVersion: audit.protocol?.version ?? null,
      detail: {
        service: service.id,
        hookInstance: body.hookInstance,
        userId: typeof userId === 'string' ? userId : null,
        patientId: audit.patientId,
        dispositions: audit.dispositions,
        cards: cards.map((card) => card.uuid),
      },
    });
    return c.json({ cards }, 200);
  });

  app.openapi(feedbackRoute, async (c) => {
    const service = serviceOf(c.req.valid('param').id);
    const clinic = (c as unknown as Context<CdsEnv>).get('cdsClinic');
    const requestId = c.get('requestId');
    for (const [i, item] of c.req.valid('json').feedback.entries()) {
      await deps.store.audit.appendAudit({
        actorType: 'ehr',
        actorId: clinic.id,
        action: 'cds.feedback',
        clinicId: clinic.id,
        requestId,
        idempotencyKey: `cds-feedback:${clinic.id}:${item.card}:${item.outcome}:${i}:${item.outcomeTimestamp}`,
        // Ids and codes only: a clinician's free-text comment is not recorded.
        detail: {
          service: service.id,
          card: item.card,
          outcome: item.outcome,
          acceptedSuggestions: (item.acceptedSuggestions ?? []).map((s) => s.id),
          overrideReason: item.overrideReason?.reason?.code ?? null,
          outcomeTimestamp: item.outcomeTimestamp,
        },
      });
    }
    return c.json({}, 200);
  });
  return app;
}
