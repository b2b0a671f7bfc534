import { createHash } from 'node:crypto';
import { z } from '@hono/zod-openapi';
import { AppError } from '../rules/index.ts';
import type { CareEvent } from '../workflows/event-intake.ts';
import { invalidInput } from './errors.ts';
import { IsoInstant } from './schemas.ts';
import { checkDepth, containing, declared, FHIR_ID, jsonSchemaOf, MAX_WEBHOOK_DEPTH } from './webhook-body.ts';

// The events webhook's body forms (`POST /v1/webhooks/{clinicId}/events`) as zod schemas; the OpenAPI document is
// generated from these, so it declares exactly what `parseCareEvent` accepts. Built like the refill forms
// (api/webhook-body.ts), whose helpers it reuses.

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

/** R4B/R5 `SubscriptionStatus.notificationEvent[]` whose focus is the event's resource. */
const StatusEvent = z.looseObject({ focus: z.looseObject({ reference: FocusRef }) });
/** The R4 backport's (`Parameters`) `notification-event` part naming the focus. */
const FocusPart = z.looseObject({ name: z.literal('focus'), valueReference: z.looseObject({ reference: FocusRef }) });
const EventParameter = z.looseObject({
  name: z.literal('notification-event'),
  part: containing(FocusPart, 'no focus part referencing an Appointment, Observation, DiagnosticReport or Procedure'),
});
const NO_FOCUS =
  'no notification-event with a focus reference to an Appointment, Observation, DiagnosticReport or Procedure';
const SubscriptionStatusResource = z.discriminatedUnion(
  'resourceType',
  [
    z.looseObject({
      resourceType: z.literal('Parameters'),
      id: z.string().optional(),
      parameter: containing(EventParameter, NO_FOCUS),
    }),
    z.looseObject({
      resourceType: z.literal('SubscriptionStatus'),
      id: z.string().optional(),
      notificationEvent: containing(StatusEvent, NO_FOCUS),
    }),
  ],
  { error: 'the first entry must be the SubscriptionStatus (Parameters in R4)' },
);
const FurtherEntry = z.looseObject({
  fullUrl: z.string().optional(),
  resource: declared(
    z
      .looseObject({ resourceType: z.string(), id: z.string().optional() })
      .refine(
        (r) => !(FOCUS_TYPES as readonly string[]).includes(r.resourceType) || r.id === undefined || FHIR_ID.test(r.id),
        { message: 'not a valid FHIR id', path: ['id'] },
      ),
    {
      if: { properties: { resourceType: { enum: [...FOCUS_TYPES] } } },
      then: { properties: { id: { pattern: FHIR_ID.source } } },
    },
  ).optional(),
});

/**
 * The FHIR R4 backport topic-based Subscription notification (a `history` Bundle whose first entry is the
 * SubscriptionStatus, as `Parameters` in R4) whose event focus is an Appointment (a booked visit) or an Observation,
 * DiagnosticReport or Procedure (a result).
 */
const CareEventNotificationSchema = z
  .looseObject({
    resourceType: z.literal('Bundle'),
    id: z.string().optional(),
    type: z.literal('history'),
    timestamp: z.string().optional(),
    entry: declared(
      z.tuple([z.looseObject({ fullUrl: z.string().optional(), resource: SubscriptionStatusResource })], FurtherEntry),
      { minItems: 1, items: jsonSchemaOf(FurtherEntry) },
    ),
  })
  .openapi('CareEventSubscriptionNotification', {
    description: 'FHIR R4 backport Subscription notification (id-only or full-resource)',
  });

/** The events webhook body: a plain event or a notification (told apart by `resourceType`). */
export const CareEventWebhookSchema = z
  .union([AppointmentBookedEventSchema, ResultAvailableEventSchema, CareEventNotificationSchema])
  .openapi('CareEventWebhook');

interface CareEventIntake {
  type: CareEventType;
  /** The EHR's id of this event: the dedupe key within the clinic (see `parseCareEvent` for notifications). */
  eventId: string;
  /** `Appointment/<id>`, `Observation/<id>`, `DiagnosticReport/<id>` or `Procedure/<id>` (no base, no version). */
  resource: CareEvent['resource'];
  form: 'event' | 'subscription-notification';
}

function normalise(reference: string): { resource: CareEvent['resource']; version: string | undefined } {
  const m = FOCUS_REF.exec(reference)!;
  return { resource: `${m[1] as (typeof FOCUS_TYPES)[number]}/${m[2]!}`, version: m[3] };
}

const typeOf = (resource: string): CareEventType =>
  resource.startsWith('Appointment/') ? 'appointment.booked' : 'result.available';

/** A primitive `value[x]` of a Parameters part, as text. */
function valueText(part: Record<string, unknown>): string | undefined {
  for (const [k, v] of Object.entries(part)) {
    if (k.startsWith('value') && (typeof v === 'string' || typeof v === 'number')) return String(v);
  }
  return undefined;
}

/** The focus, the subscription and the event number of the first event with a usable focus. */
function notificationEvent(status: z.infer<typeof SubscriptionStatusResource>): {
  focus: string;
  subscription: string | undefined;
  eventNumber: string | undefined;
} {
  if (status.resourceType === 'SubscriptionStatus') {
    const subscription = (status.subscription as { reference?: unknown } | undefined)?.reference;
    for (const ev of status.notificationEvent) {
      const parsed = StatusEvent.safeParse(ev);
      if (!parsed.success) continue;
      const n = (ev as { eventNumber?: unknown }).eventNumber;
      return {
        focus: parsed.data.focus.reference,
        subscription: typeof subscription === 'string' ? subscription : undefined,
        eventNumber: typeof n === 'string' || typeof n === 'number' ? String(n) : undefined,
      };
    }
  } else {
    const sub = status.parameter.find(
      (p): p is { name: string; valueReference: { reference: string } } =>
        typeof p === 'object' &&
        p !== null &&
        (p as { name?: unknown }).name === 'subscription' &&
        typeof (p as { valueReference?: { reference?: unknown } }).valueReference?.reference === 'string',
    );
    for (const p of status.parameter) {
      const parsed = EventParameter.safeParse(p);
      if (!parsed.success) continue;
      let focus: string | undefined;
      let eventNumber: string | undefined;
      for (const part of parsed.data.part) {
        const f = FocusPart.safeParse(part);
        if (f.success) focus ??= f.data.valueReference.reference;
        else if (typeof part === 'object' && part !== null && (part as { name?: unknown }).name === 'event-number') {
          eventNumber = valueText(part as Record<string, unknown>);
        }
      }
      if (focus) return { focus, subscription: sub?.valueReference.reference, eventNumber };
    }
  }
  throw new Error('unreachable: the schema requires a focus');
}

/**
 * Reads an events webhook body in any contract form.
 *
 * The dedupe key of a notification: `{subscription}#{event-number}` when both are given (the backport's own event
 * identity), else the Bundle id, else the focus reference with its version (a redelivered id-only notification
 * without ids is then one event per version of the resource).
 *
 * @throws AppError `INVALID_INPUT` with the JSON path of the problem.
 */
export function parseCareEvent(body: unknown): CareEventIntake {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new AppError('INVALID_INPUT', 'Invalid webhook body at $: expected a JSON object', {
      issues: [{ path: '$', message: 'expected a JSON object' }],
    });
  }
  checkDepth(body, MAX_WEBHOOK_DEPTH);
  if ('resourceType' in body) {
    const parsed = CareEventNotificationSchema.safeParse(body);
    if (!parsed.success) throw invalidInput(parsed.error, 'subscription notification');
    const ev = notificationEvent(parsed.data.entry[0].resource);
    const { resource, version } = normalise(ev.focus);
    const eventId =
      ev.subscription !== undefined && ev.eventNumber !== undefined
        ? `${ev.subscription}#${ev.eventNumber}`
        : (parsed.data.id ?? (version === undefined ? resource : `${resource}/_history/${version}`));
    return { type: typeOf(resource), eventId, resource, form: 'subscription-notification' };
  }
  const parsed = PlainEventSchema.safeParse(body);
  if (!parsed.success) throw invalidInput(parsed.error, 'event');
  const e = parsed.data;
  const { resource } = normalise(e.type === 'appointment.booked' ? e.appointment : e.resource);
  return { type: e.type, eventId: e.id, resource, form: 'event' };
}

/**
 * The intake's workflow id for an event: `ev_{clinicId}_{32 hex of SHA-256(eventId)}`. Hashed because an EHR's event
 * id is free text (up to 200 characters, any character) and workflow ids are neither encrypted nor free for any
 * character; deterministic, so a redelivery finds the same intake.
 */
export function eventIntakeId(clinicId: string, eventId: string): string {
  return `ev_${clinicId}_${createHash('sha256').update(eventId).digest('hex').slice(0, 32)}`;
}
