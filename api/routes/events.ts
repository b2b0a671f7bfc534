import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { publicUrl } from '../../connectors/config.ts';
import { AppError } from '../../rules/index.ts';
import type { ApiDeps } from '../deps.ts';
import type { ApiEnv } from '../env.ts';
import { EVENTS_TOPIC, eventIntakeId, eventReceivedAudit } from '../../connectors/care-events.ts';
import { CareEventWebhookSchema, parseCareEvent } from '../event-body.ts';
import { callerRequestIdOf } from '../middleware/request-id.ts';
import { Id } from '../schemas.ts';
import { caseLinks } from './links.ts';
import {
  signedWebhookErrors,
  SignedWebhookHeaders,
  signedWebhookRoutes,
  subscriptionAckResponse,
} from '../webhook-intake.ts';

/** How long the webhook waits for the intake (one FHIR read in the worker) before answering without the case ids. */
const EVENT_INTAKE_WAIT_MS = 2_000;

export const EventAcceptedSchema = z
  .object({
    /**
     * The event id as the EHR sent it; for a notification: the focus's version `<Type>/<id>/_history/<v>` when the
     * reference or the full-resource entry names one, else `{subscription}#{event-number}`, else the Bundle id.
     */
    eventId: z.string(),
    /** The intake workflow's id: `ev_{clinicId}_{hash of the event id}`. */
    intakeId: z.string(),
    /**
     * `cases`: the cases touched are in `caseIds`; `pending`: the intake has not resolved the patient yet (a
     * redelivery, or `links.intake`, answers with the case ids once it has); `no_patient`, `not_found`: the focus
     * names no patient, or the EHR does not have it; `no_kind`: no kind the clinic runs reacts to events; `failed`
     * (reading an intake only): the intake gave up, and a redelivery runs it again.
     */
    status: z.enum(['cases', 'pending', 'no_patient', 'not_found', 'no_kind', 'failed']),
    caseIds: z.array(z.string()),
    links: z.object({ intake: z.string(), cases: z.array(z.string()) }),
  })
  .openapi('EventAccepted');
type EventAccepted = z.infer<typeof EventAcceptedSchema>;

const eventsWebhookRoute = createRoute({
  method: 'post',
  path: '/v1/webhooks/{clinicId}/events',
  summary: 'An EHR announces a booked visit or an arriving result (signed)',
  description:
    'Signed exactly like every webhook of this API: headers `X-Autopilot-Timestamp` (unix seconds, ±300 s) and ' +
    '`X-Autopilot-Signature: v1=<hex HMAC-SHA256 of "{timestamp}.{raw body}" with the clinic webhook secret>`. ' +
    'The API does no FHIR I/O: an intake workflow (one per clinic and event id) reads the focus resource, finds the ' +
    'patient and signal-with-starts the patient’s case of each kind the clinic runs. The answer waits up to ' +
    `${EVENT_INTAKE_WAIT_MS / 1000} s for that and then carries the case ids; when the EHR is slower it answers ` +
    '`status: pending` with the intake’s id and link. A redelivery starts nothing new and answers the same ids. ' +
    'A FHIR Subscription handshake, heartbeat or `empty` notification answers 200 and starts no intake of its own; ' +
    'event numbers are tracked per Subscription, and a gap (a lost notification) starts a catch-up that queries the ' +
    'booked Appointments and the Observations, DiagnosticReports and Procedures changed since the last notification ' +
    'seen and starts each one’s intake through this same deduplicated path (a resource version found and announced ' +
    'is one intake). Every event of a batched notification starts its own intake; the answer is the first one’s.',
  request: {
    params: z.object({ clinicId: Id.openapi({ example: 'demo-clinic' }) }),
    headers: SignedWebhookHeaders,
    body: { content: { 'application/json': { schema: CareEventWebhookSchema } }, required: true },
  },
  responses: {
    ...subscriptionAckResponse,
    202: {
      description: 'Accepted: the cases touched (or the intake still resolving the patient)',
      content: { 'application/json': { schema: EventAcceptedSchema } },
    },
    ...signedWebhookErrors,
  },
});

/** Where a person (admin) reads an intake's outcome. */
export function intakeLink(deps: Pick<ApiDeps, 'config'>, clinicId: string, intakeId: string): string {
  return `${publicUrl(deps.config)}/v1/clinics/${encodeURIComponent(clinicId)}/events/${encodeURIComponent(intakeId)}`;
}

/**
 * Events webhook intake, through the signed-webhook pipeline (api/webhook-intake.ts). The delivery is recorded first
 * (the durable dedupe key: clinic + intake id, which is a hash of the event id), with its audit row; then the intake
 * workflow starts with its deterministic id (USE_EXISTING), and the answer waits, bounded, for the cases it touched.
 * A retry after a 503 finds the delivery and starts what did not.
 */
export function eventRoutes(deps: ApiDeps): OpenAPIHono<ApiEnv> {
  const { store, workflows, config, workflowPolicy } = deps;
  return signedWebhookRoutes(deps, {
    route: eventsWebhookRoute,
    parse: parseCareEvent,
    // A gap starts the catch-up (activities/event-subscription.ts: the care-event resources changed since); a
    // batched notification's further events are started by it with their own event ids.
    subscription: {
      topic: EVENTS_TOPIC,
      catchUp: true,
      statusOf: (event) => event.notification,
      further: (event) => event.further,
    },
    deliveryKey: (clinicId, event) => {
      const intakeId = eventIntakeId(clinicId, event.eventId);
      return { ehrRequestId: intakeId, caseId: intakeId };
    },
    async start(c, { clinic, body: event, requestId, receivedAt, delivery }) {
      const clinicId = clinic.id;
      const intakeId = delivery.caseId;
      if (delivery.created) {
        await store.audit.appendAudit(
          eventReceivedAudit({
            clinicId,
            intakeId,
            requestId,
            receivedAt,
            detail: {
              form: event.form,
              type: event.type,
              eventId: event.eventId,
              resource: event.resource,
              ...callerRequestIdOf(c),
            },
          }),
        );
      }
      if (!workflows.startEventIntake) {
        throw new AppError('TEMPORAL_UNAVAILABLE', 'Event intake is not available on this server', {
          retryable: true,
        });
      }
      const result = await workflows.startEventIntake(
        {
          intakeId,
          clinicId,
          requestId,
          event: { type: event.type, eventId: event.eventId, resource: event.resource, at: receivedAt },
          ...(workflowPolicy ? { policy: workflowPolicy } : {}),
        },
        { waitMs: EVENT_INTAKE_WAIT_MS },
      );
      const caseIds = result && 'caseIds' in result ? result.caseIds : [];
      const accepted: EventAccepted = {
        eventId: event.eventId,
        intakeId,
        status: result?.status ?? 'pending',
        caseIds,
        links: {
          intake: intakeLink(deps, clinicId, intakeId),
          cases: caseIds.map((id) => caseLinks(config, id).self),
        },
      };
      return c.json(accepted, 202);
    },
  });
}
