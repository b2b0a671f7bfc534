import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { publicUrl } from '../../connectors/config.ts';
import { FHIR_USER_PATTERN, SmartRoleSchema, type SmartUser } from '../../connectors/db/index.ts';
import { AppError } from '../../rules/index.ts';
import { RoleSchema } from '../../rules/schema/case.ts';
import type { ApiDeps } from '../deps.ts';
import type { ApiEnv } from '../env.ts';
import { errorResponses, openApiRouter } from '../errors.ts';
import { clinicVisibleTo, requireRole, storeTokenLookup } from '../middleware/auth.ts';
import { Id } from '../schemas.ts';

// SMART App Launch settings of a clinic (issue 12 §3), for its admins: the app client registered at the clinic's EHR
// (the EHR is the clinic's FHIR base URL, `iss`), and which console user and role each EHR user (`fhirUser`) signs in
// as. Every change is audited.

const ClientId = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9._:-]+$/, 'letters, digits, . _ : -')
  .openapi({ example: 'ehr-autopilot-console' });
const SmartAppView = z
  .object({
    clientId: ClientId,
    iss: z.string().openapi({ description: 'The EHR: the clinic’s FHIR base URL' }),
    redirectUri: z.string().openapi({ description: 'Register this redirect URI with the EHR' }),
    launchUrl: z.string().openapi({ description: 'Register this launch URL with the EHR' }),
    updatedAt: z.string(),
  })
  .openapi('SmartApp');
// Built with this module's `z` (the one @hono/zod-openapi extends), not the store's schema: `.openapi` must exist
// whatever the import order.
const FhirUser = z
  .string()
  .regex(FHIR_USER_PATTERN, 'a relative reference such as Practitioner/123')
  .openapi({ example: 'Practitioner/pract-pcp-1' });
const UserId = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._@+-]{0,199}$/, 'a person’s id: e-mail or staff id (letters, digits, . _ @ + -)');
const SmartUserView = z
  .object({ fhirUser: FhirUser, userId: UserId, role: RoleSchema, updatedAt: z.string() })
  .openapi('SmartUser');
const SmartUserBody = z
  .strictObject({ fhirUser: FhirUser, userId: UserId, role: SmartRoleSchema })
  .openapi('SmartUserMapping');

const json = <T extends z.ZodType>(schema: T, description: string) => ({
  description,
  content: { 'application/json': { schema } },
});
const bearer = [{ bearer: [] }];
const params = z.object({ clinicId: Id });
const appPath = '/v1/clinics/{clinicId}/smart-app';
const usersPath = '/v1/clinics/{clinicId}/smart-users';

const getAppRoute = createRoute({
  method: 'get',
  path: appPath,
  summary: 'The clinic’s SMART App Launch client at its EHR (admin)',
  security: bearer,
  request: { params },
  responses: { 200: json(SmartAppView, 'The client'), ...errorResponses(400, 401, 403, 404) },
});
const putAppRoute = createRoute({
  method: 'put',
  path: appPath,
  summary: 'Register (or replace) the clinic’s SMART App Launch client id at its EHR (admin)',
  description:
    'Clinicians can then open the console from the EHR (EHR launch) or sign in through it (standalone launch). The ' +
    'EHR is the clinic’s FHIR base URL; 409 when another clinic with the same FHIR base has a SMART client already. ' +
    'Audited (`smart_app.registered`).',
  security: bearer,
  request: {
    params,
    body: { content: { 'application/json': { schema: z.strictObject({ clientId: ClientId }) } }, required: true },
  },
  responses: { 200: json(SmartAppView, 'Registered'), ...errorResponses(400, 401, 403, 404, 409) },
});
const deleteAppRoute = createRoute({
  method: 'delete',
  path: appPath,
  summary: 'Remove the clinic’s SMART App Launch client (admin): launches from its EHR are refused. Audited',
  security: bearer,
  request: { params },
  responses: { 204: { description: 'Removed' }, ...errorResponses(400, 401, 403, 404) },
});
const listUsersRoute = createRoute({
  method: 'get',
  path: usersPath,
  summary: 'Which console user and role each EHR user signs in as (admin), at most 500',
  security: bearer,
  request: { params },
  responses: {
    200: json(z.object({ items: z.array(SmartUserView) }), 'Mappings'),
    ...errorResponses(400, 401, 403, 404),
  },
});
const putUserRoute = createRoute({
  method: 'put',
  path: usersPath,
  summary: 'Map an EHR user (`fhirUser`) to a console user and role (admin). Audited (`smart_user.mapped`)',
  security: bearer,
  request: {
    params,
    body: { content: { 'application/json': { schema: SmartUserBody } }, required: true },
  },
  responses: { 200: json(SmartUserView, 'Mapped'), ...errorResponses(400, 401, 403, 404) },
});
const deleteUserRoute = createRoute({
  method: 'delete',
  path: usersPath,
  summary: 'Remove an EHR user’s mapping (admin): their next SMART sign-in is refused. Audited (`smart_user.removed`)',
  security: bearer,
  request: { params, query: z.object({ fhirUser: FhirUser }) },
  responses: { 204: { description: 'Removed' }, ...errorResponses(400, 401, 403, 404) },
});

/** The admin routes of a clinic's SMART App Launch settings. */
export function smartAdminRoutes(deps: ApiDeps): OpenAPIHono<ApiEnv> {
  const { store, config } = deps;
  const app = openApiRouter();
  for (const path of ['/v1/clinics/:clinicId/smart-app', '/v1/clinics/:clinicId/smart-users']) {
    app.use(path, requireRole(storeTokenLookup(store, deps.now), 'admin'));
  }
  const visibleClinic = clinicVisibleTo(store);
  const base = publicUrl(config);
  const audit = (c: Context<ApiEnv>, clinicId: string, action: string, detail: Record<string, string | boolean>) => {
    const principal = c.get('principal');
    return store.audit.appendAudit({
      at: deps.now().toISOString(),
      actorType: 'user',
      actorId: principal.userId,
      actorRole: principal.role,
      action,
      clinicId,
      requestId: c.get('requestId'),
      detail,
    });
  };
  const appView = (clientId: string, iss: string, updatedAt: string) => ({
    clientId,
    iss,
    redirectUri: `${base}/smart/callback`,
    launchUrl: `${base}/smart/launch`,
    updatedAt,
  });
  const userView = (u: SmartUser) => ({ fhirUser: u.fhirUser, userId: u.userId, role: u.role, updatedAt: u.updatedAt });

  app.openapi(getAppRoute, async (c) => {
    const clinic = await visibleClinic(c.get('principal'), c.req.valid('param').clinicId);
    const client = await store.smart.getClient(clinic.id);
    if (!client) throw new AppError('NOT_FOUND', 'This clinic has no SMART client');
    return c.json(appView(client.clientId, clinic.fhirBaseUrl, client.updatedAt), 200);
  });

  app.openapi(putAppRoute, async (c) => {
    const clinic = await visibleClinic(c.get('principal'), c.req.valid('param').clinicId);
    const { clientId } = c.req.valid('json');
    const others = (await store.smart.clientsForIss(clinic.fhirBaseUrl)).filter((o) => o.clinicId !== clinic.id);
    if (others.length > 0) {
      throw new AppError('CONFLICT', 'Another clinic with this FHIR base URL signs in through its EHR already', {
        issues: [{ path: '$.clientId', message: 'the EHR (FHIR base URL) has a SMART client of another clinic' }],
      });
    }
    const replaced = (await store.smart.getClient(clinic.id)) !== null;
    const client = await store.smart.putClient(clinic.id, clientId);
    await audit(c, clinic.id, 'smart_app.registered', { clientId, replaced });
    return c.json(appView(client.clientId, clinic.fhirBaseUrl, client.updatedAt), 200);
  });

  app.openapi(deleteAppRoute, async (c) => {
    const clinic = await visibleClinic(c.get('principal'), c.req.valid('param').clinicId);
    if (!(await store.smart.removeClient(clinic.id)))
      throw new AppError('NOT_FOUND', 'This clinic has no SMART client');
    await audit(c, clinic.id, 'smart_app.removed', {});
    return c.body(null, 204);
  });

  app.openapi(listUsersRoute, async (c) => {
    const clinic = await visibleClinic(c.get('principal'), c.req.valid('param').clinicId);
    return c.json({ items: (await store.smart.listUsers(clinic.id)).map(userView) }, 200);
  });

  app.openapi(putUserRoute, async (c) => {
    const clinic = await visibleClinic(c.get('principal'), c.req.valid('param').clinicId);
    const body = c.req.valid('json');
    const replaced = (await store.smart.getUser(clinic.id, body.fhirUser)) !== null;
    const user = await store.smart.putUser({ clinicId: clinic.id, ...body });
    await audit(c, clinic.id, 'smart_user.mapped', { ...body, replaced });
    return c.json(userView(user), 200);
  });

  app.openapi(deleteUserRoute, async (c) => {
    const clinic = await visibleClinic(c.get('principal'), c.req.valid('param').clinicId);
    const { fhirUser } = c.req.valid('query');
    if (!(await store.smart.removeUser(clinic.id, fhirUser))) {
      throw new AppError('NOT_FOUND', 'No mapping of this EHR user at this clinic');
    }
    await audit(c, clinic.id, 'smart_user.removed', { fhirUser });
    return c.body(null, 204);
  });

  return app;
}
