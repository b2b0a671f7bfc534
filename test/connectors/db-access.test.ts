// Access monitoring's reads on both dialects (connectors/db/access.ts): the access log of one clinic with its exact
// case and patient filters (LIKE finds candidates; its wildcards in ids, `_` above all, must not widen the match),
// keyset pages, and the role `privacy` in the tokens table (migration 0014).
import { afterAll, beforeAll, describe, expect, inject, test } from 'vitest';
import { createStore, type Store } from '../../connectors/db/index.ts';
import { openTestDatabase, type TestDatabase } from '../helpers/db.ts';

const postgresUrl = inject('postgresUrl');
const skipReason = inject('postgresSkipReason') ?? 'no postgresUrl provided by test/global-setup-postgres.ts';
const dialects = [
  { dialect: 'sqlite' as const, adminUrl: undefined, skip: false, title: 'sqlite' },
  {
    dialect: 'postgres' as const,
    adminUrl: postgresUrl,
    skip: postgresUrl === undefined,
    title: postgresUrl === undefined ? `postgres — SKIPPED: ${skipReason}` : 'postgres',
  },
];

const CLINIC = {
  id: 'north',
  name: 'North',
  webhookSecret: 'whsec_0123456789abcdef',
  fhirBaseUrl: 'http://127.0.0.1:3001/fhir/R4',
  fhirClientId: 'autopilot',
  protocolId: 'family-medicine-2015',
  nurseSlaSeconds: 14_400,
  timezone: 'America/Chicago',
};
const RANGE = { clinicId: 'north', from: '2026-03-01T00:00:00.000Z', to: '2026-04-01T00:00:00.000Z' };
const at = (minute: number) => new Date(Date.parse('2026-03-10T12:00:00Z') + minute * 60_000).toISOString();

describe.each(dialects)('access log on $dialect', ({ dialect, adminUrl, skip, title }) => {
  describe.skipIf(skip)(title, () => {
    let t: TestDatabase;
    let store: Store;

    beforeAll(async () => {
      t = await openTestDatabase(dialect, adminUrl);
      store = createStore(t.db);
      await store.clinics.upsert(CLINIC);
      await store.clinics.upsert({ ...CLINIC, id: 'south', name: 'South' });
      for (const [id, patientId] of [
        ['rf_north_mr-1', 'pat-1'],
        ['rf_north_mr-2', 'pat-2'],
        ['rfXnorthXmr-1', 'pat-x'],
      ] as const) {
        await store.cases.upsertCaseProjection(
          { id, clinicId: 'north', requestId: 'r', patientId, medicationRequestId: 'mr', status: 'queued' },
          1,
        );
      }
      const view = (minute: number, actorId: string, caseId: string, patientId: string, clinicId = 'north') =>
        store.audit.appendAudit({
          at: at(minute),
          actorType: 'user',
          actorId,
          actorRole: 'nurse',
          action: 'case.viewed',
          clinicId,
          caseId,
          requestId: `req-${minute}`,
          detail: { patientId },
        });
      await view(0, 'ana', 'rf_north_mr-1', 'pat-1');
      await view(1, 'ana', 'rfXnorthXmr-1', 'pat-x'); // `_` of the other id, as a LIKE wildcard, would match this
      await view(2, 'bo', 'rf_north_mr-2', 'pat-2');
      await view(3, 'cy', 'rf_south_mr-1', 'pat-1', 'south');
      // A decision names only its case: the patient comes from the case.
      await store.audit.appendAudit({
        at: at(4),
        actorType: 'user',
        actorId: 'bo',
        actorRole: 'doctor',
        action: 'decision.recorded',
        clinicId: 'north',
        caseId: 'rf_north_mr-1',
        detail: { action: 'approve' },
      });
      // 600 later rows that mention `pat-1` but not as a patient the access touched: the SQL filter reads them, the
      // exact filter drops them, and the reader goes on past its first round of 500 to the real matches.
      for (let i = 0; i < 600; i++) {
        await store.audit.appendAudit({
          at: at(10 + i),
          actorType: 'system',
          actorId: 'worker',
          action: 'ehr.event_focus_read',
          clinicId: 'north',
          detail: { resource: 'pat-1', patientFound: false },
        });
      }
      await store.audit.appendAudit({
        at: at(5),
        actorType: 'user',
        actorId: 'ana',
        action: 'token.issued',
        clinicId: 'north',
      });
    }, 120_000);
    afterAll(async () => {
      await t?.cleanup();
    });

    test('a case filter matches the case exactly: its id’s `_` is no wildcard', async () => {
      const { items } = await store.access.listAccess({ ...RANGE, caseId: 'rf_north_mr-1', limit: 50 });
      expect(items.map((e) => [e.action, e.userId])).toEqual([
        ['decision.recorded', 'bo'],
        ['case.viewed', 'ana'],
      ]);
    });

    test('a patient filter finds the rows that name the patient and the rows about their cases, past non-matches', async () => {
      const page1 = await store.access.listAccess({ ...RANGE, patientId: 'pat-1', limit: 1 });
      expect(page1.items).toEqual([
        expect.objectContaining({
          action: 'decision.recorded',
          subjects: [{ caseId: 'rf_north_mr-1', patientId: 'pat-1' }],
        }),
      ]);
      expect(page1.nextCursor).not.toBeNull();
      const page2 = await store.access.listAccess({ ...RANGE, patientId: 'pat-1', limit: 1, cursor: page1.nextCursor });
      expect(page2.items.map((e) => [e.action, e.userId, e.requestId])).toEqual([['case.viewed', 'ana', 'req-0']]);
      expect(page2.nextCursor).toBeNull();
      // Case is not ignored on PostgreSQL, and on SQLite (whose LIKE ignores it) the exact filter drops the rest.
      expect((await store.access.listAccess({ ...RANGE, patientId: 'PAT-1', limit: 10 })).items).toEqual([]);
    });

    test('one clinic, access actions only, by person and action, newest first in keyset pages', async () => {
      const all: number[] = [];
      let cursor: string | null = null;
      do {
        const page: Awaited<ReturnType<Store['access']['listAccess']>> = await store.access.listAccess({
          ...RANGE,
          limit: 250,
          cursor,
        });
        all.push(...page.items.map((e) => e.id));
        cursor = page.nextCursor;
      } while (cursor !== null);
      expect(all).toHaveLength(604);
      expect(new Set(all).size).toBe(604);
      const byAna = await store.access.listAccess({ ...RANGE, userId: 'ana', limit: 50 });
      expect(byAna.items.map((e) => e.subjects[0]?.caseId)).toEqual(['rfXnorthXmr-1', 'rf_north_mr-1']);
      const decisions = await store.access.listAccess({ ...RANGE, action: 'decision.recorded', limit: 50 });
      expect(decisions.items).toHaveLength(1);
      const south = await store.access.listAccess({ ...RANGE, clinicId: 'south', limit: 50 });
      expect(south.items.map((e) => e.userId)).toEqual(['cy']);
      const before = await store.access.listAccess({ ...RANGE, to: at(1), limit: 50 });
      expect(before.items.map((e) => e.requestId)).toEqual(['req-0']);
    });

    test('what the flags read: views with their queue and patient, decisions, hourly counts, after-hours accesses', async () => {
      const v = (minute: number, actorId: string, caseId: string, queue?: string) =>
        store.audit.appendAudit({
          at: new Date(Date.parse('2026-03-12T13:00:00Z') + minute * 60_000).toISOString(), // Thu 08:00 CDT
          actorType: 'user',
          actorId,
          actorRole: 'nurse',
          action: 'case.viewed',
          clinicId: 'north',
          caseId,
          detail: queue ? { queue } : {},
        });
      await v(0, 'dee', 'rf_north_mr-1', 'doctor');
      await v(1, 'dee', 'rf_north_mr-2', 'nurse');
      await v(2, 'dee', 'rf_north_mr-2', 'nurse');
      await v(-90, 'dee', 'rf_north_mr-1'); // 06:30: before working hours
      await v(60 * 12, 'eve', 'rf_north_mr-1', 'nurse'); // 20:00
      await store.audit.appendAudit({
        at: '2026-03-12T13:30:00.000Z',
        actorType: 'user',
        actorId: 'eve',
        actorRole: 'doctor',
        action: 'decision.recorded',
        clinicId: 'north',
        caseId: 'rf_north_mr-2',
      });
      const { DEFAULT_ACCESS_SETTINGS } = await import('../../rules/access/flags.ts');
      const input = await store.access.flagInput({
        clinicId: 'north',
        from: '2026-03-12',
        to: '2026-03-12',
        timeZone: 'America/Chicago',
        settings: DEFAULT_ACCESS_SETTINGS,
      });
      expect(input.views.map((x) => [x.userId, x.caseId, x.queue, x.patientId]).sort()).toEqual(
        [
          ['dee', 'rf_north_mr-1', 'doctor', 'pat-1'],
          ['dee', 'rf_north_mr-1', null, 'pat-1'],
          ['dee', 'rf_north_mr-2', 'nurse', 'pat-2'],
          ['dee', 'rf_north_mr-2', 'nurse', 'pat-2'],
          ['eve', 'rf_north_mr-1', 'nurse', 'pat-1'],
        ].sort(),
      );
      expect([...input.decided].sort()).toEqual(['rf_north_mr-1\nbo', 'rf_north_mr-2\neve']);
      // Every view of those cases, earlier ones (March 10th) included.
      expect(
        input.caseViews
          .filter((x) => x.at < '2026-03-12')
          .map((x) => x.userId)
          .sort(),
      ).toEqual(['ana', 'bo']);
      // Distinct cases per person and UTC hour, from 30 days before the window.
      expect(input.hourly).toEqual(
        expect.arrayContaining([
          { userId: 'dee', hour: '2026-03-12T11', cases: 1 },
          { userId: 'dee', hour: '2026-03-12T13', cases: 2 },
          { userId: 'eve', hour: '2026-03-13T01', cases: 1 },
          { userId: 'ana', hour: '2026-03-10T12', cases: 2 },
        ]),
      );
      expect(input.afterHours.map((a) => [a.userId, a.at])).toEqual([
        ['dee', '2026-03-12T11:30:00.000Z'],
        ['eve', '2026-03-13T01:00:00.000Z'],
      ]);
      // A row that names only its case gets the case's patient, as in the log.
      expect(input.afterHours[0]!.subjects).toEqual([{ caseId: 'rf_north_mr-1', patientId: 'pat-1' }]);
    });

    test('the tokens table takes the role privacy, and still refuses an unknown role', async () => {
      const { record } = await store.tokens.createToken({
        name: 'po',
        role: 'privacy',
        userId: 'po@north.example',
        clinicId: 'north',
      });
      expect(record.role).toBe('privacy');
      await expect(
        t.db.kysely
          .insertInto('api_tokens')
          .values({
            id: 'tok_x',
            tokenHash: 'h',
            name: 'x',
            role: 'owner' as never,
            clinicId: null,
            userId: 'x',
            createdAt: at(0),
            revokedAt: null,
            expiresAt: null,
            lastUsedAt: null,
            createdBy: null,
          })
          .execute(),
      ).rejects.toThrow(/check/i);
    });
  });
});
