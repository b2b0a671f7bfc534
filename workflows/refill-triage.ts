import {
  ActivityFailure,
  ApplicationFailure,
  allHandlersFinished,
  condition,
  isCancellation,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities/index.ts';
import {
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
  signatureOf,
  slaRuns,
  startTriage,
  type SigningContext,
  type SigningPolicy,
  type StepResult,
} from '../rules/lifecycle/index.ts';
import type { CaseOutcome, ClinicianDecision, Queue } from '../rules/schema/case.ts';
import type { TriageDecision } from '../rules/kinds/refill/decision.ts';
import type { RefillFacts } from '../rules/kinds/refill/facts.ts';
import { DEFAULT_ACTIVITY_POLICY, activityOptions, type ActivityPolicy } from './activity-policy.ts';
import { batchSigning } from './refill-batch-sign.ts';
import {
  decisionForWrite,
  firstRoute,
  projectionOf,
  protocolOrderOf,
  signingOnDecision,
  slaDueAtOf,
  taskInputOf,
  taskStageOf,
  type CaseIds,
} from './refill-first-route.ts';
import { getCaseStateQuery, submitDecisionUpdate, type CaseState } from './refill-triage-messages.ts';

/** Activity inputs and results the workflow builds or reads (types only). */
type WriteBackInput = Parameters<Activities['writeBackOutcome']>[0];
type SyncQueueTaskInput = Parameters<Activities['syncQueueTask']>[0];
type TriageFirstResult = Awaited<ReturnType<Activities['triageFirst']>>;

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
  /**
   * The patient the intake names (the notification's full resource, or the event's `patient`), FHIR id only: lets the
   * triage read the request and the patient's context in one round trip. A hint, checked against the request's subject.
   */
  patientId?: string;
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

/** Failures a retry cannot mend: the EHR or the clinic's protocol said no. */
const DEFINITIVE = ['EHR_NOT_FOUND', 'EHR_REJECTED', 'INVALID_INPUT', 'NOT_FOUND', 'PROTOCOL_INVALID'];

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
  // Cases started since the cost work (issue 11) triage leaner: the protocol and the signing policy pinned in one local
  // activity, the EHR read and the evaluation in one activity (the facts never enter history), a protocol approval's
  // pended order and its Task written concurrently, and search attributes upserted only when they change. Cases
  // started before replay the steps they recorded.
  //
  // Cases started since the first-try work (issue 11) are lean and also try the triage's EHR read and routing writes
  // first in this worker, as local activities: no activity task through the server and no further workflow task, so a
  // triage whose EHR answers is one workflow task. A call a few quick tries do not settle goes to the durable activity,
  // as before. Only until the case first enters a queue: while a local activity runs, the workflow task stays open and
  // a clinician's Update waits for it, so once clinicians can act, every EHR call is a durable activity again.
  // One patch marks these cases (each patch is a marker and a search-attribute upsert in history): it implies lean.
  //
  // Cases started since the first-queue work (issue 11) also enter their first queue in one local activity: the
  // order (if any) and the Task written at the same time, their audit rows and the step's projection in one
  // transaction, the order starting from the triage's read of the request. It implies first-try (and lean); when it
  // fails for a reason a retry may mend, the case enters its queue as first-try cases do, each write durable.
  //
  // Cases started since the first-triage work (issue 11) also start in one local activity, `triageFirst`: shown
  // triaging, protocol and signing policy pinned, the EHR read and the evaluation, tried once. It implies first-queue.
  // A read that fails comes back with the pins: a definitive failure is routed, a retryable one goes to the durable
  // read; an activity that fails as a whole is replaced by the steps first-queue cases take.
  //
  // Cases started since the first-route work (issue 11) also enter their first queue inside `triageFirst`, right after
  // the decision: the activity computes the step with the functions this workflow uses (workflows/refill-first-route.ts)
  // and the workflow adopts what it did, so a triage whose EHR answers is one local activity. It implies first-triage;
  // when entering fails for a reason a retry may mend, the writes go durable as first-queue cases' do.
  const firstRouted = patched('ehr-first-route');
  const firstTriage = firstRouted || patched('ehr-first-triage');
  const firstQueue = firstTriage || patched('ehr-first-queue');
  const firstTry = firstQueue || patched('ehr-first-try');
  const lean = firstTry || patched('lean-triage');
  let routed = false;
  /** Set when a first-queue try failed: the EHR is slow or down, so the writes that follow go durable at once. */
  let durableOnly = false;
  const policy = input.policy ?? DEFAULT_ACTIVITY_POLICY;
  const retry = (p: ActivityPolicy['ehr']) => activityOptions(p, DEFINITIVE);
  const ehr = proxyActivities<Activities>(retry(policy.ehr));
  const ehrWrite = proxyActivities<Activities>(retry(policy.ehrWrite));
  // Our own database and the rule evaluation run as local activities: same worker, no task-queue round trip through
  // the server, recorded as markers in history (each is idempotent, so a replayed attempt is harmless).
  const db = proxyLocalActivities<Activities>(retry(policy.local));
  const { evaluateProtocol } = db;
  const firstTryPolicy = policy.ehrFirstTry ?? DEFAULT_ACTIVITY_POLICY.ehrFirstTry;
  const ehrLocal = proxyLocalActivities<Activities>(retry(firstTryPolicy));
  /** Tried once in this worker: what fails goes on by the steps it combines (see `firstTriage`). */
  const ehrOnce = proxyLocalActivities<Activities>(retry({ ...firstTryPolicy, maximumAttempts: 1 }));
  /**
   * An EHR call tried first as a local activity (idempotent, like every EHR activity: a retried workflow task runs it
   * again harmlessly); when its quick tries fail for a reason a retry may mend (the EHR slow or down), the durable
   * activity with the full retry policy takes it over. A definitive refusal is final either way.
   */
  const firstTried =
    <A, R>(quick: (a: A) => Promise<R>, durable: (a: A) => Promise<R>) =>
    async (a: A): Promise<R> => {
      if (!firstTry || routed || durableOnly) return durable(a);
      try {
        return await quick(a);
      } catch (err) {
        const type = failureType(err);
        if (type !== undefined && DEFINITIVE.includes(type)) throw err;
        return durable(a);
      }
    };
  const triageRequest = firstTried(ehrLocal.triageRequest, ehr.triageRequest);
  const writeBackOutcome = firstTried(ehrLocal.writeBackOutcome, ehrWrite.writeBackOutcome);
  const syncQueueTask = firstTried(ehrLocal.syncQueueTask, ehrWrite.syncQueueTask);

  const ids: CaseIds = {
    caseId: input.caseId,
    clinicId: input.clinicId,
    requestId: input.requestId,
    medicationRequestId: input.medicationRequestId,
  };
  /** What `triageFirst` did to enter the first queue, for `enter` to adopt (first-route cases). */
  let adopted: TriageFirstResult['routed'];
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
  /** Lean cases: the search attributes last upserted (JSON of each value), and those waiting for the next projection. */
  const upserted = new Map<string, string>();
  let waitingAttributes: Record<string, string[] | number[]> = {};
  if (firstTry) {
    // What the start set (the API starts a case `triaging`) needs no upsert: each is a history event and a visibility
    // write on the server.
    const atStart = workflowInfo()
      .typedSearchAttributes.getAll()
      .find((p) => p.key.name === 'CaseStatus');
    if (typeof atStart?.value === 'string') upserted.set('CaseStatus', JSON.stringify([atStart.value]));
  }

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
    await db.projectCase(projection(event, detail, actor, audit));
    upsertAttributes();
  };
  /** The next projection's input (its `seq` taken). */
  const projection = (
    event: string,
    detail: Record<string, unknown> = {},
    actor?: ClinicianDecision['actor'],
    audit?: string,
  ) => {
    seq += 1;
    return projectionOf(ids, {
      patientId,
      drugName,
      seq,
      at: new Date().toISOString(),
      event,
      actor: actor ?? null,
      detail,
      state,
      slaDueAt,
      audit,
    });
  };
  /** The case's search attributes after a projection. */
  const upsertAttributes = () => {
    const attributes = {
      CaseStatus: [state.status],
      ...(state.queue ? { Queue: [state.queue] } : {}),
      ...(state.decision ? { Disposition: [state.decision.disposition] } : {}),
    };
    if (!lean) {
      upsertSearchAttributes(attributes);
      return;
    }
    // Each upsert is a history event and a visibility write on the server: only what changed, in one.
    const changed = Object.entries({ ...waitingAttributes, ...attributes }).filter(
      ([name, value]) => upserted.get(name) !== JSON.stringify(value),
    );
    waitingAttributes = {};
    if (changed.length === 0) return;
    for (const [name, value] of changed) upserted.set(name, JSON.stringify(value));
    upsertSearchAttributes(Object.fromEntries(changed));
  };

  /**
   * Runs a write to the EHR. Retryable failures are retried by the activity's policy (without limit for write-backs);
   * a write the EHR refuses for good (404, 4xx) must not lose the case: it is recorded on the timeline and the case
   * goes on, so a human sees it.
   */
  const tolerate = async (what: string, write: () => Promise<unknown>) => {
    const error = await attempt(write);
    if (error !== null) await project('ehr.write_failed', { what, error });
  };
  /** A write's refusal type (null when it succeeded); an untyped failure is thrown. */
  const attempt = async (write: () => Promise<unknown>): Promise<string | null> => {
    try {
      await write();
      return null;
    } catch (err) {
      const type = failureType(err);
      if (type === undefined) throw err;
      return type;
    }
  };

  /** A write to the EHR; `order`: the write-back's input, when the write is a protocol approval's order. */
  type Write = { what: string; write: () => Promise<unknown>; order?: WriteBackInput };
  const taskInput = (
    businessStatus: string,
    status: 'requested' | 'completed' | 'cancelled',
    note?: string | null,
  ): SyncQueueTaskInput =>
    taskInputOf(ids, state, {
      businessStatus,
      status,
      slaDueAt,
      note,
      // Entering its first queue, the case has no Task in the EHR yet; the triage read the request's patient.
      first: routed ? undefined : { patientId },
    });
  const taskWrite = (
    businessStatus: string,
    status: 'requested' | 'completed' | 'cancelled',
    note?: string | null,
  ): Write => {
    const task = taskInput(businessStatus, status, note);
    return { what: 'task', write: () => syncQueueTask(task) };
  };
  const syncTask = (businessStatus: string, status: 'requested' | 'completed' | 'cancelled', note?: string | null) => {
    const { what, write } = taskWrite(businessStatus, status, note);
    return tolerate(what, write);
  };

  /**
   * Applies a lifecycle step that leaves the case in a queue (routed or escalated), in the EHR Task and the projection.
   * `alongside`: a write-back the step comes with (a protocol approval's pended order), written before the Task, or on
   * lean cases at the same time (they are independent: the Task's focus is the request, not the order).
   */
  const enter = async (step: StepResult<CaseState>, note?: string | null, alongside?: Write) => {
    if (alongside && !lean) await tolerate(alongside.what, alongside.write);
    Object.assign(state, step.state);
    slaDueAt = slaDueAtOf(state, input.nurseSlaSeconds, Date.now());
    const { queue, pool, reason } = state;
    if (firstQueue && !routed && !durableOnly && (await enteredFirstQueue(step.event, note, alongside))) {
      upsertAttributes();
      routed = true;
      return;
    }
    if (alongside && lean) {
      const task = taskWrite(taskStage(), 'requested', note);
      const writes = [alongside, task];
      const errors = await Promise.all(writes.map((w) => attempt(w.write)));
      for (const [i, error] of errors.entries()) {
        if (error !== null) await project('ehr.write_failed', { what: writes[i]!.what, error });
      }
    } else {
      await syncTask(taskStage(), 'requested', note);
    }
    await project(step.event, { queue, pool, reason, slaDueAt });
    routed = true;
  };
  /**
   * First-queue cases: the step's EHR writes, their audit rows and its projection in one local activity. True when
   * the case is in its queue (or a write was refused for good, recorded on the timeline); false when the activity
   * failed for a reason a retry may mend: the caller enters the queue with durable writes (idempotent: what the try
   * wrote is found, not written twice). First-route cases adopt what `triageFirst` did instead of running it here.
   */
  const enteredFirstQueue = async (
    event: string,
    note: string | null | undefined,
    alongside?: Write,
  ): Promise<boolean> => {
    const taken = adopted;
    adopted = undefined;
    // The step's clock as the activity stamped it (the SLA timer itself runs from this workflow's time).
    if (taken) slaDueAt = taken.slaDueAt;
    const { queue, pool, reason } = state;
    // Its seq is taken now; on failure it stays unused (a seq the try may have projected is never reused).
    const step = projection(event, { queue, pool, reason, slaDueAt });
    try {
      let result: Awaited<ReturnType<Activities['enterFirstQueue']>>;
      if (taken) {
        // The activity computed this step with this workflow's functions; it is adopted only if it is this step. A
        // try that failed, or (a bug) any other step, is written again durably: the Task is updated in place.
        const same =
          taken.seq === step.seq &&
          taken.route.queue === queue &&
          taken.route.pool === pool &&
          taken.route.reason === reason &&
          taken.route.order === (alongside?.order?.kind ?? null);
        if (!same || taken.entered === null) {
          durableOnly = true;
          return false;
        }
        result = taken.entered;
      } else {
        result = await ehrLocal.enterFirstQueue({
          ...(alongside?.order ? { order: alongside.order } : {}),
          task: taskInput(taskStage(), 'requested', note),
          projection: step,
        });
      }
      if (result.projected) return true;
      for (const { what, error } of result.refused) await project('ehr.write_failed', { what, error });
      await project(event, { queue, pool, reason, slaDueAt });
      return true;
    } catch (err) {
      if (isCancellation(err)) throw err;
      durableOnly = true;
      return false;
    }
  };
  const taskStage = (): string => taskStageOf(state);
  const enqueue = (
    queue: Queue,
    pool: string | null,
    reason: Parameters<typeof route>[1]['reason'],
    alongside?: Write,
  ) => enter(route(state, { queue, pool, reason }), null, alongside);

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

  /** What the EHR read gave: the decision (lean cases evaluate in the same activity), the ids for the projection. */
  type Triaged = { patientId: string; drugName: string; decision: TriageDecision | null; facts?: RefillFacts };

  /** What the EHR read needs: the case's ids and the day the protocol judges by (`asOf`). */
  const readIds = {
    caseId: input.caseId,
    clinicId: input.clinicId,
    requestId: input.requestId,
    medicationRequestId: input.medicationRequestId,
    asOf: input.asOf ?? input.receivedAt.slice(0, 10),
  };
  /** …and the patient the intake named, if it did (one round trip instead of two). */
  const readInput = { ...readIds, ...(input.patientId !== undefined ? { patientId: input.patientId } : {}) };

  /**
   * Reads the patient's context (and on lean cases evaluates); null when the case went to a nurse instead. `first`:
   * what the first-triage try gave (its read, or why it failed: a definitive failure is routed as if thrown here, a
   * retryable one is read again by the durable activity).
   */
  const readAndEvaluate = async (
    protocol: { id: string; version: number },
    first?: TriageFirstResult,
  ): Promise<Triaged | null> => {
    try {
      if (first?.triaged) return first.triaged;
      if (first && first.error !== undefined) {
        if (first.error !== null && DEFINITIVE.includes(first.error)) {
          throw ApplicationFailure.create({ type: first.error, message: 'first triage try', nonRetryable: true });
        }
        return await ehr.triageRequest({ ...readInput, protocol });
      }
      if (lean) return await triageRequest({ ...readInput, protocol });
      return { ...(await ehr.gatherPatientFacts(readIds)), decision: null };
    } catch (err) {
      const type = failureType(err);
      if (type === 'EHR_NOT_FOUND' || type === 'INVALID_INPUT') {
        await enqueue('nurse', null, 'ehr_record_not_found');
      } else if (type === 'EHR_UNAVAILABLE' || type === 'EHR_REJECTED') {
        // Down past the retries, or refusing us for good (a 403, our credentials): a human reads the record. Thrown,
        // the failure would end the workflow and leave the case triaging with no one to see it.
        await enqueue('nurse', null, 'ehr_unavailable');
      } else if (lean && protocolFailure(err)) {
        await enqueue('nurse', null, 'protocol_unavailable');
      } else {
        throw err;
      }
      return null;
    }
  };

  const triageWith = async (
    protocol: { id: string; version: number },
    pinned?: SigningPolicy,
    first?: TriageFirstResult,
  ): Promise<void> => {
    state.protocol = protocol;
    // The clinic's signing policy for this protocol, pinned once (recorded in history, like the protocol version): a
    // later change of the policy never changes who may sign this case. Workflows started before policies: `doctor`.
    const policy =
      pinned ??
      (patched('signing-policy')
        ? await db.pinSigningPolicy({ clinicId: input.clinicId, protocolId: protocol.id })
        : defaultSigningPolicy(protocol.id));
    state.signing = { policy, controlled: null, protocolApproved: false };
    const protocolAttributes = { ProtocolId: [protocol.id], ProtocolVersion: [protocol.version] };
    if (lean)
      waitingAttributes = protocolAttributes; // upserted with the next projection's
    else upsertSearchAttributes(protocolAttributes);
    const gathered = await readAndEvaluate(protocol, first);
    if (gathered) {
      patientId = gathered.patientId;
      drugName = gathered.drugName;
      if (gathered.decision) {
        state.decision = gathered.decision;
      } else {
        try {
          state.decision = await evaluateProtocol({
            caseId: input.caseId,
            clinicId: input.clinicId,
            requestId: input.requestId,
            protocol,
            facts: gathered.facts!,
          });
        } catch (err) {
          if (!protocolFailure(err)) throw err;
          await enqueue('nurse', null, 'protocol_unavailable');
          return;
        }
      }
      // Who may sign, and the first queue (a standing order's co-signature, a pended draft's signature, or the queue
      // the protocol names), as workflows/refill-first-route.ts decides; before evaluation `controlled` was null
      // (judged controlled).
      state.signing = signingOnDecision(policy, state.decision);
      const to = firstRoute(state.decision, state.signing);
      const order = to.order
        ? protocolOrderOf(ids, to.order, decisionForWrite(state.decision, lean), protocol, policy)
        : undefined;
      await enqueue(
        to.queue,
        to.pool,
        to.reason,
        order ? { what: order.kind, write: () => writeBackOutcome(order), order } : undefined,
      );
    }
  };

  /** A protocol the clinic cannot run (none published, or a stored version that no longer validates). */
  const protocolFailure = (err: unknown): boolean => {
    const type = failureType(err);
    return type === 'NOT_FOUND' || type === 'PROTOCOL_INVALID';
  };

  // 1. Triage, unless the clinic switched automation off.
  if (!input.automationEnabled) {
    await project(startTriage(state).event);
    await enqueue('nurse', null, 'automation_disabled');
  } else {
    let pinned: { protocol: { id: string; version: number }; policy?: SigningPolicy } | undefined;
    let first: TriageFirstResult | undefined;
    try {
      const triaging = lean ? projection(startTriage(state).event) : undefined;
      if (firstTriage) {
        try {
          first = await ehrOnce.triageFirst({
            projection: triaging!,
            clinicId: input.clinicId,
            read: readInput,
            ...(firstRouted ? { route: { seq: seq + 1, nurseSlaSeconds: input.nurseSlaSeconds } } : {}),
          });
          pinned = first.pinned;
          adopted = first.routed;
          upsertAttributes();
        } catch (err) {
          // A protocol the clinic cannot run goes to a nurse (below). Any other failure of the activity as a whole: the
          // steps first-queue cases take, with the same triaging projection (its seq: re-applying it is a no-op), and
          // the EHR read durable at once.
          if (isCancellation(err) || protocolFailure(err)) throw err;
          durableOnly = true;
        }
      }
      if (!pinned && lean) {
        // The case shows as triaging and its protocol and signing policy are pinned, in one local activity.
        pinned = await db.beginTriage({ projection: triaging!, clinicId: input.clinicId });
        upsertAttributes();
      } else if (!pinned) {
        await project(startTriage(state).event);
        pinned = { protocol: await db.pinProtocol({ clinicId: input.clinicId }) };
      }
    } catch (err) {
      if (!protocolFailure(err)) throw err;
      await enqueue('nurse', null, 'protocol_unavailable'); // never fail the case: a human triages it
    }
    if (pinned) await triageWith(pinned.protocol, pinned.policy, first);
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
        writeBackOutcome({
          caseId: input.caseId,
          clinicId: input.clinicId,
          requestId: input.requestId,
          medicationRequestId: input.medicationRequestId,
          kind: effect.writeBack,
          decision: decisionForWrite(state.decision, lean),
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
