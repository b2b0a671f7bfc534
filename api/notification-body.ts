import { z } from '@hono/zod-openapi';
import { AppError, jsonPath } from '../rules/index.ts';

// What every signed webhook body shares: the JSON Schema keywords zod has no method for (`contains`, `if`/`then`),
// declared next to the refine that enforces them (`declared`), the nesting bound, and the FHIR R4 backport
// topic-based Subscription notification, built for a webhook's own focus types by `subscriptionNotificationSchema`.
// The OpenAPI document is generated from these same schemas, so what it declares is what the parsers accept.

export const FHIR_ID = /^[A-Za-z0-9\-.]{1,64}$/;

const EXTRA = new WeakMap<object, Record<string, unknown>>();

/** `schema` (whose refine enforces `keywords`) with `keywords` declared in the document. */
function declared<T extends z.ZodType>(schema: T, keywords: Record<string, unknown>): T {
  const out = schema.openapi(keywords);
  EXTRA.set(out, keywords);
  return out;
}

/** The JSON Schema of a nested schema, for a keyword (`contains`, `items`) that takes one. */
function jsonSchemaOf(schema: z.ZodType): Record<string, unknown> {
  const { $schema: _, ...rest } = z.toJSONSchema(schema, {
    target: 'draft-2020-12',
    override: (ctx) => Object.assign(ctx.jsonSchema, EXTRA.get(ctx.zodSchema)),
  });
  return rest;
}

/**
 * The signed raw body as JSON, for every webhook.
 *
 * @throws AppError `INVALID_INPUT` at `$` when it is not JSON.
 */
export function parseWebhookJson(raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    throw new AppError('INVALID_INPUT', 'Invalid webhook body at $: not JSON', {
      issues: [{ path: '$', message: 'not JSON' }],
    });
  }
}

/**
 * How deeply a webhook body may nest objects and arrays. A full-resource notification is about 10 levels deep, and
 * FHIR extensions add a few; the bound keeps every later walk of the body (zod's recursive schemas among them) far
 * from the stack's limit, which about 1,000 levels of `part` used to overflow.
 */
export const MAX_WEBHOOK_DEPTH = 64;

/**
 * Refuses a body nested deeper than `max`, naming the first container too deep. Iterative, so the check itself
 * cannot overflow however deep the body is (JSON.parse builds 20,000 levels without complaint).
 */
export function checkDepth(body: unknown, max: number): void {
  const pending: { value: unknown; path: PropertyKey[] }[] = [{ value: body, path: [] }];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    const { value, path } = next;
    if (typeof value !== 'object' || value === null) continue;
    if (path.length >= max) {
      const at = jsonPath(path);
      throw new AppError('INVALID_INPUT', `Invalid webhook body at ${at}: nested deeper than ${max} levels`, {
        issues: [{ path: at, message: `nested deeper than ${max} levels` }],
      });
    }
    const children = Array.isArray(value) ? value.entries() : Object.entries(value);
    for (const [key, child] of children) pending.push({ value: child, path: [...path, key] });
  }
}

/**
 * A webhook body as a JSON object no deeper than `MAX_WEBHOOK_DEPTH`, before any schema walks it.
 *
 * @throws AppError `INVALID_INPUT` at `$` (not an object) or at the first container too deep.
 */
export function webhookObject(body: unknown): object {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new AppError('INVALID_INPUT', 'Invalid webhook body at $: expected a JSON object', {
      issues: [{ path: '$', message: 'expected a JSON object' }],
    });
  }
  checkDepth(body, MAX_WEBHOOK_DEPTH);
  return body;
}

/** What a webhook's notification is about: its focus resource types, the reference schema and its messages. */
export interface NotificationFocus {
  /** The resource types an event's focus may be (a further entry of one of these types needs a valid FHIR id). */
  types: readonly [string, ...string[]];
  /** A reference to one of `types` (`[…/]<Type>/<id>[/_history/<v>]`). */
  reference: z.ZodString;
  /** The OpenAPI component name of the notification and its description. */
  component: string;
  description: string;
}

/** The backport IG's notification types (`SubscriptionStatus.type`). */
export const NOTIFICATION_TYPES = [
  'handshake',
  'heartbeat',
  'event-notification',
  'query-status',
  'query-event',
] as const;
export type NotificationType = (typeof NOTIFICATION_TYPES)[number];
/** The types whose notification needs no event (an `event-notification`, the default, names at least one). */
const NON_EVENT_TYPES: readonly NotificationType[] = NOTIFICATION_TYPES.filter((t) => t !== 'event-notification');
const EVENTLESS = 'an event-notification (the default type) needs at least one notification-event';

/** One `notification-event` of a notification: its number and its focus (null: `empty` content). */
export interface NotificationEvent {
  eventNumber: number | null;
  focus: string | null;
  /** The event's `timestamp` part, when given. */
  timestamp: string | null;
}

/** What a notification's SubscriptionStatus says (R4 `Parameters` or R4B/R5 `SubscriptionStatus`). */
export interface NotificationStatus {
  /** `type`; absent in a notification is read as `event-notification` (what every notification used to be). */
  type: NotificationType;
  /** The Subscription's reference, as sent (null: not given). */
  subscription: string | null;
  topic: string | null;
  /** `events-since-subscription-start` (null: not given). */
  eventsSinceSubscriptionStart: number | null;
  events: NotificationEvent[];
  /** The Bundle's id and timestamp, when given. */
  bundleId: string | null;
  timestamp: string | null;
}

/** The largest event count accepted (events-since-subscription-start and event-number are integer64 as text). */
export const MAX_EVENT_NUMBER = 2_147_483_647;

/** A primitive `value[x]` of a Parameters part, as text. */
function valueText(part: Record<string, unknown>): string | undefined {
  for (const [k, v] of Object.entries(part)) {
    if (k.startsWith('value') && (typeof v === 'string' || typeof v === 'number')) return String(v);
  }
  return undefined;
}

/** An event count (`events-since-subscription-start`, `event-number`): integer64 as a string, or a number. */
const EventCount = z.union([
  z.string().regex(/^(0|[1-9][0-9]{0,9})$/, { message: 'must be a non-negative integer' }),
  z.number().int().nonnegative().max(9_999_999_999),
]);
const countOf = (v: string | number | undefined): number | null =>
  v === undefined || !/^\d{1,10}$/.test(String(v)) || Number(v) > MAX_EVENT_NUMBER ? null : Number(v);

/** `x` has `name: <name>` (a Parameters parameter or part). */
const named = (x: unknown, name: string): x is Record<string, unknown> =>
  typeof x === 'object' && x !== null && (x as { name?: unknown }).name === name;

/**
 * Items of an array that, when named `name`, must be `schema` (other items may be anything): JSON Schema's `if`/`then`
 * on each item.
 */
function itemsNamed(rules: { name: string; schema: z.ZodType }[]) {
  const check = z.unknown().superRefine((x, ctx) => {
    // What the document declares: a rule's `if` holds for anything that is not an object, so its `then` (an object)
    // refuses it.
    if (typeof x !== 'object' || x === null || Array.isArray(x)) {
      ctx.addIssue({ code: 'custom', message: 'must be an object' });
      return;
    }
    for (const r of rules) {
      if (!named(x, r.name)) continue;
      const parsed = r.schema.safeParse(x);
      if (!parsed.success) for (const issue of parsed.error.issues) ctx.addIssue({ ...issue, code: 'custom' });
    }
  });
  const allOf = rules.map((r) => ({
    if: { properties: { name: { const: r.name } }, required: ['name'] },
    then: jsonSchemaOf(r.schema),
  }));
  return z.array(declared(check, allOf.length === 1 ? allOf[0]! : { allOf }));
}

/**
 * The FHIR R4 backport topic-based Subscription notification for one webhook's focus types: a `history` Bundle
 * whose first entry is the SubscriptionStatus (as `Parameters` in R4; R4B's `SubscriptionStatus` too), of any type
 * (`handshake`, `heartbeat`, `event-notification`, `query-status`, `query-event`). An event's focus, when given, must
 * reference one of `focus.types`; `full-resource` payloads carry the resource as a further entry (its id, for a
 * focus type, a valid FHIR id), `id-only` payloads only the reference, `empty` payloads no focus at all.
 * `statusOf` reads what a parsed body says.
 */
export function subscriptionNotificationSchema(focus: NotificationFocus) {
  const FocusRef = focus.reference;
  const Count = EventCount;
  /** The R4 backport's (`Parameters`) `focus` part. */
  const FocusPart = z.looseObject({
    name: z.literal('focus'),
    valueReference: z.looseObject({ reference: FocusRef }),
  });
  const EventNumberPart = z.looseObject({ name: z.literal('event-number'), valueString: Count.optional() });
  const EventParameter = z.looseObject({
    name: z.literal('notification-event'),
    part: itemsNamed([
      { name: 'focus', schema: FocusPart },
      { name: 'event-number', schema: EventNumberPart },
    ]).optional(),
  });
  const TypeParameter = z.looseObject({ name: z.literal('type'), valueCode: z.enum(NOTIFICATION_TYPES) });
  const SinceParameter = z.looseObject({
    name: z.literal('events-since-subscription-start'),
    valueString: Count.optional(),
  });
  /** R4B/R5 `SubscriptionStatus.notificationEvent[]`: the focus, when given, one of the focus types. */
  const StatusEvent = z.looseObject({
    eventNumber: Count.optional(),
    timestamp: z.string().optional(),
    focus: z.looseObject({ reference: FocusRef }).optional(),
  });
  const SubscriptionStatusResource = z.discriminatedUnion(
    'resourceType',
    [
      z.looseObject({
        resourceType: z.literal('Parameters'),
        id: z.string().optional(),
        parameter: declared(
          itemsNamed([
            { name: 'notification-event', schema: EventParameter },
            { name: 'type', schema: TypeParameter },
            { name: 'events-since-subscription-start', schema: SinceParameter },
          ]).refine(
            (ps) =>
              ps.some((p) => named(p, 'notification-event')) ||
              ps.some((p) => named(p, 'type') && NON_EVENT_TYPES.includes(p.valueCode as NotificationType)),
            { message: EVENTLESS },
          ),
          {
            // An event notification (the type's default) names at least one event; the other types need none.
            anyOf: [
              { contains: { properties: { name: { const: 'notification-event' } }, required: ['name'] } },
              {
                contains: {
                  properties: { name: { const: 'type' }, valueCode: { enum: NON_EVENT_TYPES } },
                  required: ['name', 'valueCode'],
                },
              },
            ],
          },
        ),
      }),
      declared(
        z
          .looseObject({
            resourceType: z.literal('SubscriptionStatus'),
            id: z.string().optional(),
            type: z.enum(NOTIFICATION_TYPES).optional(),
            eventsSinceSubscriptionStart: Count.optional(),
            notificationEvent: z.array(StatusEvent).optional(),
          })
          .refine(
            (st) =>
              (st.notificationEvent?.length ?? 0) > 0 || (st.type !== undefined && st.type !== 'event-notification'),
            { message: EVENTLESS, path: ['notificationEvent'] },
          ),
        {
          anyOf: [
            { required: ['notificationEvent'], properties: { notificationEvent: { minItems: 1 } } },
            { required: ['type'], properties: { type: { enum: NON_EVENT_TYPES } } },
          ],
        },
      ),
    ],
    { error: 'the first entry must be the SubscriptionStatus (Parameters in R4)' },
  );
  const types: readonly string[] = focus.types;
  const FurtherEntry = z.looseObject({
    fullUrl: z.string().optional(),
    resource: declared(
      z
        .looseObject({ resourceType: z.string(), id: z.string().optional() })
        .refine((r) => !types.includes(r.resourceType) || r.id === undefined || FHIR_ID.test(r.id), {
          message: 'not a valid FHIR id',
          path: ['id'],
        }),
      {
        // One type is `const` (as the refill webhook has always declared it), several an `enum`.
        if: { properties: { resourceType: types.length === 1 ? { const: types[0] } : { enum: [...types] } } },
        then: { properties: { id: { pattern: FHIR_ID.source } } },
      },
    ).optional(),
  });
  const schema = z
    .looseObject({
      resourceType: z.literal('Bundle'),
      id: z.string().optional(),
      type: z.literal('history'),
      timestamp: z.string().optional(),
      entry: declared(
        z.tuple(
          [z.looseObject({ fullUrl: z.string().optional(), resource: SubscriptionStatusResource })],
          FurtherEntry,
        ),
        { minItems: 1, items: jsonSchemaOf(FurtherEntry) },
      ),
    })
    .openapi(focus.component, { description: focus.description });

  /** What the parsed notification's SubscriptionStatus says: its type, subscription, counts and events. */
  function statusOf(notification: z.infer<typeof schema>): NotificationStatus {
    const status = notification.entry[0].resource;
    const base = { bundleId: notification.id ?? null, timestamp: notification.timestamp ?? null };
    if (status.resourceType === 'SubscriptionStatus') {
      const subscription = (status.subscription as { reference?: unknown } | undefined)?.reference;
      const topic = status.topic;
      return {
        ...base,
        type: status.type ?? 'event-notification',
        subscription: typeof subscription === 'string' ? subscription : null,
        topic: typeof topic === 'string' ? topic : null,
        eventsSinceSubscriptionStart: countOf(status.eventsSinceSubscriptionStart),
        events: (status.notificationEvent ?? []).map((ev) => ({
          eventNumber: countOf(ev.eventNumber),
          focus: ev.focus?.reference ?? null,
          timestamp: ev.timestamp ?? null,
        })),
      };
    }
    const out: NotificationStatus = {
      ...base,
      type: 'event-notification',
      subscription: null,
      topic: null,
      eventsSinceSubscriptionStart: null,
      events: [],
    };
    for (const p of status.parameter) {
      if (typeof p !== 'object' || p === null) continue;
      const param = p as Record<string, unknown>;
      switch (param.name) {
        case 'type':
          out.type = TypeParameter.parse(param).valueCode;
          break;
        case 'subscription': {
          const ref = (param.valueReference as { reference?: unknown } | undefined)?.reference;
          if (typeof ref === 'string') out.subscription = ref;
          break;
        }
        case 'topic':
          out.topic = valueText(param) ?? null;
          break;
        case 'events-since-subscription-start':
          SinceParameter.parse(param);
          out.eventsSinceSubscriptionStart = countOf(valueText(param));
          break;
        case 'notification-event': {
          const event: NotificationEvent = { eventNumber: null, focus: null, timestamp: null };
          for (const part of EventParameter.parse(param).part ?? []) {
            if (named(part, 'focus')) event.focus ??= FocusPart.parse(part).valueReference.reference;
            else if (named(part, 'event-number')) {
              EventNumberPart.parse(part);
              event.eventNumber = countOf(valueText(part));
            } else if (named(part, 'timestamp')) event.timestamp = valueText(part) ?? null;
          }
          out.events.push(event);
          break;
        }
        default:
          break;
      }
    }
    return out;
  }

  return { schema, statusOf };
}

/** The events of a notification that name a focus (what starts work), in the order sent. */
export function focusedEvents(status: NotificationStatus): (NotificationEvent & { focus: string })[] {
  return status.events.filter((e): e is NotificationEvent & { focus: string } => e.focus !== null);
}
