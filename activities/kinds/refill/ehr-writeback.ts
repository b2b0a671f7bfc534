import type { Annotation, MedicationRequest, Task } from '@medplum/fhirtypes';
import type { FhirConnector } from '../../../connectors/fhir/connector.ts';
import { AppError } from '../../../rules/index.ts';
import type { Actor, Queue } from '../../../rules/schema/case.ts';
import type { TriageDecision } from '../../../rules/kinds/refill/decision.ts';

/** Identifier systems of what we write, so a retried activity finds its own earlier write instead of writing twice. */
export const ORDER_IDENTIFIER_SYSTEM = 'urn:ehr-autopilot:pended-order';
export const TASK_IDENTIFIER_SYSTEM = 'urn:ehr-autopilot:refill-task';
const TASK_CODE_SYSTEM = 'urn:ehr-autopilot:task-code';

export type WriteBackKind = 'pend_order' | 'sign_order' | 'record_denial' | 'record_needs_visit';

export interface WriteBackInput {
  caseId: string;
  clinicId: string;
  requestId: string;
  medicationRequestId: string;
  kind: WriteBackKind;
  decision: TriageDecision | null;
  note: string | null;
  decidedBy:
    | { kind: 'protocol'; protocol: { id: string; version: number } }
    | { kind: 'clinician'; actor: Actor; decisionId: string };
}

export interface WriteBackResult {
  kind: WriteBackKind;
  orderId: string | null;
  proposalStatus: string;
  created: boolean;
}

function decidedByText(by: WriteBackInput['decidedBy']): string {
  return by.kind === 'protocol'
    ? `protocol ${by.protocol.id} v${by.protocol.version}`
    : `${by.actor.role} ${by.actor.userId}`;
}

/**
 * The dispense request of the pended order: the protocol's approved supply (a renewal in months, or an explicit
 * quantity and refills), else its bridge supply, else what the pharmacy asked for.
 */
export function orderSupply(
  request: MedicationRequest,
  decision: TriageDecision | null,
  kind: WriteBackKind,
): MedicationRequest['dispenseRequest'] {
  const asked = request.dispenseRequest ?? {};
  const days = asked.expectedSupplyDuration?.value ?? 30;
  const base = { ...asked };
  delete base.numberOfRepeatsAllowed;
  const supply =
    kind === 'record_needs_visit' ? decision?.bridgeSupply : (decision?.approvedSupply ?? decision?.bridgeSupply);
  if (!supply) return asked;
  if ('renewalMonths' in supply) {
    // A 12-month renewal of a 30-day fill is the fill plus 11 refills; of a 90-day fill, plus 3.
    const fills = Math.max(1, Math.round((supply.renewalMonths * 30) / days));
    return { ...base, numberOfRepeatsAllowed: fills - 1 };
  }
  return {
    ...base,
    quantity: { ...(asked.quantity ?? {}), value: supply.quantity },
    numberOfRepeatsAllowed: supply.refills,
  };
}

async function findOrder(fhir: FhirConnector, caseId: string): Promise<MedicationRequest | undefined> {
  const { matches } = await fhir.search('MedicationRequest', { identifier: `${ORDER_IDENTIFIER_SYSTEM}|${caseId}` });
  return matches[0];
}

function withNote(resource: MedicationRequest, text: string, at: string): Annotation[] {
  const notes = resource.note ?? [];
  return notes.some((n) => n.text === text) ? notes : [...notes, { text, time: at }];
}

/**
 * Writes a case's outcome back to the EHR, idempotently.
 *
 * - `pend_order`: an `active` order MedicationRequest `basedOn` the proposal, created conditionally on an identifier
 *   derived from the case id (a retry finds the first one), then the proposal is completed.
 * - `sign_order`: the doctor signed the pended order; recorded on the order.
 * - `record_denial`: the proposal is cancelled with the reason, and any pended order cancelled.
 * - `record_needs_visit`: the patient must be seen; a bridge supply (if the protocol gave one) is pended as an order,
 *   and the proposal records why.
 *
 * @throws AppError `EHR_NOT_FOUND` (not retried) or `EHR_UNAVAILABLE` (retried).
 */
export async function writeBackOutcome(
  fhir: FhirConnector,
  input: WriteBackInput,
  now: Date,
): Promise<WriteBackResult> {
  const at = now.toISOString();
  const proposal = await fhir.read('MedicationRequest', input.medicationRequestId);
  const by = decidedByText(input.decidedBy);
  const clinicianNote = input.note ? ` Note: ${input.note}` : '';

  const pend = async (why: string) => {
    const order: MedicationRequest = {
      resourceType: 'MedicationRequest',
      identifier: [{ system: ORDER_IDENTIFIER_SYSTEM, value: input.caseId }],
      status: 'active',
      intent: 'order',
      category: proposal.category,
      subject: proposal.subject,
      ...(proposal.medicationCodeableConcept ? { medicationCodeableConcept: proposal.medicationCodeableConcept } : {}),
      ...(proposal.medicationReference ? { medicationReference: proposal.medicationReference } : {}),
      authoredOn: at,
      basedOn: [{ reference: `MedicationRequest/${proposal.id}` }],
      ...(proposal.priorPrescription ? { priorPrescription: proposal.priorPrescription } : {}),
      dosageInstruction: proposal.dosageInstruction,
      dispenseRequest: orderSupply(proposal, input.decision, input.kind),
      note: [{ text: `${why} (${by}); pended for signature.${clinicianNote}`, time: at }],
    };
    return fhir.create(order, { ifNoneExist: { identifier: `${ORDER_IDENTIFIER_SYSTEM}|${input.caseId}` } });
  };

  switch (input.kind) {
    case 'pend_order': {
      const { resource, created } = await pend('Refill approved');
      if (proposal.status !== 'completed') {
        await fhir.update({
          ...proposal,
          status: 'completed',
          note: withNote(proposal, `Renewed as MedicationRequest/${resource.id} (${by}).`, at),
        });
      }
      return { kind: input.kind, orderId: resource.id ?? null, proposalStatus: 'completed', created };
    }
    case 'sign_order': {
      const order = await findOrder(fhir, input.caseId);
      if (order) {
        const text = `Signed (${by}).${clinicianNote}`;
        if (!(order.note ?? []).some((n) => n.text === text))
          await fhir.update({ ...order, note: withNote(order, text, at) });
      }
      return {
        kind: input.kind,
        orderId: order?.id ?? null,
        proposalStatus: proposal.status ?? 'unknown',
        created: false,
      };
    }
    case 'record_denial': {
      const order = await findOrder(fhir, input.caseId);
      if (order && order.status !== 'cancelled') {
        await fhir.update({
          ...order,
          status: 'cancelled',
          note: withNote(order, `Cancelled: refill denied (${by}).`, at),
        });
      }
      if (proposal.status !== 'cancelled') {
        await fhir.update({
          ...proposal,
          status: 'cancelled',
          statusReason: { text: 'Refill denied by clinician' },
          note: withNote(proposal, `Refill denied (${by}).${clinicianNote}`, at),
        });
      }
      return { kind: input.kind, orderId: order?.id ?? null, proposalStatus: 'cancelled', created: false };
    }
    case 'record_needs_visit': {
      const order = await findOrder(fhir, input.caseId);
      let orderId = order?.id ?? null;
      let created = false;
      if (input.decision?.bridgeSupply && !order) {
        const r = await pend('Bridge supply until the patient is seen');
        orderId = r.resource.id ?? null;
        created = r.created;
      } else if (order && order.status !== 'cancelled' && !input.decision?.bridgeSupply) {
        await fhir.update({
          ...order,
          status: 'cancelled',
          note: withNote(order, `Cancelled: patient needs a visit (${by}).`, at),
        });
      }
      const status = orderId && input.decision?.bridgeSupply ? 'completed' : 'cancelled';
      if (proposal.status !== status) {
        await fhir.update({
          ...proposal,
          status,
          statusReason: { text: 'Patient needs an office visit' },
          note: withNote(proposal, `Needs visit (${by}).${clinicianNote}`, at),
        });
      }
      return { kind: input.kind, orderId, proposalStatus: status, created };
    }
  }
}

export interface SyncQueueTaskInput {
  caseId: string;
  clinicId: string;
  requestId: string;
  medicationRequestId: string;
  queue: Queue | null;
  pool: string | null;
  /** The stage, e.g. `nurse-review`, `awaiting-signature`, `approved`. */
  businessStatus: string;
  status: 'requested' | 'completed' | 'cancelled';
  slaDueAt: string | null;
  /** A clinician's note for the next reader (a nurse's escalation): added to the Task's notes once. */
  note?: string;
}

const PERFORMER: Record<Queue, { code: string; display: string }> = {
  signature: { code: '158965000', display: 'Medical practitioner' },
  doctor: { code: '158965000', display: 'Medical practitioner' },
  nurse: { code: '224535009', display: 'Registered nurse' },
  outreach: { code: '224535009', display: 'Registered nurse' },
};

/**
 * Mirrors the case's queue item as a FHIR `Task` in the EHR (code "refill request", focus the proposal, performerType
 * the queue's role, businessStatus the stage, restriction.period.end the SLA): one Task per case, created
 * conditionally on an identifier derived from the case id and updated in place afterwards.
 */
export async function syncQueueTask(
  fhir: FhirConnector,
  input: SyncQueueTaskInput,
  now: Date,
): Promise<{ taskId: string }> {
  const identifier = `${TASK_IDENTIFIER_SYSTEM}|${input.caseId}`;
  const existing = (await fhir.search('Task', { identifier })).matches[0];
  // The Task's patient comes from the proposal; a proposal the EHR does not have (the case went to a human for that
  // reason) still gets its Task, without a patient.
  const proposal = existing
    ? undefined
    : await fhir.read('MedicationRequest', input.medicationRequestId).catch((err: unknown) => {
        if (err instanceof AppError && err.code === 'EHR_NOT_FOUND') return undefined;
        throw err;
      });
  const performer = input.queue ? PERFORMER[input.queue] : undefined;
  const task: Task = {
    ...(existing ?? {}),
    resourceType: 'Task',
    identifier: [{ system: TASK_IDENTIFIER_SYSTEM, value: input.caseId }],
    status: input.status,
    intent: 'order',
    priority: 'routine',
    code: {
      coding: [{ system: TASK_CODE_SYSTEM, code: 'refill-request', display: 'refill request' }],
      text: 'refill request',
    },
    focus: { reference: `MedicationRequest/${input.medicationRequestId}` },
    ...(existing?.for ? { for: existing.for } : proposal?.subject ? { for: proposal.subject } : {}),
    authoredOn: existing?.authoredOn ?? now.toISOString(),
    lastModified: now.toISOString(),
    businessStatus: { text: input.businessStatus },
    ...(performer
      ? {
          performerType: [
            {
              coding: [{ system: 'http://snomed.info/sct', code: performer.code, display: performer.display }],
              text: input.pool ?? `${input.queue} queue`,
            },
          ],
        }
      : {}),
    ...(input.slaDueAt ? { restriction: { period: { end: input.slaDueAt } } } : {}),
  };
  if (!input.slaDueAt) delete task.restriction;
  if (input.note && !(task.note ?? []).some((n) => n.text === input.note)) {
    task.note = [...(task.note ?? []), { text: input.note, time: now.toISOString() }];
  }
  if (existing) {
    const updated = await fhir.update(task);
    return { taskId: updated.id! };
  }
  const { resource } = await fhir.create(task, { ifNoneExist: { identifier } });
  if (resource.status !== task.status || resource.businessStatus?.text !== input.businessStatus) {
    // Someone (our own earlier attempt) created it between the search and the create: update it in place.
    const updated = await fhir.update({ ...task, id: resource.id });
    return { taskId: updated.id! };
  }
  return { taskId: resource.id! };
}
