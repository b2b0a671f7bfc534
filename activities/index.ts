import type { ClinicFhir } from '../connectors/fhir/clinic-connectors.ts';
import type { Store } from '../connectors/db/index.ts';
import type { Logger } from '../connectors/logger.ts';
import { recordCaseStep, type RecordCaseStepInput } from './case-projection.ts';
import { guard } from './errors.ts';
import type { TopicReference } from '../workflows/subscription-catch-up.ts';
import { eventsSubscriptionTopic } from './event-subscription.ts';
import { createKindActivities, SUBSCRIPTION_TOPICS } from './kinds/index.ts';
import { panelPage, type PanelPageInput } from './panel-sweep.ts';
import { failSimulation, finishSimulation, simulationPage, type SimulationPageInput } from './simulation-job.ts';
import {
  startTopicResources,
  topicChangesPage,
  type SubscriptionTopic,
  type TopicChangesPageInput,
} from './subscription-catch-up.ts';
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
  // The kinds' webhook topics, and the engine's own events webhook's.
  const topics: readonly SubscriptionTopic[] = [...SUBSCRIPTION_TOPICS, eventsSubscriptionTopic];
  return {
    ...createKindActivities(deps),
    recordCaseStep: guard((input: RecordCaseStepInput) => recordCaseStep(deps, input)),
    resolveEventPatient: guard((input: { intakeId: string; clinicId: string; requestId: string; resource: string }) =>
      resolveEventPatient(deps, input),
    ),
    startPatientCases: guard((input: StartPatientCasesInput) =>
      startPatientCases({ store: deps.store, triggers: deps.triggers }, input),
    ),
    topicChangesPage: guard((input: TopicChangesPageInput) => topicChangesPage({ ...deps, topics }, input)),
    startTopicResources: guard(
      (input: {
        catchUpId: string;
        clinicId: string;
        topic: string;
        requestId: string;
        references: TopicReference[];
        batch: string;
      }) => startTopicResources({ ...deps, triggers: deps.triggers, topics }, input, deps.now),
    ),
    panelPage: guard((input: PanelPageInput) => panelPage(deps, input)),
    simulationPage: guard((input: SimulationPageInput) => simulationPage(deps, input)),
    finishSimulation: guard((input: { jobId: string }) => finishSimulation(deps, input)),
    failSimulation: guard((input: { jobId: string; code: string }) => failSimulation(deps, input)),
  };
}

export type Activities = ReturnType<typeof createActivities>;
