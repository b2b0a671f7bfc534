// A standing order's co-sign window, on the Temporal time-skipping test server: the order is activated at triage, the
// case waits in the cosign queue, and a co-sign left past the policy's window escalates (once, audited as an
// escalation) in skipped time, not a minute early; the doctor's co-sign then closes the case.
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, expect, test } from 'vitest';
import type { SigningPolicy } from '../../rules/lifecycle/index.ts';
import { withCombinedTriage } from '../helpers/temporal.ts';
import { startTimeSkipping, timeSkippingWorker } from '../helpers/time-skipping.ts';
import { getCaseStateQuery, submitDecisionUpdate } from '../../workflows/refill-triage-messages.ts';
import { refillTriage, type RefillTriageInput } from '../../workflows/refill-triage.ts';

const COSIGN_DAYS = 3;
const DAY_MS = 86_400_000;
let env: TestWorkflowEnvironment;

beforeAll(async () => {
  env = await startTimeSkipping();
}, 60_000);
afterAll(async () => {
  await env?.teardown();
});

const POLICY: SigningPolicy = {
  mode: 'standing_order',
  delegates: [],
  cosignDays: COSIGN_DAYS,
  authority: { reference: 'Practitioner/dr-lopez', display: 'Dr. Lopez' },
  protocolId: 'p',
  version: 4,
};

/** Stand-ins for the triage activities: an approval of a drug that is not controlled (or is, with `controlled`). */
function recordingActivities(controlled: boolean) {
  const projected: { event: string; detail: Record<string, unknown>; at: string; audit?: string }[] = [];
  const tasks: string[] = [];
  const writes: { kind: string; policy: unknown; signedAs: unknown }[] = [];
  return {
    projected,
    tasks,
    writes,
    activities: withCombinedTriage({
      pinProtocol: () => Promise.resolve({ id: 'p', version: 2 }),
      pinSigningPolicy: () => Promise.resolve(POLICY),
      gatherPatientFacts: () => Promise.resolve({ patientId: 'pat-1', drugName: 'Drug', facts: {} }),
      evaluateProtocol: (i: { protocol: { id: string; version: number } }) =>
        Promise.resolve({
          disposition: controlled ? 'doctor_review' : 'approve',
          routeTo: null,
          protocol: i.protocol,
          criteria: [],
          failedCriteria: [],
          actions: [],
          approvedSupply: null,
          bridgeSupply: null,
          drug: { name: 'Drug', ingredients: [], classes: [], controlledSchedule: controlled ? 'CII' : null },
        }),
      projectCase: (input: { event: string; detail: Record<string, unknown>; at: string }) => {
        projected.push({ event: input.event, detail: input.detail, at: input.at });
        return Promise.resolve();
      },
      syncQueueTask: (input: { businessStatus: string }) => {
        tasks.push(input.businessStatus);
        return Promise.resolve();
      },
      writeBackOutcome: (input: { kind: string; policy: unknown; signedAs: unknown }) => {
        writes.push({ kind: input.kind, policy: input.policy, signedAs: input.signedAs });
        return Promise.resolve();
      },
    }),
  };
}

test('an overdue co-sign escalates in the cosign queue at the window’s end, not a minute early; a doctor then co-signs', async () => {
  const { activities, projected, tasks, writes } = recordingActivities(false);
  const { worker, taskQueue } = await timeSkippingWorker(env, 'cosign', activities);
  const input: RefillTriageInput = {
    caseId: 'rf_clinic-ts_mr-cosign',
    clinicId: 'clinic-ts',
    medicationRequestId: 'mr-cosign',
    ehrRequestId: 'mr-cosign',
    requestId: 'req-cosign',
    receivedAt: new Date(await env.currentTimeMs()).toISOString(),
    automationEnabled: true,
    nurseSlaSeconds: 3600,
  };
  const realStart = Date.now();
  const result = await worker.runUntil(async () => {
    const handle = await env.client.workflow.start(refillTriage, {
      taskQueue,
      workflowId: input.caseId,
      args: [input],
    });
    const state = () => handle.query(getCaseStateQuery);
    for (let i = 0; i < 200 && (await state()).queue !== 'cosign'; i++) await new Promise((r) => setTimeout(r, 50));
    expect(await state()).toMatchObject({
      status: 'queued',
      queue: 'cosign',
      reason: 'standing_order',
      escalated: false,
    });
    expect(writes).toEqual([{ kind: 'standing_order', policy: POLICY, signedAs: null }]);

    await env.sleep(COSIGN_DAYS * DAY_MS - 60_000);
    expect(await state()).toMatchObject({ queue: 'cosign', escalated: false });
    await env.sleep(2 * 60_000);
    expect(await state()).toMatchObject({ queue: 'cosign', escalated: true, reason: 'escalated_cosign_overdue' });
    // Escalated once: another window passes without a second escalation.
    await env.sleep(COSIGN_DAYS * DAY_MS);
    expect(projected.filter((p) => p.detail.reason === 'escalated_cosign_overdue')).toHaveLength(1);

    // A nurse may not co-sign; a doctor does.
    await expect(
      handle.executeUpdate(submitDecisionUpdate, {
        args: [
          {
            decisionId: 'dec-cosign-nurse',
            action: 'approve',
            actor: { userId: 'rn', role: 'nurse' },
            at: new Date().toISOString(),
          },
        ],
      }),
    ).rejects.toMatchObject({ cause: { type: 'FORBIDDEN' } });
    await handle.executeUpdate(submitDecisionUpdate, {
      args: [
        {
          decisionId: 'dec-cosign-doctor',
          action: 'approve',
          actor: { userId: 'dr', role: 'doctor' },
          at: new Date().toISOString(),
        },
      ],
      updateId: 'dec-cosign-doctor',
    });
    return handle.result();
  });
  expect(result).toMatchObject({ outcome: 'approved', queue: 'cosign', decidedBy: { role: 'doctor' } });
  expect(writes.map((w) => w.kind)).toEqual(['standing_order', 'cosign_order']);
  expect(tasks).toEqual(['awaiting-cosign', 'cosign-overdue', 'approved']);
  const routed = projected.find((p) => p.event === 'case.queued' && p.detail.reason === 'standing_order');
  const overdue = projected.find((p) => p.detail.reason === 'escalated_cosign_overdue');
  const deadline = Date.parse(routed?.detail.slaDueAt as string);
  expect(Date.parse(overdue?.at ?? '')).toBeGreaterThanOrEqual(deadline);
  expect(Date.parse(overdue?.at ?? '') - deadline).toBeLessThan(5 * 60_000);
  const decided = projected.find((p) => p.event === 'decision.received');
  expect(decided?.detail).toMatchObject({ signedAs: 'requester', policyMode: 'standing_order', policyVersion: 4 });
  expect(Date.now() - realStart).toBeLessThan(60_000);
}, 90_000);

test('a controlled drug is never activated under a standing order: no write, the doctor queue, no co-sign timer', async () => {
  const { activities, writes } = recordingActivities(true);
  const { worker, taskQueue } = await timeSkippingWorker(env, 'cosign-controlled', activities);
  const input: RefillTriageInput = {
    caseId: 'rf_clinic-ts_mr-controlled',
    clinicId: 'clinic-ts',
    medicationRequestId: 'mr-controlled',
    ehrRequestId: 'mr-controlled',
    requestId: 'req-controlled',
    receivedAt: new Date(await env.currentTimeMs()).toISOString(),
    automationEnabled: true,
    nurseSlaSeconds: 3600,
  };
  await worker.runUntil(async () => {
    const handle = await env.client.workflow.start(refillTriage, {
      taskQueue,
      workflowId: input.caseId,
      args: [input],
    });
    const state = () => handle.query(getCaseStateQuery);
    for (let i = 0; i < 200 && (await state()).status !== 'queued'; i++) await new Promise((r) => setTimeout(r, 50));
    expect(await state()).toMatchObject({ queue: 'doctor', signing: { controlled: true } });
    await env.sleep(2 * COSIGN_DAYS * DAY_MS);
    expect(await state()).toMatchObject({ queue: 'doctor', escalated: false });
    expect(writes).toEqual([]);
    await handle.terminate('test done');
  });
}, 90_000);
