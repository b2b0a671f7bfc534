import { sql, type Expression, type Kysely, type SqlBool } from 'kysely';
import { z } from 'zod';
import {
  AccessSettingsSchema,
  DEFAULT_ACCESS_SETTINGS,
  afterHoursIntervals,
  windowOf,
  type AccessSettings,
  type CaseView,
  type FlagInput,
  type HourCount,
  type PersonAccess,
} from '../../rules/access/flags.ts';
import {
  ACCESS_ACTION_NAMES,
  ACCESS_ACTIONS,
  accessSubjects,
  isAccessAction,
  touches,
  type AccessAction,
  type AccessEntry,
} from '../../rules/access/index.ts';
import { AppError } from '../../rules/index.ts';
import { insertAudit, type AuditInput } from './audit.ts';
import { dbInt, isoUtc, jsonText, mapDbErrors, nowIso, parseInput, toJsonText } from './dialect.ts';
import type { Db } from './open.ts';
import type { Database } from './schema.ts';

export interface AccessLogQuery {
  clinicId: string;
  /** Inclusive start and exclusive end, ISO-8601. */
  from: string;
  to: string;
  userId?: string;
  caseId?: string;
  patientId?: string;
  action?: AccessAction;
  /** 1–10,000 (the CSV export reads up to its own cap in one call). */
  limit: number;
  /** `nextCursor` of the previous page. */
  cursor?: string | null;
}

export interface AccessRepo {
  /**
   * The accesses to patient data of one clinic (ACCESS_ACTIONS), newest first (keyset on time and row id), each with
   * the cases and patients it touched; a case's patient is filled in from the case when the row does not name it.
   */
  listAccess(q: AccessLogQuery): Promise<{ items: AccessEntry[]; nextCursor: string | null }>;
  /** What the flag heuristics read for a window of local dates (rules/access/flags.ts FlagInput, less the settings). */
  flagInput(q: {
    clinicId: string;
    from: string;
    to: string;
    timeZone: string;
    settings: AccessSettings;
  }): Promise<Omit<FlagInput, 'timeZone' | 'from' | 'to' | 'settings'>>;
  /** The reviews of these flags (by id). */
  reviews(clinicId: string, flagIds: readonly string[]): Promise<Map<string, FlagReview>>;
  /** Records a flag's review and its audit row in one transaction. CONFLICT when the flag was reviewed already. */
  review(input: FlagReviewInput, audit: AuditInput): Promise<FlagReview>;
  /** The clinic's thresholds: stored, or the defaults (version 0). */
  settings(clinicId: string): Promise<StoredAccessSettings>;
  /**
   * Replaces the clinic's thresholds (version + 1) with their audit row, in one transaction. CONFLICT when
   * `expectedVersion` is given and is not the stored version.
   */
  putSettings(
    clinicId: string,
    settings: AccessSettings,
    by: string,
    expectedVersion: number | undefined,
    audit: (before: StoredAccessSettings, after: StoredAccessSettings) => AuditInput,
  ): Promise<StoredAccessSettings>;
}

export interface FlagReview {
  flagId: string;
  kind: string;
  note: string;
  evidenceTotal: number;
  reviewedAt: string;
  reviewedBy: string;
  reviewedRole: string;
}
export type FlagReviewInput = Omit<FlagReview, 'reviewedAt'> & { clinicId: string; reviewedAt?: string };

export interface StoredAccessSettings {
  clinicId: string;
  settings: AccessSettings;
  /** 0: never set (the defaults apply). */
  version: number;
  updatedAt: string | null;
  updatedBy: string | null;
}

const QuerySchema = z.object({
  clinicId: z.string().min(1),
  from: isoUtc,
  to: isoUtc,
  userId: z.string().min(1).max(200).optional(),
  caseId: z.string().min(1).max(300).optional(),
  patientId: z.string().min(1).max(64).optional(),
  action: z.enum(ACCESS_ACTION_NAMES as [AccessAction, ...AccessAction[]]).optional(),
  limit: z.number().int().min(1).max(10_000),
  cursor: z.string().nullable().optional(),
});

const RowSchema = z.object({
  id: dbInt,
  at: z.string(),
  actorType: z.string(),
  actorId: z.string(),
  actorRole: z.string().nullable(),
  action: z.string(),
  clinicId: z.string().nullable(),
  caseId: z.string().nullable(),
  requestId: z.string().nullable(),
  detail: jsonText(z.record(z.string(), z.unknown())),
});

/** A keyset cursor: `<base64url at>.<row id>`. */
const CURSOR = /^([A-Za-z0-9_-]{1,200})\.(\d{1,18})$/;
export const ACCESS_CURSOR_PATTERN = CURSOR.source;

function decodeCursor(cursor: string): [string, number] {
  const m = CURSOR.exec(cursor);
  if (!m) throw new AppError('INVALID_INPUT', 'Invalid cursor');
  return [Buffer.from(m[1]!, 'base64url').toString('utf8'), Number(m[2])];
}
const encodeCursor = (e: AccessEntry) => `${Buffer.from(e.at, 'utf8').toString('base64url')}.${e.id}`;

/** Rows read per round while matching the exact case and patient filters (the SQL filter is a superset). */
const SCAN = 500;

const ReviewSchema = z.object({
  flagId: z.string(),
  kind: z.string(),
  note: z.string(),
  evidenceTotal: dbInt,
  reviewedAt: z.string(),
  reviewedBy: z.string(),
  reviewedRole: z.string(),
});

/** Case ids per statement of an `in (…)` list. */
const CHUNK = 500;

/** The access log: audit rows of access actions, read through the (clinic, at, id) and (clinic, actor, at) indexes. */
export function createAccessRepo({ kysely, dialect }: Db): AccessRepo {
  /** Patient ids of cases the rows name without their patient. */
  async function patientsOf(caseIds: string[]): Promise<Map<string, string | null>> {
    const out = new Map<string, string | null>();
    for (let i = 0; i < caseIds.length; i += 500) {
      const rows = await kysely
        .selectFrom('cases')
        .select(['id', 'patientId'])
        .where('id', 'in', caseIds.slice(i, i + 500))
        .execute();
      for (const r of rows) out.set(r.id, r.patientId);
    }
    return out;
  }

  return {
    async listAccess(input) {
      const q = parseInput(QuerySchema, input, 'access log query');
      let after = q.cursor == null ? undefined : decodeCursor(q.cursor);
      // A patient's cases: rows about them name the case (a decision, a write-back) more often than the patient.
      const patientCases =
        q.patientId === undefined
          ? []
          : (
              await kysely
                .selectFrom('cases')
                .select('id')
                .where('clinicId', '=', q.clinicId)
                .where('patientId', '=', q.patientId)
                .limit(200)
                .execute()
            ).map((r) => r.id);
      const items: AccessEntry[] = [];
      let more = false;
      for (;;) {
        const rows = await kysely
          .selectFrom('audit_log')
          .select(['id', 'at', 'actorType', 'actorId', 'actorRole', 'action', 'clinicId', 'caseId', 'requestId'])
          .select('detail')
          .where('clinicId', '=', q.clinicId)
          .where('at', '>=', q.from)
          .where('at', '<', q.to)
          .where('action', 'in', q.action ? [q.action] : ACCESS_ACTION_NAMES)
          .$if(q.userId !== undefined, (qb) => qb.where('actorId', '=', q.userId!))
          .$if(q.caseId !== undefined, (qb) =>
            qb.where((eb) => eb.or([eb('caseId', '=', q.caseId!), detailMentions(q.caseId!)])),
          )
          .$if(q.patientId !== undefined, (qb) =>
            qb.where((eb) =>
              eb.or([
                detailMentions(q.patientId!),
                ...(patientCases.length
                  ? [eb('caseId', 'in', patientCases), ...patientCases.map((c) => detailMentions(c))]
                  : []),
              ]),
            ),
          )
          .$if(after !== undefined, (qb) =>
            qb.where((eb) => eb(eb.refTuple('at', 'id'), '<', eb.tuple(after![0], after![1]))),
          )
          .orderBy('at', 'desc')
          .orderBy('id', 'desc')
          .limit(SCAN)
          .execute();
        const parsed = rows.map((r) => RowSchema.parse(r));
        const entries = parsed.map((r) => toEntry(r));
        const unknown = [
          ...new Set(entries.flatMap((e) => e.subjects.filter((s) => s.caseId && !s.patientId).map((s) => s.caseId!))),
        ];
        const patients = unknown.length ? await patientsOf(unknown) : new Map<string, string | null>();
        for (const e of entries) {
          for (const s of e.subjects) if (s.caseId && !s.patientId) s.patientId = patients.get(s.caseId) ?? null;
          if (
            !touches(e.subjects, {
              ...(q.caseId ? { caseId: q.caseId } : {}),
              ...(q.patientId ? { patientId: q.patientId } : {}),
            })
          ) {
            continue;
          }
          if (items.length === q.limit) {
            more = true;
            break;
          }
          items.push(e);
        }
        if (more || rows.length < SCAN) break;
        const last = parsed.at(-1)!;
        after = [last.at, last.id];
      }
      const last = items.at(-1);
      return { items, nextCursor: more && last ? encodeCursor(last) : null };
    },

    async flagInput(q) {
      const { start, end } = windowOf(q.from, q.to, q.timeZone);
      const viewRow = z.object({
        id: dbInt,
        at: z.string(),
        actorId: z.string(),
        actorRole: z.string().nullable(),
        caseId: z.string(),
        detail: jsonText(z.record(z.string(), z.unknown())),
      });
      const toView = (raw: unknown): CaseView => {
        const r = viewRow.parse(raw);
        return {
          auditId: r.id,
          at: r.at,
          userId: r.actorId,
          role: r.actorRole,
          caseId: r.caseId,
          patientId: typeof r.detail.patientId === 'string' ? r.detail.patientId : null,
          queue: typeof r.detail.queue === 'string' ? r.detail.queue : null,
        };
      };
      const viewColumns = ['id', 'at', 'actorId', 'actorRole', 'caseId', 'detail'] as const;
      const views = (
        await kysely
          .selectFrom('audit_log')
          .select(viewColumns)
          .where('clinicId', '=', q.clinicId)
          .where('action', '=', 'case.viewed')
          .where('actorType', '=', 'user')
          .where('caseId', 'is not', null)
          .where('at', '>=', start)
          .where('at', '<', end)
          .execute()
      ).map(toView);
      const caseIds = [...new Set(views.map((v) => v.caseId))];

      const decided = new Set<string>();
      const caseViews: CaseView[] = [];
      for (let i = 0; i < caseIds.length; i += CHUNK) {
        const chunk = caseIds.slice(i, i + CHUNK);
        const decisions = await kysely
          .selectFrom('audit_log')
          .select(['caseId', 'actorId'])
          .distinct()
          .where('caseId', 'in', chunk)
          .where('action', '=', 'decision.recorded')
          .execute();
        for (const d of decisions) decided.add(`${d.caseId ?? ''}\n${d.actorId}`);
        const all = await kysely
          .selectFrom('audit_log')
          .select(viewColumns)
          .where('caseId', 'in', chunk)
          .where('action', '=', 'case.viewed')
          .where('actorType', '=', 'user')
          .where('clinicId', '=', q.clinicId)
          .execute();
        caseViews.push(...all.map(toView));
      }
      const patients = await patientsOf([
        ...new Set([...views, ...caseViews].filter((v) => v.patientId === null).map((v) => v.caseId)),
      ]);
      for (const v of [...views, ...caseViews]) v.patientId ??= patients.get(v.caseId) ?? null;

      const since = new Date(Date.parse(start) - q.settings.rateBaselineDays * 86_400_000).toISOString();
      const hourExpr = sql<string>`substr(${sql.ref('at')}, 1, 13)`;
      const hourly: HourCount[] = (
        await kysely
          .selectFrom('audit_log')
          .select((eb) => [
            'actorId',
            hourExpr.as('hour'),
            eb.fn.count<number | string>('caseId').distinct().as('cases'),
          ])
          .where('clinicId', '=', q.clinicId)
          .where('action', '=', 'case.viewed')
          .where('actorType', '=', 'user')
          .where('at', '>=', since)
          .where('at', '<', end)
          .groupBy(['actorId', hourExpr])
          .execute()
      ).map((r) => ({ userId: r.actorId, hour: r.hour, cases: Number(r.cases) }));

      const intervals = afterHoursIntervals(q.from, q.to, q.timeZone, q.settings.workingHours);
      const afterHours: PersonAccess[] = [];
      if (intervals.length) {
        const rows = await kysely
          .selectFrom('audit_log')
          .select(['id', 'at', 'actorId', 'actorRole', 'action', 'caseId', 'detail'])
          .where('clinicId', '=', q.clinicId)
          .where('actorType', '=', 'user')
          .where('action', 'in', ACCESS_ACTION_NAMES)
          .where((eb) => eb.or(intervals.map((i) => eb.and([eb('at', '>=', i.start), eb('at', '<', i.end)]))))
          .orderBy('at')
          .execute();
        // A month of nights and weekends can be a hundred thousand rows: the detail is parsed as plain JSON (a detail
        // that is not an object names no cases; accessSubjects checks every field it reads).
        for (const r of rows) {
          afterHours.push({
            auditId: Number(r.id),
            at: r.at,
            userId: r.actorId,
            role: r.actorRole,
            action: r.action,
            subjects: accessSubjects({ caseId: r.caseId, detail: detailObject(r.detail) }),
          });
        }
      }
      const unnamed = [
        ...new Set(afterHours.flatMap((a) => a.subjects.filter((x) => x.caseId && !x.patientId).map((x) => x.caseId!))),
      ];
      const theirs = unnamed.length ? await patientsOf(unnamed) : new Map<string, string | null>();
      for (const x of afterHours.flatMap((a) => a.subjects)) {
        if (x.caseId && !x.patientId) x.patientId = theirs.get(x.caseId) ?? null;
      }
      return { views, decided, hourly, afterHours, caseViews };
    },

    async reviews(clinicId, flagIds) {
      const out = new Map<string, FlagReview>();
      for (let i = 0; i < flagIds.length; i += CHUNK) {
        const rows = await kysely
          .selectFrom('access_flag_reviews')
          .selectAll()
          .where('clinicId', '=', clinicId)
          .where('flagId', 'in', flagIds.slice(i, i + CHUNK))
          .execute();
        for (const r of rows) out.set(r.flagId, ReviewSchema.parse(r));
      }
      return out;
    },

    async review(input, audit) {
      const row = { ...input, reviewedAt: input.reviewedAt ?? nowIso() };
      return mapDbErrors('flag review', () =>
        kysely.transaction().execute(async (trx) => {
          await trx.insertInto('access_flag_reviews').values(row).execute();
          await insertAudit(trx, audit);
          const { clinicId: _clinicId, ...review } = row;
          return review;
        }),
      );
    },

    settings: (clinicId) => readSettings(kysely, clinicId),

    async putSettings(clinicId, settings, by, expectedVersion, audit) {
      const parsed = parseInput(AccessSettingsSchema, settings, 'access settings');
      return kysely.transaction().execute(async (trx) => {
        if (dialect === 'postgres') {
          await trx.selectFrom('clinics').select('id').where('id', '=', clinicId).forUpdate().execute();
        }
        const before = await readSettings(trx, clinicId);
        if (expectedVersion !== undefined && expectedVersion !== before.version) {
          throw new AppError(
            'CONFLICT',
            `The settings changed since version ${expectedVersion} (now ${before.version})`,
          );
        }
        const after: StoredAccessSettings = {
          clinicId,
          settings: parsed,
          version: before.version + 1,
          updatedAt: nowIso(),
          updatedBy: by,
        };
        const values = {
          settings: toJsonText(parsed),
          version: after.version,
          updatedAt: after.updatedAt!,
          updatedBy: by,
        };
        await trx
          .insertInto('access_settings')
          .values({ clinicId, ...values })
          .onConflict((oc) => oc.column('clinicId').doUpdateSet(values))
          .execute();
        await insertAudit(trx, audit(before, after));
        return after;
      });
    },
  };
}

async function readSettings(db: Kysely<Database>, clinicId: string): Promise<StoredAccessSettings> {
  const row = await db.selectFrom('access_settings').selectAll().where('clinicId', '=', clinicId).executeTakeFirst();
  if (!row) return { clinicId, settings: DEFAULT_ACCESS_SETTINGS, version: 0, updatedAt: null, updatedBy: null };
  // Stored settings are read over the defaults: a threshold added later keeps its default for older rows.
  const stored = jsonText(z.record(z.string(), z.unknown())).parse(row.settings);
  return {
    clinicId,
    settings: AccessSettingsSchema.parse({ ...DEFAULT_ACCESS_SETTINGS, ...stored }),
    version: Number(row.version),
    updatedAt: row.updatedAt,
    updatedBy: row.updatedBy,
  };
}

/**
 * Whether the row's detail holds `id` as a JSON string value: `detail LIKE '%"<id>"%' ESCAPE '\'`, LIKE's wildcards in
 * the id escaped (ids have `_`). A superset on SQLite, whose LIKE ignores ASCII case: the exact match follows in code.
 */
function detailMentions(id: string): Expression<SqlBool> {
  const pattern = `%"${id.replace(/[\\%_]/g, (c) => `\\${c}`)}"%`;
  return sql<SqlBool>`${sql.ref('detail')} like ${pattern} escape '\\'`;
}

/** A stored detail as an object ({} for anything else). */
function detailObject(text: string): Record<string, unknown> {
  try {
    const d: unknown = JSON.parse(text);
    return typeof d === 'object' && d !== null && !Array.isArray(d) ? (d as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

function toEntry(r: z.output<typeof RowSchema>): AccessEntry {
  const action = isAccessAction(r.action) ? r.action : 'case.viewed';
  const caller = r.detail.callerRequestId;
  return {
    id: r.id,
    at: r.at,
    action,
    category: ACCESS_ACTIONS[action],
    actorType: r.actorType,
    userId: r.actorId,
    role: r.actorRole,
    clinicId: r.clinicId,
    requestId: r.requestId,
    callerRequestId: typeof caller === 'string' ? caller : null,
    subjects: accessSubjects(r),
  };
}
