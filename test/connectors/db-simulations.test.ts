// The simulation-job repository on both dialects: a page applies once however often its activity is retried, the
// stored changed cases stop at the cap while the count goes on, and running jobs are counted per admin.
import { afterAll, beforeAll, describe, expect, inject, test } from 'vitest';
import { createStore, type SimulationPageUpdate, type Store } from '../../connectors/db/index.ts';
import { openTestDatabase, type TestDatabase } from '../helpers/db.ts';

const postgresUrl = inject('postgresUrl');
const dialects = [
  { dialect: 'sqlite' as const, adminUrl: undefined, skip: false },
  { dialect: 'postgres' as const, adminUrl: postgresUrl, skip: postgresUrl === undefined },
];

const job = (id: string, requestedBy = 'admin-1') => ({
  id,
  requestedBy,
  requestedRole: 'admin',
  clinicId: 'c1',
  protocolId: 'fm',
  protocolVersion: 2,
  definition: { id: 'fm', version: 2 },
  rangeFrom: null,
  rangeBefore: null,
  caseLimit: null,
  requestId: 'req-1',
});

const page = (n: number, changed: number, exhausted = false): SimulationPageUpdate => ({
  evaluated: n,
  skipped: 0,
  countsBefore: { approve: n },
  countsAfter: { approve: n - changed, needs_visit: changed },
  cursor: { recordedAt: '2026-01-01T00:00:00.000Z', caseId: `case-${n}` },
  exhausted,
  changed: Array.from({ length: changed }, (_, i) => ({ caseId: `case-${n}-${i}` })),
  maxStored: 5,
});

describe.each(dialects)('simulation jobs on $dialect', ({ dialect, adminUrl, skip }) => {
  let t: TestDatabase;
  let store: Store;
  beforeAll(async () => {
    if (skip) return;
    t = await openTestDatabase(dialect, adminUrl);
    store = createStore(t.db);
  });
  afterAll(async () => {
    await t?.cleanup();
  });

  test.skipIf(skip)('a page applies once; stored changed cases stop at the cap, the count does not', async () => {
    await store.simulations.create(job('sim_a'));
    expect(await store.simulations.applyPage('sim_a', 0, page(10, 3))).toBe(true);
    expect(await store.simulations.applyPage('sim_a', 0, page(10, 3))).toBe(false); // a retried attempt
    expect(await store.simulations.applyPage('sim_a', 2, page(30, 3))).toBe(false); // not the next page
    expect(await store.simulations.applyPage('sim_a', 1, page(20, 4, true))).toBe(true);
    const a = (await store.simulations.get('sim_a'))!;
    expect(a).toMatchObject({
      status: 'running',
      pages: 2,
      evaluated: 20,
      exhausted: true,
      changedTotal: 7,
      changedStored: 5,
      countsAfter: { approve: 16, needs_visit: 4 },
      cursorCaseId: 'case-20',
      definition: { id: 'fm', version: 2 },
    });
    const first = await store.simulations.listChanged('sim_a', 0, 3);
    expect(first.map((r) => r.seq)).toEqual([1, 2, 3]);
    const rest = await store.simulations.listChanged('sim_a', 3, 3);
    expect(rest.map((r) => r.detail)).toEqual([{ caseId: 'case-20-0' }, { caseId: 'case-20-1' }]);

    const done = await store.simulations.finish('sim_a');
    expect(done).toMatchObject({ status: 'done' });
    expect(done?.finishedAt).toBeTruthy();
    expect(await store.simulations.applyPage('sim_a', 2, page(30, 1))).toBe(false); // a finished job takes no page
    await store.simulations.fail('sim_a', { code: 'X', message: 'late' });
    expect((await store.simulations.get('sim_a'))?.status).toBe('done'); // a finished job stays finished
  });

  test.skipIf(skip)('running jobs are counted per admin, and only while they make progress', async () => {
    await store.simulations.create(job('sim_b', 'admin-2'));
    await store.simulations.create(job('sim_c', 'admin-2'));
    await store.simulations.create(job('sim_d', 'admin-3'));
    await store.simulations.fail('sim_c', { code: 'INTERNAL', message: 'Simulation failed' });
    const past = '2000-01-01T00:00:00.000Z';
    expect(await store.simulations.countRunning('admin-2', past)).toBe(1);
    expect(await store.simulations.countRunning('admin-3', past)).toBe(1);
    expect(await store.simulations.countRunning('admin-2', '2999-01-01T00:00:00.000Z')).toBe(0);
    await store.simulations.remove('sim_b');
    expect(await store.simulations.get('sim_b')).toBeUndefined();
    expect(await store.simulations.countRunning('admin-2', past)).toBe(0);
  });
});
