// The refill kind's activities (triage, FHIR write-backs, the case projection), by their
// registered names: renaming one breaks workflows already running. Merged into the worker's registry by
// activities/kinds/index.ts.
import type { RefillFacts } from '../../../rules/kinds/refill/facts.ts';
import { guard } from '../../errors.ts';
import type { ActivityDeps } from '../../index.ts';
import { checkSignable, type CheckSignableInput } from './batch-sign.ts';
import { projectCase, type ProjectCaseInput } from './case-projection.ts';
import {
  enterFirstQueue,
  taskSyncedAudit,
  triageFirst,
  writeBackAudit,
  type EnterFirstQueueInput,
  type TriageFirstInput,
} from './first-queue.ts';
import { syncQueueTask, writeBackOutcome, type SyncQueueTaskInput, type WriteBackInput } from './ehr-writeback.ts';
import {
  beginTriage,
  evaluateProtocol,
  gatherPatientFacts,
  pinProtocol,
  pinSigningPolicy,
  triageRequest,
  type GatherPatientFactsInput,
  type TriageRequestInput,
} from './triage.ts';

export function refillActivities(deps: ActivityDeps) {
  const now = deps.now ?? (() => new Date());
  return {
    pinProtocol: guard((input: { clinicId: string }) => pinProtocol(deps, input)),
    pinSigningPolicy: guard((input: { clinicId: string; protocolId: string }) => pinSigningPolicy(deps, input)),
    beginTriage: guard((input: { projection: ProjectCaseInput; clinicId: string }) => beginTriage(deps, input)),
    gatherPatientFacts: guard((input: GatherPatientFactsInput) => gatherPatientFacts(deps, input)),
    triageRequest: guard((input: TriageRequestInput) => triageRequest(deps, input)),
    triageFirst: guard((input: TriageFirstInput) => triageFirst(deps, input, now)),
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
        await deps.store.audit.appendAudit(taskSyncedAudit(input, result));
        return result;
      }),
    ),
    writeBackOutcome: guard((input: WriteBackInput) =>
      deps.fhir.withRequestId(input.requestId, async () => {
        const result = await writeBackOutcome(await deps.fhir.forClinic(input.clinicId), input, now());
        await deps.store.audit.appendAudit(writeBackAudit(input, result));
        return result;
      }),
    ),
    enterFirstQueue: guard((input: EnterFirstQueueInput) => enterFirstQueue(deps, input, now())),
  };
}
