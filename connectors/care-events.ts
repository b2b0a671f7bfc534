// The identity of a care event (what the events webhook and the Subscription catch-up agree on, so an event announced
// twice, or announced and also found by a catch-up, is one intake). Shared by the API (api/event-body.ts) and the
// worker (activities/event-subscription.ts), which may not import each other.
import { createHash } from 'node:crypto';
import type { AuditInput } from './db/index.ts';

/** The resource types a care event may be about: a booked visit, or a result. */
export const CARE_EVENT_FOCUS_TYPES = ['Appointment', 'Observation', 'DiagnosticReport', 'Procedure'] as const;
export type CareEventFocusType = (typeof CARE_EVENT_FOCUS_TYPES)[number];

const ID = '[A-Za-z0-9\\-.]{1,64}';
/** `[…/]<Type>/<id>[/_history/<v>]` for the given types; groups: type, id, version. */
export const focusReferenceOf = (types: readonly string[]): RegExp =>
  new RegExp(`^(?:.*/)?(${types.join('|')})/(${ID})(?:/_history/(${ID}))?$`);

const FOCUS_REF = focusReferenceOf(CARE_EVENT_FOCUS_TYPES);

/** A care event's focus: `<Type>/<id>` (no base, no version) and its version when the reference names one. */
export function careEventFocus(
  reference: string,
): { resource: `${CareEventFocusType}/${string}`; version: string | undefined } | null {
  const m = FOCUS_REF.exec(reference);
  if (!m) return null;
  return { resource: `${m[1] as CareEventFocusType}/${m[2]!}`, version: m[3] };
}

/** What a care event about `resource` is: a booked visit (an Appointment) or an available result. */
export const careEventType = (resource: string): 'appointment.booked' | 'result.available' =>
  resource.startsWith('Appointment/') ? 'appointment.booked' : 'result.available';

/**
 * The event id of one version of a resource: `<Type>/<id>/_history/<versionId>`. A Subscription event whose focus
 * names its version (in the reference, or in the full-resource entry's `meta.versionId`) has this id, and so has that
 * version when a catch-up finds it: announced and found, or announced by two Subscriptions, it is one event.
 */
export const resourceVersionEventId = (resource: string, version: string): string => `${resource}/_history/${version}`;

/**
 * The intake's workflow id for an event: `ev_{clinicId}_{32 hex of SHA-256(eventId)}`. Hashed because an EHR's event
 * id is free text (up to 200 characters, any character) and workflow ids are neither encrypted nor free for any
 * character; deterministic, so a redelivery finds the same intake.
 */
export function eventIntakeId(clinicId: string, eventId: string): string {
  return `ev_${clinicId}_${createHash('sha256').update(eventId).digest('hex').slice(0, 32)}`;
}

/** The events webhook's Subscription topic key (its tracked state, its catch-up). */
export const EVENTS_TOPIC = 'events';

/**
 * The `event.received` audit row of a care event's intake (written once per delivery): the same row whether the
 * events webhook received the event or a Subscription catch-up found it. `detail` adds to the intake id: ids and
 * references only.
 */
export function eventReceivedAudit(e: {
  clinicId: string;
  intakeId: string;
  requestId: string;
  receivedAt: string;
  detail: Record<string, unknown>;
}): AuditInput {
  return {
    at: e.receivedAt,
    actorType: 'ehr',
    actorId: e.clinicId,
    action: 'event.received',
    clinicId: e.clinicId,
    requestId: e.requestId,
    idempotencyKey: `${e.intakeId}:received`,
    detail: { intakeId: e.intakeId, ...e.detail },
  };
}
