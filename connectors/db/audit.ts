import type { Kysely } from 'kysely';
import { z } from 'zod';
import { AppError } from '../../rules/index.ts';
import { dbInt, isoUtc, jsonText, nowIso, parseInput, toJsonText } from './dialect.ts';
import type { Db } from './open.ts';
import type { Database } from './schema.ts';

/**
 * One audit entry. `detail` is free-form JSON for the reviewer and must not carry PHI beyond resource ids
 * (FHIR ids, case/clinic/request ids, protocol ids and versions, codes, counts): no names, birth dates, notes or
 * resource bodies. The log is append-only: the database refuses UPDATE, DELETE and TRUNCATE on it.
 */
export const AuditInputSchema = z.strictObject({
  at: isoUtc.optional(),
  actorType: z.enum(['system', 'user', 'ehr', 'protocol']),
  actorId: z.string().min(1),
  actorRole: z.string().min(1).nullable().default(null),
  action: z.string().min(1).max(100),
  clinicId: z.string().nullable().default(null),
  caseId: z.string().nullable().default(null),
  protocolId: z.string().nullable().default(null),
  protocolVersion: z.number().int().positive().nullable().default(null),
  requestId: z.string().nullable().default(null),
  /** Retried writers pass the same key; the entry is then written once. */
  idempotencyKey: z.string().min(1).max(200).nullable().default(null),
  detail: z.record(z.string(), z.json()).default({}),
});
export type AuditInput = z.input<typeof AuditInputSchema>;

export const AuditEntrySchema = z.object({
  id: dbInt,
  at: z.string(),
  actorType: z.enum(['system', 'user', 'ehr', 'protocol']),
  actorId: z.string(),
  actorRole: z.string().nullable(),
  action: z.string(),
  clinicId: z.string().nullable(),
  caseId: z.string().nullable(),
  protocolId: z.string().nullable(),
  protocolVersion: z.number().int().nullable(),
  requestId: z.string().nullable(),
  idempotencyKey: z.string().nullable(),
  detail: jsonText(z.record(z.string(), z.json())),
});
export type AuditEntry = z.output<typeof AuditEntrySchema>;

export interface ListAuditOptions {
  caseId?: string;
  clinicId?: string;
  action?: string;
  /** Any of these actions (1–50 of them; instead of `action`). */
  actions?: readonly string[];
  /** 1–500, default 50. */
  limit?: number;
  /** `nextCursor` of the previous page. */
  cursor?: string | null;
}

export interface AuditRepo {
  /** Appends an entry; with an `idempotencyKey` already present, returns that entry's id and `created: false`. */
  appendAudit(entry: AuditInput): Promise<{ id: number; created: boolean }>;
  /** Newest first, keyset-paginated on id. */
  listAudit(opts?: ListAuditOptions): Promise<{ items: AuditEntry[]; nextCursor: string | null }>;
  /**
   * Who did `action` (e.g. `case.viewed`) on any of `caseIds` at or after `since`: one row per (case, user). Served by
   * the (caseId, action, …) index; at most 500 case ids.
   */
  recentActors(opts: {
    caseIds: readonly string[];
    action: string;
    since: string;
  }): Promise<{ caseId: string; actorId: string }[]>;
}

/**
 * Inserts one audit row through `executor` (the database or an open transaction, so that a protocol publish and
 * its audit entry commit together).
 */
export async function insertAudit(
  executor: Kysely<Database>,
  entry: AuditInput,
): Promise<{ id: number; created: boolean }> {
  const e = parseInput(AuditInputSchema, entry, 'audit entry');
  const inserted = await executor
    .insertInto('audit_log')
    .values({ ...e, at: e.at ?? nowIso(), detail: toJsonText(e.detail) })
    .onConflict((oc) => oc.column('idempotencyKey').doNothing())
    .returning('id')
    .executeTakeFirst();
  if (inserted !== undefined) return { id: dbInt.parse(inserted.id), created: true };
  const existing = await executor
    .selectFrom('audit_log')
    .select('id')
    .where('idempotencyKey', '=', e.idempotencyKey)
    .executeTakeFirstOrThrow();
  return { id: dbInt.parse(existing.id), created: false };
}

const CursorSchema = z.string().regex(/^\d+$/).transform(Number);

/** The append-only audit log. There is deliberately no update or delete here. */
export function createAuditRepo({ kysely }: Db): AuditRepo {
  return {
    appendAudit: (entry) => insertAudit(kysely, entry),
    async listAudit(opts = {}) {
      const limit = parseInput(z.number().int().min(1).max(500).default(50), opts.limit, 'limit');
      const before = opts.cursor == null ? undefined : parseCursor(opts.cursor);
      const actions =
        opts.actions === undefined
          ? undefined
          : parseInput(z.array(z.string().min(1)).min(1).max(50), [...opts.actions], 'actions');
      const page = (action: string | undefined) =>
        kysely
          .selectFrom('audit_log')
          .selectAll()
          .$if(opts.caseId !== undefined, (q) => q.where('caseId', '=', opts.caseId!))
          .$if(opts.clinicId !== undefined, (q) => q.where('clinicId', '=', opts.clinicId!))
          .$if(action !== undefined, (q) => q.where('action', '=', action!))
          .$if(before !== undefined, (q) => q.where('id', '<', before!))
          .orderBy('id', 'desc')
          .limit(limit + 1)
          .execute();
      // Several actions: one query each on the (action, id) index, merged. An `action IN (…)` beside clinicId walks
      // the clinic's whole log when the actions are rare in it (README "Clinics in the console": the measurement).
      const rows = actions
        ? (await Promise.all([...new Set(actions)].map(page)))
            .flat()
            .sort((a, b) => dbInt.parse(b.id) - dbInt.parse(a.id))
            .slice(0, limit + 1)
        : await page(opts.action);
      const items = rows.slice(0, limit).map((r) => AuditEntrySchema.parse(r));
      const last = items.at(-1);
      return { items, nextCursor: rows.length > limit && last !== undefined ? String(last.id) : null };
    },
    async recentActors(opts) {
      const caseIds = parseInput(z.array(z.string().min(1)).max(500), [...opts.caseIds], 'caseIds');
      const since = parseInput(isoUtc, opts.since, 'since');
      if (caseIds.length === 0) return [];
      const rows = await kysely
        .selectFrom('audit_log')
        .select(['caseId', 'actorId'])
        .distinct()
        .where('caseId', 'in', caseIds)
        .where('action', '=', opts.action)
        .where('at', '>=', since)
        .execute();
      return rows.flatMap((r) => (r.caseId === null ? [] : [{ caseId: r.caseId, actorId: r.actorId }]));
    },
  };
}

function parseCursor(cursor: string): number {
  const parsed = CursorSchema.safeParse(cursor);
  if (!parsed.success) throw new AppError('INVALID_INPUT', 'Invalid cursor');
  return parsed.data;
}
