import type {
  Bundle,
  BundleEntry,
  CapabilityStatement,
  ExtractResource,
  Resource,
  ResourceType,
} from '@medplum/fhirtypes';
import { Client, type FhirResource, type RequestOptions } from 'fhir-kit-client';
import type { JWK } from 'jose';
import { z } from 'zod';
import { AppError } from '../../rules/index.ts';
import { createAccessTokenSource, type AccessTokenSource } from './auth.ts';
import { assertEgressUrl, egressRequestInit, type EgressPolicy } from './egress.ts';
import { fhirStatusError, toFhirError, type FhirOperation } from './errors.ts';
import { observeFhirCall } from '../telemetry/fhir-calls.ts';

export interface FhirConnectorOptions {
  /** FHIR R4 base URL, e.g. `http://127.0.0.1:3001/fhir/R4`. */
  baseUrl: string;
  /** SMART Backend Services registration; absent ⇒ no Authorization header (an open sandbox). */
  auth?: { clientId: string; privateKeyJwk: JWK; tokenUrl?: string; scope?: string };
  /** Per HTTP request (FHIR and token endpoint), including reading the body. */
  timeoutMs: number;
  /** The current request id (API request or workflow run); sent as `X-Request-Id` so EHR logs correlate. */
  requestId?: () => string | undefined;
  /**
   * Which addresses this connector may reach (egress.ts); every clinic connector has one. Absent: any address (only
   * for URLs from trusted configuration: scripts and tests). Redirects are never followed either way.
   */
  egress?: EgressPolicy;
  /**
   * Whether {@link FhirConnector.batch} sends one `batch` Bundle. `auto` (default): when the CapabilityStatement
   * advertises `batch`, else when one probe (an empty batch Bundle) is answered with a `batch-response`: HAPI FHIR
   * answers batches it does not advertise. `always` / `never`: what is known of this EHR, no probe.
   */
  batch?: BatchMode;
}

/** The `batch` option's values, also a clinic's EHR connection setting (`clinics.fhirBatch`, default `auto`). */
export const BATCH_MODES = ['auto', 'always', 'never'] as const;
export type BatchMode = (typeof BATCH_MODES)[number];

/** Search parameters. An array repeats the parameter (AND); join values with commas for OR. */
export type FhirSearchParams = Record<string, string | number | boolean | readonly (string | number)[]>;

/** A search's results over all its pages: the `match` entries, and what `_include`/`_revinclude` brought along. */
export interface SearchResult<T extends Resource = Resource> {
  matches: T[];
  included: Resource[];
}

/** One entry of a batch: a FHIR RESTful request relative to the base URL (`Patient/1`, `Encounter?patient=1`). */
export interface BatchRequest {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  url: string;
  resource?: Resource;
  ifNoneExist?: string;
  ifMatch?: string;
}

/** The outcome of one batch entry: entries succeed or fail independently. */
export type BatchEntryResult =
  { ok: true; status: number; resource?: Resource; location?: string } | { ok: false; status: number; error: AppError };

/** What the EHR says it can do, reduced to what changes how we talk to it. */
export interface FhirCapabilities {
  fhirVersion?: string;
  /** Whether {@link FhirConnector.batch} sends a batch Bundle (many reads in one round trip); see `batchFrom`. */
  batch: boolean;
  /** Why: the connector's `batch` option, the CapabilityStatement's system `batch` interaction, or a probe. */
  batchFrom: 'configured' | 'advertised' | 'probed';
  transaction: boolean;
  /** Resource types whose `conditionalCreate` is true (If-None-Exist is honoured). */
  conditionalCreateTypes: string[];
  statement: CapabilityStatement;
}

/**
 * How the rest of ehr-autopilot talks FHIR R4 to one EHR. Every call carries the bearer token and `X-Request-Id`, and
 * fails only with AppError (`EHR_NOT_FOUND`, `EHR_REJECTED`, `EHR_UNAVAILABLE` — the last one retryable).
 */
export interface FhirConnector {
  readonly baseUrl: string;
  /** FHIR HTTP requests made through this connector (or session), including retries after a 401. */
  readonly roundTrips: number;
  /** Requests to the authorization server (discovery + token), shared by all sessions of a connector. */
  readonly authRoundTrips: number;
  read<K extends ResourceType>(type: K, id: string): Promise<ExtractResource<K>>;
  search<K extends ResourceType>(type: K, params?: FhirSearchParams): Promise<SearchResult<ExtractResource<K>>>;
  /** Collects a searchset Bundle you already hold (e.g. from a batch entry), following its `next` links. */
  searchPages(bundle: Bundle, type: string): Promise<SearchResult>;
  /**
   * One page of a search: the first (`params`) or the one a previous page's `next` link names (`next`, which must
   * lead into this EHR). For walks too long to hold in memory (the panel sweep), one page per call.
   */
  searchPage<K extends ResourceType>(
    type: K,
    from: { params: FhirSearchParams } | { next: string },
  ): Promise<SearchResult<ExtractResource<K>> & { next: string | null }>;
  /** One batch Bundle when the EHR offers `batch`; otherwise the same requests in parallel. Results keep order. */
  batch(requests: readonly BatchRequest[]): Promise<BatchEntryResult[]>;
  /** The CapabilityStatement, fetched once per connector. */
  capabilities(): Promise<FhirCapabilities>;
  /** Creates `resource`; with `ifNoneExist`, a conditional create that returns the existing match instead. */
  create<T extends Resource>(
    resource: T,
    opts?: { ifNoneExist?: string | FhirSearchParams },
  ): Promise<{ resource: T; created: boolean }>;
  /** Updates `resource` by its id; `ifMatch` (a version id) makes it fail with 412 if someone else wrote first. */
  update<T extends Resource>(resource: T, opts?: { ifMatch?: string }): Promise<T>;
  /** A view sharing the client, token and capability caches, with its own {@link roundTrips} counter. */
  session(): FhirConnector;
}

const RESOURCE_TYPE = /^[A-Z][A-Za-z]{1,63}$/;
const ID = /^[A-Za-z0-9\-.]{1,64}$/;
const MAX_PAGES = 50;

const ResourceSchema = z.looseObject({ resourceType: z.string().regex(RESOURCE_TYPE), id: z.string().optional() });

const BundleSchema = z.looseObject({
  resourceType: z.literal('Bundle'),
  type: z.string(),
  link: z.array(z.looseObject({ relation: z.string(), url: z.string() })).optional(),
  entry: z
    .array(
      z.looseObject({
        resource: ResourceSchema.optional(),
        search: z.looseObject({ mode: z.string().optional() }).optional(),
        response: z
          .looseObject({ status: z.string(), location: z.string().optional(), outcome: ResourceSchema.optional() })
          .optional(),
      }),
    )
    .optional(),
});

const CapabilityStatementSchema = z.looseObject({
  resourceType: z.literal('CapabilityStatement'),
  fhirVersion: z.string().optional(),
  rest: z
    .array(
      z.looseObject({
        mode: z.string().optional(),
        interaction: z.array(z.looseObject({ code: z.string() })).optional(),
        resource: z.array(z.looseObject({ type: z.string(), conditionalCreate: z.boolean().optional() })).optional(),
      }),
    )
    .optional(),
});

function malformed(op: FhirOperation, reason: string): AppError {
  return new AppError('EHR_REJECTED', `FHIR ${op.action} ${op.resourceType}: unexpected response (${reason})`, {
    context: { action: op.action, resourceType: op.resourceType, reason },
  });
}

function parseWith<T>(schema: z.ZodType<T>, value: unknown, op: FhirOperation, reason: string): T {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw malformed(op, reason);
  return parsed.data;
}

function assertResourceType(type: string): void {
  if (!RESOURCE_TYPE.test(type)) throw new AppError('INVALID_INPUT', 'Not a FHIR resource type');
}

function assertId(type: string, id: string): void {
  if (!ID.test(id))
    throw new AppError('INVALID_INPUT', `Not a FHIR id for ${type}`, { context: { resourceType: type } });
}

/** `Encounter?patient=1&_sort=-date`: the query part of a search, for `search()` and for batch entries. */
export function searchUrl(type: string, params: FhirSearchParams = {}): string {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    for (const v of Array.isArray(value) ? value : [value]) query.append(name, String(v));
  }
  const qs = query.toString();
  return qs ? `${type}?${qs}` : type;
}

/** The resource type a relative request URL addresses (`Patient/1` and `Patient?x=y` → `Patient`). */
function typeOfUrl(url: string): string {
  const type = /^\/?([A-Za-z]+)/.exec(url)?.[1];
  return type && RESOURCE_TYPE.test(type) ? type : 'Bundle';
}

function statusOf(err: unknown): number | undefined {
  if (typeof err !== 'object' || err === null || !('response' in err)) return undefined;
  const status = (err as { response?: { status?: unknown } }).response?.status;
  return typeof status === 'number' ? status : undefined;
}

function entryStatus(status: string): number {
  const n = Number.parseInt(status, 10);
  return Number.isFinite(n) ? n : 0;
}

function idFromLocation(location: string, type: string): string | undefined {
  const m = new RegExp(`(?:^|/)${type}/([A-Za-z0-9\\-.]{1,64})(?:/_history/|$)`).exec(location);
  return m?.[1];
}

interface Shared {
  client: Client;
  baseUrl: string;
  baseOrigin: string;
  opts: FhirConnectorOptions;
  tokens?: AccessTokenSource;
  capabilities?: Promise<FhirCapabilities>;
}

/** A probe's failure that says "not here" (any 4xx but 408/429, or 501), not "not now" (unavailable). */
function refusesInteraction(err: unknown): boolean {
  return err instanceof AppError && (!err.retryable || err.context.status === 501);
}

/**
 * Creates the FHIR connector for one EHR, wrapping fhir-kit-client. Construct one per clinic and keep it: it caches
 * the access token and the CapabilityStatement.
 */
export function createFhirConnector(opts: FhirConnectorOptions): FhirConnector {
  const baseUrl = opts.baseUrl.replace(/\/+$/, '');
  if (opts.egress) assertEgressUrl(baseUrl, opts.egress, 'FHIR base URL');
  // fhir-kit-client builds a Request from these options: the guarded dispatcher (egress.ts) and no redirects.
  const requestOptions: Record<string, unknown> = opts.egress
    ? { ...egressRequestInit(opts.egress) }
    : { redirect: 'manual' };
  const shared: Shared = {
    client: new Client({ baseUrl, requestOptions }),
    baseUrl,
    baseOrigin: new URL(baseUrl).origin,
    opts,
    ...(opts.auth
      ? {
          tokens: createAccessTokenSource({
            ...opts.auth,
            baseUrl,
            timeoutMs: opts.timeoutMs,
            ...(opts.requestId ? { requestId: opts.requestId } : {}),
            ...(opts.egress ? { egress: opts.egress } : {}),
          }),
        }
      : {}),
  };
  return view(shared, []);
}

function view(shared: Shared, parents: { count: number }[]): FhirConnector {
  const own = { count: 0 };
  const counters = [own, ...parents];
  const { client, baseUrl, opts, tokens } = shared;

  /**
   * One HTTP exchange: token + request id + timeout; a 401 with a token drops the token and retries once with a fresh
   * one (the EHR may have revoked or rotated it before its expiry).
   */
  async function send(op: FhirOperation, call: (options: RequestOptions) => Promise<FhirResource>) {
    for (let attempt = 0; ; attempt += 1) {
      const token = tokens ? await tokens.token() : undefined;
      // Every answer must be of the record as it is now: HAPI FHIR, for one, answers a search it saw in the last 60 s
      // from its cache (a write just made is missing) unless the request says no-cache.
      const headers: Record<string, string> = { 'cache-control': 'no-cache' };
      if (token) headers.authorization = `Bearer ${token}`;
      const requestId = opts.requestId?.();
      if (requestId) headers['x-request-id'] = requestId;
      for (const c of counters) c.count += 1;
      const observed = observeFhirCall(op.action, op.resourceType); // metrics and a span (connectors/telemetry)
      try {
        const body = await call({ headers, signal: AbortSignal.timeout(opts.timeoutMs) });
        observed.end(Client.httpFor(body).response?.status ?? 200);
        return body;
      } catch (err) {
        observed.end(statusOf(err), err);
        if (tokens && token && attempt === 0 && statusOf(err) === 401) {
          tokens.invalidate(token);
          continue;
        }
        throw toFhirError(err, op);
      }
    }
  }

  function get(url: string, op: FhirOperation) {
    return send(op, (options) => client.request(url, { method: 'GET', options }));
  }

  /** Only follow links into this EHR: a `next` link elsewhere would receive our bearer token. */
  function ownUrl(link: string, op: FhirOperation): string {
    const url = new URL(link, `${baseUrl}/`);
    if (url.origin !== shared.baseOrigin || !url.pathname.startsWith(new URL(baseUrl).pathname)) {
      throw malformed(op, 'foreign-link');
    }
    return url.href;
  }

  /** Sorts a page's entries into `result`; returns the page's `next` link. */
  function collect(page: z.infer<typeof BundleSchema>, type: string, result: SearchResult): string | undefined {
    for (const entry of page.entry ?? []) {
      const resource = entry.resource as Resource | undefined;
      if (!resource) continue;
      const mode = entry.search?.mode ?? (resource.resourceType === type ? 'match' : 'include');
      if (mode === 'match') result.matches.push(resource);
      else if (mode === 'include') result.included.push(resource);
    }
    return page.link?.find((l) => l.relation === 'next')?.url;
  }

  async function searchPages(first: Bundle, type: string): Promise<SearchResult> {
    const op = { action: 'search', resourceType: type };
    const result: SearchResult = { matches: [], included: [] };
    let page: z.infer<typeof BundleSchema> = parseWith(BundleSchema, first, op, 'not-a-bundle');
    for (let pages = 1; ; pages += 1) {
      const next = collect(page, type, result);
      if (!next) return result;
      // Never decide on a silently truncated record: fail (to a human) instead.
      if (pages >= MAX_PAGES) throw malformed(op, 'too-many-pages');
      page = parseWith(BundleSchema, await get(ownUrl(next, op), op), op, 'not-a-bundle');
    }
  }

  function capabilities(): Promise<FhirCapabilities> {
    shared.capabilities ??= (async (): Promise<FhirCapabilities> => {
      const op = { action: 'capabilities', resourceType: 'CapabilityStatement' };
      const raw = await send(op, (options) => client.capabilityStatement(options));
      const cs = parseWith(CapabilityStatementSchema, raw, op, 'not-a-capability-statement');
      const server = cs.rest?.find((r) => (r.mode ?? 'server') === 'server');
      const system = new Set((server?.interaction ?? []).map((i) => i.code));
      const mode = opts.batch ?? 'auto';
      const batchFrom = mode !== 'auto' ? 'configured' : system.has('batch') ? 'advertised' : 'probed';
      return {
        ...(cs.fhirVersion ? { fhirVersion: cs.fhirVersion } : {}),
        batch: mode === 'auto' ? system.has('batch') || (await probeBatch()) : mode === 'always',
        batchFrom,
        transaction: system.has('transaction'),
        conditionalCreateTypes: (server?.resource ?? []).filter((r) => r.conditionalCreate === true).map((r) => r.type),
        statement: raw as unknown as CapabilityStatement,
      };
    })().catch((err: unknown) => {
      shared.capabilities = undefined; // do not cache a failure
      throw err;
    });
    return shared.capabilities;
  }

  /**
   * An empty batch Bundle: a server that batches answers `batch-response` (no entries, nothing done). A refusal (4xx,
   * 501) or any other answer means no batch; an EHR that is unavailable fails the call (retried, nothing cached).
   */
  async function probeBatch(): Promise<boolean> {
    const op = { action: 'batch', resourceType: 'Bundle' };
    try {
      const raw = await send(op, (options) =>
        client.request(baseUrl, {
          method: 'POST',
          body: { resourceType: 'Bundle', type: 'batch', entry: [] },
          options: { ...options, headers: { ...options.headers, 'content-type': 'application/fhir+json' } },
        }),
      );
      return BundleSchema.safeParse(raw).data?.type === 'batch-response';
    } catch (err) {
      if (refusesInteraction(err)) return false;
      throw err;
    }
  }

  async function sendOne(req: BatchRequest): Promise<BatchEntryResult> {
    const op = { action: req.method.toLowerCase(), resourceType: typeOfUrl(req.url) };
    const headers: Record<string, string> = {};
    if (req.ifNoneExist) headers['if-none-exist'] = req.ifNoneExist;
    if (req.ifMatch) headers['if-match'] = req.ifMatch;
    try {
      const body = await send(op, (options) =>
        client.request(req.url, {
          method: req.method,
          options: {
            ...options,
            headers: {
              ...options.headers,
              ...headers,
              ...(req.resource ? { 'content-type': 'application/fhir+json' } : {}),
            },
          },
          ...(req.resource ? { body: req.resource } : {}),
        }),
      );
      const response = Client.httpFor(body).response;
      const location = response?.headers.get('location') ?? undefined;
      return {
        ok: true,
        status: response?.status ?? 200,
        ...(typeof body.resourceType === 'string' ? { resource: body as unknown as Resource } : {}),
        ...(location ? { location } : {}),
      };
    } catch (err) {
      const error = toFhirError(err, op);
      return { ok: false, status: typeof error.context.status === 'number' ? error.context.status : 0, error };
    }
  }

  async function batch(requests: readonly BatchRequest[]): Promise<BatchEntryResult[]> {
    if (requests.length === 0) return [];
    if (!(await capabilities()).batch) return Promise.all(requests.map(sendOne));
    const op = { action: 'batch', resourceType: 'Bundle' };
    const bundle: Bundle = {
      resourceType: 'Bundle',
      type: 'batch',
      entry: requests.map((r): BundleEntry => ({
        ...(r.resource ? { resource: r.resource } : {}),
        request: {
          method: r.method,
          url: r.url,
          ...(r.ifNoneExist ? { ifNoneExist: r.ifNoneExist } : {}),
          ...(r.ifMatch ? { ifMatch: r.ifMatch } : {}),
        },
      })),
    };
    // POST [base] (no trailing slash): fhir-kit-client's batch() posts to `[base]/`, which not every router accepts.
    const raw = await send(op, (options) =>
      client.request(baseUrl, {
        method: 'POST',
        body: bundle,
        options: { ...options, headers: { ...options.headers, 'content-type': 'application/fhir+json' } },
      }),
    );
    const response = parseWith(BundleSchema, raw, op, 'not-a-bundle');
    const entries = response.entry ?? [];
    if (response.type !== 'batch-response' || entries.length !== requests.length) {
      throw malformed(op, 'batch-response-mismatch');
    }
    return entries.map((entry, i): BatchEntryResult => {
      const req = requests[i]!;
      const status = entry.response ? entryStatus(entry.response.status) : 0;
      if (status >= 200 && status < 300) {
        return {
          ok: true,
          status,
          ...(entry.resource ? { resource: entry.resource as Resource } : {}),
          ...(entry.response?.location ? { location: entry.response.location } : {}),
        };
      }
      const code = (entry.response?.outcome as { issue?: { code?: unknown }[] } | undefined)?.issue?.[0]?.code;
      const extra: Record<string, string> =
        typeof code === 'string' && /^[a-z-]{1,40}$/.test(code) ? { issue: code } : {};
      const entryOp = { action: req.method.toLowerCase(), resourceType: typeOfUrl(req.url) };
      return { ok: false, status, error: fhirStatusError(status || 502, entryOp, extra) };
    });
  }

  return {
    baseUrl,
    get roundTrips() {
      return own.count;
    },
    get authRoundTrips() {
      return tokens?.roundTrips ?? 0;
    },

    async read<K extends ResourceType>(type: K, id: string): Promise<ExtractResource<K>> {
      assertResourceType(type);
      assertId(type, id);
      const op = { action: 'read', resourceType: type };
      const raw = await send(op, (options) => client.read({ resourceType: type, id, options }));
      const resource = parseWith(ResourceSchema, raw, op, 'not-a-resource');
      if (resource.resourceType !== type) throw malformed(op, 'wrong-resource-type');
      return raw as unknown as ExtractResource<K>;
    },

    async search<K extends ResourceType>(type: K, params: FhirSearchParams = {}) {
      assertResourceType(type);
      const op = { action: 'search', resourceType: type };
      const first = await get(searchUrl(type, params), op);
      return (await searchPages(first as unknown as Bundle, type)) as SearchResult<ExtractResource<K>>;
    },

    searchPages,

    async searchPage<K extends ResourceType>(type: K, from: { params: FhirSearchParams } | { next: string }) {
      assertResourceType(type);
      const op = { action: 'search', resourceType: type };
      const url = 'next' in from ? ownUrl(from.next, op) : searchUrl(type, from.params);
      const page = parseWith(BundleSchema, await get(url, op), op, 'not-a-bundle');
      const result: SearchResult = { matches: [], included: [] };
      const next = collect(page, type, result);
      return { ...(result as SearchResult<ExtractResource<K>>), next: next ?? null };
    },

    batch,
    capabilities,

    async create<T extends Resource>(resource: T, createOpts: { ifNoneExist?: string | FhirSearchParams } = {}) {
      const type = resource.resourceType;
      assertResourceType(type);
      const op = { action: 'create', resourceType: type };
      const headers: Record<string, string> = { prefer: 'return=representation' };
      if (createOpts.ifNoneExist !== undefined) {
        headers['if-none-exist'] =
          typeof createOpts.ifNoneExist === 'string'
            ? createOpts.ifNoneExist
            : searchUrl('', createOpts.ifNoneExist).replace(/^\?/, '');
      }
      const raw = await send(op, (options) =>
        client.create({
          resourceType: type,
          body: resource as unknown as FhirResource,
          options: { ...options, headers: { ...options.headers, ...headers } },
        }),
      );
      const status = Client.httpFor(raw).response?.status ?? 201;
      if (typeof raw.resourceType === 'string') {
        parseWith(ResourceSchema, raw, op, 'not-a-resource');
        return { resource: raw as unknown as T, created: status === 201 };
      }
      // The EHR ignored `Prefer: return=representation`: read what the Location header points at.
      const location = Client.httpFor(raw).response?.headers.get('location');
      const id = location ? idFromLocation(location, type) : undefined;
      if (!id) throw malformed(op, 'no-location');
      const readBack = await send({ action: 'read', resourceType: type }, (options) =>
        client.read({ resourceType: type, id, options }),
      );
      return { resource: readBack as unknown as T, created: status === 201 };
    },

    async update<T extends Resource>(resource: T, updateOpts: { ifMatch?: string } = {}) {
      const type = resource.resourceType;
      assertResourceType(type);
      if (!resource.id) throw new AppError('INVALID_INPUT', `update needs an id on the ${type}`);
      assertId(type, resource.id);
      const op = { action: 'update', resourceType: type };
      const headers: Record<string, string> = { prefer: 'return=representation' };
      if (updateOpts.ifMatch) headers['if-match'] = `W/"${updateOpts.ifMatch}"`;
      const raw = await send(op, (options) =>
        client.update({
          resourceType: type,
          id: resource.id!,
          body: resource as unknown as FhirResource,
          options: { ...options, headers: { ...options.headers, ...headers } },
        }),
      );
      if (typeof raw.resourceType !== 'string') return resource; // 200 with no body: what we sent is what is stored
      parseWith(ResourceSchema, raw, op, 'not-a-resource');
      return raw as unknown as T;
    },

    session() {
      return view(shared, counters);
    },
  };
}
