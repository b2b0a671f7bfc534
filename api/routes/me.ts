import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { RoleSchema } from '../../rules/schema/case.ts';
import type { ApiDeps } from '../deps.ts';
import type { ApiEnv } from '../env.ts';
import { errorResponses } from '../errors.ts';
import { ANY_ROLE, requireRole, storeTokenLookup } from '../middleware/auth.ts';

const MeSchema = z
  .object({
    userId: z.string(),
    role: RoleSchema,
    clinicId: z.string().nullable().openapi({ description: 'The clinic the token is bound to; null = all clinics' }),
  })
  .openapi('Me');

const meRoute = createRoute({
  method: 'get',
  path: '/v1/me',
  summary: 'Who the bearer token belongs to: user id, role and clinic (the console shows it after sign-in)',
  security: [{ bearer: [] }],
  responses: {
    200: { description: 'The caller', content: { 'application/json': { schema: MeSchema } } },
    ...errorResponses(401, 403),
  },
});

/**
 * `GET /v1/me`: the identity behind a bearer token. The console calls it at sign-in to check the pasted token and to
 * decide which decision buttons to offer; the server still authorises every decision itself.
 */
export function meRoutes(deps: Pick<ApiDeps, 'store'>): OpenAPIHono<ApiEnv> {
  const lookup = storeTokenLookup(deps.store);
  const app = new OpenAPIHono<ApiEnv>();
  app.use('/v1/me', requireRole(lookup, ...ANY_ROLE));
  app.openapi(meRoute, (c) => {
    const { userId, role, clinicId } = c.get('principal');
    return c.json({ userId, role, clinicId }, 200);
  });
  return app;
}
