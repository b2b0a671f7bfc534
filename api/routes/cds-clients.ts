import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import type { CdsClient } from '../../connectors/db/index.ts';
import { AppError } from '../../rules/index.ts';
import type { ApiDeps } from '../deps.ts';
import type { ApiEnv } from '../env.ts';
import { errorResponses, openApiRouter } from '../errors.ts';
import { clinicVisibleTo, requireRole, storeTokenLookup } from '../middleware/auth.ts';
import { Id } from '../schemas.ts';

// Which EHRs may call the clinic's CDS Hooks services (api/routes/cds-hooks.ts): each is registered by the issuer of
// its signed JWT (`iss`) and its public keys, a JWKS URL (https) or an inline JWKS. An admin of the clinic (or a
// global admin) registers, lists and removes them; every change is audited.

const Iss = z.string().min(1).max(512).openapi({ example: 'https://ehr.example.org' });
const Jwks = z
  .strictObject({ keys: z.array(z.record(z.string(), z.unknown())).min(1).max(20) })
  .openapi({ description: 'An inline JWKS with the EHR’s public keys' });
const Registration = z
  .strictObject({
    iss: Iss,
    jwksUrl: z
      .url({ protocol: /^https$/ })
      .max(2048)
      .optional()
      .openapi({ description: 'Where the EHR publishes its JWKS (https)' }),
    jwks: Jwks.optional(),
  })
  .openapi({
    description: 'Exactly one of `jwksUrl` and `jwks`',
    oneOf: [{ required: ['jwksUrl'] }, { required: ['jwks'] }],
  })
  .refine((r) => (r.jwksUrl === undefined) !== (r.jwks === undefined), {
    message: 'exactly one of jwksUrl and jwks',
    path: ['jwksUrl'],
  })
  .openapi('CdsClientRegistration');
const ClientView = z
  .object({
    iss: Iss,
    jwksUrl: z.string().nullable(),
    jwks: Jwks.nullable(),
    createdAt: z.string().optional(),
  })
  .openapi('CdsClient');
const json = <T extends z.ZodType>(schema: T, description: string) => ({
  description,
  content: { 'application/json': { schema } },
});
const bearer = [{ bearer: [] }];
const path = '/v1/clinics/{clinicId}/cds-clients';

const listRoute = createRoute({
  method: 'get',
  path,
  summary: 'The EHRs registered to call the clinic’s CDS Hooks services (admin)',
  security: bearer,
  request: { params: z.object({ clinicId: Id }) },
  responses: {
    200: json(z.object({ items: z.array(ClientView) }), 'Registered CDS clients, at most 100'),
    ...errorResponses(400, 401, 403, 404),
  },
});

const putRoute = createRoute({
  method: 'put',
  path,
  summary: 'Register (or replace) an EHR as a CDS Hooks client of the clinic, by its JWT issuer (admin)',
  description:
    'The EHR’s JWTs are then verified against these keys and its calls evaluate this clinic’s protocols. 409 when ' +
    'the issuer is registered for another clinic. Audited (`cds_client.registered`).',
  security: bearer,
  request: {
    params: z.object({ clinicId: Id }),
    body: { content: { 'application/json': { schema: Registration } }, required: true },
  },
  responses: { 200: json(ClientView, 'Registered'), ...errorResponses(400, 401, 403, 404, 409) },
});

const deleteRoute = createRoute({
  method: 'delete',
  path,
  summary: 'Remove the clinic’s CDS client of an issuer (admin). Audited (`cds_client.removed`)',
  security: bearer,
  request: { params: z.object({ clinicId: Id }), query: z.object({ iss: Iss }) },
  responses: { 204: { description: 'Removed: its JWTs are refused' }, ...errorResponses(400, 401, 403, 404) },
});

export function cdsClientRoutes(deps: ApiDeps): OpenAPIHono<ApiEnv> {
  const { store } = deps;
  const app = openApiRouter();
  app.use('/v1/clinics/:clinicId/cds-clients', requireRole(storeTokenLookup(store, deps.now), 'admin'));
  const visibleClinic = clinicVisibleTo(store);
  const view = (c: CdsClient & { createdAt?: string }) => ({
    iss: c.iss,
    jwksUrl: c.jwksUrl,
    jwks: c.jwks,
    ...(c.createdAt ? { createdAt: c.createdAt } : {}),
  });

  app.openapi(listRoute, async (c) => {
    const clinic = await visibleClinic(c.get('principal'), c.req.valid('param').clinicId);
    return c.json({ items: (await store.cdsClients.list(clinic.id)).map(view) }, 200);
  });

  app.openapi(putRoute, async (c) => {
    const principal = c.get('principal');
    const clinic = await visibleClinic(principal, c.req.valid('param').clinicId);
    const body = c.req.valid('json');
    const existing = await store.cdsClients.get(body.iss);
    if (existing && existing.clinicId !== clinic.id) {
      throw new AppError('CONFLICT', 'This issuer is registered as a CDS client of another clinic', {
        issues: [{ path: '$.iss', message: 'registered for another clinic' }],
      });
    }
    const client: CdsClient = {
      iss: body.iss,
      clinicId: clinic.id,
      jwksUrl: body.jwksUrl ?? null,
      jwks: body.jwks ?? null,
    };
    await store.cdsClients.put(client);
    await store.audit.appendAudit({
      actorType: 'user',
      actorId: principal.userId,
      actorRole: principal.role,
      action: 'cds_client.registered',
      clinicId: clinic.id,
      requestId: c.get('requestId'),
      detail: { iss: body.iss, keys: body.jwksUrl ? 'url' : 'inline', replaced: existing !== null },
    });
    return c.json(view(client), 200);
  });

  app.openapi(deleteRoute, async (c) => {
    const principal = c.get('principal');
    const clinic = await visibleClinic(principal, c.req.valid('param').clinicId);
    const { iss } = c.req.valid('query');
    if (!(await store.cdsClients.remove(clinic.id, iss))) {
      throw new AppError('NOT_FOUND', 'No CDS client of this issuer for this clinic');
    }
    await store.audit.appendAudit({
      actorType: 'user',
      actorId: principal.userId,
      actorRole: principal.role,
      action: 'cds_client.removed',
      clinicId: clinic.id,
      requestId: c.get('requestId'),
      detail: { iss },
    });
    return c.body(null, 204);
  });

  return app;
}
