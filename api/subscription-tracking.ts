import { createHash } from 'node:crypto';
import { z } from '@hono/zod-openapi';
import type { Clinic } from '../connectors/db/index.ts';
import { AppError } from '../rules/index.ts';
import type { ApiDeps } from './deps.ts';
import type { TopicReference } from '../workflows/subscription-catch-up.ts';
import { NOTIFICATION_TYPES, type NotificationStatus } from './notification-body.ts';

// FHIR R4 backport Subscriptions as EHRs send them (issue 12 §4): every notification (handshake, heartbeat, event)
// carries `events-since-subscription-start`, every event its `event-number`. Per clinic and Subscription we keep the
// highest number seen (store.subscriptions, migration 0015); a number skipped means a notification was lost, and a
// catch-up (workflows/subscription-catch-up.ts) queries the topic's resources changed since the last notification seen.
//
// Ordering, for "nothing lost, nothing twice": the catch-up starts (deterministic id, durable in Temporal) BEFORE the
// new number is recorded, so a failure in between is retried by the EHR's redelivery and finds the same gap and the
// same catch-up id; what the catch-up finds starts through the topic's own deduplicated path (the same case ids a
// notification gives), so a resource both found and notified, or redelivered later, is one case.

/** The answer to a notification that starts no case of its own (handshake, heartbeat, query-status, `empty`). */
export const SubscriptionAckSchema = z
  .object({
    type: z.enum(NOTIFICATION_TYPES),
    /** The Subscription's reference as sent (null: the notification named none, and nothing is tracked). */
    subscription: z.string().nullable(),
    eventsSinceSubscriptionStart: z.number().int().nullable(),
    /** The highest event number seen for this Subscription, after this notification. */
    highestEventNumber: z.number().int().nullable(),
    /** Events the numbers show as missed by this notification (0: none, or unknown). */
    missed: z.number().int(),
    /** The catch-up this notification started (a gap, an `empty` event, batched events); null: none. */
    catchUp: z
      .object({
        catchUpId: z.string(),
        /** Events the numbers show as missed (0 for an `empty` notification or batched events). */
        missed: z.number().int(),
        /** The topic's resources changed after this instant are queried; null: only the notification's own. */
        since: z.string().nullable(),
      })
      .nullable(),
  })
  .openapi('SubscriptionNotificationAck');
export type SubscriptionAck = z.infer<typeof SubscriptionAckSchema>;

/**
 * What a notification tells about a Subscription whose highest event number seen is `highest` (null: never seen):
 * how many events were missed, the highest number after it, and whether to record it (with this notification's time
 * as the instant we were last up to date: a later catch-up queries changes since then).
 *
 * `events-since-subscription-start` counts this notification's events too, so a heartbeat with a count above what
 * we saw, or an event whose number skips, means a lost notification. A handshake (re)starts the count. A Subscription
 * first seen without a handshake is a baseline: nothing before it can be known to be missing. A late or repeated
 * event (its number at or below the highest) records nothing: it does not show that nothing was lost since.
 */
export function subscriptionGap(
  highest: number | null,
  status: Pick<NotificationStatus, 'type' | 'eventsSinceSubscriptionStart' | 'events'>,
): { missed: number; highest: number | null; record: boolean } {
  const numbers = new Set(status.events.flatMap((e) => (e.eventNumber === null ? [] : [e.eventNumber])));
  const count = status.eventsSinceSubscriptionStart;
  const known = count !== null || numbers.size > 0;
  const top = Math.max(count ?? 0, ...numbers);
  if (status.type === 'handshake') return { missed: 0, highest: count ?? 0, record: true };
  if (highest === null) return { missed: 0, highest: known ? top : null, record: known };
  if (!known || top < highest) return { missed: 0, highest, record: false };
  // The count equal to what we saw: nothing was lost up to now (a heartbeat's usual news).
  if (top === highest) return { missed: 0, highest, record: count === highest };
  const seenAbove = [...numbers].filter((n) => n > highest).length;
  return { missed: top - highest - seenAbove, highest: top, record: true };
}

/** A Subscription reference: what we key its state by (bounded; a longer one is refused with its path). */
const MAX_SUBSCRIPTION_REF = 1024;

/** The catch-up's workflow id: `sc_{clinicId}_{32 hex}`, a hash of what identifies it (a reference is no PHI, but long). */
export function catchUpId(clinicId: string, parts: readonly (string | number)[]): string {
  return `sc_${clinicId}_${createHash('sha256').update(parts.join('\u0000')).digest('hex').slice(0, 32)}`;
}

/**
 * Tracks one notification of a clinic's Subscription: detects a gap, starts the catch-up it needs (and the further
 * events of a batched notification, `references`), then records the new highest number. Audits each catch-up it
 * starts (ids and counts only).
 *
 * @throws AppError `TEMPORAL_UNAVAILABLE` (503) when the catch-up cannot be started: nothing is recorded, and the
 *   EHR's retry finds the same gap.
 */
export async function trackNotification(
  deps: Pick<ApiDeps, 'store' | 'workflows' | 'config' | 'workflowPolicy'>,
  input: {
    clinic: Clinic;
    /** The webhook's topic key (what its state is kept under, what its catch-up queries). */
    topic: string;
    /** Whether the topic has a catch-up (false: a gap is audited and answered, not caught up). */
    catchUp: boolean;
    status: NotificationStatus;
    /**
     * The notification's further events (its first goes through the webhook's own path): their focus references, or
     * with the event id each gets (a topic whose events have ids of their own).
     */
    references: TopicReference[];
    requestId: string;
    receivedAt: string;
  },
): Promise<SubscriptionAck> {
  const { store, workflows, config } = deps;
  const { clinic, status, topic, requestId, receivedAt } = input;
  const subscription = status.subscription;
  if (subscription !== null && subscription.length > MAX_SUBSCRIPTION_REF) {
    const path = '$.entry[0].resource';
    throw new AppError('INVALID_INPUT', `Invalid subscription notification at ${path}: subscription too long`, {
      issues: [{ path, message: `the subscription reference is longer than ${MAX_SUBSCRIPTION_REF} characters` }],
    });
  }
  const state = subscription === null ? null : await store.subscriptions.get(clinic.id, subscription);
  const gap = subscriptionGap(state?.highestEvent ?? null, status);
  const carriesEvents = status.type === 'event-notification' || status.type === 'query-event';
  const empty = carriesEvents && status.events.some((e) => e.focus === null);
  let catchUp: SubscriptionAck['catchUp'] = null;
  if (!input.catchUp && (gap.missed > 0 || empty)) {
    await store.audit.appendAudit({
      at: receivedAt,
      actorType: 'ehr',
      actorId: clinic.id,
      action: 'subscription.gap_not_caught_up',
      clinicId: clinic.id,
      requestId,
      detail: { subscription, type: status.type, missed: gap.missed, empty },
    });
  } else if (input.catchUp && (gap.missed > 0 || empty || input.references.length > 0)) {
    const skewMs = config.SUBSCRIPTION_CATCH_UP_SKEW_SECONDS * 1000;
    const eventTimes = status.events.flatMap((e) =>
      e.timestamp && !Number.isNaN(Date.parse(e.timestamp)) ? [Date.parse(e.timestamp)] : [],
    );
    const from = state ? Date.parse(state.lastEventAt) : Math.min(Date.parse(receivedAt), ...eventTimes);
    const since = gap.missed > 0 || empty ? new Date(from - skewMs).toISOString() : null;
    const numbers = status.events.map((e) => e.eventNumber ?? '-').join(',');
    const id = catchUpId(clinic.id, [
      topic,
      subscription ?? '-',
      gap.missed > 0 ? `gap:${(state?.highestEvent ?? 0) + 1}-${gap.highest}` : 'no-gap',
      empty ? `empty:${numbers}:${status.bundleId ?? receivedAt}` : 'focused',
      ...input.references.map((r) => (typeof r === 'string' ? r : `${r.reference} ${r.eventId}`)),
    ]);
    if (!workflows.startSubscriptionCatchUp) {
      throw new AppError('TEMPORAL_UNAVAILABLE', 'Subscription catch-up is not available on this server', {
        retryable: true,
      });
    }
    await workflows.startSubscriptionCatchUp({
      catchUpId: id,
      clinicId: clinic.id,
      topic,
      requestId,
      references: input.references,
      since,
      ...(deps.workflowPolicy ? { policy: deps.workflowPolicy } : {}),
    });
    await store.audit.appendAudit({
      at: receivedAt,
      actorType: 'ehr',
      actorId: clinic.id,
      action: 'subscription.catch_up',
      clinicId: clinic.id,
      requestId,
      idempotencyKey: `${id}:requested`,
      detail: {
        catchUpId: id,
        topic,
        subscription,
        type: status.type,
        missed: gap.missed,
        empty,
        references: input.references.length,
        since,
      },
    });
    catchUp = { catchUpId: id, missed: gap.missed, since };
  }
  if (subscription !== null && gap.highest !== null && gap.record) {
    await store.subscriptions.advance({
      clinicId: clinic.id,
      subscription,
      topic,
      highestEvent: gap.highest,
      at: receivedAt,
      reset: status.type === 'handshake',
    });
  }
  return {
    type: status.type,
    subscription,
    eventsSinceSubscriptionStart: status.eventsSinceSubscriptionStart,
    highestEventNumber: gap.highest,
    missed: gap.missed,
    catchUp,
  };
}
