import { sql, type Expression, type SqlBool } from 'kysely';
import { z } from 'zod';
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
import { dbInt, isoUtc, jsonText, parseInput } from './dialect.ts';
import type { Db } from './open.ts';

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

/** The access log: audit rows of access actions, read through the (clinic, at, id) and (clinic, actor, at) indexes. */
export function createAccessRepo({ kysely }: Db): AccessRepo {
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
