import { randomUUID } from 'node:crypto';
import type { OpenAPIHono } from '@hono/zod-openapi';
import { createRoute, z } from '@hono/zod-openapi';
import { AppError } from '../../rules/index.ts';
import { kindById } from '../../rules/kinds/index.ts';
import { canTakeAction, roleDecides } from '../../rules/lifecycle/index.ts';
import type { ApiDeps } from '../deps.ts';
import type { ApiEnv } from '../env.ts';
import { errorResponses, openApiRouter } from '../errors.ts';
import { requireRole, storeTokenLookup } from '../middleware/auth.ts';
import { CaseId } from '../schemas.ts';

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
  summary:
    'A clinician acts on a case of a kind with its own actions (sign_order | record_decline | done_elsewhere | snooze | escalate)',
  description:
    'For cases of kinds whose workflows take actions; the others take POST /v1/cases/{caseId}/decision. ' +
    'Answers 200 only once the action is durable in the workflow (Temporal Update accepted); 503 otherwise — retry ' +
    'with the same actionId. 403 for a role the action or queue does not allow, 409 for an action the case does not ' +
    'offer now (closed, not in a queue, another action pending, not offered in its queue, or a case that takes decisions).',
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
    // The kind's declared actions (the registry); the workflow's Update validator judges by the same table.
    const kind = kindById(r.kind);
    if (!kind || !deps.workflows.submitKindAction) throw new AppError('CONFLICT', 'This case takes no actions');
    const body = c.req.valid('json');
    const check = canTakeAction(principal.role, { status: r.status, queue: r.queue }, body.action, kind.actions);
    if (!check.ok) throw new AppError(check.code, check.message);
    const actionId = body.actionId ?? c.req.valid('header')['idempotency-key'] ?? randomUUID();
    const ack = await deps.workflows.submitKindAction(r.id, kind.workflowType, {
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
