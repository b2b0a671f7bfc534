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

/** An array with at least one item that is an `item` (other items may be anything). */
function containing(item: z.ZodType, message: string) {
  return declared(
    z.array(z.unknown()).refine((xs) => xs.some((x) => item.safeParse(x).success), { message }),
    { contains: jsonSchemaOf(item) },
  );
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
  /** The resource types an event's focus may be (the first entry's `if`/`then` checks their further entries' ids). */
  types: readonly [string, ...string[]];
  /** A reference to one of `types` (`[…/]<Type>/<id>[/_history/<v>]`). */
  reference: z.ZodString;
  /** The refusal when a `notification-event` parameter has no focus part referencing one of `types`. */
  noFocusPart: string;
  /** The refusal when no event of the SubscriptionStatus has such a focus. */
  noFocus: string;
  /** The OpenAPI component name of the notification and its description. */
  component: string;
  description: string;
}

/** The first event with a usable focus: its reference, and the subscription and event number when given. */
export interface NotificationEvent {
  focus: string;
  subscription: string | undefined;
  eventNumber: string | undefined;
}

/** A primitive `value[x]` of a Parameters part, as text. */
function valueText(part: Record<string, unknown>): string | undefined {
  for (const [k, v] of Object.entries(part)) {
    if (k.startsWith('value') && (typeof v === 'string' || typeof v === 'number')) return String(v);
  }
  return undefined;
}

/**
 * The FHIR R4 backport topic-based Subscription notification for one webhook's focus types: a `history` Bundle
 * whose first entry is the SubscriptionStatus (as `Parameters` in R4), with an event whose focus references one of
 * `focus.types`. `full-resource` payloads carry the resource as a further entry (its id, for a focus type, a valid
 * FHIR id); `id-only` payloads carry only the reference. `eventOf` reads the first usable event of a parsed body.
 */
export function subscriptionNotificationSchema(focus: NotificationFocus) {
  const FocusRef = focus.reference;
  /** R4B/R5 `SubscriptionStatus.notificationEvent[]` whose focus is one of the focus types. */
  const StatusEvent = z.looseObject({ focus: z.looseObject({ reference: FocusRef }) });
  /** The R4 backport's (`Parameters`) `notification-event` part naming the focus. */
  const FocusPart = z.looseObject({
    name: z.literal('focus'),
    valueReference: z.looseObject({ reference: FocusRef }),
  });
  const EventParameter = z.looseObject({
    name: z.literal('notification-event'),
    part: containing(FocusPart, focus.noFocusPart),
  });
  const SubscriptionStatusResource = z.discriminatedUnion(
    'resourceType',
    [
      z.looseObject({
        resourceType: z.literal('Parameters'),
        id: z.string().optional(),
        parameter: containing(EventParameter, focus.noFocus),
      }),
      z.looseObject({
        resourceType: z.literal('SubscriptionStatus'),
        id: z.string().optional(),
        notificationEvent: containing(StatusEvent, focus.noFocus),
      }),
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

  /** The focus, the subscription and the event number of the first event with a usable focus. */
  function eventOf(notification: z.infer<typeof schema>): NotificationEvent {
    const status = notification.entry[0].resource;
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
        let focusRef: string | undefined;
        let eventNumber: string | undefined;
        for (const part of parsed.data.part) {
          const f = FocusPart.safeParse(part);
          if (f.success) focusRef ??= f.data.valueReference.reference;
          else if (typeof part === 'object' && part !== null && (part as { name?: unknown }).name === 'event-number') {
            eventNumber = valueText(part as Record<string, unknown>);
          }
        }
        if (focusRef) return { focus: focusRef, subscription: sub?.valueReference.reference, eventNumber };
      }
    }
    throw new Error('unreachable: the schema requires a focus');
  }

  return { schema, eventOf };
}
