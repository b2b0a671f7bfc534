import type { Db, Store } from '../connectors/db/index.ts';
import type { Config } from '../connectors/config.ts';
import type { Logger } from '../connectors/logger.ts';
import type { ActivityPolicy } from '../workflows/activity-policy.ts';
import type { RefillFacts } from '../rules/kinds/refill/facts.ts';
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
   * Reduces an uploaded FHIR Bundle to refill facts as of a date, for simulating over bundles (facts/refill's
   * `patientRecordFromBundle` + `extractRefillFacts`, wired in by api/main.ts). Absent: refused.
   */
  bundleFacts?: (bundle: unknown, asOf: string) => RefillFacts;
  /** DEMO=1: whether the sandbox EHR answers and knows the demo clinic (a `/health` part). Absent: not reported. */
  demoEhrReady?: () => Promise<boolean>;
}
