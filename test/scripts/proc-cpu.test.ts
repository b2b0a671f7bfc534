// CPU accounting for the scale-out benchmark: /proc/<pid>/stat parsing (a command name with spaces and parentheses),
// process-tree sums with reaped children, deltas that refuse to call a dead process idle, and this process's own
// reading going up while it burns CPU.
import { expect, test } from 'vitest';
import { cpuDelta, cpuMsOf, parseProcStat, treeTicks, type ProcStat } from '../../scripts/proc-cpu.ts';

const line = (pid: number, comm: string, ppid: number, utime: number, stime: number, cutime = 0, cstime = 0) =>
  `${pid} (${comm}) S ${ppid} ${pid} ${pid} 0 -1 4194560 100 0 0 0 ${utime} ${stime} ${cutime} ${cstime} 20 0 1 0 5 0 0`;

test('parses the fields after the last parenthesis, whatever the command name holds', () => {
  const s = parseProcStat(line(4242, 'postgres: walwriter (x) ', 17, 123, 45, 6, 7));
  expect(s).toEqual({
    pid: 4242,
    comm: 'postgres: walwriter (x) ',
    ppid: 17,
    utime: 123,
    stime: 45,
    cutime: 6,
    cstime: 7,
  });
  expect(() => parseProcStat('garbage')).toThrow(/stat line/);
  expect(() => parseProcStat('1 (x) S')).toThrow(/field 4/);
});

test('a tree is its members’ own time plus what the root reaped; other trees are left out', () => {
  const stats: ProcStat[] = [
    parseProcStat(line(10, 'postmaster', 1, 100, 50, 30, 20)),
    parseProcStat(line(11, 'backend', 10, 7, 3)),
    parseProcStat(line(12, 'backend', 10, 5, 5, 99, 99)), // a member's reaped children are not counted twice
    parseProcStat(line(13, 'grandchild', 12, 1, 1)),
    parseProcStat(line(20, 'unrelated', 1, 1000, 1000)),
  ];
  expect(treeTicks(stats, 10)).toBe(100 + 50 + 30 + 20 + 7 + 3 + 5 + 5 + 1 + 1);
  expect(treeTicks(stats, 13)).toBe(2);
  expect(treeTicks(stats, 99)).toBeNull();
});

test('a delta is null for a tree gone at either end, never 0', () => {
  expect(cpuDelta({ a: 100, b: 50, c: null }, { a: 160, b: null, c: 10 })).toEqual({ a: 60, b: null, c: null });
});

test('this process’s CPU goes up while it computes', () => {
  const before = cpuMsOf({ me: process.pid, none: 2 ** 22 + 12345 });
  expect(before.none).toBeNull();
  const until = performance.now() + 150;
  let x = 0;
  while (performance.now() < until) x += Math.sqrt(x + 1);
  expect(x).toBeGreaterThan(0);
  const after = cpuMsOf({ me: process.pid });
  expect(after.me! - before.me!).toBeGreaterThanOrEqual(50);
});
