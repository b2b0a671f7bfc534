import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import type { ApiDeps } from '../deps.ts';
import type { ApiEnv } from '../env.ts';
import { errorResponse } from '../errors.ts';

const HealthSchema = z
  .object({
    status: z.enum(['ok', 'degraded']),
    checks: z.object({ api: z.literal('ok'), temporal: z.enum(['ok', 'down']), database: z.enum(['ok', 'down']) }),
  })
  .openapi('Health');

const route = createRoute({
  method: 'get',
  path: '/health',
  summary: '200 only when the API, Temporal and the app database answer',
  responses: {
    200: { description: 'Everything answers', content: { 'application/json': { schema: HealthSchema } } },
    503: {
      description: 'Temporal or the database does not answer',
      content: { 'application/json': { schema: HealthSchema } },
    },
    413: errorResponse(413),
    429: errorResponse(429),
  },
});

export function healthRoutes({ db, workflows }: ApiDeps): OpenAPIHono<ApiEnv> {
  return new OpenAPIHono<ApiEnv>().openapi(route, async (c) => {
    const [temporal, database] = await Promise.all([
      workflows.ping().then(
        () => 'ok' as const,
        () => 'down' as const,
      ),
      Promise.race([db.ping(), new Promise((_, reject) => setTimeout(() => reject(new Error('timeout')), 2000))]).then(
        () => 'ok' as const,
        () => 'down' as const,
      ),
    ]);
    const ok = temporal === 'ok' && database === 'ok';
    return c.json(
      { status: ok ? ('ok' as const) : ('degraded' as const), checks: { api: 'ok' as const, temporal, database } },
      ok ? 200 : 503,
    );
  });
}
