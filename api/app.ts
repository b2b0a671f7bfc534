import { OpenAPIHono } from '@hono/zod-openapi';
import { swaggerUI } from '@hono/swagger-ui';
import { requestId } from 'hono/request-id';
import { handleError } from './errors.ts';
import { methodNotAllowed } from './method-not-allowed.ts';
import type { ApiDeps } from './deps.ts';
import type { ApiEnv } from './env.ts';
import { caseRoutes } from './routes/cases.ts';
import { clinicRoutes } from './routes/clinics.ts';
import { consoleRoutes } from './routes/console.ts';
import { healthRoutes } from './routes/health.ts';
import { meRoutes } from './routes/me.ts';
import { protocolRoutes } from './routes/protocols.ts';
import { webhookRoutes } from './routes/webhooks.ts';

/**
 * The HTTP API: webhooks, cases, queues, decisions, health, the OpenAPI document and the console. Stateless: every
 * replica can serve every request. Never listens itself (tests call `app.request`).
 */
export function createApp(deps: ApiDeps): OpenAPIHono<ApiEnv> {
  const app = new OpenAPIHono<ApiEnv>();
  app.use(
    requestId({
      // Accept the caller's id only if it is short and harmless; it travels into FHIR calls and audit rows.
      generator: () => crypto.randomUUID(),
      limitLength: 128,
    }),
  );
  app.use(async (c, next) => {
    const logger = deps.logger.child({ requestId: c.get('requestId') });
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
  app.onError(handleError);
  app.notFound((c) =>
    c.json({ error: { code: 'NOT_FOUND', message: 'No such route', requestId: c.get('requestId') } }, 404),
  );

  app.openAPIRegistry.registerComponent('securitySchemes', 'bearer', { type: 'http', scheme: 'bearer' });
  app.route('/', healthRoutes(deps));
  app.route('/', webhookRoutes(deps));
  app.route('/', caseRoutes(deps));
  app.route('/', meRoutes(deps));
  app.route('/', protocolRoutes(deps));
  app.route('/', clinicRoutes(deps));
  app.doc31('/openapi.json', {
    openapi: '3.1.0',
    info: {
      title: 'ehr-autopilot API',
      version: '1',
      description:
        'Refill triage for EHRs: signed webhooks start cases; clinicians work the signature, nurse and doctor queues.',
    },
  });
  app.get('/docs', swaggerUI({ url: '/openapi.json' }));
  app.route('/', consoleRoutes());
  app.all('*', methodNotAllowed(app)); // last: 405 + Allow for undeclared methods on known paths, else 404
  return app;
}
