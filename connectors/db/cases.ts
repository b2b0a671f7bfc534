import type { Kysely, Updateable } from 'kysely';
import { z } from 'zod';
import { AppError } from '../../rules/index.ts';
import { CaseStatusSchema, QueueSchema } from '../../rules/schema/case.ts';
import {
  dbBool,
  isoUtc,
  jsonRecord,
  jsonText,
  jsonValue,
  mapDbErrors,
  nowIso,
  parsedJson,
  parsedJsonRecord,
  parseInput,
  toDbBool,
  toJsonText,
  type DialectName,
} from './dialect.ts';
import { applyStanding, standingOf, type Standing } from './analytics-rollup.ts';
import { insertAudits, type AuditInput } from './audit.ts';
import type { Db } from './open.ts';
import type { CasesTable, Database, QueueName } from './schema.ts';

const Label = z.string().min(1).max(100);

/**
 * One projection of a case, written by the webhook (status `received`) and then by workflow activities. Identity
 * fields are required and set only on insert, except `patientId`, which is null until the patient context has been
 * read and is then filled in; every other field is optional: omitted leaves the stored value, null clears it.
 */
export const CaseProjectionSchema = z.strictObject({
  id: z.string().min(1),
  /** The protocol kind; set on insert only (absent: the column's default, the kind of cases from before kinds). */
  kind: z
    .string()
    .regex(/^[a-z][a-z0-9-]{0,39}$/)
    .optional(),
  clinicId: z.string().min(1),
  requestId: z.string().min(1),
  /** FHIR id of the patient; unknown (null) until the patient context has been read. */
  patientId: z.string().min(1).nullable(),
  /** The refill request of a refill case; null for a case about a patient. */
  medicationRequestId: z.string().min(1).nullable(),
  status: CaseStatusSchema,
  drugName: z.string().max(500).nullable().optional(),
  disposition: Label.nullable().optional(),
  queue: QueueSchema.nullable().optional(),
  pool: Label.nullable().optional(),
  reason: Label.nullable().optional(),
  protocolId: z.string().nullable().optional(),
  protocolVersion: z.number().int().positive().nullable().optional(),
  decision: jsonValue.nullable().optional(),
  outcome: Label.nullable().optional(),
  slaDueAt: isoUtc.nullable().optional(),
  escalated: z.boolean().optional(),
  closedAt: isoUtc.nullable().optional(),
  clause: Label.nullable().optional(),
  priority: z.enum(['routine', 'urgent']).nullable().optional(),
  nextDueDate: z.iso.date().nullable().optional(),
  dueAt: isoUtc.nullable().optional(),
  /** When this projection was made (pass the workflow's time); becomes updatedAt, and createdAt on first insert. */
  at: isoUtc.optional(),
});
export type CaseProjection = z.input<typeof CaseProjectionSchema>;

export const CaseSchema = z.object({
  id: z.string(),
  kind: z.string(),
  clinicId: z.string(),
  requestId: z.string(),
  patientId: z.string().nullable(),
  medicationRequestId: z.string().nullable(),
  drugName: z.string().nullable(),
  status: CaseStatusSchema,
  disposition: z.string().nullable(),
  queue: QueueSchema.nullable(),
  pool: z.string().nullable(),
  reason: z.string().nullable(),
  protocolId: z.string().nullable(),
  protocolVersion: z.number().int().nullable(),
  decision: jsonText(parsedJson).nullable(),
  outcome: z.string().nullable(),
  slaDueAt: z.string().nullable(),
  escalated: dbBool,
  createdAt: z.string(),
  updatedAt: z.string(),
  closedAt: z.string().nullable(),
  seq: z.number().int(),
  clause: z.string().nullable(),
  priority: z.string().nullable(),
  nextDueDate: z.string().nullable(),
  dueAt: z.string().nullable(),
});
export type CaseRecord = z.output<typeof CaseSchema>;

const CaseEventInputSchema = z.strictObject({
  caseId: z.string().min(1),
  seq: z.number().int().nonnegative(),
  at: isoUtc,
  kind: Label,
  /** Who acted: 'system', 'ehr', or a user id. */
  actor: z.string().min(1),
  /** PHI-free JSON: ids, codes, counts. */
  detail: jsonRecord.default({}),
});
export type CaseEventInput = z.input<typeof CaseEventInputSchema>;

export const CaseEventSchema = z.object({
  caseId: z.string(),
  seq: z.number().int(),
  at: z.string(),
  kind: z.string(),
  actor: z.string(),
  detail: jsonText(parsedJsonRecord),
});
export type CaseEvent = z.output<typeof CaseEventSchema>;

export interface ListQueueOptions {
  queue: QueueName;
  clinicId?: string;
  pool?: string;
  /** Default 'queued' (open work). */
  status?: z.input<typeof CaseStatusSchema>;
  /** 1–500, default 50. */
  limit?: number;
  /** `nextCursor` of the previous page. */
  cursor?: string | null;
}

/**
 * One lifecycle step of a case: its projection, its timeline event and (when the step records one) its audit row,
 * written together or not at all.
 */
export interface CaseStep {
  projection: CaseProjection;
  seq: number;
  event: Omit<CaseEventInput, 'caseId' | 'seq'>;
  audit: AuditInput | null;
  /** Audit rows written before the step's own, in its transaction (what came with the step: its EHR writes). */
  auditsBefore?: readonly AuditInput[];
}

export interface CaseRepo {
  /**
   * Writes a step in ONE transaction: the projection (monotonic by `seq`), the timeline event (once per seq) and the
   * audit row (once per idempotency key), and what the case adds to its clinic's analytics rollup. A retried step
   * rewrites nothing; a failed one leaves nothing half-written.
   */
  recordStep(step: CaseStep): Promise<{ applied: boolean; eventCreated: boolean }>;
  /**
   * Applies a projection if `seq` is newer than the stored one (or the case is new). Activities run at least once
   * and may be retried or reordered; a stale or repeated projection is a no-op (`applied: false`). Keeps the analytics
   * rollup as recordStep does.
   */
  upsertCaseProjection(patch: CaseProjection, seq: number): Promise<{ applied: boolean }>;
  getCase(id: string): Promise<CaseRecord | null>;
  /**
   * The patient's open case of `kind` at the clinic (not closed or failed; the most recently updated if there are
   * several), or null. Uses the (clinicId, patientId) index.
   */
  openCaseForPatient(clinicId: string, kind: string, patientId: string): Promise<CaseRecord | null>;
  /** Oldest first by (createdAt, id), keyset-paginated: stable while cases are added or leave the queue. */
  listQueue(opts: ListQueueOptions): Promise<{ items: CaseRecord[]; nextCursor: string | null }>;
  /**
   * A patient's cases at one clinic, open ones first, then newest first; at most `limit` (1–200) and whether more
   * exist. Uses the (clinicId, patientId) index.
   */
  listByPatient(opts: { clinicId: string; patientId: string; limit: number }): Promise<{
    items: CaseRecord[];
    more: boolean;
  }>;
  /** Open ('queued') cases per queue. */
  countQueues(opts?: { clinicId?: string }): Promise<Record<QueueName, number>>;
  /** Appends a timeline event; a repeat of the same (caseId, seq) is a no-op (`created: false`). */
  appendCaseEvent(event: CaseEventInput): Promise<{ created: boolean }>;
  /** The case's timeline in seq order. */
  listCaseEvents(caseId: string): Promise<CaseEvent[]>;
}

/**
 * A keyset cursor: `<base64url createdAt>.<base64url id>`. Every string of that shape decodes (to a position that may
 * match no case: the next page is then empty), so the API can declare exactly which cursors it accepts.
 */
const CURSOR = /^([A-Za-z0-9_-]{1,400})\.([A-Za-z0-9_-]{1,400})$/;

function encodeCursor(c: CaseRecord): string {
  const part = (s: string) => Buffer.from(s, 'utf8').toString('base64url');
  return `${part(c.createdAt)}.${part(c.id)}`;
}

function decodeCursor(cursor: string): [string, string] {
  const m = CURSOR.exec(cursor);
  if (!m) throw new AppError('INVALID_INPUT', 'Invalid cursor');
  const part = (s: string) => Buffer.from(s, 'base64url').toString('utf8');
  return [part(m[1]!), part(m[2]!)];
}

/** The case projection that serves the queues, and each case's timeline. */
export function createCaseRepo({ kysely, dialect }: Db): CaseRepo {
  return {
    async upsertCaseProjection(patch, seq) {
      const { id } = parseInput(CaseProjectionSchema, patch, 'case projection');
      return kysely.transaction().execute(async (trx) => {
        const { before, applied } = await projectKeepingRollup(trx, dialect, patch, seq);
        if (applied && (before?.closed === true || patch.status === 'closed')) {
          await applyStanding(trx, dialect, before, await standingOf(trx, dialect, id));
        }
        return { applied };
      });
    },

    async recordStep(step) {
      const event = parseInput(
        CaseEventInputSchema,
        { ...step.event, caseId: step.projection.id, seq: step.seq },
        'case event',
      );
      return mapDbErrors('case', () =>
        kysely.transaction().execute(async (trx) => {
          // The event first: on SQLite a write statement takes the database's write lock, so the case read below
          // (what it adds to the analytics rollup before the step) cannot go stale before the step writes.
          const { created } = await insertEvent(trx, event);
          const { before, applied } = await projectKeepingRollup(trx, dialect, step.projection, step.seq);
          // The writes' rows, then the step's own, chained in one call (the chain's head read once).
          const rows = [...(step.auditsBefore ?? []), ...(step.audit ? [step.audit] : [])];
          const written = rows.length > 0 ? await insertAudits(trx, rows) : [];
          const audited = step.audit ? written.at(-1)!.created : false;
          // Only a closed case adds to the rollup: nothing moves unless it was closed or this step closed it.
          const closes = applied && step.projection.status === 'closed';
          if ((applied || audited) && (before?.closed === true || closes)) {
            await applyStanding(trx, dialect, before, await standingOf(trx, dialect, step.projection.id));
          }
          return { applied, eventCreated: created };
        }),
      );
    },

    async getCase(id) {
      const row = await kysely.selectFrom('cases').selectAll().where('id', '=', id).executeTakeFirst();
      return row === undefined ? null : CaseSchema.parse(row);
    },

    async openCaseForPatient(clinicId, kind, patientId) {
      const row = await kysely
        .selectFrom('cases')
        .selectAll()
        .where('clinicId', '=', clinicId)
        .where('patientId', '=', patientId)
        .where('kind', '=', kind)
        .where('status', 'not in', ['closed', 'failed'])
        .orderBy('updatedAt', 'desc')
        .orderBy('id')
        .limit(1)
        .executeTakeFirst();
      return row === undefined ? null : CaseSchema.parse(row);
    },

    async listQueue(opts) {
      const limit = parseInput(z.number().int().min(1).max(500).default(50), opts.limit, 'limit');
      const queue = parseInput(QueueSchema, opts.queue, 'queue');
      const status = parseInput(CaseStatusSchema.default('queued'), opts.status, 'status');
      const after = opts.cursor == null ? undefined : decodeCursor(opts.cursor);
      const { clinicId, pool } = opts;
      const rows = await kysely
        .selectFrom('cases')
        .selectAll()
        .where('queue', '=', queue)
        .where('status', '=', status)
        .$if(clinicId !== undefined, (q) => q.where('clinicId', '=', clinicId ?? ''))
        .$if(pool !== undefined, (q) => q.where('pool', '=', pool ?? ''))
        .$if(after !== undefined, (q) =>
          q.where((eb) => eb(eb.refTuple('createdAt', 'id'), '>', eb.tuple(after?.[0] ?? '', after?.[1] ?? ''))),
        )
        .orderBy('createdAt')
        .orderBy('id')
        .limit(limit + 1)
        .execute();
      const items = rows.slice(0, limit).map((r) => CaseSchema.parse(r));
      const last = items.at(-1);
      return { items, nextCursor: rows.length > limit && last !== undefined ? encodeCursor(last) : null };
    },

    async listByPatient(opts) {
      const limit = parseInput(z.number().int().min(1).max(200), opts.limit, 'limit');
      const rows = await kysely
        .selectFrom('cases')
        .selectAll()
        .where('clinicId', '=', opts.clinicId)
        .where('patientId', '=', opts.patientId)
        .orderBy((eb) => eb.case().when('status', '=', 'closed').then(1).else(0).end())
        .orderBy('createdAt', 'desc')
        .orderBy('id')
        .limit(limit + 1)
        .execute();
      return { items: rows.slice(0, limit).map((r) => CaseSchema.parse(r)), more: rows.length > limit };
    },

    async countQueues(opts = {}) {
      const { clinicId } = opts;
      const rows = await kysely
        .selectFrom('cases')
        .select((eb) => ['queue', eb.fn.countAll<number | string>().as('n')])
        .where('status', '=', 'queued')
        .where('queue', 'is not', null)
        .$if(clinicId !== undefined, (q) => q.where('clinicId', '=', clinicId ?? ''))
        .groupBy('queue')
        .execute();
      const counts: Record<QueueName, number> = { signature: 0, nurse: 0, doctor: 0, outreach: 0, cosign: 0 };
      for (const r of rows) if (r.queue !== null) counts[r.queue] = Number(r.n);
      return counts;
    },

    async appendCaseEvent(event) {
      return insertEvent(kysely, parseInput(CaseEventInputSchema, event, 'case event'));
    },

    async listCaseEvents(caseId) {
      const rows = await kysely
        .selectFrom('case_events')
        .selectAll()
        .where('caseId', '=', caseId)
        .orderBy('seq')
        .execute();
      return rows.map((r) => CaseEventSchema.parse(r));
    },
  };
}

/**
 * Applies a projection inside a step's transaction, and tells what the case added to the analytics rollup before it
 * (null: nothing, the case was not closed). The common step costs no read: the projection applies unless the stored
 * case is closed; only then (or when the step is stale) is the case read, and the projection applied after.
 */
async function projectKeepingRollup(
  trx: Kysely<Database>,
  dialect: DialectName,
  patch: CaseProjection,
  seq: number,
): Promise<{ before: Standing | null; applied: boolean }> {
  const first = await upsertProjection(trx, patch, seq, { unlessClosed: true });
  if (first.applied) return { before: null, applied: true };
  const before = await standingOf(trx, dialect, patch.id);
  if (before?.closed !== true) return { before, applied: false };
  return { before, ...(await upsertProjection(trx, patch, seq)) };
}

/** Applies a projection through `kysely` (the database or an open transaction); see CaseRepo.upsertCaseProjection. */
async function upsertProjection(
  kysely: Kysely<Database>,
  patch: CaseProjection,
  seq: number,
  opts: { unlessClosed?: boolean } = {},
): Promise<{ applied: boolean }> {
  const p = parseInput(CaseProjectionSchema, patch, 'case projection');
  const s = parseInput(z.number().int().nonnegative(), seq, 'seq');
  const at = p.at ?? nowIso();
  const update: Updateable<CasesTable> = {
    status: p.status,
    ...(p.patientId !== null && { patientId: p.patientId }),
    ...(p.drugName !== undefined && { drugName: p.drugName }),
    ...(p.disposition !== undefined && { disposition: p.disposition }),
    ...(p.queue !== undefined && { queue: p.queue }),
    ...(p.pool !== undefined && { pool: p.pool }),
    ...(p.reason !== undefined && { reason: p.reason }),
    ...(p.protocolId !== undefined && { protocolId: p.protocolId }),
    ...(p.protocolVersion !== undefined && { protocolVersion: p.protocolVersion }),
    ...(p.decision !== undefined && { decision: p.decision === null ? null : toJsonText(p.decision) }),
    ...(p.outcome !== undefined && { outcome: p.outcome }),
    ...(p.slaDueAt !== undefined && { slaDueAt: p.slaDueAt }),
    ...(p.escalated !== undefined && { escalated: toDbBool(p.escalated) }),
    ...(p.closedAt !== undefined && { closedAt: p.closedAt }),
    ...(p.clause !== undefined && { clause: p.clause }),
    ...(p.priority !== undefined && { priority: p.priority }),
    ...(p.nextDueDate !== undefined && { nextDueDate: p.nextDueDate }),
    ...(p.dueAt !== undefined && { dueAt: p.dueAt }),
    updatedAt: at,
    seq: s,
  };
  const row = await mapDbErrors('case', () =>
    kysely
      .insertInto('cases')
      .values({
        id: p.id,
        // Absent: the column's default, the kind of every case from before kinds.
        ...(p.kind !== undefined && { kind: p.kind }),
        clinicId: p.clinicId,
        requestId: p.requestId,
        patientId: p.patientId,
        medicationRequestId: p.medicationRequestId,
        status: p.status,
        drugName: p.drugName ?? null,
        disposition: p.disposition ?? null,
        queue: p.queue ?? null,
        pool: p.pool ?? null,
        reason: p.reason ?? null,
        protocolId: p.protocolId ?? null,
        protocolVersion: p.protocolVersion ?? null,
        decision: p.decision == null ? null : toJsonText(p.decision),
        outcome: p.outcome ?? null,
        slaDueAt: p.slaDueAt ?? null,
        escalated: toDbBool(p.escalated ?? false),
        createdAt: at,
        updatedAt: at,
        closedAt: p.closedAt ?? null,
        seq: s,
        clause: p.clause ?? null,
        priority: p.priority ?? null,
        nextDueDate: p.nextDueDate ?? null,
        dueAt: p.dueAt ?? null,
      })
      // Monotonic: the conditional DO UPDATE leaves newer rows alone and then returns nothing.
      .onConflict((oc) =>
        oc
          .column('id')
          .doUpdateSet(update)
          .where((eb) =>
            opts.unlessClosed === true
              ? eb.and([eb('cases.seq', '<', s), eb('cases.status', '<>', 'closed')])
              : eb('cases.seq', '<', s),
          ),
      )
      .returning('id')
      .executeTakeFirst(),
  );
  return { applied: row !== undefined };
}

async function insertEvent(
  kysely: Kysely<Database>,
  e: z.output<typeof CaseEventInputSchema>,
): Promise<{ created: boolean }> {
  const row = await kysely
    .insertInto('case_events')
    .values({ ...e, detail: toJsonText(e.detail) })
    .onConflict((oc) => oc.columns(['caseId', 'seq']).doNothing())
    .returning('seq')
    .executeTakeFirst();
  return { created: row !== undefined };
}
