import { z } from 'zod';
import { AppError } from '../../rules/index.ts';
import { dbBool, jsonText, needsRowLock, nowIso, toDbBool, toJsonText } from './dialect.ts';
import type { Db } from './open.ts';

const Counts = z.record(z.string(), z.number());

const SimulationJobRowSchema = z.object({
  id: z.string(),
  requestedBy: z.string(),
  requestedRole: z.string(),
  clinicId: z.string(),
  protocolId: z.string(),
  protocolVersion: z.number().int(),
  definition: jsonText(z.unknown()),
  rangeFrom: z.string().nullable(),
  rangeBefore: z.string().nullable(),
  caseLimit: z.number().int().nullable(),
  status: z.enum(['running', 'done', 'failed']),
  total: z.number().int().nullable(),
  evaluated: z.number().int(),
  skipped: z.number().int(),
  pages: z.number().int(),
  exhausted: dbBool,
  cursorRecordedAt: z.string().nullable(),
  cursorCaseId: z.string().nullable(),
  countsBefore: jsonText(Counts),
  countsAfter: jsonText(Counts),
  changedTotal: z.number().int(),
  changedStored: z.number().int(),
  errorCode: z.string().nullable(),
  errorMessage: z.string().nullable(),
  requestId: z.string().nullable(),
  createdAt: z.string(),
  updatedAt: z.string(),
  finishedAt: z.string().nullable(),
});
export type SimulationJobRecord = z.output<typeof SimulationJobRowSchema>;

export interface CreateSimulationJobInput {
  id: string;
  requestedBy: string;
  requestedRole: string;
  clinicId: string;
  protocolId: string;
  protocolVersion: number;
  definition: unknown;
  rangeFrom: string | null;
  rangeBefore: string | null;
  caseLimit: number | null;
  requestId: string | null;
}

/** One page's effect on a job: running totals after the page, where reading continues, and the cases it changed. */
export interface SimulationPageUpdate {
  evaluated: number;
  skipped: number;
  countsBefore: Record<string, number>;
  countsAfter: Record<string, number>;
  cursor: { recordedAt: string; caseId: string } | null;
  exhausted: boolean;
  /** Changed cases of this page (JSON-able, PHI-free); stored while the job holds fewer than `maxStored`. */
  changed: unknown[];
  maxStored: number;
}

export interface SimulationJobRepo {
  create(input: CreateSimulationJobInput): Promise<void>;
  get(id: string): Promise<SimulationJobRecord | undefined>;
  /** Running jobs of one requester whose last progress is at or after `activeSince` (older ones are presumed dead). */
  countRunning(requestedBy: string, activeSince: string): Promise<number>;
  /** Deletes a job that was refused before its workflow started (and its changed rows). */
  remove(id: string): Promise<void>;
  setTotal(id: string, total: number): Promise<void>;
  /**
   * Applies page number `page` (0-based) in one transaction, only if it is the next one: a retried activity whose
   * first attempt already applied it changes nothing. Returns whether it was applied.
   */
  applyPage(id: string, page: number, update: SimulationPageUpdate): Promise<boolean>;
  finish(id: string): Promise<SimulationJobRecord | undefined>;
  fail(id: string, error: { code: string; message: string }): Promise<void>;
  /** Stored changed cases after `afterSeq`, in order, at most `limit`. */
  listChanged(id: string, afterSeq: number, limit: number): Promise<{ seq: number; detail: unknown }[]>;
}

/** Simulation jobs: their progress and results live here so that any API replica can answer for any job. */
export function createSimulationJobRepo({ kysely, dialect }: Db): SimulationJobRepo {
  const lock = needsRowLock(dialect);
  return {
    async create(input) {
      const now = nowIso();
      await kysely
        .insertInto('simulation_jobs')
        .values({
          ...input,
          definition: toJsonText(input.definition),
          status: 'running',
          total: null,
          evaluated: 0,
          skipped: 0,
          pages: 0,
          exhausted: 0,
          cursorRecordedAt: null,
          cursorCaseId: null,
          countsBefore: '{}',
          countsAfter: '{}',
          changedTotal: 0,
          changedStored: 0,
          errorCode: null,
          errorMessage: null,
          createdAt: now,
          updatedAt: now,
          finishedAt: null,
        })
        .execute();
    },
    async get(id) {
      const row = await kysely.selectFrom('simulation_jobs').selectAll().where('id', '=', id).executeTakeFirst();
      return row ? SimulationJobRowSchema.parse(row) : undefined;
    },
    async countRunning(requestedBy, activeSince) {
      const row = await kysely
        .selectFrom('simulation_jobs')
        .select((eb) => eb.fn.countAll<number | string>().as('n'))
        .where('requestedBy', '=', requestedBy)
        .where('status', '=', 'running')
        .where('updatedAt', '>=', activeSince)
        .executeTakeFirstOrThrow();
      return Number(row.n);
    },
    async remove(id) {
      await kysely.transaction().execute(async (trx) => {
        await trx.deleteFrom('simulation_changed').where('jobId', '=', id).execute();
        await trx.deleteFrom('simulation_jobs').where('id', '=', id).execute();
      });
    },
    async setTotal(id, total) {
      await kysely
        .updateTable('simulation_jobs')
        .set({ total, updatedAt: nowIso() })
        .where('id', '=', id)
        .where('total', 'is', null)
        .execute();
    },
    async applyPage(id, page, u) {
      return kysely.transaction().execute(async (trx) => {
        const job = await trx
          .selectFrom('simulation_jobs')
          .select(['pages', 'status', 'changedTotal', 'changedStored'])
          .where('id', '=', id)
          .$if(lock, (q) => q.forUpdate())
          .executeTakeFirst();
        if (!job) throw new AppError('NOT_FOUND', 'No such simulation job', { context: { jobId: id } });
        if (job.pages !== page || job.status !== 'running') return false;
        const room = Math.max(0, u.maxStored - job.changedStored);
        const stored = u.changed.slice(0, room);
        if (stored.length) {
          await trx
            .insertInto('simulation_changed')
            .values(stored.map((c, i) => ({ jobId: id, seq: job.changedStored + i + 1, detail: toJsonText(c) })))
            .execute();
        }
        await trx
          .updateTable('simulation_jobs')
          .set({
            pages: page + 1,
            evaluated: u.evaluated,
            skipped: u.skipped,
            countsBefore: toJsonText(u.countsBefore),
            countsAfter: toJsonText(u.countsAfter),
            cursorRecordedAt: u.cursor?.recordedAt ?? null,
            cursorCaseId: u.cursor?.caseId ?? null,
            exhausted: toDbBool(u.exhausted),
            changedTotal: job.changedTotal + u.changed.length,
            changedStored: job.changedStored + stored.length,
            updatedAt: nowIso(),
          })
          .where('id', '=', id)
          .execute();
        return true;
      });
    },
    async finish(id) {
      const now = nowIso();
      await kysely
        .updateTable('simulation_jobs')
        .set({ status: 'done', finishedAt: now, updatedAt: now })
        .where('id', '=', id)
        .where('status', '=', 'running')
        .execute();
      return this.get(id);
    },
    async fail(id, error) {
      const now = nowIso();
      await kysely
        .updateTable('simulation_jobs')
        .set({ status: 'failed', errorCode: error.code, errorMessage: error.message, finishedAt: now, updatedAt: now })
        .where('id', '=', id)
        .where('status', '=', 'running')
        .execute();
    },
    async listChanged(id, afterSeq, limit) {
      const rows = await kysely
        .selectFrom('simulation_changed')
        .select(['seq', 'detail'])
        .where('jobId', '=', id)
        .where('seq', '>', afterSeq)
        .orderBy('seq')
        .limit(limit)
        .execute();
      return rows.map((r) => ({ seq: Number(r.seq), detail: JSON.parse(r.detail) as unknown }));
    },
  };
}
