import type { ClinicFhir } from '../connectors/fhir/clinic-connectors.ts';
import type { Store } from '../connectors/db/index.ts';
import type { Logger } from '../connectors/logger.ts';
import { recordCaseStep, type RecordCaseStepInput } from './case-projection.ts';
import { guard } from './errors.ts';
import { createKindActivities } from './kinds/index.ts';
import { panelPage, type PanelPageInput } from './panel-sweep.ts';
import { resolveEventPatient, startPatientCases, type StartPatientCasesInput, type TriggerDeps } from './triggers.ts';

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
  return {
    ...createKindActivities(deps),
    recordCaseStep: guard((input: RecordCaseStepInput) => recordCaseStep(deps, input)),
    resolveEventPatient: guard((input: { intakeId: string; clinicId: string; requestId: string; resource: string }) =>
      resolveEventPatient(deps, input),
    ),
    startPatientCases: guard((input: StartPatientCasesInput) =>
      startPatientCases({ store: deps.store, triggers: deps.triggers }, input),
    ),
    panelPage: guard((input: PanelPageInput) => panelPage(deps, input)),
  };
}

export type Activities = ReturnType<typeof createActivities>;
