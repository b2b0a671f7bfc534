// A refill case's way into its first queue, as pure functions of its state: the workflow runs them (and replays them),
// and so does the `triageFirst` activity, which on cases started since the first-route work (issue 11) takes the
// case into its first queue itself, in the same local activity as the EHR read. Both sides compute the same state,
// Task, order and projection from the same decision because they call the same code.
//
// Imported by workflow code: no I/O, no clocks (the caller passes the time), only types from outside rules/.
import {
  activatesAtOnce,
  cosignRuns,
  cosignWindowMs,
  route,
  routeDisposition,
  slaRuns,
  type SigningContext,
  type SigningPolicy,
} from '../rules/lifecycle/index.ts';
import type { TriageDecision } from '../rules/kinds/refill/decision.ts';
import type { Queue } from '../rules/schema/case.ts';
import type { Activities } from '../activities/index.ts';
import type { CaseState } from './refill-triage-messages.ts';

type WriteBackInput = Parameters<Activities['writeBackOutcome']>[0];
type SyncQueueTaskInput = Parameters<Activities['syncQueueTask']>[0];
type ProjectCaseInput = Parameters<Activities['projectCase']>[0];
type EnterFirstQueueInput = Parameters<Activities['enterFirstQueue']>[0];

/** The ids every activity input of a refill case carries. */
export interface CaseIds {
  caseId: string;
  clinicId: string;
  requestId: string;
  medicationRequestId: string;
}

/**
 * Who may sign a case and how, once the protocol has decided. A scheduled drug is controlled: never delegated, never
 * activated at once (rules/lifecycle). A drug the classifier does not know has no schedule, but the protocol fails it
 * (not in protocol), so it is not protocol-approved and is not delegated either.
 */
export function signingOnDecision(policy: SigningPolicy, decision: TriageDecision): SigningContext {
  return {
    policy,
    controlled: decision.drug.controlledSchedule !== null,
    protocolApproved: decision.disposition === 'approve' && decision.failedCriteria.length === 0,
  };
}

/** Where a triaged case goes first, and the order written beside its Task. */
export interface FirstRoute {
  queue: Queue;
  pool: string | null;
  reason: 'protocol' | 'standing_order';
  order: 'pend_order' | 'standing_order' | null;
}

/**
 * The first queue of a case the protocol decided. Approved per protocol under a standing order: the order is active at
 * once (the policy's authority as its requester) and a doctor co-signs it within the policy's window. Otherwise
 * approved per protocol: the order is pended as a draft for one-click signing by a doctor (or a delegate the signing
 * policy names); any other disposition: the queue it names, no order.
 */
export function firstRoute(decision: TriageDecision, signing: SigningContext): FirstRoute {
  const { queue, pool } = routeDisposition(decision.disposition, decision.routeTo);
  if (queue === 'signature' && activatesAtOnce(signing)) {
    return { queue: 'cosign', pool: null, reason: 'standing_order', order: 'standing_order' };
  }
  return { queue, pool, reason: 'protocol', order: queue === 'signature' ? 'pend_order' : null };
}

/** When the case's clock runs out in its queue (the nurse SLA, or the co-signature window); null when none runs. */
export function slaDueAtOf(state: CaseState, nurseSlaSeconds: number, nowMs: number): string | null {
  if (slaRuns(state)) return new Date(nowMs + nurseSlaSeconds * 1000).toISOString();
  if (cosignRuns(state) && state.signing) return new Date(nowMs + cosignWindowMs(state.signing.policy)).toISOString();
  return null;
}

/** The EHR Task's businessStatus for the case's queue. */
export function taskStageOf(state: CaseState): string {
  if (state.queue === 'signature') return 'awaiting-signature';
  if (state.queue === 'cosign') return state.escalated ? 'cosign-overdue' : 'awaiting-cosign';
  return `${state.queue}-review`;
}

/**
 * What a write-back reads of the decision. Lean cases send only that (the criteria and their evidence are in the case
 * already; sending them again costs payload and history on every write).
 */
export function decisionForWrite(decision: TriageDecision | null, lean: boolean): WriteBackInput['decision'] {
  return lean && decision
    ? { protocol: decision.protocol, approvedSupply: decision.approvedSupply, bridgeSupply: decision.bridgeSupply }
    : decision;
}

/** A protocol approval's order: pended as a draft, or active at once under a standing order. */
export function protocolOrderOf(
  ids: CaseIds,
  kind: 'pend_order' | 'standing_order',
  decision: WriteBackInput['decision'],
  protocol: { id: string; version: number },
  policy: SigningPolicy,
): WriteBackInput {
  return {
    ...ids,
    kind,
    decision,
    note: null,
    decidedBy: { kind: 'protocol', protocol },
    signedAs: null,
    policy,
  };
}

/**
 * The case's EHR Task as its state shows it. `first`: the case is entering its first queue (the EHR has no Task for it
 * yet), with the patient the triage read, if it did.
 */
export function taskInputOf(
  ids: CaseIds,
  state: CaseState,
  sync: {
    businessStatus: string;
    status: 'requested' | 'completed' | 'cancelled';
    slaDueAt: string | null;
    note?: string | null | undefined;
    first?: { patientId: string | null } | undefined;
  },
): SyncQueueTaskInput {
  const { businessStatus, status, slaDueAt, note, first } = sync;
  return {
    ...ids,
    queue: state.queue,
    pool: state.pool,
    businessStatus,
    status,
    slaDueAt,
    ...(note ? { note } : {}),
    ...(first ? { first: true, ...(first.patientId !== null ? { patientId: first.patientId } : {}) } : {}),
  };
}

/** A step's projection into the app database (queues, timeline, audit); `seq` orders a case's steps. */
export function projectionOf(
  ids: CaseIds,
  step: Omit<ProjectCaseInput, keyof CaseIds | 'state' | 'audit'> & {
    state: CaseState;
    slaDueAt: string | null;
    audit?: string | undefined;
  },
): ProjectCaseInput {
  const { state, slaDueAt, audit, ...rest } = step;
  return { ...ids, ...rest, state: { ...state, slaDueAt }, ...(audit ? { audit } : {}) };
}

/** What entering the first queue right after the read takes: the state it leaves, its clock, the writes. */
export interface FirstQueueEntry {
  state: CaseState;
  route: FirstRoute;
  slaDueAt: string | null;
  enter: EnterFirstQueueInput;
}

/**
 * A lean case entering its first queue right after the protocol decided, from its state while triaging: the step
 * the workflow takes (signing context, route, clock), and the one local activity's input (the order if any, the
 * Task, the routed projection at `seq`). The workflow's own way there (`triageWith` → `enter`) calls the same
 * functions.
 */
export function firstQueueEntry(args: {
  ids: CaseIds;
  triaging: CaseState;
  protocol: { id: string; version: number };
  policy: SigningPolicy;
  decision: TriageDecision;
  patientId: string;
  drugName: string;
  nurseSlaSeconds: number;
  seq: number;
  nowMs: number;
}): FirstQueueEntry {
  const { ids, protocol, policy, decision } = args;
  const signing = signingOnDecision(policy, decision);
  const to = firstRoute(decision, signing);
  const step = route({ ...args.triaging, protocol, decision, signing }, to);
  const state = step.state;
  const slaDueAt = slaDueAtOf(state, args.nurseSlaSeconds, args.nowMs);
  const { queue, pool, reason } = state;
  const order = to.order ? protocolOrderOf(ids, to.order, decisionForWrite(decision, true), protocol, policy) : null;
  return {
    state,
    route: to,
    slaDueAt,
    enter: {
      ...(order ? { order } : {}),
      task: taskInputOf(ids, state, {
        businessStatus: taskStageOf(state),
        status: 'requested',
        slaDueAt,
        first: { patientId: args.patientId },
      }),
      projection: projectionOf(ids, {
        patientId: args.patientId,
        drugName: args.drugName,
        seq: args.seq,
        at: new Date(args.nowMs).toISOString(),
        event: step.event,
        actor: null,
        detail: { queue, pool, reason, slaDueAt },
        state,
        slaDueAt,
      }),
    },
  };
}
