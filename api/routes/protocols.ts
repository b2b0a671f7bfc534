import { createHash } from 'node:crypto';
import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { bodyLimit } from 'hono/body-limit';
import type { AuditInput, ProtocolVersionRecord } from '../../connectors/db/index.ts';
import { IdSchema } from '../../connectors/db/clinics.ts';
import { canonicalJson, diffProtocols } from '../../rules/engine/diff.ts';
import type { RecordedCase } from '../../rules/engine/simulate.ts';
import { simulateCompiled } from '../../rules/engine/simulate-compiled.ts';
import {
  AppError,
  parseProtocol,
  RefillFactsSchema,
  TriageDecisionSchema,
  validateProtocol,
  type ProtocolDefinition,
  type ProtocolIssue,
} from '../../rules/index.ts';
import type { ApiDeps } from '../deps.ts';
import type { ApiEnv, Principal } from '../env.ts';
import { invalidInput } from '../errors.ts';
import { requireRole, type TokenLookup } from '../middleware/auth.ts';

/** Deeper than this, a definition is refused before validation (recursive schemas must not exhaust the stack). */
const MAX_DEPTH = 64;
const MAX_BODY_BYTES = 1024 * 1024;

// ---------------------------------------------------------------------------------------------------------------
// Schemas
// ---------------------------------------------------------------------------------------------------------------

const bearer = [{ bearer: [] }];
const errors = { description: 'Error envelope { error: { code, message, requestId, issues? } }' };
const invalid = {
  description: 'PROTOCOL_INVALID: { error: { code, message, requestId, issues: [{ path, message }] } }',
};

const IdParam = z.object({ id: z.string().pipe(IdSchema).openapi({ example: 'family-medicine-2015' }) });
const VersionNumber = z.coerce.number().int().min(1).max(1_000_000_000);
const VersionParams = IdParam.extend({ version: VersionNumber.openapi({ example: 1 }) });

const Definition = z
  .unknown()
  .openapi({ type: 'object', description: 'A protocol document (rules/README.md; schema: rules/schema/protocol.ts)' });

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
  .openapi('DraftRequest');

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
    ]),
    id: z.string(),
    category: z.string().optional(),
    change: z.enum(['added', 'removed', 'changed']),
    before: z.unknown().optional(),
    after: z.unknown().optional(),
    fields: z.array(FieldChange).optional(),
  })
  .openapi('ProtocolChange');

const Disposition = z.enum(['approve', 'needs_visit', 'nurse_review', 'doctor_review']);
const Summary = z.object({ counts: z.record(Disposition, z.number()), automationRate: z.number().nullable() });
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
    changed: z.array(
      z.object({
        caseId: z.string(),
        recordedAt: z.string(),
        before: z.object({
          disposition: Disposition,
          protocolVersion: z.number(),
          failedCriteria: z.array(z.string()),
        }),
        after: z.object({ disposition: Disposition, failedCriteria: z.array(z.string()) }),
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
    previousVersion: z.number().nullable(),
    changed: z.boolean(),
  })
  .openapi('PublishResult');

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
    401: errors,
    403: errors,
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
    401: errors,
    403: errors,
    404: errors,
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
    401: errors,
    403: errors,
    404: errors,
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
    400: errors,
    401: errors,
    403: errors,
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
    400: errors,
    401: errors,
    403: errors,
    404: errors,
    422: invalid,
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
    400: errors,
    401: errors,
    403: errors,
    404: errors,
    409: errors,
    422: invalid,
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
  request: { params: IdParam, query: z.object({ from: VersionNumber, to: VersionNumber }) },
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
    400: errors,
    401: errors,
    403: errors,
    404: errors,
    422: invalid,
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
    'and every case whose disposition changed with the criteria whose pass/fail changed.',
  security: bearer,
  request: {
    params: VersionParams,
    body: body(z.strictObject({ clinicId: IdSchema, limit: z.number().int().min(1).max(5000).default(500) })),
  },
  responses: {
    200: { description: 'The simulation', content: Json(SimulationView) },
    400: errors,
    401: errors,
    403: errors,
    404: errors,
    422: invalid,
  },
});

const publishRoute = createRoute({
  method: 'post',
  path: '/v1/protocols/{id}/versions/{version}/publish',
  tags,
  summary: 'Publishes a draft: it becomes the live version; the previous one is retired',
  description: 'New cases use it; cases in flight keep the version they started with. A retry is a no-op.',
  security: bearer,
  request: { params: VersionParams },
  responses: {
    200: { description: 'Published', content: Json(PublishView) },
    401: errors,
    403: errors,
    404: errors,
    409: errors,
    422: invalid,
  },
});

const rollbackRoute = createRoute({
  method: 'post',
  path: '/v1/protocols/{id}/rollback',
  tags,
  summary: 'Makes a previously published (retired) version live again',
  security: bearer,
  request: { params: IdParam, body: body(z.strictObject({ toVersion: VersionNumber })) },
  responses: {
    200: { description: 'Rolled back', content: Json(PublishView) },
    400: errors,
    401: errors,
    403: errors,
    404: errors,
    409: errors,
  },
});

// ---------------------------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------------------------

/** sha256 (hex) of the canonical JSON of a definition: equal content ⇒ equal hash, whatever the key order. */
export function contentHash(definition: unknown): string {
  return createHash('sha256').update(canonicalJson(definition)).digest('hex');
}

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
  definition: v.definition as unknown,
});

/** True when `value` nests deeper than `max` (iterative: a hostile document cannot overflow the stack here). */
function tooDeep(value: unknown, max: number): boolean {
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length) {
    const [v, depth] = stack.pop()!;
    if (v === null || typeof v !== 'object') continue;
    if (depth >= max) return true;
    for (const child of Object.values(v)) stack.push([child, depth + 1]);
  }
  return false;
}

/** Validates a document; problems are reported with paths relative to the document (`$.categories[0].id`). */
function checkDefinition(definition: unknown): ProtocolIssue[] {
  if (tooDeep(definition, MAX_DEPTH)) return [{ path: '$', message: `nested deeper than ${MAX_DEPTH} levels` }];
  return validateProtocol(definition);
}

function protocolInvalid(issues: ProtocolIssue[]): AppError {
  const first = issues[0];
  return new AppError(
    'PROTOCOL_INVALID',
    `protocol is invalid: ${first ? `${first.path}: ${first.message}` : 'unknown problem'}`,
    { issues },
  );
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
 * write is audited: drafts, publish and rollback by the store in the same transaction; protocol creation, draft edits
 * and simulations here.
 */
export function protocolRoutes(deps: ApiDeps): OpenAPIHono<ApiEnv> {
  const { store } = deps;
  const lookup: TokenLookup = async (raw) => {
    const t = await store.tokens.findByToken(raw);
    return t ? { userId: t.userId, role: t.role, clinicId: t.clinicId } : null;
  };
  const app = new OpenAPIHono<ApiEnv>({
    defaultHook: (result) => {
      if (!result.success) throw invalidInput(result.error, 'request');
    },
  });
  for (const path of ['/v1/protocols', '/v1/protocols/*']) {
    app.use(path, requireRole(lookup, 'admin'));
    app.use(
      path,
      bodyLimit({
        maxSize: MAX_BODY_BYTES,
        onError: () => {
          throw new AppError('INVALID_INPUT', `Request body larger than ${MAX_BODY_BYTES} bytes`);
        },
      }),
    );
  }

  const audit = (
    principal: Principal,
    requestId: string,
    entry: {
      action: string;
      protocolId: string;
      protocolVersion?: number;
      clinicId?: string;
      detail?: AuditInput['detail'];
    },
  ) =>
    store.audit.appendAudit({
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

  async function mustGetVersion(id: string, version: number): Promise<ProtocolVersionRecord> {
    const v = await store.protocols.getVersion(id, version);
    if (!v) throw new AppError('NOT_FOUND', 'Protocol version not found', { context: { protocolId: id, version } });
    return v;
  }

  /** A stored version as a protocol the engine can run (422 if it somehow does not validate). */
  async function runnable(id: string, version: number): Promise<ProtocolDefinition> {
    const v = await mustGetVersion(id, version);
    return parseProtocol(stamped(v.definition, id, version));
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
    const issues = checkDefinition(c.req.valid('json').definition);
    return c.json({ valid: issues.length === 0, issues }, 200);
  });

  app.openapi(createDraftRoute, async (c) => {
    const { id } = c.req.valid('param');
    const req = c.req.valid('json');
    const principal = c.get('principal');
    if ((req.definition === undefined) === (req.fromVersion === undefined)) {
      throw new AppError('INVALID_INPUT', 'Give exactly one of definition and fromVersion', {
        issues: [{ path: '$.definition', message: 'give exactly one of definition and fromVersion' }],
      });
    }
    let existing = await store.protocols.get(id);
    if (!existing && req.fromVersion !== undefined) {
      throw new AppError('NOT_FOUND', 'Protocol not found', { context: { protocolId: id } });
    }
    const source =
      req.fromVersion !== undefined ? (await mustGetVersion(id, req.fromVersion)).definition : req.definition;
    // Validate with the version number this draft will most likely get; a concurrent draft is corrected below.
    const expected = (existing?.latestVersion ?? 0) + 1;
    const definition = stamped(source, id, expected);
    const issues = checkDefinition(definition);
    if (issues.length) throw protocolInvalid(issues);
    const title = (definition as ProtocolDefinition).title;

    if (!existing) {
      try {
        existing = await store.protocols.create({ id, title });
        await audit(principal, c.get('requestId'), { action: 'protocol.created', protocolId: id, detail: { title } });
      } catch (err) {
        // Another admin created it at the same moment: draft into it.
        if (!(err instanceof AppError && err.code === 'CONFLICT')) throw err;
      }
    }
    const note = req.note ?? (req.fromVersion !== undefined ? `From version ${req.fromVersion}` : null);
    let draft = await store.protocols.createDraft({ protocolId: id, definition, by: principal.userId, note });
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
    const issues = checkDefinition(definition);
    if (issues.length) throw protocolInvalid(issues);
    const draft = await store.protocols.updateDraft({
      protocolId: id,
      version,
      definition,
      by: principal.userId,
      note: req.note ?? current.note,
    });
    await audit(principal, c.get('requestId'), {
      action: 'protocol.draft_updated',
      protocolId: id,
      protocolVersion: version,
      detail: { before: contentHash(current.definition), after: contentHash(draft.definition) },
    });
    return c.json(versionView(draft), 200);
  });

  app.openapi(diffRoute, async (c) => {
    const { id } = c.req.valid('param');
    const { from, to } = c.req.valid('query');
    const [a, b] = await Promise.all([runnable(id, from), runnable(id, to)]);
    return c.json({ protocolId: id, from, to, ...diffProtocols(a, b) }, 200);
  });

  app.openapi(simulateRoute, async (c) => {
    const { id, version } = c.req.valid('param');
    const { clinicId, limit } = c.req.valid('json');
    const principal = c.get('principal');
    // A clinic-bound token sees only its clinic; another clinic looks like it does not exist.
    if (principal.clinicId !== null && principal.clinicId !== clinicId) {
      throw new AppError('NOT_FOUND', 'No such clinic');
    }
    if (!(await store.clinics.get(clinicId))) throw new AppError('NOT_FOUND', 'No such clinic');
    const protocol = await runnable(id, version);
    const snapshots = await store.snapshots.list({ clinicId, protocolId: id, limit });
    const cases: RecordedCase[] = [];
    for (const s of snapshots) {
      const facts = RefillFactsSchema.safeParse(s.facts);
      const decision = TriageDecisionSchema.safeParse(s.decision);
      if (facts.success && decision.success) {
        cases.push({ caseId: s.caseId, recordedAt: s.recordedAt, facts: facts.data, decision: decision.data });
      }
    }
    // The compiled evaluator: decisions identical to json-rules-engine (test/rules/compile.test.ts), ~70× faster.
    const report = simulateCompiled(protocol, cases);
    await audit(principal, c.get('requestId'), {
      action: 'protocol.simulated',
      protocolId: id,
      protocolVersion: version,
      clinicId,
      detail: { evaluated: report.evaluated, changed: report.changed.length },
    });
    return c.json({ protocolId: id, version, clinicId, skipped: snapshots.length - cases.length, ...report }, 200);
  });

  app.openapi(publishRoute, async (c) => {
    const { id, version } = c.req.valid('param');
    await runnable(id, version); // never make a document live that the worker could not run
    const r = await store.protocols.publish({ protocolId: id, version, by: c.get('principal').userId });
    return c.json(
      { protocolId: id, publishedVersion: r.published.version, previousVersion: r.previousVersion, changed: r.changed },
      200,
    );
  });

  app.openapi(rollbackRoute, async (c) => {
    const { id } = c.req.valid('param');
    const { toVersion } = c.req.valid('json');
    const r = await store.protocols.rollback({ protocolId: id, toVersion, by: c.get('principal').userId });
    return c.json(
      { protocolId: id, publishedVersion: r.published.version, previousVersion: r.previousVersion, changed: r.changed },
      200,
    );
  });

  return app;
}
