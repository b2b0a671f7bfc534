import { z } from '@hono/zod-openapi';
import { invalidInput } from '../../errors.ts';
import { subscriptionNotificationSchema, webhookObject } from '../../notification-body.ts';
import { IsoInstant } from '../../schemas.ts';

// The refill-requests webhook's two body forms as zod schemas; the OpenAPI document is generated from these same
// schemas, so what it declares is what `parseRefillWebhook` accepts. The notification is the engine's
// (api/notification-body.ts), built for a MedicationRequest focus.

/** `[…/]MedicationRequest/<id>[/_history/<v>]`; the id is the last `MedicationRequest/` segment's. */
const MR_REF = /^(?:.*\/)?MedicationRequest\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[A-Za-z0-9\-.]+)?$/;
const MedicationRequestRef = z.string().regex(MR_REF, {
  message: 'must reference a MedicationRequest ("MedicationRequest/<id>")',
});

/** The plain event form. */
const RefillRequestedEventSchema = z
  .strictObject({
    type: z.literal('refill.requested'),
    id: z.string().min(1).max(200),
    medicationRequest: MedicationRequestRef,
    occurredAt: IsoInstant.optional(),
  })
  .openapi('RefillRequestedEvent');

/**
 * The FHIR R4 backport topic-based Subscription notification with the refill MedicationRequest as an event's focus.
 * `full-resource` payloads carry the resource as a further entry; `id-only` payloads carry only the reference.
 */
const Notification = subscriptionNotificationSchema({
  types: ['MedicationRequest'],
  reference: MedicationRequestRef,
  noFocusPart: 'no focus part referencing a MedicationRequest',
  noFocus: 'no notification-event with a focus reference to the refill MedicationRequest',
  component: 'RefillSubscriptionNotification',
  description: 'FHIR R4 backport Subscription notification (id-only or full-resource)',
});

/** The webhook body: either form (told apart by `resourceType`, which the event form never has). */
export const RefillWebhookSchema = z.union([RefillRequestedEventSchema, Notification.schema]).openapi('RefillWebhook');

interface RefillIntake {
  medicationRequestId: string;
  /** The id of this notification/event as the EHR sent it (for the audit trail). */
  eventId: string | null;
  form: 'event' | 'subscription-notification';
}

function idOf(reference: string): string {
  return MR_REF.exec(reference)![1]!;
}

/**
 * Reads a webhook body in either contract form and returns the refill request it is about.
 *
 * @throws AppError `INVALID_INPUT` with the JSON path of the problem.
 */
export function parseRefillWebhook(body: unknown): RefillIntake {
  const object = webhookObject(body);
  if ('resourceType' in object) {
    const parsed = Notification.schema.safeParse(object);
    if (!parsed.success) throw invalidInput(parsed.error, 'subscription notification');
    const medicationRequestId = idOf(Notification.eventOf(parsed.data).focus);
    return { medicationRequestId, eventId: parsed.data.id ?? null, form: 'subscription-notification' };
  }
  const parsed = RefillRequestedEventSchema.safeParse(object);
  if (!parsed.success) throw invalidInput(parsed.error, 'refill.requested event');
  return { medicationRequestId: idOf(parsed.data.medicationRequest), eventId: parsed.data.id, form: 'event' };
}
