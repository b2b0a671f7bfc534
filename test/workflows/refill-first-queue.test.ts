// A protocol approval entering its first queue (issue 11): the pended order, the Task and the routed projection done
// by `triageFirst` right after the decision (its `enterFirstQueue` step) when it works, and adopted by the workflow;
// each write as a durable activity when it fails for a reason a retry may mend; a write the EHR refuses for good on
// the timeline. Stand-in activities on the time-skipping server.
import { ApplicationFailure } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, expect, test } from 'vitest';
import type { TriageFirstInput, TriageFirstResult } from '../../activities/kinds/refill/first-queue.ts';
import { defaultSigningPolicy } from '../../rules/lifecycle/index.ts';
import { withCombinedTriage } from '../helpers/temporal.ts';
import { startTimeSkipping, timeSkippingWorker } from '../helpers/time-skipping.ts';
import { getCaseStateQuery } from '../../workflows/refill-triage-messages.ts';
import { refillTriage, type RefillTriageInput } from '../../workflows/refill-triage.ts';

let env: TestWorkflowEnvironment;
beforeAll(async () => {
  env = await startTimeSkipping();
}, 60_000);
afterAll(async () => {
  await env?.teardown();
});

interface Projected {
  event: string;
  seq: number;
  detail: Record<string, unknown>;
}

/**
 * Stand-ins for an approval per protocol (pended for signature); `enterFirstQueue` as the test gives it; `read`: the
 * EHR read's outcome on each call (default: it answers).
 */
function approval(
  enterFirstQueue: (input: { order?: { kind: string }; task: unknown; projection: Projected }) => unknown,
  read: (call: number) => void = () => undefined,
) {
  const pins: string[] = [];
  let reads = 0;
  const projected: Projected[] = [];
  const tasks: { businessStatus: string; first?: boolean }[] = [];
  const orders: string[] = [];
  const firstQueue: {
    order?: { kind: string };
    task: { businessStatus: string; first?: boolean };
    projection: Projected;
  }[] = [];
  const activities = withCombinedTriage({
    pinProtocol: () => {
      pins.push('protocol');
      return Promise.resolve({ id: 'p', version: 1 });
    },
    pinSigningPolicy: () => Promise.resolve(defaultSigningPolicy('p')),
    gatherPatientFacts: () => {
      reads += 1;
      read(reads);
      return Promise.resolve({ patientId: 'pat-1', drugName: 'Drug', facts: {} });
    },
    evaluateProtocol: (i: { protocol: { id: string; version: number } }) =>
      Promise.resolve({
        disposition: 'approve',
        routeTo: null,
        protocol: i.protocol,
        criteria: [],
        failedCriteria: [],
        actions: [],
        approvedSupply: null,
        bridgeSupply: null,
        drug: { name: 'Drug', ingredients: [], classes: [], controlledSchedule: null },
      }),
    projectCase: (input: Projected) => {
      projected.push({ event: input.event, seq: input.seq, detail: input.detail });
      return Promise.resolve();
    },
    syncQueueTask: (input: { businessStatus: string; first?: boolean }) => {
      tasks.push({ businessStatus: input.businessStatus, ...(input.first ? { first: true } : {}) });
      return Promise.resolve({ taskId: 't-1' });
    },
    writeBackOutcome: (input: { kind: string }) => {
      orders.push(input.kind);
      return Promise.resolve({ orderId: 'o-1', proposalStatus: 'active' });
    },
    enterFirstQueue: (input: (typeof firstQueue)[number]) => {
      firstQueue.push(input);
      return Promise.resolve(enterFirstQueue(input));
    },
  });
  return { activities, projected, tasks, orders, firstQueue, pins, reads: () => reads };
}

async function run(name: string, activities: object) {
  const { worker, taskQueue } = await timeSkippingWorker(env, name, activities);
  const input: RefillTriageInput = {
    caseId: `rf_clinic-fq_${name}`,
    clinicId: 'clinic-fq',
    medicationRequestId: name,
    ehrRequestId: name,
    requestId: `req-${name}`,
    receivedAt: new Date(await env.currentTimeMs()).toISOString(),
    automationEnabled: true,
    nurseSlaSeconds: 3600,
  };
  return worker.runUntil(async () => {
    const handle = await env.client.workflow.start(refillTriage, {
      taskQueue,
      workflowId: input.caseId,
      args: [input],
    });
    const state = () => handle.query(getCaseStateQuery);
    for (let i = 0; i < 200 && (await state()).queue === null; i++) await new Promise((r) => setTimeout(r, 50));
    const { events } = await handle.fetchHistory();
    const durable = (events ?? []).flatMap((e) => {
      const type = e.activityTaskScheduledEventAttributes?.activityType?.name;
      return type ? [type] : [];
    });
    const markers = (events ?? []).filter((e) => e.markerRecordedEventAttributes != null).length;
    return { state: await state(), durable, markers };
  });
}

test('the read, the decision, the order, the Task and the routed step go in one local activity: nothing else', async () => {
  const a = approval((input) => {
    a.projected.push({ event: input.projection.event, seq: input.projection.seq, detail: input.projection.detail });
    return { projected: true };
  });
  const { state, durable, markers } = await run('fq-ok', a.activities);
  expect(state).toMatchObject({ status: 'queued', queue: 'signature', reason: 'protocol' });
  expect(durable).toEqual([]);
  // The patch marker and one local activity: triageFirst (triaging, pins, read, decision, and the first queue).
  expect(markers).toBe(2);
  expect(a.pins).toEqual(['protocol']);
  expect(a.firstQueue).toHaveLength(1);
  expect(a.firstQueue[0]?.order?.kind).toBe('pend_order');
  expect(a.firstQueue[0]?.task).toMatchObject({ businessStatus: 'awaiting-signature', first: true });
  // The stand-ins for the separate writes were never called: the one activity did them.
  expect(a.orders).toEqual([]);
  expect(a.tasks).toEqual([]);
  expect(a.projected.map((p) => p.event)).toEqual(['case.triaging', 'case.queued']);
  expect(a.projected.map((p) => p.seq)).toEqual([1, 2]);
}, 60_000);

test('a first-queue try the EHR fails (retryable) hands each write to a durable activity; the step is projected once, later', async () => {
  const a = approval(() => {
    throw new Error('EHR unavailable (stand-in)');
  });
  const { state, durable } = await run('fq-down', a.activities);
  expect(state).toMatchObject({ status: 'queued', queue: 'signature' });
  // Tried once inside triageFirst, then durable writes, no more quick tries.
  expect(a.firstQueue.length).toBe(1);
  expect(durable.sort()).toEqual(['syncQueueTask', 'writeBackOutcome']);
  expect(a.orders).toEqual(['pend_order']);
  expect(a.tasks).toEqual([{ businessStatus: 'awaiting-signature', first: true }]);
  const queued = a.projected.filter((p) => p.event === 'case.queued');
  expect(queued).toHaveLength(1);
  // A seq the failed try took is never reused (the try may have projected it before failing).
  expect(queued[0]!.seq).toBeGreaterThan(a.firstQueue[0]!.projection.seq);
}, 60_000);

test('a write the EHR refuses for good is on the timeline, and the case still enters its queue', async () => {
  const a = approval(() => ({ projected: false, refused: [{ what: 'pend_order', error: 'EHR_REJECTED' }] }));
  const { state, durable } = await run('fq-refused', a.activities);
  expect(state).toMatchObject({ status: 'queued', queue: 'signature' });
  expect(durable).toEqual([]);
  expect(a.firstQueue).toHaveLength(1); // a refusal is final: not tried again
  expect(a.projected.map((p) => [p.event, p.detail.what ?? null])).toEqual([
    ['case.triaging', null],
    ['ehr.write_failed', 'pend_order'],
    ['case.queued', null],
  ]);
}, 60_000);

test('a first triage whose EHR read fails for a reason a retry may mend: the durable read, with the pins it made', async () => {
  const a = approval(
    (input) => {
      a.projected.push({ event: input.projection.event, seq: input.projection.seq, detail: input.projection.detail });
      return { projected: true };
    },
    (call) => {
      if (call === 1) throw new Error('EHR timed out (stand-in)');
    },
  );
  const { state, durable } = await run('ft-retry', a.activities);
  expect(state).toMatchObject({ status: 'queued', queue: 'signature', reason: 'protocol' });
  expect(durable).toEqual(['triageRequest']);
  expect(a.reads()).toBe(2);
  expect(a.pins).toEqual(['protocol']); // pinned once: the durable read used the first try's pins
  expect(a.projected.map((p) => p.event)).toEqual(['case.triaging', 'case.queued']);
}, 60_000);

test('a first triage whose EHR has no such request routes it to a nurse at once: no durable read', async () => {
  const a = approval(
    () => ({ projected: true }),
    () => {
      throw ApplicationFailure.create({ type: 'EHR_NOT_FOUND', message: 'not found (stand-in)', nonRetryable: true });
    },
  );
  const { state, durable } = await run('ft-missing', a.activities);
  expect(state).toMatchObject({ status: 'queued', queue: 'nurse', reason: 'ehr_record_not_found' });
  expect(durable).toEqual([]);
  expect(a.reads()).toBe(1);
}, 60_000);

test('a first triage that fails as a whole is replaced by its steps: pinned again, read durably, triaging at one seq', async () => {
  const a = approval(() => ({ projected: true }));
  const activities = {
    ...a.activities,
    // Fails after it projected and pinned (the worker lost its database for a moment, say).
    triageFirst: async (input: { projection: Projected }) => {
      await a.activities.projectCase(input.projection);
      await a.activities.pinProtocol();
      throw new Error('database unavailable (stand-in)');
    },
  };
  const { state, durable } = await run('ft-whole', activities);
  expect(state).toMatchObject({ status: 'queued', queue: 'signature' });
  // The read went durable at once; so did the routing writes (the first-queue try is skipped after a failure).
  expect(durable.sort()).toEqual(['syncQueueTask', 'triageRequest', 'writeBackOutcome']);
  expect(a.pins).toEqual(['protocol', 'protocol']);
  // Projected again at the same seq (a no-op in the store when the first landed): one triaging step on the timeline.
  expect(a.projected.filter((p) => p.event === 'case.triaging').map((p) => p.seq)).toEqual([1, 1]);
}, 60_000);

test('a first route the workflow does not compute itself is not adopted: its writes are made again durably', async () => {
  const a = approval(() => ({ projected: true }));
  const activities = {
    ...a.activities,
    // As if triageFirst had routed the approval elsewhere (a bug): the workflow's own step wins.
    triageFirst: async (input: TriageFirstInput) => {
      const { triageFirst } = a.activities as unknown as {
        triageFirst: (i: TriageFirstInput) => Promise<TriageFirstResult>;
      };
      const result = await triageFirst(input);
      return { ...result, routed: { ...result.routed!, route: { ...result.routed!.route, queue: 'nurse' } } };
    },
  };
  const { state, durable } = await run('fr-mismatch', activities);
  expect(state).toMatchObject({ status: 'queued', queue: 'signature', reason: 'protocol' });
  expect(durable.sort()).toEqual(['syncQueueTask', 'writeBackOutcome']);
  expect(a.tasks).toEqual([{ businessStatus: 'awaiting-signature', first: true }]);
  // The try's step took seq 2; the workflow's own is projected at a fresh seq.
  expect(a.firstQueue.map((f) => f.projection.seq)).toEqual([2]);
  expect(a.projected.filter((p) => p.event === 'case.queued').map((p) => p.seq)).toEqual([3]);
}, 60_000);
