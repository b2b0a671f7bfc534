import type { MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { AppError } from '../../rules/index.ts';
import type { ApiEnv } from '../env.ts';

/** Request bodies larger than this are refused on any route without a tighter limit below. */
export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;

/** A clinic's full value-set expansion (`PUT /v1/clinics/{clinicId}/value-sets/{valueSetId}`): ~50,000 codes of VSAC JSON. */
export const MAX_VALUE_SET_BODY_BYTES = 8 * 1024 * 1024;

/** Tighter and looser limits, first match wins. */
export const BODY_LIMITS: readonly { path: RegExp; maxBytes: number }[] = [
  // A refill notification is a few KB; even a full-resource one with its MedicationRequest stays far below this.
  { path: /^\/v1\/webhooks\//, maxBytes: 64 * 1024 },
  // { action, note (≤ 2000 characters, ≤ 8000 bytes of UTF-8), decisionId }.
  { path: /^\/v1\/cases\/[^/]+\/decision$/, maxBytes: 16 * 1024 },
  // A clinic's full value-set expansion (FHIR ValueSet JSON, e.g. a VSAC export of tens of thousands of codes).
  { path: /^\/v1\/clinics\/[^/]+\/value-sets\/[^/]+$/, maxBytes: MAX_VALUE_SET_BODY_BYTES },
  { path: /^\/v1\/clinics(\/|$)/, maxBytes: 64 * 1024 },
];

const limited = (maxBytes: number) =>
  bodyLimit({
    maxSize: maxBytes,
    onError: () => {
      throw new AppError('PAYLOAD_TOO_LARGE', `Request body larger than ${maxBytes} bytes`);
    },
  });

/**
 * One body limit per request, chosen by path, before any handler reads the body: a Content-Length above the limit
 * is refused without reading a byte; a body without one (chunked) is counted as it streams and refused as soon as
 * it passes the limit, so at most `maxBytes` are ever buffered. 413 in the error envelope.
 */
export function limitBodies(): MiddlewareHandler<ApiEnv> {
  const fallback = limited(DEFAULT_MAX_BODY_BYTES);
  const rules = BODY_LIMITS.map((r) => ({ path: r.path, check: limited(r.maxBytes) }));
  return (c, next) => (rules.find((r) => r.path.test(c.req.path))?.check ?? fallback)(c, next);
}
