// The API's sweep-Schedule sync at start: Temporal is called only for the clinics whose desired Schedule differs
// from the last successful sync (200 clinics: 200 calls on a first start, 0 on the next), a clinic change synced by
// its route is recorded, a change that was never synced (or whose sync failed) is synced at the next start, and a
// new task queue syncs them all.
import { afterAll, beforeAll, expect, test } from 'vitest';
import { syncSweepSchedule } from '../../api/routes/sweeps.ts';
import { ensureBuiltinProtocols } from '../../api/seed.ts';
import { recordingSweepSyncs, syncSweepSchedulesAtStart } from '../../api/sweep-schedules.ts';
import type { SweepScheduleClinic } from '../../api/trigger-gateway.ts';
import type { WorkflowGateway } from '../../api/workflow-gateway.ts';
import { loadConfig } from '../../connectors/config.ts';
import { createStore, type Store } from '../../connectors/db/index.ts';
import { createLogger } from '../../connectors/logger.ts';
import { openTestDatabase, type TestDatabase } from '../helpers/db.ts';

const logger = createLogger(loadConfig({ LOG_LEVEL: 'silent' }), 'test');
const CLINICS = 200;
let testDb: TestDatabase;
let store: Store;
const calls: SweepScheduleClinic[] = [];
let failFor: string | null = null;
const temporal = {
  ensureSweepSchedule: (clinic: SweepScheduleClinic) => {
    calls.push(clinic);
    return failFor === clinic.id ? Promise.reject(new Error('unavailable')) : Promise.resolve();
  },
} as unknown as WorkflowGateway;

beforeAll(async () => {
  testDb = await openTestDatabase('sqlite');
  store = createStore(testDb.db);
  await ensureBuiltinProtocols(store, logger);
  for (let i = 0; i < CLINICS; i++)
    await store.clinics.create({
      id: `c${i}`,
      name: `c${i}`,
      webhookSecret: 'whsec_0123456789abcdef',
      fhirBaseUrl: 'https://ehr.example.org/fhir/R4',
      fhirClientId: 'c',
      protocolId: 'family-medicine-2015',
      nurseSlaSeconds: 3600,
      timezone: 'UTC',
      ...(i % 2 === 0 ? { kinds: [{ kind: 'care-gap', enabled: true, protocolId: 'crc-screening-2021' }] } : {}),
    });
});
afterAll(async () => {
  await testDb?.cleanup();
});

/** One API start: the counts, and the Temporal calls it made. */
async function start(taskQueue = 'q1') {
  calls.length = 0;
  const workflows = recordingSweepSyncs(temporal, store, taskQueue);
  const result = await syncSweepSchedulesAtStart({ store, workflows, logger }, taskQueue);
  return { ...result, calls: calls.map((c) => c.id) };
}

test('first start syncs every clinic, the next none', async () => {
  const first = await start();
  expect(first).toMatchObject({ clinics: CLINICS, synced: CLINICS });
  expect(new Set(first.calls).size).toBe(CLINICS);
  expect(calls.find((c) => c.id === 'c0')?.sweepCron).toBe('0 6 * * 1');
  expect(calls.find((c) => c.id === 'c1')?.sweepCron).toBeNull();
  expect(await start()).toMatchObject({ synced: 0, calls: [] });
});

test('a change synced by its route is recorded; one never synced is synced at the next start', async () => {
  const workflows = recordingSweepSyncs(temporal, store, 'q1');
  const changed = await store.clinics.updateSettings('c2', {
    kinds: [{ kind: 'care-gap', sweepCron: '30 5 * * 1-5' }],
  });
  await syncSweepSchedule({ workflows, logger, store }, changed!); // what the clinic routes do
  expect(await start()).toMatchObject({ synced: 0 });

  // Changed by a replica whose sync never ran (or by hand in the database): synced at the next start, once.
  await store.clinics.updateSettings('c4', { timezone: 'Europe/Paris' });
  expect(await start()).toMatchObject({ synced: 1, calls: ['c4'] });
  expect(await start()).toMatchObject({ synced: 0 });
});

test('a failed sync is forgotten and tried again at the next start', async () => {
  const workflows = recordingSweepSyncs(temporal, store, 'q1');
  failFor = 'c6';
  const before = await store.clinics.get('c6');
  await store.clinics.updateSettings('c6', { kinds: [{ kind: 'care-gap', sweepCron: '0 7 * * 1' }] });
  await syncSweepSchedule({ workflows, logger, store }, (await store.clinics.get('c6'))!); // logged, not thrown
  // Back to the settings the last successful sync had: without forgetting, a start would skip the stale Schedule.
  await store.clinics.updateSettings('c6', { kinds: [{ kind: 'care-gap', sweepCron: null }] });
  expect((await store.clinics.get('c6'))?.timezone).toBe(before?.timezone);
  failFor = null;
  expect(await start()).toMatchObject({ synced: 1, calls: ['c6'] });
  expect(await start()).toMatchObject({ synced: 0 });
});

test('a new task queue syncs every Schedule again', async () => {
  expect(await start('q2')).toMatchObject({ synced: CLINICS });
  expect(await start('q2')).toMatchObject({ synced: 0 });
});
