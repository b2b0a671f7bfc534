// `npm run bench`: the care-gap panel sweep and refill triage, end to end on one machine, and what bounds them.
//
// Every run starts the product as `npm start` does (scripts/bench-stack.ts: temporary DATA_DIR, free ports, Temporal
// dev server, sandbox EHR, worker and API as separate processes, payload codec on) and drives it over HTTP.
//   1. Refill triage before and after the kinds redesign, in the same run: scripts/bench-refill.ts in a temporary git
//      worktree of --before (default 3d5864e, main before issue 8; node_modules and .temporal hard-linked from this
//      checkout) and here, interleaved A B A B… (--rounds), same settings. Medians and their ratio.
//   2. The panel sweep over an attributed panel of --sweep-patients (default 10,000: patients with a finished
//      Encounter in 24 months, as `npm start` seeds them; SANDBOX_PATIENTS is chosen to give that panel) at each
//      --latencies (default 0,100 ms added to every FHIR answer): one hand start through the API, until every case
//      has its first decision. Patients/s, FHIR round trips per patient counted at the sandbox EHR, the worker's RSS
//      (sampled from /proc), wall times. --sweep-timeout-min caps each sweep (an unfinished one is reported as such).
// Writes BENCHMARKS.md and BENCHMARKS.json (keeping the protocol simulation's and the analytics' sections).
// Also: --requests (500) --concurrency (16) --patients (2000) --open-loop seconds (30) --warm-up (500: webhooks and
// empty workflows run first and not measured, so the processes' JIT compilers are warm) for the refill runs;
// --skip-refill, --skip-sweep (a skipped sweep keeps the last run's section, dated).
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { formatISO, parseISO, subMonths } from 'date-fns';
import { createStore, openDatabase } from '../connectors/db/index.ts';
import { careGapPatientsFor } from '../sandbox/main.ts';
import { generateClinic } from '../sandbox/synthetic/index.ts';
import { loadAverage1m, memoryOf, startBenchStack } from './bench-stack.ts';
import { provisionedTemporalVersion } from './temporal-cli.ts';

const { values } = parseArgs({
  options: {
    requests: { type: 'string', default: '500' },
    concurrency: { type: 'string', default: '16' },
    patients: { type: 'string', default: '2000' },
    'warm-up': { type: 'string', default: '500' },
    rounds: { type: 'string', default: '2' },
    before: { type: 'string', default: '1f095be' },
    'open-loop': { type: 'string', default: '30' },
    'sweep-patients': { type: 'string', default: '10000' },
    latencies: { type: 'string', default: '0,100' },
    'sweep-timeout-min': { type: 'string', default: '30' },
    'skip-refill': { type: 'boolean', default: false },
    'skip-sweep': { type: 'boolean', default: false },
  },
});
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SEED = 2015; // SANDBOX_SEED's default, as `npm start` runs it
const round = (x: number, d = 1) => Math.round(x * 10 ** d) / 10 ** d;
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
/** The refill table's note on the warm-up before the measured phases (none in runs before it existed). */
const warmUpText = (w: number | undefined) =>
  w
    ? `After ${w} webhooks and ${w} empty workflows at the same concurrency that are not measured (the processes' JIT compilers warm, as in a stack that serves for days), `
    : '';
const log = (line: string) => console.log(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}`);

// ---------------------------------------------------------------------------------------------------------------
// 1. Refill before/after
type Quantiles = { p50: number; p95: number; p99: number; max: number };
type RefillRun = {
  triagesPerSecond: number;
  load1m: { before: number; after: number };
  emptyWorkflowsPerSecond: number | null;
  ratioToEmptyWorkflowCeiling: number | null;
  cpuMsPerTriage?: Record<string, number | null>;
  cpuMsPerEmptyWorkflow?: Record<string, number | null> | null;
  historyPerTriage?: Record<string, number>;
  openLoop?: { ratePerSecond: number; requests: number; routedLatencyMs: Quantiles } | null;
  fhirReadRoundTripsPerTriage: number;
  routedLatencyMs: Quantiles;
} & Record<string, unknown>;

function runRefill(root: string, out: string, current: boolean): Promise<RefillRun> {
  const args = ['--import', 'tsx', join(root, 'scripts', 'bench-refill.ts'), '--out', out];
  args.push('--requests', values.requests, '--concurrency', values.concurrency, '--patients', values.patients);
  args.push('--ceiling', '--open-loop', values['open-loop'], '--warm-up', values['warm-up']);
  // The current tree's intake takes the request's patient (one FHIR round trip); the older one refuses the field.
  if (current) args.push('--name-patient');
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
    child.once('exit', (code) =>
      code === 0
        ? resolve(JSON.parse(readFileSync(out, 'utf8')) as RefillRun)
        : reject(new Error(`bench-refill in ${root} exited ${code}`)),
    );
  });
}

async function refillBeforeAfter() {
  const commit = execFileSync('git', ['rev-parse', '--short', values.before], { cwd: ROOT, encoding: 'utf8' }).trim();
  const tmp = mkdtempSync(join(tmpdir(), 'ehr-autopilot-before-'));
  const before = join(tmp, 'checkout');
  log(`worktree of ${commit} at ${before}`);
  execFileSync('git', ['worktree', 'add', '--detach', before, commit], { cwd: ROOT, stdio: 'ignore' });
  try {
    // The dependencies of this checkout, hard-linked (main before issue 8 has the same, less knip); no network.
    execFileSync('cp', ['-al', join(ROOT, 'node_modules'), join(before, 'node_modules')]);
    execFileSync('cp', ['-al', join(ROOT, '.temporal'), join(before, '.temporal')]);
    for (const f of ['bench-refill.ts', 'bench-stack.ts', 'proc-cpu.ts']) {
      writeFileSync(join(before, 'scripts', f), readFileSync(join(ROOT, 'scripts', f)));
    }
    const runs: { before: RefillRun[]; after: RefillRun[] } = { before: [], after: [] };
    for (let r = 0; r < Number(values.rounds); r += 1) {
      for (const side of ['before', 'after'] as const) {
        log(`refill round ${r + 1}, ${side}`);
        const run = await runRefill(
          side === 'before' ? before : ROOT,
          join(tmp, `${side}-${r}.json`),
          side === 'after',
        );
        runs[side].push(run);
        log(`  ${run.triagesPerSecond} triages/s (load ${run.load1m.before} → ${run.load1m.after})`);
      }
    }
    const med = (side: 'before' | 'after') => median(runs[side].map((x) => x.triagesPerSecond));
    return {
      beforeCommit: commit,
      afterCommit: execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim(),
      order: 'before, after, before, after, …',
      medianTriagesPerSecond: { before: round(med('before'), 2), after: round(med('after'), 2) },
      ratioAfterToBefore: round(med('after') / med('before'), 3),
      runs,
    };
  } finally {
    execFileSync('git', ['worktree', 'remove', '--force', before], { cwd: ROOT, stdio: 'ignore' });
    rmSync(tmp, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------------------------
// 2. The panel sweep

/** The attributed panel `npm start` seeds for `patients` refill patients (finished Encounters in 24 months). */
function panelOf(patients: number, asOf: string): number {
  const since = formatISO(subMonths(parseISO(asOf), 24), { representation: 'date' });
  const clinic = generateClinic({ seed: SEED, patients, careGapPatients: careGapPatientsFor(patients), asOf });
  const panel = new Set<string>();
  for (const r of clinic.resources) {
    if (r.resourceType !== 'Encounter' || r.status !== 'finished') continue;
    const end = r.period?.end ?? r.period?.start;
    if (end && end.slice(0, 10) >= since && r.subject?.reference) panel.add(r.subject.reference);
  }
  return panel.size;
}

/** SANDBOX_PATIENTS whose attributed panel is the smallest at or above `target`. */
function sandboxPatientsFor(target: number, asOf: string): { sandboxPatients: number; expectedPanel: number } {
  let n = Math.max(10, Math.round(target / 1.38));
  let panel = panelOf(n, asOf);
  for (let i = 0; i < 8 && panel !== target; i += 1) {
    const step = Math.round((target - panel) / 1.38) || (panel < target ? 1 : -1);
    const m = n + step;
    const p = panelOf(m, asOf);
    if (p < target && panel >= target) break; // n is the smallest found at or above
    n = m;
    panel = p;
  }
  return { sandboxPatients: n, expectedPanel: panel };
}

interface SandboxCounts {
  total: number;
  byKind: Record<string, number>;
}

async function sweepRun(latencyMs: number, sandboxPatients: number) {
  const load1mBefore = loadAverage1m();
  log(`sweep at ${latencyMs} ms: starting the stack (${sandboxPatients} refill patients + care gaps)`);
  const stack = await startBenchStack({
    root: ROOT,
    env: { SANDBOX_PATIENTS: String(sandboxPatients), SANDBOX_LATENCY_MS: String(latencyMs) },
    countingSandbox: true,
  });
  try {
    log(`  healthy after ${round(stack.startToHealthySeconds)} s`);
    const creds = JSON.parse(readFileSync(join(stack.dir, 'demo-credentials.json'), 'utf8')) as {
      clinicId: string;
      tokens: { admin: string };
    };
    const db = await openDatabase({ dataDir: stack.dir });
    createStore(db); // the schema is the API's; the bench only counts
    const counts = async () => (await (await fetch(`${stack.sandboxStats!}/requests`)).json()) as SandboxCounts;
    const headers = { authorization: `Bearer ${creds.tokens.admin}` };
    const workerPid = stack.childPid('worker');
    if (workerPid === null) throw new Error('no worker process found under the stack');
    const rssStart = memoryOf(workerPid);
    let rssPeakKb = rssStart?.rssKb ?? 0;
    const sampler = setInterval(() => {
      const m = memoryOf(workerPid);
      if (m) rssPeakKb = Math.max(rssPeakKb, m.rssKb);
    }, 500);
    const decided = async () => {
      const row = await db.kysely
        .selectFrom('cases')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('kind', '=', 'care-gap')
        .where('status', 'in', ['queued', 'closed'])
        .executeTakeFirstOrThrow();
      return Number(row.n);
    };

    const before = await counts();
    const t0 = performance.now();
    const res = await fetch(`${stack.api}/v1/clinics/${creds.clinicId}/sweeps`, { method: 'POST', headers });
    if (res.status !== 202) throw new Error(`sweep start answered ${res.status}: ${await res.text()}`);
    const { sweepId } = (await res.json()) as { sweepId: string };
    let progress: { status: string; patients: number; cases: number; pages: number; encounters: number; runs: number };
    let walkS: number | null = null;
    let n = 0;
    const deadline = Date.now() + Number(values['sweep-timeout-min']) * 60_000;
    let lastLog = 0;
    for (;;) {
      const p = await fetch(`${stack.api}/v1/clinics/${creds.clinicId}/sweeps/${encodeURIComponent(sweepId)}`, {
        headers,
      });
      progress = (await p.json()) as typeof progress;
      if (progress.status === 'done' && walkS === null) walkS = (performance.now() - t0) / 1000;
      n = await decided();
      if (performance.now() - lastLog > 30_000) {
        lastLog = performance.now();
        log(
          `  ${round((performance.now() - t0) / 1000, 0)} s: sweep ${progress.status}, ${progress.patients} patients, ${n} decided`,
        );
      }
      if (walkS !== null && n >= progress.cases) break;
      if (Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 1000));
    }
    const wallS = (performance.now() - t0) / 1000;
    clearInterval(sampler);
    const after = await counts();
    const rssEnd = memoryOf(workerPid);
    const finished = walkS !== null && n >= progress.cases;
    const byKind: Record<string, number> = {};
    for (const [k, v] of Object.entries(after.byKind)) {
      const d = v - (before.byKind[k] ?? 0);
      if (d > 0) byKind[k] = d;
    }
    const roundTrips = after.total - before.total;
    const result = {
      latencyMs,
      finished,
      sweepId,
      progress,
      casesDecided: n,
      sweepWalkSeconds: walkS === null ? null : round(walkS, 1),
      wallSeconds: round(wallS, 1),
      patientsPerSecond: round(n / wallS, 2),
      fhirRoundTrips: roundTrips,
      fhirRoundTripsPerPatient: n > 0 ? round(roundTrips / n, 2) : null,
      fhirRoundTripsByKind: byKind,
      workerRssMb: {
        atStart: rssStart ? round(rssStart.rssKb / 1024) : null,
        peakSampled: round(rssPeakKb / 1024),
        atEnd: rssEnd ? round(rssEnd.rssKb / 1024) : null,
        vmHwm: rssEnd ? round(rssEnd.hwmKb / 1024) : null,
      },
      startToHealthySeconds: round(stack.startToHealthySeconds, 1),
      load1m: { before: load1mBefore, after: loadAverage1m() },
    };
    log(
      `  ${finished ? 'done' : 'STOPPED (timeout)'}: ${n} decided in ${round(wallS)} s = ${result.patientsPerSecond}/s; ` +
        `${result.fhirRoundTripsPerPatient} round trips/patient; worker peak ${result.workerRssMb.peakSampled} MB`,
    );
    await db.close();
    return result;
  } finally {
    await stack.stop();
  }
}

// ---------------------------------------------------------------------------------------------------------------
const machine = { cpus: cpus().length, model: cpus()[0]?.model ?? 'unknown', node: process.version };
const startedAt = new Date().toISOString();
const refill = values['skip-refill'] ? null : await refillBeforeAfter();
const previousRun = existsSync('BENCHMARKS.json')
  ? (JSON.parse(readFileSync('BENCHMARKS.json', 'utf8')) as Record<string, unknown>)
  : {};
type SweepResult = Awaited<ReturnType<typeof sweepRun>>;
// A skipped sweep keeps the last run's section, dated by that run.
let sweep = values['skip-sweep']
  ? ((previousRun.sweep as {
      targetPanel: number;
      sandboxPatients: number;
      expectedPanel: number;
      runs: SweepResult[];
      at?: string;
    } | null) ?? null)
  : null;
if (sweep && !sweep.at) sweep = { ...sweep, at: previousRun.at as string };
if (!values['skip-sweep']) {
  const asOf = new Date().toISOString().slice(0, 10);
  const target = Number(values['sweep-patients']);
  const sized = sandboxPatientsFor(target, asOf);
  log(`panel of ${sized.expectedPanel} for ${target}: SANDBOX_PATIENTS=${sized.sandboxPatients}`);
  const runs = [];
  for (const latency of values.latencies.split(',').map(Number))
    runs.push(await sweepRun(latency, sized.sandboxPatients));
  sweep = { targetPanel: target, ...sized, runs, at: startedAt };
}

const previous = previousRun;
const result = {
  at: startedAt,
  machine,
  temporalCli: provisionedTemporalVersion(),
  settings: {
    stack: 'npm start (separate processes: Temporal dev server, sandbox EHR, worker, API)',
    codec: 'AES-256-GCM',
    appDb: 'SQLite',
    workers: 1,
    refill: {
      requests: Number(values.requests),
      concurrency: Number(values.concurrency),
      patients: Number(values.patients),
      rounds: Number(values.rounds),
      openLoopSeconds: Number(values['open-loop']),
      warmUp: Number(values['warm-up']),
    },
  },
  refill,
  sweep,
  // Other benchmarks' results (simulation, analytics, scale-out, CDS Hooks), kept as they are.
  ...Object.fromEntries(
    Object.entries(previous).filter(
      ([k]) => !['at', 'machine', 'temporalCli', 'settings', 'refill', 'sweep'].includes(k),
    ),
  ),
};
writeFileSync('BENCHMARKS.json', JSON.stringify(result, null, 2) + '\n');
const md = existsSync('BENCHMARKS.md') ? readFileSync('BENCHMARKS.md', 'utf8') : '';
const sim = /<!-- simulation:start -->[\s\S]*<!-- simulation:end -->\n?/.exec(md)?.[0] ?? '';
const analyticsSection = /<!-- analytics:start -->[\s\S]*<!-- analytics:end -->\n?/.exec(md)?.[0] ?? '';
// Sections other benchmarks write (scale-out, CDS Hooks latency): kept as they are.
const others = [...md.matchAll(/<!-- (\w+):start -->[\s\S]*?<!-- \1:end -->\n?/g)]
  .filter((m) => m[1] !== 'simulation' && m[1] !== 'analytics')
  .map((m) => m[0]);
writeFileSync(
  'BENCHMARKS.md',
  renderMarkdown(result) +
    (sim ? `\n${sim}` : '') +
    (analyticsSection ? `\n${analyticsSection}` : '') +
    others.map((o) => `\n${o}`).join(''),
);
log('wrote BENCHMARKS.md and BENCHMARKS.json');

function renderMarkdown(r: typeof result): string {
  const lines = [
    '# Benchmarks',
    '',
    `Generated by \`npm run bench\` on ${r.at} (${r.machine.cpus} × ${r.machine.model}, Node ${r.machine.node}, Temporal CLI ${r.temporalCli}).`,
    'Raw numbers: `BENCHMARKS.json`. Every process (Temporal dev server, sandbox EHR, API, worker, this driver) shares',
    `the same ${r.machine.cpus} cores, and other work shared them too (1-minute load averages below).`,
    '',
  ];
  if (r.refill) {
    const f = r.refill;
    const med = (side: 'before' | 'after', get: (x: RefillRun) => number | null | undefined, digits = 2) => {
      const xs = f.runs[side].map(get).filter((x): x is number => typeof x === 'number');
      return xs.length ? round(median(xs), digits) : null;
    };
    // `digits`: the ratio to the ceiling keeps 3, so that a median just under a goal never prints as the goal.
    const both = (get: (x: RefillRun) => number | null | undefined, digits = 2) => {
      const [b, a] = [med('before', get, digits), med('after', get, digits)];
      return `${b ?? '–'} | ${a ?? '–'} | ${b && a ? round(a / b, 2) : '–'}`;
    };
    const processes = ['worker', 'temporal', 'api', 'sandbox', 'stackTotal'] as const;
    lines.push(
      '## The cost of one refill triage, before and after (same run)',
      '',
      `Before: ${f.beforeCommit} (main at the start of issue 11); after: ${f.afterCommit}. ${warmUpText(r.settings.refill.warmUp)}${r.settings.refill.requests} signed webhooks at concurrency ${r.settings.refill.concurrency} (closed loop), then an open loop at half the closed loop's throughput for ${r.settings.refill.openLoopSeconds} s, and ${r.settings.refill.requests} empty workflows at the same concurrency (the ceiling: half before the closed loop, half after the open loop, so a drift of the machine's speed during the run biases the ratio neither way), all on the same stack; runs interleaved ${f.order} (${r.settings.refill.rounds} rounds); medians of the rounds. The after side's events name the patient (\`patient\`), which the before side's intake does not accept. CPU is each process's user + system time over the closed loop (/proc/<pid>/stat), divided by the triages.`,
      '',
      '| measure | before | after | after ÷ before |',
      '|---|---|---|---|',
      `| triages/s (closed loop) | ${both((x) => x.triagesPerSecond)} |`,
      `| empty workflows/s (ceiling) | ${both((x) => x.emptyWorkflowsPerSecond)} |`,
      `| **triage ÷ ceiling** | ${both((x) => x.ratioToEmptyWorkflowCeiling, 3)} |`,
      ...processes.map(
        (p) =>
          `| CPU-ms per triage: ${p === 'stackTotal' ? '**all four**' : p} | ${both((x) => x.cpuMsPerTriage?.[p])} |`,
      ),
      `| CPU-ms per empty workflow: all four | ${both((x) => x.cpuMsPerEmptyWorkflow?.stackTotal)} |`,
      `| workflow tasks per triage | ${both((x) => x.historyPerTriage?.workflowTasks)} |`,
      `| activities per triage | ${both((x) => x.historyPerTriage?.activities)} |`,
      `| local activities per triage | ${both((x) => x.historyPerTriage?.localActivities)} |`,
      `| history events per triage | ${both((x) => x.historyPerTriage?.events)} |`,
      `| history bytes per triage (JSON) | ${both((x) => x.historyPerTriage?.historyBytes)} |`,
      `| FHIR read round trips per triage | ${both((x) => x.fhirReadRoundTripsPerTriage)} |`,
      `| closed loop: webhook → routed p50 ms (queueing) | ${both((x) => x.routedLatencyMs.p50)} |`,
      `| open loop: arrival rate /s | ${both((x) => x.openLoop?.ratePerSecond)} |`,
      `| open loop: webhook → routed p50 ms | ${both((x) => x.openLoop?.routedLatencyMs.p50)} |`,
      `| open loop: p95 ms | ${both((x) => x.openLoop?.routedLatencyMs.p95)} |`,
      `| **open loop: p99 ms** | ${both((x) => x.openLoop?.routedLatencyMs.p99)} |`,
      '',
      '| run | before: triages/s | after: triages/s | load 1 min (before run → after run) |',
      '|---|---|---|---|',
      ...f.runs.before.map(
        (b, i) =>
          `| ${i + 1} | ${b.triagesPerSecond} | ${f.runs.after[i]?.triagesPerSecond ?? '–'} | ${b.load1m.before} → ${b.load1m.after}; ${f.runs.after[i]?.load1m.before ?? ''} → ${f.runs.after[i]?.load1m.after ?? ''} |`,
      ),
      '',
    );
  }
  if (r.sweep) {
    const s = r.sweep;
    lines.push(
      `## Panel sweep, ${s.targetPanel} patients`,
      '',
      ...(s.at && s.at !== r.at ? [`From the run of ${s.at} (this run skipped the sweep).`, ''] : []),
      `SANDBOX_PATIENTS=${s.sandboxPatients} (plus ${careGapPatientsFor(s.sandboxPatients)} care-gap patients, as \`npm start\` seeds them) gives an attributed panel of ${s.expectedPanel} (finished Encounter in 24 months). One hand start (\`POST /v1/clinics/demo/sweeps\`), timed until every case has its first decision (status queued or closed). Round trips are counted at the sandbox EHR (every HTTP request it answered during the sweep: pages, reads, writes, tokens).`,
      '',
      '| added FHIR latency | finished | patients decided | patients/s | sweep walk (pages + signals) | wall to last decision | FHIR round trips / patient | worker RSS start / peak / end | load 1 min |',
      '|---|---|---|---|---|---|---|---|---|',
      ...s.runs.map(
        (x) =>
          `| ${x.latencyMs} ms | ${x.finished ? 'yes' : '**no** (stopped at the timeout)'} | ${x.casesDecided} of ${x.progress.cases} | **${x.patientsPerSecond}** | ${x.sweepWalkSeconds ?? '–'} s | ${x.wallSeconds} s | ${x.fhirRoundTripsPerPatient} | ${x.workerRssMb.atStart} / ${x.workerRssMb.peakSampled} / ${x.workerRssMb.atEnd} MB | ${x.load1m.before} → ${x.load1m.after} |`,
      ),
      '',
      'Round trips by kind, per run:',
      '',
      ...s.runs.map(
        (x) =>
          `- ${x.latencyMs} ms: ${Object.entries(x.fhirRoundTripsByKind)
            .sort((a, b) => b[1] - a[1])
            .map(([k, v]) => `${k} ${v}`)
            .join(', ')}`,
      ),
      '',
    );
  }
  return lines.join('\n');
}
