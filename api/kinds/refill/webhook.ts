import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { refillKind } from '../../../rules/kinds/refill/index.ts';
import { refillCaseId, refillFirstStep } from '../../../rules/kinds/refill/intake.ts';
import type { RefillTriageInput } from '../../../workflows/refill-triage.ts';
import type { ApiDeps } from '../../deps.ts';
import type { ApiEnv } from '../../env.ts';
import { callerRequestIdOf } from '../../middleware/request-id.ts';
import { caseLinks } from '../../routes/links.ts';
import { Id } from '../../schemas.ts';
import {
  signedWebhookErrors,
  SignedWebhookHeaders,
  signedWebhookRoutes,
  subscriptionAckResponse,
} from '../../webhook-intake.ts';
import type { CaseStart } from '../../workflow-gateway.ts';
import { parseRefillWebhook, RefillWebhookSchema } from './webhook-body.ts';

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
    'A redelivery of the same refill request returns the same caseId and starts nothing new. FHIR Subscription ' +
    'notifications (R4 backport): a handshake, heartbeat or `empty` one answers 200 and starts no case; the event ' +
    'numbers are tracked per Subscription, and a gap (a lost notification) starts a catch-up that queries the refill ' +
    'requests changed since the last notification seen and starts them through this same deduplicated path.',
  request: {
    params: z.object({ clinicId: Id.openapi({ example: 'demo-clinic' }) }),
    headers: SignedWebhookHeaders,
    body: { content: { 'application/json': { schema: RefillWebhookSchema } }, required: true },
  },
  responses: {
    ...subscriptionAckResponse,
    202: { description: 'Accepted: the case exists', content: { 'application/json': { schema: AcceptedSchema } } },
    ...signedWebhookErrors,
  },
});

/** What the refill webhook starts: the kind's workflow (rules/kinds/refill), one per refill request. */
export function refillStart(input: RefillTriageInput): CaseStart {
  return {
    workflowType: refillKind.workflowType,
    caseId: input.caseId,
    clinicId: input.clinicId,
    input,
    status: 'triaging',
  };
}

/**
 * Refill-request intake, through the signed-webhook pipeline (api/webhook-intake.ts): the delivery is recorded in
 * the app database first (the durable dedupe key), the case row second, then the workflow is started with the
 * deterministic id and USE_EXISTING; 202 only after all succeeded. A retry after a 503 finds the delivery and starts
 * the workflow that did not start.
 */
export function refillWebhookRoutes(deps: ApiDeps): OpenAPIHono<ApiEnv> {
  const { store, workflows, config, workflowPolicy } = deps;
  return signedWebhookRoutes(deps, {
    route: webhookRoute,
    parse: parseRefillWebhook,
    subscription: { topic: refillKind.id, catchUp: true, statusOf: (intake) => intake.notification },
    deliveryKey: (clinicId, intake) => ({
      ehrRequestId: intake.medicationRequestId,
      caseId: refillCaseId(clinicId, intake.medicationRequestId),
    }),
    async start(c, { clinic, body: intake, requestId, receivedAt, delivery }) {
      const clinicId = clinic.id;
      const caseId = refillCaseId(clinicId, intake.medicationRequestId);
      const existing = delivery.created ? null : await store.cases.getCase(delivery.caseId);
      if (existing && existing.status !== 'received') {
        // A redelivery of a case already under way (or long closed): same case, nothing new starts.
        return c.json({ caseId: existing.id, status: existing.status, links: caseLinks(config, existing.id) }, 202);
      }
      // The refill kind's switch (`refillAutomationEnabled` in the clinic API): off ⇒ the case goes to a nurse.
      const automationEnabled =
        (await store.clinics.kinds(clinicId)).find((k) => k.kind === refillKind.id)?.enabled ?? false;
      if (!existing) {
        // The case's first step: its row, its `case.received` event and its `case.created` audit row, in one
        // transaction (a retry after a failure here finds the delivery and writes the step again, idempotently).
        await store.cases.recordStep(
          refillFirstStep({
            caseId,
            clinicId,
            requestId,
            medicationRequestId: intake.medicationRequestId,
            automationEnabled,
            receivedAt,
            form: intake.form,
            eventId: intake.eventId,
            auditDetail: callerRequestIdOf(c),
          }),
        );
      }
      await workflows.startCase(
        refillStart({
          caseId,
          clinicId,
          medicationRequestId: intake.medicationRequestId,
          ...(intake.patientId !== undefined ? { patientId: intake.patientId } : {}),
          ehrRequestId: intake.medicationRequestId,
          requestId,
          receivedAt: existing?.createdAt ?? receivedAt,
          automationEnabled,
          nurseSlaSeconds: clinic.nurseSlaSeconds,
          ...(workflowPolicy ? { policy: workflowPolicy } : {}),
        }),
      );
      return c.json({ caseId, status: existing?.status ?? 'received', links: caseLinks(config, caseId) }, 202);
    },
  });
}
