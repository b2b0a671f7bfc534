import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { METRICS_CONTENT_TYPE, bearerMatches, metricsText } from '../../connectors/telemetry/metrics.ts';
import { queueGaugeRefresher } from '../../connectors/telemetry/queue-gauges.ts';
import { AppError } from '../../rules/index.ts';
import type { ApiDeps } from '../deps.ts';
import type { ApiEnv } from '../env.ts';
import { errorResponses } from '../errors.ts';

/**
 * GET /metrics: this API process's Prometheus metrics (requests, webhooks, FHIR calls of the API's own identity reads,
 * codec failures, process and Node.js metrics) and the queue gauges read from the app database. With METRICS_TOKEN
 * set it requires `Authorization: Bearer <METRICS_TOKEN>`, and the document says so.
 */
export function metricsRoutes({ config, db, now }: ApiDeps): OpenAPIHono<ApiEnv> {
  const token = config.METRICS_TOKEN;
  const route = createRoute({
    method: 'get',
    path: '/metrics',
    summary: 'Prometheus metrics of this API process and the queues (text exposition format)',
    description:
      'Label values are ids and codes only (clinic id, kind, queue, disposition, route template, status, FHIR ' +
      'interaction). ' +
      (token
        ? 'Requires `Authorization: Bearer <METRICS_TOKEN>` (not an API token).'
        : 'Open: METRICS_TOKEN is not set on this deployment.'),
    ...(token ? { security: [{ bearer: [] }] } : {}),
    responses: {
      200: {
        description: 'The metrics, Prometheus text format 0.0.4',
        content: { 'text/plain': { schema: z.string() } },
      },
      ...(token ? errorResponses(401) : errorResponses()),
    },
  });
  const refreshQueues = queueGaugeRefresher(db, now);
  return new OpenAPIHono<ApiEnv>().openapi(route, async (c) => {
    if (token && !bearerMatches(c.req.header('authorization'), token)) {
      throw new AppError('UNAUTHENTICATED', 'GET /metrics needs Authorization: Bearer <METRICS_TOKEN>');
    }
    // A database that does not answer must not cost the scrape: the other metrics still say what the process does.
    await refreshQueues().catch((err: unknown) =>
      c.get('logger').warn({ err: { name: (err as Error).name } }, 'queue gauges not refreshed'),
    );
    return c.text(await metricsText(), 200, { 'content-type': METRICS_CONTENT_TYPE });
  });
}
