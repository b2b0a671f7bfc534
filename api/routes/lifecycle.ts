import { createRoute, z } from '@hono/zod-openapi';
import { describeLifecycle } from '../../rules/lifecycle/index.ts';
import {
  CaseOutcomeSchema,
  CaseStatusSchema,
  ClinicianActionSchema,
  QueueSchema,
  RoleSchema,
  RouteReasonSchema,
} from '../../rules/schema/case.ts';
import type { ApiDeps } from '../deps.ts';
import type { ApiEnv } from '../env.ts';
import { errorResponses, openApiRouter } from '../errors.ts';
import { requireRole, storeTokenLookup } from '../middleware/auth.ts';
import type { OpenAPIHono } from '@hono/zod-openapi';

const LifecycleSchema = z
  .object({
    statuses: z.array(CaseStatusSchema),
    decidableStatuses: z.array(CaseStatusSchema).openapi({ description: 'Statuses in which a case awaits a decision' }),
    actions: z.array(ClinicianActionSchema),
    outcomes: z.array(CaseOutcomeSchema),
    reasons: z.array(RouteReasonSchema),
    queues: z.array(
      z.object({
        queue: QueueSchema,
        roles: z.array(RoleSchema).openapi({ description: 'Roles that may decide a case in this queue' }),
        actions: z.array(ClinicianActionSchema).openapi({ description: 'Actions a case in this queue offers' }),
      }),
    ),
    escalation: z.object({ from: QueueSchema, to: QueueSchema }),
    roles: z.array(z.object({ role: RoleSchema, queues: z.array(QueueSchema) })),
    signingDelegates: z.array(RoleSchema).openapi({
      description: 'Roles a clinic’s signing policy may let sign in the signature queue (the server decides per case)',
    }),
  })
  .openapi('Lifecycle');

const lifecycleRoute = createRoute({
  method: 'get',
  path: '/v1/lifecycle',
  summary: 'The case lifecycle: statuses, queues, who may decide which action in each, escalation',
  description:
    'The table rules/lifecycle/ decides with; the console offers decision buttons from it. The server still ' +
    'authorises every decision itself (403 for a role the queue does not allow, 409 for a case not awaiting one).',
  security: [{ bearer: [] }],
  responses: {
    200: { description: 'The lifecycle', content: { 'application/json': { schema: LifecycleSchema } } },
    ...errorResponses(401, 403),
  },
});

/** `GET /v1/lifecycle`: the case lifecycle as data, for the console (any signed-in role). */
export function lifecycleRoutes(deps: Pick<ApiDeps, 'store'>): OpenAPIHono<ApiEnv> {
  const app = openApiRouter();
  app.use('/v1/lifecycle', requireRole(storeTokenLookup(deps.store)));
  app.openapi(lifecycleRoute, (c) => c.json(describeLifecycle(), 200));
  return app;
}
