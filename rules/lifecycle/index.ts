// The case lifecycle: one pure state machine for the life of a case, from intake to close. Statuses, queues,
// routing, escalation, who may decide what, and the audit action each step records.
//
// Dependency-free on purpose (no zod, no Node, no other module of this repo at run time): the workflow sandbox imports
// it (see eslint.config.mjs), the API's precheck calls the same `canDecide` as the workflow's Update validator, and
// the console receives it from the API (`GET /v1/lifecycle`). rules/schema/case.ts builds its zod schemas from the
// vocabularies declared here.

/**
 * Bearer tokens carry exactly one role. `pa` is a physician assistant, who prescribes (signs an order as its
 * requester) where the clinic's signing policy lets them sign; a `pharmacist` works the nurse queue and signs only as a
 * delegate (rules below: {@link signersOf}). `privacy` is a clinic's privacy officer: works no queue, decides nothing,
 * and reads only access monitoring (who looked at which patient's data; api/routes/access.ts).
 */
export const ROLES = ['admin', 'doctor', 'nurse', 'pharmacist', 'pa', 'privacy'] as const;
export type Role = (typeof ROLES)[number];

/** How a role reads in a sentence ("needs a doctor or physician assistant"). */
export const ROLE_NOUNS: Readonly<Record<Role, string>> = {
  admin: 'admin',
  doctor: 'doctor',
  nurse: 'nurse',
  pharmacist: 'pharmacist',
  pa: 'physician assistant',
  privacy: 'privacy officer',
};

/** Roles as a sentence names them: `doctor or physician assistant`. */
export const rolesInWords = (roles: readonly string[]): string =>
  roles.map((r) => (ROLE_NOUNS as Readonly<Record<string, string>>)[r] ?? r).join(' or ');

/**
 * The work queues clinics run: `signature` holds refills approved by protocol and pended for one-click signing by a
 * doctor (or a delegate the clinic's signing policy names); `nurse` and `doctor` hold cases a human must triage;
 * `outreach` holds tracking items of work the protocol started by itself (a mailed stool-test kit), which need no
 * decision unless someone wants to act on them; `cosign` holds orders a standing order activated, which a doctor
 * co-signs within the policy's window.
 */
export const QUEUES = ['signature', 'nurse', 'doctor', 'outreach', 'cosign'] as const;
export type Queue = (typeof QUEUES)[number];

/**
 * `received`: the webhook recorded the request (before the workflow runs); `triaging`: the workflow reads the EHR and
 * evaluates the protocol; `queued`: waiting for a clinician; `closed`: decided and written back. `failed` is in the
 * vocabulary (and the database's check constraint) but no step sets it today: a case that cannot be triaged is queued
 * for a human instead.
 */
export const CASE_STATUSES = ['received', 'triaging', 'queued', 'closed', 'failed'] as const;
export type CaseStatus = (typeof CASE_STATUSES)[number];

/** The status in which a case awaits a clinician's decision. */
export const DECIDABLE_STATUS = 'queued' satisfies CaseStatus;

/** What a clinician can do with a case. Denial is a clinician's act, never a protocol's. */
export const CLINICIAN_ACTIONS = ['approve', 'deny', 'needs_visit', 'escalate'] as const;
export type ClinicianAction = (typeof CLINICIAN_ACTIONS)[number];

/** The final outcome of a case, as written back to the EHR. */
export const CASE_OUTCOMES = ['approved', 'denied', 'needs_visit'] as const;
export type CaseOutcome = (typeof CASE_OUTCOMES)[number];

/** Why a case reached a human without (or beyond) a protocol decision. PHI-free codes. */
export const ROUTE_REASONS = [
  'protocol',
  'follow_up_due',
  'automation_disabled',
  'ehr_record_not_found',
  'escalated_sla',
  'escalated_by_nurse',
  'ehr_unavailable',
  'protocol_unavailable',
  'pended_for_signature',
  'standing_order',
  'escalated_cosign_overdue',
] as const;
export type RouteReason = (typeof ROUTE_REASONS)[number];
export type EscalationReason = Extract<RouteReason, 'escalated_sla' | 'escalated_by_nurse'>;

/**
 * Which roles may decide a case sitting in a queue, whatever the clinic's signing policy. Admins configure; they do
 * not practise. A PA works the doctor queue like a doctor, and a pharmacist the nurse queue like a nurse; the signing
 * policy adds its delegates to the signature queue, case by case ({@link queueRolesFor}). Co-signing a standing order
 * is a physician's supervision: doctors only.
 */
export const QUEUE_ROLES: Readonly<Record<Queue, readonly Role[]>> = {
  signature: ['doctor'],
  nurse: ['nurse', 'pharmacist', 'doctor', 'pa'],
  doctor: ['doctor', 'pa'],
  outreach: ['nurse', 'doctor'],
  cosign: ['doctor'],
};

/** The actions a case in each queue offers, in the order the console shows them. Only the nurse queue escalates. */
export const QUEUE_ACTIONS: Readonly<Record<Queue, readonly ClinicianAction[]>> = {
  signature: ['approve', 'needs_visit', 'deny'],
  nurse: ['approve', 'needs_visit', 'deny', 'escalate'],
  doctor: ['approve', 'needs_visit', 'deny'],
  // Refill decisions never apply to a tracking item; a kind that uses the outreach queue supplies its own actions.
  outreach: [],
  // The order is active already: approving co-signs it, denying stops it.
  cosign: ['approve', 'deny'],
};

/** Roles that decide cases in some queue (derived: admins are in no queue). */
export const DECIDING_ROLES: readonly Role[] = ROLES.filter((r) => QUEUES.some((q) => QUEUE_ROLES[q].includes(r)));

/** Escalation, by the SLA timer or by a nurse, moves a case from this queue to that one, once. */
export const ESCALATION = { from: 'nurse', to: 'doctor' } as const satisfies { from: Queue; to: Queue };

/** The lifecycle state a decision is judged against: the workflow's own, or the projection the API reads. */
export interface LifecycleState {
  status: CaseStatus;
  queue: Queue | null;
  /** Whether the case was escalated once already (an escalated case has no SLA timer). */
  escalated: boolean;
}

// ---------------------------------------------------------------------------------------------------------------
// Routing

/** The dispositions this lifecycle routes (the default kind's decision; its schema is the kind's DispositionSchema). */
export type ProtocolDisposition = 'approve' | 'needs_visit' | 'nurse_review' | 'doctor_review';

/** Queue and pool a protocol disposition routes to. */
export function routeDisposition(
  disposition: ProtocolDisposition,
  routeTo: string | null,
): { queue: Queue; pool: string | null } {
  switch (disposition) {
    case 'approve':
      return { queue: 'signature', pool: null };
    case 'needs_visit':
      return { queue: 'nurse', pool: null };
    case 'nurse_review':
      return { queue: 'nurse', pool: routeTo };
    case 'doctor_review':
      return { queue: 'doctor', pool: routeTo };
  }
}

/** Whether a queued case runs the clinic's SLA timer: a nurse-queue case not escalated yet. */
export function slaRuns(state: LifecycleState): boolean {
  return state.status === 'queued' && state.queue === ESCALATION.from && !state.escalated;
}

// ---------------------------------------------------------------------------------------------------------------
// Who may decide what

export type DecisionRefusal = { ok: false; code: 'FORBIDDEN' | 'CONFLICT'; message: string };
export type DecisionCheck = { ok: true } | DecisionRefusal;

const ALLOWED: DecisionCheck = { ok: true };
const refuse = (code: DecisionRefusal['code'], message: string): DecisionRefusal => ({ ok: false, code, message });

/**
 * Whether an action's lifecycle preconditions hold. The checks both {@link canDecide} (refill decisions) and
 * {@link canTakeAction} (a kind's own actions) make, in this order: a role that never decides (FORBIDDEN), a closed
 * case, a case not queued (CONFLICT), an action already pending (CONFLICT), a role the queue does not allow
 * (FORBIDDEN); then the queue's offer of the action, from the caller's table (CONFLICT).
 */
function checkQueued(
  role: Role,
  state: Pick<LifecycleState, 'status' | 'queue'> & { decisionPending?: boolean },
  signing?: SigningContext,
): DecisionCheck & { queue?: Queue } {
  const decides = roleDecides(role);
  if (!decides.ok) return decides;
  if (state.status === 'closed') return refuse('CONFLICT', 'The case is closed');
  if (state.status !== DECIDABLE_STATUS || state.queue === null) {
    return refuse('CONFLICT', 'The case is not awaiting a decision yet');
  }
  if (state.decisionPending === true) return refuse('CONFLICT', 'The case already has a decision');
  const roles = queueRolesFor(state.queue, signing);
  if (!roles.includes(role)) {
    const why =
      state.queue === 'signature' && SIGNING_DELEGATES.includes(role)
        ? ': the clinic’s signing policy does not let this role sign this order'
        : '';
    return refuse('FORBIDDEN', `The ${state.queue} queue needs a ${rolesInWords(roles)}${why}`);
  }
  return { ok: true, queue: state.queue };
}

/**
 * Refuses a role that decides no case at all (admins, privacy officers), whatever the case: the API asks this before
 * it looks one up.
 */
export function roleDecides(role: Role): DecisionCheck {
  if (DECIDING_ROLES.includes(role)) return ALLOWED;
  return refuse(
    'FORBIDDEN',
    role === 'privacy'
      ? 'Privacy officers monitor access; clinicians decide cases'
      : 'Admins configure; clinicians decide cases',
  );
}

/**
 * May `role` take `action` on a case in this state? The one answer for the workflow's Update validator (which knows
 * whether a decision is already pending) and the API's precheck (which reads the projection and cannot know that).
 * Checks in order: a role that never decides (FORBIDDEN), a closed case, a case not queued (CONFLICT), a decision
 * already taken (CONFLICT), a role the queue does not allow (FORBIDDEN: in the signature queue, the case's signing
 * context adds the policy's delegates), an action the queue does not offer (CONFLICT). Without a signing context
 * nobody is delegated.
 */
export function canDecide(
  role: Role,
  state: Pick<LifecycleState, 'status' | 'queue'> & { decisionPending?: boolean },
  action: ClinicianAction,
  signing?: SigningContext,
): DecisionCheck {
  const queued = checkQueued(role, state, signing);
  if (!queued.ok || queued.queue === undefined) return queued.ok ? ALLOWED : queued;
  if (!QUEUE_ACTIONS[queued.queue].includes(action)) {
    return action === 'escalate'
      ? refuse('CONFLICT', `Only a ${ESCALATION.from}-queue case can be escalated`)
      : refuse('CONFLICT', `The ${queued.queue} queue does not offer ${action}`);
  }
  return ALLOWED;
}

// ---------------------------------------------------------------------------------------------------------------
// A kind's own clinician actions (a kind supplies the table; the lifecycle judges and applies it)

/** What an accepted kind action does to the case's place in the lifecycle; the kind's workflow does the rest. */
export type KindActionEffect =
  /** The case closes with this outcome (after the kind's write-back). */
  | { type: 'close'; outcome: string }
  /** The case moves to another queue (from the queue it is in; a queue missing from the map cannot move). */
  | { type: 'move'; to: Partial<Record<Queue, Queue>>; reason: EscalationReason }
  /** The case leaves its queue until a date, then the protocol re-evaluates it. */
  | { type: 'defer' }
  /** The kind acts (e.g. signs an order) and the case stays where it is until the protocol or data moves it. */
  | { type: 'stay' };

/** One clinician action a kind offers: who may take it, on items of which queues, and its lifecycle effect. */
export interface KindActionRule<A extends string = string> {
  id: A;
  label: string;
  roles: readonly Role[];
  queues: readonly Queue[];
  effect: KindActionEffect;
}

/**
 * A kind action as the lifecycle needs it to judge one: a full {@link KindActionRule}, or an action as a kind declares
 * it (rules/kinds/types.ts `KindAction`: no effect; a `move` is then judged by its roles and queues alone).
 */
export interface ActionRuleLike {
  id: string;
  label: string;
  roles: readonly string[];
  queues: readonly string[];
  effect?: KindActionEffect;
}

/**
 * May `role` take the kind action `action` on a case in this state? The same checks and order as {@link canDecide}
 * (the kind's Update validator and the API's precheck both ask this), over the kind's own table: a role the action
 * does not allow is FORBIDDEN, an action the case's queue does not offer (or one the kind does not have) CONFLICT.
 */
export function canTakeAction(
  role: Role,
  state: Pick<LifecycleState, 'status' | 'queue'> & { decisionPending?: boolean },
  action: string,
  rules: readonly ActionRuleLike[],
): DecisionCheck {
  const queued = checkQueued(role, state);
  if (!queued.ok || queued.queue === undefined) return queued.ok ? ALLOWED : queued;
  const rule = rules.find((r) => r.id === action);
  if (!rule || !rule.queues.includes(queued.queue)) {
    return refuse('CONFLICT', `The ${queued.queue} queue does not offer ${action}`);
  }
  if (!rule.roles.includes(role)) return refuse('FORBIDDEN', `${rule.label} needs a ${rolesInWords(rule.roles)}`);
  if (rule.effect?.type === 'move' && rule.effect.to[queued.queue] === undefined) {
    return refuse('CONFLICT', `A ${queued.queue}-queue case cannot be moved by ${action}`);
  }
  return ALLOWED;
}

/** The actions of a kind's table a case in `queue` offers to `role`, in table order (for the console). */
export function actionsOffered<A extends string>(
  role: Role,
  queue: Queue | null,
  rules: readonly KindActionRule<A>[],
): A[] {
  if (queue === null || !QUEUE_ROLES[queue].includes(role)) return [];
  return rules.filter((r) => r.queues.includes(queue) && r.roles.includes(role)).map((r) => r.id);
}

// ---------------------------------------------------------------------------------------------------------------
// Who signs an order: the clinic's signing policy (per protocol)

/**
 * How an approval signs an order (FHIR R4 MedicationRequest): as its `requester` (a prescriber), or as its
 * `performer` (a delegate signing under the clinic's delegation protocol). An order nobody signed is a `draft`.
 */
export type SignedAs = 'requester' | 'performer';

/**
 * Who signs an approval per protocol, a clinic setting: `doctor` (a doctor signs every order: the behaviour before
 * signing policies), `delegated` (the policy's delegates sign protocol-approved orders too), `standing_order`
 * (protocol-approved orders are activated at once under the clinic's standing order, and a doctor co-signs them
 * within `cosignDays`).
 */
export const SIGNING_MODES = ['doctor', 'delegated', 'standing_order'] as const;
export type SigningMode = (typeof SIGNING_MODES)[number];

/** The roles a `delegated` policy may name. */
export const SIGNING_DELEGATES: readonly Role[] = ['nurse', 'pharmacist', 'pa'];

/** Roles that prescribe: their signature makes them the order's requester; a delegate's makes it its performer. */
export const PRESCRIBING_ROLES: readonly Role[] = ['doctor', 'pa'];

/** The co-sign window of a standing order when the policy names none. */
export const DEFAULT_COSIGN_DAYS = 7;

/**
 * A clinic's signing policy for one protocol, as it was when a case pinned it (`version` 0: none was ever set, so the
 * `doctor` default applied). `authority` is who stands behind a delegation or a standing order (the supervising
 * physician or medical director, a FHIR reference): the activated order's requester when no prescriber signs.
 */
export interface SigningPolicy {
  mode: SigningMode;
  /** The roles a `delegated` policy lets sign (a subset of {@link SIGNING_DELEGATES}); empty otherwise. */
  delegates: Role[];
  cosignDays: number;
  authority: { reference: string | null; display: string } | null;
  protocolId: string | null;
  version: number;
}

/** The policy of a clinic (or protocol) that never set one, and of a case no protocol triaged. */
export function defaultSigningPolicy(protocolId: string | null = null): SigningPolicy {
  return { mode: 'doctor', delegates: [], cosignDays: DEFAULT_COSIGN_DAYS, authority: null, protocolId, version: 0 };
}

/**
 * What the signing rules know about one case: the pinned policy, whether the drug is a controlled substance (`null`:
 * unknown, judged as controlled), and whether the protocol approved it (every criterion passed). Delegation and
 * standing orders cover protocol approvals only: a refill the protocol did not approve needs a doctor's signature.
 */
export interface SigningContext {
  policy: SigningPolicy;
  controlled: boolean | null;
  protocolApproved: boolean;
}

/** Whether this case may be signed or activated without a doctor: never a controlled (or unknown) drug. */
function delegable(ctx: SigningContext | undefined): ctx is SigningContext {
  return ctx !== undefined && ctx.controlled === false && ctx.protocolApproved;
}

/**
 * The roles that may sign this case's order: always doctors; under a `delegated` policy, its delegates too, for a
 * protocol-approved refill of a drug that is not a controlled substance.
 */
export function signersOf(ctx?: SigningContext): Role[] {
  if (!delegable(ctx) || ctx.policy.mode !== 'delegated') return ['doctor'];
  return ['doctor', ...ctx.policy.delegates.filter((r) => SIGNING_DELEGATES.includes(r))];
}

/** The roles that may decide a case in `queue`: {@link QUEUE_ROLES}, and in the signature queue the case's signers. */
export function queueRolesFor(queue: Queue, ctx?: SigningContext): readonly Role[] {
  if (queue !== 'signature') return QUEUE_ROLES[queue];
  return [...QUEUE_ROLES.signature, ...signersOf(ctx).filter((r) => !QUEUE_ROLES.signature.includes(r))];
}

/**
 * Whether `role`'s approval signs the order, and how; `null`: it pends a `draft` that a signer must sign (the case
 * moves to the signature queue). A prescriber signs as requester, a delegate as performer.
 */
export function signatureOf(role: Role, ctx?: SigningContext): SignedAs | null {
  if (!signersOf(ctx).includes(role)) return null;
  return PRESCRIBING_ROLES.includes(role) ? 'requester' : 'performer';
}

/**
 * Whether a protocol approval is activated at once under the clinic's standing order (and co-signed later): only
 * under a `standing_order` policy, and never for a controlled (or unknown) drug.
 */
export function activatesAtOnce(ctx: SigningContext): boolean {
  return delegable(ctx) && ctx.policy.mode === 'standing_order';
}

/** Milliseconds a doctor has to co-sign a standing order before it escalates. */
export function cosignWindowMs(policy: SigningPolicy): number {
  return policy.cosignDays * 24 * 3600 * 1000;
}

// ---------------------------------------------------------------------------------------------------------------
// Steps: what each one does to the state, and what it records

/** Write-backs a clinician's decision makes in the EHR (activities/ehr-writeback.ts). */
export type DecisionWriteBack = 'sign_order' | 'pend_order' | 'record_denial' | 'record_needs_visit' | 'cosign_order';

/**
 * What an accepted decision does: close the case with an outcome and a write-back, escalate it, or (an approval
 * that signs nothing) pend the order as a draft and move the case to the signature queue.
 */
export type DecisionEffect =
  | { type: 'close'; outcome: CaseOutcome; writeBack: DecisionWriteBack }
  | { type: 'escalate'; to: Queue; reason: EscalationReason }
  | { type: 'pend'; to: Queue; reason: 'pended_for_signature'; writeBack: 'pend_order' };

/** `signs`: whether the deciding clinician's approval signs the order ({@link signatureOf}). */
export function decisionEffect(queue: Queue, action: ClinicianAction, signs: boolean): DecisionEffect {
  switch (action) {
    case 'approve':
      // A standing order is active already: approving co-signs it.
      if (queue === 'cosign') return { type: 'close', outcome: 'approved', writeBack: 'cosign_order' };
      // The signature queue's order is already pended: approving signs it. Elsewhere a signer's approval pends it
      // signed; anyone else's pends a draft for a signer.
      if (queue === 'signature') return { type: 'close', outcome: 'approved', writeBack: 'sign_order' };
      return signs
        ? { type: 'close', outcome: 'approved', writeBack: 'pend_order' }
        : { type: 'pend', to: 'signature', reason: 'pended_for_signature', writeBack: 'pend_order' };
    case 'deny':
      return { type: 'close', outcome: 'denied', writeBack: 'record_denial' };
    case 'needs_visit':
      return { type: 'close', outcome: 'needs_visit', writeBack: 'record_needs_visit' };
    case 'escalate':
      return { type: 'escalate', to: ESCALATION.to, reason: 'escalated_by_nurse' };
  }
}

/** The case-timeline events the lifecycle writes (the webhook writes `case.received`). */
export const CASE_EVENTS = [
  'case.received',
  'case.triaging',
  'case.queued',
  'decision.received',
  'case.closed',
  'ehr.write_failed',
  'case.reevaluating',
  'case.deferred',
] as const;
export type CaseEvent = (typeof CASE_EVENTS)[number];

/** Audit actions of lifecycle steps (the audit log holds others too: reads, write-backs, protocol admin). */
export const CASE_AUDIT_ACTIONS = [
  'case.routed',
  'case.escalated',
  'decision.recorded',
  'case.closed',
  'case.reopened',
  'case.deferred',
] as const;
export type CaseAuditAction = (typeof CASE_AUDIT_ACTIONS)[number];

/**
 * The audit action a timeline event records, or null for one the audit log need not hold. A `case.queued` event is
 * an escalation when the case's route reason is one.
 */
export function auditActionOf(event: string, reason: RouteReason | null): CaseAuditAction | null {
  switch (event) {
    case 'case.queued':
      return reason === 'escalated_sla' || reason === 'escalated_by_nurse' || reason === 'escalated_cosign_overdue'
        ? 'case.escalated'
        : 'case.routed';
    case 'decision.received':
      return 'decision.recorded';
    case 'case.closed':
      return 'case.closed';
    case 'case.deferred':
      return 'case.deferred';
    default:
      return null;
  }
}

/** A step's result: the state patch to apply, the timeline event it projects, and the audit action it records. */
export interface StepResult<S> {
  state: S;
  event: CaseEvent;
  audit: CaseAuditAction | null;
}

/** The lifecycle fields a step sets, beside the status. */
export interface QueuedState extends LifecycleState {
  pool: string | null;
  reason: RouteReason | null;
  outcome: CaseOutcome | null;
}

function stepError(step: string, state: LifecycleState): Error {
  return new Error(`lifecycle: ${step} is not a step from ${state.status}${state.queue ? ` (${state.queue})` : ''}`);
}

/** Triage starts (the workflow's first step). */
export function startTriage<S extends QueuedState>(state: S): StepResult<S> {
  if (state.status !== 'received' && state.status !== 'triaging') throw stepError('triage', state);
  return { state: { ...state, status: 'triaging' }, event: 'case.triaging', audit: null };
}

/** Triage ends in a queue: by protocol, or untriaged (automation off, EHR or protocol unavailable). */
export function route<S extends QueuedState>(
  state: S,
  to: { queue: Queue; pool: string | null; reason: Exclude<RouteReason, EscalationReason> },
): StepResult<S> {
  if (state.status !== 'triaging') throw stepError('route', state);
  const next = { ...state, status: 'queued' as const, queue: to.queue, pool: to.pool, reason: to.reason };
  return { state: next, event: 'case.queued', audit: auditActionOf('case.queued', to.reason) };
}

/** Escalation: the SLA ran out, or a nurse escalated. Moves a nurse-queue case to the doctor queue, once. */
export function escalate<S extends QueuedState>(state: S, reason: EscalationReason): StepResult<S> {
  if (state.status !== 'queued' || state.queue !== ESCALATION.from || state.escalated) {
    throw stepError('escalate', state);
  }
  const next = { ...state, escalated: true, queue: ESCALATION.to, pool: null, reason };
  return { state: next, event: 'case.queued', audit: auditActionOf('case.queued', reason) };
}

/** An approval that signs nothing pended a draft: the case moves to the signature queue for a signer. */
export function pendForSignature<S extends QueuedState>(state: S): StepResult<S> {
  if (state.status !== 'queued' || state.queue === null || state.queue === 'signature') {
    throw stepError('pend for signature', state);
  }
  const next = { ...state, queue: 'signature' as const, pool: null, reason: 'pended_for_signature' as const };
  return { state: next, event: 'case.queued', audit: auditActionOf('case.queued', next.reason) };
}

/**
 * A co-sign is overdue: the case stays in the co-sign queue, flagged escalated (once; audited as an escalation), so the
 * queue and the EHR Task show it as overdue.
 */
export function cosignOverdue<S extends QueuedState>(state: S): StepResult<S> {
  if (state.status !== 'queued' || state.queue !== 'cosign' || state.escalated) {
    throw stepError('co-sign overdue', state);
  }
  const next = { ...state, escalated: true, reason: 'escalated_cosign_overdue' as const };
  return { state: next, event: 'case.queued', audit: auditActionOf('case.queued', next.reason) };
}

/** Whether a queued case runs the co-sign timer: a standing order in the co-sign queue, not overdue yet. */
export function cosignRuns(state: LifecycleState): boolean {
  return state.status === 'queued' && state.queue === 'cosign' && !state.escalated;
}

/** A clinician's decision is recorded (accepted by the Update validator); the state does not change yet. */
export function recordDecision<S extends QueuedState>(state: S): StepResult<S> {
  if (state.status !== 'queued') throw stepError('decide', state);
  return { state, event: 'decision.received', audit: auditActionOf('decision.received', state.reason) };
}

/** The case closes with an outcome, after its write-back. */
export function close<S extends QueuedState>(state: S, outcome: CaseOutcome): StepResult<S> {
  if (state.status !== 'queued') throw stepError('close', state);
  return {
    state: { ...state, status: 'closed', outcome },
    event: 'case.closed',
    audit: auditActionOf('case.closed', state.reason),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Steps of kinds whose cases live on (a care gap is re-evaluated on every event and may close and re-open)

/** The lifecycle fields of a case of any kind: like {@link QueuedState}, with the kind's own outcome vocabulary. */
export interface KindState extends LifecycleState {
  pool: string | null;
  reason: string | null;
  outcome: string | null;
}

/**
 * The protocol is evaluated again (an event or a timer): from a queue, a closed or a deferred case back to triaging.
 * Re-opening a closed case is audited (`case.reopened`); the timeline keeps the history.
 */
export function reevaluate<S extends KindState>(state: S): StepResult<S> {
  if (state.status !== 'queued' && state.status !== 'closed' && state.status !== 'triaging') {
    throw stepError('re-evaluate', state);
  }
  const next = { ...state, status: 'triaging' as const };
  return { state: next, event: 'case.reevaluating', audit: state.status === 'closed' ? 'case.reopened' : null };
}

/** Triage of a kind ends in a queue (from triaging) or moves to another queue (a re-evaluation or a timer). */
export function routeKind<S extends KindState>(
  state: S,
  to: { queue: Queue; pool: string | null; reason: string },
): StepResult<S> {
  if (state.status !== 'triaging' && state.status !== 'queued') throw stepError('route', state);
  const next = { ...state, status: 'queued' as const, queue: to.queue, pool: to.pool, reason: to.reason };
  return { state: next, event: 'case.queued', audit: 'case.routed' };
}

/** A kind action moved the case (an escalation): the effect's target for the case's queue. */
export function moveKind<S extends KindState>(
  state: S,
  effect: Extract<KindActionEffect, { type: 'move' }>,
): StepResult<S> {
  const to = state.queue === null ? undefined : effect.to[state.queue];
  if (state.status !== 'queued' || to === undefined) throw stepError('move', state);
  const next = { ...state, escalated: true, queue: to, pool: null, reason: effect.reason };
  return { state: next, event: 'case.queued', audit: 'case.escalated' };
}

/**
 * The case closes with the kind's outcome: by the protocol (from triaging: nothing to do, or data closed the gap)
 * or after a clinician's action (from a queue). No work item remains.
 */
export function closeKind<S extends KindState>(state: S, outcome: string): StepResult<S> {
  if (state.status !== 'triaging' && state.status !== 'queued') throw stepError('close', state);
  return {
    state: { ...state, status: 'closed', queue: null, pool: null, outcome },
    event: 'case.closed',
    audit: 'case.closed',
  };
}

/** A clinician deferred the case (snooze): it leaves its queue and waits, closed for now, for its re-evaluation. */
export function deferKind<S extends KindState>(state: S, outcome: string): StepResult<S> {
  if (state.status !== 'queued') throw stepError('defer', state);
  return {
    state: { ...state, status: 'closed', queue: null, pool: null, outcome },
    event: 'case.deferred',
    audit: 'case.deferred',
  };
}

// ---------------------------------------------------------------------------------------------------------------
// The lifecycle as data, for the console (GET /v1/lifecycle)

/** The lifecycle as plain JSON (fresh arrays: a caller may not edit the tables through it). */
export interface LifecycleDescription {
  statuses: CaseStatus[];
  /** Statuses in which a case awaits a clinician's decision. */
  decidableStatuses: CaseStatus[];
  actions: ClinicianAction[];
  outcomes: CaseOutcome[];
  reasons: RouteReason[];
  queues: { queue: Queue; roles: Role[]; actions: ClinicianAction[] }[];
  escalation: { from: Queue; to: Queue };
  /** Per role: the queues whose cases it may decide (empty for admins). */
  roles: { role: Role; queues: Queue[] }[];
  /** Roles a clinic's `delegated` signing policy may let sign in the signature queue (case by case). */
  signingDelegates: Role[];
}

export function describeLifecycle(): LifecycleDescription {
  return {
    statuses: [...CASE_STATUSES],
    decidableStatuses: [DECIDABLE_STATUS],
    actions: [...CLINICIAN_ACTIONS],
    outcomes: [...CASE_OUTCOMES],
    reasons: [...ROUTE_REASONS],
    queues: QUEUES.map((queue) => ({ queue, roles: [...QUEUE_ROLES[queue]], actions: [...QUEUE_ACTIONS[queue]] })),
    escalation: { from: ESCALATION.from, to: ESCALATION.to },
    roles: ROLES.map((role) => ({ role, queues: QUEUES.filter((q) => QUEUE_ROLES[q].includes(role)) })),
    signingDelegates: [...SIGNING_DELEGATES],
  };
}
