import {
  ActivityFailure,
  ApplicationFailure,
  continueAsNew,
  proxyActivities,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities/index.ts';

export interface SimulationJobInput {
  /** `sim_<uuid>`: the workflow id and the app database's job id; never patient data. */
  jobId: string;
  /** Pages already applied (set when the job continues as new). */
  page?: number;
}

export interface SimulationJobResult {
  jobId: string;
  status: 'done' | 'failed';
}

/** Pages per workflow run before continuing as new, so a very long job keeps a short history. */
const PAGES_PER_RUN = 500;

/**
 * An asynchronous protocol simulation: the API has recorded the job (clinic, protocol version and its definition,
 * range, limit) in the app database; this workflow drives it page by page until every recorded case is evaluated,
 * then marks it done (audited). Progress and results live in the database, so any API replica answers for the job and
 * it survives the replica and the worker that started it. A failure marks the job failed with a code.
 */
export async function simulationJob(input: SimulationJobInput): Promise<SimulationJobResult> {
  const acts = proxyActivities<Activities>({
    startToCloseTimeout: '2 minutes',
    retry: {
      initialInterval: '1 second',
      maximumInterval: '30 seconds',
      maximumAttempts: 10,
      nonRetryableErrorTypes: ['NOT_FOUND', 'PROTOCOL_INVALID', 'INVALID_INPUT'],
    },
  });
  const first = input.page ?? 0;
  let page = first;
  let more = false;
  try {
    for (;;) {
      const r = await acts.simulationPage({ jobId: input.jobId, page });
      page = r.pages;
      if (r.exhausted) break;
      if (page - first >= PAGES_PER_RUN || workflowInfo().continueAsNewSuggested) {
        more = true;
        break;
      }
    }
    if (!more) await acts.finishSimulation({ jobId: input.jobId });
  } catch (err) {
    const cause = err instanceof ActivityFailure ? err.cause : err;
    const code = cause instanceof ApplicationFailure && cause.type ? cause.type : 'INTERNAL';
    await acts.failSimulation({ jobId: input.jobId, code });
    return { jobId: input.jobId, status: 'failed' };
  }
  if (more) return continueAsNew<typeof simulationJob>({ jobId: input.jobId, page });
  return { jobId: input.jobId, status: 'done' };
}
