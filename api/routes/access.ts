import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { ACCESS_CURSOR_PATTERN, type AccessLogQuery } from '../../connectors/db/index.ts';
import {
  ACCESS_ACTION_NAMES,
  ACCESS_CATEGORIES,
  accessLogCsv,
  type AccessAction,
  type AccessEntry,
} from '../../rules/access/index.ts';
import { AppError } from '../../rules/index.ts';
import type { ApiDeps } from '../deps.ts';
import type { ApiEnv, Principal } from '../env.ts';
import { errorResponses, openApiRouter } from '../errors.ts';
import { clinicVisibleTo, requireRole, storeTokenLookup } from '../middleware/auth.ts';
import { callerRequestIdOf } from '../middleware/request-id.ts';
import { CaseId, Id, IsoInstant } from '../schemas.ts';

/** Entries per page of the access log. */
const MAX_PAGE = 200;
/** Entries one CSV export holds at most; more is a 422 asking for a narrower range or filter. */
export const MAX_CSV_ENTRIES = 10_000;
/** Case–patient pairs an audit row of an access-log read names (all are counted). */
const MAX_AUDITED_SUBJECTS = 500;
const DEFAULT_RANGE_MS = 7 * 86_400_000;

const bearer = [{ bearer: [] }];
const params = z.object({ clinicId: Id });
const Action = z.enum(ACCESS_ACTION_NAMES as [AccessAction, ...AccessAction[]]);

const Filters = {
  from: IsoInstant.optional().openapi({ description: 'Inclusive start (default: 7 days before `to`)' }),
  to: IsoInstant.optional().openapi({
    description: 'Exclusive end (default: a minute from now, so that rows written a moment ago are in)',
  }),
  userId: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9._@+:-]{0,199}$/, 'a person’s id (e-mail or staff id), or worker')
    .optional()
    .openapi({ description: 'Only this person’s accesses (`worker`: the worker’s EHR reads and write-backs)' }),
  caseId: CaseId.optional().openapi({ description: 'Only accesses that touched this case' }),
  patientId: z
    .string()
    .regex(/^[A-Za-z0-9.-]{1,64}$/, 'a FHIR Patient id')
    .optional()
    .openapi({ description: 'Only accesses that touched this patient (by the EHR’s Patient id)' }),
  action: Action.optional(),
};
const LogQuery = z.object({
  ...Filters,
  limit: z.coerce.number().int().min(1).max(MAX_PAGE).default(50),
  cursor: z.string().regex(new RegExp(ACCESS_CURSOR_PATTERN), 'not a cursor from nextCursor').optional(),
});

const Subject = z.object({ caseId: z.string().nullable(), patientId: z.string().nullable() }).openapi('AccessSubject');
const Entry = z
  .object({
    id: z.number().int().openapi({ description: 'The audit row' }),
    at: z.string(),
    action: Action,
    category: z.enum(ACCESS_CATEGORIES),
    actorType: z.string(),
    userId: z.string(),
    role: z.string().nullable(),
    clinicId: z.string().nullable(),
    requestId: z.string().nullable(),
    callerRequestId: z.string().nullable(),
    subjects: z.array(Subject).openapi({ description: 'The cases and patients this access touched' }),
  })
  .openapi('AccessEntry');

const LogPage = z
  .object({
    clinicId: z.string(),
    from: z.string(),
    to: z.string(),
    items: z.array(Entry),
    nextCursor: z.string().nullable(),
  })
  .openapi('AccessLogPage');

const json = <T extends z.ZodType>(schema: T, description: string) => ({
  description,
  content: { 'application/json': { schema } },
});

const who =
  'A privacy officer (role `privacy`) of the clinic, or an admin (a clinic admin: its own clinic). Reading it is ' +
  'itself audited';

const logRoute = createRoute({
  method: 'get',
  path: '/v1/access/{clinicId}/log',
  summary: 'Every access to the clinic’s patient data, newest first (privacy officer, admin)',
  description:
    'Case views and queue lists, decisions, exports and access-log reads by people, and the worker’s EHR reads and ' +
    'write-backs: who, role, when, which cases and patients, from which request. Keyset pages of at most ' +
    `${MAX_PAGE}. ${who} (\`access_log.viewed\`).`,
  security: bearer,
  request: { params, query: LogQuery },
  responses: { 200: json(LogPage, 'One page'), ...errorResponses(400, 401, 403, 404, 422) },
});

const csvRoute = createRoute({
  method: 'get',
  path: '/v1/access/{clinicId}/log.csv',
  summary: 'The access log as CSV, one line per case or patient touched (privacy officer, admin)',
  description:
    `The same filters; at most ${MAX_CSV_ENTRIES.toLocaleString('en-US')} accesses (more: 422 at \`$.from\`, ` +
    `narrow the range or filter). ${who} (\`access_log.exported\`).`,
  security: bearer,
  request: { params, query: z.object(Filters) },
  responses: {
    200: { description: 'RFC 4180 CSV with a header line', content: { 'text/csv': { schema: z.string() } } },
    ...errorResponses(400, 401, 403, 404, 422),
  },
});

/**
 * Access monitoring (issue 10 §3) for a clinic's privacy officer and its admins: the access log (JSON and CSV). Under
 * `/v1/access/` rather than `/v1/clinics/`, whose routes are admin-only.
 */
export function accessRoutes(deps: ApiDeps): OpenAPIHono<ApiEnv> {
  const { store } = deps;
  const app = openApiRouter();
  app.use('/v1/access/*', requireRole(storeTokenLookup(store, deps.now), 'privacy', 'admin'));
  const visibleClinic = clinicVisibleTo(store);

  function range(q: { from?: string | undefined; to?: string | undefined }): { from: string; to: string } {
    const to = q.to ? new Date(q.to) : new Date(deps.now().getTime() + 60_000);
    const from = q.from ? new Date(q.from) : new Date(to.getTime() - DEFAULT_RANGE_MS);
    if (!(from < to)) {
      throw new AppError('UNPROCESSABLE', 'The range must run forward', {
        issues: [{ path: '$.to', message: 'after from' }],
      });
    }
    return { from: from.toISOString(), to: to.toISOString() };
  }

  function query(clinicId: string, q: z.infer<typeof LogQuery> | z.infer<z.ZodObject<typeof Filters>>) {
    return {
      clinicId,
      ...range(q),
      ...(q.userId ? { userId: q.userId } : {}),
      ...(q.caseId ? { caseId: q.caseId } : {}),
      ...(q.patientId ? { patientId: q.patientId } : {}),
      ...(q.action ? { action: q.action } : {}),
    } satisfies Omit<AccessLogQuery, 'limit'>;
  }

  /** The audit row of a read of the log: its filters, and which cases and patients it showed (ids only). */
  function audited(
    c: Context<ApiEnv>,
    action: 'access_log.viewed' | 'access_log.exported',
    q: Omit<AccessLogQuery, 'limit'>,
    items: readonly AccessEntry[],
  ) {
    const principal: Principal = c.get('principal');
    const pairs = new Map<string, { caseId: string; patientId: string }>();
    for (const s of items.flatMap((e) => e.subjects)) {
      pairs.set(`${s.caseId ?? ''}\n${s.patientId ?? ''}`, { caseId: s.caseId ?? '', patientId: s.patientId ?? '' });
    }
    const shown = [...pairs.values()].slice(0, MAX_AUDITED_SUBJECTS);
    return store.audit.appendAudit({
      at: deps.now().toISOString(),
      actorType: 'user',
      actorId: principal.userId,
      actorRole: principal.role,
      action,
      clinicId: q.clinicId,
      requestId: c.get('requestId'),
      detail: {
        from: q.from,
        to: q.to,
        ...(q.userId ? { userId: q.userId } : {}),
        ...(q.caseId ? { filterCaseId: q.caseId } : {}),
        ...(q.patientId ? { filterPatientId: q.patientId } : {}),
        ...(q.action ? { filterAction: q.action } : {}),
        count: items.length,
        subjects: pairs.size,
        caseIds: shown.map((s) => s.caseId),
        patientIds: shown.map((s) => s.patientId),
        ...callerRequestIdOf(c),
      },
    });
  }

  app.openapi(logRoute, async (c) => {
    const clinic = await visibleClinic(c.get('principal'), c.req.valid('param').clinicId);
    const q = c.req.valid('query');
    const filters = query(clinic.id, q);
    const page = await store.access.listAccess({ ...filters, limit: q.limit, cursor: q.cursor ?? null });
    // Written before the page leaves: a read that could not be recorded is not served.
    await audited(c, 'access_log.viewed', filters, page.items);
    return c.json({ clinicId: clinic.id, from: filters.from, to: filters.to, ...page }, 200);
  });

  app.openapi(csvRoute, async (c) => {
    const clinic = await visibleClinic(c.get('principal'), c.req.valid('param').clinicId);
    const filters = query(clinic.id, c.req.valid('query'));
    const page = await store.access.listAccess({ ...filters, limit: MAX_CSV_ENTRIES });
    if (page.nextCursor !== null) {
      throw new AppError('UNPROCESSABLE', `More than ${MAX_CSV_ENTRIES} accesses match`, {
        issues: [{ path: '$.from', message: 'narrow the range, or filter by person, case, patient or action' }],
      });
    }
    await audited(c, 'access_log.exported', filters, page.items);
    return c.body(accessLogCsv(page.items), 200, {
      'content-type': 'text/csv; charset=utf-8',
      'content-disposition': `attachment; filename="access-${clinic.id}-${filters.from.slice(0, 10)}-${filters.to.slice(0, 10)}.csv"`,
    });
  });
  return app;
}
