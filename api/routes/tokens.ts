import type { OpenAPIHono } from '@hono/zod-openapi';
import { createRoute, z } from '@hono/zod-openapi';
import { issueToken, tokenView, type ApiToken } from '../../connectors/db/index.ts';
import { AppError } from '../../rules/index.ts';
import { RoleSchema } from '../../rules/schema/case.ts';
import type { ApiDeps } from '../deps.ts';
import type { ApiEnv, Principal } from '../env.ts';
import { errorResponses, openApiRouter } from '../errors.ts';
import { isGlobalAdmin, requireRole, storeTokenLookup } from '../middleware/auth.ts';
import { Id } from '../schemas.ts';

const TokenView = z
  .object({
    id: z.string().openapi({ example: 'tok_3q2Lr0hVd1xQ' }),
    name: z.string(),
    role: RoleSchema,
    userId: z.string().openapi({ description: 'The person the token belongs to (e-mail or staff id)' }),
    clinicId: z.string().nullable(),
    createdAt: z.string(),
    createdBy: z.string().nullable(),
    expiresAt: z.string().nullable().openapi({ description: 'null: never (demo and legacy tokens only)' }),
    lastUsedAt: z.string().nullable(),
    revokedAt: z.string().nullable(),
  })
  .openapi('ApiToken');

const IssueBody = z
  .strictObject({
    role: RoleSchema,
    /** A person's id: e-mail or staff id (the same pattern issueToken checks). */
    userId: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9._@+-]{0,199}$/, 'a person’s id: e-mail or staff id (letters, digits, . _ @ + -)')
      .openapi({ example: 'ana.lopez@clinic.example' }),
    clinicId: Id.nullable().optional(),
    name: z.string().min(1).max(200).optional(),
    expiresIn: z
      .string()
      .regex(/^[1-9]\d{0,4}[dh]$/, 'a lifetime such as 30d or 12h')
      .optional()
      .openapi({ example: '30d', description: 'Default TOKEN_DEFAULT_TTL_DAYS, at most TOKEN_MAX_TTL_DAYS' }),
  })
  .openapi('TokenIssue');

const bearer = [{ bearer: [] }];
const json = <T extends z.ZodType>(schema: T, description: string) => ({
  description,
  content: { 'application/json': { schema } },
});

const issueRoute = createRoute({
  method: 'post',
  path: '/v1/tokens',
  summary: 'Issue an API token for one person (admin); the token is shown once',
  description:
    'A global admin issues any token; a clinic admin only tokens bound to its own clinic. Doctor and nurse tokens ' +
    'must name their clinic once there are several clinics; a privacy officer’s token (role `privacy`: access ' +
    'monitoring of its clinic only) always. Every token expires. Audited (`token.issued`).',
  security: bearer,
  request: { body: { content: { 'application/json': { schema: IssueBody } }, required: true } },
  responses: {
    201: json(z.object({ token: z.string(), record: TokenView }).openapi('TokenIssued'), 'Issued'),
    ...errorResponses(400, 401, 403, 422),
  },
});

const listRoute = createRoute({
  method: 'get',
  path: '/v1/tokens',
  summary: 'API tokens (admin): ids, owners, expiry, last use; never a token or its hash',
  security: bearer,
  request: {
    query: z.object({
      clinicId: Id.optional(),
      includeRevoked: z.enum(['true', 'false']).optional(),
    }),
  },
  responses: { 200: json(z.object({ items: z.array(TokenView) }), 'Tokens'), ...errorResponses(400, 401, 403) },
});

const revokeRoute = createRoute({
  method: 'delete',
  path: '/v1/tokens/{id}',
  summary: 'Revoke an API token (admin); it stops working at once. Audited (`token.revoked`)',
  security: bearer,
  request: { params: z.object({ id: z.string().regex(/^tok_[A-Za-z0-9_-]{1,64}$/) }) },
  responses: { 204: { description: 'Revoked' }, ...errorResponses(400, 401, 403, 404) },
});

/**
 * API token administration for the role `admin`: issue (per person, always expiring, shown once), list, revoke. A
 * global admin manages every token; a clinic admin only its clinic's tokens, and never a token for all clinics.
 */
export function tokenRoutes(deps: ApiDeps): OpenAPIHono<ApiEnv> {
  const { store, config } = deps;
  const app = openApiRouter();
  for (const path of ['/v1/tokens', '/v1/tokens/*'])
    app.use(path, requireRole(storeTokenLookup(store, deps.now), 'admin'));

  /** A clinic admin sees only its clinic's tokens; any other looks like it does not exist. */
  const visible = (principal: Principal, t: ApiToken | null): t is ApiToken =>
    t !== null && (isGlobalAdmin(principal) || t.clinicId === principal.clinicId);

  app.openapi(issueRoute, async (c) => {
    const principal = c.get('principal');
    const body = c.req.valid('json');
    // A clinic admin's tokens are its clinic's: absent clinicId means its own; another clinic or none is refused.
    const clinicId = isGlobalAdmin(principal) || body.clinicId !== undefined ? body.clinicId : principal.clinicId;
    if (!isGlobalAdmin(principal) && clinicId !== principal.clinicId) {
      throw new AppError('FORBIDDEN', 'A clinic admin issues tokens for its own clinic only');
    }
    const { token, record } = await issueToken(
      store,
      { ...body, ...(clinicId !== undefined ? { clinicId } : {}) },
      {
        by: principal.userId,
        byRole: principal.role,
        actorType: 'user',
        requestId: c.get('requestId'),
        now: deps.now(),
        defaultTtlDays: config.TOKEN_DEFAULT_TTL_DAYS,
        maxTtlDays: config.TOKEN_MAX_TTL_DAYS,
      },
    );
    return c.json({ token, record: tokenView(record) }, 201);
  });

  app.openapi(listRoute, async (c) => {
    const principal = c.get('principal');
    const q = c.req.valid('query');
    if (!isGlobalAdmin(principal) && q.clinicId !== undefined && q.clinicId !== principal.clinicId) {
      return c.json({ items: [] }, 200);
    }
    const clinicId = isGlobalAdmin(principal) ? q.clinicId : principal.clinicId!;
    const items = await store.tokens.list({
      ...(clinicId !== undefined ? { clinicId } : {}),
      includeRevoked: q.includeRevoked === 'true',
    });
    return c.json({ items: items.map(tokenView) }, 200);
  });

  app.openapi(revokeRoute, async (c) => {
    const principal = c.get('principal');
    const { id } = c.req.valid('param');
    const t = await store.tokens.get(id);
    if (!visible(principal, t) || t.revokedAt !== null) throw new AppError('NOT_FOUND', 'No such active token');
    await store.tokens.revoke(id, {
      at: deps.now().toISOString(),
      actorType: 'user',
      actorId: principal.userId,
      actorRole: principal.role,
      action: 'token.revoked',
      clinicId: t.clinicId,
      requestId: c.get('requestId'),
      detail: { role: t.role, userId: t.userId },
    });
    return c.body(null, 204);
  });

  return app;
}
