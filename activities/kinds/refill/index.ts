// The refill kind's activities (triage, FHIR write-backs, the case projection), by their
// registered names: renaming one breaks workflows already running. Merged into the worker's registry by
// activities/kinds/index.ts.
import type { RefillFacts } from '../../../rules/kinds/refill/facts.ts';
import { guard } from '../../errors.ts';
import type { ActivityDeps } from '../../index.ts';
import { checkSignable, type CheckSignableInput } from './batch-sign.ts';
import { projectCase, type ProjectCaseInput } from './case-projection.ts';
import { syncQueueTask, writeBackOutcome, type SyncQueueTaskInput, type WriteBackInput } from './ehr-writeback.ts';
import {
  evaluateProtocol,
  gatherPatientFacts,
  pinProtocol,
  pinSigningPolicy,
  pinTriage,
  triageRequest,
  type GatherPatientFactsInput,
  type TriageRequestInput,
} from './triage.ts';

export function refillActivities(deps: ActivityDeps) {
  const now = deps.now ?? (() => new Date());
  return {
    pinProtocol: guard((input: { clinicId: string }) => pinProtocol(deps, input)),
    pinSigningPolicy: guard((input: { clinicId: string; protocolId: string }) => pinSigningPolicy(deps, input)),
    beginTriage: guard(async (input: { projection: ProjectCaseInput; clinicId: string }) => {
      await projectCase(deps, input.projection);
      return pinTriage(deps, { clinicId: input.clinicId });
    }),
    gatherPatientFacts: guard((input: GatherPatientFactsInput) => gatherPatientFacts(deps, input)),
    triageRequest: guard((input: TriageRequestInput) => triageRequest(deps, input)),
    evaluateProtocol: guard(
      (input: {
        caseId: string;
        clinicId: string;
        requestId: string;
        protocol: { id: string; version: number };
        facts: RefillFacts;
      }) => evaluateProtocol(deps, input),
    ),
    projectCase: guard((input: ProjectCaseInput) => projectCase(deps, input)),
    checkSignable: guard((input: CheckSignableInput) =>
      deps.fhir.withRequestId(input.requestId, async () =>
        checkSignable(await deps.fhir.forClinic(input.clinicId), input),
      ),
    ),
    syncQueueTask: guard((input: SyncQueueTaskInput) =>
      deps.fhir.withRequestId(input.requestId, async () => {
        const result = await syncQueueTask(await deps.fhir.forClinic(input.clinicId), input, now());
        await deps.store.audit.appendAudit({
          actorType: 'system',
          actorId: 'worker',
          action: 'ehr.task_synced',
          clinicId: input.clinicId,
          caseId: input.caseId,
          requestId: input.requestId,
          idempotencyKey: `${input.caseId}:task:${input.businessStatus}:${input.status}`,
          detail: {
            taskId: result.taskId,
            businessStatus: input.businessStatus,
            status: input.status,
            queue: input.queue,
          },
        });
        return result;
      }),
    ),
    writeBackOutcome: guard((input: WriteBackInput) =>
      deps.fhir.withRequestId(input.requestId, async () => {
        const result = await writeBackOutcome(await deps.fhir.forClinic(input.clinicId), input, now());
        await deps.store.audit.appendAudit({
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
          // Who acted, in which role (actorRole) and capacity, under which signing policy and protocol version.
          detail: {
            kind: input.kind,
            medicationRequestId: input.medicationRequestId,
            orderId: result.orderId,
            proposalStatus: result.proposalStatus,
            signedAs: input.signedAs,
            ...(input.policy ? { policyMode: input.policy.mode, policyVersion: input.policy.version } : {}),
          },
        });
        return result;
      }),
    ),
  };
}
