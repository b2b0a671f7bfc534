import {
  ActivityFailure,
  ApplicationFailure,
  allHandlersFinished,
  condition,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import type { Activities } from '../activities/index.ts';
import {
  activatesAtOnce,
  canDecide,
  close,
  cosignOverdue,
  cosignRuns,
  cosignWindowMs,
  decisionEffect,
  defaultSigningPolicy,
  escalate,
  pendForSignature,
  recordDecision,
  route,
  routeDisposition,
  signatureOf,
  slaRuns,
  startTriage,
  type SigningContext,
  type StepResult,
} from '../rules/lifecycle/index.ts';
import type { CaseOutcome, ClinicianDecision, Queue } from '../rules/schema/case.ts';
import type { TriageDecision } from '../rules/kinds/refill/decision.ts';
import { DEFAULT_ACTIVITY_POLICY, type ActivityPolicy } from './activity-policy.ts';
import { batchSigning } from './refill-batch-sign.ts';
import { getCaseStateQuery, submitDecisionUpdate, type CaseState } from './refill-triage-messages.ts';

export interface RefillTriageInput {
  /** The workflow id (`refill/{clinicId}/{ehrRequestId}`); ids only, never names or MRNs. */
  caseId: string;
  clinicId: string;
  /** FHIR id of the refill request (MedicationRequest, intent proposal) in the clinic's EHR. */
  medicationRequestId: string;
  ehrRequestId: string;
  /** The webhook's request id; travels into FHIR calls (X-Request-Id) and audit rows. */
  requestId: string;
  receivedAt: string;
  /** The clinic's switch at intake: off ⇒ the case goes to the nurse queue untriaged. */
  automationEnabled: boolean;
  /** How long a case may sit in the nurse queue before it escalates to the doctor queue. A clinic setting. */
  nurseSlaSeconds: number;
  /** The protocol's "today" (YYYY-MM-DD); defaults to the date the request arrived. */
  asOf?: string;
  /** Overrides of activity timeouts and retries (tests); defaults in activity-policy.ts. */
  policy?: ActivityPolicy;
}

export interface RefillTriageResult {
  caseId: string;
  outcome: CaseOutcome;
  decidedBy: ClinicianDecision['actor'] | 'protocol';
  queue: Queue | null;
  protocol: { id: string; version: number } | null;
  disposition: TriageDecision['disposition'] | null;
}

function failureType(err: unknown): string | undefined {
  // A remote activity's failure arrives as ActivityFailure(cause: ApplicationFailure); a local activity's, here, as the
  // ApplicationFailure itself.
  if (err instanceof ActivityFailure && err.cause instanceof ApplicationFailure) return err.cause.type ?? undefined;
  if (err instanceof ApplicationFailure) return err.type ?? undefined;
  return undefined;
}

/**
 * Refill triage: one pharmacy refill request, from intake to a decision written back to the EHR.
 *
 * Pins the clinic's published protocol version, reads the patient's context over FHIR, evaluates the protocol,
 * routes (approve → signature queue with the order pended; otherwise the nurse or doctor queue), waits durably for a
 * clinician, escalates a nurse-queue case left past the clinic's SLA to the doctor queue, writes the outcome back and
 * closes. Every step is projected into the app database (which serves the queues) and audited by activities.
 *
 * Replayed code: no I/O, no clocks or randomness in decisions, only types imported from outside.
 */
export async function refillTriage(input: RefillTriageInput): Promise<RefillTriageResult> {
  const policy = input.policy ?? DEFAULT_ACTIVITY_POLICY;
  const retry = (p: ActivityPolicy['ehr']) => ({
    startToCloseTimeout: p.startToCloseTimeout,
    retry: {
      initialInterval: p.initialInterval,
      maximumInterval: p.maximumInterval,
      // 0 = unlimited (Temporal's default when unset)
      ...(p.maximumAttempts > 0 ? { maximumAttempts: p.maximumAttempts } : {}),
      nonRetryableErrorTypes: ['EHR_NOT_FOUND', 'EHR_REJECTED', 'INVALID_INPUT', 'NOT_FOUND', 'PROTOCOL_INVALID'],
    },
  });
  const ehr = proxyActivities<Activities>(retry(policy.ehr));
  const ehrWrite = proxyActivities<Activities>(retry(policy.ehrWrite));
  // Our own database and the rule evaluation run as local activities: same worker, no task-queue round trip through
  // the server, recorded as markers in history (each is idempotent, so a replayed attempt is harmless).
  const db = proxyLocalActivities<Activities>(retry(policy.local));
  const { evaluateProtocol } = db;

  const state: CaseState = {
    caseId: input.caseId,
    status: 'triaging',
    queue: null,
    pool: null,
    reason: null,
    protocol: null,
    decision: null,
    escalated: false,
    outcome: null,
    decidedBy: null,
    // Until triage pins the clinic's policy: a doctor signs (also the policy of a case no protocol triages).
    signing: { policy: defaultSigningPolicy(), controlled: null, protocolApproved: false },
  };
  const signingOf = (): SigningContext | undefined => state.signing ?? undefined;
  let seq = 0;
  let patientId: string | null = null;
  let drugName: string | null = null;
  let pending: ClinicianDecision | undefined;
  let slaDueAt: string | null = null;

  setHandler(getCaseStateQuery, () => state);
  // Batch signing (its Updates and undo window) lives in its own module; it sees the case through these callbacks.
  const batch = batchSigning({
    caseId: input.caseId,
    view: () => ({ ...state, version: seq, decisionPending: pending !== undefined }),
    checkRecord: () =>
      ehr.checkSignable({
        caseId: input.caseId,
        clinicId: input.clinicId,
        requestId: input.requestId,
        medicationRequestId: input.medicationRequestId,
      }),
    accept: (decision) => {
      pending = decision;
    },
    project: (event, detail, actor, audit) => project(event, detail, actor, audit),
  });
  setHandler(
    submitDecisionUpdate,
    (decision) => {
      pending = decision;
      return { caseId: input.caseId, decisionId: decision.decisionId, action: decision.action, queue: state.queue };
    },
    {
      // rules/lifecycle decides (the API's precheck asks the same function); a refusal is typed, never retried.
      validator: (decision: ClinicianDecision) => {
        const check = canDecide(
          decision.actor.role,
          { ...state, decisionPending: pending !== undefined || batch.busy() },
          decision.action,
          signingOf(),
        );
        if (!check.ok)
          throw ApplicationFailure.create({ type: check.code, message: check.message, nonRetryable: true });
      },
    },
  );

  /** Projects the case into the app database (queues, timeline, audit). Monotonic by `seq`. */
  const project = async (
    event: string,
    detail: Record<string, unknown> = {},
    actor?: ClinicianDecision['actor'],
    audit?: string,
  ) => {
    seq += 1;
    await db.projectCase({
      caseId: input.caseId,
      clinicId: input.clinicId,
      requestId: input.requestId,
      medicationRequestId: input.medicationRequestId,
      patientId,
      drugName,
      seq,
      at: new Date().toISOString(),
      event,
      actor: actor ?? null,
      detail,
      state: { ...state, slaDueAt },
      ...(audit ? { audit } : {}),
    });
    upsertSearchAttributes({
      CaseStatus: [state.status],
      ...(state.queue ? { Queue: [state.queue] } : {}),
      ...(state.decision ? { Disposition: [state.decision.disposition] } : {}),
    });
  };

  /**
   * Runs a write to the EHR. Retryable failures are retried by the activity's policy (without limit for write-backs);
   * a write the EHR refuses for good (404, 4xx) must not lose the case: it is recorded on the timeline and the case
   * goes on, so a human sees it.
   */
  const tolerate = async (what: string, write: () => Promise<unknown>) => {
    try {
      await write();
    } catch (err) {
      const type = failureType(err);
      if (type === undefined) throw err;
      await project('ehr.write_failed', { what, error: type });
    }
  };

  const syncTask = (businessStatus: string, status: 'requested' | 'completed' | 'cancelled', note?: string | null) =>
    tolerate('task', () =>
      ehrWrite.syncQueueTask({
        caseId: input.caseId,
        clinicId: input.clinicId,
        requestId: input.requestId,
        medicationRequestId: input.medicationRequestId,
        queue: state.queue,
        pool: state.pool,
        businessStatus,
        status,
        slaDueAt,
        ...(note ? { note } : {}),
      }),
    );

  /** Applies a lifecycle step that leaves the case in a queue (routed or escalated), in the EHR Task and the projection. */
  const enter = async (step: StepResult<CaseState>, note?: string | null) => {
    Object.assign(state, step.state);
    const { queue, pool, reason } = state;
    slaDueAt = slaRuns(state)
      ? new Date(Date.now() + input.nurseSlaSeconds * 1000).toISOString()
      : cosignRuns(state) && state.signing
        ? new Date(Date.now() + cosignWindowMs(state.signing.policy)).toISOString()
        : null;
    await syncTask(taskStage(), 'requested', note);
    await project(step.event, { queue, pool, reason, slaDueAt });
  };
  const taskStage = (): string => {
    if (state.queue === 'signature') return 'awaiting-signature';
    if (state.queue === 'cosign') return state.escalated ? 'cosign-overdue' : 'awaiting-cosign';
    return `${state.queue}-review`;
  };
  const enqueue = (queue: Queue, pool: string | null, reason: Parameters<typeof route>[1]['reason']) =>
    enter(route(state, { queue, pool, reason }));

  const closeCase = async (outcome: CaseOutcome, decidedBy: RefillTriageResult['decidedBy']) => {
    const step = close(state, outcome);
    Object.assign(state, step.state);
    state.decidedBy = decidedBy;
    await syncTask(outcome, 'completed');
    await project(step.event, { outcome }, decidedBy === 'protocol' ? undefined : decidedBy);
    await condition(allHandlersFinished);
    return {
      caseId: input.caseId,
      outcome,
      decidedBy,
      queue: state.queue,
      protocol: state.protocol,
      disposition: state.decision?.disposition ?? null,
    };
  };

  await project(startTriage(state).event);

  const triageWith = async (protocol: { id: string; version: number }): Promise<void> => {
    state.protocol = protocol;
    // The clinic's signing policy for this protocol, pinned once (recorded in history, like the protocol version): a
    // later change of the policy never changes who may sign this case. Workflows started before policies: `doctor`.
    const policy = patched('signing-policy')
      ? await db.pinSigningPolicy({ clinicId: input.clinicId, protocolId: protocol.id })
      : defaultSigningPolicy(protocol.id);
    state.signing = { policy, controlled: null, protocolApproved: false };
    upsertSearchAttributes({ ProtocolId: [protocol.id], ProtocolVersion: [protocol.version] });
    const asOf = input.asOf ?? input.receivedAt.slice(0, 10);
    let gathered: Awaited<ReturnType<Activities['gatherPatientFacts']>> | undefined;
    try {
      gathered = await ehr.gatherPatientFacts({
        caseId: input.caseId,
        clinicId: input.clinicId,
        requestId: input.requestId,
        medicationRequestId: input.medicationRequestId,
        asOf,
      });
    } catch (err) {
      const type = failureType(err);
      if (type === 'EHR_NOT_FOUND' || type === 'INVALID_INPUT') {
        await enqueue('nurse', null, 'ehr_record_not_found');
      } else if (type === 'EHR_UNAVAILABLE') {
        await enqueue('nurse', null, 'ehr_unavailable');
      } else {
        throw err;
      }
    }
    if (gathered) {
      patientId = gathered.patientId;
      drugName = gathered.drugName;
      try {
        state.decision = await evaluateProtocol({
          caseId: input.caseId,
          clinicId: input.clinicId,
          requestId: input.requestId,
          protocol,
          facts: gathered.facts,
        });
      } catch (err) {
        if (!protocolFailure(err)) throw err;
        await enqueue('nurse', null, 'protocol_unavailable');
        return;
      }
      state.signing = {
        policy,
        // A scheduled drug is controlled: never delegated, never activated at once (rules/lifecycle). A drug the
        // classifier does not know has no schedule, but the protocol fails it (not in protocol), so it is not
        // protocol-approved and is not delegated either. Before evaluation `controlled` is null: judged controlled.
        controlled: state.decision.drug.controlledSchedule !== null,
        protocolApproved: state.decision.disposition === 'approve' && state.decision.failedCriteria.length === 0,
      };
      const { queue, pool } = routeDisposition(state.decision.disposition, state.decision.routeTo);
      if (queue === 'signature' && activatesAtOnce(state.signing)) {
        // Approved per protocol under a standing order: the order is active at once (the policy's authority as its
        // requester), and a doctor co-signs it within the policy's window.
        await tolerate('standing_order', () =>
          ehrWrite.writeBackOutcome({
            caseId: input.caseId,
            clinicId: input.clinicId,
            requestId: input.requestId,
            medicationRequestId: input.medicationRequestId,
            kind: 'standing_order',
            decision: state.decision,
            note: null,
            decidedBy: { kind: 'protocol', protocol },
            signedAs: null,
            policy,
          }),
        );
        await enqueue('cosign', null, 'standing_order');
        return;
      }
      if (queue === 'signature') {
        // Approved per protocol: the order is pended in the EHR as a draft for one-click signing by a doctor (or a
        // delegate the signing policy names).
        await tolerate('pend_order', () =>
          ehrWrite.writeBackOutcome({
            caseId: input.caseId,
            clinicId: input.clinicId,
            requestId: input.requestId,
            medicationRequestId: input.medicationRequestId,
            kind: 'pend_order',
            decision: state.decision,
            note: null,
            decidedBy: { kind: 'protocol', protocol },
            signedAs: null,
            policy,
          }),
        );
      }
      await enqueue(queue, pool, 'protocol');
    }
  };

  /** A protocol the clinic cannot run (none published, or a stored version that no longer validates). */
  const protocolFailure = (err: unknown): boolean => {
    const type = failureType(err);
    return type === 'NOT_FOUND' || type === 'PROTOCOL_INVALID';
  };

  // 1. Triage, unless the clinic switched automation off.
  if (!input.automationEnabled) {
    await enqueue('nurse', null, 'automation_disabled');
  } else {
    let protocol: { id: string; version: number } | undefined;
    try {
      protocol = await db.pinProtocol({ clinicId: input.clinicId });
    } catch (err) {
      if (!protocolFailure(err)) throw err;
      await enqueue('nurse', null, 'protocol_unavailable'); // never fail the case: a human triages it
    }
    if (protocol) await triageWith(protocol);
  }

  // 2. Wait for a clinician; escalate a nurse-queue case left past the SLA. Nothing silently times out.
  for (;;) {
    if (slaRuns(state)) {
      const decided = await condition(() => pending !== undefined, input.nurseSlaSeconds * 1000);
      if (!decided) {
        await enter(escalate(state, 'escalated_sla'));
        continue;
      }
    } else if (cosignRuns(state) && state.signing) {
      // A standing order awaits its co-signature; past the policy's window it escalates (once), and still waits.
      const decided = await condition(() => pending !== undefined, cosignWindowMs(state.signing.policy));
      if (!decided) {
        await enter(cosignOverdue(state));
        continue;
      }
    } else {
      await condition(() => pending !== undefined);
    }
    const decision = pending!;
    const signedAs = signatureOf(decision.actor.role, signingOf());
    // Who acted, in which role and capacity, under which signing policy: on the timeline and in the audit row.
    const policyDetail = state.signing
      ? { signedAs, policyMode: state.signing.policy.mode, policyVersion: state.signing.policy.version }
      : { signedAs };
    // The clinician's note is free text (PHI): it goes to the EHR write-back (and stays in this encrypted history),
    // never into the app database's timeline or the append-only audit log, which only learn that there was one.
    const note = decision.note !== undefined && decision.note.trim() !== '' ? decision.note : null;
    await project(
      recordDecision(state).event,
      { action: decision.action, decisionId: decision.decisionId, noteProvided: note !== null, ...policyDetail },
      decision.actor,
    );
    if ((await batch.undoWindow(decision)) === 'undone') {
      pending = undefined; // back in the signature queue as it was: the draft was never touched
      continue;
    }
    const effect = decisionEffect(state.queue!, decision.action, signedAs !== null);
    if (effect.type === 'escalate') {
      pending = undefined;
      await enter(escalate(state, effect.reason), note); // the nurse's note rides on the EHR Task
      continue;
    }
    const writeBack = () =>
      tolerate(effect.writeBack, () =>
        ehrWrite.writeBackOutcome({
          caseId: input.caseId,
          clinicId: input.clinicId,
          requestId: input.requestId,
          medicationRequestId: input.medicationRequestId,
          kind: effect.writeBack,
          decision: state.decision,
          note,
          decidedBy: { kind: 'clinician', actor: decision.actor, decisionId: decision.decisionId },
          signedAs,
          policy: state.signing?.policy ?? null,
        }),
      );
    await writeBack();
    if (effect.type === 'pend') {
      // An approval that signs nothing: the draft waits in the signature queue for a signer.
      pending = undefined;
      await enter(pendForSignature(state), note);
      continue;
    }
    return closeCase(effect.outcome, decision.actor);
  }
}
