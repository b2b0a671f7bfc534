// CPU time of processes from /proc (Linux), for the scale-out benchmark (scripts/bench-scale.ts): how many CPU
// milliseconds each part of the stack spent per triage. A process tree's CPU is the sum of its live processes' own
// user+system time plus the root's time for children it already reaped (cutime+cstime), so a PostgreSQL backend that
// exits during a phase moves its time into the postmaster's cutime and the total stays continuous.
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';

/** The fields of `/proc/<pid>/stat` this module needs (times in clock ticks). */
export interface ProcStat {
  pid: number;
  comm: string;
  ppid: number;
  utime: number;
  stime: number;
  cutime: number;
  cstime: number;
}

/**
 * Parses one `/proc/<pid>/stat` line. The command name is in parentheses and may itself hold spaces and parentheses,
 * so the fields after it are split from the last `)`.
 * @throws Error for a line that is not a stat line.
 */
export function parseProcStat(text: string): ProcStat {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) throw new Error('not a /proc/<pid>/stat line');
  // After ") ": state(3) ppid(4) pgrp(5) session(6) tty_nr(7) tpgid(8) flags(9) minflt(10) cminflt(11) majflt(12)
  // cmajflt(13) utime(14) stime(15) cutime(16) cstime(17) …; fields[0] is field 3.
  const fields = text
    .slice(close + 2)
    .trim()
    .split(/\s+/);
  const field = (n: number): number => {
    const value = Number(fields[n - 3]);
    if (!Number.isFinite(value)) throw new Error(`/proc/<pid>/stat field ${n} is not a number`);
    return value;
  };
  return {
    pid: Number(text.slice(0, open).trim()),
    comm: text.slice(open + 1, close),
    ppid: field(4),
    utime: field(14),
    stime: field(15),
    cutime: field(16),
    cstime: field(17),
  };
}

/** CPU ticks of a tree rooted at `root`, from a snapshot of stat lines: own time of every member + root's reaped. */
export function treeTicks(stats: readonly ProcStat[], root: number): number | null {
  const byParent = new Map<number, ProcStat[]>();
  let rootStat: ProcStat | undefined;
  for (const s of stats) {
    if (s.pid === root) rootStat = s;
    const siblings = byParent.get(s.ppid);
    if (siblings) siblings.push(s);
    else byParent.set(s.ppid, [s]);
  }
  if (!rootStat) return null;
  let ticks = rootStat.utime + rootStat.stime + rootStat.cutime + rootStat.cstime;
  const queue = [...(byParent.get(root) ?? [])];
  while (queue.length > 0) {
    const s = queue.pop()!;
    ticks += s.utime + s.stime;
    queue.push(...(byParent.get(s.pid) ?? []));
  }
  return ticks;
}

let ticksPerSecond: number | undefined;
/** `getconf CLK_TCK` (100 on Linux almost everywhere). */
export function clockTicksPerSecond(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

/** Every process's stat line right now (processes that vanish meanwhile are skipped). */
export function snapshotProcesses(): ProcStat[] {
  const out: ProcStat[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      out.push(parseProcStat(readFileSync(`/proc/${name}/stat`, 'utf8')));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** CPU milliseconds (user + system) used so far by each named process tree; null for a tree that is gone. */
export function cpuMsOf(roots: Readonly<Record<string, number>>): Record<string, number | null> {
  const stats = snapshotProcesses();
  const perTick = 1000 / clockTicksPerSecond();
  return Object.fromEntries(
    Object.entries(roots).map(([name, pid]) => {
      const ticks = treeTicks(stats, pid);
      return [name, ticks === null ? null : ticks * perTick];
    }),
  );
}

/**
 * The CPU each tree used between two readings of {@link cpuMsOf}. A tree gone at the end (a killed process) counts
 * what it had used at the start as nothing more: null, so a reader never mistakes a dead process for an idle one.
 */
export function cpuDelta(
  before: Readonly<Record<string, number | null>>,
  after: Readonly<Record<string, number | null>>,
): Record<string, number | null> {
  return Object.fromEntries(
    Object.keys(before).map((name) => {
      const a = before[name];
      const b = after[name];
      return [name, a === null || a === undefined || b === null || b === undefined ? null : b - a];
    }),
  );
}
