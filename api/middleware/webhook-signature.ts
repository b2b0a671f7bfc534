import { createHmac, timingSafeEqual } from 'node:crypto';
import { AppError } from '../../rules/index.ts';

/** How far a webhook's timestamp may be from our clock, either way, before it is treated as a replay. */
export const WEBHOOK_TOLERANCE_SECONDS = 300;

/** `v1=<hex HMAC-SHA256 of "{timestamp}.{raw body}">`, as the contract in ARCHITECTURE.md defines it. */
export function signWebhook(secret: string, timestamp: number | string, rawBody: string): string {
  return `v1=${createHmac('sha256', secret).update(`${timestamp}.${rawBody}`).digest('hex')}`;
}

/**
 * Verifies a webhook's signature and timestamp. `secrets` may hold several keys (the current secret and, during a
 * rotation's grace period, the previous one): a signature by any of them is accepted.
 *
 * @throws AppError `UNAUTHENTICATED` for a missing/bad signature or a timestamp outside the replay window.
 */
export function verifyWebhook(
  secrets: string | readonly string[],
  headers: { timestamp: string | undefined; signature: string | undefined },
  rawBody: string,
  nowSeconds: number,
): void {
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
  const expected = (typeof secrets === 'string' ? [secrets] : secrets).map((secret) =>
    Buffer.from(signWebhook(secret, timestamp, rawBody)),
  );
  const ok = candidates.some((c) => {
    const given = Buffer.from(c);
    return expected.some((e) => given.length === e.length && timingSafeEqual(given, e));
  });
  if (!ok) throw new AppError('UNAUTHENTICATED', 'Webhook signature does not match');
}
