import { SpanKind, SpanStatusCode, context, trace } from '@opentelemetry/api';
import type { Context, MiddlewareHandler } from 'hono';
import { matchedRoutes } from 'hono/route';
import { httpDuration, httpRequests, idLabel, webhookDeliveries } from '../../connectors/telemetry/metrics.ts';
import { tracer, withRootTraceId } from '../../connectors/telemetry/tracing.ts';
import type { ApiEnv } from '../env.ts';

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'TRACE']);
/** The signed webhooks' routes (api/webhook-intake.ts) all live under this prefix. */
const WEBHOOKS = '/v1/webhooks/';

/**
 * The route TEMPLATE that served the request (`/v1/cases/:caseId`), never the raw path: the first matched route that
 * is a handler of a method (edge middleware is `ALL`), or `unmatched` (a 404 or a 405 on no declared route). Keeps the
 * metric labels few and the ids in paths out of them.
 */
export function routeTemplate(c: Context): string {
  for (const route of matchedRoutes(c)) if (route.method !== 'ALL') return route.path;
  return 'unmatched';
}

/** A method from the HTTP vocabulary, else `other` (a client may send any token as a method). */
export function methodLabel(method: string): string {
  return METHODS.has(method) ? method : 'other';
}

function record(c: Context<ApiEnv>, started: number): { route: string; method: string } {
  const route = routeTemplate(c);
  const method = methodLabel(c.req.method);
  const status = String(c.res.status);
  httpRequests.inc({ method, route, status });
  httpDuration.observe({ method, route }, (performance.now() - started) / 1000);
  if (route.startsWith(WEBHOOKS)) {
    // The clinic only once the API knows it exists (api/webhook-intake.ts): a path's clinic id is anyone's to invent.
    const clinic = (c.var as { webhookClinicId?: string }).webhookClinicId;
    webhookDeliveries.inc({ webhook: route, clinic: clinic === undefined ? 'unverified' : idLabel(clinic), status });
  }
  return { route, method };
}

/**
 * Counts and times every request by route template and status, and, when tracing is on, wraps it in a server span
 * whose trace id is the request id (X-Request-Id without its dashes), so the trace of a request is found by the id
 * its caller got back. Mounted right after assignRequestId, before everything else.
 */
export function observeRequests(): MiddlewareHandler<ApiEnv> {
  return async (c, next) => {
    const started = performance.now();
    const t = tracer();
    if (!t) {
      await next();
      record(c, started);
      return;
    }
    const span = withRootTraceId(c.get('requestId').replaceAll('-', ''), (root) =>
      t.startSpan(c.req.method, { kind: SpanKind.SERVER, root: true }, root),
    );
    try {
      await context.with(trace.setSpan(context.active(), span), next);
    } finally {
      const { route, method } = record(c, started);
      span.updateName(`${method} ${route}`);
      span.setAttributes({
        'http.request.method': method,
        'http.route': route,
        'http.response.status_code': c.res.status,
      });
      if (c.res.status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
    }
  };
}
