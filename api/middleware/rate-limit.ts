import type { Context, Env, MiddlewareHandler } from 'hono';
import { rateLimiter, type RateLimitInfo } from 'hono-rate-limiter';
import ipaddr from 'ipaddr.js';
import { DbRateLimitStore } from '../../connectors/db/index.ts';
import { AppError } from '../../rules/index.ts';
import type { ApiDeps } from '../deps.ts';
import { errorBody } from '../errors.ts';
import type { ApiEnv } from '../env.ts';

/** The peer's address as @hono/node-server gives it (absent for in-process `app.request`). */
function socketAddress(c: Context): string | undefined {
  const env = c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined;
  return env?.incoming?.socket?.remoteAddress;
}

/**
 * The client's address for rate limiting. With `trustedHops` = 0 the socket's peer; behind `trustedHops` reverse
 * proxies, the X-Forwarded-For entry the outermost trusted proxy appended (entries to its left are the client's
 * own claims and are ignored). IPv4-mapped IPv6 becomes IPv4; an IPv6 client is keyed by its /64, the block one
 * subscriber usually holds. `unknown` when there is no address (in-process requests).
 */
export function clientKey(c: Context, trustedHops: number): string {
  let address = socketAddress(c);
  if (trustedHops > 0) {
    const forwarded = (c.req.header('x-forwarded-for') ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '');
    const claimed = forwarded[Math.max(0, forwarded.length - trustedHops)];
    if (claimed !== undefined && ipaddr.isValid(claimed)) address = claimed;
  }
  if (address === undefined || !ipaddr.isValid(address)) return 'unknown';
  const ip = ipaddr.process(address);
  if (ip.kind() === 'ipv4') return ip.toString();
  const v6 = ip as ipaddr.IPv6;
  return `${new ipaddr.IPv6([...v6.parts.slice(0, 4), 0, 0, 0, 0]).toString()}/64`;
}

/** 429 in the error envelope, with Retry-After (seconds to the end of the window). */
function tooMany(c: Context<ApiEnv>): Response {
  const info = (c as unknown as Context<{ Variables: { rateLimit: RateLimitInfo } }>).get('rateLimit');
  const seconds = info.resetTime ? Math.max(1, Math.ceil((info.resetTime.getTime() - Date.now()) / 1000)) : 1;
  return errorBody(
    c,
    new AppError('RATE_LIMITED', `Too many requests; retry in ${seconds} s`, {
      context: { retryAfterSeconds: seconds },
    }),
  );
}

function limiter<E extends Env>(
  deps: ApiDeps,
  name: string,
  limit: number,
  keyGenerator: (c: Context<E>) => string,
  skip: (c: Context<E>) => boolean = () => false,
): MiddlewareHandler<E> {
  const log = deps.logger.child({ limiter: name });
  return rateLimiter<E>({
    windowMs: deps.config.RATE_LIMIT_WINDOW_SECONDS * 1000,
    limit,
    keyGenerator,
    skip: (c) => limit === 0 || skip(c),
    standardHeaders: 'draft-6',
    store: new DbRateLimitStore<E>(deps.db, {
      prefix: name,
      onError: (err) =>
        log.warn(
          { err: { message: err instanceof Error ? err.message : 'unknown' } },
          'rate limit store failed; request let through',
        ),
    }),
    handler: (c) => tooMany(c as unknown as Context<ApiEnv>),
  });
}

/**
 * Per client IP, every route but /health (an orchestrator's probe must see the database down, not a 429). Counted
 * before anything else, unauthenticated requests included, in the app database so the limit holds across replicas.
 */
export function ipRateLimit(deps: ApiDeps): MiddlewareHandler<ApiEnv> {
  return limiter<ApiEnv>(
    deps,
    'ip',
    deps.config.RATE_LIMIT_PER_IP,
    (c) => clientKey(c, deps.config.TRUST_PROXY),
    (c) => c.req.path === '/health',
  );
}

/**
 * Per clinic, for signed webhooks, placed after the signature check: only the clinic's own EHR can spend its
 * allowance (an unsigned flood cannot lock a clinic out), and unknown clinic ids never create counters.
 */
export function clinicRateLimit<E extends Env>(
  deps: ApiDeps,
  clinicOf: (c: Context<E>) => string,
): MiddlewareHandler<E> {
  return limiter<E>(deps, 'webhook-clinic', deps.config.RATE_LIMIT_WEBHOOKS_PER_CLINIC, clinicOf);
}
