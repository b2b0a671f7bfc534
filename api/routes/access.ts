import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import {
  ACCESS_CURSOR_PATTERN,
  type AccessLogQuery,
  type FlagReview,
  type StoredAccessSettings,
} from '../../connectors/db/index.ts';
import { daysInRange } from '../../rules/analytics/index.ts';
import {
  FLAG_KINDS,
  SETTING_BOUNDS,
  accessFlags,
  localTime,
  parseFlagId,
  settingsIssues,
  type AccessFlag,
  type AccessSettings,
} from '../../rules/access/flags.ts';
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
/** Local days one flags request may span. */
export const MAX_FLAG_DAYS = 31;

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

const LocalDate = z.iso.date().openapi({ example: '2026-03-10' });
const FlagKind = z.enum(FLAG_KINDS);
const FlagsQuery = z.object({
  from: LocalDate.optional().openapi({ description: 'First local day (default: 6 days before `to`)' }),
  to: LocalDate.optional().openapi({
    description: `Last local day, inclusive (default: today in the clinic’s time zone); at most ${MAX_FLAG_DAYS} days`,
  }),
  kind: FlagKind.optional(),
  status: z.enum(['open', 'reviewed', 'all']).default('all'),
});

const HHMM = z
  .string()
  .regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'HH:MM, 24-hour')
  .openapi({ example: '07:00' });
const WorkingHours = z
  .strictObject({
    start: HHMM,
    end: HHMM.openapi({ description: 'Exclusive; after `start`' }),
    days: z
      .array(z.number().int().min(1).max(7))
      .max(7)
      .openapi({ description: 'ISO weekdays: 1 Monday … 7 Sunday', example: [1, 2, 3, 4, 5] }),
  })
  .openapi('WorkingHours');
const bounded = (b: { min: number; max: number }, int: boolean) =>
  (int ? z.number().int() : z.number()).min(b.min).max(b.max);
const SettingsShape = {
  workingHours: WorkingHours,
  rateMultiplier: bounded(SETTING_BOUNDS.rateMultiplier, false),
  rateFloorPerHour: bounded(SETTING_BOUNDS.rateFloorPerHour, true),
  rateBaselineDays: bounded(SETTING_BOUNDS.rateBaselineDays, true),
  viewersPerCase: bounded(SETTING_BOUNDS.viewersPerCase, true),
};
const SettingsBody = z
  .strictObject({
    ...SettingsShape,
    expectedVersion: z.number().int().min(0).max(1_000_000).optional().openapi({
      description: 'The version last read: settings changed since are refused with 409 instead of overwritten',
    }),
  })
  .openapi('AccessSettingsUpdate');
const SettingsView = z
  .object({
    clinicId: z.string(),
    timezone: z.string(),
    ...SettingsShape,
    version: z.number().int().openapi({ description: '0: never set (the defaults apply)' }),
    updatedAt: z.string().nullable(),
    updatedBy: z.string().nullable(),
  })
  .openapi('AccessSettings');

const FlagAccess = z.object({
  auditId: z.number().int(),
  at: z.string(),
  action: z.string(),
  caseId: z.string().nullable(),
  patientId: z.string().nullable(),
  queue: z.string().nullable().optional(),
});
const Review = z
  .object({
    note: z.string(),
    evidenceTotal: z.number().int().openapi({ description: 'Accesses in the evidence when reviewed' }),
    reviewedAt: z.string(),
    reviewedBy: z.string(),
    reviewedRole: z.string(),
  })
  .openapi('AccessFlagReview');
const Flag = z
  .object({
    id: z.string().openapi({ example: 'after_hours:2026-03-10:ana.lopez@clinic.example' }),
    kind: FlagKind,
    at: z.string(),
    day: z.string(),
    userId: z.string().nullable(),
    role: z.string().nullable(),
    caseId: z.string().nullable(),
    patientId: z.string().nullable(),
    reason: z.string(),
    evidence: z.object({
      accesses: z.array(FlagAccess),
      total: z.number().int(),
      queuesWorked: z.array(z.string()).optional(),
      casesInHour: z.number().int().optional(),
      median: z.number().nullable().optional(),
      baselineHours: z.number().int().optional(),
      threshold: z.number().optional(),
      workingHours: z.object({ start: z.string(), end: z.string(), days: z.array(z.number().int()) }).optional(),
      viewers: z
        .array(z.object({ userId: z.string(), role: z.string().nullable(), firstAt: z.string(), auditId: z.number() }))
        .optional(),
    }),
    review: Review.nullable(),
  })
  .openapi('AccessFlag');
const FlagsPage = z
  .object({
    clinicId: z.string(),
    timezone: z.string(),
    from: z.string(),
    to: z.string(),
    counts: z.object({ open: z.number().int(), reviewed: z.number().int() }),
    items: z.array(Flag),
  })
  .openapi('AccessFlags');
const ReviewBody = z
  .strictObject({
    flagId: z
      .string()
      .regex(
        /^(outside_queues|rate|after_hours|many_viewers):\d{4}-\d{2}-\d{2}(T\d{2})?:[A-Za-z0-9._@+-]{1,300}$/,
        'an access flag’s id',
      ),
    note: z.string().max(2000).regex(/\S/, 'what was found, in a few words').openapi({
      description: 'What the review found (kept with the review; the audit log records only that there is one)',
    }),
  })
  .openapi('AccessFlagReviewRequest');

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

const flagsRoute = createRoute({
  method: 'get',
  path: '/v1/access/{clinicId}/flags',
  summary: 'Access worth a look, each with its evidence and reason (privacy officer, admin)',
  description:
    'Four heuristics over the access log (README "Access monitoring"): a person viewing cases outside the queues ' +
    'their role works; more cases in an hour than the clinic’s multiple of their own median, above a floor; access ' +
    'outside the clinic’s working hours; a case viewed by many different people. Signals for a person to judge, not ' +
    `verdicts. Local days of the clinic, at most ${MAX_FLAG_DAYS}. ${who} (\`access_flags.viewed\`).`,
  security: bearer,
  request: { params, query: FlagsQuery },
  responses: { 200: json(FlagsPage, 'The flags'), ...errorResponses(400, 401, 403, 404, 422) },
});

const reviewRoute = createRoute({
  method: 'post',
  path: '/v1/access/{clinicId}/flag-reviews',
  summary: 'Mark a flag reviewed, with a note (privacy officer, admin)',
  description:
    'Once per flag (409 when it was reviewed already); 404 when no such flag stands in its day. Audited ' +
    '(`access_flag.reviewed`, without the note).',
  security: bearer,
  request: { params, body: { content: { 'application/json': { schema: ReviewBody } }, required: true } },
  responses: { 201: json(Review, 'Reviewed'), ...errorResponses(400, 401, 403, 404, 409) },
});

const getSettingsRoute = createRoute({
  method: 'get',
  path: '/v1/access/{clinicId}/settings',
  summary: 'The clinic’s access-monitoring thresholds (privacy officer, admin)',
  security: bearer,
  request: { params },
  responses: { 200: json(SettingsView, 'The thresholds'), ...errorResponses(400, 401, 403, 404) },
});

const putSettingsRoute = createRoute({
  method: 'put',
  path: '/v1/access/{clinicId}/settings',
  summary: 'Set the clinic’s access-monitoring thresholds (privacy officer, admin)',
  description:
    'All of them at once; 422 with the JSON path for working hours that do not run forward, 409 for a stale ' +
    '`expectedVersion`. Audited (`access_settings.updated`, before and after).',
  security: bearer,
  request: { params, body: { content: { 'application/json': { schema: SettingsBody } }, required: true } },
  responses: { 200: json(SettingsView, 'Stored'), ...errorResponses(400, 401, 403, 404, 409, 422) },
});

/**
 * Access monitoring (issue 10 §3) for a clinic's privacy officer and its admins: the access log (JSON and CSV), the
 * flags with their reviews, and the clinic's thresholds. Under `/v1/access/` rather than `/v1/clinics/`, whose routes
 * are admin-only.
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

  /** The flags standing in [from, to] (local days), computed from the log with the clinic's thresholds. */
  async function flagsOf(clinicId: string, timeZone: string, from: string, to: string): Promise<AccessFlag[]> {
    const { settings } = await store.access.settings(clinicId);
    const input = await store.access.flagInput({ clinicId, from, to, timeZone, settings });
    return accessFlags({ ...input, timeZone, from, to, settings });
  }

  const reviewView = (r: FlagReview) => ({
    note: r.note,
    evidenceTotal: r.evidenceTotal,
    reviewedAt: r.reviewedAt,
    reviewedBy: r.reviewedBy,
    reviewedRole: r.reviewedRole,
  });

  app.openapi(flagsRoute, async (c) => {
    const principal = c.get('principal');
    const clinic = await visibleClinic(principal, c.req.valid('param').clinicId);
    const q = c.req.valid('query');
    const to = q.to ?? localTime(deps.now().toISOString(), clinic.timezone).date;
    const from = q.from ?? new Date(Date.parse(`${to}T00:00:00Z`) - 6 * 86_400_000).toISOString().slice(0, 10);
    const days = daysInRange(from, to);
    if (!(days >= 1 && days <= MAX_FLAG_DAYS)) {
      throw new AppError('UNPROCESSABLE', `The range must run forward and span at most ${MAX_FLAG_DAYS} days`, {
        issues: [{ path: '$.to', message: `on or after from, at most ${MAX_FLAG_DAYS} days in all (got ${days})` }],
      });
    }
    const flags = (await flagsOf(clinic.id, clinic.timezone, from, to)).filter((f) => !q.kind || f.kind === q.kind);
    const reviews = await store.access.reviews(
      clinic.id,
      flags.map((f) => f.id),
    );
    const all = flags.map((f) => {
      const r = reviews.get(f.id);
      return { ...f, review: r ? reviewView(r) : null };
    });
    const items = all.filter((f) => q.status === 'all' || (q.status === 'reviewed') === (f.review !== null));
    // The evidence names cases and patients: who saw which is recorded, as for the log (ids only, capped).
    const subjects = new Map<string, { caseId: string; patientId: string }>();
    for (const a of [...items.flatMap((f) => f.evidence.accesses), ...items]) {
      if (a.caseId === null && a.patientId === null) continue;
      subjects.set(`${a.caseId ?? ''}\n${a.patientId ?? ''}`, { caseId: a.caseId ?? '', patientId: a.patientId ?? '' });
    }
    const shown = [...subjects.values()].slice(0, MAX_AUDITED_SUBJECTS);
    await store.audit.appendAudit({
      at: deps.now().toISOString(),
      actorType: 'user',
      actorId: principal.userId,
      actorRole: principal.role,
      action: 'access_flags.viewed',
      clinicId: clinic.id,
      requestId: c.get('requestId'),
      detail: {
        from,
        to,
        ...(q.kind ? { kind: q.kind } : {}),
        status: q.status,
        count: items.length,
        subjects: subjects.size,
        caseIds: shown.map((s) => s.caseId),
        patientIds: shown.map((s) => s.patientId),
        ...callerRequestIdOf(c),
      },
    });
    const reviewed = all.filter((f) => f.review !== null).length;
    return c.json(
      {
        clinicId: clinic.id,
        timezone: clinic.timezone,
        from,
        to,
        counts: { open: all.length - reviewed, reviewed },
        items,
      },
      200,
    );
  });

  app.openapi(reviewRoute, async (c) => {
    const principal = c.get('principal');
    const clinic = await visibleClinic(principal, c.req.valid('param').clinicId);
    const body = c.req.valid('json');
    const parsed = parseFlagId(body.flagId);
    const flag = parsed
      ? (await flagsOf(clinic.id, clinic.timezone, parsed.from, parsed.to)).find((f) => f.id === body.flagId)
      : undefined;
    if (!flag) throw new AppError('NOT_FOUND', 'No such flag stands (on its day, with the clinic’s thresholds)');
    const note = body.note.trim();
    const at = deps.now().toISOString();
    const review = await store.access.review(
      {
        clinicId: clinic.id,
        flagId: flag.id,
        kind: flag.kind,
        note,
        evidenceTotal: flag.evidence.total,
        reviewedAt: at,
        reviewedBy: principal.userId,
        reviewedRole: principal.role,
      },
      {
        at,
        actorType: 'user',
        actorId: principal.userId,
        actorRole: principal.role,
        action: 'access_flag.reviewed',
        clinicId: clinic.id,
        caseId: flag.caseId,
        requestId: c.get('requestId'),
        // The note is free text: it stays with the review, the append-only log records only that there is one.
        detail: {
          flagId: flag.id,
          kind: flag.kind,
          evidenceTotal: flag.evidence.total,
          noteProvided: true,
          ...callerRequestIdOf(c),
        },
      },
    );
    return c.json(reviewView(review), 201);
  });

  const settingsView = (s: StoredAccessSettings, timezone: string) => ({
    clinicId: s.clinicId,
    timezone,
    ...s.settings,
    version: s.version,
    updatedAt: s.updatedAt,
    updatedBy: s.updatedBy,
  });

  app.openapi(getSettingsRoute, async (c) => {
    const clinic = await visibleClinic(c.get('principal'), c.req.valid('param').clinicId);
    return c.json(settingsView(await store.access.settings(clinic.id), clinic.timezone), 200);
  });

  app.openapi(putSettingsRoute, async (c) => {
    const principal = c.get('principal');
    const clinic = await visibleClinic(principal, c.req.valid('param').clinicId);
    const { expectedVersion, ...settings } = c.req.valid('json');
    const next: AccessSettings = { ...settings, workingHours: { ...settings.workingHours } };
    const issues = settingsIssues(next);
    if (issues.length) throw new AppError('UNPROCESSABLE', 'These settings do not hold together', { issues });
    const stored = await store.access.putSettings(
      clinic.id,
      next,
      principal.userId,
      expectedVersion,
      (before, after) => ({
        at: deps.now().toISOString(),
        actorType: 'user',
        actorId: principal.userId,
        actorRole: principal.role,
        action: 'access_settings.updated',
        clinicId: clinic.id,
        requestId: c.get('requestId'),
        detail: {
          version: after.version,
          before: before.settings,
          after: after.settings,
          ...(before.version === 0 ? { fromDefaults: true } : {}),
          ...callerRequestIdOf(c),
        },
      }),
    );
    return c.json(settingsView(stored, clinic.timezone), 200);
  });
  return app;
}
