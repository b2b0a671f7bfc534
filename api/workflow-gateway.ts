import {
  ApplicationFailure,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  WorkflowUpdateRPCTimeoutOrCancelledError,
  type Client,
} from '@temporalio/client';
import { tsToMs } from '@temporalio/common/lib/time.js';
import proto from '@temporalio/proto';
import { AppError } from '../rules/index.ts';
import type { ClinicianDecision } from '../rules/schema/case.ts';
import {
  getCaseStateQuery,
  submitDecisionUpdate,
  type CaseState,
  type DecisionAck,
} from '../workflows/refill-triage-messages.ts';
import { careGap } from '../workflows/care-gap.ts';
import {
  careGapActionUpdate,
  careGapEventSignal,
  type CareGapActionAck,
  type CareGapActionRequest,
  type CareGapEvent,
  type CareGapInput,
} from '../workflows/care-gap-messages.ts';
import { refillTriage, type RefillTriageInput } from '../workflows/refill-triage.ts';
import { simulationJob, type SimulationJobInput } from '../workflows/simulation.ts';
import { createTriggerGateway, type TriggerGateway } from './trigger-gateway.ts';

/**
 * Our workflows, as the API sees them. The one place in api/ that touches @temporalio/client (with the care-gap
 * triggers' part in trigger-gateway.ts, optional so that test gateways that never trigger need not have it).
 */
export interface WorkflowGateway extends Partial<TriggerGateway> {
  /** Starts (or finds) the refill case; `USE_EXISTING` makes a redelivery a no-op. */
  startRefillTriage(input: RefillTriageInput): Promise<{ caseId: string; runId: string }>;
  /** Sends a clinician decision as an Update and waits, bounded, until it is durable (accepted). */
  submitDecision(caseId: string, decision: ClinicianDecision, opts?: { timeoutMs?: number }): Promise<DecisionAck>;
  getCaseState(caseId: string): Promise<CaseState | null>;
  /**
   * Delivers a care-gap event to the patient's `careGap` workflow, starting it if none runs (signal-with-start: never
   * two per patient). Optional so that gateways of tests that never touch care gaps need not have it.
   */
  signalCareGap?(input: CareGapInput, event: CareGapEvent): Promise<{ caseId: string; runId: string }>;
  /**
   * Sends a clinician's action on a case of a kind with its own actions to the kind's workflow (`workflowType`, from
   * the kind registry) as an Update, and waits, bounded, until it is durable (accepted).
   *
   * @throws AppError `CONFLICT` when the kind's workflow takes no actions (a refill case takes decisions).
   */
  submitKindAction?(
    caseId: string,
    workflowType: string,
    action: CareGapActionRequest,
    opts?: { timeoutMs?: number },
  ): Promise<CareGapActionAck>;
  ping(): Promise<void>;
  /**
   * Starts an asynchronous protocol simulation (workflow `simulationJob`, workflow id = the job id). Optional so that
   * gateways of tests that never simulate need not have it; without it, `async: true` is refused.
   */
  startSimulation?(input: SimulationJobInput): Promise<void>;
  /** Whether a worker polls the task queue (a poller seen in the last 2 minutes). Test fakes may leave it out. */
  workerPolling?(): Promise<boolean>;
}

/** A live worker re-polls at least every ~70 s (Temporal's long-poll timeout): older pollers are gone. */
const POLLER_FRESH_MS = 120_000;

/** gRPC status codes that mean "the server is not there (now)": DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, UNAVAILABLE. */
const UNREACHABLE_CODES = new Set([4, 8, 14]);

/** Maps an unreachable Temporal server to 503 `TEMPORAL_UNAVAILABLE`; everything else passes through. */
function unavailable(err: unknown): never {
  const chain: unknown[] = [err, (err as { cause?: unknown } | undefined)?.cause];
  const unreachable = chain.some((e) => {
    if (!(e instanceof Error)) return false;
    const code = (e as { code?: unknown }).code;
    return (
      (typeof code === 'number' && UNREACHABLE_CODES.has(code)) ||
      /UNAVAILABLE|DEADLINE_EXCEEDED|ECONNREFUSED|Failed to connect|timed out/i.test(e.message)
    );
  });
  if (unreachable) {
    throw new AppError('TEMPORAL_UNAVAILABLE', 'The workflow service is unreachable; retry later', {
      retryable: true,
      cause: err,
    });
  }
  throw err;
}

/**
 * Maps a failed Update to the API's vocabulary: the validator's typed refusal (rules/lifecycle, an ApplicationFailure
 * typed FORBIDDEN or CONFLICT) keeps its type; a timeout is 503 (retry with the same id); a finished case is CONFLICT.
 */
function updateFailure(err: unknown, what: 'decision' | 'action'): never {
  if (err instanceof WorkflowUpdateFailedError) {
    const cause = err.cause;
    const type = cause instanceof ApplicationFailure ? cause.type : undefined;
    const message = cause instanceof Error ? cause.message : '';
    if (type === 'FORBIDDEN' || type === 'CONFLICT') throw new AppError(type, message);
    throw new AppError('REVIEW_REJECTED', message || `The ${what} was rejected`);
  }
  if (err instanceof WorkflowUpdateRPCTimeoutOrCancelledError) {
    throw new AppError('TEMPORAL_UNAVAILABLE', `The ${what} was not confirmed in time; retry with the same ${what}Id`, {
      retryable: true,
    });
  }
  if (err instanceof WorkflowNotFoundError || (err instanceof Error && /completed|not found/i.test(err.message))) {
    throw new AppError('CONFLICT', 'The case is closed');
  }
  return unavailable(err);
}

/** How long the API waits for Temporal to accept a start before answering 503 (the EHR retries). */
const START_DEADLINE_MS = 5_000;

export function createWorkflowGateway(
  client: Client,
  opts: { taskQueue: string; namespace?: string },
): WorkflowGateway {
  return {
    ...createTriggerGateway(client, opts),
    async startRefillTriage(input) {
      try {
        const handle = await client.withDeadline(Date.now() + START_DEADLINE_MS, () =>
          client.workflow.start(refillTriage, {
            taskQueue: opts.taskQueue,
            workflowId: input.caseId,
            args: [input],
            workflowIdConflictPolicy: 'USE_EXISTING',
            // A case closed and purged by retention must not be re-triaged by a late redelivery; the app database's
            // delivery record answers those before we get here.
            workflowIdReusePolicy: 'REJECT_DUPLICATE',
            searchAttributes: { ClinicId: [input.clinicId], CaseStatus: ['triaging'] },
          }),
        );
        return { caseId: handle.workflowId, runId: handle.firstExecutionRunId };
      } catch (err) {
        if (err instanceof Error && err.name === 'WorkflowExecutionAlreadyStartedError') {
          return { caseId: input.caseId, runId: '' };
        }
        return unavailable(err);
      }
    },

    async submitDecision(caseId, decision, { timeoutMs = 10_000 } = {}) {
      const handle = client.workflow.getHandle(caseId);
      try {
        const update = await client.withDeadline(Date.now() + timeoutMs, () =>
          handle.startUpdate(submitDecisionUpdate, {
            args: [decision],
            updateId: decision.decisionId,
            waitForStage: 'ACCEPTED',
          }),
        );
        return await client.withDeadline(Date.now() + timeoutMs, () => update.result());
      } catch (err) {
        return updateFailure(err, 'decision');
      }
    },

    async getCaseState(caseId) {
      try {
        return await client.workflow.getHandle(caseId).query(getCaseStateQuery);
      } catch (err) {
        if (err instanceof WorkflowNotFoundError) return null;
        return unavailable(err);
      }
    },

    async signalCareGap(input, event) {
      try {
        const handle = await client.withDeadline(Date.now() + START_DEADLINE_MS, () =>
          client.workflow.signalWithStart(careGap, {
            taskQueue: opts.taskQueue,
            workflowId: input.caseId,
            args: [input],
            signal: careGapEventSignal,
            signalArgs: [event],
            searchAttributes: { ClinicId: [input.clinicId], ProtocolId: [input.protocolId] },
          }),
        );
        return { caseId: handle.workflowId, runId: handle.signaledRunId };
      } catch (err) {
        return unavailable(err);
      }
    },

    async submitKindAction(caseId, workflowType, action, { timeoutMs = 10_000 } = {}) {
      // The kinds whose workflows take actions, by workflow type, and the Update each takes them with.
      const update = new Map([['careGap', careGapActionUpdate]]).get(workflowType);
      if (!update) throw new AppError('CONFLICT', 'This case takes decisions, not actions');
      const handle = client.workflow.getHandle(caseId);
      try {
        const accepted = await client.withDeadline(Date.now() + timeoutMs, () =>
          handle.startUpdate(update, {
            args: [action],
            updateId: action.actionId,
            waitForStage: 'ACCEPTED',
          }),
        );
        return await client.withDeadline(Date.now() + timeoutMs, () => accepted.result());
      } catch (err) {
        return updateFailure(err, 'action');
      }
    },

    async startSimulation(input) {
      try {
        await client.withDeadline(Date.now() + START_DEADLINE_MS, () =>
          client.workflow.start(simulationJob, {
            taskQueue: opts.taskQueue,
            workflowId: input.jobId,
            args: [input],
            workflowIdConflictPolicy: 'FAIL',
          }),
        );
      } catch (err) {
        return unavailable(err);
      }
    },

    async ping() {
      try {
        await client.withDeadline(Date.now() + 2000, () => client.workflowService.getSystemInfo({}));
      } catch (err) {
        throw new AppError('TEMPORAL_UNAVAILABLE', 'Temporal does not answer', { retryable: true, cause: err });
      }
    },

    async workerPolling() {
      const { TaskQueueKind, TaskQueueType } = proto.temporal.api.enums.v1;
      const res = await client.withDeadline(Date.now() + 2000, () =>
        client.workflowService.describeTaskQueue({
          namespace: client.options.namespace,
          taskQueue: { name: opts.taskQueue, kind: TaskQueueKind.TASK_QUEUE_KIND_NORMAL },
          taskQueueType: TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        }),
      );
      const cutoff = Date.now() - POLLER_FRESH_MS;
      return (res.pollers ?? []).some((p) => p.lastAccessTime && tsToMs(p.lastAccessTime) >= cutoff);
    },
  };
}
