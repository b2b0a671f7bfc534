import type { OpenAPIHono } from '@hono/zod-openapi';
import type { Handler } from 'hono';
import type { ApiEnv } from './env.ts';

/**
 * The last route of the app, for every method and path: what no declared route answered.
 *
 * - A path some route declares, with a method none declares (TRACE, PUT, DELETE…): 405 with `Allow`.
 * - OPTIONS on such a path: 204 with `Allow` (no CORS: the console is same-origin).
 * - Any other path: the app's 404.
 *
 * `Allow` is computed from the app's own routes, so it never drifts from what is served; where a concrete path and a
 * template both match, the concrete path's methods are listed (OpenAPI's matching rule). HEAD is listed wherever GET
 * is: Hono answers HEAD with the GET route, without a body. Middleware (method `ALL`) is not a
 * route, so authentication still runs first on protected paths: an unauthenticated TRACE gets 401 there.
 */
export function methodNotAllowed(app: OpenAPIHono<ApiEnv>): Handler<ApiEnv> {
  let routes: { pattern: RegExp; literals: number; method: string }[] | undefined;
  const build = () =>
    app.routes
      .filter((r) => r.method !== 'ALL')
      .map((r) => {
        const segments = r.path.split('/');
        const source = segments
          .map((s) => (s === '*' ? '.*' : s.startsWith(':') ? '[^/]+' : s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')))
          .join('/');
        return {
          pattern: new RegExp(`^${source}$`),
          literals: segments.filter((s) => s !== '*' && !s.startsWith(':')).length,
          method: r.method,
        };
      });
  return (c) => {
    routes ??= build(); // at the first request: every route is registered by then
    const matching = routes.filter((r) => r.pattern.test(c.req.path));
    if (matching.length === 0) return c.notFound();
    // As OpenAPI matches paths: a concrete path wins over a template (`/v1/protocols/validate` over `/{id}`).
    const literals = Math.max(...matching.map((r) => r.literals));
    const allowed = [...new Set(matching.filter((r) => r.literals === literals).map((r) => r.method))];
    if (allowed.includes(c.req.method === 'HEAD' ? 'GET' : c.req.method)) return c.notFound(); // routed elsewhere
    if (allowed.includes('GET')) allowed.push('HEAD');
    const allow = [...allowed, 'OPTIONS'].join(', ');
    if (c.req.method === 'OPTIONS') return c.body(null, 204, { Allow: allow });
    return c.json(
      {
        error: {
          code: 'METHOD_NOT_ALLOWED',
          message: `${c.req.method} is not allowed on this path; allowed: ${allow}`,
          requestId: c.get('requestId'),
        },
      },
      405,
      { Allow: allow },
    );
  };
}
