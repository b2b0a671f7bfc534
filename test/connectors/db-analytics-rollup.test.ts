// The daily rollup of closed cases (migration 0013, connectors/db/analytics-rollup.ts), on both dialects: kept by every
// case step, it answers exactly what the live read of the case table answers (every granularity, the protocol filter,
// across a DST change); it equals a rebuild from the case table; a case leaving "closed" leaves it; a time-zone
// change or new definitions rebuild it, and a stale rollup is never read.
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, inject, test } from 'vitest';
import { currentDefinitions, refreshRollups } from '../../connectors/db/analytics-rollup.ts';
import { createStore, type Store } from '../../connectors/db/index.ts';
import type { AnalyticsQuery } from '../../connectors/db/analytics.ts';
import { startOfLocalDay } from '../../rules/analytics/index.ts';
import { analyticsMix, recordMix, recordRefill } from '../helpers/analytics.ts';
import { openTestDatabase, type TestDatabase } from '../helpers/db.ts';

const postgresUrl = inject('postgresUrl');
const dialects = [
  { dialect: 'sqlite' as const, adminUrl: undefined, skip: false },
  { dialect: 'postgres' as const, adminUrl: postgresUrl, skip: postgresUrl === undefined },
];

const TZ = 'America/Chicago';
const CLINIC = {
  id: 'clinic-r',
  name: 'Rollup clinic',
  webhookSecret: 'whsec_rollup_0123456789abcdef',
  fhirBaseUrl: 'http://127.0.0.1:3001/fhir/R4',
  fhirClientId: 'autopilot',
  fhirPrivateKeyJwk: null,
  fhirTokenUrl: null,
  protocolId: 'family-medicine-2015',
  nurseSlaSeconds: 3600,
  timezone: TZ,
};
// 2026-03-08 is the US change to daylight time; the mix runs over it (4 local days from 2026-03-06).
const FROM = '2026-03-06';
const DAYS = 4;
const AS_OF = '2026-04-01T00:00:00.000Z';

const QUERIES: Omit<AnalyticsQuery, 'clinicId' | 'timezone'>[] = [
  { from: '2026-03-06', to: '2026-03-09', granularity: 'day' },
  { from: '2026-03-06', to: '2026-03-09', granularity: 'week' },
  { from: '2026-03-07', to: '2026-03-08', granularity: 'day', protocolId: 'family-medicine-2015' },
  { from: '2026-03-01', to: '2026-03-31', granularity: 'week', protocolId: 'crc-screening-2021' },
  { from: '2026-03-08', to: '2026-03-08', granularity: 'day' },
];

describe.each(dialects)('analytics rollup on $dialect', ({ dialect, adminUrl, skip }) => {
  describe.skipIf(skip)(dialect, () => {
    let tdb: TestDatabase;
    let store: Store;

    /** Non-zero rollup rows of the clinic, in a stable order. */
    const rollupRows = async () =>
      (
        await sql<{ day: string; metric: string; cell: string; n: number | string; m: number | string }>`
          select day, metric, cell, n, m from analytics_daily where clinic_id = ${CLINIC.id}
            and (n <> 0 or m <> 0) order by day, metric, cell`.execute(tdb.db.kysely)
      ).rows.map((r) => ({ ...r, n: Number(r.n), m: Number(r.m) }));
    const state = async () =>
      (
        await sql<{ timezone: string; definitions: string }>`select timezone, definitions from analytics_rollup_state
          where clinic_id = ${CLINIC.id}`.execute(tdb.db.kysely)
      ).rows[0];
    const reports = (timezone = TZ) =>
      Promise.all(QUERIES.map((q) => store.analytics.report({ ...q, clinicId: CLINIC.id, timezone, asOf: AS_OF })));
    /** The same reports read live from the case table: the rollup marked stale for the read, then current again. */
    const liveReports = async (timezone = TZ) => {
      const mark = (definitions: string) =>
        sql`update analytics_rollup_state set definitions = ${definitions} where clinic_id = ${CLINIC.id}`.execute(
          tdb.db.kysely,
        );
      await mark('stale');
      const out = await reports(timezone);
      await mark(currentDefinitions());
      return out;
    };

    beforeAll(async () => {
      tdb = await openTestDatabase(dialect, adminUrl);
      store = createStore(tdb.db);
      await store.clinics.upsert(CLINIC);
      await recordMix(store, CLINIC.id, analyticsMix(startOfLocalDay(FROM, TZ), DAYS));
    }, 120_000);
    afterAll(async () => tdb?.cleanup());

    test('a clinic written through the store has a current rollup, kept by its case steps', async () => {
      expect(await state()).toEqual({ timezone: TZ, definitions: currentDefinitions() });
      const rows = await rollupRows();
      // Closed cases only: every closed case of the mix once under metric "case".
      const [closed] = (
        await sql<{ n: number | string }>`select count(*) as n from cases where clinic_id = ${CLINIC.id}
          and status = 'closed'`.execute(tdb.db.kysely)
      ).rows;
      expect(rows.filter((r) => r.metric === 'case').reduce((s, r) => s + r.n, 0)).toBe(Number(closed!.n));
      expect(Number(closed!.n)).toBeGreaterThan(0);
    });

    test('every report from the rollup equals the live read of the case table', async () => {
      const rolled = await reports();
      const live = await liveReports();
      expect(rolled).toEqual(live);
      expect(rolled[0]!.totals.requests).toBe(DAYS * 19);
      expect(rolled[0]!.turnaround.length).toBeGreaterThan(0);
      expect(rolled[0]!.failingCriteria.length).toBeGreaterThan(0);
    });

    test('the steps kept it equal to a rebuild from the case table', async () => {
      const kept = await rollupRows();
      await sql`delete from analytics_rollup_state where clinic_id = ${CLINIC.id}`.execute(tdb.db.kysely);
      expect(await refreshRollups(tdb.db.kysely, tdb.db.dialect)).toEqual([
        { clinicId: CLINIC.id, cases: expect.any(Number) as number },
      ]);
      expect(await rollupRows()).toEqual(kept);
      // Current now: a second refresh rebuilds nothing.
      expect(await refreshRollups(tdb.db.kysely, tdb.db.dialect)).toEqual([]);
    });

    test('a closed case that is reopened leaves the rollup; closed again, it comes back', async () => {
      const at = '2026-03-07T18:00:00.000Z';
      await recordRefill(store, CLINIC.id, {
        id: 'rf_reopen',
        at,
        disposition: 'approve',
        steps: [{ role: 'doctor', action: 'approve' }],
      });
      const closedRows = await rollupRows();
      const base = { id: 'rf_reopen', clinicId: CLINIC.id, requestId: 'req-rf_reopen', patientId: 'pat-rf_reopen' };
      await store.cases.upsertCaseProjection(
        { ...base, medicationRequestId: 'mr-rf_reopen', status: 'queued', queue: 'signature', closedAt: null },
        100,
      );
      expect(await reports()).toEqual(await liveReports());
      expect(await rollupRows()).not.toEqual(closedRows);
      await store.cases.upsertCaseProjection(
        {
          ...base,
          medicationRequestId: 'mr-rf_reopen',
          status: 'closed',
          queue: 'signature',
          closedAt: '2026-03-07T19:00:00.000Z',
        },
        101,
      );
      expect(await reports()).toEqual(await liveReports());
      // A stale or repeated step changes nothing.
      const now = await rollupRows();
      await store.cases.upsertCaseProjection(
        { ...base, medicationRequestId: 'mr-rf_reopen', status: 'queued', queue: 'signature' },
        50,
      );
      expect(await rollupRows()).toEqual(now);
    });

    test('a new time zone rebuilds the rollup in the same transaction; its days are the new zone’s', async () => {
      const before = await rollupRows();
      await store.clinics.updateSettings(CLINIC.id, { timezone: 'America/Los_Angeles' });
      expect(await state()).toEqual({ timezone: 'America/Los_Angeles', definitions: currentDefinitions() });
      expect(await rollupRows()).not.toEqual(before);
      expect(await reports('America/Los_Angeles')).toEqual(await liveReports('America/Los_Angeles'));
      // A report asked in a zone the rollup was not built in reads live, and still answers.
      expect((await reports(TZ))[0]!.totals.requests).toBe((await liveReports(TZ))[0]!.totals.requests);
      await store.clinics.updateSettings(CLINIC.id, { timezone: TZ });
      expect(await rollupRows()).toEqual(before);
    });

    test.runIf(dialect === 'sqlite')(
      'SQLite: a process that cannot get the write lock (another one rebuilding) opens anyway and reads live',
      async () => {
        await sql`update analytics_rollup_state set definitions = 'older' where clinic_id = ${CLINIC.id}`.execute(
          tdb.db.kysely,
        );
        const other = new BetterSqlite3(join(tdb.options.dataDir, 'app.db'));
        await sql`pragma busy_timeout = 50`.execute(tdb.db.kysely);
        try {
          other.exec('begin immediate');
          expect(await refreshRollups(tdb.db.kysely, tdb.db.dialect)).toEqual([]);
          expect((await state())?.definitions).toBe('older');
          expect((await reports())[0]!.totals.requests).toBe(DAYS * 19 + 1);
          other.exec('rollback');
        } finally {
          other.close();
          await sql`pragma busy_timeout = 5000`.execute(tdb.db.kysely);
        }
        expect(await refreshRollups(tdb.db.kysely, tdb.db.dialect)).toHaveLength(1);
        expect((await state())?.definitions).toBe(currentDefinitions());
      },
    );

    test('a rollup built under other definitions is stale: not read, not kept, rebuilt at refresh', async () => {
      await sql`update analytics_rollup_state set definitions = 'older' where clinic_id = ${CLINIC.id}`.execute(
        tdb.db.kysely,
      );
      const frozen = await rollupRows();
      // Steps leave a stale rollup alone; the report reads live and still counts the new case.
      await recordRefill(store, CLINIC.id, {
        id: 'rf_stale',
        at: '2026-03-06T18:00:00.000Z',
        disposition: 'approve',
        steps: [{ role: 'doctor', action: 'approve' }],
      });
      expect(await rollupRows()).toEqual(frozen);
      const live = await reports();
      expect(live[0]!.totals.requests).toBe(DAYS * 19 + 2);
      expect(await refreshRollups(tdb.db.kysely, tdb.db.dialect)).toHaveLength(1);
      expect(await reports()).toEqual(live);
    });
  });
});
