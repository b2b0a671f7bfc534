import { afterAll, beforeAll, expect, test } from 'vitest';
import { ENCRYPTED_ENCODING } from '../../connectors/codec.ts';
import type { TemporalClientHandle } from '../../connectors/temporal.ts';
import { emptyWorkflow } from '../../workflows/smoke.ts';
import { createTestClient, createTestWorker, type TestWorker } from '../helpers/temporal.ts';

let temporal: TemporalClientHandle;
let testWorker: TestWorker;

beforeAll(async () => {
  temporal = await createTestClient();
  testWorker = await createTestWorker({});
});
afterAll(async () => {
  await testWorker?.close();
  await temporal?.close();
});

test('emptyWorkflow runs on the real dev server with a real worker, and its history holds only ciphertext', async () => {
  const workflowId = `smoke-${testWorker.taskQueue}`;
  const result = await testWorker.worker.runUntil(
    temporal.client.workflow.execute(emptyWorkflow, { taskQueue: testWorker.taskQueue, workflowId, args: [{ n: 42 }] }),
  );
  expect(result).toBe(42);

  const { events } = await temporal.client.workflow.getHandle(workflowId).fetchHistory();
  const started = events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0];
  const completed = events?.find((e) => e.workflowExecutionCompletedEventAttributes)
    ?.workflowExecutionCompletedEventAttributes?.result?.payloads?.[0];
  for (const payload of [started, completed]) {
    expect(Buffer.from(payload?.metadata?.encoding ?? []).toString()).toBe(ENCRYPTED_ENCODING);
  }
});
