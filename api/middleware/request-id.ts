import { randomUUID } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import type { ApiEnv } from '../env.ts';

/** What a caller's X-Request-Id may look like to be kept at all: short, no spaces, no markup, no separators. */
export const CALLER_REQUEST_ID = /^[A-Za-z0-9._:-]{1,64}$/;

/**
 * Every request gets the server's own id (a UUID), whatever the caller sends: it is what reaches audit rows,
 * deliveries, workflow inputs, logs and error bodies, and what X-Request-Id answers with, so a caller can neither
 * forge nor collide with another request's trail. A caller's own X-Request-Id is kept beside it (`callerRequestId`:
 * in the request log line and in the audit rows of reads) only when it matches CALLER_REQUEST_ID; otherwise dropped.
 */
export function assignRequestId(): MiddlewareHandler<ApiEnv> {
  return async (c, next) => {
    const own = randomUUID();
    const given = c.req.header('x-request-id');
    c.set('requestId', own);
    c.set('callerRequestId', given !== undefined && CALLER_REQUEST_ID.test(given) ? given : undefined);
    c.header('X-Request-Id', own);
    await next();
  };
}

/** `{ callerRequestId }` for an audit row's detail when the caller sent a well-formed id; `{}` otherwise. */
export function callerRequestIdOf(c: { get(key: 'callerRequestId'): string | undefined }): {
  callerRequestId?: string;
} {
  const id = c.get('callerRequestId');
  return id === undefined ? {} : { callerRequestId: id };
}
