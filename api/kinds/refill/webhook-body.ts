import { z } from '@hono/zod-openapi';
import { invalidInput } from '../../errors.ts';
import {
  focusedEvents,
  subscriptionNotificationSchema,
  webhookObject,
  type NotificationStatus,
} from '../../notification-body.ts';
import type { StatusOnly } from '../../webhook-intake.ts';
import { IsoInstant } from '../../schemas.ts';

// The refill-requests webhook's two body forms as zod schemas; the OpenAPI document is generated from these same
// schemas, so what it declares is what `parseRefillWebhook` accepts. The notification is the engine's
// (api/notification-body.ts), built for a MedicationRequest focus.

/** `[…/]MedicationRequest/<id>[/_history/<v>]`; the id is the last `MedicationRequest/` segment's. */
const MR_REF = /^(?:.*\/)?MedicationRequest\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[A-Za-z0-9\-.]+)?$/;
const MedicationRequestRef = z.string().regex(MR_REF, {
  message: 'must reference a MedicationRequest ("MedicationRequest/<id>")',
});

/** `[…/]Patient/<id>[/_history/<v>]`. */
const PATIENT_REF = /^(?:.*\/)?Patient\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[A-Za-z0-9\-.]+)?$/;

/** The plain event form. */
const RefillRequestedEventSchema = z
  .strictObject({
    type: z.literal('refill.requested'),
    id: z.string().min(1).max(200),
    medicationRequest: MedicationRequestRef,
    patient: z
      .string()
      .regex(PATIENT_REF, { message: 'must reference a Patient ("Patient/<id>")' })
      .optional()
      .openapi({
        description:
          "The request's subject, when the EHR knows it: the triage then reads the request and the patient's record in one FHIR round trip. A hint only: the request's own subject is checked and wins.",
      }),
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
  component: 'RefillSubscriptionNotification',
  description:
    'FHIR R4 backport Subscription notification (handshake, heartbeat or event; id-only, full-resource or empty)',
});

/** The webhook body: either form (told apart by `resourceType`, which the event form never has). */
export const RefillWebhookSchema = z.union([RefillRequestedEventSchema, Notification.schema]).openapi('RefillWebhook');

export interface RefillIntake {
  medicationRequestId: string;
  /** The request's subject as the intake names it (the event's `patient`, a full-resource notification's subject). */
  patientId?: string;
  /** A notification's SubscriptionStatus (null: the plain event form). */
  notification: NotificationStatus | null;
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
export function parseRefillWebhook(body: unknown): RefillIntake | StatusOnly {
  const object = webhookObject(body);
  if ('resourceType' in object) {
    const parsed = Notification.schema.safeParse(object);
    if (!parsed.success) throw invalidInput(parsed.error, 'subscription notification');
    const status = Notification.statusOf(parsed.data);
    const first = focusedEvents(status)[0];
    // A handshake, heartbeat, query-status or `empty` notification: no refill request of its own.
    if (!first) return { statusOnly: status };
    const medicationRequestId = idOf(first.focus);
    const patientId = subjectInBundle(parsed.data.entry, medicationRequestId);
    return {
      medicationRequestId,
      ...(patientId ? { patientId } : {}),
      notification: status,
      eventId: parsed.data.id ?? null,
      form: 'subscription-notification',
    };
  }
  const parsed = RefillRequestedEventSchema.safeParse(object);
  if (!parsed.success) throw invalidInput(parsed.error, 'refill.requested event');
  const patientId = parsed.data.patient === undefined ? undefined : PATIENT_REF.exec(parsed.data.patient)![1]!;
  return {
    medicationRequestId: idOf(parsed.data.medicationRequest),
    ...(patientId ? { patientId } : {}),
    notification: null,
    eventId: parsed.data.id,
    form: 'event',
  };
}

/** A full-resource notification's copy of the request: its Patient subject's id, when it names one. */
function subjectInBundle(entries: readonly unknown[], medicationRequestId: string): string | undefined {
  for (const entry of entries) {
    const resource = (entry as { resource?: unknown } | null)?.resource as
      { resourceType?: unknown; id?: unknown; subject?: { reference?: unknown } } | undefined;
    if (resource?.resourceType !== 'MedicationRequest' || resource.id !== medicationRequestId) continue;
    const reference = resource.subject?.reference;
    return typeof reference === 'string' ? PATIENT_REF.exec(reference)?.[1] : undefined;
  }
  return undefined;
}
