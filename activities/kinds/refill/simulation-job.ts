// The activities of an asynchronous protocol simulation (workflows/simulation.ts): read the clinic's recorded cases
// one page at a time, evaluate them with the compiled evaluator, and store running totals and the changed cases in the
// app database, where any API replica reads the job's progress and its paged result.
import type { Store } from '../../../connectors/db/index.ts';
import type { CompiledProtocol } from '../../../rules/kinds/refill/compile.ts';
import { addToTally, compileForSimulation, tallyFrom } from '../../../rules/kinds/refill/simulate-compiled.ts';
import { simulateRecordedPage } from '../../../rules/kinds/refill/simulate-recorded.ts';
import { RECORDED_PAGE } from '../../../rules/engine/simulate-kind.ts';
import { AppError } from '../../../rules/index.ts';
import { parseProtocol } from '../../../rules/kinds/refill/protocol.ts';

/** Changed cases stored per job; beyond it they are counted (`changedTotal`) but not kept. */
export const MAX_STORED_CHANGED = 10_000;

export interface SimulationPageInput {
  jobId: string;
  /** The page to apply (0-based): equal to the pages the job has applied so far. */
  page: number;
}

export interface SimulationPageResult {
  /** Pages applied after this call. */
  pages: number;
  /** Nothing left to read (or the job is no longer running). */
  exhausted: boolean;
}

/** Compiled protocols of the jobs this worker is running (a job's definition never changes): compile once per job. */
const compiled = new Map<string, CompiledProtocol>();
function evaluatorFor(jobId: string, definition: unknown): CompiledProtocol {
  let evaluate = compiled.get(jobId);
  if (!evaluate) {
    if (compiled.size >= 16) compiled.clear();
    evaluate = compileForSimulation(parseProtocol(definition)); // PROTOCOL_INVALID: not retried
    compiled.set(jobId, evaluate);
  }
  return evaluate;
}

/**
 * Reads, evaluates and records the next page of a job's recorded cases. Idempotent: a page the job has already
 * applied (a retried attempt) changes nothing and answers where the job stands.
 *
 * @throws AppError `NOT_FOUND` (no such job), `PROTOCOL_INVALID` (the stored definition no longer compiles).
 */
export async function simulationPage(
  { store }: { store: Store },
  input: SimulationPageInput,
): Promise<SimulationPageResult> {
  const job = await store.simulations.get(input.jobId);
  if (!job) throw new AppError('NOT_FOUND', 'No such simulation job', { context: { jobId: input.jobId } });
  if (job.status !== 'running' || job.exhausted || job.pages !== input.page) {
    return { pages: job.pages, exhausted: job.status !== 'running' || job.exhausted };
  }
  const range = {
    clinicId: job.clinicId,
    protocolId: job.protocolId,
    ...(job.rangeFrom !== null && { from: job.rangeFrom }),
    ...(job.rangeBefore !== null && { before: job.rangeBefore }),
  };
  if (job.total === null) {
    const count = await store.snapshots.count(range);
    await store.simulations.setTotal(job.id, job.caseLimit === null ? count : Math.min(count, job.caseLimit));
  }
  const evaluate = evaluatorFor(job.id, job.definition);
  const read = job.evaluated + job.skipped;
  const want = Math.min(RECORDED_PAGE, job.caseLimit === null ? RECORDED_PAGE : job.caseLimit - read);
  const cursor =
    job.cursorRecordedAt !== null && job.cursorCaseId !== null
      ? { recordedAt: job.cursorRecordedAt, caseId: job.cursorCaseId }
      : undefined;
  const step = await simulateRecordedPage(store.snapshots, evaluate, range, want, cursor);
  const tally = addToTally(
    tallyFrom({ evaluated: job.evaluated, before: job.countsBefore, after: job.countsAfter }),
    step.result,
  );
  const exhausted = want <= 0 || step.last || (job.caseLimit !== null && read + step.read >= job.caseLimit);
  await store.simulations.applyPage(job.id, input.page, {
    evaluated: tally.evaluated,
    skipped: job.skipped + step.skipped,
    countsBefore: tally.before,
    countsAfter: tally.after,
    cursor: step.next ?? null,
    exhausted,
    changed: step.result.changed,
    maxStored: MAX_STORED_CHANGED,
  });
  const now = await store.simulations.get(job.id);
  return { pages: now?.pages ?? input.page + 1, exhausted: now ? now.exhausted || now.status !== 'running' : true };
}

/** Marks the job done and audits the simulation as the admin who asked for it (once, whatever the retries). */
export async function finishSimulation(
  { store }: { store: Store },
  input: { jobId: string },
): Promise<{ evaluated: number; changedTotal: number }> {
  const job = await store.simulations.finish(input.jobId);
  if (!job) throw new AppError('NOT_FOUND', 'No such simulation job', { context: { jobId: input.jobId } });
  compiled.delete(job.id);
  if (job.status !== 'done') return { evaluated: job.evaluated, changedTotal: job.changedTotal }; // failed meanwhile
  await store.audit.appendAudit({
    actorType: 'user',
    actorId: job.requestedBy,
    actorRole: job.requestedRole,
    action: 'protocol.simulated',
    protocolId: job.protocolId,
    protocolVersion: job.protocolVersion,
    clinicId: job.clinicId,
    requestId: job.requestId,
    idempotencyKey: `${job.id}:simulated`,
    detail: {
      jobId: job.id,
      evaluated: job.evaluated,
      changed: job.changedTotal,
      input: 'recorded',
      from: job.rangeFrom,
      before: job.rangeBefore,
    },
  });
  return { evaluated: job.evaluated, changedTotal: job.changedTotal };
}

/** Why a job failed, in words an admin can act on (no case data: codes only). */
const FAILURE_TEXT: Record<string, string> = {
  PROTOCOL_INVALID: 'The protocol version no longer validates',
  NOT_FOUND: 'The job or its data disappeared',
};

/** Marks the job failed with a PHI-free code and sentence. */
export async function failSimulation(
  { store }: { store: Store },
  input: { jobId: string; code: string },
): Promise<void> {
  compiled.delete(input.jobId);
  await store.simulations.fail(input.jobId, {
    code: input.code,
    message: FAILURE_TEXT[input.code] ?? 'Simulation failed',
  });
}
