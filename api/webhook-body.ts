import { z } from '@hono/zod-openapi';
import { AppError, jsonPath } from '../rules/index.ts';
import { invalidInput } from './errors.ts';
import { IsoInstant } from './schemas.ts';

// Both webhook body forms as zod schemas; the OpenAPI document is generated from these same schemas, so what it
// declares is what `parseRefillWebhook` accepts. JSON Schema keywords zod has no method for (`contains`, `if`/`then`)
// are declared next to the refine that enforces them (`declared`).

export const FHIR_ID = /^[A-Za-z0-9\-.]{1,64}$/;
/** `[…/]MedicationRequest/<id>[/_history/<v>]`; the id is the last `MedicationRequest/` segment's. */
const MR_REF = /^(?:.*\/)?MedicationRequest\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[A-Za-z0-9\-.]+)?$/;
const MedicationRequestRef = z.string().regex(MR_REF, {
  message: 'must reference a MedicationRequest ("MedicationRequest/<id>")',
});

const EXTRA = new WeakMap<object, Record<string, unknown>>();

/** `schema` (whose refine enforces `keywords`) with `keywords` declared in the document. */
export function declared<T extends z.ZodType>(schema: T, keywords: Record<string, unknown>): T {
  const out = schema.openapi(keywords);
  EXTRA.set(out, keywords);
  return out;
}

/** The JSON Schema of a nested schema, for a keyword (`contains`, `items`) that takes one. */
export function jsonSchemaOf(schema: z.ZodType): Record<string, unknown> {
  const { $schema: _, ...rest } = z.toJSONSchema(schema, {
    target: 'draft-2020-12',
    override: (ctx) => Object.assign(ctx.jsonSchema, EXTRA.get(ctx.zodSchema)),
  });
  return rest;
}

/** An array with at least one item that is an `item` (other items may be anything). */
export function containing(item: z.ZodType, message: string) {
  return declared(
    z.array(z.unknown()).refine((xs) => xs.some((x) => item.safeParse(x).success), { message }),
    { contains: jsonSchemaOf(item) },
  );
}

/** The plain event form. */
export const RefillRequestedEventSchema = z
  .strictObject({
    type: z.literal('refill.requested'),
    id: z.string().min(1).max(200),
    medicationRequest: MedicationRequestRef,
    occurredAt: IsoInstant.optional(),
  })
  .openapi('RefillRequestedEvent');

/** R4B/R5 `SubscriptionStatus.notificationEvent[]` whose focus is the refill request. */
const StatusEvent = z.looseObject({ focus: z.looseObject({ reference: MedicationRequestRef }) });
/** The R4 backport's (`Parameters`) `notification-event` part naming the focus. */
const FocusPart = z.looseObject({
  name: z.literal('focus'),
  valueReference: z.looseObject({ reference: MedicationRequestRef }),
});
const EventParameter = z.looseObject({
  name: z.literal('notification-event'),
  part: containing(FocusPart, 'no focus part referencing a MedicationRequest'),
});
const NO_FOCUS = 'no notification-event with a focus reference to the refill MedicationRequest';
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
      .refine((r) => r.resourceType !== 'MedicationRequest' || r.id === undefined || FHIR_ID.test(r.id), {
        message: 'not a valid FHIR id',
        path: ['id'],
      }),
    {
      if: { properties: { resourceType: { const: 'MedicationRequest' } } },
      then: { properties: { id: { pattern: FHIR_ID.source } } },
    },
  ).optional(),
});

/**
 * The FHIR R4 backport topic-based Subscription notification: a `history` Bundle whose first entry is the
 * SubscriptionStatus (as `Parameters` in R4), with the refill MedicationRequest as an event's focus. `full-resource`
 * payloads carry the resource as a further entry; `id-only` payloads carry only the reference.
 */
export const NotificationBundleSchema = z
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
  .openapi('RefillSubscriptionNotification', {
    description: 'FHIR R4 backport Subscription notification (id-only or full-resource)',
  });

/** The webhook body: either form (told apart by `resourceType`, which the event form never has). */
export const RefillWebhookSchema = z
  .union([RefillRequestedEventSchema, NotificationBundleSchema])
  .openapi('RefillWebhook');

export interface RefillIntake {
  medicationRequestId: string;
  /** The id of this notification/event as the EHR sent it (for the audit trail). */
  eventId: string | null;
  form: 'event' | 'subscription-notification';
}

function idOf(reference: string): string {
  return MR_REF.exec(reference)![1]!;
}

/** The first focus that references a MedicationRequest (the schema guarantees there is one). */
function focusOf(status: z.infer<typeof SubscriptionStatusResource>): string {
  if (status.resourceType === 'SubscriptionStatus') {
    for (const ev of status.notificationEvent) {
      const parsed = StatusEvent.safeParse(ev);
      if (parsed.success) return parsed.data.focus.reference;
    }
  } else {
    for (const p of status.parameter) {
      const parsed = EventParameter.safeParse(p);
      if (!parsed.success) continue;
      for (const part of parsed.data.part) {
        const focus = FocusPart.safeParse(part);
        if (focus.success) return focus.data.valueReference.reference;
      }
    }
  }
  throw new Error('unreachable: the schema requires a focus');
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
 * Reads a webhook body in either contract form and returns the refill request it is about.
 *
 * @throws AppError `INVALID_INPUT` with the JSON path of the problem.
 */
export function parseRefillWebhook(body: unknown): RefillIntake {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new AppError('INVALID_INPUT', 'Invalid webhook body at $: expected a JSON object', {
      issues: [{ path: '$', message: 'expected a JSON object' }],
    });
  }
  checkDepth(body, MAX_WEBHOOK_DEPTH);
  if ('resourceType' in body) {
    const parsed = NotificationBundleSchema.safeParse(body);
    if (!parsed.success) throw invalidInput(parsed.error, 'subscription notification');
    const medicationRequestId = idOf(focusOf(parsed.data.entry[0].resource));
    return { medicationRequestId, eventId: parsed.data.id ?? null, form: 'subscription-notification' };
  }
  const parsed = RefillRequestedEventSchema.safeParse(body);
  if (!parsed.success) throw invalidInput(parsed.error, 'refill.requested event');
  return { medicationRequestId: idOf(parsed.data.medicationRequest), eventId: parsed.data.id, form: 'event' };
}
