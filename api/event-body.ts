import { createHash } from 'node:crypto';
import { z } from '@hono/zod-openapi';
import type { CareEvent } from '../workflows/event-intake.ts';
import { invalidInput } from './errors.ts';
import { IsoInstant } from './schemas.ts';
import {
  FHIR_ID,
  focusedEvents,
  subscriptionNotificationSchema,
  webhookObject,
  type NotificationStatus,
} from './notification-body.ts';
import type { StatusOnly } from './webhook-intake.ts';

// The events webhook's body forms (`POST /v1/webhooks/{clinicId}/events`) as zod schemas; the OpenAPI document is
// generated from these, so it declares exactly what `parseCareEvent` accepts. The notification is the engine's
// (api/notification-body.ts), built for this webhook's focus types.

/** What an event is about: a booked visit, or a result that may close (or open) a gap. */
type CareEventType = CareEvent['type'];

const ID = FHIR_ID.source.slice(1, -1); // `[A-Za-z0-9\-.]{1,64}`
/** `[…/]<Type>/<id>[/_history/<v>]` for the given types; groups: type, id, version. */
const refOf = (types: readonly string[]) =>
  new RegExp(`^(?:.*/)?(${types.join('|')})/(${ID})(?:/_history/([A-Za-z0-9\\-.]{1,64}))?$`);

const APPOINTMENT = ['Appointment'] as const;
const RESULTS = ['Observation', 'DiagnosticReport', 'Procedure'] as const;
const FOCUS_TYPES = [...APPOINTMENT, ...RESULTS] as const;
const APPOINTMENT_REF = refOf(APPOINTMENT);
const RESULT_REF = refOf(RESULTS);
const FOCUS_REF = refOf(FOCUS_TYPES);

const AppointmentRef = z
  .string()
  .regex(APPOINTMENT_REF, { message: 'must reference an Appointment ("Appointment/<id>")' });
const ResultRef = z.string().regex(RESULT_REF, {
  message: 'must reference an Observation, DiagnosticReport or Procedure ("Observation/<id>")',
});
const FocusRef = z.string().regex(FOCUS_REF, {
  message: 'must reference an Appointment, Observation, DiagnosticReport or Procedure',
});
const EventId = z.string().min(1).max(200);

const AppointmentBookedEventSchema = z
  .strictObject({
    type: z.literal('appointment.booked'),
    id: EventId,
    appointment: AppointmentRef,
    occurredAt: IsoInstant.optional(),
  })
  .openapi('AppointmentBookedEvent');

const ResultAvailableEventSchema = z
  .strictObject({
    type: z.literal('result.available'),
    id: EventId,
    resource: ResultRef,
    occurredAt: IsoInstant.optional(),
  })
  .openapi('ResultAvailableEvent');

/** The plain event forms, told apart by `type`. */
const PlainEventSchema = z.discriminatedUnion('type', [AppointmentBookedEventSchema, ResultAvailableEventSchema], {
  error: 'type must be "appointment.booked" or "result.available"',
});

/**
 * The FHIR R4 backport topic-based Subscription notification (a `history` Bundle whose first entry is the
 * SubscriptionStatus, as `Parameters` in R4) whose event focus is an Appointment (a booked visit) or an Observation,
 * DiagnosticReport or Procedure (a result).
 */
const Notification = subscriptionNotificationSchema({
  types: FOCUS_TYPES,
  reference: FocusRef,
  component: 'CareEventSubscriptionNotification',
  description:
    'FHIR R4 backport Subscription notification (handshake, heartbeat or event; id-only, full-resource or empty)',
});

/** The events webhook body: a plain event or a notification (told apart by `resourceType`). */
export const CareEventWebhookSchema = z
  .union([AppointmentBookedEventSchema, ResultAvailableEventSchema, Notification.schema])
  .openapi('CareEventWebhook');

export interface CareEventIntake {
  type: CareEventType;
  /** The EHR's id of this event: the dedupe key within the clinic (see `parseCareEvent` for notifications). */
  eventId: string;
  /** `Appointment/<id>`, `Observation/<id>`, `DiagnosticReport/<id>` or `Procedure/<id>` (no base, no version). */
  resource: CareEvent['resource'];
  form: 'event' | 'subscription-notification';
  /** A notification's SubscriptionStatus (null: a plain event). */
  notification: NotificationStatus | null;
}

function normalise(reference: string): { resource: CareEvent['resource']; version: string | undefined } {
  const m = FOCUS_REF.exec(reference)!;
  return { resource: `${m[1] as (typeof FOCUS_TYPES)[number]}/${m[2]!}`, version: m[3] };
}

const typeOf = (resource: string): CareEventType =>
  resource.startsWith('Appointment/') ? 'appointment.booked' : 'result.available';

/**
 * Reads an events webhook body in any contract form.
 *
 * The dedupe key of a notification: `{subscription}#{event-number}` when both are given (the backport's own event
 * identity), else the Bundle id, else the focus reference with its version (a redelivered id-only notification
 * without ids is then one event per version of the resource).
 *
 * @throws AppError `INVALID_INPUT` with the JSON path of the problem.
 */
export function parseCareEvent(body: unknown): CareEventIntake | StatusOnly {
  const object = webhookObject(body);
  if ('resourceType' in object) {
    const parsed = Notification.schema.safeParse(object);
    if (!parsed.success) throw invalidInput(parsed.error, 'subscription notification');
    const status = Notification.statusOf(parsed.data);
    const ev = focusedEvents(status)[0];
    // A handshake, heartbeat, query-status or `empty` notification: no event of its own.
    if (!ev) return { statusOnly: status };
    const { resource, version } = normalise(ev.focus);
    const eventId =
      status.subscription !== null && ev.eventNumber !== null
        ? `${status.subscription}#${ev.eventNumber}`
        : (parsed.data.id ?? (version === undefined ? resource : `${resource}/_history/${version}`));
    return { type: typeOf(resource), eventId, resource, form: 'subscription-notification', notification: status };
  }
  const parsed = PlainEventSchema.safeParse(object);
  if (!parsed.success) throw invalidInput(parsed.error, 'event');
  const e = parsed.data;
  const { resource } = normalise(e.type === 'appointment.booked' ? e.appointment : e.resource);
  return { type: e.type, eventId: e.id, resource, form: 'event', notification: null };
}

/**
 * The intake's workflow id for an event: `ev_{clinicId}_{32 hex of SHA-256(eventId)}`. Hashed because an EHR's event
 * id is free text (up to 200 characters, any character) and workflow ids are neither encrypted nor free for any
 * character; deterministic, so a redelivery finds the same intake.
 */
export function eventIntakeId(clinicId: string, eventId: string): string {
  return `ev_${clinicId}_${createHash('sha256').update(eventId).digest('hex').slice(0, 32)}`;
}
