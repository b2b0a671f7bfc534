import { randomBytes } from 'node:crypto';
import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import type { MiddlewareHandler } from 'hono';
import { createMiddleware } from 'hono/factory';
import type { Clinic } from '../../connectors/db/index.ts';
import { refillCaseId } from '../../workflows/refill-triage-messages.ts';
import type { ApiDeps } from '../deps.ts';
import type { ApiEnv } from '../env.ts';
import { clinicRateLimit } from '../middleware/rate-limit.ts';
import { checkWebhookHeaders, checkWebhookSignature, signatureMismatch } from '../middleware/webhook-signature.ts';
import { callerRequestIdOf } from '../middleware/request-id.ts';
import { errorResponse, errorResponses } from '../errors.ts';
import { Id } from '../schemas.ts';
import { parseRefillWebhook, parseWebhookJson, RefillWebhookSchema } from '../webhook-body.ts';
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
    ...errorResponses(400, 401, 503),
    400: errorResponse(400, 'Malformed body (issues carry the JSON path)'),
    401: errorResponse(
      401,
      'Missing or bad signature, a timestamp outside the replay window, or an unknown clinic (answered exactly alike)',
    ),
    503: errorResponse(503, 'Temporal unreachable: retry after Retry-After seconds'),
  },
});

// Checked instead of a secret when the clinic does not exist, so that an unknown clinic costs the same HMAC and
// fails with the same 401 as a bad signature: clinic ids cannot be enumerated. Random per process: nobody can sign
// with it.
const DECOY_SECRET = randomBytes(32).toString('hex');

export type SignedEnv = { Variables: ApiEnv['Variables'] & { clinic: Clinic; rawBody: string } };

/**
 * Authenticates a webhook before anything is parsed or stored: the headers' shape and replay window first (no body
 * read), then the body (at most 64 KB, api/middleware/body-limit.ts), then the HMAC under the clinic's secret(s).
 * An unknown clinic is answered exactly like a bad signature (401, same body).
 */
export function signedWebhook({ store, now }: ApiDeps): MiddlewareHandler<SignedEnv> {
  return createMiddleware<SignedEnv>(async (c, next) => {
    const at = now();
    const headers = checkWebhookHeaders(
      { timestamp: c.req.header('x-autopilot-timestamp'), signature: c.req.header('x-autopilot-signature') },
      Math.floor(at.getTime() / 1000),
    );
    const raw = await c.req.text();
    const clinic = await store.clinics.get(c.req.param('clinicId') ?? '');
    if (!clinic) {
      checkWebhookSignature(DECOY_SECRET, headers, raw);
      throw signatureMismatch();
    }
    // After a rotation the previous secret keeps working until its grace period ends, then only the new one does.
    const secrets = [clinic.webhookSecret];
    const { previousWebhookSecret: previous, previousWebhookSecretExpiresAt: until } = clinic;
    if (previous !== null && until !== null && Date.parse(until) > at.getTime()) secrets.push(previous);
    checkWebhookSignature(secrets, headers, raw);
    c.set('clinic', clinic);
    c.set('rawBody', raw);
    await next();
  });
}

/**
 * Webhook intake. Order matters for faults: the delivery is recorded in the app database first (the durable dedupe
 * key), the case row second, then the workflow is started with the deterministic id and USE_EXISTING; 202 only after
 * all succeeded. A retry after a 503 finds the delivery and starts the workflow that did not start.
 */
export function webhookRoutes(deps: ApiDeps): OpenAPIHono<ApiEnv> {
  const { store, workflows, config, now, workflowPolicy } = deps;
  const app = new OpenAPIHono<ApiEnv>();
  app.openAPIRegistry.registerPath(webhookRoute);
  const signed = signedWebhook(deps);
  // After the signature: only the clinic's own EHR spends the clinic's allowance.
  const perClinic = clinicRateLimit<SignedEnv>(deps, (c) => c.get('clinic').id);
  app.post('/v1/webhooks/:clinicId/refill-requests', signed, perClinic, async (c) => {
    const clinic = c.get('clinic');
    const clinicId = clinic.id;
    const body = parseWebhookJson(c.get('rawBody'));
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
      // The case's first step: its row, its `case.received` event and its `case.created` audit row, in one
      // transaction (a retry after a failure here finds the delivery and writes the step again, idempotently).
      await store.cases.recordStep({
        projection: {
          id: caseId,
          kind: 'refill',
          clinicId,
          requestId,
          patientId: null,
          medicationRequestId: intake.medicationRequestId,
          status: 'received',
          reason: clinic.refillAutomationEnabled ? null : 'automation_disabled',
          at: receivedAt,
        },
        seq: 0,
        event: {
          at: receivedAt,
          kind: 'case.received',
          actor: 'ehr',
          detail: { form: intake.form, eventId: intake.eventId, medicationRequestId: intake.medicationRequestId },
        },
        audit: {
          at: receivedAt,
          actorType: 'ehr',
          actorId: clinicId,
          action: 'case.created',
          clinicId,
          caseId,
          requestId,
          idempotencyKey: `${caseId}:created`,
          detail: {
            form: intake.form,
            eventId: intake.eventId,
            medicationRequestId: intake.medicationRequestId,
            ...callerRequestIdOf(c),
          },
        },
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
