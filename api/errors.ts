import { OpenAPIHono, z } from '@hono/zod-openapi';
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
  UNPROCESSABLE: 422,
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

/** The error envelope every 4xx/5xx carries (`errorBody`, `handleError`, the not-found and 405 handlers). */
export const ErrorSchema = z
  .object({
    error: z.object({
      code: z.string(),
      message: z.string(),
      requestId: z.string(),
      issues: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
    }),
  })
  .openapi('Error');

const RETRY_AFTER = {
  'Retry-After': { description: 'Seconds to wait before retrying', schema: { type: 'integer' as const, minimum: 0 } },
};

const ERROR_DESCRIPTIONS = {
  400: 'INVALID_INPUT: the request breaks the schema; `issues` carry the JSON path of every problem',
  401: 'UNAUTHENTICATED: missing, malformed, unknown or revoked credentials',
  403: 'FORBIDDEN: the role (or the clinic the token is bound to) does not allow this',
  404: 'NOT_FOUND: no such resource (or not visible to this token)',
  409: 'CONFLICT: the resource is not in a state that allows this',
  413: 'The request body is larger than this route accepts',
  422: 'PROTOCOL_INVALID or UNPROCESSABLE: well-formed, but not usable (an invalid protocol document, a reference to something that does not exist); `issues` carry the JSON paths',
  429: 'Too many requests: retry after `Retry-After` seconds',
  502: 'EHR_REJECTED or EHR_NOT_FOUND: the EHR refused a read or answered something unusable',
  503: 'A dependency (Temporal, the EHR) does not answer: retry after `Retry-After` seconds',
} as const;
export type ErrorStatus = keyof typeof ERROR_DESCRIPTIONS;

type ErrorResponse = { description: string; content: { 'application/json': { schema: typeof ErrorSchema } } };

/** One error status of a route, with a route-specific description. */
export function errorResponse(status: ErrorStatus, description: string = ERROR_DESCRIPTIONS[status]): ErrorResponse {
  return {
    description,
    content: { 'application/json': { schema: ErrorSchema } },
    ...(status === 429 || status === 503 ? { headers: RETRY_AFTER } : {}),
  };
}

/**
 * The `responses` entries of a route's error statuses, each with the error envelope (and `Retry-After` for 429 and
 * 503). Every route also gets 413 (body over the limit) and 429 (rate limited): the edge applies both to all routes.
 */
export function errorResponses<S extends ErrorStatus>(...statuses: S[]): Record<S | 413 | 429, ErrorResponse> {
  const out = {} as Record<S | 413 | 429, ErrorResponse>;
  for (const status of [...statuses, 413, 429] as (S | 413 | 429)[]) out[status] = errorResponse(status);
  return out;
}
