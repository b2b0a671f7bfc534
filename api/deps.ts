import type { Db, Store } from '../connectors/db/index.ts';
import type { Config } from '../connectors/config.ts';
import type { ClinicFhir } from '../connectors/fhir/clinic-connectors.ts';
import type { PatientIdentityReader } from '../connectors/fhir/patient-identity.ts';
import type { Logger } from '../connectors/logger.ts';
import type { ActivityPolicy } from '../workflows/activity-policy.ts';
import type { KindId } from '../rules/kinds/index.ts';
import type { WorkflowGateway } from './workflow-gateway.ts';

/** Everything the API needs, injected so tests can pass their own. */
export interface ApiDeps {
  config: Config;
  db: Db;
  store: Store;
  workflows: WorkflowGateway;
  logger: Logger;
  now: () => Date;
  /** Overrides of activity timeouts/retries passed into new workflows (tests); production uses the defaults. */
  workflowPolicy?: ActivityPolicy;
  /**
   * Reduces an uploaded FHIR Bundle to a kind's facts as of a date, for simulating over bundles (the facts registry's
   * `factsFromBundle`, facts/index.ts, wired in by api/main.ts). Throws AppError `INVALID_INPUT` for a bundle that is
   * not the kind's input. Absent: refused.
   */
  bundleFacts?: (kind: KindId, bundle: unknown, asOf: string) => unknown;
  /**
   * Reads who a case's patient is from the clinic's EHR when a person views a case or a queue page (never stored).
   * Absent (an API without EHR access): views carry no `patient`.
   */
  patientIdentity?: PatientIdentityReader;
  /**
   * Each clinic's FHIR connector (its SMART Backend Services connection, as the worker reads with it): where a CDS
   * Hooks call without `fhirAuthorization` has the prefetch it left out read. Absent: such a call is refused (422).
   */
  clinicFhir?: ClinicFhir;
  /** DEMO=1: whether the sandbox EHR answers and knows the demo clinic (a `/health` part). Absent: not reported. */
  demoEhrReady?: () => Promise<boolean>;
}
