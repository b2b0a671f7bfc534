import type { ClinicFhir } from '../connectors/fhir/clinic-connectors.ts';
import type { Store } from '../connectors/db/index.ts';
import type { Logger } from '../connectors/logger.ts';
import { projectCase, recordCaseStep, type ProjectCaseInput, type RecordCaseStepInput } from './case-projection.ts';
import { syncQueueTask, writeBackOutcome, type SyncQueueTaskInput, type WriteBackInput } from './ehr-writeback.ts';
import { guard } from './errors.ts';
import { createKindActivities } from './kinds/index.ts';
import { panelPage, type PanelPageInput } from './panel-sweep.ts';
import { resolveEventPatient, startPatientCases, type StartPatientCasesInput, type TriggerDeps } from './triggers.ts';
import { failSimulation, finishSimulation, simulationPage, type SimulationPageInput } from './simulation-job.ts';
import { evaluateProtocol, gatherPatientFacts, pinProtocol, type GatherPatientFactsInput } from './triage.ts';
import type { RefillFacts } from '../rules/schema/facts.ts';

export interface ActivityDeps {
  store: Store;
  fhir: ClinicFhir;
  logger: Logger;
  now?: () => Date;
  /** Temporal client for the activities that signal-with-start cases (event intake, panel sweep). */
  triggers?: TriggerDeps;
}

/**
 * The activity registry. Each key is a Temporal activity *name*: renaming one breaks workflows already running.
 * Add, don't rename.
 */

export function createActivities(deps: ActivityDeps) {
  const now = deps.now ?? (() => new Date());
  return {
    ...createKindActivities(deps),
    pinProtocol: guard((input: { clinicId: string }) => pinProtocol(deps, input)),
    gatherPatientFacts: guard((input: GatherPatientFactsInput) => gatherPatientFacts(deps, input)),
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
    recordCaseStep: guard((input: RecordCaseStepInput) => recordCaseStep(deps, input)),
    resolveEventPatient: guard((input: { intakeId: string; clinicId: string; requestId: string; resource: string }) =>
      resolveEventPatient(deps, input),
    ),
    startPatientCases: guard((input: StartPatientCasesInput) =>
      startPatientCases({ store: deps.store, triggers: deps.triggers }, input),
    ),
    panelPage: guard((input: PanelPageInput) => panelPage(deps, input)),
    simulationPage: guard((input: SimulationPageInput) => simulationPage(deps, input)),
    finishSimulation: guard((input: { jobId: string }) => finishSimulation(deps, input)),
    failSimulation: guard((input: { jobId: string; code: string }) => failSimulation(deps, input)),
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
          detail: {
            kind: input.kind,
            medicationRequestId: input.medicationRequestId,
            orderId: result.orderId,
            proposalStatus: result.proposalStatus,
            signedAs: input.signedAs,
          },
        });
        return result;
      }),
    ),
  };
}

export type Activities = ReturnType<typeof createActivities>;
