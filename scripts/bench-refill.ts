// One refill-triage run for `npm run bench`: starts the stack of the checkout this file sits in (scripts/start.ts, as
// `npm start` does, separate processes, payload codec on), drives it with signed refill webhooks like an EHR, and
// writes one JSON result (--out). scripts/bench.ts runs it here and in a checkout of the commit before the kinds
// redesign, interleaved; so it uses only what that commit has too (the refill webhook's contract, the store's case
// and audit reads, the empty workflow).
//
//   warm-up (10) → one request at a time (30, each waited until routed) → optionally (--warm-up W) W webhooks at
//   concurrency C and, with --ceiling, W empty workflows, none of them measured (the processes' JIT compilers warm up:
//   a worker serves for days, and V8's optimizing compiler took ~22 % of its CPU in the first 10 s of a cold closed
//   loop, perf) → N webhooks at concurrency C (closed loop: what the stack can take) → optionally (--open-loop S)
//   webhooks at a fixed arrival rate of half the closed loop's throughput for S seconds (what a clinic sees at half
//   load); with --ceiling, N empty workflows at the same concurrency, this machine's Temporal ceiling, half of them
//   before the closed loop and half after the open loop.
// During the closed loop and the ceiling it reads every process's CPU time (/proc/<pid>/stat: worker, API, Temporal
// dev server, sandbox EHR; this driver by process.cpuUsage), and after it reads the histories of a sample of cases
// (workflow tasks, activities, local activities, events up to routing).
//
// Options: --requests N (500) --concurrency C (16) --patients P (1000) --out file (stdout) --ceiling --open-loop S (0)
//          --warm-up W (0) --history-sample K (20) --name-patient (the events carry the request's `patient`, as an EHR that knows it
//          sends it; a commit without that field refuses it, so scripts/bench.ts passes it to the current tree only).
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { signWebhook } from '../api/middleware/webhook-signature.ts';
import { loadConfig } from '../connectors/config.ts';
import { createStore, openDatabase } from '../connectors/db/index.ts';
import { createTemporalClient } from '../connectors/temporal.ts';
import { generateClinic } from '../sandbox/synthetic/index.ts';
import { emptyWorkflow } from '../workflows/smoke.ts';
import {
  cpuMsOf,
  loadAverage1m,
  memoryOf,
  STACK_PROCESSES,
  startBenchStack,
  type StackProcess,
} from './bench-stack.ts';

const { values } = parseArgs({
  options: {
    requests: { type: 'string', default: '500' },
    concurrency: { type: 'string', default: '16' },
    patients: { type: 'string', default: '1000' },
    out: { type: 'string' },
    ceiling: { type: 'boolean', default: false },
    'open-loop': { type: 'string', default: '0' },
    'name-patient': { type: 'boolean', default: false },
    'history-sample': { type: 'string', default: '20' },
    'warm-up': { type: 'string', default: '0' },
  },
});
const N = Number(values.requests);
const C = Number(values.concurrency);
const PATIENTS = Number(values.patients);
const WARM_UP = Number(values['warm-up']);
const ROOT = fileURLToPath(new URL('..', import.meta.url));

const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? NaN;
const round = (x: number, d = 1) => Math.round(x * 10 ** d) / 10 ** d;
async function pool<T>(items: T[], concurrency: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

/** CPU time so far of every process of the stack and of this driver, in ms. */
function cpuSnapshot(stack: { childPid(name: StackProcess): number | null }): Record<string, number | null> {
  const out: Record<string, number | null> = {};
  for (const name of STACK_PROCESSES) {
    const pid = stack.childPid(name);
    out[name] = pid === null ? null : cpuMsOf(pid);
  }
  const self = process.cpuUsage();
  out.driver = (self.user + self.system) / 1000;
  return out;
}
/** Two CPU snapshots: the start and the end of a phase. */
type CpuInterval = [Record<string, number | null>, Record<string, number | null>];
/** CPU-ms per item of each process over one or more intervals, and their sum. */
function cpuPer(intervals: CpuInterval[], items: number) {
  const per: Record<string, number | null> = {};
  let total = 0;
  for (const k of Object.keys(intervals[0]![1])) {
    let sum: number | null = 0;
    for (const [a, b] of intervals) sum = sum === null || a[k] == null || b[k] == null ? null : sum + b[k] - a[k];
    const d = sum === null ? null : sum / items;
    per[k] = d === null ? null : round(d, 2);
    if (d !== null && k !== 'driver') total += d;
  }
  return { ...per, stackTotal: round(total, 2) };
}

const load1mBefore = loadAverage1m();
// The rate limits still count every webhook (their writes are part of its cost) but never refuse one: a warm-up, a
// closed loop and an open loop can send more than a clinic's minute allows.
const stack = await startBenchStack({
  root: ROOT,
  env: {
    SANDBOX_PATIENTS: String(PATIENTS),
    RATE_LIMIT_PER_IP: '1000000',
    RATE_LIMIT_WEBHOOKS_PER_CLINIC: '1000000',
  },
});
try {
  const { dir, env, api } = stack;
  const creds = JSON.parse(readFileSync(join(dir, 'demo-credentials.json'), 'utf8')) as { webhookSecret: string };
  const secret = creds.webhookSecret;
  const config = loadConfig({ ...env, PAYLOAD_KEY: readFileSync(join(dir, 'payload.key'), 'utf8').trim() });
  const db = await openDatabase({ dataDir: dir });
  const store = createStore(db);
  const client = await createTemporalClient(config);

  const asOf = new Date().toISOString().slice(0, 10);
  const clinic = generateClinic({ seed: config.SANDBOX_SEED, patients: PATIENTS, asOf });
  const patientOf = new Map(clinic.refillRequests.map((r) => [r.medicationRequestId, r.patientId]));
  const requests = clinic.refillRequests.map((r) => r.medicationRequestId);
  const post = async (mrId: string) => {
    const raw = JSON.stringify({
      type: 'refill.requested',
      id: `evt-${mrId}`,
      medicationRequest: `MedicationRequest/${mrId}`,
      ...(values['name-patient'] ? { patient: `Patient/${patientOf.get(mrId)}` } : {}),
    });
    const ts = Math.floor(Date.now() / 1000);
    const res = await fetch(`${api}/v1/webhooks/demo/refill-requests`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-autopilot-timestamp': String(ts),
        'x-autopilot-signature': signWebhook(secret, ts, raw),
      },
      body: raw,
    });
    if (res.status !== 202) throw new Error(`webhook answered ${res.status}: ${await res.text()}`);
    return ((await res.json()) as { caseId: string }).caseId;
  };
  /**
   * Waits until every case is routed, re-reading only those still pending (latency comes from the timeline). Fails
   * instead of waiting forever when a process of the stack is gone or nothing was routed for 5 minutes.
   */
  const waitQueued = async (ids: string[], everyMs = 50) => {
    let pending = ids;
    let progressAt = performance.now();
    while (pending.length > 0) {
      const cases = await Promise.all(pending.map((id) => store.cases.getCase(id)));
      const still = pending.filter((_, i) => cases[i]?.status !== 'queued');
      if (still.length < pending.length) progressAt = performance.now();
      pending = still;
      if (pending.length === 0) break;
      const gone = STACK_PROCESSES.filter((name) => stack.childPid(name) === null);
      if (gone.length > 0) throw new Error(`${gone.join(', ')} exited with ${pending.length} cases not routed`);
      if (performance.now() - progressAt > 300_000)
        throw new Error(`${pending.length} cases not routed, none for 5 minutes`);
      await new Promise((r) => setTimeout(r, everyMs));
    }
  };
  // Warm-up: workflow bundle loaded, SMART token fetched, connections open.
  await waitQueued(await Promise.all(requests.slice(0, 10).map(post)));

  // Unloaded latency: one request at a time, each waited until routed (the latency a clinic sees off-peak).
  const single: number[] = [];
  for (const mrId of requests.slice(10, 40)) {
    const s = performance.now();
    await waitQueued([await post(mrId)]);
    single.push(performance.now() - s);
  }
  single.sort((a, b) => a - b);

  // The ceiling: an empty workflow on the same server and the product's own worker, same concurrency, same codec. Half
  // of it runs here and half after the triages, so that the machine's speed drifting during a run, or the stack
  // carrying the run's open cases afterwards, biases the ratio neither way.
  const emptyWorkflows = async (count: number, tag: string) => {
    const cpu0 = cpuSnapshot(stack);
    const e0 = performance.now();
    let k = 0;
    await pool(
      Array.from({ length: count }, () => k++),
      C,
      async (i) => {
        await client.client.workflow.execute(emptyWorkflow, {
          taskQueue: config.TEMPORAL_TASK_QUEUE,
          workflowId: `empty-${tag}-${i}-${Date.now()}`,
          args: [{ n: i }],
        });
      },
    );
    const ms = performance.now() - e0;
    const cpu: CpuInterval = [cpu0, cpuSnapshot(stack)];
    return { cpu, ms, perS: round(count / (ms / 1000)) };
  };
  // Steady state: both paths run W times at the run's concurrency before anything is measured (JIT compilers warm).
  if (WARM_UP > 0) {
    const warm = requests.slice(40, 40 + WARM_UP);
    if (warm.length < WARM_UP) throw new Error(`only ${warm.length} refill requests for the warm-up; raise --patients`);
    const warmIds: string[] = [];
    await pool(warm, C, async (mrId) => {
      warmIds.push(await post(mrId));
    });
    await waitQueued(warmIds, 500);
    if (values.ceiling) await emptyWorkflows(WARM_UP, 'warm-up');
  }
  const ceilingBefore = values.ceiling ? await emptyWorkflows(Math.floor(N / 2), 'before') : null;

  // The run: N webhooks at concurrency C; a webhook answers in ms, the routing happens in the workflow.
  const first = 40 + WARM_UP;
  const batch = requests.slice(first, first + N);
  if (batch.length < N) throw new Error(`only ${batch.length} refill requests available; raise --patients`);
  const workerPid = stack.childPid('worker');
  const webhookMs: number[] = [];
  const caseIds: string[] = [];
  const cpu0 = cpuSnapshot(stack);
  const t0 = performance.now();
  await pool(batch, C, async (mrId) => {
    const s = performance.now();
    caseIds.push(await post(mrId));
    webhookMs.push(performance.now() - s);
  });
  await waitQueued(caseIds, 500);
  const wallS = (performance.now() - t0) / 1000;
  const cpuMsPerTriage = cpuPer([[cpu0, cpuSnapshot(stack)]], N);
  const load1mAfter = loadAverage1m();
  const workerMemory = workerPid === null ? null : memoryOf(workerPid);

  // Webhook-to-routed latency from the case timeline: case.received (API clock) → case.queued (workflow clock).
  const latencies: number[] = [];
  let firstReceived = Infinity;
  let lastQueued = 0;
  let readRoundTrips = 0;
  let writes = 0;
  for (const id of caseIds) {
    const events = await store.cases.listCaseEvents(id);
    const received = Date.parse(events.find((e) => e.kind === 'case.received')!.at);
    const queued = Date.parse(events.find((e) => e.kind === 'case.queued')!.at);
    latencies.push(queued - received);
    firstReceived = Math.min(firstReceived, received);
    lastQueued = Math.max(lastQueued, queued);
    const audit = (await store.audit.listAudit({ caseId: id, limit: 100 })).items;
    const read = audit.find((a) => a.action === 'patient_context.read');
    readRoundTrips += Number((read?.detail as { roundTrips?: number } | undefined)?.roundTrips ?? 0);
    writes += audit.filter((a) => a.action === 'ehr.write_back' || a.action === 'ehr.task_synced').length;
  }
  latencies.sort((a, b) => a - b);
  webhookMs.sort((a, b) => a - b);
  const triagesPerS = N / ((lastQueued - firstReceived) / 1000);
  const cases = await Promise.all(caseIds.map((id) => store.cases.getCase(id)));
  const mix: Record<string, number> = {};
  for (const c of cases) mix[c!.disposition ?? 'untriaged'] = (mix[c!.disposition ?? 'untriaged'] ?? 0) + 1;
  console.error(`refill: ${round(triagesPerS)} triages/s; routed p50 ${pct(latencies, 0.5)} ms`);

  // What one triage costs Temporal, up to routing: its history, read for a sample of the run's cases.
  const sample = caseIds.slice(0, Number(values['history-sample']));
  const perCase = { events: 0, workflowTasks: 0, activities: 0, localActivities: 0, historyBytes: 0 };
  for (const id of sample) {
    const history = await client.client.workflow.getHandle(id).fetchHistory();
    const events = history.events ?? [];
    perCase.events += events.length;
    perCase.workflowTasks += events.filter((e) => e.workflowTaskCompletedEventAttributes).length;
    perCase.activities += events.filter((e) => e.activityTaskScheduledEventAttributes).length;
    perCase.localActivities += events.filter(
      (e) => e.markerRecordedEventAttributes?.markerName === 'core_local_activity',
    ).length;
    perCase.historyBytes += JSON.stringify(history).length;
  }
  const historyPerTriage = Object.fromEntries(
    Object.entries(perCase).map(([k, v]) => [k, round(v / Math.max(1, sample.length), 1)]),
  );
  console.error(`history per triage: ${JSON.stringify(historyPerTriage)}`);

  // Open loop: a fixed arrival rate of half what the closed loop took, every webhook sent on schedule whatever the
  // previous ones are doing; webhook → routed latency from the case timelines.
  let openLoop: Record<string, unknown> | null = null;
  const openSeconds = Number(values['open-loop']);
  if (openSeconds > 0) {
    const rate = triagesPerS / 2;
    const count = Math.round(rate * openSeconds);
    const openBatch = requests.slice(first + N, first + N + count);
    if (openBatch.length < count)
      throw new Error(`only ${openBatch.length} refill requests left for the open loop; raise --patients`);
    const o0 = performance.now();
    const posts: Promise<string>[] = [];
    for (let i = 0; i < count; i += 1) {
      const due = o0 + (i * 1000) / rate;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      posts.push(post(openBatch[i]!));
    }
    const openIds = await Promise.all(posts);
    await waitQueued(openIds, 200);
    const lat: number[] = [];
    for (const id of openIds) {
      const events = await store.cases.listCaseEvents(id);
      lat.push(
        Date.parse(events.find((e) => e.kind === 'case.queued')!.at) -
          Date.parse(events.find((e) => e.kind === 'case.received')!.at),
      );
    }
    lat.sort((a, b) => a - b);
    openLoop = {
      ratePerSecond: round(rate, 2),
      seconds: openSeconds,
      requests: count,
      sendLagMs: round(performance.now() - o0 - openSeconds * 1000),
      routedLatencyMs: { p50: pct(lat, 0.5), p95: pct(lat, 0.95), p99: pct(lat, 0.99), max: lat.at(-1) ?? NaN },
    };
    console.error(`open loop at ${round(rate)}/s: routed p50 ${pct(lat, 0.5)} p99 ${pct(lat, 0.99)} ms`);
  }

  let emptyPerS: number | null = null;
  let cpuMsPerEmptyWorkflow: Record<string, number | null> | null = null;
  if (ceilingBefore) {
    // The ceiling's second half, after the triages: the two halves together are the ceiling (see `emptyWorkflows`).
    const after = await emptyWorkflows(N - Math.floor(N / 2), 'after');
    const ms = ceilingBefore.ms + after.ms;
    emptyPerS = N / (ms / 1000);
    cpuMsPerEmptyWorkflow = cpuPer([ceilingBefore.cpu, after.cpu], N);
    console.error(
      `empty workflow: ${round(emptyPerS)} workflows/s (${ceilingBefore.perS} before, ${after.perS} after the triages)`,
    );
  }

  const result = {
    at: new Date().toISOString(),
    settings: {
      requests: N,
      concurrency: C,
      patients: PATIENTS,
      namePatient: values['name-patient'],
      warmUp: WARM_UP,
    },
    load1m: { before: load1mBefore, after: load1mAfter },
    startToHealthySeconds: round(stack.startToHealthySeconds, 1),
    triagesPerSecond: round(triagesPerS),
    wallSeconds: round(wallS, 2),
    unloadedRoutedLatencyMs: {
      requests: single.length,
      p50: round(pct(single, 0.5)),
      p95: round(pct(single, 0.95)),
      max: round(single.at(-1) ?? NaN),
    },
    routedLatencyMs: {
      p50: pct(latencies, 0.5),
      p95: pct(latencies, 0.95),
      p99: pct(latencies, 0.99),
      max: latencies.at(-1) ?? NaN,
    },
    webhookResponseMs: {
      p50: round(pct(webhookMs, 0.5)),
      p95: round(pct(webhookMs, 0.95)),
      p99: round(pct(webhookMs, 0.99)),
    },
    fhirReadRoundTripsPerTriage: round(readRoundTrips / N, 2),
    fhirWritesPerTriage: round(writes / N, 2),
    dispositions: mix,
    workerMemoryMb: workerMemory
      ? { rss: round(workerMemory.rssKb / 1024), peak: round(workerMemory.hwmKb / 1024) }
      : null,
    emptyWorkflowsPerSecond: emptyPerS === null ? null : round(emptyPerS),
    ratioToEmptyWorkflowCeiling: emptyPerS === null ? null : round(triagesPerS / emptyPerS, 3),
    cpuMsPerTriage,
    cpuMsPerEmptyWorkflow,
    historyPerTriage,
    openLoop,
  };
  const text = JSON.stringify(result, null, 2) + '\n';
  if (values.out) writeFileSync(values.out, text);
  else process.stdout.write(text);
  await client.close();
  await db.close();
} finally {
  await stack.stop();
}
