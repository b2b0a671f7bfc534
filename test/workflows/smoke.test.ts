import { afterAll, beforeAll, expect, test } from 'vitest';
import { ENCRYPTED_ENCODING } from '../../connectors/codec.ts';
import { AppError } from '../../rules/index.ts';
import {
  createTemporalClient,
  ensureSearchAttributes,
  pingTemporal,
  SEARCH_ATTRIBUTES,
  type TemporalClientHandle,
} from '../../connectors/temporal.ts';
import { findFreePort } from '../../scripts/temporal-cli.ts';
import { emptyWorkflow } from '../../workflows/smoke.ts';
import { createTestClient, createTestWorker, testTemporalConfig, type TestWorker } from '../helpers/temporal.ts';

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

test('the dev server already has every search attribute the app writes', async () => {
  expect(await ensureSearchAttributes(temporal.client, 'default')).toEqual([]);
  const { customAttributes } = await temporal.connection.operatorService.listSearchAttributes({ namespace: 'default' });
  expect(Object.keys(customAttributes ?? {})).toEqual(expect.arrayContaining(SEARCH_ATTRIBUTES.map((a) => a.name)));
});

test('the health check answers, and a Temporal that is not there is TEMPORAL_UNAVAILABLE', async () => {
  await expect(pingTemporal(temporal.client)).resolves.toBeUndefined();

  const nowhere = testTemporalConfig({ TEMPORAL_ADDRESS: `127.0.0.1:${await findFreePort()}` });
  const attempt = createTemporalClient(nowhere, { connectTimeoutMs: 1_000 });
  await expect(attempt).rejects.toBeInstanceOf(AppError);
  await expect(attempt).rejects.toMatchObject({ code: 'TEMPORAL_UNAVAILABLE', retryable: true });
});
