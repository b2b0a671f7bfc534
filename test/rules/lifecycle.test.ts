// The case lifecycle (rules/lifecycle/), without a server: every step, every refusal, the audit action of each step.
import { describe, expect, test } from 'vitest';
import {
  auditActionOf,
  canDecide,
  CASE_STATUSES,
  CLINICIAN_ACTIONS,
  close,
  decisionEffect,
  describeLifecycle,
  escalate,
  pendForSignature,
  QUEUES,
  recordDecision,
  roleDecides,
  ROLES,
  route,
  routeDisposition,
  signatureOf,
  slaRuns,
  startTriage,
  type CaseStatus,
  type ClinicianAction,
  type Queue,
  type QueuedState,
  type Role,
  activatesAtOnce,
  cosignOverdue,
  cosignRuns,
  cosignWindowMs,
  defaultSigningPolicy,
  queueRolesFor,
  signersOf,
  type SigningContext,
  type SigningPolicy,
} from '../../rules/lifecycle/index.ts';
import { ClinicianActionSchema, QUEUE_ROLES, QueueSchema, RoleSchema } from '../../rules/schema/case.ts';

const fresh: QueuedState = {
  status: 'triaging',
  queue: null,
  pool: null,
  reason: null,
  escalated: false,
  outcome: null,
};
const queued = (queue: Queue, extra: Partial<QueuedState> = {}): QueuedState => ({
  ...fresh,
  status: 'queued',
  queue,
  reason: 'protocol',
  ...extra,
});

describe('routing', () => {
  test.each([
    ['approve', 'anything', 'signature', null],
    ['needs_visit', 'anything', 'nurse', null],
    ['nurse_review', 'protime_nurse_pool', 'nurse', 'protime_nurse_pool'],
    ['doctor_review', 'endocrinology', 'doctor', 'endocrinology'],
  ] as const)('disposition %s routes to the %s queue', (disposition, routeTo, queue, pool) => {
    expect(routeDisposition(disposition, routeTo)).toEqual({ queue, pool });
  });
});

describe('steps', () => {
  test('triage starts from received (or is already running), nowhere else', () => {
    expect(startTriage({ ...fresh, status: 'received' })).toEqual({
      state: { ...fresh, status: 'triaging' },
      event: 'case.triaging',
      audit: null,
    });
    expect(startTriage(fresh).state.status).toBe('triaging');
    for (const status of ['queued', 'closed', 'failed'] as const) {
      expect(() => startTriage({ ...fresh, status })).toThrow(/triage is not a step from/);
    }
  });

  test.each([
    'protocol',
    'automation_disabled',
    'ehr_record_not_found',
    'ehr_unavailable',
    'protocol_unavailable',
  ] as const)('route (%s) queues a triaging case and records case.routed', (reason) => {
    const step = route(fresh, { queue: 'nurse', pool: 'protime_nurse_pool', reason });
    expect(step).toEqual({
      state: { ...fresh, status: 'queued', queue: 'nurse', pool: 'protime_nurse_pool', reason },
      event: 'case.queued',
      audit: 'case.routed',
    });
  });

  test('route is a step only from triaging', () => {
    for (const status of ['received', 'queued', 'closed', 'failed'] as const) {
      expect(() => route({ ...fresh, status }, { queue: 'nurse', pool: null, reason: 'protocol' })).toThrow(
        /route is not a step/,
      );
    }
  });

  test.each(['escalated_sla', 'escalated_by_nurse'] as const)(
    'escalation (%s) moves a nurse-queue case to the doctor queue once, drops the pool, records case.escalated',
    (reason) => {
      const step = escalate(queued('nurse', { pool: 'protime_nurse_pool' }), reason);
      expect(step).toEqual({
        state: { ...fresh, status: 'queued', queue: 'doctor', pool: null, reason, escalated: true },
        event: 'case.queued',
        audit: 'case.escalated',
      });
      expect(() => escalate(step.state, reason)).toThrow(/escalate is not a step from queued \(doctor\)/);
    },
  );

  test('escalation is refused from any other queue or status', () => {
    expect(() => escalate(queued('signature'), 'escalated_by_nurse')).toThrow(/escalate/);
    expect(() => escalate(queued('doctor'), 'escalated_sla')).toThrow(/escalate/);
    expect(() => escalate(queued('nurse', { escalated: true }), 'escalated_sla')).toThrow(/escalate/);
    expect(() => escalate(fresh, 'escalated_sla')).toThrow(/escalate/);
  });

  test('a recorded decision changes no state and records decision.recorded', () => {
    const s = queued('doctor');
    expect(recordDecision(s)).toEqual({ state: s, event: 'decision.received', audit: 'decision.recorded' });
    expect(() => recordDecision(fresh)).toThrow(/decide is not a step/);
  });

  test.each(['approved', 'denied', 'needs_visit'] as const)('close (%s) records case.closed', (outcome) => {
    expect(close(queued('signature'), outcome)).toEqual({
      state: { ...queued('signature'), status: 'closed', outcome },
      event: 'case.closed',
      audit: 'case.closed',
    });
  });

  test('close is a step only from queued', () => {
    for (const status of ['received', 'triaging', 'closed', 'failed'] as const) {
      expect(() => close({ ...fresh, status }, 'approved')).toThrow(/close is not a step/);
    }
  });

  test('the SLA timer runs only for a nurse-queue case not escalated yet', () => {
    expect(slaRuns(queued('nurse'))).toBe(true);
    expect(slaRuns(queued('nurse', { escalated: true }))).toBe(false);
    expect(slaRuns(queued('doctor'))).toBe(false);
    expect(slaRuns(queued('signature'))).toBe(false);
    expect(slaRuns({ ...queued('nurse'), status: 'closed' })).toBe(false);
  });

  test('the audit action of each timeline event', () => {
    expect(auditActionOf('case.queued', 'protocol')).toBe('case.routed');
    expect(auditActionOf('case.queued', null)).toBe('case.routed');
    expect(auditActionOf('case.queued', 'escalated_sla')).toBe('case.escalated');
    expect(auditActionOf('case.queued', 'escalated_by_nurse')).toBe('case.escalated');
    expect(auditActionOf('decision.received', 'protocol')).toBe('decision.recorded');
    expect(auditActionOf('case.closed', 'escalated_sla')).toBe('case.closed');
    for (const event of ['case.received', 'case.triaging', 'ehr.write_failed', 'anything.else']) {
      expect(auditActionOf(event, null)).toBeNull();
    }
  });
});

describe('what an accepted decision does', () => {
  test.each([
    ['signature', 'approve', true, { type: 'close', outcome: 'approved', writeBack: 'sign_order' }],
    ['nurse', 'approve', true, { type: 'close', outcome: 'approved', writeBack: 'pend_order' }],
    ['doctor', 'approve', true, { type: 'close', outcome: 'approved', writeBack: 'pend_order' }],
    // An approval that signs nothing pends a draft and moves the case to the signature queue.
    [
      'nurse',
      'approve',
      false,
      { type: 'pend', to: 'signature', reason: 'pended_for_signature', writeBack: 'pend_order' },
    ],
    ['doctor', 'deny', true, { type: 'close', outcome: 'denied', writeBack: 'record_denial' }],
    ['nurse', 'needs_visit', false, { type: 'close', outcome: 'needs_visit', writeBack: 'record_needs_visit' }],
    ['nurse', 'escalate', false, { type: 'escalate', to: 'doctor', reason: 'escalated_by_nurse' }],
  ] as const)('%s queue, %s (signs: %s)', (queue, action, signs, effect) => {
    expect(decisionEffect(queue, action, signs)).toEqual(effect);
  });

  test('a doctor signs as requester; a nurse signs nothing', () => {
    expect(signatureOf('doctor')).toBe('requester');
    expect(signatureOf('nurse')).toBeNull();
    expect(signatureOf('admin')).toBeNull();
  });

  test('pending for signature moves a queued case to the signature queue, from any other queue', () => {
    const step = pendForSignature(queued('nurse', { pool: 'protime_nurse_pool' }));
    expect(step).toEqual({
      state: { ...fresh, status: 'queued', queue: 'signature', pool: null, reason: 'pended_for_signature' },
      event: 'case.queued',
      audit: 'case.routed',
    });
    expect(() => pendForSignature(step.state)).toThrow(/pend for signature is not a step/);
  });
});

describe('who may decide what', () => {
  test('admins decide nothing, whatever the case; clinicians pass the role gate', () => {
    expect(roleDecides('admin')).toEqual({
      ok: false,
      code: 'FORBIDDEN',
      message: 'Admins configure; clinicians decide cases',
    });
    expect(roleDecides('privacy')).toMatchObject({ ok: false, code: 'FORBIDDEN' });
    expect(roleDecides('nurse')).toEqual({ ok: true });
    expect(roleDecides('doctor')).toEqual({ ok: true });
    for (const status of CASE_STATUSES) {
      expect(canDecide('admin', { status, queue: 'nurse' }, 'approve')).toMatchObject({ code: 'FORBIDDEN' });
    }
  });

  /** The whole table, written out by hand from the product rules (README "Case lifecycle"). */
  function expected(role: Role, status: CaseStatus, queue: Queue | null, action: ClinicianAction, pending: boolean) {
    if (role === 'admin') return 'FORBIDDEN: Admins configure; clinicians decide cases';
    if (role === 'privacy') return 'FORBIDDEN: Privacy officers monitor access; clinicians decide cases';
    if (status === 'closed') return 'CONFLICT: The case is closed';
    if (status !== 'queued' || queue === null) return 'CONFLICT: The case is not awaiting a decision yet';
    if (pending) return 'CONFLICT: The case already has a decision';
    // Without a signing context (the `doctor` policy), only a doctor signs; a delegate is told why.
    if (queue === 'signature' && role !== 'doctor') {
      return `FORBIDDEN: The signature queue needs a doctor: the clinic’s signing policy does not let this role sign this order`;
    }
    if (queue === 'doctor' && role !== 'doctor' && role !== 'pa')
      return 'FORBIDDEN: The doctor queue needs a doctor or physician assistant';
    if (queue === 'cosign' && role !== 'doctor') return 'FORBIDDEN: The cosign queue needs a doctor';
    if (queue === 'outreach' && role !== 'doctor' && role !== 'nurse') {
      return 'FORBIDDEN: The outreach queue needs a nurse or doctor';
    }
    if (action === 'escalate' && queue !== 'nurse') return 'CONFLICT: Only a nurse-queue case can be escalated';
    // The outreach queue holds tracking items of other kinds: no refill decision applies there.
    if (queue === 'outreach') return `CONFLICT: The outreach queue does not offer ${action}`;
    if (queue === 'cosign' && action === 'needs_visit') return 'CONFLICT: The cosign queue does not offer needs_visit';
    return 'ok';
  }

  const rows = ROLES.flatMap((role) =>
    CASE_STATUSES.flatMap((status) =>
      [...QUEUES, null].flatMap((queue) =>
        CLINICIAN_ACTIONS.flatMap((action) =>
          [false, true].map((pending) => ({ role, status, queue, action, pending })),
        ),
      ),
    ),
  );

  test(`every role × status × queue × action × pending (${rows.length} cases)`, () => {
    for (const { role, status, queue, action, pending } of rows) {
      const r = canDecide(role, { status, queue, decisionPending: pending }, action);
      expect(r.ok ? 'ok' : `${r.code}: ${r.message}`, JSON.stringify({ role, status, queue, action, pending })).toBe(
        expected(role, status, queue, action, pending),
      );
    }
  });

  test('a nurse may take every action on a nurse-queue case; a doctor everything but escalation elsewhere', () => {
    for (const action of CLINICIAN_ACTIONS) {
      expect(canDecide('nurse', { status: 'queued', queue: 'nurse' }, action).ok).toBe(true);
      expect(canDecide('doctor', { status: 'queued', queue: 'nurse' }, action).ok).toBe(true);
      expect(canDecide('doctor', { status: 'queued', queue: 'signature' }, action).ok).toBe(action !== 'escalate');
    }
  });
});

describe('one vocabulary', () => {
  test('the zod schemas in rules/schema/case.ts are built from the lifecycle', () => {
    expect(RoleSchema.options).toEqual([...ROLES]);
    expect(QueueSchema.options).toEqual([...QUEUES]);
    expect(ClinicianActionSchema.options).toEqual([...CLINICIAN_ACTIONS]);
    expect(QUEUE_ROLES.nurse).toEqual(['nurse', 'pharmacist', 'doctor', 'pa']);
  });

  test('the description the console receives is the same table canDecide reads', () => {
    const d = describeLifecycle();
    expect(d.statuses).toEqual(CASE_STATUSES);
    expect(d.queues).toEqual([
      { queue: 'signature', roles: ['doctor'], actions: ['approve', 'needs_visit', 'deny'] },
      {
        queue: 'nurse',
        roles: ['nurse', 'pharmacist', 'doctor', 'pa'],
        actions: ['approve', 'needs_visit', 'deny', 'escalate'],
      },
      { queue: 'doctor', roles: ['doctor', 'pa'], actions: ['approve', 'needs_visit', 'deny'] },
      { queue: 'outreach', roles: ['nurse', 'doctor'], actions: [] },
      { queue: 'cosign', roles: ['doctor'], actions: ['approve', 'deny'] },
    ]);
    expect(d.roles).toEqual([
      { role: 'admin', queues: [] },
      { role: 'doctor', queues: ['signature', 'nurse', 'doctor', 'outreach', 'cosign'] },
      { role: 'nurse', queues: ['nurse', 'outreach'] },
      { role: 'pharmacist', queues: ['nurse'] },
      { role: 'pa', queues: ['nurse', 'doctor'] },
      { role: 'privacy', queues: [] },
    ]);
    for (const { queue, roles, actions } of d.queues) {
      for (const role of ROLES) {
        for (const action of CLINICIAN_ACTIONS) {
          const allowed = roles.includes(role) && actions.includes(action);
          expect(canDecide(role, { status: 'queued', queue }, action).ok, `${role} ${queue} ${action}`).toBe(allowed);
        }
      }
    }
  });
});

describe('signing policies (who signs an order)', () => {
  const policy = (over: Partial<SigningPolicy> = {}): SigningPolicy => ({ ...defaultSigningPolicy('p'), ...over });
  const ctx = (p: SigningPolicy, over: Partial<SigningContext> = {}): SigningContext => ({
    policy: p,
    controlled: false,
    protocolApproved: true,
    ...over,
  });
  const delegated = policy({ mode: 'delegated', delegates: ['pharmacist', 'pa'], version: 2 });

  test('`doctor` (and no context at all): only a doctor signs, as requester', () => {
    for (const c of [undefined, ctx(policy())]) {
      expect(signersOf(c)).toEqual(['doctor']);
      expect(signatureOf('doctor', c)).toBe('requester');
      for (const role of ['nurse', 'pharmacist', 'pa', 'admin'] as const) expect(signatureOf(role, c)).toBeNull();
    }
  });

  test('`delegated`: the named delegates sign a protocol approval: a PA as requester, a pharmacist as performer', () => {
    const c = ctx(delegated);
    expect(signersOf(c)).toEqual(['doctor', 'pharmacist', 'pa']);
    expect(signatureOf('pa', c)).toBe('requester');
    expect(signatureOf('pharmacist', c)).toBe('performer');
    expect(signatureOf('nurse', c)).toBeNull();
    expect(queueRolesFor('signature', c)).toEqual(['doctor', 'pharmacist', 'pa']);
    expect(queueRolesFor('doctor', c)).toEqual(QUEUE_ROLES.doctor);
    expect(canDecide('pharmacist', { status: 'queued', queue: 'signature' }, 'approve', c)).toEqual({ ok: true });
    expect(canDecide('nurse', { status: 'queued', queue: 'signature' }, 'approve', c)).toMatchObject({
      code: 'FORBIDDEN',
    });
    // Only signer roles are ever added: a policy naming a non-delegate (a stored row edited by hand) adds nothing.
    expect(signersOf(ctx(policy({ mode: 'delegated', delegates: ['admin'] })))).toEqual(['doctor']);
  });

  test('never delegated: a controlled or unknown drug, or a refill the protocol did not approve', () => {
    for (const over of [{ controlled: true }, { controlled: null }, { protocolApproved: false }]) {
      const c = ctx(delegated, over);
      expect(signersOf(c), JSON.stringify(over)).toEqual(['doctor']);
      expect(signatureOf('pa', c)).toBeNull();
      expect(canDecide('pharmacist', { status: 'queued', queue: 'signature' }, 'approve', c)).toMatchObject({
        code: 'FORBIDDEN',
      });
      expect(activatesAtOnce(ctx(policy({ mode: 'standing_order' }), over))).toBe(false);
    }
  });

  test('`standing_order`: a protocol approval is activated at once; a delegation or `doctor` policy never is', () => {
    expect(activatesAtOnce(ctx(policy({ mode: 'standing_order' })))).toBe(true);
    expect(activatesAtOnce(ctx(delegated))).toBe(false);
    expect(activatesAtOnce(ctx(policy()))).toBe(false);
    // Under a standing order only doctors sign what still needs a signature.
    expect(signersOf(ctx(policy({ mode: 'standing_order' })))).toEqual(['doctor']);
    expect(cosignWindowMs(policy({ cosignDays: 7 }))).toBe(7 * 86_400_000);
  });

  test('the cosign queue: a doctor co-signs (approve) or stops (deny); overdue escalates once, in place', () => {
    expect(decisionEffect('cosign', 'approve', true)).toEqual({
      type: 'close',
      outcome: 'approved',
      writeBack: 'cosign_order',
    });
    expect(decisionEffect('cosign', 'deny', true)).toMatchObject({ type: 'close', writeBack: 'record_denial' });
    const waiting = {
      ...fresh,
      status: 'queued' as const,
      queue: 'cosign' as const,
      reason: 'standing_order' as const,
    };
    expect(cosignRuns(waiting)).toBe(true);
    const step = cosignOverdue(waiting);
    expect(step).toEqual({
      state: { ...waiting, escalated: true, reason: 'escalated_cosign_overdue' },
      event: 'case.queued',
      audit: 'case.escalated',
    });
    expect(cosignRuns(step.state)).toBe(false);
    expect(() => cosignOverdue(step.state)).toThrow(/co-sign overdue is not a step/);
    expect(() => cosignOverdue({ ...waiting, queue: 'doctor' })).toThrow();
  });
});
