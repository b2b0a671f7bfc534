// Temporal for tests: the run's shared dev server (test/global-setup.ts), a fixed test payload key, and workers on
// task queues of their own so test files running in parallel never steal each other's tasks.
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { DefaultLogger, Runtime, Worker, bundleWorkflowCode } from '@temporalio/worker';
import type { NativeConnection, WorkerOptions } from '@temporalio/worker';
import { inject } from 'vitest';
import {
  routeTriaged,
  type EnterFirstQueueResult,
  type TriageFirstInput,
} from '../../activities/kinds/refill/first-queue.ts';
import type { TriageRequestResult } from '../../activities/kinds/refill/triage.ts';
import { FAILURE_CONVERTER_PATH } from '../../connectors/codec.ts';
import { loadConfig, type Config } from '../../connectors/config.ts';
import {
  createTemporalClient,
  createWorkerConnection,
  workerDataConverter,
  type TemporalClientHandle,
} from '../../connectors/temporal.ts';

import type { SigningPolicy } from '../../rules/lifecycle/index.ts';

export const WORKFLOWS_PATH = fileURLToPath(new URL('../../workflows/index.ts', import.meta.url));
/** Synthetic key material: base64 of 32 bytes, used only by tests. */
export const TEST_PAYLOAD_KEY = Buffer.alloc(32, 0x5a).toString('base64');
export const TEST_PAYLOAD_KEY_ID = 'test-k1';

/** Config pointing at the run's dev server with the test payload key; `overrides` are raw env-style strings. */
export function testTemporalConfig(overrides: Record<string, string | undefined> = {}): Config {
  return loadConfig({
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    TEMPORAL_ADDRESS: inject('temporalAddress'),
    PAYLOAD_KEY: TEST_PAYLOAD_KEY,
    PAYLOAD_KEY_ID: TEST_PAYLOAD_KEY_ID,
    ...overrides,
  });
}

/** A task queue no other test (file, or run) uses. */
export function uniqueTaskQueue(prefix = 'test'): string {
  return `${prefix}-${process.pid}-${randomUUID().slice(0, 8)}`;
}

let runtimeInstalled = false;
function quietRuntime(): void {
  // The SDK logs every worker state change at INFO; tests want warnings only. Once per process, before any worker.
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  try {
    Runtime.install({ logger: new DefaultLogger('WARN') });
  } catch {
    // already installed by someone else in this process: keep theirs
  }
}

let bundle: Promise<{ code: string }> | undefined;
/** The workflow bundle (workflows/index.ts + the encrypting failure converter), built once per test process. */
export function testWorkflowBundle(): Promise<{ code: string }> {
  quietRuntime();
  bundle ??= bundleWorkflowCode({
    workflowsPath: WORKFLOWS_PATH,
    failureConverterPath: FAILURE_CONVERTER_PATH,
    logger: new DefaultLogger('WARN'),
  });
  return bundle;
}

/** A client for the run's dev server; `close()` it in afterAll. */
export async function createTestClient(config: Config = testTemporalConfig()): Promise<TemporalClientHandle> {
  return createTemporalClient(config);
}

export interface TestWorker {
  worker: Worker;
  taskQueue: string;
  connection: NativeConnection;
  /** Shuts the worker down (if running) and closes its connection. */
  close: () => Promise<void>;
}

/**
 * A real Worker on the run's dev server: workflows from workflows/index.ts, the test payload key, a unique task
 * queue unless one is given. Drive it with `worker.runUntil(promise)`.
 */
export async function createTestWorker(options: {
  activities?: object;
  taskQueue?: string;
  config?: Config;
  workerOptions?: Partial<WorkerOptions>;
}): Promise<TestWorker> {
  quietRuntime();
  const config = options.config ?? testTemporalConfig();
  const taskQueue = options.taskQueue ?? uniqueTaskQueue();
  const connection = await createWorkerConnection(config);
  const worker = await Worker.create({
    connection,
    namespace: config.TEMPORAL_NAMESPACE,
    taskQueue,
    workflowBundle: await testWorkflowBundle(),
    activities: options.activities ?? {},
    dataConverter: workerDataConverter(config),
    ...options.workerOptions,
  });
  return {
    worker,
    taskQueue,
    connection,
    close: async () => {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await connection.close();
    },
  };
}

/**
 * Refill stand-ins written as the separate steps (`pinProtocol`, `pinSigningPolicy`, `gatherPatientFacts`,
 * `evaluateProtocol`, `writeBackOutcome`, `syncQueueTask`, `projectCase`), plus the combined activities new cases call
 * (`beginTriage`, `triageRequest`, `enterFirstQueue`), built from those steps as activities/kinds/refill builds them.
 */
export function withCombinedTriage<T extends Record<string, unknown>>(activities: T): T {
  type Fn = (input: never) => Promise<unknown>;
  const call = (name: string, input: unknown) => (activities[name] as Fn)(input as never);
  const beginTriage = async (input: { projection: unknown; clinicId: string }) => {
    await call('projectCase', input.projection);
    const protocol = (await call('pinProtocol', { clinicId: input.clinicId })) as { id: string; version: number };
    return {
      protocol,
      policy: await call('pinSigningPolicy', { clinicId: input.clinicId, protocolId: protocol.id }),
    };
  };
  const firstQueue = withFirstQueue(activities) as T & { enterFirstQueue: (input: unknown) => Promise<unknown> };
  const triageRequest = async (input: { protocol: unknown } & Record<string, unknown>) => {
    const { protocol, ...read } = input;
    const gathered = (await call('gatherPatientFacts', read)) as { facts: unknown } & Record<string, unknown>;
    const decision = await call('evaluateProtocol', { ...read, protocol, facts: gathered.facts });
    const { facts: _facts, ...rest } = gathered;
    return { ...rest, decision };
  };
  return {
    ...activities,
    beginTriage,
    triageRequest,
    // As activities/kinds/refill/first-queue.ts triageFirst: beginTriage, then triageRequest tried once, its failure
    // returned; with `route`, then the first queue (the step from workflows/refill-first-route.ts), its failure
    // returned too.
    triageFirst: async (input: TriageFirstInput) => {
      const pinned = await beginTriage(input);
      let triaged: TriageRequestResult;
      try {
        triaged = (await triageRequest({ ...input.read, protocol: pinned.protocol })) as TriageRequestResult;
      } catch (err) {
        const code = (err as { type?: unknown; code?: unknown }).type ?? (err as { code?: unknown }).code;
        return { pinned, error: typeof code === 'string' ? code : null };
      }
      if (!input.route) return { pinned, triaged };
      const { routed } = await routeTriaged(
        input,
        input.route,
        { protocol: pinned.protocol, policy: pinned.policy as SigningPolicy },
        triaged,
        new Date(),
        (entry) => firstQueue.enterFirstQueue(entry) as Promise<EnterFirstQueueResult>,
      );
      return { pinned, triaged, routed };
    },
    ...firstQueue,
  };
}

/**
 * `enterFirstQueue` built from stand-ins for `writeBackOutcome`, `syncQueueTask` and `projectCase` (the order and the
 * Task, then the projection), unless the stand-ins define it themselves.
 */
export function withFirstQueue<T extends Record<string, unknown>>(activities: T): T {
  type Fn = (input: never) => Promise<unknown>;
  const call = (name: string, input: unknown) => (activities[name] as Fn)(input as never);
  return {
    enterFirstQueue: async (input: { order?: unknown; task: unknown; projection: unknown }) => {
      await Promise.all([
        ...(input.order ? [call('writeBackOutcome', input.order)] : []),
        call('syncQueueTask', input.task),
      ]);
      await call('projectCase', input.projection);
      return { projected: true };
    },
    ...activities,
  };
}
