import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import type { Clinic } from '../../connectors/db/index.ts';
import { analyticsCsv, daysInRange, MAX_RANGE_DAYS, type AnalyticsReport } from '../../rules/analytics/index.ts';
import { AppError } from '../../rules/index.ts';
import type { ApiDeps } from '../deps.ts';
import type { ApiEnv } from '../env.ts';
import { errorResponses, openApiRouter } from '../errors.ts';
import { requireRole, storeTokenLookup } from '../middleware/auth.ts';
import { callerRequestIdOf } from '../middleware/request-id.ts';
import { Id } from '../schemas.ts';

const LocalDate = z.iso.date().openapi({ example: '2026-03-01' });

const AnalyticsQuerySchema = z.object({
  clinicId: Id.optional().openapi({
    description: 'The clinic; a clinic admin may omit it (its own clinic), a global admin must name one',
  }),
  from: LocalDate.openapi({ description: 'First day, in the clinic’s time zone (inclusive)' }),
  to: LocalDate.openapi({
    description: `Last day, in the clinic’s time zone (inclusive); at most ${MAX_RANGE_DAYS} days from \`from\``,
  }),
  protocolId: Id.optional().openapi({ description: 'Only cases triaged by this protocol (any version)' }),
  granularity: z.enum(['day', 'week']).default('day'),
});

const Count = z.number().int();
const Rate = z.number().nullable();
const MetricsShape = {
  requests: Count,
  open: Count,
  closed: Count,
  dispositions: z.record(z.string(), Count),
  automated: Count,
  automationRate: Rate,
  physicianTouches: z.object({
    acted: Count,
    awaiting: Count,
    total: Count,
    per100: Rate,
    reductionPct: Rate,
  }),
  touchesByRole: z.record(z.string(), Count),
  escalations: z.object({ total: Count, byReason: z.record(z.string(), Count) }),
  sla: z.object({ met: Count, breached: Count, pending: Count, compliance: Rate }),
  overrides: Count,
};
const MetricsSchema = z.object(MetricsShape).openapi('AnalyticsMetrics');

const ReportSchema = z
  .object({
    clinicId: z.string(),
    timezone: z.string(),
    from: z.string(),
    to: z.string(),
    granularity: z.enum(['day', 'week']),
    protocolId: z.string().nullable(),
    asOf: z.string(),
    definitions: z.object({
      physicianRoles: z.array(z.string()),
      physicianOnlyQueues: z.array(z.string()),
      triageQueues: z.array(z.string()),
    }),
    totals: MetricsSchema,
    series: z.array(
      z.object({
        bucket: z.string(),
        kind: z.string(),
        protocolId: z.string().nullable(),
        protocolVersion: z.number().int().nullable(),
        ...MetricsShape,
      }),
    ),
    turnaround: z.array(
      z.object({ queue: z.string().nullable(), closed: Count, p50Seconds: Count, p90Seconds: Count }),
    ),
    touchesByRole: z.array(z.object({ role: z.string(), cases: Count, decisions: Count })),
    failingCriteria: z.array(
      z.object({ kind: z.string(), protocolId: z.string().nullable(), criterion: z.string(), cases: Count }),
    ),
    overrides: z.object({
      total: Count,
      items: z.array(
        z.object({
          caseId: z.string(),
          kind: z.string(),
          protocolId: z.string().nullable(),
          protocolVersion: z.number().int().nullable(),
          disposition: z.string(),
          outcome: z.string(),
          role: z.string().nullable(),
          closedAt: z.string().nullable(),
        }),
      ),
    }),
  })
  .openapi('AnalyticsReport');

const description =
  'Outcome analytics of one clinic (README, "Outcome analytics", defines every number): per clinic-local day or ' +
  'ISO week and per protocol version, requests, dispositions, automation rate, physician touches per 100 requests ' +
  'and the reduction against every request going to a physician, touches by role, turnaround p50/p90 per queue, ' +
  `SLA compliance and escalations, the most frequent failing criteria and the decisions that overrode the protocol. ` +
  `Admins only (a clinic admin: its own clinic). The range is at most ${MAX_RANGE_DAYS} days (422 at \`$.to\`). ` +
  'Ids and codes only; the listed override case ids are audited (`analytics.viewed`).';

const reportRoute = createRoute({
  method: 'get',
  path: '/v1/analytics',
  summary: 'Outcome analytics of a clinic over a range of days (admin)',
  description,
  security: [{ bearer: [] }],
  request: { query: AnalyticsQuerySchema },
  responses: {
    200: { description: 'The report', content: { 'application/json': { schema: ReportSchema } } },
    ...errorResponses(400, 401, 403, 404, 422),
  },
});

const csvRoute = createRoute({
  method: 'get',
  path: '/v1/analytics.csv',
  summary: 'The same report’s series as CSV, one line per bucket and protocol version (admin)',
  description,
  security: [{ bearer: [] }],
  request: { query: AnalyticsQuerySchema },
  responses: {
    200: {
      description: 'RFC 4180 CSV with a header line',
      content: { 'text/csv': { schema: z.string() } },
    },
    ...errorResponses(400, 401, 403, 404, 422),
  },
});

/** Outcome analytics (issue 9 §5): JSON and CSV, for admins of the clinic and global admins. */
export function analyticsRoutes(deps: ApiDeps): OpenAPIHono<ApiEnv> {
  const { store } = deps;
  const app = openApiRouter();
  const admin = requireRole(storeTokenLookup(store, deps.now), 'admin');
  app.use('/v1/analytics', admin);
  app.use('/v1/analytics.csv', admin);

  async function report(
    c: Context<ApiEnv>,
    q: z.infer<typeof AnalyticsQuerySchema>,
    format: 'json' | 'csv',
  ): Promise<AnalyticsReport> {
    const principal = c.get('principal');
    if (principal.clinicId !== null && q.clinicId !== undefined && q.clinicId !== principal.clinicId) {
      throw new AppError('FORBIDDEN', 'A clinic admin sees the analytics of its own clinic only');
    }
    const clinicId = q.clinicId ?? principal.clinicId;
    if (clinicId === null) {
      throw new AppError('UNPROCESSABLE', 'A global admin names the clinic', {
        issues: [{ path: '$.clinicId', message: 'required for an admin token bound to no clinic' }],
      });
    }
    const days = daysInRange(q.from, q.to);
    if (!(days >= 1 && days <= MAX_RANGE_DAYS)) {
      throw new AppError('UNPROCESSABLE', `The range must run forward and span at most ${MAX_RANGE_DAYS} days`, {
        issues: [{ path: '$.to', message: `on or after from, at most ${MAX_RANGE_DAYS} days in all (got ${days})` }],
      });
    }
    const clinic: Clinic | null = await store.clinics.get(clinicId);
    if (!clinic) throw new AppError('NOT_FOUND', 'No such clinic');
    const result = await store.analytics.report({
      clinicId: clinic.id,
      timezone: clinic.timezone,
      from: q.from,
      to: q.to,
      granularity: q.granularity,
      protocolId: q.protocolId ?? null,
      asOf: deps.now().toISOString(),
    });
    // The report holds no patient data; the override list names cases, so who saw which is recorded (ids only).
    await store.audit.appendAudit({
      at: deps.now().toISOString(),
      actorType: 'user',
      actorId: principal.userId,
      actorRole: principal.role,
      action: 'analytics.viewed',
      clinicId: clinic.id,
      requestId: c.get('requestId'),
      detail: {
        from: q.from,
        to: q.to,
        granularity: q.granularity,
        ...(q.protocolId ? { protocolId: q.protocolId } : {}),
        format,
        caseIds: result.overrides.items.map((o) => o.caseId),
        ...callerRequestIdOf(c),
      },
    });
    return result;
  }

  app.openapi(reportRoute, async (c) => c.json(await report(c, c.req.valid('query'), 'json'), 200));

  app.openapi(csvRoute, async (c) => {
    const q = c.req.valid('query');
    const body = analyticsCsv(await report(c, q, 'csv'));
    return c.body(body, 200, {
      'content-type': 'text/csv; charset=utf-8',
      'content-disposition': `attachment; filename="analytics-${q.from}-${q.to}.csv"`,
    });
  });
  return app;
}
