import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import type { AuditInput, ClinicValueSet } from '../../connectors/db/index.ts';
import { AppError } from '../../rules/index.ts';
import { KINDS } from '../../rules/kinds/index.ts';
import { MAX_EXPANSION_CODES, parseValueSetExpansion } from '../../rules/value-set-expansion.ts';
import type { ApiDeps } from '../deps.ts';
import type { ApiEnv, Principal } from '../env.ts';
import { errorResponses, openApiRouter } from '../errors.ts';
import { clinicVisibleTo, requireRole, storeTokenLookup } from '../middleware/auth.ts';
import { MAX_VALUE_SET_BODY_BYTES } from '../middleware/body-limit.ts';
import { Id, keywords } from '../schemas.ts';

const MAX_CODES_PAGE = 5000;

const ValueSetId = z
  .string()
  .max(64)
  .regex(/^[a-z0-9]+(-[a-z0-9]+)*$/, 'a value set id: kebab-case')
  .openapi({ example: 'colonoscopy' });
const params = z.object({ clinicId: Id, valueSetId: ValueSetId });

// The FHIR R4 ValueSet fields read (rules/value-set-expansion.ts); every other field is allowed and ignored.
type Contains = { system?: string; code?: string; display?: string; abstract?: boolean; contains?: Contains[] };
const ContainsSchema: z.ZodType<Contains> = z.lazy(() =>
  z
    .looseObject({
      system: z.string().min(1).optional(),
      code: z.string().min(1).optional(),
      display: z.string().optional(),
      abstract: z.boolean().optional(),
      contains: z.array(ContainsSchema).max(MAX_EXPANSION_CODES).optional(),
    })
    // A code without its system is 422 at its path (rules/value-set-expansion.ts), not a schema rule: JSON Schema
    // generators do not carry `dependentRequired` through this recursive reference.
    .openapi('ValueSetContains'),
);
const ConceptSchema = z.looseObject({ code: z.string().min(1), display: z.string().optional() });
const IncludeSchema = z
  .looseObject({
    system: z.string().min(1).optional(),
    version: z.string().optional(),
    concept: z.array(ConceptSchema).max(MAX_EXPANSION_CODES).optional(),
    filter: z.array(z.unknown()).optional(),
    valueSet: z.array(z.string()).optional(),
  })
  // Concepts name their system: the refine below enforces the same rule.
  .openapi(keywords({ dependentRequired: { concept: ['system'] } }))
  .refine((i) => i.concept === undefined || i.system !== undefined, {
    message: 'an include with concepts needs its system',
    path: ['system'],
  });
const FhirValueSetBody = z
  .looseObject({
    resourceType: z.literal('ValueSet'),
    id: z.string().optional(),
    url: z.string().optional(),
    version: z.string().optional(),
    name: z.string().optional(),
    expansion: z.looseObject({ contains: z.array(ContainsSchema).max(MAX_EXPANSION_CODES).optional() }).optional(),
    compose: z.looseObject({ include: z.array(IncludeSchema).max(MAX_EXPANSION_CODES) }).optional(),
  })
  .openapi('FhirValueSet', {
    description:
      'A FHIR R4 ValueSet resource, e.g. a VSAC export. Read: `expansion.contains[]` (`system` + `code`, nested ' +
      '`contains`, `abstract` entries skipped) and `compose.include[].concept[]` (`code` with the include’s ' +
      '`system`); `display` is kept; `url|version` names the source. Everything else is ignored. At most ' +
      `${MAX_EXPANSION_CODES} codes.`,
  });

const ValueSetView = z
  .object({
    valueSetId: z.string(),
    kind: z.string(),
    hash: z.string().openapi({ description: 'SHA-256 of the canonical code list; evaluations record it' }),
    source: z.string(),
    codeCount: z.number().int(),
    updatedAt: z.string(),
    updatedBy: z.string(),
  })
  .openapi('ClinicValueSet');
const ValueSetList = z
  .object({
    items: z.array(ValueSetView),
    /** Every value set id the clinic's kinds declare, with its kind: the ids a PUT accepts. */
    declared: z.array(z.object({ valueSetId: z.string(), kind: z.string() })),
  })
  .openapi('ClinicValueSets');
const Code = z.object({ system: z.string(), code: z.string(), display: z.string().optional() });
const ValueSetWithCodes = ValueSetView.extend({
  codes: z.array(Code),
  nextOffset: z.number().int().nullable(),
}).openapi('ClinicValueSetCodes');

const json = <T extends z.ZodType>(schema: T, description: string) => ({
  description,
  content: { 'application/json': { schema } },
});
const bearer = [{ bearer: [] }];

const listRoute = createRoute({
  method: 'get',
  path: '/v1/clinics/{clinicId}/value-sets',
  summary: 'The value-set expansions the clinic loaded, and the ids its kinds declare (admin)',
  security: bearer,
  request: { params: z.object({ clinicId: Id }) },
  responses: { 200: json(ValueSetList, 'Loaded expansions'), ...errorResponses(400, 401, 403, 404) },
});

const putRoute = createRoute({
  method: 'put',
  path: '/v1/clinics/{clinicId}/value-sets/{valueSetId}',
  summary: 'Load the clinic’s full expansion of a value set (FHIR R4 ValueSet JSON, e.g. a VSAC export; admin)',
  description:
    'The expansion extends the kind’s built-in set of that id (built-in codes keep counting) for every evaluation ' +
    'that follows; evaluations record its hash. Only ids the clinic’s kinds declare (else 404). 422 when the ' +
    'ValueSet holds no code, a code without its system, only `filter`/`valueSet` includes, more than the code ' +
    'limit or nesting too deep. ' +
    `Body at most ${MAX_VALUE_SET_BODY_BYTES} bytes. Audited (\`value_set.loaded\`).`,
  security: bearer,
  request: {
    params,
    body: { content: { 'application/json': { schema: FhirValueSetBody } }, required: true },
  },
  responses: { 200: json(ValueSetView, 'In force'), ...errorResponses(400, 401, 403, 404, 422) },
});

const getRoute = createRoute({
  method: 'get',
  path: '/v1/clinics/{clinicId}/value-sets/{valueSetId}',
  summary: 'The clinic’s loaded expansion of a value set, its codes in pages (admin); 404 when the built-in applies',
  security: bearer,
  request: {
    params,
    query: z.object({
      offset: z.coerce.number().int().min(0).max(MAX_EXPANSION_CODES).default(0),
      limit: z.coerce.number().int().min(1).max(MAX_CODES_PAGE).default(1000),
    }),
  },
  responses: { 200: json(ValueSetWithCodes, 'The expansion'), ...errorResponses(400, 401, 403, 404) },
});

const deleteRoute = createRoute({
  method: 'delete',
  path: '/v1/clinics/{clinicId}/value-sets/{valueSetId}',
  summary: 'Fall back to the built-in value set (admin). Audited (`value_set.removed`)',
  security: bearer,
  request: { params },
  responses: { 204: { description: 'The built-in set applies' }, ...errorResponses(400, 401, 403, 404) },
});

/**
 * A clinic's value-set expansions (engine: any kind may declare value sets, `KindDeclaration.valueSets`): load (FHIR
 * ValueSet JSON), list, read, remove. Role `admin`; a token bound to a clinic manages only its clinic. Every change
 * is audited in its own transaction, with ids, hashes and counts only.
 */
export function valueSetRoutes(deps: ApiDeps): OpenAPIHono<ApiEnv> {
  const { store } = deps;
  const app = openApiRouter();
  const admin = requireRole(storeTokenLookup(store, deps.now), 'admin');
  app.use('/v1/clinics/:clinicId/value-sets', admin);
  app.use('/v1/clinics/:clinicId/value-sets/*', admin);

  const visibleClinic = clinicVisibleTo(store);

  /** The value set ids the kinds the clinic runs declare, with their kind. */
  async function declared(clinicId: string): Promise<{ valueSetId: string; kind: string }[]> {
    const out: { valueSetId: string; kind: string }[] = [];
    for (const kind of KINDS) {
      if (!kind.valueSets?.length || !(await store.clinics.protocolForKind(clinicId, kind.id))) continue;
      for (const valueSetId of kind.valueSets) out.push({ valueSetId, kind: kind.id });
    }
    return out;
  }

  /** The kind declaring `valueSetId` for the clinic; 404 when none of its kinds does. */
  async function kindOf(clinicId: string, valueSetId: string): Promise<string> {
    const found = (await declared(clinicId)).find((d) => d.valueSetId === valueSetId);
    if (!found) throw new AppError('NOT_FOUND', 'No value set with this id in the kinds this clinic runs');
    return found.kind;
  }

  const view = (r: ClinicValueSet, kind: string) => ({
    valueSetId: r.valueSetId,
    kind,
    hash: r.hash,
    source: r.source,
    codeCount: r.codeCount,
    updatedAt: r.updatedAt,
    updatedBy: r.updatedBy,
  });

  const auditEntry = (
    principal: Principal,
    requestId: string,
    action: string,
    clinicId: string,
    detail: Record<string, string | number | boolean | null>,
  ): AuditInput => ({
    at: deps.now().toISOString(),
    actorType: 'user',
    actorId: principal.userId,
    actorRole: principal.role,
    action,
    clinicId,
    requestId,
    detail,
  });

  app.openapi(listRoute, async (c) => {
    const clinic = await visibleClinic(c.get('principal'), c.req.valid('param').clinicId);
    const ids = await declared(clinic.id);
    const kindById = new Map(ids.map((d) => [d.valueSetId, d.kind]));
    const items = (await store.valueSets.list(clinic.id)).flatMap((r) => {
      const kind = kindById.get(r.valueSetId);
      return kind ? [view(r, kind)] : [];
    });
    return c.json({ items, declared: ids }, 200);
  });

  app.openapi(putRoute, async (c) => {
    const principal = c.get('principal');
    const { clinicId, valueSetId } = c.req.valid('param');
    const clinic = await visibleClinic(principal, clinicId);
    const kind = await kindOf(clinic.id, valueSetId);
    let parsed;
    try {
      parsed = parseValueSetExpansion(c.req.valid('json'));
    } catch (err) {
      // The body met the schema: what the engine refuses is well-formed but not usable.
      if (!(err instanceof AppError && err.code === 'INVALID_INPUT')) throw err;
      throw new AppError('UNPROCESSABLE', err.message, { issues: [...err.issues] });
    }
    const before = await store.valueSets.list(clinic.id);
    const previousHash = before.find((r) => r.valueSetId === valueSetId)?.hash ?? null;
    const { record } = await store.valueSets.put(
      { clinicId: clinic.id, valueSetId, source: parsed.source, codes: parsed.codes, by: principal.userId },
      (r) =>
        auditEntry(principal, c.get('requestId'), 'value_set.loaded', clinic.id, {
          kind,
          valueSetId,
          hash: r.hash,
          previousHash,
          codeCount: r.codeCount,
        }),
    );
    return c.json(view(record, kind), 200);
  });

  app.openapi(getRoute, async (c) => {
    const { clinicId, valueSetId } = c.req.valid('param');
    const { offset, limit } = c.req.valid('query');
    const clinic = await visibleClinic(c.get('principal'), clinicId);
    const kind = await kindOf(clinic.id, valueSetId);
    const found = await store.valueSets.get(clinic.id, valueSetId);
    if (!found) throw new AppError('NOT_FOUND', 'No loaded expansion: the built-in value set applies');
    const { codes, ...record } = found;
    const end = offset + limit;
    return c.json(
      { ...view(record, kind), codes: codes.slice(offset, end), nextOffset: end < codes.length ? end : null },
      200,
    );
  });

  app.openapi(deleteRoute, async (c) => {
    const principal = c.get('principal');
    const { clinicId, valueSetId } = c.req.valid('param');
    const clinic = await visibleClinic(principal, clinicId);
    const kind = await kindOf(clinic.id, valueSetId);
    const removed = await store.valueSets.remove(clinic.id, valueSetId, (r) =>
      auditEntry(principal, c.get('requestId'), 'value_set.removed', clinic.id, {
        kind,
        valueSetId,
        hash: r.hash,
        codeCount: r.codeCount,
      }),
    );
    if (!removed) throw new AppError('NOT_FOUND', 'No loaded expansion: the built-in value set applies');
    return c.body(null, 204);
  });

  return app;
}
