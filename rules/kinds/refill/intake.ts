// How a refill case begins, the same whichever path announced the refill request: the signed webhook
// (api/kinds/refill/webhook.ts) or a Subscription catch-up that found it in the EHR (activities/kinds/refill/).

/**
 * Workflow id (= case id) of a refill request: a business key of the clinic and the EHR's id of the refill request,
 * so a redelivered webhook (or a catch-up that finds the same request) finds the same case. `_` cannot occur in a FHIR
 * id or a clinic id, so the key is unambiguous and URL-safe. Ids only: never names or MRNs (workflow ids are not
 * encrypted).
 */
export function refillCaseId(clinicId: string, medicationRequestId: string): string {
  return `rf_${clinicId}_${medicationRequestId}`;
}

/** What announced the refill request: the webhook's body form, or a Subscription catch-up. */
export type RefillIntakeForm = 'event' | 'subscription-notification' | 'subscription-catch-up';

/**
 * The case's first step (its row, its `case.received` event and its `case.created` audit row, written in one
 * transaction by the store's `recordStep`): ids only.
 */
export function refillFirstStep(input: {
  caseId: string;
  clinicId: string;
  requestId: string;
  medicationRequestId: string;
  automationEnabled: boolean;
  receivedAt: string;
  form: RefillIntakeForm;
  eventId: string | null;
  /** Further ids for the audit row (the caller's request id, the catch-up's id). */
  auditDetail?: Record<string, string>;
}) {
  const { caseId, clinicId, requestId, medicationRequestId, receivedAt, form, eventId } = input;
  return {
    projection: {
      id: caseId,
      kind: 'refill',
      clinicId,
      requestId,
      patientId: null,
      medicationRequestId,
      status: 'received' as const,
      reason: input.automationEnabled ? null : 'automation_disabled',
      at: receivedAt,
    },
    seq: 0,
    event: {
      at: receivedAt,
      kind: 'case.received',
      actor: 'ehr',
      detail: { form, eventId, medicationRequestId },
    },
    audit: {
      at: receivedAt,
      actorType: 'ehr' as const,
      actorId: clinicId,
      action: 'case.created',
      clinicId,
      caseId,
      requestId,
      idempotencyKey: `${caseId}:created`,
      detail: { form, eventId, medicationRequestId, ...input.auditDetail },
    },
  };
}
