import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { AppError } from '../../rules/index.ts';
import { refillCaseId } from '../../workflows/task-queues.ts';
import type { ApiDeps } from '../deps.ts';
import type { ApiEnv } from '../env.ts';
import { verifyWebhook } from '../middleware/webhook-signature.ts';
import { errorResponse, errorResponses } from '../errors.ts';
import { Id } from '../schemas.ts';
import { parseRefillWebhook, RefillWebhookSchema } from '../webhook-body.ts';
import { caseLinks } from './links.ts';

const AcceptedSchema = z
  .object({
    caseId: z.string(),
    status: z.string(),
    links: z.object({ self: z.string(), timeline: z.string() }),
  })
  .openapi('WebhookAccepted');

export const webhookRoute = createRoute({
  method: 'post',
  path: '/v1/webhooks/{clinicId}/refill-requests',
  summary: 'An EHR announces a pharmacy refill request (signed)',
  description:
    'Headers `X-Autopilot-Timestamp` (unix seconds, ±300 s) and `X-Autopilot-Signature: v1=<hex HMAC-SHA256 of ' +
    '"{timestamp}.{raw body}" with the clinic webhook secret>` (after a rotation, the previous secret is accepted ' +
    'until its grace period ends). Answers fast: all FHIR reads happen in the workflow. ' +
    'A redelivery of the same refill request returns the same caseId and starts nothing new.',
  request: {
    params: z.object({ clinicId: Id.openapi({ example: 'demo-clinic' }) }),
    headers: z.object({
      'x-autopilot-timestamp': z.string().openapi({ description: 'Unix seconds', example: '1767225600' }),
      'x-autopilot-signature': z.string().openapi({ description: 'v1=<hex HMAC-SHA256>[,v1=…]' }),
    }),
    body: { content: { 'application/json': { schema: RefillWebhookSchema } }, required: true },
  },
  responses: {
    202: { description: 'Accepted: the case exists', content: { 'application/json': { schema: AcceptedSchema } } },
    ...errorResponses(400, 401, 404, 503),
    400: errorResponse(400, 'Malformed body (issues carry the JSON path)'),
    401: errorResponse(401, 'Missing or bad signature, or a timestamp outside the replay window'),
    404: errorResponse(404, 'Unknown clinic'),
    503: errorResponse(503, 'Temporal unreachable: retry after Retry-After seconds'),
  },
});

/**
 * Webhook intake. Order matters for faults: the delivery is recorded in the app database first (the durable dedupe
 * key), the case row second, then the workflow is started with the deterministic id and USE_EXISTING; 202 only after
 * all succeeded. A retry after a 503 finds the delivery and starts the workflow that did not start.
 */
export function webhookRoutes({ store, workflows, config, now, workflowPolicy }: ApiDeps): OpenAPIHono<ApiEnv> {
  const app = new OpenAPIHono<ApiEnv>();
  app.openAPIRegistry.registerPath(webhookRoute);
  app.post('/v1/webhooks/:clinicId/refill-requests', async (c) => {
    const clinicId = c.req.param('clinicId');
    const clinic = await store.clinics.get(clinicId);
    if (!clinic) throw new AppError('NOT_FOUND', 'Unknown clinic');
    const raw = await c.req.text();
    const at = now();
    // After a rotation the previous secret keeps working until its grace period ends, then only the new one does.
    const secrets = [clinic.webhookSecret];
    const { previousWebhookSecret: previous, previousWebhookSecretExpiresAt: until } = clinic;
    if (previous !== null && until !== null && Date.parse(until) > at.getTime()) secrets.push(previous);
    verifyWebhook(
      secrets,
      { timestamp: c.req.header('x-autopilot-timestamp'), signature: c.req.header('x-autopilot-signature') },
      raw,
      Math.floor(at.getTime() / 1000),
    );
    let body: unknown;
    try {
      body = JSON.parse(raw);
    } catch {
      throw new AppError('INVALID_INPUT', 'Invalid webhook body at $: not JSON', {
        issues: [{ path: '$', message: 'not JSON' }],
      });
    }
    const intake = parseRefillWebhook(body);
    const requestId = c.get('requestId');
    const caseId = refillCaseId(clinicId, intake.medicationRequestId);
    const receivedAt = now().toISOString();

    const delivery = await store.deliveries.recordDelivery({
      clinicId,
      ehrRequestId: intake.medicationRequestId,
      caseId,
      requestId,
      receivedAt,
    });
    const existing = delivery.created ? null : await store.cases.getCase(delivery.caseId);
    if (existing && existing.status !== 'received') {
      // A redelivery of a case already under way (or long closed): same case, nothing new starts.
      return c.json({ caseId: existing.id, status: existing.status, links: caseLinks(config, existing.id) }, 202);
    }
    if (!existing) {
      await store.cases.upsertCaseProjection(
        {
          id: caseId,
          clinicId,
          requestId,
          patientId: null,
          medicationRequestId: intake.medicationRequestId,
          status: 'received',
          reason: clinic.refillAutomationEnabled ? null : 'automation_disabled',
          at: receivedAt,
        },
        0,
      );
      await store.cases.appendCaseEvent({
        caseId,
        seq: 0,
        at: receivedAt,
        kind: 'case.received',
        actor: 'ehr',
        detail: { form: intake.form, eventId: intake.eventId, medicationRequestId: intake.medicationRequestId },
      });
      await store.audit.appendAudit({
        at: receivedAt,
        actorType: 'ehr',
        actorId: clinicId,
        action: 'case.created',
        clinicId,
        caseId,
        requestId,
        idempotencyKey: `${caseId}:created`,
        detail: { form: intake.form, eventId: intake.eventId, medicationRequestId: intake.medicationRequestId },
      });
    }
    await workflows.startRefillTriage({
      caseId,
      clinicId,
      medicationRequestId: intake.medicationRequestId,
      ehrRequestId: intake.medicationRequestId,
      requestId,
      receivedAt: existing?.createdAt ?? receivedAt,
      automationEnabled: clinic.refillAutomationEnabled,
      nurseSlaSeconds: clinic.nurseSlaSeconds,
      ...(workflowPolicy ? { policy: workflowPolicy } : {}),
    });
    return c.json({ caseId, status: existing?.status ?? 'received', links: caseLinks(config, caseId) }, 202);
  });
  return app;
}
