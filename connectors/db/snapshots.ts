import { z } from 'zod';
import { isoUtc, jsonText, jsonValue, nowIso, parsedJson, parseInput, toJsonText } from './dialect.ts';
import type { Kysely } from 'kysely';
import { insertAudits, type AuditInput } from './audit.ts';
import type { Db } from './open.ts';
import type { Database } from './schema.ts';

const PutSnapshotSchema = z.strictObject({
  caseId: z.string().min(1),
  clinicId: z.string().min(1),
  protocolId: z.string().min(1),
  recordedAt: isoUtc.optional(),
  /** The facts the rules saw: PHI-minimised by construction (rules/ owns the schema). */
  facts: jsonValue,
  decision: jsonValue,
});
export type PutSnapshotInput = z.input<typeof PutSnapshotSchema>;

export const FactsSnapshotSchema = z.object({
  caseId: z.string(),
  clinicId: z.string(),
  protocolId: z.string(),
  recordedAt: z.string(),
  facts: jsonText(parsedJson),
  decision: jsonText(parsedJson),
});
export type FactsSnapshot = z.output<typeof FactsSnapshotSchema>;

export interface ListSnapshotsOptions {
  clinicId: string;
  protocolId: string;
  limit?: number;
  /** Only snapshots recorded at or after this instant. */
  from?: string;
  /** Only snapshots recorded strictly before this instant. */
  before?: string;
  /** The last row of the previous page: only rows that sort after it (older, or same instant and smaller caseId). */
  olderThan?: { recordedAt: string; caseId: string };
}

const ListBoundsSchema = z.strictObject({
  from: isoUtc.optional(),
  before: isoUtc.optional(),
  olderThan: z.strictObject({ recordedAt: isoUtc, caseId: z.string() }).optional(),
});

export interface SnapshotRepo {
  /**
   * Records (or replaces: the latest evaluation of a case wins) the facts and decision of one case; with `audits`,
   * those rows are appended (chained in order, once per idempotency key) in the same transaction.
   */
  put(input: PutSnapshotInput, audits?: readonly AuditInput[]): Promise<void>;
  /**
   * Newest first; `limit` 1–5000, default 500. Optional: `from` (inclusive) and `before` (exclusive) bound
   * `recordedAt` (ISO instants); `olderThan` continues a listing after its last row (keyset paging).
   */
  list(opts: ListSnapshotsOptions): Promise<FactsSnapshot[]>;
  /** How many snapshots `list` would page through with these bounds (no `limit`, no `olderThan`). */
  count(opts: Omit<ListSnapshotsOptions, 'limit' | 'olderThan'>): Promise<number>;
}

/** Facts snapshots, the input for simulating a protocol change against past requests. */
export function createSnapshotRepo({ kysely }: Db): SnapshotRepo {
  return {
    async put(input, audits = []) {
      const s = parseInput(PutSnapshotSchema, input, 'facts snapshot');
      const values = {
        ...s,
        recordedAt: s.recordedAt ?? nowIso(),
        facts: toJsonText(s.facts),
        decision: toJsonText(s.decision),
      };
      const write = (db: Kysely<Database>) =>
        db
          .insertInto('facts_snapshots')
          .values(values)
          .onConflict((oc) => oc.column('caseId').doUpdateSet(values))
          .execute();
      if (audits.length === 0) {
        await write(kysely);
        return;
      }
      // The snapshot's write comes first: on SQLite it takes the write lock, so the audit chain's head read after it
      // cannot go stale (as in a case step's transaction).
      await kysely.transaction().execute(async (trx) => {
        await write(trx);
        await insertAudits(trx, audits);
      });
    },
    async list({ clinicId, protocolId, limit, ...bounds }) {
      const n = parseInput(z.number().int().min(1).max(5000).default(500), limit, 'limit');
      const { from, before, olderThan } = parseInput(ListBoundsSchema, bounds, 'snapshot list bounds');
      let query = kysely
        .selectFrom('facts_snapshots')
        .selectAll()
        .where('clinicId', '=', clinicId)
        .where('protocolId', '=', protocolId);
      if (from !== undefined) query = query.where('recordedAt', '>=', from);
      if (before !== undefined) query = query.where('recordedAt', '<', before);
      if (olderThan !== undefined) {
        query = query.where((eb) =>
          eb.or([
            eb('recordedAt', '<', olderThan.recordedAt),
            eb.and([eb('recordedAt', '=', olderThan.recordedAt), eb('caseId', '<', olderThan.caseId)]),
          ]),
        );
      }
      const rows = await query.orderBy('recordedAt', 'desc').orderBy('caseId', 'desc').limit(n).execute();
      return rows.map((r) => FactsSnapshotSchema.parse(r));
    },
    async count({ clinicId, protocolId, ...bounds }) {
      const { from, before } = parseInput(ListBoundsSchema, bounds, 'snapshot count bounds');
      let query = kysely
        .selectFrom('facts_snapshots')
        .select((eb) => eb.fn.countAll<number | string>().as('n'))
        .where('clinicId', '=', clinicId)
        .where('protocolId', '=', protocolId);
      if (from !== undefined) query = query.where('recordedAt', '>=', from);
      if (before !== undefined) query = query.where('recordedAt', '<', before);
      return Number((await query.executeTakeFirstOrThrow()).n);
    },
  };
}
