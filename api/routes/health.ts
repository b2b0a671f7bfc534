import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import type { ApiDeps } from '../deps.ts';
import type { ApiEnv } from '../env.ts';
import { errorResponse } from '../errors.ts';

const Part = z.enum(['ok', 'down']);
const HealthSchema = z
  .object({
    status: z.enum(['ok', 'degraded', 'down']).openapi({
      description:
        '`ok`: every part is ready. `degraded` (still 200): the API, Temporal and the database answer, so webhooks ' +
        'are accepted durably, but no worker polls or the demo EHR is not ready, so cases wait. `down` (503): ' +
        'Temporal or the database does not answer.',
    }),
    parts: z.object({
      database: Part,
      temporal: Part,
      worker: Part.optional().openapi({ description: 'A worker polls the task queue (seen in the last 2 minutes)' }),
      ehr: Part.optional().openapi({
        description: 'DEMO=1 only: the sandbox EHR answers and knows the demo clinic (clinics: connection-check)',
      }),
    }),
  })
  .openapi('Health');

const route = createRoute({
  method: 'get',
  path: '/health',
  summary: 'Each part of the product; 200 when the API, Temporal and the app database answer',
  responses: {
    200: {
      description: 'The API, Temporal and the database answer (`status` says whether every part is ready)',
      content: { 'application/json': { schema: HealthSchema } },
    },
    503: {
      description: 'Temporal or the database does not answer',
      content: { 'application/json': { schema: HealthSchema } },
    },
    413: errorResponse(413),
    429: errorResponse(429),
  },
});

/** Each check gets 2 s: a part that does not answer in time is down. */
function check(probe: () => Promise<unknown>): Promise<'ok' | 'down'> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('timeout')), 2000);
  });
  return Promise.race([probe(), timeout])
    .then(
      (v) => (v === false ? 'down' : 'ok'),
      () => 'down' as const,
    )
    .finally(() => clearTimeout(timer));
}

export function healthRoutes({ db, workflows, demoEhrReady }: ApiDeps): OpenAPIHono<ApiEnv> {
  return new OpenAPIHono<ApiEnv>().openapi(route, async (c) => {
    const workerPolling = workflows.workerPolling?.bind(workflows);
    const [database, temporal, worker, ehr] = await Promise.all([
      check(() => db.ping()),
      check(() => workflows.ping()),
      workerPolling ? check(workerPolling) : undefined,
      demoEhrReady ? check(demoEhrReady) : undefined,
    ]);
    const parts = { database, temporal, ...(worker && { worker }), ...(ehr && { ehr }) };
    const answering = database === 'ok' && temporal === 'ok';
    const status: 'ok' | 'degraded' | 'down' = !answering
      ? 'down'
      : Object.values(parts).every((p) => p === 'ok')
        ? 'ok'
        : 'degraded';
    return c.json({ status, parts }, answering ? 200 : 503);
  });
}
