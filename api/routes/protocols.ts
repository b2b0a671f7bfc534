import { createHash } from 'node:crypto';
import type { OpenAPIHono } from '@hono/zod-openapi';
import { createRoute, z } from '@hono/zod-openapi';
import type { AuditInput, ProtocolVersionRecord, PublishResult } from '../../connectors/db/index.ts';
import { canonicalJson } from '../../rules/engine/diff.ts';
import { randomUUID } from 'node:crypto';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import {
  compareKindCases,
  kindEvaluator,
  kindSummary,
  simulateKindRecorded,
  type KindCase,
  type KindChangedCase,
} from '../../rules/engine/simulate-kind.ts';
import { AppError } from '../../rules/index.ts';
import {
  diffByKind,
  kindOf,
  KINDS,
  parseAnyProtocol,
  protocolInvalid,
  validateAnyProtocol,
  type AnyKind,
} from '../../rules/kinds/index.ts';
import type { ApiDeps } from '../deps.ts';
import type { ApiEnv, Principal } from '../env.ts';
import { errorResponses, openApiRouter } from '../errors.ts';
import { assertGlobalAdmin, requireRole, storeTokenLookup } from '../middleware/auth.ts';
import { Id, IsoInstant, keywords } from '../schemas.ts';

// ---------------------------------------------------------------------------------------------------------------
// Schemas
// ---------------------------------------------------------------------------------------------------------------

const bearer = [{ bearer: [] }];
const IdParam = z.object({ id: Id });
/** A version number in a JSON body. */
const VersionNumber = z.number().int().min(1).max(1_000_000_000);
/** A version number in a path or query string. */
const VersionText = z.coerce.number().int().min(1).max(1_000_000_000);
const VersionParams = IdParam.extend({ version: VersionText.openapi({ example: 1 }) });

/** A protocol document: any JSON object here; its rules are checked by the engine (422 with every issue). */
const Definition = z.record(z.string(), z.unknown()).openapi({
  description:
    'A protocol document of any kind (GET /v1/kinds): `kind` names it (absent: the first kind listed); see ' +
    'rules/README.md and rules/kinds/<kind>/',
});

const Issue = z.object({ path: z.string(), message: z.string() }).openapi('ProtocolIssue');

const VersionSummary = z
  .object({
    version: z.number(),
    status: z.enum(['draft', 'published', 'retired']),
    note: z.string().nullable(),
    createdBy: z.string(),
    createdAt: z.string(),
    updatedAt: z.string(),
    publishedAt: z.string().nullable(),
    publishedBy: z.string().nullable(),
    /** sha256 (hex) of the canonical JSON of the definition (keys sorted, no whitespace). */
    contentHash: z.string(),
  })
  .openapi('ProtocolVersionSummary');

const VersionView = VersionSummary.extend({ protocolId: z.string(), definition: Definition }).openapi(
  'ProtocolVersion',
);

const ProtocolSummary = z
  .object({
    id: z.string(),
    title: z.string(),
    /** The protocol kind (GET /v1/protocols lists it), fixed when the protocol is created. */
    kind: z.string(),
    publishedVersion: z.number().nullable(),
    latestVersion: z.number(),
    createdAt: z.string(),
  })
  .openapi('ProtocolSummary');

const DraftBody = z
  .strictObject({
    /** A whole protocol document; `id` and `version` are set by the server. */
    definition: Definition.optional(),
    /** Start from this existing version's definition instead. */
    fromVersion: VersionNumber.optional(),
    note: z.string().max(2000).optional(),
  })
  .refine((b) => (b.definition === undefined) !== (b.fromVersion === undefined), {
    message: 'give exactly one of definition and fromVersion',
    path: ['definition'],
  })
  .openapi('DraftRequest', keywords({ oneOf: [{ required: ['definition'] }, { required: ['fromVersion'] }] }));

const EditBody = z.strictObject({ definition: Definition, note: z.string().max(2000).optional() }).openapi('DraftEdit');

const Json = <T extends z.ZodType>(schema: T) => ({ 'application/json': { schema } });
const body = <T extends z.ZodType>(schema: T) => ({ content: Json(schema), required: true });

const FieldChange = z.object({ path: z.string(), before: z.unknown().optional(), after: z.unknown().optional() });
const ItemChange = z
  .object({
    kind: z.enum([
      'protocol',
      'condition',
      'outcome',
      'route',
      'guard',
      'category',
      'criterion',
      'supply',
      'action',
      'bridgeSupply',
      'item',
    ]),
    id: z.string(),
    category: z.string().optional(),
    /** For an `item` of a kind without its own diff: the list it sits in (`clauses`). */
    collection: z.string().optional(),
    change: z.enum(['added', 'removed', 'changed']),
    before: z.unknown().optional(),
    after: z.unknown().optional(),
    fields: z.array(FieldChange).optional(),
  })
  .openapi('ProtocolChange');

/** Recorded cases one synchronous simulation may evaluate; beyond it, narrow the range or run it as a job. */
const MAX_SYNC_CASES = 100_000;
/** Changed cases listed in a synchronous answer (all are counted in `changedTotal`); a job pages through more. */
const MAX_SYNC_CHANGED = 1000;
/** Simulation jobs one admin may have running at once. */
const MAX_RUNNING_JOBS = 2;
/** A running job with no progress for this long no longer counts against its admin (its worker is presumed gone). */
const JOB_ACTIVE_WINDOW_MS = 15 * 60 * 1000;

/** The dispositions of every kind (a simulation reports those of the protocol's kind). */
const Disposition = z.enum([...new Set(KINDS.flatMap((k) => Object.keys(k.dispositions)))] as [string, ...string[]]);
const Summary = z.object({
  /** Cases per disposition of the protocol's kind. */
  counts: z.partialRecord(Disposition, z.number()),
  /** Share of cases that need no clinician triage; null without cases. */
  automationRate: z.number().nullable(),
});
const SimulationView = z
  .object({
    protocolId: z.string(),
    version: z.number(),
    clinicId: z.string(),
    evaluated: z.number(),
    /** Snapshots whose facts or decision no longer parse (recorded under an older schema). */
    skipped: z.number(),
    before: Summary,
    after: Summary,
    /** Every case whose disposition changed, counted; `changed` lists at most 1,000 of them (a job's page fewer). */
    changedTotal: z.number(),
    changed: z.array(
      z.object({
        caseId: z.string(),
        recordedAt: z.string(),
        before: z.object({
          disposition: Disposition,
          protocolVersion: z.number(),
          failedCriteria: z.array(z.string()),
          /** The clause that decided (kinds that decide by one clause, e.g. care gaps). */
          clause: z.string().nullable().optional(),
        }),
        after: z.object({
          disposition: Disposition,
          failedCriteria: z.array(z.string()),
          clause: z.string().nullable().optional(),
        }),
        criteria: z.array(
          z.object({
            id: z.string(),
            clause: z.string(),
            before: z.boolean().nullable(),
            after: z.boolean().nullable(),
          }),
        ),
      }),
    ),
  })
  .openapi('Simulation');

const PublishView = z
  .object({
    protocolId: z.string(),
    publishedVersion: z.number(),
    /** Globally: the live version before. For one clinic: the clinic's previously assigned version (null: live). */
    previousVersion: z.number().nullable(),
    /** Set when the version was published for this clinic only (the protocol's live version is unchanged). */
    clinicId: z.string().nullable(),
    changed: z.boolean(),
  })
  .openapi('PublishResult');

/** A date (YYYY-MM-DD, UTC) or an ISO instant. */
const DateOrInstant = z.union([z.iso.date(), IsoInstant]);

const SimulateBody = z
  .strictObject({
    /** The clinic whose recorded cases (or whose baseline version, with `bundles`) the version is compared with. */
    clinicId: Id,
    /** Recorded at or after (a date means its start, UTC). */
    from: DateOrInstant.optional(),
    /** Recorded before this instant, or up to and including this date (UTC). */
    to: DateOrInstant.optional(),
    /**
     * Only the newest `limit` recorded cases in the range; absent: all of them (read in pages). At most 100,000: a
     * synchronous run evaluates at most that many (a few seconds of one core); a job without `limit` has no cap.
     */
    limit: z
      .number()
      .int()
      .min(1)
      .max(MAX_SYNC_CASES)
      .optional()
      .openapi({ description: 'At most 100,000; omit it in a job (`async: true`) to evaluate every recorded case.' }),
    /**
     * Uploaded FHIR Bundles (the triage input shape) instead of recorded cases; baseline: the clinic's version. The
     * whole request is limited to 1 MiB; a bundle that is not a triage input is counted in `skipped`.
     */
    bundles: z.array(z.unknown()).min(1).max(1000).optional(),
    /** The protocol's "today" for `bundles` (default: today, UTC). */
    asOf: z.iso.date().optional(),
    /** Run as a job: 202 { jobId }, then GET /v1/simulations/{jobId} for progress and the report. */
    async: z.boolean().optional(),
  })
  .refine((b) => b.bundles === undefined || (b.from === undefined && b.to === undefined && b.limit === undefined), {
    message: 'bundles cannot be combined with from, to or limit',
    path: ['bundles'],
  })
  .refine((b) => b.bundles === undefined || b.async !== true, {
    message: 'uploaded bundles (at most 1,000) are simulated synchronously; a job simulates recorded cases',
    path: ['async'],
  })
  .openapi(
    'SimulationRequest',
    keywords({
      dependentSchemas: {
        bundles: {
          not: {
            anyOf: [
              { required: ['from'] },
              { required: ['to'] },
              { required: ['limit'] },
              { required: ['async'], properties: { async: { const: true } } },
            ],
          },
        },
      },
    }),
  );

const JobId = z
  .string()
  .regex(/^sim_[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/, 'a job id: sim_<uuid>')
  .openapi({ example: 'sim_3b241101-e2bb-4255-8caf-4136c566a962' });

const JobView = z
  .object({
    jobId: z.string(),
    status: z.enum(['running', 'done', 'failed']),
    /** Recorded cases read so far; `total` is null until the job has counted them. */
    progress: z.object({ done: z.number(), total: z.number().nullable() }),
    /** When done: the report, with one page of the changed cases in `changed`. */
    report: SimulationView.optional(),
    /** The page of changed cases in `report.changed`: pass `next` as `cursor` for the next one (null: last page). */
    page: z
      .object({
        cursor: z.number(),
        next: z.number().nullable(),
        /** Changed cases kept for paging (at most 10,000 per job; `report.changedTotal` counts them all). */
        stored: z.number(),
      })
      .optional(),
    error: z.object({ code: z.string(), message: z.string() }).optional(),
  })
  .openapi('SimulationJob');

// ---------------------------------------------------------------------------------------------------------------
// Routes
// ---------------------------------------------------------------------------------------------------------------

const tags = ['protocols (admin)'];

const listRoute = createRoute({
  method: 'get',
  path: '/v1/protocols',
  tags,
  summary: 'Every protocol with its published version',
  security: bearer,
  responses: {
    200: {
      description: 'Protocols',
      content: Json(z.object({ items: z.array(ProtocolSummary.extend({ published: VersionSummary.nullable() })) })),
    },
    ...errorResponses(401, 403),
  },
});

const getRoute = createRoute({
  method: 'get',
  path: '/v1/protocols/{id}',
  tags,
  summary: 'A protocol and all its versions, newest first',
  security: bearer,
  request: { params: IdParam },
  responses: {
    200: { description: 'The protocol', content: Json(ProtocolSummary.extend({ versions: z.array(VersionSummary) })) },
    ...errorResponses(400, 401, 403, 404),
  },
});

const getVersionRoute = createRoute({
  method: 'get',
  path: '/v1/protocols/{id}/versions/{version}',
  tags,
  summary: 'One version: definition, status, author, note and content hash',
  security: bearer,
  request: { params: VersionParams },
  responses: {
    200: { description: 'The version', content: Json(VersionView) },
    ...errorResponses(400, 401, 403, 404),
  },
});

const validateRoute = createRoute({
  method: 'post',
  path: '/v1/protocols/validate',
  tags,
  summary: 'Validates a protocol document; lists every problem with its JSON path',
  description: 'Answers 200 whether or not the document is valid; nothing is stored.',
  security: bearer,
  request: { body: body(z.strictObject({ definition: Definition })) },
  responses: {
    200: {
      description: 'The verdict',
      content: Json(z.object({ valid: z.boolean(), issues: z.array(Issue) })),
    },
    ...errorResponses(400, 401, 403),
  },
});

const createDraftRoute = createRoute({
  method: 'post',
  path: '/v1/protocols/{id}/drafts',
  tags,
  summary: 'Creates the next version as a draft, from a document or from an existing version',
  description:
    'Give exactly one of `definition` (from scratch; creates the protocol if it does not exist yet) and ' +
    '`fromVersion`. The document is validated: 422 PROTOCOL_INVALID with every issue (JSON path + sentence).',
  security: bearer,
  request: { params: IdParam, body: body(DraftBody) },
  responses: {
    201: { description: 'The new draft', content: Json(VersionView) },
    ...errorResponses(400, 401, 403, 404, 409, 422),
  },
});

const editDraftRoute = createRoute({
  method: 'put',
  path: '/v1/protocols/{id}/versions/{version}',
  tags,
  summary: 'Replaces a draft’s definition (published and retired versions never change: 409)',
  security: bearer,
  request: { params: VersionParams, body: body(EditBody) },
  responses: {
    200: { description: 'The edited draft', content: Json(VersionView) },
    ...errorResponses(400, 401, 403, 404, 409, 422),
  },
});

const diffRoute = createRoute({
  method: 'get',
  path: '/v1/protocols/{id}/diff',
  tags,
  summary: 'Criterion-by-criterion diff of two versions',
  description:
    'Routes, guards, categories, criteria, supply/action/bridge rules, shared conditions and outcomes, matched by ' +
    'id: added, removed, or changed with the before/after of every changed field.',
  security: bearer,
  request: { params: IdParam, query: z.object({ from: VersionText, to: VersionText }) },
  responses: {
    200: {
      description: 'The changes',
      content: Json(
        z.object({
          protocolId: z.string(),
          from: z.number(),
          to: z.number(),
          changes: z.array(ItemChange),
          counts: z.object({ added: z.number(), removed: z.number(), changed: z.number() }),
        }),
      ),
    },
    ...errorResponses(400, 401, 403, 404, 422),
  },
});

const simulateRoute = createRoute({
  method: 'post',
  path: '/v1/protocols/{id}/versions/{version}/simulate',
  tags,
  summary: 'What would this version have done to the clinic’s recorded cases?',
  description:
    'Re-evaluates the version against the newest `limit` facts snapshots of the clinic for this protocol and ' +
    'compares with the decision recorded at the time: counts per disposition and automation rate before/after, ' +
    'and every case whose disposition changed with the criteria whose pass/fail changed. Recorded cases: all of the ' +
    'clinic’s snapshots for this protocol in [`from`, `to`] (read in pages, no cap), or the newest `limit`. ' +
    'Or `bundles`: uploaded FHIR Bundles, triaged now with the clinic’s version (its assigned one, else the live ' +
    'one) as the baseline. A synchronous run evaluates at most 100,000 recorded cases (400 beyond: narrow the ' +
    'range, give a `limit` or run a job) and lists at most 1,000 changed cases (`changedTotal` counts all). With ' +
    '`async: true` the run is a durable job (a Temporal workflow; 202 { jobId }): poll GET /v1/simulations/{jobId} ' +
    'on any API replica for { status, progress: { done, total }, report } with the changed cases in pages. An admin ' +
    'may have 2 jobs running at once (409 beyond).',
  security: bearer,
  request: { params: VersionParams, body: body(SimulateBody) },
  responses: {
    200: { description: 'The simulation', content: Json(SimulationView) },
    202: { description: 'The job was started', content: Json(z.object({ jobId: z.string() })) },
    ...errorResponses(400, 401, 403, 404, 409, 422, 503),
  },
});

const publishRoute = createRoute({
  method: 'post',
  path: '/v1/protocols/{id}/versions/{version}/publish',
  tags,
  summary: 'Publishes a draft: it becomes the live version (or, with clinicId, that clinic’s version)',
  description:
    'Without a body: the version becomes the live one and the previous one is retired. With `{ clinicId }`: the ' +
    'version becomes immutable (published) and is assigned to that clinic only; the live version is unchanged. ' +
    'New cases use it; cases in flight keep the version they started with. A retry is a no-op. `note` (why) ' +
    'becomes the note of a draft published by this call.',
  security: bearer,
  request: {
    params: VersionParams,
    body: {
      content: Json(
        z.strictObject({
          clinicId: Id.optional(),
          /** Why; a draft published by this call keeps it as its note (a published version keeps its own). */
          note: z.string().min(1).max(2000).optional(),
        }),
      ),
      required: false,
    },
  },
  responses: {
    200: { description: 'Published', content: Json(PublishView) },
    ...errorResponses(400, 401, 403, 404, 409, 422),
  },
});

const rollbackRoute = createRoute({
  method: 'post',
  path: '/v1/protocols/{id}/rollback',
  tags,
  summary: 'Publishes an earlier published version’s content again as a new version',
  description:
    'Creates version N+1 whose definition equals `toVersion` (note "Rollback of vK", or "Rollback of vK: <note>") ' +
    'and publishes it: globally, ' +
    'or for one clinic with `clinicId`. History stays append-only; every call creates a version.',
  security: bearer,
  request: {
    params: IdParam,
    body: body(
      z.strictObject({
        toVersion: VersionNumber,
        clinicId: Id.optional(),
        /** Why: the new version's note is "Rollback of vK: <note>". */
        note: z.string().min(1).max(1900).optional(),
      }),
    ),
  },
  responses: {
    200: { description: 'Rolled back', content: Json(PublishView) },
    ...errorResponses(400, 401, 403, 404, 409),
  },
});

const jobRoute = createRoute({
  method: 'get',
  path: '/v1/simulations/{jobId}',
  tags,
  summary: 'An asynchronous simulation: status, progress and, when done, the report with a page of changed cases',
  description:
    'Jobs are kept in the app database, so any API replica answers. `cursor` (default 0) and `pageSize` (1–1,000, ' +
    'default 500) page through the changed cases; the counts are always whole.',
  security: bearer,
  request: {
    params: z.object({ jobId: JobId }),
    query: z.object({
      cursor: z.coerce.number().int().min(0).max(Number.MAX_SAFE_INTEGER).default(0),
      pageSize: z.coerce.number().int().min(1).max(1000).default(500),
    }),
  },
  responses: {
    200: { description: 'The job', content: Json(JobView) },
    ...errorResponses(400, 401, 403, 404),
  },
});

// ---------------------------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------------------------

/** sha256 (hex) of the canonical JSON of a definition: equal content ⇒ equal hash, whatever the key order. */
export function contentHash(definition: unknown): string {
  return createHash('sha256').update(canonicalJson(definition)).digest('hex');
}

/** `from` as an inclusive instant: a date means its first instant (UTC). */
function startOf(v: string | undefined): string | undefined {
  if (v === undefined) return undefined;
  return new Date(v.length === 10 ? `${v}T00:00:00Z` : v).toISOString();
}

/** `to` as an exclusive instant: a date includes the whole day (UTC), an instant is the bound itself. */
function endOf(v: string | undefined): string | undefined {
  if (v === undefined) return undefined;
  if (v.length !== 10) return new Date(v).toISOString();
  const d = new Date(`${v}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + 1);
  return d.toISOString();
}

const publishView = (protocolId: string, r: PublishResult) => ({
  protocolId,
  publishedVersion: r.published.version,
  previousVersion: r.previousVersion,
  clinicId: r.clinicId,
  changed: r.changed,
});

function versionSummary(v: ProtocolVersionRecord): z.infer<typeof VersionSummary> {
  return {
    version: v.version,
    status: v.status,
    note: v.note,
    createdBy: v.createdBy,
    createdAt: v.createdAt,
    updatedAt: v.updatedAt,
    publishedAt: v.publishedAt,
    publishedBy: v.publishedBy,
    contentHash: contentHash(v.definition),
  };
}

const versionView = (v: ProtocolVersionRecord) => ({
  ...versionSummary(v),
  protocolId: v.protocolId,
  definition: v.definition as Record<string, unknown>,
});

/** A definition's `title` (every kind's documents have one; validated before this is read). */
function titleOf(definition: unknown): string {
  const title = (definition as { title?: unknown }).title;
  return typeof title === 'string' ? title : '';
}

/** The server owns a version's `id` and `version`: the document takes them from the path and the store. */
function stamped(definition: unknown, id: string, version: number): unknown {
  return typeof definition === 'object' && definition !== null && !Array.isArray(definition)
    ? { ...definition, id, version }
    : definition;
}

// ---------------------------------------------------------------------------------------------------------------
// The routes
// ---------------------------------------------------------------------------------------------------------------

/**
 * Protocol administration for the role `admin`: list, read, draft (from scratch or from a version), edit a draft,
 * validate, diff two versions, simulate a version against the clinic's recorded cases, publish, roll back. Every
 * write is audited by the store in the same transaction as the write (creation, drafts, edits, publish, rollback),
 * with the role and the request id; simulations are audited here. Publishing or rolling back without `clinicId`
 * needs a global admin; a clinic-bound admin publishes, rolls back and simulates for its own clinic only.
 */
export function protocolRoutes(deps: ApiDeps): OpenAPIHono<ApiEnv> {
  const { store } = deps;
  const lookup = storeTokenLookup(store, deps.now);
  const app = openApiRouter();
  for (const path of ['/v1/protocols', '/v1/protocols/*', '/v1/simulations/*']) {
    app.use(path, requireRole(lookup, 'admin'));
  }

  const auditEntry = (
    principal: Principal,
    requestId: string,
    entry: {
      action: string;
      protocolId: string;
      protocolVersion?: number;
      clinicId?: string;
      detail?: AuditInput['detail'];
    },
  ): AuditInput => ({
    actorType: 'user',
    actorId: principal.userId,
    actorRole: principal.role,
    action: entry.action,
    protocolId: entry.protocolId,
    protocolVersion: entry.protocolVersion ?? null,
    clinicId: entry.clinicId ?? null,
    requestId,
    detail: entry.detail ?? {},
  });
  const audit = (...args: Parameters<typeof auditEntry>) => store.audit.appendAudit(auditEntry(...args));
  /** Who asks, for the audit rows the store writes inside its transactions. */
  const actor = (principal: Principal, requestId: string) => ({
    role: principal.role,
    requestId,
    ...(principal.tokenId ? { tokenId: principal.tokenId } : {}),
  });

  async function mustGetVersion(id: string, version: number): Promise<ProtocolVersionRecord> {
    const v = await store.protocols.getVersion(id, version);
    if (!v) throw new AppError('NOT_FOUND', 'Protocol version not found', { context: { protocolId: id, version } });
    return v;
  }

  /** The kind a stored protocol was created with. */
  async function kindOfProtocol(id: string): Promise<string> {
    const p = await store.protocols.get(id);
    if (!p) throw new AppError('NOT_FOUND', 'Protocol not found', { context: { protocolId: id } });
    return p.kind;
  }

  /** A stored version as a protocol its kind can run (422 if it somehow does not validate). */
  async function runnable(id: string, version: number): Promise<{ kind: AnyKind; definition: unknown }> {
    const v = await mustGetVersion(id, version);
    return parseAnyProtocol(stamped(v.definition, id, version), await kindOfProtocol(id));
  }

  app.openapi(listRoute, async (c) => {
    const protocols = await store.protocols.list();
    const items = await Promise.all(
      protocols.map(async (p) => {
        const published = await store.protocols.getPublished(p.id);
        return { ...p, published: published ? versionSummary(published) : null };
      }),
    );
    return c.json({ items }, 200);
  });

  app.openapi(getRoute, async (c) => {
    const { id } = c.req.valid('param');
    const p = await store.protocols.get(id);
    if (!p) throw new AppError('NOT_FOUND', 'Protocol not found', { context: { protocolId: id } });
    const versions = await store.protocols.listVersions(id);
    return c.json({ ...p, versions: versions.map(versionSummary) }, 200);
  });

  app.openapi(getVersionRoute, async (c) => {
    const { id, version } = c.req.valid('param');
    return c.json(versionView(await mustGetVersion(id, version)), 200);
  });

  app.openapi(validateRoute, (c) => {
    const issues = validateAnyProtocol(c.req.valid('json').definition);
    return c.json({ valid: issues.length === 0, issues }, 200);
  });

  app.openapi(createDraftRoute, async (c) => {
    const { id } = c.req.valid('param');
    const req = c.req.valid('json');
    const principal = c.get('principal');
    let existing = await store.protocols.get(id);
    if (!existing && req.fromVersion !== undefined) {
      throw new AppError('NOT_FOUND', 'Protocol not found', { context: { protocolId: id } });
    }
    const source =
      req.fromVersion !== undefined ? (await mustGetVersion(id, req.fromVersion)).definition : req.definition;
    // Validate with the version number this draft will most likely get; a concurrent draft is corrected below.
    const expected = (existing?.latestVersion ?? 0) + 1;
    const definition = stamped(source, id, expected);
    // A new protocol takes the kind of its first document; an existing one keeps the kind it was created with.
    const issues = validateAnyProtocol(definition, existing?.kind);
    if (issues.length) throw protocolInvalid(issues);
    const title = titleOf(definition);
    const kind = kindOf(definition)!.id;

    if (!existing) {
      try {
        existing = await store.protocols.create(
          { id, title, kind },
          auditEntry(principal, c.get('requestId'), {
            action: 'protocol.created',
            protocolId: id,
            detail: { title, kind },
          }),
        );
      } catch (err) {
        // Another admin created it at the same moment: draft into it, if it is of the same kind.
        if (!(err instanceof AppError && err.code === 'CONFLICT')) throw err;
        const raced = validateAnyProtocol(definition, await kindOfProtocol(id));
        if (raced.length) throw protocolInvalid(raced);
      }
    }
    const note = req.note ?? (req.fromVersion !== undefined ? `From version ${req.fromVersion}` : null);
    let draft = await store.protocols.createDraft({
      protocolId: id,
      definition,
      by: principal.userId,
      note,
      ...actor(principal, c.get('requestId')),
    });
    if (draft.version !== expected) {
      draft = await store.protocols.updateDraft({
        protocolId: id,
        version: draft.version,
        definition: stamped(source, id, draft.version),
        by: principal.userId,
        note,
      });
    }
    return c.json(versionView(draft), 201);
  });

  app.openapi(editDraftRoute, async (c) => {
    const { id, version } = c.req.valid('param');
    const req = c.req.valid('json');
    const principal = c.get('principal');
    const current = await mustGetVersion(id, version);
    if (current.status !== 'draft') {
      throw new AppError('CONFLICT', `Protocol version is ${current.status}; only drafts can change`);
    }
    const definition = stamped(req.definition, id, version);
    const issues = validateAnyProtocol(definition, await kindOfProtocol(id));
    if (issues.length) throw protocolInvalid(issues);
    const draft = await store.protocols.updateDraft(
      { protocolId: id, version, definition, by: principal.userId, note: req.note ?? current.note },
      (before, after) =>
        auditEntry(principal, c.get('requestId'), {
          action: 'protocol.draft_updated',
          protocolId: id,
          protocolVersion: version,
          detail: { before: contentHash(before.definition), after: contentHash(after.definition) },
        }),
    );
    return c.json(versionView(draft), 200);
  });

  app.openapi(diffRoute, async (c) => {
    const { id } = c.req.valid('param');
    const { from, to } = c.req.valid('query');
    const [a, b] = await Promise.all([runnable(id, from), runnable(id, to)]);
    return c.json({ protocolId: id, from, to, ...diffByKind(a.kind, a.definition, b.definition) }, 200);
  });

  /** Uploaded bundles evaluated now: the baseline decision is the clinic's version's (the kind's evaluator). */
  async function simulateBundles(
    kind: AnyKind,
    definition: unknown,
    bundles: unknown[],
    baseline: unknown,
    asOf: string,
  ) {
    const toFacts = deps.bundleFacts;
    if (!toFacts) throw new AppError('UNPROCESSABLE', 'Simulating uploaded bundles is not available on this server');
    const cases: KindCase[] = [];
    let skipped = 0;
    const recordedAt = deps.now().toISOString();
    for (const [i, bundle] of bundles.entries()) {
      let facts;
      try {
        facts = toFacts(kind.id, bundle, asOf);
      } catch (err) {
        if (!(err instanceof AppError) || err.code !== 'INVALID_INPUT') throw err;
        skipped += 1; // not this kind's input (no refill request, several patients, wrong shape)
        continue;
      }
      const id = (bundle as { id?: unknown }).id;
      const caseId = typeof id === 'string' && id.length > 0 ? id : `bundle-${i}`;
      cases.push({ caseId, recordedAt, facts, decision: await kind.evaluate(baseline, facts) });
    }
    const r = await compareKindCases(kind, kindEvaluator(kind, definition), cases);
    return {
      evaluated: r.evaluated,
      before: kindSummary(kind, r.before, r.evaluated),
      after: kindSummary(kind, r.after, r.evaluated),
      skipped,
      changed: r.changed.slice(0, MAX_SYNC_CHANGED),
      changedTotal: r.changed.length,
    };
  }

  app.openapi(simulateRoute, async (c) => {
    const { id, version } = c.req.valid('param');
    const req = c.req.valid('json');
    const { clinicId } = req;
    const principal = c.get('principal');
    // A clinic-bound token sees only its clinic; another clinic looks like it does not exist.
    if (principal.clinicId !== null && principal.clinicId !== clinicId) {
      throw new AppError('NOT_FOUND', 'No such clinic');
    }
    const clinic = await store.clinics.get(clinicId);
    if (!clinic) throw new AppError('NOT_FOUND', 'No such clinic');
    const { kind, definition: runnableDefinition } = await runnable(id, version);
    const range = { from: startOf(req.from), before: endOf(req.to) };
    const requestId = c.get('requestId');
    const query = {
      clinicId,
      protocolId: id,
      ...(range.from !== undefined && { from: range.from }),
      ...(range.before !== undefined && { before: range.before }),
    };

    /** Records the job, holds the admin to MAX_RUNNING_JOBS, and starts its workflow. */
    async function startJob(): Promise<string> {
      const start = deps.workflows.startSimulation?.bind(deps.workflows);
      if (!start) throw new AppError('TEMPORAL_UNAVAILABLE', 'Simulation jobs are not available on this server');
      const jobId = `sim_${randomUUID()}`;
      await store.simulations.create({
        id: jobId,
        requestedBy: principal.userId,
        requestedRole: principal.role,
        clinicId,
        protocolId: id,
        protocolVersion: version,
        definition: runnableDefinition,
        rangeFrom: range.from ?? null,
        rangeBefore: range.before ?? null,
        caseLimit: req.limit ?? null,
        requestId,
      });
      // Counted after inserting: two concurrent requests each see the other, so the cap can refuse both but never
      // admit one too many (no lock needed on either database).
      const since = new Date(deps.now().getTime() - JOB_ACTIVE_WINDOW_MS).toISOString();
      if ((await store.simulations.countRunning(principal.userId, since)) > MAX_RUNNING_JOBS) {
        await store.simulations.remove(jobId);
        throw new AppError(
          'CONFLICT',
          `You already have ${MAX_RUNNING_JOBS} simulation jobs running; wait for one to finish (GET /v1/simulations/{jobId})`,
        );
      }
      try {
        await start({ jobId });
      } catch (err) {
        await store.simulations.fail(jobId, { code: 'TEMPORAL_UNAVAILABLE', message: 'The job could not be started' });
        throw err;
      }
      return jobId;
    }

    if (req.async) return c.json({ jobId: await startJob() }, 202);

    let report;
    if (req.bundles !== undefined) {
      const p = await store.protocols.get(id);
      const baseVersion =
        clinic.protocolId === id ? (clinic.protocolVersion ?? p?.publishedVersion) : p?.publishedVersion;
      if (baseVersion === null || baseVersion === undefined) {
        throw new AppError('CONFLICT', 'The protocol has no published version to compare with');
      }
      const baseline = (await runnable(id, baseVersion)).definition;
      report = await simulateBundles(
        kind,
        runnableDefinition,
        req.bundles,
        baseline,
        req.asOf ?? deps.now().toISOString().slice(0, 10),
      );
    } else {
      if (req.limit === undefined && (await store.snapshots.count(query)) > MAX_SYNC_CASES) {
        throw new AppError('INVALID_INPUT', `More than ${MAX_SYNC_CASES} recorded cases match`, {
          issues: [
            {
              path: '$.limit',
              message: `a synchronous simulation evaluates at most ${MAX_SYNC_CASES} recorded cases: narrow from/to, give a limit, or run it as a job (async: true)`,
            },
          ],
        });
      }
      // The kind's evaluator, or its accelerator (refill: compiled, decisions identical to json-rules-engine).
      report = await simulateKindRecorded(
        kind,
        store.snapshots,
        runnableDefinition,
        { ...query, ...(req.limit !== undefined && { limit: req.limit }) },
        { maxChanged: MAX_SYNC_CHANGED, onPage: () => yieldToLoop() }, // other requests are served between pages
      );
    }
    await audit(principal, requestId, {
      action: 'protocol.simulated',
      protocolId: id,
      protocolVersion: version,
      clinicId,
      detail: {
        evaluated: report.evaluated,
        changed: report.changedTotal,
        input: req.bundles !== undefined ? 'bundles' : 'recorded',
        from: range.from ?? null,
        before: range.before ?? null,
      },
    });
    return c.json({ protocolId: id, version, clinicId, ...report }, 200);
  });

  app.openapi(jobRoute, async (c) => {
    const { jobId } = c.req.valid('param');
    const { cursor, pageSize } = c.req.valid('query');
    const principal = c.get('principal');
    const job = await store.simulations.get(jobId);
    if (!job || (principal.clinicId !== null && principal.clinicId !== job.clinicId)) {
      throw new AppError('NOT_FOUND', 'No such simulation job');
    }
    const view: z.infer<typeof JobView> = {
      jobId,
      status: job.status,
      progress: { done: job.evaluated + job.skipped, total: job.total },
      ...(job.status === 'failed' && {
        error: { code: job.errorCode ?? 'INTERNAL', message: job.errorMessage ?? 'Simulation failed' },
      }),
    };
    if (job.status === 'done') {
      const rows = await store.simulations.listChanged(jobId, cursor, pageSize + 1);
      const page = rows.slice(0, pageSize);
      // The job's definition was parsed with its kind's schema when it was recorded.
      const kind = kindOf(job.definition);
      if (!kind) throw new Error('a simulation job of a protocol kind this build does not know');
      view.report = {
        protocolId: job.protocolId,
        version: job.protocolVersion,
        clinicId: job.clinicId,
        skipped: job.skipped,
        evaluated: job.evaluated,
        before: kindSummary(kind, job.countsBefore, job.evaluated),
        after: kindSummary(kind, job.countsAfter, job.evaluated),
        changedTotal: job.changedTotal,
        changed: page.map((r) => r.detail as KindChangedCase),
      };
      view.page = {
        cursor,
        next: rows.length > pageSize ? (page.at(-1)?.seq ?? null) : null,
        stored: job.changedStored,
      };
    }
    return c.json(view, 200);
  });

  /**
   * Publish and rollback move what clinics run: without `clinicId` the protocol's live version, which every clinic
   * not pinned to a version follows, so only a global admin may; a clinic-bound admin only for its own clinic.
   */
  function assertMayRepoint(principal: Principal, clinicId: string | undefined, what: string): void {
    if (clinicId === undefined) {
      assertGlobalAdmin(principal, `${what} for every clinic; a clinic admin gives its own clinicId`);
    } else if (principal.clinicId !== null && principal.clinicId !== clinicId) {
      throw new AppError('FORBIDDEN', `A clinic admin may ${what} only for its own clinic`);
    }
  }

  app.openapi(publishRoute, async (c) => {
    const { id, version } = c.req.valid('param');
    const { clinicId, note } = c.req.valid('json') ?? {};
    const principal = c.get('principal');
    assertMayRepoint(principal, clinicId, 'publish');
    await runnable(id, version); // never make a document live that the worker could not run
    const r = await store.protocols.publish({
      protocolId: id,
      version,
      by: principal.userId,
      ...(note !== undefined && { note }),
      ...actor(principal, c.get('requestId')),
      ...(clinicId !== undefined && { clinicId }),
    });
    return c.json(publishView(id, r), 200);
  });

  app.openapi(rollbackRoute, async (c) => {
    const { id } = c.req.valid('param');
    const { toVersion, clinicId, note } = c.req.valid('json');
    const principal = c.get('principal');
    assertMayRepoint(principal, clinicId, 'roll back');
    const r = await store.protocols.rollback({
      protocolId: id,
      toVersion,
      by: principal.userId,
      ...(note !== undefined && { note }),
      ...actor(principal, c.get('requestId')),
      ...(clinicId !== undefined && { clinicId }),
    });
    return c.json(publishView(id, r), 200);
  });

  return app;
}
