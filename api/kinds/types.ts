import type { OpenAPIHono } from '@hono/zod-openapi';
import type { QueryDefinition, SignalDefinition, UpdateDefinition } from '@temporalio/client';
import type { KindId } from '../../rules/kinds/index.ts';
import type { ClinicianDecision } from '../../rules/schema/case.ts';
import type { CdsService } from '../cds-types.ts';
import type { ApiDeps } from '../deps.ts';
import type { ApiEnv } from '../env.ts';

/** One HTTP trigger of a kind: a route that starts or touches its cases (for `npm start` to show). */
export interface KindTrigger {
  method: 'post';
  /** The OpenAPI path (`/v1/webhooks/{clinicId}/…`). */
  path: string;
  summary: string;
}

/** What a kind's workflow answers when its decision Update is accepted (the decision route reads these fields). */
export interface DecisionAck {
  caseId: string;
  decisionId: string;
  action: ClinicianDecision['action'];
}

/**
 * What a protocol kind adds to the API: its own HTTP triggers (webhooks), the Temporal messages its workflow takes
 * from the API, and the clinic fields from before kinds it keeps. Lives in `api/kinds/<k>/`, listed by
 * api/kinds/index.ts; the engine's routes and gateway ask the registry, never the kind by name.
 */
export interface KindApi {
  kind: KindId;
  triggers: readonly KindTrigger[];
  /** The kind's own routes (its `triggers`, and any other, e.g. batch signing), mounted by api/app.ts. */
  routes?(deps: ApiDeps): OpenAPIHono<ApiEnv>;
  /**
   * The Signal a patient case of this kind takes events with (signal-with-start: never two cases per patient);
   * `signalPatientCase` sends it. Absent: its cases are not signalled.
   */
  caseSignal?: SignalDefinition<[never]>;
  /** The Update its workflow takes clinician actions with; absent: the kind's cases take decisions, not actions. */
  actionUpdate?: UpdateDefinition<never, [never]>;
  /**
   * The Update its workflow takes clinician decisions with (the engine's decision vocabulary, rules/schema/case.ts);
   * absent: the kind's cases take actions, not decisions.
   */
  decisionUpdate?: UpdateDefinition<DecisionAck, [ClinicianDecision]>;
  /** The Query its workflow answers with the case's state as the workflow sees it; absent: it answers none. */
  stateQuery?: QueryDefinition<unknown>;
  /**
   * Clinic fields from before kinds that clients rely on, each an alias of this kind's switch (`enabled` in
   * `clinic_kinds`): the clinic routes compose them into the clinic's view, creation (default false) and settings.
   */
  clinicSwitchAliases?: readonly string[];
  /** What the switch is, as the clinic settings route's summary names it (`refill automation`). */
  clinicSwitchLabel?: string;
  /** Its CDS Hooks services (api/routes/cds-hooks.ts serves them). */
  cdsServices?: readonly CdsService[];
}
