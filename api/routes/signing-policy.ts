import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { MAX_COSIGN_DAYS, signingPolicyIssues, type StoredSigningPolicy } from '../../connectors/db/index.ts';
import { AppError, jsonPath } from '../../rules/index.ts';
import { DEFAULT_COSIGN_DAYS, SIGNING_DELEGATES, SIGNING_MODES } from '../../rules/lifecycle/index.ts';
import type { Role } from '../../rules/schema/case.ts';
import type { ApiDeps } from '../deps.ts';
import type { ApiEnv } from '../env.ts';
import { errorResponses, openApiRouter } from '../errors.ts';
import { clinicVisibleTo, requireRole, storeTokenLookup } from '../middleware/auth.ts';
import { Id } from '../schemas.ts';

const Mode = z.enum(SIGNING_MODES).openapi({
  description:
    '`doctor`: a doctor signs every approval. `delegated`: the `delegates` sign protocol approvals too ' +
    '(a PA as requester, a nurse or pharmacist as performer, under `authority`). `standing_order`: protocol-approved ' +
    'orders are activated at once (`authority` as requester) and a doctor co-signs them within `cosignDays`. ' +
    'Controlled substances are never delegated or activated at once, whatever the mode.',
});
/** rules/lifecycle SIGNING_DELEGATES, as an enum the document lists (test/api/signing-policy.test.ts holds them equal). */
export const Delegate = z.enum(['nurse', 'pharmacist', 'pa'] as const satisfies readonly Role[]);
const Authority = z
  .strictObject({
    reference: z
      .string()
      .regex(/^(Practitioner|PractitionerRole|Organization)\/[A-Za-z0-9.-]{1,64}$/, 'Practitioner/<id>')
      .nullable()
      .optional()
      .openapi({ example: 'Practitioner/dr-medical-director' }),
    display: z.string().min(1).max(200).openapi({ example: 'Dr. Ana Lopez, medical director' }),
  })
  .openapi('SigningAuthority', {
    description: 'The physician who authorises the delegation or the standing order (no patient data).',
  });

const PolicyBody = z
  .strictObject({
    mode: Mode,
    delegates: z
      .array(Delegate)
      .max(SIGNING_DELEGATES.length)
      .optional()
      .openapi({ example: ['pharmacist'] }),
    cosignDays: z.number().int().min(1).max(MAX_COSIGN_DAYS).optional().openapi({ example: DEFAULT_COSIGN_DAYS }),
    authority: Authority.nullable().optional(),
    expectedVersion: z.number().int().min(0).max(1_000_000).optional().openapi({
      description: 'The version last read: a policy changed since is refused with 409 instead of overwritten',
    }),
  })
  .openapi('SigningPolicyUpdate');

const PolicyView = z
  .object({
    clinicId: z.string(),
    protocolId: z.string(),
    mode: Mode,
    delegates: z.array(z.string()),
    cosignDays: z.number().int(),
    authority: z.object({ reference: z.string().nullable(), display: z.string() }).nullable(),
    version: z.number().int().openapi({ description: '0: never set (the `doctor` default applies)' }),
    updatedAt: z.string().nullable(),
    updatedBy: z.string().nullable(),
  })
  .openapi('SigningPolicy');

const params = z.object({ clinicId: Id, protocolId: Id });
const json = <T extends z.ZodType>(schema: T, description: string) => ({
  description,
  content: { 'application/json': { schema } },
});
const bearer = [{ bearer: [] }];

const listRoute = createRoute({
  method: 'get',
  path: '/v1/clinics/{clinicId}/signing-policy',
  summary: 'The clinic’s signing policies, per protocol (admin)',
  description: 'A protocol without a policy of its own runs the `doctor` policy.',
  security: bearer,
  request: { params: z.object({ clinicId: Id }) },
  responses: {
    200: json(z.object({ clinicId: z.string(), items: z.array(PolicyView) }), 'The policies set'),
    ...errorResponses(400, 401, 403, 404),
  },
});

const getRoute = createRoute({
  method: 'get',
  path: '/v1/clinics/{clinicId}/signing-policy/{protocolId}',
  summary: 'Who signs a protocol’s approvals at the clinic (admin)',
  security: bearer,
  request: { params },
  responses: {
    200: json(PolicyView, 'The policy (version 0: the `doctor` default)'),
    ...errorResponses(400, 401, 403, 404),
  },
});

const putRoute = createRoute({
  method: 'put',
  path: '/v1/clinics/{clinicId}/signing-policy/{protocolId}',
  summary: 'Set who signs a protocol’s approvals at the clinic (admin; audited)',
  description:
    'A new version of the policy; cases already triaged keep the version they pinned. 422 when the policy does ' +
    'not hold together (a delegation without delegates, delegates under another mode, a delegation or standing ' +
    'order without `authority`, a role named twice), 409 when `expectedVersion` is stale. Audited ' +
    '(`signing_policy.updated`).',
  security: bearer,
  request: { params, body: { content: { 'application/json': { schema: PolicyBody } }, required: true } },
  responses: {
    200: json(PolicyView, 'The policy now in force'),
    ...errorResponses(400, 401, 403, 404, 409, 422),
  },
});

const view = (p: StoredSigningPolicy) => ({
  clinicId: p.clinicId,
  protocolId: p.protocolId,
  mode: p.mode,
  delegates: [...p.delegates],
  cosignDays: p.cosignDays,
  authority: p.authority,
  version: p.version,
  updatedAt: p.updatedAt,
  updatedBy: p.updatedBy,
});

/**
 * A clinic's signing policy per protocol (issue 9 §1), for the role `admin`: read, list and set. Its own routes rather
 * than a field of the clinic's settings: a policy is per protocol (a clinic may run several), versioned (cases pin the
 * version they ran under) and changed under an optimistic `expectedVersion`; the clinic PATCH stays as it was.
 */
export function signingPolicyRoutes(deps: ApiDeps): OpenAPIHono<ApiEnv> {
  const { store } = deps;
  const app = openApiRouter();
  const admin = requireRole(storeTokenLookup(store, deps.now), 'admin');
  app.use('/v1/clinics/:clinicId/signing-policy', admin);
  app.use('/v1/clinics/:clinicId/signing-policy/*', admin);

  const visibleClinic = clinicVisibleTo(store);
  async function knownProtocol(protocolId: string): Promise<void> {
    if (!(await store.protocols.get(protocolId))) throw new AppError('NOT_FOUND', 'No such protocol');
  }

  app.openapi(listRoute, async (c) => {
    const clinic = await visibleClinic(c.get('principal'), c.req.valid('param').clinicId);
    const items = await store.signingPolicies.list(clinic.id);
    return c.json({ clinicId: clinic.id, items: items.map(view) }, 200);
  });

  app.openapi(getRoute, async (c) => {
    const { clinicId, protocolId } = c.req.valid('param');
    const clinic = await visibleClinic(c.get('principal'), clinicId);
    await knownProtocol(protocolId);
    return c.json(view(await store.signingPolicies.get(clinic.id, protocolId)), 200);
  });

  app.openapi(putRoute, async (c) => {
    const principal = c.get('principal');
    const { clinicId, protocolId } = c.req.valid('param');
    const clinic = await visibleClinic(principal, clinicId);
    await knownProtocol(protocolId);
    const { expectedVersion, ...body } = c.req.valid('json');
    // Well-formed but not usable: 422 with the path of each field at fault (no JSON Schema says these).
    const issues = signingPolicyIssues(body).map((i) => ({ path: jsonPath(i.path), message: i.message }));
    const first = issues[0];
    if (first) throw new AppError('UNPROCESSABLE', `Invalid policy at ${first.path}: ${first.message}`, { issues });
    const saved = await store.signingPolicies.put(
      clinic.id,
      protocolId,
      {
        mode: body.mode,
        delegates: body.delegates ?? [],
        ...(body.cosignDays !== undefined ? { cosignDays: body.cosignDays } : {}),
        authority: body.authority
          ? { reference: body.authority.reference ?? null, display: body.authority.display }
          : null,
      },
      {
        by: principal.userId,
        byRole: principal.role,
        requestId: c.get('requestId'),
        ...(expectedVersion !== undefined ? { expectedVersion } : {}),
      },
    );
    return c.json(view(saved), 200);
  });
  return app;
}
