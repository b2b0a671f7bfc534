import {
  ApplicationFailure,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  WorkflowUpdateRPCTimeoutOrCancelledError,
  type Client,
  type UpdateDefinition,
} from '@temporalio/client';
import { tsToMs } from '@temporalio/common/lib/time.js';
import proto from '@temporalio/proto';
import { AppError } from '../rules/index.ts';
import { KINDS } from '../rules/kinds/index.ts';
import type { ClinicianDecision } from '../rules/schema/case.ts';
import { simulationJob, type SimulationJobInput } from '../workflows/simulation.ts';
import { KIND_APIS, type DecisionAck, type KindApi } from './kinds/index.ts';
import { unavailable } from './temporal-errors.ts';
import { createTriggerGateway, type TriggerGateway } from './trigger-gateway.ts';

/** What a kind's trigger starts (api/kinds/<k>/): its workflow, by type, with its input. */
export interface CaseStart {
  /** The kind's workflow type (rules/kinds: `workflowType`). */
  workflowType: string;
  /** The workflow id. */
  caseId: string;
  clinicId: string;
  /** The workflow's one argument. */
  input: unknown;
  /** The `CaseStatus` search attribute at start. */
  status: string;
}

/** The part of a patient case's input the gateway reads (the workflow id, its clinic and protocol). */
export interface PatientCaseInput {
  caseId: string;
  clinicId: string;
  protocolId: string;
}

/** A clinician's action on a case of a kind with its own actions (the kind's workflow validates it). */
export interface KindActionRequest {
  actionId: string;
  action: string;
  [field: string]: unknown;
}

export interface KindActionAck {
  caseId: string;
  actionId: string;
  action: string;
}

/** The API part of the kind whose workflow is `workflowType` (the kind registries), if any. */
function kindApiOf(workflowType: string): KindApi | undefined {
  const kind = KINDS.find((k) => k.workflowType === workflowType);
  return kind && KIND_APIS.find((k) => k.kind === kind.id);
}

/**
 * Our workflows, as the API sees them. The one place in api/ that touches @temporalio/client (with the event and
 * sweep triggers' part in trigger-gateway.ts, optional so that test gateways that never trigger need not have it).
 * Kind-specific workflows are reached through the kind registries (their workflow type, api/kinds/ for messages).
 */
export interface WorkflowGateway extends Partial<TriggerGateway> {
  /** Starts (or finds) a case's workflow, as a kind's trigger says; `USE_EXISTING` makes a redelivery a no-op. */
  startCase(start: CaseStart): Promise<{ caseId: string; runId: string }>;
  /**
   * Sends a clinician decision to a case of the kind whose workflow is `workflowType` (with the Update the kind
   * declares, api/kinds/) and waits, bounded, until it is durable (accepted).
   *
   * @throws AppError `CONFLICT` when that kind's cases take actions, not decisions.
   */
  submitDecision(
    caseId: string,
    workflowType: string,
    decision: ClinicianDecision,
    opts?: { timeoutMs?: number },
  ): Promise<DecisionAck>;
  /**
   * The case's state as its workflow sees it (with the Query the kind of `workflowType` declares, api/kinds/); null
   * when there is no such workflow.
   *
   * @throws AppError `CONFLICT` when that kind's workflow answers no state Query.
   */
  getCaseState<State = unknown>(caseId: string, workflowType: string): Promise<State | null>;
  /**
   * Delivers an event to a patient's case of the kind whose workflow is `workflowType` (with the Signal the kind
   * declares, api/kinds/), starting the case if none runs (signal-with-start: never two per patient). Optional so that
   * gateways of tests that never touch patient cases need not have it.
   *
   * @throws AppError `CONFLICT` when that kind's cases take no events.
   */
  signalPatientCase?(
    workflowType: string,
    input: PatientCaseInput,
    event: unknown,
  ): Promise<{ caseId: string; runId: string }>;
  /**
   * Sends a clinician's action on a case of a kind with its own actions to the kind's workflow (`workflowType`, from
   * the kind registry) as an Update, and waits, bounded, until it is durable (accepted).
   *
   * @throws AppError `CONFLICT` when the kind's workflow takes no actions (its cases take decisions).
   */
  submitKindAction?(
    caseId: string,
    workflowType: string,
    action: KindActionRequest,
    opts?: { timeoutMs?: number },
  ): Promise<KindActionAck>;
  /**
   * Sends an Update a kind declares (its own messages, api/kinds/<k>/) to a case's workflow, with `updateId` (a retry
   * with the same id is deduplicated by Temporal), and waits, bounded, for its result. A validator's typed refusal
   * becomes AppError FORBIDDEN/CONFLICT, a timeout TEMPORAL_UNAVAILABLE, a finished case CONFLICT. Optional so that
   * gateways of tests that never send one need not have it.
   */
  runUpdate?<R, A>(
    caseId: string,
    update: UpdateDefinition<R, [A]>,
    arg: A,
    updateId: string,
    opts?: { timeoutMs?: number },
  ): Promise<R>;
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

/**
 * Maps a failed Update to the API's vocabulary: the validator's typed refusal (rules/lifecycle, an ApplicationFailure
 * typed FORBIDDEN or CONFLICT) keeps its type; a timeout is 503 (retry with the same id); a finished case is CONFLICT.
 */
function updateFailure(err: unknown, what: 'decision' | 'action' | 'update'): never {
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
    async startCase(start) {
      try {
        const handle = await client.withDeadline(Date.now() + START_DEADLINE_MS, () =>
          client.workflow.start(start.workflowType, {
            taskQueue: opts.taskQueue,
            workflowId: start.caseId,
            args: [start.input],
            workflowIdConflictPolicy: 'USE_EXISTING',
            // A case closed and purged by retention must not be re-triaged by a late redelivery; the app database's
            // delivery record answers those before we get here.
            workflowIdReusePolicy: 'REJECT_DUPLICATE',
            searchAttributes: { ClinicId: [start.clinicId], CaseStatus: [start.status] },
          }),
        );
        return { caseId: handle.workflowId, runId: handle.firstExecutionRunId };
      } catch (err) {
        if (err instanceof Error && err.name === 'WorkflowExecutionAlreadyStartedError') {
          return { caseId: start.caseId, runId: '' };
        }
        return unavailable(err);
      }
    },

    async submitDecision(caseId, workflowType, decision, { timeoutMs = 10_000 } = {}) {
      // The Update the kind's workflow takes decisions with (api/kinds/), if it takes any.
      const decisionUpdate = kindApiOf(workflowType)?.decisionUpdate;
      if (!decisionUpdate) throw new AppError('CONFLICT', 'This case takes actions, not decisions');
      const handle = client.workflow.getHandle(caseId);
      try {
        const update = await client.withDeadline(Date.now() + timeoutMs, () =>
          handle.startUpdate(decisionUpdate, {
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

    async getCaseState<State>(caseId: string, workflowType: string) {
      const query = kindApiOf(workflowType)?.stateQuery;
      if (!query) throw new AppError('CONFLICT', 'This kind of case answers no state query');
      try {
        return (await client.workflow.getHandle(caseId).query(query)) as State;
      } catch (err) {
        if (err instanceof WorkflowNotFoundError) return null;
        return unavailable(err);
      }
    },

    async signalPatientCase(workflowType, input, event) {
      const signal = kindApiOf(workflowType)?.caseSignal;
      if (!signal) throw new AppError('CONFLICT', 'This kind of case takes no events');
      try {
        const handle = await client.withDeadline(Date.now() + START_DEADLINE_MS, () =>
          client.workflow.signalWithStart(workflowType, {
            taskQueue: opts.taskQueue,
            workflowId: input.caseId,
            args: [input],
            signal,
            signalArgs: [event as never],
            searchAttributes: { ClinicId: [input.clinicId], ProtocolId: [input.protocolId] },
          }),
        );
        return { caseId: handle.workflowId, runId: handle.signaledRunId };
      } catch (err) {
        return unavailable(err);
      }
    },

    async submitKindAction(caseId, workflowType, action, { timeoutMs = 10_000 } = {}) {
      // The Update the kind's workflow takes actions with (api/kinds/), if it takes any.
      const update = kindApiOf(workflowType)?.actionUpdate;
      if (!update) throw new AppError('CONFLICT', 'This case takes decisions, not actions');
      const handle = client.workflow.getHandle(caseId);
      try {
        const accepted = await client.withDeadline(Date.now() + timeoutMs, () =>
          handle.startUpdate(update, {
            args: [action as never],
            updateId: action.actionId,
            waitForStage: 'ACCEPTED',
          }),
        );
        return await client.withDeadline(Date.now() + timeoutMs, () => accepted.result());
      } catch (err) {
        return updateFailure(err, 'action');
      }
    },

    async runUpdate(caseId, update, arg, updateId, { timeoutMs = 15_000 } = {}) {
      const handle = client.workflow.getHandle(caseId);
      try {
        const accepted = await client.withDeadline(Date.now() + timeoutMs, () =>
          handle.startUpdate(update, { args: [arg], updateId, waitForStage: 'ACCEPTED' }),
        );
        return await client.withDeadline(Date.now() + timeoutMs, () => accepted.result());
      } catch (err) {
        return updateFailure(err, 'update');
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
