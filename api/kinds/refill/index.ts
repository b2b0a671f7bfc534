// The refill kind's part of the API: its own webhook (`POST /v1/webhooks/{clinicId}/refill-requests`, the refill
// contract), batch signing of the signature queue, the Update its cases take clinician decisions with and the Query
// that reads their state, and `refillAutomationEnabled`, the clinic field from before kinds that is its switch.
import { refillCdsService } from './cds.ts';
import { refillKind } from '../../../rules/kinds/refill/index.ts';
import { getCaseStateQuery, submitDecisionUpdate } from '../../../workflows/refill-triage-messages.ts';
import type { ApiDeps } from '../../deps.ts';
import type { KindApi } from '../types.ts';
import { batchSignRoutes } from './batch-sign.ts';
import { refillWebhookRoutes, webhookRoute } from './webhook.ts';

export const refillApi: KindApi = {
  kind: refillKind.id,
  triggers: [{ method: 'post', path: webhookRoute.path, summary: webhookRoute.summary ?? '' }],
  routes: (deps: ApiDeps) => refillWebhookRoutes(deps).route('/', batchSignRoutes(deps)),
  decisionUpdate: submitDecisionUpdate,
  stateQuery: getCaseStateQuery,
  clinicSwitchAliases: ['refillAutomationEnabled'],
  clinicSwitchLabel: 'refill automation',
  cdsServices: [refillCdsService],
};
