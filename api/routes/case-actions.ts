import { randomUUID } from 'node:crypto';
import type { OpenAPIHono } from '@hono/zod-openapi';
import { createRoute, z } from '@hono/zod-openapi';
import { AppError } from '../../rules/index.ts';
import { canTakeAction, roleDecides, type KindActionRule } from '../../rules/lifecycle/index.ts';
import { CARE_GAP_ACTIONS } from '../../workflows/care-gap-messages.ts';
import type { ApiDeps } from '../deps.ts';
import type { ApiEnv } from '../env.ts';
import { errorResponses, openApiRouter } from '../errors.ts';
import { requireRole, storeTokenLookup } from '../middleware/auth.ts';
import { CaseId } from '../schemas.ts';

/**
 * The action tables of the kinds whose cases take actions through this route (refill cases keep their decision route,
 * `POST /v1/cases/{caseId}/decision`). To move to the kind registry (rules/kinds/index.ts) once it lands.
 */
const KIND_ACTIONS: Readonly<Record<string, readonly KindActionRule[]>> = { 'care-gap': CARE_GAP_ACTIONS };

/** Client-chosen id of an action: a retry with the same id is deduplicated (the Update id). */
const ActionId = z.string().regex(/^[A-Za-z0-9_-]{8,100}$/, '8–100 of A-Z a-z 0-9 _ -');
const Note = z.string().max(2000).optional();
const IsoDate = z.iso.date().openapi({ example: '2026-03-01' });
const common = { note: Note, actionId: ActionId.optional() };

/** One body per action (a discriminated union, so /openapi.json states exactly which fields each action needs). */
const CaseActionBodySchema = z
  .discriminatedUnion('action', [
    z.strictObject({ action: z.literal('sign_order'), ...common }),
    z.strictObject({ action: z.literal('record_decline'), ...common }),
    z.strictObject({
      action: z.literal('done_elsewhere'),
      /** When the test was done. */
      date: IsoDate,
      test: z.enum(['fit', 'sdna_fit', 'ct_colonography', 'flexible_sigmoidoscopy', 'colonoscopy']),
      ...common,
    }),
    z.strictObject({ action: z.literal('snooze'), /** Re-evaluated on this day. */ until: IsoDate, ...common }),
    z.strictObject({ action: z.literal('escalate'), ...common }),
  ])
  .openapi('CaseActionRequest');

const actionRoute = createRoute({
  method: 'post',
  path: '/v1/cases/{caseId}/actions',
  summary: 'A clinician acts on a care gap (sign_order | record_decline | done_elsewhere | snooze | escalate)',
  description:
    'For cases of kinds with their own actions (a care gap); refill cases take POST /v1/cases/{caseId}/decision. ' +
    'Answers 200 only once the action is durable in the workflow (Temporal Update accepted); 503 otherwise — retry ' +
    'with the same actionId. 403 for a role the action or queue does not allow, 409 for an action the case does not ' +
    'offer now (closed, not in a queue, another action pending, not offered in its queue, or a refill case).',
  security: [{ bearer: [] }],
  request: {
    params: z.object({ caseId: CaseId }),
    headers: z.object({ 'idempotency-key': ActionId.optional() }),
    body: { content: { 'application/json': { schema: CaseActionBodySchema } }, required: true },
  },
  responses: {
    200: {
      description: 'Accepted and durable',
      content: {
        'application/json': {
          schema: z.object({
            caseId: z.string(),
            actionId: z.string(),
            action: z.string(),
            status: z.literal('accepted'),
          }),
        },
      },
    },
    ...errorResponses(400, 401, 403, 404, 409, 503),
  },
});

/** Clinician actions of a kind, as Temporal Updates; identity and role from the bearer token, never the body. */
export function caseActionRoutes(deps: ApiDeps): OpenAPIHono<ApiEnv> {
  const app = openApiRouter();
  app.use('/v1/cases/:caseId/actions', requireRole(storeTokenLookup(deps.store)));
  app.openapi(actionRoute, async (c) => {
    const principal = c.get('principal');
    // A role that never decides is refused before the case is looked up (so it learns nothing about it).
    const decides = roleDecides(principal.role);
    if (!decides.ok) throw new AppError(decides.code, decides.message);
    const r = await deps.store.cases.getCase(c.req.valid('param').caseId);
    if (!r || (principal.clinicId !== null && principal.clinicId !== r.clinicId)) {
      throw new AppError('NOT_FOUND', 'No such case');
    }
    const table = KIND_ACTIONS[r.kind];
    if (!table) throw new AppError('CONFLICT', `A ${r.kind} case takes decisions, not actions`);
    const body = c.req.valid('json');
    // The workflow's Update validator asks the same function over the same table; this answers from the projection.
    const check = canTakeAction(principal.role, { status: r.status, queue: r.queue }, body.action, table);
    if (!check.ok) throw new AppError(check.code, check.message);
    if (!deps.workflows.submitCareGapAction) {
      throw new AppError('TEMPORAL_UNAVAILABLE', 'Actions are not available', { retryable: true });
    }
    const actionId = body.actionId ?? c.req.valid('header')['idempotency-key'] ?? randomUUID();
    const ack = await deps.workflows.submitCareGapAction(r.id, {
      actionId,
      action: body.action,
      ...(body.action === 'done_elsewhere' ? { date: body.date, test: body.test } : {}),
      ...(body.action === 'snooze' ? { until: body.until } : {}),
      ...(body.note !== undefined ? { note: body.note } : {}),
      actor: { userId: principal.userId, role: principal.role },
      at: deps.now().toISOString(),
    });
    return c.json({ caseId: ack.caseId, actionId: ack.actionId, action: ack.action, status: 'accepted' as const }, 200);
  });
  return app;
}
