import type { AuditInput, Store } from '../../../connectors/db/index.ts';
import type { ClinicFhir } from '../../../connectors/fhir/clinic-connectors.ts';
import type { Logger } from '../../../connectors/logger.ts';
import { AppError } from '../../../rules/index.ts';
import type { SigningPolicy } from '../../../rules/lifecycle/index.ts';
import { firstQueueEntry, type FirstRoute } from '../../../workflows/refill-first-route.ts';
import { projectCase, type ProjectCaseInput } from './case-projection.ts';
import {
  syncQueueTask,
  writeBackOutcome,
  type SyncQueueTaskInput,
  type WriteBackInput,
  type WriteBackResult,
} from './ehr-writeback.ts';
import {
  beginTriage,
  takeRecentProposal,
  triageRequest,
  type GatherPatientFactsInput,
  type TriageRequestResult,
} from './triage.ts';

/** The audit row of a Task sync (every EHR write leaves one). */
export function taskSyncedAudit(input: SyncQueueTaskInput, result: { taskId: string }): AuditInput {
  return {
    actorType: 'system',
    actorId: 'worker',
    action: 'ehr.task_synced',
    clinicId: input.clinicId,
    caseId: input.caseId,
    requestId: input.requestId,
    idempotencyKey: `${input.caseId}:task:${input.businessStatus}:${input.status}`,
    detail: { taskId: result.taskId, businessStatus: input.businessStatus, status: input.status, queue: input.queue },
  };
}

/** The audit row of a write-back: who acted, in which role (actorRole) and capacity, under which policy and version. */
export function writeBackAudit(input: WriteBackInput, result: WriteBackResult): AuditInput {
  return {
    actorType: input.decidedBy.kind === 'protocol' ? 'protocol' : 'user',
    actorId:
      input.decidedBy.kind === 'protocol'
        ? `${input.decidedBy.protocol.id}@${input.decidedBy.protocol.version}`
        : input.decidedBy.actor.userId,
    actorRole: input.decidedBy.kind === 'clinician' ? input.decidedBy.actor.role : null,
    action: 'ehr.write_back',
    clinicId: input.clinicId,
    caseId: input.caseId,
    requestId: input.requestId,
    protocolId: input.decision?.protocol.id ?? null,
    protocolVersion: input.decision?.protocol.version ?? null,
    idempotencyKey: `${input.caseId}:write_back:${input.kind}`,
    detail: {
      kind: input.kind,
      medicationRequestId: input.medicationRequestId,
      orderId: result.orderId,
      proposalStatus: result.proposalStatus,
      signedAs: input.signedAs,
      ...(input.policy ? { policyMode: input.policy.mode, policyVersion: input.policy.version } : {}),
    },
  };
}

/** Refusals a retry cannot mend (connectors/fhir/errors.ts): recorded on the case, which goes on. */
const REFUSED = new Set(['EHR_NOT_FOUND', 'EHR_REJECTED', 'INVALID_INPUT']);

export interface EnterFirstQueueInput {
  /** A protocol approval's order (pended, or active under a standing order), written beside the Task. */
  order?: WriteBackInput;
  /** The case's first Task sync (`first: true`). */
  task: SyncQueueTaskInput;
  /** The step that puts the case in its first queue. */
  projection: ProjectCaseInput;
}

export type EnterFirstQueueResult =
  | { projected: true }
  /** A write the EHR refused for good: the writes that succeeded are audited, the workflow records the rest. */
  | { projected: false; refused: { what: string; error: string }[] };

/**
 * A case entering its first queue, in one step: the order (if any) and the Task written to the EHR at the same time,
 * then their audit rows and the step's projection in ONE transaction. The order starts from the triage's read of the
 * request when this worker made it (no second read). Every write is idempotent (conditional creates, notes added
 * once), so a retry, or the workflow's fallback to separate durable activities, never writes twice.
 *
 * @throws a write's failure a retry may mend (EHR unavailable), or the database's: nothing is projected.
 */
export async function enterFirstQueue(
  deps: { store: Store; fhir: ClinicFhir },
  input: EnterFirstQueueInput,
  now: Date,
): Promise<EnterFirstQueueResult> {
  const { clinicId, requestId, medicationRequestId } = input.task;
  // Only an order needs the request; a case routed without one leaves the read to expire.
  const known = input.order ? takeRecentProposal(clinicId, medicationRequestId) : undefined;
  return deps.fhir.withRequestId(requestId, async () => {
    const fhir = await deps.fhir.forClinic(clinicId);
    const writes: { what: string; run: () => Promise<AuditInput> }[] = [
      ...(input.order
        ? [
            {
              what: input.order.kind,
              run: async () => writeBackAudit(input.order!, await writeBackOutcome(fhir, input.order!, now, known)),
            },
          ]
        : []),
      { what: 'task', run: async () => taskSyncedAudit(input.task, await syncQueueTask(fhir, input.task, now)) },
    ];
    const settled = await Promise.allSettled(writes.map((w) => w.run()));
    const audits: AuditInput[] = [];
    const refused: { what: string; error: string }[] = [];
    for (const [i, outcome] of settled.entries()) {
      if (outcome.status === 'fulfilled') audits.push(outcome.value);
      else if (outcome.reason instanceof AppError && REFUSED.has(outcome.reason.code))
        refused.push({ what: writes[i]!.what, error: outcome.reason.code });
      else throw outcome.reason;
    }
    if (refused.length > 0) {
      if (audits.length > 0) await deps.store.audit.appendAudits(audits);
      return { projected: false, refused };
    }
    await projectCase(deps, input.projection, audits);
    return { projected: true };
  });
}

export interface TriageFirstInput {
  /** The step that shows the case triaging. */
  projection: ProjectCaseInput;
  clinicId: string;
  /** What the EHR read needs (the protocol is the one this activity pins). */
  read: GatherPatientFactsInput;
  /**
   * Cases started since the first-route work: once the protocol has decided, enter the first queue here too, with the
   * routed step projected at `seq` (the one after the triaging step's) and the clinic's nurse SLA.
   */
  route?: { seq: number; nurseSlaSeconds: number };
}

export interface TriageFirstResult {
  /** The clinic's published protocol version and signing policy, pinned for this case. */
  pinned: { protocol: { id: string; version: number }; policy: SigningPolicy };
  /** The read and the decision, when the EHR answered and the protocol ran. */
  triaged?: TriageRequestResult;
  /** Otherwise why not: the AppError code (null for an unexpected failure), for the workflow to route or retry. */
  error?: string | null;
  /**
   * With `route`, after a decision: where the case went, the time its step is stamped with and its clock, and what
   * entering the queue gave (null: it failed for a reason a retry may mend, and the workflow writes durably; the step's
   * `seq` is then spent, as the try may have projected it).
   */
  routed?: {
    route: FirstRoute;
    seq: number;
    at: string;
    slaDueAt: string | null;
    entered: EnterFirstQueueResult | null;
  };
}

/**
 * The start of a triage in one activity: the case shown triaging, its protocol and signing policy pinned, then the
 * EHR read and the evaluation ({@link triageRequest}), tried once; with `route`, then the first queue
 * ({@link enterFirstQueue}, the step computed by workflows/refill-first-route.ts as the workflow computes it). A read
 * or evaluation that fails is returned, not thrown, with the pins: the workflow routes a definitive failure and hands a
 * retryable one to the durable activity, with the same pins (a retry here would pin again, and the protocol may have
 * been published in between). A first queue that fails is returned too: the decision stands, the writes go durable.
 *
 * @throws a failure of the projection or the pins (as `beginTriage`): nothing is pinned.
 */
export async function triageFirst(
  deps: { store: Store; fhir: ClinicFhir; logger: Logger },
  input: TriageFirstInput,
  now: () => Date = () => new Date(),
): Promise<TriageFirstResult> {
  const pinned = await beginTriage(deps, input);
  let triaged: TriageRequestResult;
  try {
    triaged = await triageRequest(deps, { ...input.read, protocol: pinned.protocol });
  } catch (err) {
    const code = err instanceof AppError ? err.code : null;
    deps.logger.warn({ caseId: input.read.caseId, code }, 'first triage try failed; the workflow takes it over');
    return { pinned, error: code };
  }
  if (!input.route) return { pinned, triaged };
  const { routed, failure } = await routeTriaged(input, input.route, pinned, triaged, now(), (entry, at) =>
    enterFirstQueue(deps, entry, at),
  );
  if (failure !== undefined) {
    const code = failure instanceof AppError ? failure.code : null;
    deps.logger.warn({ caseId: input.read.caseId, code }, 'first queue try failed; the workflow writes durably');
  }
  return { pinned, triaged, routed };
}

/**
 * `triageFirst`'s last step, after a decision: the first queue's entry computed as the workflow computes it
 * (workflows/refill-first-route.ts) from the triaging step, entered by `enter` at `at`. A failure of `enter` comes back
 * as `entered: null` with the error, for the caller to log.
 */
export async function routeTriaged(
  input: Pick<TriageFirstInput, 'projection'>,
  route: NonNullable<TriageFirstInput['route']>,
  pinned: TriageFirstResult['pinned'],
  triaged: TriageRequestResult,
  at: Date,
  enter: (entry: EnterFirstQueueInput, at: Date) => Promise<EnterFirstQueueResult>,
): Promise<{ routed: NonNullable<TriageFirstResult['routed']>; failure?: unknown }> {
  const { caseId, clinicId, requestId, medicationRequestId } = input.projection;
  const { slaDueAt: _, ...triaging } = input.projection.state;
  const entry = firstQueueEntry({
    ids: { caseId, clinicId, requestId, medicationRequestId },
    triaging,
    protocol: pinned.protocol,
    policy: pinned.policy,
    decision: triaged.decision,
    patientId: triaged.patientId,
    drugName: triaged.drugName,
    nurseSlaSeconds: route.nurseSlaSeconds,
    seq: route.seq,
    nowMs: at.getTime(),
  });
  const routed = { route: entry.route, seq: route.seq, at: at.toISOString(), slaDueAt: entry.slaDueAt };
  try {
    return { routed: { ...routed, entered: await enter(entry.enter, at) } };
  } catch (failure) {
    return { routed: { ...routed, entered: null }, failure };
  }
}
