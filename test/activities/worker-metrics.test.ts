// The worker entrypoint (activities/worker.ts) as its own process: one scrape target on WORKER_METRICS_PORT that
// answers with its own metrics AND the Temporal SDK's, behind METRICS_TOKEN; WORKER_METRICS_PORT=0 serves nothing.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, expect, inject, test } from 'vitest';
import { findFreePort } from '../../scripts/temporal-cli.ts';
import { dashboardExpressions, promqlMetricNames } from '../helpers/dashboard.ts';
import { TEST_PAYLOAD_KEY, TEST_PAYLOAD_KEY_ID, uniqueTaskQueue } from '../helpers/temporal.ts';

const WORKER = fileURLToPath(new URL('../../activities/worker.ts', import.meta.url));
const TOKEN = 'worker-metrics-token-0123456789';
const children: ChildProcess[] = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const child of children.splice(0)) {
    if (child.exitCode !== null || child.signalCode !== null) continue;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
  }
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function startWorker(extra: Record<string, string>): { child: ChildProcess; output: () => string } {
  const dataDir = mkdtempSync(join(tmpdir(), 'ehr-autopilot-worker-metrics-'));
  dirs.push(dataDir);
  const env = {
    PATH: process.env.PATH ?? '',
    DATA_DIR: dataDir,
    TEMPORAL_ADDRESS: inject('temporalAddress'),
    TEMPORAL_TASK_QUEUE: uniqueTaskQueue('metrics'),
    PAYLOAD_KEY: TEST_PAYLOAD_KEY,
    PAYLOAD_KEY_ID: TEST_PAYLOAD_KEY_ID,
    LOG_LEVEL: 'info',
    ...extra,
  };
  const child = spawn(process.execPath, ['--import', 'tsx', WORKER], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  return { child, output: () => output };
}

test('one scrape target: the worker metrics and the Temporal SDK metrics, behind METRICS_TOKEN', async () => {
  const port = await findFreePort();
  const { child, output } = startWorker({ WORKER_METRICS_PORT: String(port), METRICS_TOKEN: TOKEN });
  const url = `http://127.0.0.1:${port}/metrics`;
  const auth = { authorization: `Bearer ${TOKEN}` };
  const deadline = Date.now() + 60_000;
  let text = '';
  // The SDK's pollers report once the worker polls: wait for its metrics to show up through our endpoint.
  while (!/^temporal_num_pollers\{/m.test(text)) {
    if (child.exitCode !== null) throw new Error(`worker exited (${child.exitCode}): ${output()}`);
    if (Date.now() > deadline) throw new Error(`no Temporal SDK metrics at ${url}: ${text.slice(0, 500)}\n${output()}`);
    await new Promise((r) => setTimeout(r, 300));
    const res = await fetch(url, { headers: auth }).catch(() => undefined);
    if (res?.status === 200) text = await res.text();
  }
  expect(output()).toContain('worker metrics listening');
  // Our registry (the same names the API serves) and the process's own metrics, then the SDK's.
  expect(text).toContain('# TYPE autopilot_fhir_requests_total counter');
  expect(text).toContain('# TYPE autopilot_cases_routed_total counter');
  expect(text).toMatch(/^process_cpu_user_seconds_total /m);
  expect(text).toMatch(/^temporal_worker_task_slots_available\{.*task_queue="metrics-/m);
  // Every Temporal SDK metric the Grafana dashboard graphs is one this endpoint serves.
  const sdkNames = dashboardExpressions()
    .flatMap(promqlMetricNames)
    .filter((n) => n.startsWith('temporal_'));
  expect(sdkNames.length).toBeGreaterThan(0);
  for (const name of sdkNames) expect(text, name).toMatch(new RegExp(`^${name}[{ ]`, 'm'));
  // The token gate.
  expect((await fetch(url)).status).toBe(401);
  expect((await fetch(url, { headers: { authorization: 'Bearer not-the-token-0123456789' } })).status).toBe(401);
  expect((await fetch(`http://127.0.0.1:${port}/other`, { headers: auth })).status).toBe(404);
  expect((await fetch(url, { method: 'POST', headers: auth })).status).toBe(405);
});

test('WORKER_METRICS_PORT=0: no endpoint, and the worker still runs', async () => {
  const { child, output } = startWorker({ WORKER_METRICS_PORT: '0' });
  const deadline = Date.now() + 60_000;
  while (!output().includes('worker running')) {
    if (child.exitCode !== null) throw new Error(`worker exited (${child.exitCode}): ${output()}`);
    if (Date.now() > deadline) throw new Error(`worker never ran: ${output()}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  expect(output()).not.toContain('worker metrics listening');
});
