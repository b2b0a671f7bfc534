import { PostgresAdapter, sql, type Kysely } from 'kysely';
import { z } from 'zod';
import { AppError } from '../../rules/index.ts';
import { checkRow, genesisHash, rowHash, type ChainBreak, type ChainState } from './audit-chain.ts';
import { dbInt, isoUtc, jsonRecord, jsonText, nowIso, parsedJsonRecord, parseInput, toJsonText } from './dialect.ts';
import type { Db } from './open.ts';
import type { Database } from './schema.ts';

/**
 * One audit entry. `detail` is free-form JSON for the reviewer and must not carry PHI beyond resource ids
 * (FHIR ids, case/clinic/request ids, protocol ids and versions, codes, counts): no names, birth dates, notes or
 * resource bodies. The log is append-only: the database refuses UPDATE, DELETE and TRUNCATE on it; and it is
 * tamper-evident: each row is hash-chained to the previous row of its clinic (./audit-chain.ts), so a row changed or
 * removed by someone who got past the triggers shows in `autopilot audit verify`.
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
  detail: jsonRecord.default({}),
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
  detail: jsonText(parsedJsonRecord),
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
  /** Several rows in order, in one transaction (one chain lock, one commit): what one step did, all or nothing. */
  appendAudits(entries: readonly AuditInput[]): Promise<{ id: number; created: boolean }[]>;
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
  /**
   * Checks the hash chains in id order: every chain, or the one of `clinicId`. Each chain reports its rows, its last
   * good row (the head, worth keeping outside the database: removing a chain's newest rows is only visible against a
   * head recorded earlier) and its first broken link, if any.
   */
  verifyChains(opts?: { clinicId?: string; onPage?: (rowsSoFar: number) => void }): Promise<ChainReport>;
}

export interface ChainReport {
  rows: number;
  chains: ChainState[];
  /** The first break of each broken chain, in id order. */
  breaks: ChainBreak[];
}

/**
 * Inserts one audit row through `executor` (the database or an open transaction, so that a protocol publish and
 * its audit entry commit together), chained to the previous row of its clinic.
 *
 * Reading the chain's head and inserting after it must not interleave with another writer of the same chain. On
 * PostgreSQL a transaction-level advisory lock per chain serialises them (taken in the caller's transaction, or in one
 * opened here). SQLite has one writer: a standalone row is written in a `BEGIN IMMEDIATE` transaction, which holds the
 * write lock from its first read; inside a caller's transaction, a read snapshot that another process made stale
 * cannot be upgraded to a write (SQLITE_BUSY_SNAPSHOT), so the chain never forks.
 */
export async function insertAudit(
  executor: Kysely<Database>,
  entry: AuditInput,
): Promise<{ id: number; created: boolean }> {
  return (await insertAudits(executor, [entry]))[0]!;
}

/** {@link insertAudit} for several rows, chained in order, in one transaction (the caller's, if it passes one). */
export async function insertAudits(
  executor: Kysely<Database>,
  entries: readonly AuditInput[],
): Promise<{ id: number; created: boolean }[]> {
  const rows = entries.map((entry) => {
    const e = parseInput(AuditInputSchema, entry, 'audit entry');
    return { ...e, at: e.at ?? nowIso(), detail: toJsonText(e.detail) };
  });
  const postgres = isPostgres(executor);
  const insertAll = async (db: Kysely<Database>) => {
    const inserted: { id: number; created: boolean }[] = [];
    // Each chain's head as this transaction left it: the rows after the first need not read it again (the chain's
    // lock is held from the first row to the commit, so no other writer moves it meanwhile).
    const heads = new Map<string | null, string>();
    for (const row of rows) {
      const { head, ...result } = await insertChained(db, row, postgres, heads.get(row.clinicId));
      heads.set(row.clinicId, head);
      inserted.push(result);
    }
    return inserted;
  };
  if (executor.isTransaction) return insertAll(executor);
  if (postgres) return executor.transaction().execute(insertAll);
  return executor.connection().execute(async (conn) => {
    await sql`begin immediate`.execute(conn);
    try {
      const inserted = await insertAll(conn);
      await sql`commit`.execute(conn);
      return inserted;
    } catch (err) {
      await sql`rollback`.execute(conn).catch(() => undefined);
      throw err;
    }
  });
}

/** The lock namespace of the audit chains' advisory locks (PostgreSQL's two-key form: namespace, hash of the chain). */
const CHAIN_LOCK_NAMESPACE = 0x61756474; // 'audt'

/**
 * Inserts `row` after its chain's head (`knownHead`: the head this transaction already holds, else read under the
 * chain's lock); returns the chain's head after it (the row's hash, or the head unchanged when the row existed).
 */
async function insertChained(
  db: Kysely<Database>,
  row: Omit<z.output<typeof AuditInputSchema>, 'at' | 'detail'> & { at: string; detail: string },
  postgres: boolean,
  knownHead?: string,
): Promise<{ id: number; created: boolean; head: string }> {
  let prevHash = knownHead;
  if (prevHash === undefined) {
    if (postgres) {
      await sql`select pg_advisory_xact_lock(${CHAIN_LOCK_NAMESPACE}, hashtext(${row.clinicId ?? ''}))`.execute(db);
    }
    const head = await db
      .selectFrom('audit_log')
      .select('hash')
      .$if(row.clinicId === null, (q) => q.where('clinicId', 'is', null))
      .$if(row.clinicId !== null, (q) => q.where('clinicId', '=', row.clinicId))
      .orderBy('id', 'desc')
      .limit(1)
      .executeTakeFirst();
    prevHash = head?.hash ?? genesisHash(row.clinicId);
  }
  const hash = rowHash(prevHash, row);
  const inserted = await db
    .insertInto('audit_log')
    .values({ ...row, prevHash, hash })
    .onConflict((oc) => oc.column('idempotencyKey').doNothing())
    .returning('id')
    .executeTakeFirst();
  if (inserted !== undefined) return { id: dbInt.parse(inserted.id), created: true, head: hash };
  const existing = await db
    .selectFrom('audit_log')
    .select('id')
    .where('idempotencyKey', '=', row.idempotencyKey)
    .executeTakeFirstOrThrow();
  return { id: dbInt.parse(existing.id), created: false, head: prevHash };
}

/** Which dialect an executor (the database, a connection or a transaction) speaks. */
function isPostgres(executor: Kysely<Database>): boolean {
  return executor.getExecutor().adapter instanceof PostgresAdapter;
}

const ChainRowSchema = z.object({
  id: dbInt,
  at: z.string(),
  actorType: z.string(),
  actorId: z.string(),
  actorRole: z.string().nullable(),
  action: z.string(),
  clinicId: z.string().nullable(),
  caseId: z.string().nullable(),
  protocolId: z.string().nullable(),
  protocolVersion: dbInt.nullable(),
  requestId: z.string().nullable(),
  idempotencyKey: z.string().nullable(),
  detail: z.string(),
  prevHash: z.string().nullable(),
  hash: z.string().nullable(),
});

/** Rows per page of the chain check. */
const VERIFY_PAGE = 5000;

const CursorSchema = z.string().regex(/^\d+$/).transform(Number);

/** The append-only audit log. There is deliberately no update or delete here. */
export function createAuditRepo({ kysely }: Db): AuditRepo {
  return {
    appendAudit: (entry) => insertAudit(kysely, entry),
    appendAudits: (entries) => insertAudits(kysely, entries),
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
    async verifyChains(opts = {}) {
      const chains = new Map<string | null, ChainState>();
      let rows = 0;
      let after = 0;
      for (;;) {
        const page = await kysely
          .selectFrom('audit_log')
          .select([
            'id',
            'at',
            'actorType',
            'actorId',
            'actorRole',
            'action',
            'clinicId',
            'caseId',
            'protocolId',
            'protocolVersion',
            'requestId',
            'idempotencyKey',
            'detail',
            'prevHash',
            'hash',
          ])
          .$if(opts.clinicId !== undefined, (q) => q.where('clinicId', '=', opts.clinicId ?? ''))
          .where('id', '>', after)
          .orderBy('id')
          .limit(VERIFY_PAGE)
          .execute();
        for (const raw of page) {
          const row = ChainRowSchema.parse(raw);
          let chain = chains.get(row.clinicId);
          if (!chain) {
            chain = { clinicId: row.clinicId, rows: 0, head: null, broken: null };
            chains.set(row.clinicId, chain);
          }
          checkRow(chain, row);
          after = row.id;
        }
        rows += page.length;
        opts.onPage?.(rows);
        if (page.length < VERIFY_PAGE) break;
      }
      const all = [...chains.values()];
      const breaks = all.flatMap((c) => (c.broken ? [c.broken] : [])).sort((a, b) => a.id - b.id);
      return { rows, chains: all, breaks };
    },
  };
}

function parseCursor(cursor: string): number {
  const parsed = CursorSchema.safeParse(cursor);
  if (!parsed.success) throw new AppError('INVALID_INPUT', 'Invalid cursor');
  return parsed.data;
}
