// The claim under test: a patient's name given to a workflow never reaches Temporal's storage in plaintext, whether
// it travels as input, activity argument, result or failure message. We read the dev server's SQLite bytes directly.
import { readdir, readFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { ActivityFailure, Client, WorkflowFailedError } from '@temporalio/client';
import { afterAll, beforeAll, expect, inject, test } from 'vitest';
import type { TemporalClientHandle } from '../../connectors/temporal.ts';
import { echoWorkflow } from '../../workflows/smoke.ts';
import { createTestClient, createTestWorker, uniqueTaskQueue, type TestWorker } from '../helpers/temporal.ts';

const NAME = 'Zebulon Quixote-Marsh'; // synthetic
const CONTROL = 'Ottoline Plaintext-Fairweather'; // synthetic; sent WITHOUT the codec to prove the scan can see

let temporal: TemporalClientHandle;
/** Every text the worker's echo activity received. */
const echoed: string[] = [];
let testWorker: TestWorker;

beforeAll(async () => {
  temporal = await createTestClient();
  testWorker = await createTestWorker({
    activities: {
      echoActivity: async (text: string): Promise<string> => {
        echoed.push(text);
        if (text.startsWith('fail:')) throw new Error(`no chart for ${text.slice(5)}`);
        return Promise.resolve(`hello ${text}`);
      },
    },
  });
});
afterAll(async () => {
  await testWorker?.close();
  await temporal?.close();
});

/** Every byte of the dev server's state: the database, its WAL and shared-memory files. */
async function temporalStateBytes(): Promise<Buffer> {
  const dbFile = inject('temporalDbFile');
  const dir = dirname(dbFile);
  const files = (await readdir(dir)).filter((f) => f.startsWith(basename(dbFile)));
  expect(files).toContain(`${basename(dbFile)}-wal`); // WAL mode is on, so recent writes sit here
  return Buffer.concat(await Promise.all(files.map((f) => readFile(join(dir, f)))));
}

test('a patient name in inputs, results and failures is stored only as ciphertext', async () => {
  const { client } = temporal;
  const taskQueue = testWorker.taskQueue;
  const id = (suffix: string): string => `${taskQueue}-${suffix}`;

  await testWorker.worker.runUntil(async () => {
    // A workflow that completes: input, activity argument, activity result and workflow result all carry the name.
    const echoed = await client.workflow.execute(echoWorkflow, {
      taskQueue,
      workflowId: id('ok'),
      args: [{ text: NAME }],
    });
    expect(echoed).toBe(`hello ${NAME}`);

    // A workflow that fails with the name in its own failure message …
    const workflowFailure = await client.workflow
      .execute(echoWorkflow, { taskQueue, workflowId: id('wf-fail'), args: [{ text: NAME, fail: 'workflow' }] })
      .catch((err: unknown) => err);
    expect(workflowFailure).toBeInstanceOf(WorkflowFailedError);
    expect((workflowFailure as WorkflowFailedError).cause?.message).toBe(`cannot process ${NAME}`); // decrypted for us

    // … and one whose activity fails with the name (the worker's Node-side failure converter).
    const activityFailure = await client.workflow
      .execute(echoWorkflow, { taskQueue, workflowId: id('act-fail'), args: [{ text: NAME, fail: 'activity' }] })
      .catch((err: unknown) => err);
    expect(activityFailure).toBeInstanceOf(WorkflowFailedError);
    const activityCause = (activityFailure as WorkflowFailedError).cause;
    expect(activityCause).toBeInstanceOf(ActivityFailure);
    expect((activityCause as ActivityFailure).cause?.message).toBe(`no chart for ${NAME}`);
  });

  // Control: the same kind of start through a client WITHOUT the codec. Nobody polls its queue; the input is stored.
  const plain = new Client({ connection: temporal.connection, namespace: 'default' });
  const control = await plain.workflow.start(echoWorkflow, {
    taskQueue: uniqueTaskQueue('unpolled'),
    workflowId: id('control'),
    args: [{ text: CONTROL }],
  });
  // The name is in history as three different payloads; make sure at least the start event is readable as-is.
  const history = await control.fetchHistory();
  const started = history.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0];
  expect(Buffer.from(started?.data ?? []).toString()).toContain(CONTROL);

  const bytes = await temporalStateBytes();
  expect(bytes.includes(CONTROL), 'the scan must see a name stored in plaintext').toBe(true);
  expect(bytes.includes(NAME), 'the encrypted name leaked into Temporal storage').toBe(false);
  expect(bytes.includes('Quixote'), 'part of the encrypted name leaked').toBe(false);
  await control.terminate('test control done');
});

test('the worker refuses a workflow input written without the codec: it never reaches workflow code', async () => {
  // A client without the payload key (a stray script, `temporal workflow start --input`) is not a writer we trust:
  // AES-GCM is what authenticates a payload, and a plaintext one could carry a forged decision.
  const fresh = await createTestWorker({
    activities: { echoActivity: (text: string) => (echoed.push(text), Promise.resolve(text)) },
  });
  const taskQueue = fresh.taskQueue;
  const plain = new Client({ connection: temporal.connection, namespace: 'default' });
  const forged = await plain.workflow.start(echoWorkflow, {
    taskQueue,
    workflowId: `${taskQueue}-forged`,
    args: [{ text: 'forged-input-3b7d' }],
  });
  let failed: string | undefined;
  await fresh.worker.runUntil(async () => {
    const deadline = Date.now() + 15_000;
    while (failed === undefined && Date.now() < deadline) {
      const { events } = await forged.fetchHistory();
      failed =
        events?.find((e) => e.workflowTaskFailedEventAttributes)?.workflowTaskFailedEventAttributes?.failure?.message ??
        undefined;
      if (failed === undefined) await new Promise((r) => setTimeout(r, 100));
    }
  });
  expect(failed, 'the workflow task should have failed').toBeDefined();
  expect(echoed).not.toContain('forged-input-3b7d'); // the workflow never ran its activity
  expect((await forged.describe()).status.name).toBe('RUNNING'); // stuck on its first task, visibly, not run
  await forged.terminate('test done');
  await fresh.close();
});
