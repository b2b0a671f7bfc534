import { z } from '@hono/zod-openapi';
import {
  CARE_EVENT_FOCUS_TYPES,
  careEventFocus,
  careEventType,
  focusReferenceOf,
  resourceVersionEventId,
} from '../connectors/care-events.ts';
import type { CareEvent } from '../workflows/event-intake.ts';
import type { TopicReference } from '../workflows/subscription-catch-up.ts';
import { invalidInput } from './errors.ts';
import { IsoInstant } from './schemas.ts';
import {
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

const APPOINTMENT = ['Appointment'] as const;
const RESULTS = ['Observation', 'DiagnosticReport', 'Procedure'] as const;
const FOCUS_TYPES = CARE_EVENT_FOCUS_TYPES;
const APPOINTMENT_REF = focusReferenceOf(APPOINTMENT);
const RESULT_REF = focusReferenceOf(RESULTS);
const FOCUS_REF = focusReferenceOf(FOCUS_TYPES);

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
  /**
   * A batched notification's further events (after the first, which is this intake), each with its event id by the
   * same rule: started through the Subscription catch-up (api/subscription-tracking.ts `references`).
   */
  further: Extract<TopicReference, object>[];
}

function normalise(reference: string): { resource: CareEvent['resource']; version: string | undefined } {
  return careEventFocus(reference)!;
}

/** The version a full-resource notification's entry gives the focus (`meta.versionId`), when the reference does not. */
function entryVersion(entries: readonly unknown[], resource: string): string | undefined {
  for (const entry of entries.slice(1)) {
    const r = (entry as { resource?: { resourceType?: unknown; id?: unknown; meta?: { versionId?: unknown } } })
      .resource;
    if (!r || `${String(r.resourceType)}/${String(r.id)}` !== resource) continue;
    const v = r.meta?.versionId;
    if (typeof v === 'string' && /^[A-Za-z0-9\-.]{1,64}$/.test(v)) return v;
  }
  return undefined;
}

/**
 * Reads an events webhook body in any contract form.
 *
 * The dedupe key (event id) of a notification's event: the focus's version, `<Type>/<id>/_history/<v>`, when the
 * reference or the full-resource entry names one (the same id a Subscription catch-up gives that version when it finds
 * it, connectors/care-events.ts: announced and found, it is one intake); else `{subscription}#{event-number}` when both
 * are given (the backport's own event identity); else the Bundle id (`{bundle id}#{position}` for a batched
 * notification's further events); else the focus reference.
 *
 * @throws AppError `INVALID_INPUT` with the JSON path of the problem.
 */
export function parseCareEvent(body: unknown): CareEventIntake | StatusOnly {
  const object = webhookObject(body);
  if ('resourceType' in object) {
    const parsed = Notification.schema.safeParse(object);
    if (!parsed.success) throw invalidInput(parsed.error, 'subscription notification');
    const status = Notification.statusOf(parsed.data);
    const events = focusedEvents(status).map((ev, i) => {
      const { resource, version: refVersion } = normalise(ev.focus);
      const version = refVersion ?? entryVersion(parsed.data.entry, resource);
      const bundleId = parsed.data.id === undefined ? undefined : i === 0 ? parsed.data.id : `${parsed.data.id}#${i}`;
      const eventId =
        version !== undefined
          ? resourceVersionEventId(resource, version)
          : status.subscription !== null && ev.eventNumber !== null
            ? `${status.subscription}#${ev.eventNumber}`
            : (bundleId ?? resource);
      return { resource, eventId };
    });
    const [first, ...further] = events;
    // A handshake, heartbeat, query-status or `empty` notification: no event of its own.
    if (!first) return { statusOnly: status };
    return {
      type: careEventType(first.resource),
      eventId: first.eventId,
      resource: first.resource,
      form: 'subscription-notification',
      notification: status,
      further: further.map((e) => ({ reference: e.resource, eventId: e.eventId })),
    };
  }
  const parsed = PlainEventSchema.safeParse(object);
  if (!parsed.success) throw invalidInput(parsed.error, 'event');
  const e = parsed.data;
  const { resource } = normalise(e.type === 'appointment.booked' ? e.appointment : e.resource);
  return { type: e.type, eventId: e.id, resource, form: 'event', notification: null, further: [] };
}
