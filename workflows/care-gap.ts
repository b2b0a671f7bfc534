import {
  ActivityFailure,
  ApplicationFailure,
  allHandlersFinished,
  condition,
  continueAsNew,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities/index.ts';
import type { CareGapOrder, OutreachStep } from '../activities/kinds/care-gap/writeback.ts';
import {
  canTakeAction,
  closeKind,
  deferKind,
  moveKind,
  reevaluate,
  routeKind,
  type KindState,
  type StepResult,
} from '../rules/lifecycle/index.ts';
import type { Actor, Queue } from '../rules/schema/case.ts';
import { DEFAULT_ACTIVITY_POLICY, activityOptions, type ActivityPolicy } from './activity-policy.ts';
import {
  CARE_GAP_ACTIONS,
  careGapActionUpdate,
  careGapEventSignal,
  getCareGapStateQuery,
  type CareGapActionRequest,
  type CareGapEvent,
  type CareGapInput,
} from './care-gap-messages.ts';

export type { CareGapEvent, CareGapInput } from './care-gap-messages.ts';

type Decision = Awaited<ReturnType<Activities['careGapEvaluate']>>;
type OutreachPlan = Awaited<ReturnType<Activities['careGapPin']>>['outreach'];
type Protocol = { id: string; version: number };

/** The outreach sequence of the current gap episode (null when none runs). */
interface Outreach {
  /** Workflow time (ms) the sequence started: day 0. */
  startedAtMs: number;
  orderId: string | null;
  /** The FIT order was signed (and the kit mailed). */
  signed: boolean;
  /** Where its item sits: the outreach queue, or the nurse queue once the kit was not returned by the call day. */
  queue: Queue;
  pool: string | null;
}

type WakeReason = 'reminder' | 'call' | 'close' | 'reevaluate';

/** Everything a run hands to the next over continue-as-new (and nothing else survives). */
interface Carried {
  seq: number;
  episode: number;
  protocol: Protocol | null;
  plan: OutreachPlan | null;
  lc: KindState;
  decision: Decision | null;
  priority: 'routine' | 'urgent' | null;
  nextDueDate: string | null;
  outreach: Outreach | null;
  giReferralId: string | null;
  taskOpen: boolean;
  wake: { atMs: number; why: WakeReason } | null;
  restartNotBeforeMs: number | null;
  seen: string[];
  pendingEvents: CareGapEvent[];
}

const SEEN_KEEP = 200;
const DEFAULT_MAX_STEPS = 500;

function failureType(err: unknown): string | undefined {
  if (err instanceof ActivityFailure && err.cause instanceof ApplicationFailure) return err.cause.type ?? undefined;
  if (err instanceof ApplicationFailure) return err.type ?? undefined;
  return undefined;
}

/** The references (`Type/id`) a decision's reasons cite as evidence. */
function evidenceRefs(d: Decision): string[] {
  return d.reasons.flatMap((r) => r.evidence.map((e) => `${e.resourceType}/${e.id}`));
}

/**
 * A patient's colorectal-screening care gap (or any care-gap protocol) for one clinic and protocol: one workflow per
 * patient per protocol, started by signal-with-start on the first event and living on (continue-as-new bounds its
 * history). Each event (a booked visit, an arriving result, the weekly sweep) and each timer re-evaluates the
 * protocol over facts read fresh from the EHR; the protocol version is pinned per gap episode. The disposition
 * routes: `outreach` pends a draft FIT order, mails the introductory letter and tracks the item in the outreach queue
 * (mirrored as a Task) while durable timers run the sequence (reminder, call, close as not returned);
 * `nurse_review` / `doctor_review` go to those queues (a positive stool test: urgent, with a draft GI referral);
 * `gap_closed` closes and re-evaluates at the next due date; `not_applicable` and `suppressed` close with no work item.
 * Clinicians act through the `careGapAction` Update, judged by rules/lifecycle against the care-gap action table.
 *
 * Replayed code: no I/O, no clocks or randomness in decisions, only types imported from outside.
 */
export async function careGap(input: CareGapInput): Promise<void> {
  const policy = input.policy ?? DEFAULT_ACTIVITY_POLICY;
  const retry = (p: ActivityPolicy['ehr']) =>
    activityOptions(p, ['EHR_NOT_FOUND', 'EHR_REJECTED', 'INVALID_INPUT', 'NOT_FOUND', 'PROTOCOL_INVALID']);
  const ehr = proxyActivities<Activities>(retry(policy.ehr));
  const ehrWrite = proxyActivities<Activities>(retry(policy.ehrWrite));
  const db = proxyLocalActivities<Activities>(retry(policy.local));
  const dayMs = (input.daySeconds ?? 86_400) * 1000;
  const maxSteps = input.maxStepsPerRun ?? DEFAULT_MAX_STEPS;

  const s: Carried = (input.carried as Carried | undefined) ?? {
    seq: 0,
    episode: 0,
    protocol: null,
    plan: null,
    lc: { status: 'received', queue: null, pool: null, reason: null, outcome: null, escalated: false },
    decision: null,
    priority: null,
    nextDueDate: null,
    outreach: null,
    giReferralId: null,
    taskOpen: false,
    wake: null,
    restartNotBeforeMs: null,
    seen: [],
    pendingEvents: [],
  };
  const events: CareGapEvent[] = s.pendingEvents;
  s.pendingEvents = [];
  let pending: CareGapActionRequest | undefined;
  let steps = 0;

  setHandler(careGapEventSignal, (e) => {
    // A redelivered event (same id) is handled once.
    if (s.seen.includes(e.eventId) || events.some((x) => x.eventId === e.eventId)) return;
    events.push(e);
  });
  setHandler(getCareGapStateQuery, () => ({
    caseId: input.caseId,
    ...s.lc,
    disposition: s.decision?.disposition ?? null,
    clause: s.decision?.clause ?? null,
    protocol: s.protocol,
    episode: s.episode,
    outreach: s.outreach,
    wake: s.wake,
  }));
  setHandler(
    careGapActionUpdate,
    (action) => {
      pending = action;
      return { caseId: input.caseId, actionId: action.actionId, action: action.action };
    },
    {
      // rules/lifecycle judges (the API's precheck asks the same function over the same table); typed refusals.
      validator: (action: CareGapActionRequest) => {
        const check = canTakeAction(
          action.actor.role,
          { ...s.lc, decisionPending: pending !== undefined },
          action.action,
          CARE_GAP_ACTIONS,
        );
        if (!check.ok)
          throw ApplicationFailure.create({ type: check.code, message: check.message, nonRetryable: true });
        if (action.action === 'done_elsewhere' && (!action.date || !action.test)) {
          throw ApplicationFailure.create({ type: 'CONFLICT', message: 'done_elsewhere needs a date and a test' });
        }
        if (action.action === 'snooze' && !action.until) {
          throw ApplicationFailure.create({ type: 'CONFLICT', message: 'snooze needs an until date' });
        }
      },
    },
  );

  const nowIso = () => new Date().toISOString();
  const asOf = () => input.asOf ?? nowIso().slice(0, 10);

  /** The value-set expansions (id → hash) of the last evaluation, until the step that records its decision. */
  let evaluatedWith: Record<string, string> | null = null;

  /** Records a step: projection, timeline event and audit row, in one transaction (activity recordCaseStep). */
  const project = async (
    step: { event: string; audit: string | null },
    detail: Record<string, unknown> = {},
    actor: Actor | null = null,
  ) => {
    s.seq += 1;
    const at = nowIso();
    if (evaluatedWith) {
      detail = { ...detail, valueSets: evaluatedWith };
      evaluatedWith = null;
    }
    const closed = s.lc.status === 'closed';
    await db.recordCaseStep({
      caseId: input.caseId,
      kind: 'care-gap',
      clinicId: input.clinicId,
      requestId: input.requestId,
      seq: s.seq,
      at,
      event: step.event,
      actor,
      detail,
      protocol: s.protocol,
      audit: step.audit,
      projection: {
        patientId: input.patientId,
        medicationRequestId: null,
        status: s.lc.status,
        disposition: s.decision?.disposition ?? null,
        queue: s.lc.queue,
        pool: s.lc.pool,
        reason: s.lc.reason,
        protocolId: s.protocol?.id ?? null,
        protocolVersion: s.protocol?.version ?? null,
        decision: s.decision ?? null,
        outcome: s.lc.outcome,
        escalated: s.lc.escalated,
        closedAt: closed ? at : null,
        clause: s.decision?.clause ?? null,
        priority: s.priority,
        nextDueDate: s.nextDueDate,
        dueAt: s.wake ? new Date(s.wake.atMs).toISOString() : null,
      },
    });
    upsertSearchAttributes({
      CaseStatus: [s.lc.status],
      Queue: s.lc.queue ? [s.lc.queue] : [],
      Disposition: s.decision ? [s.decision.disposition] : [],
      ...(s.protocol ? { ProtocolId: [s.protocol.id], ProtocolVersion: [s.protocol.version] } : {}),
    });
  };
  const apply = (step: StepResult<KindState>) => {
    s.lc = step.state;
    return step;
  };

  /** A write to the EHR a human must not lose: a refusal for good is put on the timeline and the case goes on. */
  const tolerate = async <T>(what: string, write: () => Promise<T>): Promise<T | undefined> => {
    try {
      return await write();
    } catch (err) {
      const type = failureType(err);
      if (type === undefined) throw err;
      await project({ event: 'ehr.write_failed', audit: null }, { what, error: type });
      return undefined;
    }
  };
  const base = () => ({
    caseId: input.caseId,
    clinicId: input.clinicId,
    requestId: input.requestId,
    patientId: input.patientId,
    episode: s.episode,
    at: nowIso(),
  });
  const pend = async (order: CareGapOrder, reasonReferences?: string[]): Promise<string | null> => {
    const once = () =>
      tolerate(`pend_${order}`, () =>
        ehrWrite.careGapWrite({
          ...base(),
          op: 'pend_order',
          order,
          ...(reasonReferences ? { reasonReferences } : {}),
        }),
      );
    let r = await once();
    if (r?.status === 'revoked' || r?.status === 'completed') {
      // This episode's order of that kind is spent (a snoozed or finished outreach): a new episode, a new order.
      s.episode += 1;
      r = await once();
    }
    return r?.resourceId ?? null;
  };
  const setOrder = (order: CareGapOrder, status: 'active' | 'revoked' | 'completed', by: string) =>
    tolerate(`${order}_${status}`, () =>
      ehrWrite.careGapWrite({ ...base(), op: 'set_order_status', order, status, by }),
    );
  const communicate = (step: OutreachStep) =>
    tolerate(`outreach_${step}`, () =>
      ehrWrite.careGapWrite({ ...base(), op: 'outreach', step, orderId: s.outreach?.orderId ?? null }),
    );
  const syncTask = async (businessStatus: string, status: 'requested' | 'completed' | 'cancelled') => {
    if (status !== 'requested' && !s.taskOpen) return; // no item was ever mirrored: nothing to close
    await tolerate('task', () =>
      ehrWrite.careGapSyncTask({
        caseId: input.caseId,
        clinicId: input.clinicId,
        requestId: input.requestId,
        patientId: input.patientId,
        queue: s.lc.queue,
        pool: s.lc.pool,
        priority: s.priority ?? 'routine',
        businessStatus,
        status,
        focusOrderId: s.lc.queue === 'doctor' && s.giReferralId ? s.giReferralId : (s.outreach?.orderId ?? null),
        // No open item mirrored: most often no Task at all yet, so create first (one request instead of a search too).
        ...(s.taskOpen ? {} : { first: true }),
      }),
    );
    s.taskOpen = status === 'requested';
  };

  /** Ends the outreach sequence: its order is completed when a signed kit's result came back, else revoked. */
  const stopOutreach = async (resulted: boolean) => {
    const o = s.outreach;
    if (!o) return;
    s.outreach = null;
    if (s.wake && s.wake.why !== 'reevaluate') s.wake = null;
    await setOrder('fit', resulted && o.signed ? 'completed' : 'revoked', 'protocol');
  };

  /** Starts the outreach sequence: the draft FIT order, the day-0 letter, the tracking item, the reminder timer. */
  const startOutreach = async (plan: OutreachPlan, pool: string | null, signedBy?: string) => {
    const orderId = await pend('fit');
    s.outreach = { startedAtMs: Date.now(), orderId, signed: false, queue: 'outreach', pool };
    await communicate('letter');
    if (signedBy) await signFit(signedBy);
    s.wake = { atMs: s.outreach.startedAtMs + plan.reminderDay * dayMs, why: 'reminder' };
    apply(routeKind(s.lc, { queue: 'outreach', pool, reason: 'protocol' }));
    await syncTask('outreach', 'requested');
    await project({ event: 'case.queued', audit: 'case.routed' }, { queue: 'outreach', pool, orderId, letter: true });
  };

  const signFit = async (by: string) => {
    if (!s.outreach || s.outreach.signed) return;
    await setOrder('fit', 'active', by);
    s.outreach.signed = true;
    await communicate('kit_mailed');
  };

  /** A gap episode opens when work appears on a case that had none (first evaluation, or after a close). */
  const openEpisode = () => {
    if (s.lc.queue === null && s.outreach === null) s.episode += 1;
  };

  /** Routes a decision: the one place dispositions turn into queues, items, writes and timers. */
  const applyDecision = async (d: Decision, plan: OutreachPlan, dueStep: WakeReason | null) => {
    s.decision = d;
    const o = s.outreach;
    // Our own pended FIT order is "a screening test already ordered" (CRC-13): the outreach it belongs to goes on.
    const ownOrder =
      o !== null &&
      o.orderId !== null &&
      d.disposition === 'suppressed' &&
      evidenceRefs(d).includes(`ServiceRequest/${o.orderId}`);
    if (o && (ownOrder || d.disposition === 'outreach')) {
      await continueOutreach(o, plan, dueStep);
      return;
    }
    switch (d.disposition) {
      case 'outreach': {
        if (s.restartNotBeforeMs !== null && Date.now() < s.restartNotBeforeMs) {
          // A kit went unreturned: the sequence restarts no sooner than the protocol allows.
          s.wake = { atMs: s.restartNotBeforeMs, why: 'reevaluate' };
          apply(closeKind(s.lc, 'outreach_not_returned'));
          await syncTask('outreach-paused', 'cancelled');
          await project({ event: 'case.closed', audit: 'case.closed' }, { outcome: 'outreach_not_returned' });
          return;
        }
        s.restartNotBeforeMs = null;
        openEpisode();
        s.priority = d.priority;
        s.nextDueDate = null;
        await startOutreach(plan, d.routeTo);
        return;
      }
      case 'nurse_review':
      case 'doctor_review': {
        await stopOutreach(true);
        openEpisode();
        const queue: Queue = d.disposition === 'nurse_review' ? 'nurse' : 'doctor';
        s.priority = d.priority;
        s.nextDueDate = null;
        s.wake = null;
        if (d.actions.includes('pend_gi_referral')) {
          s.giReferralId = await pend('gi_referral', evidenceRefs(d));
        }
        const alreadyThere = s.lc.queue === queue && s.lc.pool === d.routeTo;
        apply(routeKind(s.lc, { queue, pool: d.routeTo, reason: 'protocol' }));
        await syncTask(`${queue}-review`, 'requested');
        await project(
          { event: 'case.queued', audit: alreadyThere ? null : 'case.routed' },
          { queue, pool: d.routeTo, priority: d.priority, clause: d.clause },
        );
        return;
      }
      case 'gap_closed':
      case 'not_applicable':
      case 'suppressed': {
        await stopOutreach(true);
        s.priority = null;
        s.nextDueDate = d.disposition === 'gap_closed' ? d.nextDueDate : null;
        // A closed gap is looked at again when it falls due; the others wait for the next event or sweep.
        s.wake = s.nextDueDate ? { atMs: Date.parse(`${s.nextDueDate}T00:00:00Z`), why: 'reevaluate' } : null;
        apply(closeKind(s.lc, d.disposition));
        await syncTask(d.disposition.replace('_', '-'), d.disposition === 'gap_closed' ? 'completed' : 'cancelled');
        await project(
          { event: 'case.closed', audit: 'case.closed' },
          { outcome: d.disposition, clause: d.clause, nextDueDate: s.nextDueDate },
        );
        return;
      }
      default:
        throw ApplicationFailure.create({ type: 'PROTOCOL_INVALID', message: 'Unknown care-gap disposition' });
    }
  };

  /** The outreach goes on (no result yet): back to its item's queue, and the step that fell due, if one did. */
  const continueOutreach = async (o: Outreach, plan: OutreachPlan, dueStep: WakeReason | null) => {
    if (dueStep === 'close') {
      // Day 90 without a result: closed as not returned. The gap stays open; a restart waits the protocol's months.
      await stopOutreach(false);
      s.restartNotBeforeMs = Date.now() + plan.restartAfterMonths * 31 * dayMs;
      s.wake = null;
      apply(closeKind(s.lc, 'not_returned'));
      await syncTask('kit-not-returned', 'cancelled');
      await project({ event: 'case.closed', audit: 'case.closed' }, { outcome: 'not_returned' });
      return;
    }
    if (dueStep === 'call') {
      // Day 56 without a result: a nurse calls ("kit not returned: call").
      o.queue = 'nurse';
      o.pool = 'screening_outreach';
      s.wake = { atMs: o.startedAtMs + plan.closeDay * dayMs, why: 'close' };
      apply(routeKind(s.lc, { queue: 'nurse', pool: 'screening_outreach', reason: 'follow_up_due' }));
      await syncTask('kit-not-returned-call', 'requested');
      await project({ event: 'case.queued', audit: 'case.routed' }, { queue: 'nurse', pool: o.pool, step: 'call' });
      return;
    }
    apply(routeKind(s.lc, { queue: o.queue, pool: o.pool, reason: s.lc.reason ?? 'protocol' }));
    if (dueStep === 'reminder') {
      // Day 28 without a result: a reminder.
      await communicate('reminder');
      s.wake = { atMs: o.startedAtMs + plan.nurseCallDay * dayMs, why: 'call' };
      await project({ event: 'outreach.reminder_sent', audit: null }, { step: 'reminder' });
      return;
    }
    await project({ event: 'case.queued', audit: null }, { queue: o.queue, outreach: 'continues' });
  };

  /** Evaluates the protocol now (an event, a timer, an action) and routes the decision. */
  const evaluateNow = async (trigger: string, detail: Record<string, unknown>, dueStep: WakeReason | null = null) => {
    if (s.lc.status === 'received') {
      s.lc = { ...s.lc, status: 'triaging' };
      await project({ event: 'case.triaging', audit: null }, { trigger, ...detail });
    } else {
      await project(apply(reevaluate(s.lc)), { trigger, ...detail });
    }
    // The protocol version is pinned per gap episode: a new one is read only when no episode is open.
    const episodeOpen = s.outreach !== null || s.lc.queue !== null;
    if (!episodeOpen || s.protocol === null || s.plan === null) {
      try {
        const pinned = await db.careGapPin({ clinicId: input.clinicId, protocolId: input.protocolId });
        s.protocol = pinned.protocol;
        s.plan = pinned.outreach;
      } catch (err) {
        const type = failureType(err);
        if (type !== 'NOT_FOUND' && type !== 'PROTOCOL_INVALID') throw err;
        await toNurse('protocol_unavailable');
        return;
      }
    }
    const protocol = s.protocol;
    const plan = s.plan;
    let facts: unknown;
    let valueSets: Record<string, string>;
    try {
      const read = await ehr.careGapGather({
        caseId: input.caseId,
        clinicId: input.clinicId,
        requestId: input.requestId,
        patientId: input.patientId,
        asOf: asOf(),
      });
      facts = read.facts;
      // Absent from a worker that predates loaded expansions: built-ins only.
      valueSets = read.valueSets ?? {};
    } catch (err) {
      const type = failureType(err);
      if (type === 'EHR_NOT_FOUND' || type === 'INVALID_INPUT') return toNurse('ehr_record_not_found');
      // Down past the retries, or refusing us for good (a 403): a human reads the record; thrown, the case would end.
      if (type === 'EHR_UNAVAILABLE' || type === 'EHR_REJECTED') return toNurse('ehr_unavailable');
      throw err;
    }
    let decision: Decision;
    try {
      decision = await db.careGapEvaluate({
        caseId: input.caseId,
        clinicId: input.clinicId,
        requestId: input.requestId,
        protocol,
        facts,
        seq: s.seq,
        valueSets,
      });
    } catch (err) {
      const type = failureType(err);
      if (type !== 'NOT_FOUND' && type !== 'PROTOCOL_INVALID') throw err;
      return toNurse('protocol_unavailable');
    }
    // The step this decision records carries the clinic's value-set expansions it was read with (id → hash).
    if (Object.keys(valueSets).length > 0) evaluatedWith = valueSets;
    await applyDecision(decision, plan, dueStep);
  };

  /** A case the protocol could not decide goes to a nurse: never lost, never failed. */
  const toNurse = async (reason: string) => {
    openEpisode();
    s.priority = 'routine';
    apply(routeKind(s.lc, { queue: 'nurse', pool: null, reason }));
    await syncTask('nurse-review', 'requested');
    await project({ event: 'case.queued', audit: 'case.routed' }, { queue: 'nurse', reason });
  };

  /** A clinician's action, accepted by the validator. */
  const act = async (a: CareGapActionRequest) => {
    const by = `${a.actor.role} ${a.actor.userId}`;
    const queue = s.lc.queue;
    await project(
      { event: 'decision.received', audit: 'decision.recorded' },
      {
        action: a.action,
        actionId: a.actionId,
        noteProvided: a.note !== undefined && a.note.trim() !== '',
        ...(a.test ? { test: a.test } : {}),
        ...(a.date ? { date: a.date } : {}),
        ...(a.until ? { until: a.until } : {}),
      },
      a.actor,
    );
    switch (a.action) {
      case 'sign_order': {
        if (queue === 'outreach' && s.outreach) {
          await signFit(by);
          apply(routeKind(s.lc, { queue: 'outreach', pool: s.lc.pool, reason: s.lc.reason ?? 'protocol' }));
          await project({ event: 'outreach.kit_mailed', audit: null }, { orderId: s.outreach.orderId }, a.actor);
        } else if (s.giReferralId) {
          await setOrder('gi_referral', 'active', by);
          apply(closeKind(s.lc, 'referred'));
          await syncTask('referred', 'completed');
          await project({ event: 'case.closed', audit: 'case.closed' }, { outcome: 'referred' }, a.actor);
        } else {
          // A doctor decides to screen (e.g. a shared decision at 76–85): the FIT is ordered signed, outreach starts.
          s.priority = 'routine';
          await startOutreach(
            s.plan ?? { reminderDay: 28, nurseCallDay: 56, closeDay: 90, restartAfterMonths: 6 },
            null,
            by,
          );
        }
        return;
      }
      case 'record_decline': {
        await tolerate('record_decline', () =>
          ehrWrite.careGapWrite({ ...base(), op: 'record_decline', date: a.at.slice(0, 10), by }),
        );
        await stopOutreach(false);
        apply(closeKind(s.lc, 'declined'));
        await syncTask('declined', 'completed');
        await project({ event: 'case.closed', audit: 'case.closed' }, { outcome: 'declined' }, a.actor);
        return;
      }
      case 'done_elsewhere': {
        await tolerate('record_done_elsewhere', () =>
          ehrWrite.careGapWrite({ ...base(), op: 'record_done_elsewhere', date: a.date!, test: a.test!, by }),
        );
        await stopOutreach(false);
        // The record is now in the EHR: the protocol closes the gap from data (CRC-10), with its next due date.
        await evaluateNow('done_elsewhere', { actionId: a.actionId });
        return;
      }
      case 'snooze': {
        await stopOutreach(false);
        s.wake = { atMs: Date.parse(`${a.until!}T00:00:00Z`), why: 'reevaluate' };
        apply(deferKind(s.lc, 'snoozed'));
        await syncTask('snoozed', 'cancelled');
        await project({ event: 'case.deferred', audit: 'case.deferred' }, { until: a.until }, a.actor);
        return;
      }
      case 'escalate': {
        const rule = CARE_GAP_ACTIONS.find((r) => r.id === 'escalate')!;
        if (rule.effect.type !== 'move') return;
        if (s.outreach) s.outreach.queue = rule.effect.to[s.outreach.queue] ?? s.outreach.queue;
        const step = apply(moveKind(s.lc, rule.effect));
        await syncTask(`${s.lc.queue}-review`, 'requested');
        await project(step, { queue: s.lc.queue }, a.actor);
        return;
      }
    }
  };

  const remember = (eventId: string) => {
    s.seen.push(eventId);
    if (s.seen.length > SEEN_KEEP) s.seen.splice(0, s.seen.length - SEEN_KEEP);
  };

  // A first run (not a continuation) picks the case's timeline up where it stands: a case row may exist already (the
  // events webhook's first row, or an earlier workflow of this case that ended).
  if (input.carried === undefined) s.seq = Math.max(s.seq, (await db.careGapProgress({ caseId: input.caseId })).seq);

  for (;;) {
    if ((steps >= maxSteps || workflowInfo().continueAsNewSuggested) && pending === undefined) {
      await condition(allHandlersFinished);
      if (pending === undefined) {
        // Events that arrived meanwhile travel with the state: none is lost, history starts afresh.
        return continueAsNew<typeof careGap>({ ...input, carried: { ...s, pendingEvents: [...events] } });
      }
    }
    const ready = () => events.length > 0 || pending !== undefined;
    const wake = s.wake;
    const woke = wake
      ? await condition(ready, Math.max(1, wake.atMs - Date.now()))
      : await condition(ready).then(() => true);
    if (pending !== undefined) {
      const a = pending;
      await act(a);
      pending = undefined;
    } else if (events.length > 0) {
      const e = events.shift()!;
      remember(e.eventId);
      // A snoozed case is left alone by the weekly sweep until its date; a booked visit or a result still counts.
      const snoozed = s.lc.outcome === 'snoozed' && s.wake !== null && Date.now() < s.wake.atMs;
      if (snoozed && e.type === 'panel.sweep') {
        steps += 1;
        continue;
      }
      await evaluateNow(e.type, { eventId: e.eventId, ...(e.resource ? { resource: e.resource } : {}) });
    } else if (!woke && wake) {
      s.wake = null;
      await evaluateNow('timer', { step: wake.why }, wake.why);
    }
    steps += 1;
  }
}
