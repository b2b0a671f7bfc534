import { randomBytes } from 'node:crypto';
import { OpenAPIHono, z, type RouteConfig } from '@hono/zod-openapi';
import type { Context, MiddlewareHandler } from 'hono';
import { createMiddleware } from 'hono/factory';
import type { Clinic } from '../connectors/db/index.ts';
import type { TopicReference } from '../workflows/subscription-catch-up.ts';
import type { ApiDeps } from './deps.ts';
import type { ApiEnv } from './env.ts';
import { errorResponse, errorResponses } from './errors.ts';
import { clinicRateLimit } from './middleware/rate-limit.ts';
import { checkWebhookHeaders, checkWebhookSignature, signatureMismatch } from './middleware/webhook-signature.ts';
import { focusedEvents, parseWebhookJson, type NotificationStatus } from './notification-body.ts';
import { SubscriptionAckSchema, trackNotification } from './subscription-tracking.ts';

// Every signed webhook of this API (a kind's own, api/kinds/<k>/, and the engine's events webhook) runs the same
// pipeline: signature → the clinic's rate limit → the durable delivery record (the dedupe key) → the webhook's own
// start. `signedWebhookRoutes` is that pipeline, written once.

// Checked instead of a secret when the clinic does not exist, so that an unknown clinic costs the same HMAC and
// fails with the same 401 as a bad signature: clinic ids cannot be enumerated. Random per process: nobody can sign
// with it.
const DECOY_SECRET = randomBytes(32).toString('hex');

/** The headers every signed webhook's route declares (checked by api/middleware/webhook-signature.ts). */
export const SignedWebhookHeaders = z.object({
  'x-autopilot-timestamp': z.string().openapi({ description: 'Unix seconds', example: '1767225600' }),
  'x-autopilot-signature': z.string().openapi({ description: 'v1=<hex HMAC-SHA256>[,v1=…]' }),
});

/** The failures every signed webhook's route declares beside its own 202: what the pipeline below answers. */
export const signedWebhookErrors = {
  ...errorResponses(400, 401, 503),
  400: errorResponse(400, 'Malformed body (issues carry the JSON path)'),
  401: errorResponse(
    401,
    'Missing or bad signature, a timestamp outside the replay window, or an unknown clinic (answered exactly alike)',
  ),
  503: errorResponse(503, 'Temporal unreachable: retry after Retry-After seconds'),
};

export type SignedEnv = {
  /** `webhookClinicId`: the path's clinic once it is known to exist (the metrics' clinic label, api/middleware/telemetry.ts). */
  Variables: ApiEnv['Variables'] & { clinic: Clinic; rawBody: string; webhookClinicId: string };
};

/**
 * Authenticates a webhook before anything is parsed or stored: the headers' shape and replay window first (no body
 * read), then the body (at most 64 KB, api/middleware/body-limit.ts), then the HMAC under the clinic's secret(s).
 * An unknown clinic is answered exactly like a bad signature (401, same body).
 */
function signedWebhook({ store, now }: ApiDeps): MiddlewareHandler<SignedEnv> {
  return createMiddleware<SignedEnv>(async (c, next) => {
    const at = now();
    const headers = checkWebhookHeaders(
      { timestamp: c.req.header('x-autopilot-timestamp'), signature: c.req.header('x-autopilot-signature') },
      Math.floor(at.getTime() / 1000),
    );
    const raw = await c.req.text();
    const clinic = await store.clinics.get(c.req.param('clinicId') ?? '');
    if (clinic) c.set('webhookClinicId', clinic.id);
    if (!clinic) {
      checkWebhookSignature(DECOY_SECRET, headers, raw);
      throw signatureMismatch();
    }
    // After a rotation the previous secret keeps working until its grace period ends, then only the new one does.
    const secrets = [clinic.webhookSecret];
    const { previousWebhookSecret: previous, previousWebhookSecretExpiresAt: until } = clinic;
    if (previous !== null && until !== null && Date.parse(until) > at.getTime()) secrets.push(previous);
    checkWebhookSignature(secrets, headers, raw);
    c.set('clinic', clinic);
    c.set('rawBody', raw);
    await next();
  });
}

/** One delivery after the pipeline: who sent it, what it says, and whether it is the first of its key. */
export interface WebhookDelivery<Body> {
  clinic: Clinic;
  body: Body;
  requestId: string;
  receivedAt: string;
  /** `created`: the first delivery of this key; else `caseId` is what the first one recorded. */
  delivery: { created: boolean; caseId: string };
}

/** A Subscription notification with no event focus to start (handshake, heartbeat, query-status, `empty`). */
export interface StatusOnly {
  statusOnly: NotificationStatus;
}

const isStatusOnly = (body: unknown): body is StatusOnly =>
  typeof body === 'object' && body !== null && 'statusOnly' in body;

/** The answer to a notification that starts no case of its own (declared by every webhook that takes them). */
export const subscriptionAckResponse = {
  200: {
    description:
      'A handshake, heartbeat, query-status or `empty` notification: tracked (a gap in the event numbers starts a ' +
      'catch-up), no case of its own',
    content: { 'application/json': { schema: SubscriptionAckSchema } },
  },
};

/** What one signed webhook declares: its route, how it reads the body, its dedupe key and what it starts. */
export interface SignedWebhook<Body> {
  /** Its OpenAPI declaration (`POST`, a path with `{clinicId}`), registered as is. */
  route: RouteConfig;
  /**
   * Reads the signed body, already parsed as JSON.
   *
   * @throws AppError `INVALID_INPUT` with the JSON path of the problem.
   */
  parse(body: unknown): Body | StatusOnly;
  /**
   * A webhook that takes FHIR Subscription notifications: its topic key (activities/kinds/index.ts
   * `SUBSCRIPTION_TOPICS`), whether that topic has a catch-up (false: a gap is audited and answered, not caught up),
   * and the SubscriptionStatus of a body (null for another body form).
   */
  subscription?: {
    topic: string;
    catchUp: boolean;
    statusOf(body: Body): NotificationStatus | null;
    /**
     * A batched notification's further events, as the catch-up starts them (default: their focus references; a topic
     * whose events have ids of their own gives each its event id).
     */
    further?(body: Body): TopicReference[];
  };
  /** The dedupe key within the clinic (`ehrRequestId`) and the id the delivery records (a case or an intake). */
  deliveryKey(clinicId: string, body: Body): { ehrRequestId: string; caseId: string };
  /**
   * After the delivery is recorded: writes what a first delivery writes and starts the workflow (idempotently, so a
   * retry after a 503 starts what did not start), then answers.
   */
  start(c: Context<SignedEnv>, delivery: WebhookDelivery<Body>): Promise<Response>;
}

/**
 * A signed webhook's routes. Order matters for faults: the signature and the clinic's rate limit before the body is
 * parsed; the delivery recorded in the app database (the durable dedupe key) before anything else is written or
 * started; the answer only after `start` succeeded.
 */
export function signedWebhookRoutes<Body>(deps: ApiDeps, webhook: SignedWebhook<Body>): OpenAPIHono<ApiEnv> {
  const { store, now } = deps;
  const app = new OpenAPIHono<ApiEnv>();
  app.openAPIRegistry.registerPath(webhook.route);
  const signed = signedWebhook(deps);
  // After the signature: only the clinic's own EHR spends the clinic's allowance.
  const perClinic = clinicRateLimit<SignedEnv>(deps, (c) => c.get('clinic').id);
  const path = webhook.route.path.replace(/\{(\w+)\}/g, ':$1');
  app.post(path, signed, perClinic, async (c) => {
    const clinic = c.get('clinic');
    const body = webhook.parse(parseWebhookJson(c.get('rawBody')));
    const requestId = c.get('requestId');
    const receivedAt = now().toISOString();
    // A notification is tracked first (its catch-up started before its number is recorded, api/subscription-tracking.ts).
    const sub = webhook.subscription;
    if (isStatusOnly(body)) {
      if (!sub) throw new Error('unreachable: only a webhook that takes notifications parses a status-only body');
      const { topic, catchUp } = sub;
      const track = { clinic, topic, catchUp, status: body.statusOnly, references: [], requestId, receivedAt };
      return c.json(await trackNotification(deps, track), 200);
    }
    const status = sub?.statusOf(body) ?? null;
    if (sub && status) {
      // The first focused event goes through this webhook's path below; a batched notification's further ones through
      // the catch-up's (the same dedupe keys).
      const references = !sub.catchUp
        ? []
        : sub.further
          ? sub.further(body)
          : focusedEvents(status)
              .slice(1)
              .map((e) => e.focus);
      const { topic, catchUp } = sub;
      await trackNotification(deps, { clinic, topic, catchUp, status, references, requestId, receivedAt });
    }
    const key = webhook.deliveryKey(clinic.id, body);
    const delivery = await store.deliveries.recordDelivery({ clinicId: clinic.id, ...key, requestId, receivedAt });
    return webhook.start(c, { clinic, body, requestId, receivedAt, delivery });
  });
  return app;
}
