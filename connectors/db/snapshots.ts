import { z } from 'zod';
import { isoUtc, jsonText, nowIso, parseInput, toJsonText } from './dialect.ts';
import type { Db } from './open.ts';

const PutSnapshotSchema = z.strictObject({
  caseId: z.string().min(1),
  clinicId: z.string().min(1),
  protocolId: z.string().min(1),
  recordedAt: isoUtc.optional(),
  /** The facts the rules saw: PHI-minimised by construction (rules/ owns the schema). */
  facts: z.json(),
  decision: z.json(),
});
export type PutSnapshotInput = z.input<typeof PutSnapshotSchema>;

export const FactsSnapshotSchema = z.object({
  caseId: z.string(),
  clinicId: z.string(),
  protocolId: z.string(),
  recordedAt: z.string(),
  facts: jsonText(z.json()),
  decision: jsonText(z.json()),
});
export type FactsSnapshot = z.output<typeof FactsSnapshotSchema>;

export interface SnapshotRepo {
  /** Records (or replaces: the latest evaluation of a case wins) the facts and decision of one case. */
  put(input: PutSnapshotInput): Promise<void>;
  /** Newest first; `limit` 1–5000, default 500. */
  list(opts: { clinicId: string; protocolId: string; limit?: number }): Promise<FactsSnapshot[]>;
}

/** Facts snapshots, the input for simulating a protocol change against past requests. */
export function createSnapshotRepo({ kysely }: Db): SnapshotRepo {
  return {
    async put(input) {
      const s = parseInput(PutSnapshotSchema, input, 'facts snapshot');
      const values = {
        ...s,
        recordedAt: s.recordedAt ?? nowIso(),
        facts: toJsonText(s.facts),
        decision: toJsonText(s.decision),
      };
      await kysely
        .insertInto('facts_snapshots')
        .values(values)
        .onConflict((oc) => oc.column('caseId').doUpdateSet(values))
        .execute();
    },
    async list({ clinicId, protocolId, limit }) {
      const n = parseInput(z.number().int().min(1).max(5000).default(500), limit, 'limit');
      const rows = await kysely
        .selectFrom('facts_snapshots')
        .selectAll()
        .where('clinicId', '=', clinicId)
        .where('protocolId', '=', protocolId)
        .orderBy('recordedAt', 'desc')
        .orderBy('caseId', 'desc')
        .limit(n)
        .execute();
      return rows.map((r) => FactsSnapshotSchema.parse(r));
    },
  };
}
