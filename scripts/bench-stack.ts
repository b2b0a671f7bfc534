// The product as `npm start` runs it, for the benchmarks: a temporary DATA_DIR, free ports, the Temporal dev server,
// sandbox EHR, worker and API as separate processes. Used by scripts/bench.ts and scripts/bench-refill.ts; copied as
// is into the checkout of an older commit for the refill before/after comparison (with scripts/proc-cpu.ts), so it
// imports nothing else that commit lacks (only scripts/temporal-cli.ts's findFreePort).
//
// Run as a program (`--counting-sandbox`), it is `npm start` with one change: the sandbox child is
// scripts/bench-sandbox.ts (the same seeded sandbox, plus a loopback endpoint that counts the FHIR requests it
// answered), so the sweep benchmark can count round trips at the EHR.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { clockTicksPerSecond, parseProcStat } from './proc-cpu.ts';
import { findFreePort } from './temporal-cli.ts';

export interface BenchStack {
  dir: string;
  env: Record<string, string>;
  api: string;
  /** The sandbox's request counter (`--counting-sandbox` stacks only). */
  sandboxStats: string | null;
  startToHealthySeconds: number;
  /** The pid of a child of the stack (`worker`, `api`, `sandbox`, the Temporal dev server) once it runs; null when not found. */
  childPid(name: StackProcess): number | null;
  stop(): Promise<void>;
}

const ENTRIES = {
  worker: 'activities/worker.ts',
  api: 'api/main.ts',
  sandbox: 'sandbox',
  temporal: 'server start-dev',
} as const;
export type StackProcess = keyof typeof ENTRIES;
export const STACK_PROCESSES = Object.keys(ENTRIES) as StackProcess[];

/**
 * CPU time a process has used so far, user + system, in ms (`/proc/<pid>/stat`); null when the process is gone.
 * Differences of two readings are the CPU a run cost that process.
 */
export function cpuMsOf(pid: number): number | null {
  try {
    const stat = parseProcStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
    return ((stat.utime + stat.stime) * 1000) / clockTicksPerSecond();
  } catch {
    return null;
  }
}

/** `/proc/<pid>/status` fields in kB (Linux); null when the process is gone. */
export function memoryOf(pid: number): { rssKb: number; hwmKb: number } | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
    return { rssKb: field('VmRSS'), hwmKb: field('VmHWM') };
  } catch {
    return null;
  }
}

/** The 1-minute load average (Linux), to say how busy the shared machine was. */
export function loadAverage1m(): number {
  try {
    return Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);
  } catch {
    return NaN;
  }
}

function childrenOf(ppid: number): { pid: number; cmdline: string }[] {
  const out: { pid: number; cmdline: string }[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const parent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (parent !== ppid) continue;
      out.push({ pid: Number(name), cmdline: readFileSync(`/proc/${name}/cmdline`, 'utf8').replace(/\0/g, ' ') });
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/**
 * Starts the stack of the checkout at `root` (its own scripts/start.ts) and waits until it is healthy. `env` adds to
 * the benchmark's settings (SANDBOX_PATIENTS, SANDBOX_LATENCY_MS…).
 */
export async function startBenchStack(opts: {
  root: string;
  env: Record<string, string>;
  countingSandbox?: boolean;
  healthTimeoutMs?: number;
}): Promise<BenchStack> {
  const dir = mkdtempSync(join(tmpdir(), 'ehr-autopilot-bench-'));
  const ports = {
    PORT: await findFreePort(),
    SANDBOX_PORT: await findFreePort(),
    TEMPORAL_PORT: await findFreePort(),
    TEMPORAL_UI_PORT: await findFreePort(),
    ...(opts.countingSandbox ? { BENCH_SANDBOX_STATS_PORT: await findFreePort() } : {}),
  };
  const env: Record<string, string> = {
    ...(process.env as Record<string, string>),
    DATA_DIR: dir,
    LOG_LEVEL: 'warn',
    ...opts.env,
    ...Object.fromEntries(Object.entries(ports).map(([k, v]) => [k, String(v)])),
  };
  delete env.TEMPORAL_ADDRESS;
  delete env.DATABASE_URL;
  delete env.PAYLOAD_KEY;

  const entry = opts.countingSandbox ? fileURLToPath(import.meta.url) : join(opts.root, 'scripts', 'start.ts');
  const stack: ChildProcess = spawn(
    process.execPath,
    ['--import', 'tsx', entry, ...(opts.countingSandbox ? ['--counting-sandbox'] : [])],
    { cwd: opts.root, env, detached: true, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let output = '';
  stack.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  const stop = async () => {
    if (stack.exitCode !== null || stack.signalCode !== null) return;
    const exited = new Promise((r) => stack.once('exit', r));
    try {
      process.kill(-stack.pid!, 'SIGTERM');
    } catch {
      return;
    }
    await exited;
  };
  const cleanup = async () => {
    await stop();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const t0 = performance.now();
    const deadline = Date.now() + (opts.healthTimeoutMs ?? 600_000);
    for (;;) {
      if (stack.exitCode !== null) throw new Error(`the stack exited:\n${output.slice(-3000)}`);
      if (/is up \(healthy after/.test(output)) break;
      if (Date.now() > deadline) throw new Error(`the stack was not healthy in time:\n${output.slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    return {
      dir,
      env,
      api: `http://127.0.0.1:${ports.PORT}`,
      sandboxStats: opts.countingSandbox ? `http://127.0.0.1:${ports.BENCH_SANDBOX_STATS_PORT}` : null,
      startToHealthySeconds: (performance.now() - t0) / 1000,
      childPid(name) {
        const wanted = ENTRIES[name];
        return childrenOf(stack.pid!).find((c) => c.cmdline.includes(wanted))?.pid ?? null;
      },
      stop: cleanup,
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

if (process.argv.includes('--counting-sandbox')) {
  const { start, CHILDREN } = await import('./start.ts');
  const children = CHILDREN.map((c) => (c.name === 'sandbox' ? { ...c, entry: 'scripts/bench-sandbox.ts' } : c));
  process.exit(await start({ children }));
}
