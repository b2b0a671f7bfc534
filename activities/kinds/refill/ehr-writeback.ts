import type { Annotation, MedicationRequest, Task } from '@medplum/fhirtypes';
import type { FhirConnector } from '../../../connectors/fhir/connector.ts';
import { AppError } from '../../../rules/index.ts';
import type { Actor, Queue } from '../../../rules/schema/case.ts';
import { QUEUE_PERFORMER } from '../../queue-performer.ts';
import type { TriageDecision } from '../../../rules/kinds/refill/decision.ts';
import type { Role, SignedAs } from '../../../rules/lifecycle/index.ts';

/** Identifier systems of what we write, so a retried activity finds its own earlier write instead of writing twice. */
export const ORDER_IDENTIFIER_SYSTEM = 'urn:ehr-autopilot:pended-order';
export const TASK_IDENTIFIER_SYSTEM = 'urn:ehr-autopilot:refill-task';
/** The system of the app's user ids (a token's `userId`) on the signer's PractitionerRole. */
export const USER_IDENTIFIER_SYSTEM = 'urn:ehr-autopilot:user';
const SNOMED = 'http://snomed.info/sct';
/** The contained PractitionerRole of whoever signed an order (`requester` or `performer` refers to it). */
const SIGNER_ID = 'signer';
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
  /**
   * Whether this act signs the order (rules/lifecycle `signatureOf`): `requester` (a prescriber) or `performer` (a
   * delegate); `null`: nobody signs by it, and an order it pends is a `draft` awaiting signature.
   */
  signedAs: SignedAs | null;
}

export interface WriteBackResult {
  kind: WriteBackKind;
  orderId: string | null;
  proposalStatus: string;
  created: boolean;
}

/** FHIR PractitionerRole codes (SNOMED CT) of the roles that act on cases. */
export const PRACTITIONER_ROLE_CODES: Readonly<Record<Exclude<Role, 'admin'>, { code: string; display: string }>> = {
  doctor: { code: '158965000', display: 'Medical practitioner' },
  nurse: { code: '224535009', display: 'Registered nurse' },
};

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
 * The signer of an order: a contained PractitionerRole (the app's user id, the role's code) as the order's
 * `requester` (a prescriber) or `performer` (a delegate signing under the clinic's delegation protocol).
 */
function signedBy(actor: Actor, as: SignedAs): Pick<MedicationRequest, 'contained' | 'requester' | 'performer'> {
  if (actor.role === 'admin') throw new AppError('INVALID_INPUT', 'An admin never signs an order');
  const code = PRACTITIONER_ROLE_CODES[actor.role];
  const ref = { reference: `#${SIGNER_ID}`, display: `${actor.role} ${actor.userId}` };
  return {
    contained: [
      {
        resourceType: 'PractitionerRole',
        id: SIGNER_ID,
        identifier: [{ system: USER_IDENTIFIER_SYSTEM, value: actor.userId }],
        code: [{ coding: [{ system: SNOMED, ...code }], text: actor.role }],
      },
    ],
    ...(as === 'requester' ? { requester: ref } : { performer: ref }),
  };
}

/** Whether the order carries a signature this module wrote (an order pended before drafts existed carries none). */
const isSigned = (order: MedicationRequest): boolean =>
  (order.contained ?? []).some((r) => r.resourceType === 'PractitionerRole' && r.id === SIGNER_ID);

/**
 * Writes a case's outcome back to the EHR, idempotently (every create is conditional on an identifier derived from
 * the case id, every update checks first whether it is done).
 *
 * FHIR R4 order semantics: an order nobody has signed is `draft` (not actionable); it becomes `active` only when a
 * signer signs it, with the signer as `requester` (or `performer`, a delegate); the pharmacy's proposal is completed
 * only when its order is activated.
 *
 * - `pend_order`: an order MedicationRequest `basedOn` the proposal. Pended by the protocol or by a clinician who does
 *   not sign (`signedAs` null), it is a `draft` and the proposal stays open with a note; pended by a signer, it is
 *   `active` at once and the proposal completed.
 * - `sign_order`: the pended draft becomes `active` with its signer, and the proposal is completed. An order that is
 *   `active` already and carries no signature of ours was pended before drafts existed: it is not re-activated or
 *   re-attributed; the signature is recorded as a note, as it was then.
 * - `record_denial`: the proposal is cancelled with the reason; a pended draft is `cancelled` (withdrawn before any
 *   use), an `active` one (pended before drafts existed) `stopped` (it was actionable, it may have been filled).
 * - `record_needs_visit`: the patient must be seen; a bridge supply (if the protocol gave one) is pended as an order
 *   (draft or active, as above), and the proposal records why.
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
  const signer = input.decidedBy.kind === 'clinician' && input.signedAs ? input.decidedBy.actor : null;
  const signature = signer && input.signedAs ? signedBy(signer, input.signedAs) : null;

  const pend = async (why: string) => {
    const order: MedicationRequest = {
      resourceType: 'MedicationRequest',
      ...(signature ? { contained: signature.contained } : {}),
      identifier: [{ system: ORDER_IDENTIFIER_SYSTEM, value: input.caseId }],
      status: signature ? 'active' : 'draft',
      intent: 'order',
      category: proposal.category,
      subject: proposal.subject,
      ...(proposal.medicationCodeableConcept ? { medicationCodeableConcept: proposal.medicationCodeableConcept } : {}),
      ...(proposal.medicationReference ? { medicationReference: proposal.medicationReference } : {}),
      authoredOn: at,
      ...(signature?.requester ? { requester: signature.requester } : {}),
      ...(signature?.performer ? { performer: signature.performer } : {}),
      basedOn: [{ reference: `MedicationRequest/${proposal.id}` }],
      ...(proposal.priorPrescription ? { priorPrescription: proposal.priorPrescription } : {}),
      dosageInstruction: proposal.dosageInstruction,
      dispenseRequest: orderSupply(proposal, input.decision, input.kind),
      note: [{ text: `${why} (${by}); ${signature ? 'signed' : 'pended for signature'}.${clinicianNote}`, time: at }],
    };
    return fhir.create(order, { ifNoneExist: { identifier: `${ORDER_IDENTIFIER_SYSTEM}|${input.caseId}` } });
  };

  /** The proposal once its order is active: completed, pointing at the order. */
  const completeProposal = async (orderId: string | undefined) => {
    if (proposal.status === 'completed') return;
    await fhir.update({
      ...proposal,
      status: 'completed',
      note: withNote(proposal, `Renewed as MedicationRequest/${orderId} (${by}).`, at),
    });
  };
  /** The proposal while its order awaits signature: open, with a note pointing at the draft. */
  const notePending = async (orderId: string | undefined) => {
    const text = `Pended as draft MedicationRequest/${orderId} for signature (${by}).`;
    if ((proposal.note ?? []).some((n) => n.text === text)) return;
    await fhir.update({ ...proposal, note: withNote(proposal, text, at) });
  };
  /** Withdraws an order: a draft is cancelled, an order that was ever actionable is stopped. */
  const withdraw = async (order: MedicationRequest, why: string) => {
    if (order.status === 'cancelled' || order.status === 'stopped') return order.status;
    const status = order.status === 'draft' ? 'cancelled' : 'stopped';
    await fhir.update({ ...order, status, note: withNote(order, `${why} (${by}).`, at) });
    return status;
  };

  switch (input.kind) {
    case 'pend_order': {
      const { resource, created } = await pend('Refill approved');
      if (resource.status === 'active') {
        await completeProposal(resource.id);
        return { kind: input.kind, orderId: resource.id ?? null, proposalStatus: 'completed', created };
      }
      await notePending(resource.id);
      return { kind: input.kind, orderId: resource.id ?? null, proposalStatus: proposal.status ?? 'unknown', created };
    }
    case 'sign_order': {
      let order = await findOrder(fhir, input.caseId);
      let created = false;
      if (!order && signature) {
        // The pend failed for good earlier (recorded on the case): the signer's approval writes the order now.
        const r = await pend('Refill approved');
        order = r.resource;
        created = r.created;
      } else if (order && order.status === 'draft' && signature) {
        const text = `Signed (${by}).${clinicianNote}`;
        order = await fhir.update({
          ...order,
          ...signature,
          status: 'active',
          note: withNote(order, text, at),
        });
      } else if (order && order.status === 'active' && !isSigned(order)) {
        // Pended `active` before drafts existed: left as it is (no re-activation, no requester); the signature is
        // recorded as a note, as it was then.
        const text = `Signed (${by}).${clinicianNote}`;
        if (!(order.note ?? []).some((n) => n.text === text))
          await fhir.update({ ...order, note: withNote(order, text, at) });
      }
      if (order?.status === 'active') await completeProposal(order.id);
      return {
        kind: input.kind,
        orderId: order?.id ?? null,
        proposalStatus: order?.status === 'active' ? 'completed' : (proposal.status ?? 'unknown'),
        created,
      };
    }
    case 'record_denial': {
      const order = await findOrder(fhir, input.caseId);
      if (order) await withdraw(order, 'Withdrawn: refill denied');
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
      let orderStatus = order?.status;
      let created = false;
      if (input.decision?.bridgeSupply && !order) {
        const r = await pend('Bridge supply until the patient is seen');
        orderId = r.resource.id ?? null;
        orderStatus = r.resource.status;
        created = r.created;
      } else if (order && !input.decision?.bridgeSupply) {
        orderStatus = await withdraw(order, 'Withdrawn: patient needs a visit');
      }
      // The proposal is completed only by an active bridge order; an unsigned bridge leaves it open until signed.
      const bridged = orderId !== null && input.decision?.bridgeSupply;
      const status = bridged ? (orderStatus === 'active' ? 'completed' : proposal.status) : 'cancelled';
      const text =
        bridged && orderStatus === 'draft'
          ? `Needs visit (${by}); bridge supply pended as draft MedicationRequest/${orderId} for signature.${clinicianNote}`
          : `Needs visit (${by}).${clinicianNote}`;
      if (proposal.status !== status || !(proposal.note ?? []).some((n) => n.text === text)) {
        await fhir.update({
          ...proposal,
          status,
          statusReason: { text: 'Patient needs an office visit' },
          note: withNote(proposal, text, at),
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
  const performer = input.queue ? QUEUE_PERFORMER[input.queue] : undefined;
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
