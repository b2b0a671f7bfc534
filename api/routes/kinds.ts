import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { KINDS } from '../../rules/kinds/index.ts';
import type { ApiDeps } from '../deps.ts';
import type { ApiEnv } from '../env.ts';
import { errorResponses, openApiRouter } from '../errors.ts';
import { requireRole, storeTokenLookup } from '../middleware/auth.ts';

const Queue = z.enum(['signature', 'nurse', 'doctor', 'outreach', 'cosign']);

const KindView = z
  .object({
    id: z.string(),
    title: z.string(),
    subject: z.enum(['prescription', 'patient']),
    triggers: z.array(z.string()),
    workflowType: z.string(),
    /** Each disposition with the queue it routes to (null: no work item) and whether it closes the case. */
    dispositions: z.array(
      z.object({ id: z.string(), queue: Queue.nullable(), closes: z.boolean(), description: z.string() }),
    ),
    /** The clinician actions of the kind: who may take each, on items of which queues. */
    actions: z.array(
      z.object({ id: z.string(), label: z.string(), roles: z.array(z.string()), queues: z.array(Queue) }),
    ),
  })
  .openapi('ProtocolKind');

const kindsRoute = createRoute({
  method: 'get',
  path: '/v1/kinds',
  summary: 'The protocol kinds this server runs: dispositions with their routing, clinician actions',
  description:
    'The kinds registry (rules/kinds/index.ts) as data. The console offers each kind’s actions from it; the server ' +
    'still authorises every action itself.',
  security: [{ bearer: [] }],
  responses: {
    200: {
      description: 'The kinds',
      content: { 'application/json': { schema: z.object({ items: z.array(KindView) }) } },
    },
    ...errorResponses(401, 403),
  },
});

/** `GET /v1/kinds`: every protocol kind of the registry, for the console and for admins (any signed-in role). */
export function kindRoutes(deps: Pick<ApiDeps, 'store'>): OpenAPIHono<ApiEnv> {
  const app = openApiRouter();
  app.use('/v1/kinds', requireRole(storeTokenLookup(deps.store)));
  app.openapi(kindsRoute, (c) =>
    c.json(
      {
        items: KINDS.map((k) => ({
          id: k.id,
          title: k.title,
          subject: k.subject,
          triggers: [...k.triggers],
          workflowType: k.workflowType,
          dispositions: Object.entries(k.dispositions).map(([id, d]) => ({ id, ...d })),
          actions: k.actions.map((a) => ({ ...a, roles: [...a.roles], queues: [...a.queues] })),
        })),
      },
      200,
    ),
  );
  return app;
}
