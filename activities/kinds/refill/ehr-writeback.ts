import type { Annotation, MedicationRequest, Task } from '@medplum/fhirtypes';
import type { FhirConnector } from '../../../connectors/fhir/connector.ts';
import { AppError } from '../../../rules/index.ts';
import type { Actor, Queue } from '../../../rules/schema/case.ts';
import { QUEUE_PERFORMER } from '../../queue-performer.ts';
import type { TriageDecision } from '../../../rules/kinds/refill/decision.ts';
import type { Role, SignedAs, SigningPolicy } from '../../../rules/lifecycle/index.ts';

/** Identifier systems of what we write, so a retried activity finds its own earlier write instead of writing twice. */
export const ORDER_IDENTIFIER_SYSTEM = 'urn:ehr-autopilot:pended-order';
export const TASK_IDENTIFIER_SYSTEM = 'urn:ehr-autopilot:refill-task';
/** The system of the app's user ids (a token's `userId`) on the signer's PractitionerRole. */
export const USER_IDENTIFIER_SYSTEM = 'urn:ehr-autopilot:user';
const SNOMED = 'http://snomed.info/sct';
/** The contained PractitionerRole of whoever signed an order (`requester` or `performer` refers to it). */
const SIGNER_ID = 'signer';
const TASK_CODE_SYSTEM = 'urn:ehr-autopilot:task-code';
/**
 * The extension each signing act adds to an order (a signature, a standing order's activation, a co-signature): who
 * acted, in which role and capacity, under which signing policy (mode, version) and protocol version.
 */
export const SIGNING_EXTENSION_URL = 'urn:ehr-autopilot:extension:signing';
/** The contained PractitionerRole of the doctor who co-signed a standing order. */
const COSIGNER_ID = 'cosigner';

export type WriteBackKind =
  | 'pend_order'
  | 'sign_order'
  | 'record_denial'
  | 'record_needs_visit'
  /** A protocol approval activated at once under the clinic's standing order (the policy's authority as requester). */
  | 'standing_order'
  /** A doctor co-signs an order a standing order activated. */
  | 'cosign_order';

/** The protocol's decision as far as a write-back reads it: the version that decided and the supplies it gave. */
export type WriteBackDecision = Pick<TriageDecision, 'protocol' | 'approvedSupply' | 'bridgeSupply'>;

export interface WriteBackInput {
  caseId: string;
  clinicId: string;
  requestId: string;
  medicationRequestId: string;
  kind: WriteBackKind;
  /** What of the protocol's decision a write-back uses (workflows started before issue 11 send all of it). */
  decision: WriteBackDecision | null;
  note: string | null;
  decidedBy:
    | { kind: 'protocol'; protocol: { id: string; version: number } }
    | { kind: 'clinician'; actor: Actor; decisionId: string };
  /**
   * Whether this act signs the order (rules/lifecycle `signatureOf`): `requester` (a prescriber) or `performer` (a
   * delegate); `null`: nobody signs by it, and an order it pends is a `draft` awaiting signature.
   */
  signedAs: SignedAs | null;
  /**
   * The signing policy the case pinned (rules/lifecycle `SigningPolicy`): recorded on every signing act, and its
   * `authority` is the requester of an order a delegate signs or a standing order activates. Absent in workflows
   * started before signing policies (they ran the `doctor` policy).
   */
  policy?: SigningPolicy | null;
}

export interface WriteBackResult {
  kind: WriteBackKind;
  orderId: string | null;
  proposalStatus: string;
  created: boolean;
}

/**
 * FHIR PractitionerRole codes of the roles that act on cases: SNOMED CT occupations (158965000 Medical practitioner,
 * 224535009 Registered nurse, 46255001 Pharmacist, 449161006 Physician assistant), and where HL7's own
 * practitioner-role code system has the role (http://terminology.hl7.org/CodeSystem/practitioner-role: `doctor`,
 * `nurse`, `pharmacist`; it has no physician assistant) that code too.
 */
export const PRACTITIONER_ROLE_CODES: Readonly<
  Record<Exclude<Role, 'admin' | 'privacy'>, { code: string; display: string; hl7?: string }>
> = {
  doctor: { code: '158965000', display: 'Medical practitioner', hl7: 'doctor' },
  nurse: { code: '224535009', display: 'Registered nurse', hl7: 'nurse' },
  pharmacist: { code: '46255001', display: 'Pharmacist', hl7: 'pharmacist' },
  pa: { code: '449161006', display: 'Physician assistant' },
};
const HL7_PRACTITIONER_ROLE = 'http://terminology.hl7.org/CodeSystem/practitioner-role';

/** The signing policy's authority as a FHIR reference (what a delegate's or a standing order's order is requested by). */
function authorityRef(policy: SigningPolicy | null | undefined): MedicationRequest['requester'] | undefined {
  const a = policy?.authority;
  if (!a) return undefined;
  return { ...(a.reference ? { reference: a.reference } : {}), display: a.display };
}

/** One signing act as an extension of the order (see {@link SIGNING_EXTENSION_URL}). */
function signingExtension(
  input: WriteBackInput,
  capacity: SignedAs | 'standing-order' | 'cosigner',
  at: string,
): NonNullable<MedicationRequest['extension']>[number] {
  const by = input.decidedBy;
  const protocol = by.kind === 'protocol' ? by.protocol : (input.decision?.protocol ?? null);
  const policy = input.policy ?? null;
  return {
    url: SIGNING_EXTENSION_URL,
    extension: [
      { url: 'capacity', valueCode: capacity },
      { url: 'role', valueCode: by.kind === 'protocol' ? 'protocol' : by.actor.role },
      ...(by.kind === 'clinician' ? [{ url: 'user', valueString: by.actor.userId }] : []),
      { url: 'policyMode', valueCode: policy?.mode ?? 'doctor' },
      { url: 'policyVersion', valueInteger: policy?.version ?? 0 },
      ...(protocol ? [{ url: 'protocol', valueString: `${protocol.id}|${protocol.version}` }] : []),
      { url: 'at', valueDateTime: at },
    ],
  };
}

/** Adds a signing act's extension once (a retried write finds it there: same capacity, role and user). */
function withSigning(
  order: MedicationRequest,
  ext: NonNullable<MedicationRequest['extension']>[number],
): MedicationRequest['extension'] {
  const key = (e: NonNullable<MedicationRequest['extension']>[number]) =>
    JSON.stringify((e.extension ?? []).filter((x) => x.url !== 'at'));
  const existing = order.extension ?? [];
  return existing.some((e) => e.url === SIGNING_EXTENSION_URL && key(e) === key(ext)) ? existing : [...existing, ext];
}

/** ", under signing policy <mode> v<version>" for notes (nothing for a case that pinned no policy). */
function policyText(policy: SigningPolicy | null | undefined): string {
  return policy ? `, under signing policy ${policy.mode} v${policy.version}` : '';
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
  decision: WriteBackDecision | null,
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
function signedBy(
  actor: Actor,
  as: SignedAs,
  policy?: SigningPolicy | null,
): Pick<MedicationRequest, 'contained' | 'requester' | 'performer'> {
  const ref = { reference: `#${SIGNER_ID}`, display: `${actor.role} ${actor.userId}` };
  // A delegate signs under the policy's authority, who is then the order's requester.
  const authority = as === 'performer' ? authorityRef(policy) : undefined;
  return {
    contained: [practitionerRole(SIGNER_ID, actor)],
    ...(as === 'requester' ? { requester: ref } : { performer: ref, ...(authority ? { requester: authority } : {}) }),
  };
}

/** A contained PractitionerRole for an app user in a role (its SNOMED CT code, and HL7's where there is one). */
function practitionerRole(id: string, actor: Actor): NonNullable<MedicationRequest['contained']>[number] {
  if (actor.role === 'admin' || actor.role === 'privacy') {
    throw new AppError(
      'INVALID_INPUT',
      `${actor.role === 'admin' ? 'An admin' : 'A privacy officer'} never signs an order`,
    );
  }
  const { code, display, hl7 } = PRACTITIONER_ROLE_CODES[actor.role];
  return {
    resourceType: 'PractitionerRole',
    id,
    identifier: [{ system: USER_IDENTIFIER_SYSTEM, value: actor.userId }],
    code: [
      {
        coding: [{ system: SNOMED, code, display }, ...(hl7 ? [{ system: HL7_PRACTITIONER_ROLE, code: hl7 }] : [])],
        text: actor.role,
      },
    ],
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
  known?: MedicationRequest,
): Promise<WriteBackResult> {
  const at = now.toISOString();
  // `known`: the proposal as this worker read it moments ago (the triage's read), with its version: no second read,
  // and its updates are version-aware (If-Match), so a proposal someone changed in between is read again, never
  // overwritten.
  const versioned = known?.id === input.medicationRequestId && known.meta?.versionId !== undefined;
  let proposal = versioned ? known : await fhir.read('MedicationRequest', input.medicationRequestId);
  /** Writes `change(proposal)` (null: nothing to write); on a version conflict, reads it again and retries once. */
  const updateProposal = async (change: (p: MedicationRequest) => MedicationRequest | null): Promise<void> => {
    const next = change(proposal);
    if (next === null) return;
    if (!versioned) {
      await fhir.update(next);
      return;
    }
    try {
      await fhir.update(next, { ifMatch: proposal.meta!.versionId! });
    } catch (err) {
      // A version conflict: 412 as FHIR R4 says, or 409 as HAPI FHIR answers it (test/peer/writeback.peer.test.ts).
      const status = err instanceof AppError && err.code === 'EHR_REJECTED' ? err.context?.status : undefined;
      if (status !== 412 && status !== 409) throw err;
      proposal = await fhir.read('MedicationRequest', input.medicationRequestId);
      const again = change(proposal);
      if (again !== null) await fhir.update(again);
    }
  };
  const by = decidedByText(input.decidedBy);
  const clinicianNote = input.note ? ` Note: ${input.note}` : '';
  const signer = input.decidedBy.kind === 'clinician' && input.signedAs ? input.decidedBy.actor : null;
  const signature = signer && input.signedAs ? signedBy(signer, input.signedAs, input.policy) : null;
  const signing = input.signedAs ? signingExtension(input, input.signedAs, at) : null;

  const pend = async (why: string) => {
    const order: MedicationRequest = {
      resourceType: 'MedicationRequest',
      ...(signature ? { contained: signature.contained } : {}),
      ...(signature && signing ? { extension: [signing] } : {}),
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
  const completeProposal = (orderId: string | undefined) =>
    updateProposal((p) =>
      p.status === 'completed'
        ? null
        : { ...p, status: 'completed', note: withNote(p, `Renewed as MedicationRequest/${orderId} (${by}).`, at) },
    );
  /** The proposal while its order awaits signature: open, with a note pointing at the draft. */
  const notePending = (orderId: string | undefined) => {
    const text = `Pended as draft MedicationRequest/${orderId} for signature (${by}).`;
    return updateProposal((p) =>
      (p.note ?? []).some((n) => n.text === text) ? null : { ...p, note: withNote(p, text, at) },
    );
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
        const text = `Signed (${by}${policyText(input.policy)}).${clinicianNote}`;
        order = await fhir.update({
          ...order,
          ...signature,
          ...(signing ? { extension: withSigning(order, signing) } : {}),
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
    case 'standing_order': {
      // Activated without a signature under the clinic's standing order: the policy's authority is the requester, the
      // co-sign comes later (cosign_order). A retry finds its own order; a draft of ours (none should exist) is activated.
      const requester = authorityRef(input.policy);
      const ext = signingExtension(input, 'standing-order', at);
      const why = `Activated under standing order${policyText(input.policy)}; a doctor co-signs it later`;
      const draft: MedicationRequest = {
        resourceType: 'MedicationRequest',
        extension: [ext],
        identifier: [{ system: ORDER_IDENTIFIER_SYSTEM, value: input.caseId }],
        status: 'active',
        intent: 'order',
        category: proposal.category,
        subject: proposal.subject,
        ...(proposal.medicationCodeableConcept
          ? { medicationCodeableConcept: proposal.medicationCodeableConcept }
          : {}),
        ...(proposal.medicationReference ? { medicationReference: proposal.medicationReference } : {}),
        authoredOn: at,
        ...(requester ? { requester } : {}),
        basedOn: [{ reference: `MedicationRequest/${proposal.id}` }],
        ...(proposal.priorPrescription ? { priorPrescription: proposal.priorPrescription } : {}),
        dosageInstruction: proposal.dosageInstruction,
        dispenseRequest: orderSupply(proposal, input.decision, input.kind),
        note: [{ text: `${why} (${by}).`, time: at }],
      };
      const r = await fhir.create(draft, {
        ifNoneExist: { identifier: `${ORDER_IDENTIFIER_SYSTEM}|${input.caseId}` },
      });
      let order = r.resource;
      if (order.status === 'draft') {
        order = await fhir.update({
          ...order,
          ...(requester ? { requester } : {}),
          extension: withSigning(order, ext),
          status: 'active',
          note: withNote(order, `${why} (${by}).`, at),
        });
      }
      if (order.status === 'active') await completeProposal(order.id);
      return {
        kind: input.kind,
        orderId: order.id ?? null,
        proposalStatus: order.status === 'active' ? 'completed' : (proposal.status ?? 'unknown'),
        created: r.created,
      };
    }
    case 'cosign_order': {
      // The doctor co-signs the active order: a contained PractitionerRole `cosigner`, the signing extension and a
      // note. An order missing (its activation failed for good, recorded on the case) is written now, signed by them.
      if (!signer) throw new AppError('INVALID_INPUT', 'A co-signature needs a clinician');
      let order = await findOrder(fhir, input.caseId);
      let created = false;
      if (!order) {
        const r = await pend('Refill approved');
        order = r.resource;
        created = r.created;
      } else {
        const ext = signingExtension(input, 'cosigner', at);
        const contained = (order.contained ?? []).filter((c) => c.id !== COSIGNER_ID);
        const text = `Co-signed (${by}${policyText(input.policy)}).${clinicianNote}`;
        if (!(order.note ?? []).some((n) => n.text === text)) {
          order = await fhir.update({
            ...order,
            contained: [...contained, practitionerRole(COSIGNER_ID, signer)],
            extension: withSigning(order, ext),
            note: withNote(order, text, at),
          });
        }
      }
      if (order.status === 'active') await completeProposal(order.id);
      return {
        kind: input.kind,
        orderId: order.id ?? null,
        proposalStatus: order.status === 'active' ? 'completed' : (proposal.status ?? 'unknown'),
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
  /**
   * The case's first sync, as it enters its first queue: the EHR is not expected to have the Task yet, so it is created
   * conditionally at once instead of searched for first (an earlier attempt's Task is then updated as usual).
   */
  first?: boolean;
  /**
   * The request's patient (FHIR id) as the triage just read it: the Task's `for`, without reading the proposal again
   * (which the triage found, so the Task's focus references it).
   */
  patientId?: string;
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
  const existing = input.first ? undefined : (await fhir.search('Task', { identifier })).matches[0];
  // The Task's patient comes from the proposal (or the triage's read of it); a proposal the EHR does not have (the
  // case went to a human for that reason) still gets its Task, without a patient.
  const proposal: Pick<MedicationRequest, 'subject'> | undefined =
    existing !== undefined
      ? undefined
      : input.patientId !== undefined
        ? { subject: { reference: `Patient/${input.patientId}` } }
        : await fhir.read('MedicationRequest', input.medicationRequestId).catch((err: unknown) => {
            if (err instanceof AppError && err.code === 'EHR_NOT_FOUND') return undefined;
            throw err;
          });
  const performer = input.queue ? QUEUE_PERFORMER[input.queue] : undefined;
  // A proposal the EHR does not have is named, not referenced: an EHR that enforces referential integrity refuses a
  // reference to a resource it lacks (HAPI FHIR: HAPI-1094), and the Task must still be written.
  const focus: Task['focus'] =
    existing?.focus ??
    (proposal
      ? { reference: `MedicationRequest/${input.medicationRequestId}` }
      : { type: 'MedicationRequest', display: `MedicationRequest/${input.medicationRequestId} (not in the EHR)` });
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
    focus,
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
  const { resource, created } = await fhir.create(task, { ifNoneExist: { identifier } });
  // A first sync that finds the Task there (an earlier attempt wrote it) brings it up to date as any later sync does.
  if (input.first && !created) return syncQueueTask(fhir, { ...input, first: false }, now);
  if (resource.status !== task.status || resource.businessStatus?.text !== input.businessStatus) {
    // Someone (our own earlier attempt) created it between the search and the create: update it in place.
    const updated = await fhir.update({ ...task, id: resource.id });
    return { taskId: updated.id! };
  }
  return { taskId: resource.id! };
}
