// The lifecycle's kind machinery (rules/lifecycle/): a kind supplies its actions (who, where, what they do), the
// lifecycle judges them with the same checks and order as refill decisions, and drives cases that live on
// (re-evaluated, closed, re-opened, deferred). Checked with the care-gap table the workflow and the API share.
import { describe, expect, test } from 'vitest';
import {
  actionsOffered,
  canTakeAction,
  CASE_STATUSES,
  closeKind,
  deferKind,
  moveKind,
  QUEUES,
  reevaluate,
  ROLES,
  routeKind,
  type KindState,
} from '../../rules/lifecycle/index.ts';
import { careGapKind } from '../../rules/kinds/care-gap/index.ts';
import { CARE_GAP_ACTIONS } from '../../workflows/care-gap-messages.ts';

const base: KindState = { status: 'triaging', queue: null, pool: null, reason: null, outcome: null, escalated: false };
const inQueue = (queue: KindState['queue']): KindState => ({ ...base, status: 'queued', queue, reason: 'protocol' });

describe('care-gap actions, judged by the lifecycle', () => {
  test('who may take what, where', () => {
    const at = (queue: KindState['queue']) => ({ status: 'queued' as const, queue });
    // Only a doctor signs an order, on an outreach item or a doctor item (a positive FIT's GI referral).
    expect(canTakeAction('doctor', at('outreach'), 'sign_order', CARE_GAP_ACTIONS)).toEqual({ ok: true });
    expect(canTakeAction('doctor', at('doctor'), 'sign_order', CARE_GAP_ACTIONS)).toEqual({ ok: true });
    expect(canTakeAction('nurse', at('outreach'), 'sign_order', CARE_GAP_ACTIONS)).toMatchObject({
      ok: false,
      code: 'FORBIDDEN',
    });
    expect(canTakeAction('doctor', at('nurse'), 'sign_order', CARE_GAP_ACTIONS)).toMatchObject({
      ok: false,
      code: 'CONFLICT',
    });
    // A nurse records declines and tests done elsewhere, snoozes, and escalates her own items.
    for (const a of ['record_decline', 'done_elsewhere', 'snooze', 'escalate']) {
      expect(canTakeAction('nurse', at('nurse'), a, CARE_GAP_ACTIONS), a).toEqual({ ok: true });
    }
    // The doctor queue is the doctor's: a nurse is refused there whatever the action (queue roles come first).
    expect(canTakeAction('nurse', at('doctor'), 'snooze', CARE_GAP_ACTIONS)).toMatchObject({ code: 'FORBIDDEN' });
    // Nothing escalates out of the doctor queue.
    expect(canTakeAction('doctor', at('doctor'), 'escalate', CARE_GAP_ACTIONS)).toMatchObject({ code: 'CONFLICT' });
    // An admin never acts; a refill decision is not a care-gap action.
    expect(canTakeAction('admin', at('outreach'), 'snooze', CARE_GAP_ACTIONS)).toMatchObject({ code: 'FORBIDDEN' });
    expect(canTakeAction('doctor', at('outreach'), 'approve', CARE_GAP_ACTIONS)).toMatchObject({ code: 'CONFLICT' });
  });

  test('refusals come in the refill order: role, closed, not queued, pending, queue role, offer', () => {
    for (const role of ROLES) {
      for (const status of CASE_STATUSES) {
        for (const queue of [...QUEUES, null]) {
          for (const pending of [false, true]) {
            const r = canTakeAction(role, { status, queue, decisionPending: pending }, 'snooze', CARE_GAP_ACTIONS);
            const expected =
              role === 'admin' || role === 'privacy' // decide no case at all
                ? 'FORBIDDEN'
                : status === 'closed' || status !== 'queued' || queue === null || pending
                  ? 'CONFLICT'
                  : queue === 'signature' || queue === 'cosign'
                    ? role === 'doctor'
                      ? 'CONFLICT' // a doctor's queue, but snooze is not offered there
                      : 'FORBIDDEN'
                    : queue === 'doctor' && role !== 'doctor' && role !== 'pa'
                      ? 'FORBIDDEN'
                      : queue === 'outreach' && role !== 'doctor' && role !== 'nurse'
                        ? 'FORBIDDEN' // the outreach queue is the nurses' and doctors'
                        : role === 'pharmacist' || role === 'pa'
                          ? 'FORBIDDEN' // in their queue, but the care-gap table gives snooze to nurses and doctors
                          : 'ok';
            expect(r.ok ? 'ok' : r.code, JSON.stringify({ role, status, queue, pending })).toBe(expected);
          }
        }
      }
    }
  });

  test('what the console offers each role on each item', () => {
    expect(actionsOffered('doctor', 'outreach', CARE_GAP_ACTIONS)).toEqual([
      'sign_order',
      'record_decline',
      'done_elsewhere',
      'snooze',
    ]);
    expect(actionsOffered('nurse', 'outreach', CARE_GAP_ACTIONS)).toEqual([
      'record_decline',
      'done_elsewhere',
      'snooze',
      'escalate',
    ]);
    expect(actionsOffered('nurse', 'doctor', CARE_GAP_ACTIONS)).toEqual([]);
    expect(actionsOffered('admin', 'outreach', CARE_GAP_ACTIONS)).toEqual([]);
    expect(actionsOffered('doctor', null, CARE_GAP_ACTIONS)).toEqual([]);
  });
});

test('the table the workflow and the API judge by is the one the kind declares', () => {
  expect(CARE_GAP_ACTIONS.map(({ id, roles, queues }) => ({ id, roles, queues }))).toEqual(
    careGapKind.actions.map(({ id, roles, queues }) => ({ id, roles, queues })),
  );
});

describe('steps of cases that live on', () => {
  test('route, re-evaluate, close, re-open: each records its event and audit action', () => {
    const routed = routeKind(base, { queue: 'outreach', pool: null, reason: 'protocol' });
    expect(routed).toMatchObject({
      state: { status: 'queued', queue: 'outreach' },
      event: 'case.queued',
      audit: 'case.routed',
    });
    const again = reevaluate(routed.state);
    expect(again).toMatchObject({
      state: { status: 'triaging', queue: 'outreach' },
      event: 'case.reevaluating',
      audit: null,
    });
    const closed = closeKind(again.state, 'gap_closed');
    expect(closed).toMatchObject({
      state: { status: 'closed', queue: null, pool: null, outcome: 'gap_closed' },
      event: 'case.closed',
      audit: 'case.closed',
    });
    // A closed gap re-opens on a later event, and that is audited.
    expect(reevaluate(closed.state)).toMatchObject({ state: { status: 'triaging' }, audit: 'case.reopened' });
    expect(() => reevaluate({ ...base, status: 'received' })).toThrow(/re-evaluate/);
    expect(() => closeKind(closed.state, 'x')).toThrow(/close/);
  });

  test('a move follows the action table; a snooze defers the case out of its queue', () => {
    const escalate = CARE_GAP_ACTIONS.find((a) => a.id === 'escalate')!.effect;
    if (escalate.type !== 'move') throw new Error('escalate moves');
    expect(moveKind(inQueue('outreach'), escalate)).toMatchObject({
      state: { queue: 'nurse', escalated: true, reason: 'escalated_by_nurse' },
      audit: 'case.escalated',
    });
    expect(moveKind(inQueue('nurse'), escalate).state.queue).toBe('doctor');
    expect(() => moveKind(inQueue('doctor'), escalate)).toThrow(/move/);
    expect(deferKind(inQueue('nurse'), 'snoozed')).toMatchObject({
      state: { status: 'closed', queue: null, outcome: 'snoozed' },
      event: 'case.deferred',
      audit: 'case.deferred',
    });
    expect(() => deferKind(base, 'snoozed')).toThrow(/defer/);
  });
});
