import { z } from 'zod';
import { AppError, jsonPath } from '../rules/index.ts';
import { invalidInput } from './errors.ts';

const FHIR_ID = /^[A-Za-z0-9\-.]{1,64}$/;
const MedicationRequestRef = z
  .string()
  .regex(/^(?:.*\/)?MedicationRequest\/[A-Za-z0-9\-.]{1,64}(?:\/_history\/[A-Za-z0-9\-.]+)?$/, {
    message: 'must reference a MedicationRequest ("MedicationRequest/<id>")',
  });

/** The plain event form. */
export const RefillRequestedEventSchema = z.strictObject({
  type: z.literal('refill.requested'),
  id: z.string().min(1).max(200),
  medicationRequest: MedicationRequestRef,
  occurredAt: z.iso.datetime({ offset: true }).optional(),
});

const ParameterSchema: z.ZodType<{ name: string; part?: unknown[]; [k: string]: unknown }> = z.looseObject({
  name: z.string(),
  part: z.array(z.lazy(() => ParameterSchema)).optional(),
});

/**
 * The FHIR R4 backport topic-based Subscription notification: a `history` Bundle whose first entry is the
 * SubscriptionStatus (as `Parameters` in R4), with the refill MedicationRequest as the event's focus. `full-resource`
 * payloads carry the resource as a further entry; `id-only` payloads carry only the reference.
 */
export const NotificationBundleSchema = z.looseObject({
  resourceType: z.literal('Bundle'),
  id: z.string().optional(),
  type: z.literal('history'),
  timestamp: z.string().optional(),
  entry: z
    .array(
      z.looseObject({
        fullUrl: z.string().optional(),
        resource: z.looseObject({ resourceType: z.string(), id: z.string().optional() }).optional(),
      }),
    )
    .min(1),
});

export interface RefillIntake {
  medicationRequestId: string;
  /** The id of this notification/event as the EHR sent it (for the audit trail). */
  eventId: string | null;
  form: 'event' | 'subscription-notification';
}

function idOf(reference: string): string {
  const m = /MedicationRequest\/([A-Za-z0-9\-.]{1,64})/.exec(reference);
  return m![1]!;
}

/**
 * How deeply a webhook body may nest objects and arrays. A full-resource notification is about 10 levels deep, and
 * FHIR extensions add a few; the bound keeps every later walk of the body (zod's recursive Parameters.part schema
 * among them) far from the stack's limit, which about 1,000 levels of `part` used to overflow.
 */
export const MAX_WEBHOOK_DEPTH = 64;

/**
 * Refuses a body nested deeper than `max`, naming the first container too deep. Iterative, so the check itself
 * cannot overflow however deep the body is (JSON.parse builds 20,000 levels without complaint).
 */
function checkDepth(body: unknown, max: number): void {
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
    const first = parsed.data.entry[0]!.resource;
    if (!first || (first.resourceType !== 'Parameters' && first.resourceType !== 'SubscriptionStatus')) {
      throw problem('$.entry[0].resource.resourceType', 'the first entry must be the SubscriptionStatus (Parameters)');
    }
    const focus = findFocus(first);
    if (!focus) {
      throw problem(
        '$.entry[0].resource.parameter',
        'no notification-event with a focus reference to the refill MedicationRequest',
      );
    }
    if (!MedicationRequestRef.safeParse(focus.reference).success) {
      throw problem(focus.path, 'focus must reference a MedicationRequest');
    }
    const medicationRequestId = idOf(focus.reference);
    // full-resource: the entry carrying the resource must agree with the focus.
    parsed.data.entry.slice(1).forEach((e, i) => {
      const r = e.resource;
      if (r?.resourceType === 'MedicationRequest' && r.id !== undefined && !FHIR_ID.test(r.id)) {
        throw problem(`$.entry[${i + 1}].resource.id`, 'not a valid FHIR id');
      }
    });
    return { medicationRequestId, eventId: parsed.data.id ?? null, form: 'subscription-notification' };
  }
  const parsed = RefillRequestedEventSchema.safeParse(body);
  if (!parsed.success) throw invalidInput(parsed.error, 'refill.requested event');
  return { medicationRequestId: idOf(parsed.data.medicationRequest), eventId: parsed.data.id, form: 'event' };
}

function problem(path: string, message: string): AppError {
  return new AppError('INVALID_INPUT', `Invalid subscription notification at ${path}: ${message}`, {
    issues: [{ path, message }],
  });
}

/** Finds `notification-event.focus` in an R4 backport SubscriptionStatus (Parameters) or an R4B/R5 one. */
function findFocus(status: Record<string, unknown>): { reference: string; path: string } | null {
  if (status.resourceType === 'SubscriptionStatus') {
    const events = Array.isArray(status.notificationEvent) ? (status.notificationEvent as unknown[]) : [];
    for (const [i, ev] of events.entries()) {
      const ref = (ev as { focus?: { reference?: unknown } })?.focus?.reference;
      if (typeof ref === 'string') return { reference: ref, path: `$.entry[0].resource.notificationEvent[${i}].focus` };
    }
    return null;
  }
  const params = z.array(ParameterSchema).safeParse(status.parameter);
  if (!params.success) return null;
  for (const [i, p] of params.data.entries()) {
    if (p.name !== 'notification-event' || !Array.isArray(p.part)) continue;
    for (const [j, part] of (p.part as { name?: string; valueReference?: { reference?: unknown } }[]).entries()) {
      const ref = part.valueReference?.reference;
      if (part.name === 'focus' && typeof ref === 'string') {
        return { reference: ref, path: `$.entry[0].resource.parameter[${i}].part[${j}].valueReference.reference` };
      }
    }
  }
  return null;
}
