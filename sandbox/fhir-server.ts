import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { serve, type HttpBindings } from '@hono/node-server';
import {
  badRequest,
  forbidden,
  getStatus,
  isResourceType,
  normalizeOperationOutcome,
  notFound,
  OperationOutcomeError,
  preconditionFailed,
  unauthorized,
  validateResource,
  type WithId,
} from '@medplum/core';
import type {
  Bundle,
  BundleEntry,
  CapabilityStatement,
  CapabilityStatementRestResource,
  OperationOutcome,
  OperationOutcomeIssue,
  Resource,
} from '@medplum/fhirtypes';
import { Hono, type Context } from 'hono';
import { requestId } from 'hono/request-id';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { Logger } from '../connectors/logger.ts';
import { IndexedRepository } from './indexed-repository.ts';
import { compiledParams } from './search-query.ts';
import { AppLaunchAuthority, RegisterAppSchema, type AppClient, type AuthorizeResult } from './smart-app-launch.ts';
import {
  RegisterClientSchema,
  SIGNING_ALGORITHMS,
  scopeAllows,
  SmartAuthority,
  type Grant,
  type SandboxClient,
  type ScopedInteraction,
} from './smart-auth.ts';

export const FHIR_BASE_PATH = '/fhir/R4';
export const FHIR_JSON = 'application/fhir+json; charset=utf-8';

/** Resource types the CapabilityStatement always lists (any type with data is listed too; all R4 types work). */
export const ADVERTISED_TYPES = [
  'AllergyIntolerance',
  'Appointment',
  'AuditEvent',
  'Communication',
  'CommunicationRequest',
  'Condition',
  'Coverage',
  'DetectedIssue',
  'DiagnosticReport',
  'Encounter',
  'Immunization',
  'Location',
  'Medication',
  'MedicationDispense',
  'MedicationRequest',
  'MedicationStatement',
  'Observation',
  'Organization',
  'Patient',
  'Practitioner',
  'PractitionerRole',
  'Procedure',
  'Provenance',
  'ServiceRequest',
  'Task',
] as const;

export interface SandboxOptions {
  /** The store to serve; a new empty one when absent. */
  repo?: IndexedRepository;
  /** Require `Authorization: Bearer` on FHIR interactions (metadata and smart-configuration stay open). Default true. */
  requireAuth?: boolean;
  /** Pre-registered SMART Backend Services clients. */
  clients?: readonly SandboxClient[];
  /** Pre-registered SMART App Launch clients (authorization code + PKCE, public). */
  appClients?: readonly AppClient[];
  /** Delay added before each FHIR response, in ms. */
  latencyMs?: number;
  /** Probability (0..1) that a FHIR interaction answers 503 with `Retry-After: 1`. */
  faultRate?: number;
  /** Random source for `faultRate` (tests pass a deterministic one). */
  random?: () => number;
  /** Validate create/update bodies against the R4 StructureDefinitions (Medplum's validator). Default true. */
  validate?: boolean;
  /** Public origin (`http://127.0.0.1:3001`) used in links; by default, the origin each request was sent to. */
  publicUrl?: string;
  logger?: Logger;
  /** Clock for token lifetimes (tests). */
  now?: () => number;
}

export interface RequestLogEntry {
  method: string;
  path: string;
  query: string;
  requestId: string;
  status: number;
  durationMs: number;
}

/** Forces the next `count` requests that match to fail with `status` (an OperationOutcome; `Retry-After: 1`). */
export interface FaultSpec {
  status: number;
  count: number;
  /** Path substring, RegExp on the path, or predicate; default: every FHIR interaction (not metadata/discovery). */
  match?: string | RegExp | ((request: { method: string; path: string }) => boolean);
}

export interface SandboxHandle {
  readonly repo: IndexedRepository;
  readonly auth: SmartAuthority;
  /** SMART App Launch: app clients, launch ids, authorization codes. */
  readonly apps: AppLaunchAuthority;
  /** Every HTTP request answered, oldest first (tests count round trips with it). */
  readonly requests: RequestLogEntry[];
  injectFaults(spec: FaultSpec): void;
  clearFaults(): void;
  /** Origin, e.g. `http://127.0.0.1:41234`. */
  readonly url: string;
  /** FHIR base URL, e.g. `http://127.0.0.1:41234/fhir/R4`. */
  readonly fhirBaseUrl: string;
  readonly port: number;
  registerClient(client: SandboxClient): void;
  registerApp(client: AppClient): void;
  close(): Promise<void>;
}

type SandboxEnv = {
  Bindings: Partial<HttpBindings>;
  Variables: { requestId: string; grant: Grant | undefined };
};
type Ctx = Context<SandboxEnv>;

interface Outcome {
  status: number;
  resource?: Resource;
  headers?: Record<string, string>;
}

const STATUS_TEXT: Record<number, string> = {
  200: 'OK',
  201: 'Created',
  204: 'No Content',
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  409: 'Conflict',
  412: 'Precondition Failed',
  422: 'Unprocessable Entity',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};
const OPEN_PATHS = new Set([`${FHIR_BASE_PATH}/metadata`, `${FHIR_BASE_PATH}/.well-known/smart-configuration`]);
const ID = /^[A-Za-z0-9\-.]{1,64}$/;

function operationOutcome(code: OperationOutcomeIssue['code'], diagnostics: string): OperationOutcome {
  return { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code, diagnostics }] };
}

function fhirResponse(c: Ctx, status: number, body: Resource | undefined, headers: Record<string, string> = {}) {
  if (body === undefined) return c.body(null, status as 204, headers);
  return c.body(JSON.stringify(body), status as ContentfulStatusCode, { 'Content-Type': FHIR_JSON, ...headers });
}

function outcomeResponse(c: Ctx, outcome: OperationOutcome, headers: Record<string, string> = {}) {
  return fhirResponse(c, getStatus(outcome), outcome, headers);
}

function isLoopback(address: string | undefined): boolean {
  return address === undefined || address === '::1' || /^(::ffff:)?127\./.test(address);
}

/**
 * The sandbox's mutable state: the repository, the SMART authority, the request log and the fault queue.
 * Why separate from the app: tests that call `app.request` still need the log and the fault hook.
 */
export class SandboxState {
  readonly repo: IndexedRepository;
  readonly auth: SmartAuthority;
  readonly apps: AppLaunchAuthority;
  readonly requests: RequestLogEntry[] = [];
  private readonly faults: FaultSpec[] = [];

  constructor(options: SandboxOptions = {}) {
    this.repo = options.repo ?? new IndexedRepository();
    this.auth = new SmartAuthority({ clients: options.clients, now: options.now });
    this.apps = new AppLaunchAuthority(this.auth, options.now);
    for (const client of options.appClients ?? []) this.apps.registerApp(client);
  }

  /** Queues a forced fault: the next `count` matching requests answer `status`. */
  injectFaults(spec: FaultSpec): void {
    if (!Number.isInteger(spec.count) || spec.count < 1) throw new Error('count must be a positive integer');
    this.faults.push({ ...spec });
  }

  clearFaults(): void {
    this.faults.length = 0;
  }

  /** Consumes one queued fault matching this request; its status, or undefined. */
  takeFault(method: string, path: string): number | undefined {
    const index = this.faults.findIndex((spec) => faultMatches(spec, method, path));
    const spec = this.faults[index];
    if (!spec) return undefined;
    if (--spec.count === 0) this.faults.splice(index, 1);
    return spec.status;
  }
}

function faultMatches(spec: Pick<FaultSpec, 'match'>, method: string, path: string): boolean {
  const { match } = spec;
  if (match === undefined) return path.startsWith(FHIR_BASE_PATH) && !OPEN_PATHS.has(path);
  if (typeof match === 'string') return path.includes(match);
  if (match instanceof RegExp) return match.test(path);
  return match({ method, path });
}

/**
 * The sandbox EHR as a Hono app: FHIR R4 REST on `/fhir/R4` (read, search, create with If-None-Exist, update,
 * delete, batch), SMART Backend Services on `/oauth2/*`, fault and latency injection, and a request log.
 * Never listens; `startSandbox` serves it, tests call `app.request`.
 */
export function createSandboxApp(options: SandboxOptions & { state?: SandboxState } = {}): Hono<SandboxEnv> {
  const state = options.state ?? new SandboxState(options);
  const { repo, auth, apps } = state;
  const requireAuth = options.requireAuth ?? true;
  const validate = options.validate ?? true;
  const random = options.random ?? Math.random;
  const capabilities = new Map<string, CapabilityStatement>();

  const origin = (c: Ctx): string => options.publicUrl ?? new URL(c.req.url).origin;
  const baseUrl = (c: Ctx): string => `${origin(c)}${FHIR_BASE_PATH}`;

  const app = new Hono<SandboxEnv>();
  app.use(requestId());
  app.use(async (c, next) => {
    const started = performance.now();
    await next();
    const url = new URL(c.req.url);
    state.requests.push({
      method: c.req.method,
      path: url.pathname,
      query: url.search,
      requestId: c.get('requestId'),
      status: c.res.status,
      durationMs: performance.now() - started,
    });
  });
  app.use(async (c, next) => {
    const path = new URL(c.req.url).pathname;
    const rate = options.faultRate ?? 0;
    const forced = state.takeFault(c.req.method, path);
    const status = forced ?? (rate > 0 && faultMatches({}, c.req.method, path) && random() < rate ? 503 : undefined);
    if (status !== undefined) {
      const headers: Record<string, string> = status === 503 || status === 429 ? { 'Retry-After': '1' } : {};
      return fhirResponse(c, status, operationOutcome('transient', `Injected fault (${status})`), headers);
    }
    await next();
  });

  app.onError((err, c) => {
    if (!(err instanceof OperationOutcomeError)) {
      options.logger?.error({ err, requestId: c.get('requestId') }, 'sandbox: unhandled error');
      return fhirResponse(c, 500, operationOutcome('exception', 'Internal error'));
    }
    return outcomeResponse(c, err.outcome);
  });
  app.notFound((c) => fhirResponse(c, 404, operationOutcome('not-found', 'No such endpoint')));

  // SMART Backend Services: discovery, token, run-time client registration.
  const tokenUrls = (c: Ctx): string[] => {
    const own = `${origin(c)}/oauth2/token`;
    const url = new URL(own);
    const alias = url.hostname === '127.0.0.1' ? 'localhost' : url.hostname === 'localhost' ? '127.0.0.1' : undefined;
    return alias ? [own, own.replace(`//${url.hostname}`, `//${alias}`)] : [own];
  };
  app.get(`${FHIR_BASE_PATH}/.well-known/smart-configuration`, (c) =>
    c.json({
      issuer: origin(c),
      token_endpoint: `${origin(c)}/oauth2/token`,
      authorization_endpoint: `${origin(c)}/oauth2/authorize`,
      registration_endpoint: `${origin(c)}/oauth2/register`,
      jwks_uri: `${origin(c)}/oauth2/jwks`,
      grant_types_supported: ['client_credentials', 'authorization_code'],
      response_types_supported: ['code'],
      code_challenge_methods_supported: ['S256'],
      token_endpoint_auth_methods_supported: ['private_key_jwt', 'none'],
      token_endpoint_auth_signing_alg_values_supported: [...SIGNING_ALGORITHMS],
      scopes_supported: [
        'system/*.rs',
        'system/*.cruds',
        'system/*.read',
        'system/*.write',
        'system/*.*',
        'openid',
        'fhirUser',
        'launch',
        'launch/patient',
        'user/*.rs',
        'patient/*.rs',
      ],
      capabilities: [
        'client-confidential-asymmetric',
        'client-public',
        'launch-ehr',
        'launch-standalone',
        'context-ehr-patient',
        'context-standalone-patient',
        'sso-openid-connect',
        'permission-patient',
        'permission-user',
        'permission-v1',
        'permission-v2',
      ],
    }),
  );
  app.post('/oauth2/token', async (c) => {
    const form: Record<string, unknown> = await c.req.parseBody().catch(() => ({}));
    const result =
      form.grant_type === 'authorization_code'
        ? await apps.exchange(form, baseUrl(c), origin(c))
        : await auth.issueToken(form, tokenUrls(c));
    return c.json(result.body, result.status, { 'Cache-Control': 'no-store', Pragma: 'no-cache' });
  });
  app.get('/oauth2/jwks', async (c) => c.json(await apps.jwks()));

  // SMART App Launch: the authorization endpoint, the standalone picker's answer, and "the EHR opens an app".
  const authorizeAnswer = (c: Ctx, result: AuthorizeResult) => {
    switch (result.kind) {
      case 'redirect':
        return c.redirect(result.location, 302);
      case 'error':
        return c.html(
          page('Sign-in refused', `<p>${escapeHtml(result.error)}: ${escapeHtml(result.description)}</p>`),
          400,
        );
      case 'pick':
        return c.html(pickerPage(repo, result.requestId, result.request.clientId, result.needsPatient));
    }
  };
  app.get('/oauth2/authorize', (c) => authorizeAnswer(c, apps.authorize(c.req.query(), baseUrl(c))));
  app.post('/oauth2/authorize', async (c) => {
    const form: Record<string, unknown> = await c.req.parseBody().catch(() => ({}));
    const text = (k: string) => (typeof form[k] === 'string' ? form[k] : undefined);
    const answer = apps.decide({
      requestId: text('request_id'),
      practitioner: text('practitioner'),
      patient: text('patient'),
      decision: text('decision'),
    });
    // After a form POST, 303: the browser follows with a GET.
    return answer.kind === 'redirect' ? c.redirect(answer.location, 303) : authorizeAnswer(c, answer);
  });
  app.get('/launch', (c) => {
    const { app: appUrl, patient, practitioner } = c.req.query();
    let target: URL | undefined;
    try {
      target = appUrl ? new URL(appUrl) : undefined;
    } catch {
      target = undefined;
    }
    const known = (type: string, id: string | undefined) => !!id && ID.test(id) && !!repo.read(type, id);
    if (
      !target ||
      !/^https?:$/.test(target.protocol) ||
      !known('Patient', patient) ||
      !known('Practitioner', practitioner)
    ) {
      return c.html(
        page(
          'EHR launch',
          '<p>Open an app as the EHR would: <code>/launch?app=&lt;launch URL&gt;&amp;patient=&lt;Patient id&gt;' +
            '&amp;practitioner=&lt;Practitioner id&gt;</code> (both must exist in this sandbox).</p>',
        ),
        400,
      );
    }
    const launch = apps.createLaunch({ patient: patient!, practitioner: practitioner! });
    target.searchParams.set('iss', baseUrl(c));
    target.searchParams.set('launch', launch);
    return c.redirect(target.toString(), 302);
  });
  app.post('/oauth2/register', async (c) => {
    if (!isLoopback(c.env?.incoming?.socket.remoteAddress)) {
      return c.json({ error: 'access_denied', error_description: 'Registration is open to loopback only' }, 403);
    }
    const body: unknown = await c.req.json().catch(() => undefined);
    const asApp = RegisterAppSchema.safeParse(body);
    if (asApp.success) {
      apps.registerApp({ clientId: asApp.data.client_id, redirectUris: asApp.data.redirect_uris });
      return c.json({ client_id: asApp.data.client_id, token_endpoint_auth_method: 'none' }, 201);
    }
    const parsed = RegisterClientSchema.safeParse(body);
    if (!parsed.success) {
      return c.json(
        {
          error: 'invalid_client_metadata',
          error_description: 'Expected { client_id, jwks } or { client_id, redirect_uris }',
        },
        400,
      );
    }
    auth.registerClient({ clientId: parsed.data.client_id, jwks: parsed.data.jwks });
    return c.json({ client_id: parsed.data.client_id }, 201);
  });

  // FHIR: latency and auth apply to everything under the base; metadata and discovery stay open.
  app.use(`${FHIR_BASE_PATH}/*`, async (c, next) => {
    if (options.latencyMs) await sleep(options.latencyMs);
    const path = new URL(c.req.url).pathname;
    if (requireAuth && !OPEN_PATHS.has(path)) {
      const grant = auth.authenticate(c.req.header('Authorization'));
      // `use` types its context input as any; the handler only needs the env.
      if (!grant) return outcomeResponse(c as Ctx, unauthorized, { 'WWW-Authenticate': 'Bearer' });
      c.set('grant', grant);
    }
    await next();
  });

  app.get(`${FHIR_BASE_PATH}/metadata`, (c) => {
    const base = baseUrl(c);
    const types = new Set<string>([...ADVERTISED_TYPES, ...Object.keys(repo.counts())]);
    const key = `${base} ${[...types].join(',')}`;
    let statement = capabilities.get(key);
    if (!statement) {
      statement = capabilityStatement(base, origin(c), [...types].sort());
      capabilities.clear();
      capabilities.set(key, statement);
    }
    return fhirResponse(c, 200, statement);
  });

  const allowed = (c: Ctx, resourceType: string, interaction: ScopedInteraction): void => {
    const grant = c.get('grant');
    if (grant && !scopeAllows(grant, resourceType, interaction)) throw new OperationOutcomeError(forbidden);
  };
  const checkType = (type: string): void => {
    if (!isResourceType(type)) throw new OperationOutcomeError(notFound);
  };
  const checkId = (id: string): void => {
    if (!ID.test(id)) throw new OperationOutcomeError(badRequest('Invalid id'));
  };
  const checkBody = (body: unknown, type: string): Resource => {
    if (!body || typeof body !== 'object' || Array.isArray(body)) {
      throw new OperationOutcomeError(badRequest('Body must be a JSON resource'));
    }
    const resource = body as Resource;
    if (resource.resourceType !== type) {
      throw new OperationOutcomeError(badRequest(`resourceType must be ${type}`, 'resourceType'));
    }
    // Throws an OperationOutcomeError (400) listing every structural problem.
    if (validate) validateResource(resource);
    return resource;
  };

  const interactions = {
    read(type: string, id: string): Outcome {
      checkType(type);
      checkId(id);
      const resource = repo.read(type, id);
      if (!resource) throw new OperationOutcomeError(notFound);
      return { status: 200, resource, headers: versionHeaders(resource) };
    },
    search(c: Ctx, type: string, query: URLSearchParams): Outcome {
      checkType(type);
      return { status: 200, resource: repo.search(type, query, { baseUrl: baseUrl(c) }) };
    },
    create(c: Ctx, type: string, body: unknown, ifNoneExist: string | undefined): Outcome {
      checkType(type);
      const resource = checkBody(body, type);
      const result = ifNoneExist
        ? repo.conditionalCreate(resource, ifNoneExist)
        : { resource: repo.create(resource), created: true };
      const headers = versionHeaders(result.resource);
      if (!result.created) return { status: 200, resource: result.resource, headers };
      return {
        status: 201,
        resource: result.resource,
        headers: { ...headers, Location: location(c, result.resource) },
      };
    },
    update(c: Ctx, type: string, id: string, body: unknown, ifMatch: string | undefined): Outcome {
      checkType(type);
      checkId(id);
      const resource = checkBody(body, type);
      if (resource.id !== id) throw new OperationOutcomeError(badRequest('Body id must match the URL id', 'id'));
      if (ifMatch !== undefined) {
        // FHIR's version-aware update: `If-Match: W/"<versionId>"` must name the current version, else 412.
        const current = repo.read(type, id);
        const wanted = /^(?:W\/)?"([^"]{1,64})"$/.exec(ifMatch.trim())?.[1];
        if (wanted === undefined) throw new OperationOutcomeError(badRequest('If-Match must be W/"<versionId>"'));
        if (!current) throw new OperationOutcomeError(notFound);
        if (current.meta?.versionId !== wanted) throw new OperationOutcomeError(preconditionFailed);
      }
      const result = repo.update(resource);
      const headers = { ...versionHeaders(result.resource), Location: location(c, result.resource) };
      return { status: result.created ? 201 : 200, resource: result.resource, headers };
    },
    delete(type: string, id: string): Outcome {
      checkType(type);
      checkId(id);
      repo.delete(type, id);
      return { status: 204 };
    },
  };
  const location = (c: Ctx, r: WithId<Resource>): string =>
    `${baseUrl(c)}/${r.resourceType}/${r.id}/_history/${r.meta?.versionId ?? '1'}`;

  const readJsonBody = async (c: Ctx): Promise<unknown> => {
    const text = await c.req.text();
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw new OperationOutcomeError(badRequest('Body is not valid JSON'));
    }
  };
  const send = (c: Ctx, outcome: Outcome) => fhirResponse(c, outcome.status, outcome.resource, outcome.headers);

  app.post(`${FHIR_BASE_PATH}`, async (c) => fhirResponse(c, 200, batch(c, await readJsonBody(c))));
  app.post(`${FHIR_BASE_PATH}/`, async (c) => fhirResponse(c, 200, batch(c, await readJsonBody(c))));
  app.get(`${FHIR_BASE_PATH}/:type`, (c) => {
    const type = c.req.param('type');
    allowed(c, type, 'search');
    return send(c, interactions.search(c, type, new URL(c.req.url).searchParams));
  });
  app.post(`${FHIR_BASE_PATH}/:type/_search`, async (c) => {
    const type = c.req.param('type');
    allowed(c, type, 'search');
    const query = new URL(c.req.url).searchParams;
    for (const [k, v] of new URLSearchParams(await c.req.text())) query.append(k, v);
    return send(c, interactions.search(c, type, query));
  });
  app.post(`${FHIR_BASE_PATH}/:type`, async (c) => {
    const type = c.req.param('type');
    allowed(c, type, 'create');
    return send(c, interactions.create(c, type, await readJsonBody(c), c.req.header('If-None-Exist')));
  });
  app.get(`${FHIR_BASE_PATH}/:type/:id`, (c) => {
    const type = c.req.param('type');
    allowed(c, type, 'read');
    return send(c, interactions.read(type, c.req.param('id')));
  });
  app.put(`${FHIR_BASE_PATH}/:type/:id`, async (c) => {
    const type = c.req.param('type');
    allowed(c, type, 'update');
    return send(c, interactions.update(c, type, c.req.param('id'), await readJsonBody(c), c.req.header('if-match')));
  });
  app.delete(`${FHIR_BASE_PATH}/:type/:id`, (c) => {
    const type = c.req.param('type');
    allowed(c, type, 'delete');
    return send(c, interactions.delete(type, c.req.param('id')));
  });

  /** A batch: each entry is handled on its own; one failing entry does not fail the others. */
  function batch(c: Ctx, body: unknown): Bundle {
    const bundle = body as Bundle | undefined;
    if (bundle?.resourceType !== 'Bundle') throw new OperationOutcomeError(badRequest('Body must be a Bundle'));
    if (bundle.type !== 'batch') {
      throw new OperationOutcomeError(badRequest('Only Bundle.type = batch is supported (transaction is not)'));
    }
    const entries = (bundle.entry ?? []).map((entry, i): BundleEntry => {
      let outcome: Outcome;
      try {
        outcome = batchEntry(c, entry, i);
      } catch (err) {
        const oo = normalizeOperationOutcome(err);
        return { response: { status: statusLine(getStatus(oo)), outcome: oo } };
      }
      const h = outcome.headers ?? {};
      return {
        ...(outcome.resource ? { resource: outcome.resource } : {}),
        response: {
          status: statusLine(outcome.status),
          ...(h.Location ? { location: h.Location } : {}),
          ...(h.ETag ? { etag: h.ETag } : {}),
          ...(outcome.resource?.meta?.lastUpdated ? { lastModified: outcome.resource.meta.lastUpdated } : {}),
        },
      };
    });
    return { resourceType: 'Bundle', type: 'batch-response', entry: entries };
  }

  function batchEntry(c: Ctx, entry: BundleEntry, i: number): Outcome {
    const method = entry.request?.method;
    const rawUrl = entry.request?.url;
    if (!method || !rawUrl) throw new OperationOutcomeError(badRequest(`Bundle.entry[${i}].request is incomplete`));
    const relative = rawUrl.startsWith(baseUrl(c)) ? rawUrl.slice(baseUrl(c).length) : rawUrl;
    const [path = '', search = ''] = relative.replace(/^\//, '').split('?', 2);
    const [type = '', id, extra] = path.split('/');
    if (extra !== undefined) throw new OperationOutcomeError(badRequest(`Unsupported batch url: ${method} ${path}`));
    switch (method) {
      case 'GET':
        if (id === '_search' || id === undefined) {
          allowed(c, type, 'search');
          return interactions.search(c, type, new URLSearchParams(search));
        }
        allowed(c, type, 'read');
        return interactions.read(type, id);
      case 'POST':
        if (id !== undefined) throw new OperationOutcomeError(badRequest('POST entries create: url must be a type'));
        allowed(c, type, 'create');
        return interactions.create(c, type, entry.resource, entry.request?.ifNoneExist);
      case 'PUT':
        if (id === undefined) throw new OperationOutcomeError(badRequest('Conditional update is not supported'));
        allowed(c, type, 'update');
        return interactions.update(c, type, id, entry.resource, entry.request?.ifMatch);
      case 'DELETE':
        if (id === undefined) throw new OperationOutcomeError(badRequest('Conditional delete is not supported'));
        allowed(c, type, 'delete');
        return interactions.delete(type, id);
      case 'HEAD':
      case 'PATCH':
        throw new OperationOutcomeError(badRequest(`${method} is not supported in a batch`));
    }
  }

  return app;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
}

/** A minimal HTML page of the sandbox EHR (`body` is HTML the caller escaped). */
function page(title: string, body: string): string {
  return (
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)} · Sandbox EHR</title>` +
    `<meta name="viewport" content="width=device-width, initial-scale=1"></head><body><main><h1>${escapeHtml(title)}</h1>` +
    `${body}</main></body></html>`
  );
}

/** A display name of a Patient or Practitioner: given and family names, else its id. */
function displayName(resource: Resource): string {
  const name =
    'name' in resource && Array.isArray(resource.name)
      ? (resource.name[0] as { given?: string[]; family?: string })
      : undefined;
  const text = [...(name?.given ?? []), name?.family].filter(Boolean).join(' ');
  return text || (resource.id ?? '');
}

/**
 * The standalone launch's stand-in for the EHR's sign-in and patient picker: choose who signs in (a Practitioner)
 * and, when the app asked for `launch/patient`, the patient; approve or deny.
 */
function pickerPage(repo: IndexedRepository, requestId: string, clientId: string, needsPatient: boolean): string {
  const options = (type: string) =>
    (repo.search(type, new URLSearchParams({ _count: '100' }), { baseUrl: '' }).entry ?? [])
      .map((e) => e.resource)
      .filter((r): r is WithId<Resource> => !!r?.id)
      .map((r) => `<option value="${escapeHtml(r.id)}">${escapeHtml(displayName(r))} (${escapeHtml(r.id)})</option>`)
      .join('');
  return page(
    'Sign in to the sandbox EHR',
    `<p>The app <strong>${escapeHtml(clientId)}</strong> asks you to sign in${needsPatient ? ' and choose a patient' : ''}.</p>` +
      `<form method="post" action="/oauth2/authorize">` +
      `<input type="hidden" name="request_id" value="${escapeHtml(requestId)}">` +
      `<p><label for="practitioner">Signed in as</label><br><select id="practitioner" name="practitioner">${options('Practitioner')}</select></p>` +
      (needsPatient
        ? `<p><label for="patient">Patient</label><br><select id="patient" name="patient">${options('Patient')}</select></p>`
        : '') +
      `<p><button type="submit" name="decision" value="approve">Allow</button> ` +
      `<button type="submit" name="decision" value="deny">Deny</button></p></form>`,
  );
}

function statusLine(status: number): string {
  return `${status} ${STATUS_TEXT[status] ?? ''}`.trim();
}

function versionHeaders(resource: WithId<Resource>): Record<string, string> {
  const headers: Record<string, string> = { ETag: `W/"${resource.meta?.versionId ?? '1'}"` };
  const lastUpdated = resource.meta?.lastUpdated;
  if (lastUpdated) headers['Last-Modified'] = new Date(lastUpdated).toUTCString();
  return headers;
}

function capabilityStatement(base: string, origin: string, types: readonly string[]): CapabilityStatement {
  const resource: CapabilityStatementRestResource[] = types.map((type) => {
    const params = compiledParams(type).list;
    return {
      type: type as CapabilityStatementRestResource['type'],
      interaction: (['read', 'search-type', 'create', 'update', 'delete'] as const).map((code) => ({ code })),
      versioning: 'versioned',
      readHistory: false,
      updateCreate: true,
      conditionalCreate: true,
      conditionalUpdate: false,
      conditionalDelete: 'not-supported',
      searchInclude: params.filter((p) => p.kind === 'reference').map((p) => `${type}:${p.code}`),
      searchRevInclude: [],
      searchParam: params.map((p) => ({
        name: p.code,
        type: p.definition.type ?? 'token',
        ...(p.definition.url ? { definition: p.definition.url } : {}),
      })),
    };
  });
  return {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: '2026-01-01',
    kind: 'instance',
    software: { name: 'ehr-autopilot sandbox EHR' },
    implementation: { description: 'Synthetic-data FHIR R4 server for demos and tests', url: base },
    fhirVersion: '4.0.1',
    format: ['json', 'application/fhir+json'],
    rest: [
      {
        mode: 'server',
        security: {
          cors: false,
          service: [
            {
              coding: [
                { system: 'http://terminology.hl7.org/CodeSystem/restful-security-service', code: 'SMART-on-FHIR' },
              ],
            },
          ],
          extension: [
            {
              url: 'http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris',
              extension: [
                { url: 'token', valueUri: `${origin}/oauth2/token` },
                { url: 'authorize', valueUri: `${origin}/oauth2/authorize` },
                { url: 'register', valueUri: `${origin}/oauth2/register` },
              ],
            },
          ],
        },
        resource,
        interaction: [{ code: 'batch' }],
      },
    ],
  };
}

/**
 * Serves the sandbox on loopback (port 0 = any free port) and returns a handle with its URLs, repository, request
 * log, fault hook and `close()`.
 */
export async function startSandbox(
  options: SandboxOptions & { port?: number; host?: string } = {},
): Promise<SandboxHandle> {
  const state = new SandboxState(options);
  const app = createSandboxApp({ ...options, state });
  const host = options.host ?? '127.0.0.1';
  const { server, port } = await new Promise<{ server: ReturnType<typeof serve>; port: number }>((resolve, reject) => {
    const s = serve({ fetch: app.fetch, hostname: host, port: options.port ?? 0 }, (info: AddressInfo) =>
      resolve({ server: s, port: info.port }),
    );
    s.once('error', reject);
  });
  const urlHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  const url = options.publicUrl ?? `http://${urlHost}:${port}`;
  return {
    repo: state.repo,
    auth: state.auth,
    apps: state.apps,
    requests: state.requests,
    injectFaults: (spec) => state.injectFaults(spec),
    clearFaults: () => state.clearFaults(),
    url,
    fhirBaseUrl: `${url}${FHIR_BASE_PATH}`,
    port,
    registerClient: (client) => state.auth.registerClient(client),
    registerApp: (client) => state.apps.registerApp(client),
    close: () =>
      new Promise<void>((resolve, reject) => {
        if ('closeAllConnections' in server) server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}
