// The refill-requests webhook's Subscription topic, for the catch-up after a lost notification
// (activities/subscription-catch-up.ts): the refill requests (MedicationRequest, intent proposal) changed since the
// last notification seen, each started exactly as the webhook starts one (api/kinds/refill/webhook.ts): the delivery
// keyed by the request's id, the case's first step, the workflow with the deterministic case id.
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import { refillFirstStep, refillCaseId } from '../../../rules/kinds/refill/intake.ts';
import { refillKind } from '../../../rules/kinds/refill/index.ts';
import type { RefillTriageInput } from '../../../workflows/refill-triage.ts';
import type { SubscriptionTopic } from '../../subscription-catch-up.ts';

const MR_REF = /^(?:.*\/)?MedicationRequest\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[A-Za-z0-9\-.]{1,64})?$/;

export const refillSubscriptionTopic: SubscriptionTopic = {
  topic: refillKind.id,
  searches: (since) => [{ type: 'MedicationRequest', params: { intent: 'proposal', _lastUpdated: `gt${since}` } }],
  async start({ store, triggers, now }, input) {
    const { clinicId, requestId, catchUpId } = input;
    const clinic = await store.clinics.get(clinicId);
    if (!clinic) return [];
    const automationEnabled =
      (await store.clinics.kinds(clinicId)).find((k) => k.kind === refillKind.id)?.enabled ?? false;
    const ids = [
      ...new Set(input.references.flatMap((r) => MR_REF.exec(typeof r === 'string' ? r : r.reference)?.[1] ?? [])),
    ];
    const caseIds: string[] = [];
    for (const medicationRequestId of ids) {
      const caseId = refillCaseId(clinicId, medicationRequestId);
      const receivedAt = now().toISOString();
      const delivery = await store.deliveries.recordDelivery({
        clinicId,
        ehrRequestId: medicationRequestId,
        caseId,
        requestId,
        receivedAt,
      });
      const existing = delivery.created ? null : await store.cases.getCase(delivery.caseId);
      caseIds.push(delivery.caseId);
      // Announced before (a notification, an earlier catch-up): the same case, nothing new starts.
      if (existing && existing.status !== 'received') continue;
      if (!existing) {
        await store.cases.recordStep(
          refillFirstStep({
            caseId,
            clinicId,
            requestId,
            medicationRequestId,
            automationEnabled,
            receivedAt,
            form: 'subscription-catch-up',
            eventId: null,
            auditDetail: { catchUpId },
          }),
        );
      }
      const start: RefillTriageInput = {
        caseId,
        clinicId,
        medicationRequestId,
        ehrRequestId: medicationRequestId,
        requestId,
        receivedAt: existing?.createdAt ?? receivedAt,
        automationEnabled,
        nurseSlaSeconds: clinic.nurseSlaSeconds,
        ...(triggers.policy ? { policy: triggers.policy } : {}),
      };
      try {
        await triggers.client.workflow.start(refillKind.workflowType, {
          taskQueue: triggers.taskQueue,
          workflowId: caseId,
          args: [start],
          workflowIdConflictPolicy: 'USE_EXISTING',
          workflowIdReusePolicy: 'REJECT_DUPLICATE',
          searchAttributes: { ClinicId: [clinicId], CaseStatus: ['triaging'] },
        });
      } catch (err) {
        if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
      }
    }
    return caseIds;
  },
};
