import { OpenAPIHono } from '@hono/zod-openapi';
import type { Context, ErrorHandler } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { ZodError } from 'zod';
import { AppError, jsonPath, type ErrorCode } from '../rules/index.ts';
import type { ApiEnv } from './env.ts';

const STATUS = {
  INVALID_INPUT: 400,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  CONFLICT: 409,
  PAYLOAD_TOO_LARGE: 413,
  RATE_LIMITED: 429,
  PROTOCOL_INVALID: 422,
  REVIEW_REJECTED: 409,
  EHR_NOT_FOUND: 502,
  EHR_REJECTED: 502,
  EHR_UNAVAILABLE: 503,
  TEMPORAL_UNAVAILABLE: 503,
  CONFIG_INVALID: 500,
} as const satisfies Record<ErrorCode, ContentfulStatusCode>; // a code without a status is a compile error

/** Turns a zod error into INVALID_INPUT with the JSON path of every problem (`$.entry[0].resource.id`). */
export function invalidInput(error: ZodError, what: string): AppError {
  const issues = error.issues.map((i) => ({ path: jsonPath(i.path), message: i.message }));
  const first = issues[0];
  return new AppError(
    'INVALID_INPUT',
    first ? `Invalid ${what} at ${first.path}: ${first.message}` : `Invalid ${what}`,
    {
      issues,
    },
  );
}

/** The one error envelope: `{ error: { code, message, requestId, issues? } }`. */
export function errorBody(c: Context<ApiEnv>, err: AppError): Response {
  const headers: Record<string, string> = {};
  if (err.code === 'TEMPORAL_UNAVAILABLE' || err.code === 'EHR_UNAVAILABLE') headers['Retry-After'] = '5';
  if (err.code === 'RATE_LIMITED') headers['Retry-After'] = String(err.context.retryAfterSeconds ?? 1);
  return c.json(
    {
      error: {
        code: err.code,
        message: err.message,
        requestId: c.get('requestId'),
        ...(err.issues.length ? { issues: err.issues } : {}),
      },
    },
    STATUS[err.code],
    headers,
  );
}

export const handleError: ErrorHandler<ApiEnv> = (err, c) => {
  if (err instanceof AppError) return errorBody(c, err);
  if (err instanceof HTTPException) {
    return c.json(
      { error: { code: `HTTP_${err.status}`, message: err.message, requestId: c.get('requestId') } },
      err.status,
    );
  }
  // Unexpected: log the request id and the error class, tell the caller nothing specific.
  c.get('logger').error({ err, requestId: c.get('requestId') }, 'unhandled error');
  return c.json({ error: { code: 'INTERNAL', message: 'Internal error', requestId: c.get('requestId') } }, 500);
};

/** A router whose request validation failures become INVALID_INPUT (400) with the JSON path of every problem. */
export function openApiRouter(): OpenAPIHono<ApiEnv> {
  return new OpenAPIHono<ApiEnv>({
    defaultHook: (result) => {
      if (!result.success) throw invalidInput(result.error, 'request');
    },
  });
}
