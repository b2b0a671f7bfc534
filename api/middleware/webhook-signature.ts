import { createHmac, timingSafeEqual } from 'node:crypto';
import { AppError } from '../../rules/index.ts';

/** How far a webhook's timestamp may be from our clock, either way, before it is treated as a replay. */
export const WEBHOOK_TOLERANCE_SECONDS = 300;

/** `v1=<hex HMAC-SHA256 of "{timestamp}.{raw body}">`, as the contract in ARCHITECTURE.md defines it. */
export function signWebhook(secret: string, timestamp: number | string, rawBody: string): string {
  return `v1=${createHmac('sha256', secret).update(`${timestamp}.${rawBody}`).digest('hex')}`;
}

/** The headers an EHR sends with a webhook body (JSON), signed now: what a client of the contract needs. */
export function signedWebhookHeaders(secret: string, rawBody: string, nowMs = Date.now()): Record<string, string> {
  const ts = Math.floor(nowMs / 1000);
  return {
    'content-type': 'application/json',
    'x-autopilot-timestamp': String(ts),
    'x-autopilot-signature': signWebhook(secret, ts, rawBody),
  };
}

/** The signature headers, checked for shape and the replay window; the signatures still to be compared. */
export interface WebhookHeaders {
  timestamp: string;
  candidates: string[];
}

/**
 * Checks what can be checked without the body or the clinic: the timestamp's shape and replay window, and that a
 * `v1=` signature is there. Run first, so a request that cannot be valid is refused before its body is read.
 *
 * @throws AppError `UNAUTHENTICATED` for a missing/malformed timestamp or signature, or a stale timestamp.
 */
export function checkWebhookHeaders(
  headers: { timestamp: string | undefined; signature: string | undefined },
  nowSeconds: number,
): WebhookHeaders {
  const { timestamp, signature } = headers;
  if (!timestamp || !/^\d{1,12}$/.test(timestamp)) {
    throw new AppError('UNAUTHENTICATED', 'Missing or malformed X-Autopilot-Timestamp header');
  }
  if (Math.abs(nowSeconds - Number(timestamp)) > WEBHOOK_TOLERANCE_SECONDS) {
    throw new AppError('UNAUTHENTICATED', `Webhook timestamp outside the ${WEBHOOK_TOLERANCE_SECONDS}s replay window`);
  }
  // A header may carry several signatures during secret rotation: "v1=…,v1=…".
  const candidates = (signature ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.startsWith('v1='));
  if (candidates.length === 0) throw new AppError('UNAUTHENTICATED', 'Missing X-Autopilot-Signature header');
  return { timestamp, candidates };
}

/** The error every signature mismatch gets; an unknown clinic gets exactly this one too. */
export const signatureMismatch = (): AppError => new AppError('UNAUTHENTICATED', 'Webhook signature does not match');

/**
 * Compares the signatures against the HMAC of the raw body under each secret, in constant time. `secrets` may hold
 * several keys (the current secret and, during a rotation's grace period, the previous one).
 *
 * @throws AppError `UNAUTHENTICATED` (signatureMismatch) when none matches.
 */
export function checkWebhookSignature(
  secrets: string | readonly string[],
  { timestamp, candidates }: WebhookHeaders,
  rawBody: string,
): void {
  const expected = (typeof secrets === 'string' ? [secrets] : secrets).map((secret) =>
    Buffer.from(signWebhook(secret, timestamp, rawBody)),
  );
  const ok = candidates.some((c) => {
    const given = Buffer.from(c);
    return expected.some((e) => given.length === e.length && timingSafeEqual(given, e));
  });
  if (!ok) throw signatureMismatch();
}
