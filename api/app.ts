import { OpenAPIHono } from '@hono/zod-openapi';
import { handleError } from './errors.ts';
import { KIND_APIS } from './kinds/index.ts';
import { methodNotAllowed } from './method-not-allowed.ts';
import type { ApiDeps } from './deps.ts';
import type { ApiEnv } from './env.ts';
import { limitBodies } from './middleware/body-limit.ts';
import { ipRateLimit } from './middleware/rate-limit.ts';
import { assignRequestId } from './middleware/request-id.ts';
import { noStore, securityHeaders } from './middleware/security-headers.ts';
import { observeRequests } from './middleware/telemetry.ts';
import { accessRoutes } from './routes/access.ts';
import { analyticsRoutes } from './routes/analytics.ts';
import { caseActionRoutes } from './routes/case-actions.ts';
import { cdsHookRoutes } from './routes/cds-hooks.ts';
import { caseRoutes } from './routes/cases.ts';
import { clinicRoutes } from './routes/clinics.ts';
import { consoleRoutes } from './routes/console.ts';
import { docsRoutes } from './routes/docs.ts';
import { eventRoutes } from './routes/events.ts';
import { healthRoutes } from './routes/health.ts';
import { kindRoutes } from './routes/kinds.ts';
import { lifecycleRoutes } from './routes/lifecycle.ts';
import { meRoutes } from './routes/me.ts';
import { metricsRoutes } from './routes/metrics.ts';
import { protocolRoutes } from './routes/protocols.ts';
import { signingPolicyRoutes } from './routes/signing-policy.ts';
import { sweepRoutes } from './routes/sweeps.ts';
import { tokenRoutes } from './routes/tokens.ts';
import { valueSetRoutes } from './routes/value-sets.ts';
import { cdsClientRoutes } from './routes/cds-clients.ts';
import { smartAdminRoutes } from './routes/smart-admin.ts';
import { smartRoutes } from './routes/smart.ts';

/**
 * The HTTP API: webhooks, cases, queues, decisions, health, the OpenAPI document and the console. Stateless: every
 * replica can serve every request. Never listens itself (tests call `app.request`).
 */
export function createApp(deps: ApiDeps): OpenAPIHono<ApiEnv> {
  const app = new OpenAPIHono<ApiEnv>();
  // Order matters: the edge middleware wraps everything below it, error responses and 404s included.
  app.use(assignRequestId());
  app.use(observeRequests()); // metrics per route template, and the request's span when tracing is on
  app.use(securityHeaders());
  app.use(noStore());
  app.use(async (c, next) => {
    const callerRequestId = c.get('callerRequestId');
    const logger = deps.logger.child({
      requestId: c.get('requestId'),
      ...(callerRequestId ? { callerRequestId } : {}),
    });
    c.set('logger', logger);
    const started = performance.now();
    await next();
    // Method, route and status only: paths carry case ids, never PHI; bodies are never logged.
    logger.info(
      {
        method: c.req.method,
        route: c.req.routePath,
        status: c.res.status,
        ms: Math.round(performance.now() - started),
      },
      'request',
    );
  });
  // Refuse floods, then oversized bodies, before any route authenticates, reads a body or touches the database.
  app.use(ipRateLimit(deps));
  app.use(limitBodies());
  app.onError(handleError);
  app.notFound((c) =>
    c.json({ error: { code: 'NOT_FOUND', message: 'No such route', requestId: c.get('requestId') } }, 404),
  );

  app.openAPIRegistry.registerComponent('securitySchemes', 'bearer', { type: 'http', scheme: 'bearer' });
  app.route('/', healthRoutes(deps));
  app.route('/', metricsRoutes(deps));
  // Each kind's own triggers (its webhooks), as the API's kind registry lists them.
  for (const kind of KIND_APIS) if (kind.routes) app.route('/', kind.routes(deps));
  app.route('/', eventRoutes(deps));
  app.route('/', caseRoutes(deps));
  app.route('/', caseActionRoutes(deps));
  app.route('/', meRoutes(deps));
  app.route('/', lifecycleRoutes(deps));
  app.route('/', kindRoutes(deps));
  app.route('/', protocolRoutes(deps));
  app.route('/', clinicRoutes(deps));
  app.route('/', signingPolicyRoutes(deps));
  app.route('/', sweepRoutes(deps));
  app.route('/', tokenRoutes(deps));
  app.route('/', valueSetRoutes(deps));
  app.route('/', cdsClientRoutes(deps));
  app.route('/', smartAdminRoutes(deps));
  app.route('/', smartRoutes(deps)); // SMART App Launch: pages and redirects for the browser
  app.route('/', analyticsRoutes(deps));
  app.route('/', accessRoutes(deps));
  app.route('/', cdsHookRoutes(deps));
  app.doc31('/openapi.json', {
    openapi: '3.1.0',
    info: {
      title: 'ehr-autopilot API',
      version: '1',
      description:
        'A workflow-automation rules engine for EHRs: signed webhooks start cases of each protocol kind (GET ' +
        '/v1/kinds); clinicians work the queues.',
    },
  });
  app.route('/', docsRoutes());
  app.route('/', consoleRoutes());
  app.all('*', methodNotAllowed(app)); // last: 405 + Allow for undeclared methods on known paths, else 404
  return app;
}
