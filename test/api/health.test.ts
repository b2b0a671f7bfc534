// GET /health shows each part of the product: 200 while the API, Temporal and the database answer (the contract),
// `status: ok` only once a worker polls the task queue and, in the demo, the sandbox EHR knows the demo clinic.
// Real parts: the run's Temporal dev server and a real worker, SQLite, the sandbox EHR on loopback.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createApp } from '../../api/app.ts';
import { ensureBuiltinProtocols, ensureDemoClinic } from '../../api/seed.ts';
import { createWorkflowGateway, type WorkflowGateway } from '../../api/workflow-gateway.ts';
import type { Db } from '../../connectors/db/index.ts';
import { createStore } from '../../connectors/db/index.ts';
import { createLogger } from '../../connectors/logger.ts';
import type { TemporalClientHandle } from '../../connectors/temporal.ts';
import { startSandbox } from '../../sandbox/fhir-server.ts';
import { openTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { createTestClient, createTestWorker, testTemporalConfig, uniqueTaskQueue } from '../helpers/temporal.ts';
import { findFreePort } from '../../scripts/temporal-cli.ts';

interface Health {
  status: string;
  parts: Record<string, string>;
}

let testDb: TestDatabase;
let temporal: TemporalClientHandle;
const config = testTemporalConfig();
const logger = createLogger(config, 'test');

beforeAll(async () => {
  testDb = await openTestDatabase('sqlite');
  temporal = await createTestClient(config);
});
afterAll(async () => {
  await temporal?.close();
  await testDb?.cleanup();
});

function appWith(workflows: WorkflowGateway, db: Db = testDb.db, demoEhrReady?: () => Promise<boolean>) {
  const store = createStore(db);
  return createApp({ config, db, store, workflows, logger, now: () => new Date(), demoEhrReady });
}

async function health(app: ReturnType<typeof appWith>): Promise<{ code: number; body: Health }> {
  const res = await app.request('/health');
  return { code: res.status, body: (await res.json()) as Health };
}

async function until(app: ReturnType<typeof appWith>, pred: (h: Health) => boolean, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const h = await health(app);
    if (pred(h.body) || Date.now() > deadline) return h;
    await new Promise((r) => setTimeout(r, 200));
  }
}

const answering: WorkflowGateway = {
  startCase: () => Promise.reject(new Error('unused')),
  submitDecision: () => Promise.reject(new Error('unused')),
  getCaseState: () => Promise.resolve(null),
  ping: () => Promise.resolve(),
};

/** One activity, so the test worker polls both queues without the SDK's "no activities" warning. */
const QUIET = { noop: () => Promise.resolve() };

describe('the worker part', () => {
  test('no worker polls: 200 but degraded; once a worker polls the task queue: ok', async () => {
    const taskQueue = uniqueTaskQueue('health');
    const app = appWith(createWorkflowGateway(temporal.client, { taskQueue }));
    expect(await health(app)).toEqual({
      code: 200,
      body: { status: 'degraded', parts: { database: 'ok', temporal: 'ok', worker: 'down' } },
    });

    const worker = await createTestWorker({ taskQueue, config, activities: QUIET });
    const running = worker.worker.run();
    try {
      expect(await until(app, (h) => h.status === 'ok')).toEqual({
        code: 200,
        body: { status: 'ok', parts: { database: 'ok', temporal: 'ok', worker: 'ok' } },
      });
    } finally {
      worker.worker.shutdown();
      await running;
      await worker.close();
    }
  });

  test('a worker on another task queue does not count', async () => {
    const worker = await createTestWorker({ config, activities: QUIET });
    const running = worker.worker.run();
    try {
      const app = appWith(createWorkflowGateway(temporal.client, { taskQueue: uniqueTaskQueue('health-other') }));
      await new Promise((r) => setTimeout(r, 1000)); // the other worker has polled by now
      expect((await health(app)).body.parts.worker).toBe('down');
    } finally {
      worker.worker.shutdown();
      await running;
      await worker.close();
    }
  });
});

test('a database that does not answer: 503, status down', async () => {
  const other = await openTestDatabase('sqlite');
  await other.cleanup(); // closed
  expect(await health(appWith(answering, other.db))).toEqual({
    code: 503,
    body: { status: 'down', parts: { database: 'down', temporal: 'ok' } },
  });
});

test('DEMO: the ehr part is down until the sandbox EHR listens and knows the demo client, then ok', async () => {
  const sandboxPort = await findFreePort();
  const demoConfig = testTemporalConfig({ DATA_DIR: testDb.options.dataDir, SANDBOX_PORT: String(sandboxPort) });
  const store = createStore(testDb.db);
  await ensureBuiltinProtocols(store, logger);
  const demo = await ensureDemoClinic(store, demoConfig, logger);
  const app = appWith(answering, testDb.db, () => demo.ehrReady());
  expect(await health(app)).toEqual({
    code: 200,
    body: { status: 'degraded', parts: { database: 'ok', temporal: 'ok', ehr: 'down' } },
  });

  const sandbox = await startSandbox({ port: sandboxPort, validate: false });
  try {
    expect(await until(app, (h) => h.status === 'ok')).toEqual({
      code: 200,
      body: { status: 'ok', parts: { database: 'ok', temporal: 'ok', ehr: 'ok' } },
    });
    // Ready because the API registered the demo client with the sandbox (not merely because the port answers); the
    // console's SMART App Launch client is registered beside it (in the background too).
    const registered = () => sandbox.requests.filter((r) => r.path === '/oauth2/register' && r.status < 300).length;
    expect(registered()).toBeGreaterThanOrEqual(1);
    await expect.poll(registered, { timeout: 5000 }).toBe(2);
  } finally {
    await sandbox.close();
  }
  expect((await health(app)).body.parts.ehr).toBe('down');
});
