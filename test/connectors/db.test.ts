// The same suite against both dialects: what passes on the embedded SQLite must pass on PostgreSQL at scale.
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, inject, test } from 'vitest';
import { openDatabase, createStore, hashToken, type Store, type Db } from '../../connectors/db/index.ts';
import { migrationProvider } from '../../connectors/db/migrations.ts';
import { AppError } from '../../rules/index.ts';
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
  id: 'clinic-a',
  name: 'Riverside Family Medicine',
  webhookSecret: 'whsec_0123456789abcdef',
  fhirBaseUrl: 'http://127.0.0.1:3001/fhir/R4',
  fhirClientId: 'autopilot',
  protocolId: 'family-medicine-2015',
  nurseSlaSeconds: 14_400,
  timezone: 'America/Chicago',
};

function aCase(id: string, overrides: Record<string, unknown> = {}) {
  return {
    id,
    clinicId: CLINIC.id,
    requestId: `req-${id}`,
    patientId: `pat-${id}`,
    medicationRequestId: `mr-${id}`,
    status: 'queued' as const,
    queue: 'nurse' as const,
    ...overrides,
  };
}

async function expectAppError(p: Promise<unknown>, code: string): Promise<AppError> {
  const err: unknown = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AppError);
  expect((err as AppError).code).toBe(code);
  return err as AppError;
}

describe.each(dialects)('app database on $dialect', ({ dialect, adminUrl, skip, title }) => {
  describe.skipIf(skip)(title, () => {
    let t: TestDatabase;
    let db: Db;
    let store: Store;

    beforeAll(async () => {
      t = await openTestDatabase(dialect, adminUrl);
      db = t.db;
      store = createStore(db);
      await store.clinics.upsert(CLINIC);
      await store.clinics.upsert({ ...CLINIC, id: 'clinic-b', name: 'Hillside' });
    });
    afterAll(async () => {
      await t?.cleanup();
    });

    test('speaks the expected dialect and answers a ping', async () => {
      expect(db.dialect).toBe(dialect);
      await expect(db.ping()).resolves.toBeUndefined();
    });

    test('migrations are idempotent: opening the same database again keeps schema and data', async () => {
      const again = await openDatabase(t.options);
      try {
        const clinic = await createStore(again).clinics.get(CLINIC.id);
        expect(clinic?.name).toBe(CLINIC.name);
        const ran = await again.kysely
          .selectFrom('kysely_migration' as never)
          .select(sql<string>`name`.as('name'))
          .execute();
        // Every migration the provider knows ran exactly once (new migrations are appended, never edited).
        const known = Object.keys(await migrationProvider(dialect).getMigrations()).sort();
        expect(known[0]).toBe('0001_initial');
        expect(ran.map((r) => r.name).sort()).toEqual(known);
      } finally {
        await again.close();
      }
    });

    describe('clinics', () => {
      test('round-trips settings, booleans included, and keeps createdAt on replace', async () => {
        const first = await store.clinics.get(CLINIC.id);
        expect(first).toMatchObject({ ...CLINIC, fhirPrivateKeyJwk: null, fhirTokenUrl: null });
        const refillSwitch = async () =>
          (await store.clinics.kinds(CLINIC.id)).find((k) => k.kind === 'refill')?.enabled;
        expect(await refillSwitch()).toBeUndefined(); // no kind settings stored: the switch is off

        const jwk = JSON.stringify({ kty: 'EC', crv: 'P-256', x: 'x', y: 'y', d: 'd' });
        const replaced = await store.clinics.upsert({
          ...CLINIC,
          kinds: [{ kind: 'refill', enabled: true }],
          fhirPrivateKeyJwk: jwk,
        });
        expect(await refillSwitch()).toBe(true); // stored with the clinic, in its transaction
        expect(replaced.fhirPrivateKeyJwk).toBe(jwk);
        expect(replaced.createdAt).toBe(first?.createdAt);
        expect(replaced.updatedAt >= replaced.createdAt).toBe(true);
        expect((await store.clinics.list()).map((c) => c.id)).toEqual(['clinic-a', 'clinic-b']);
        await store.clinics.upsert(CLINIC);
      });

      test('refuses invalid settings with field paths', async () => {
        const err = await expectAppError(
          store.clinics.upsert({ ...CLINIC, webhookSecret: 'short', timezone: 'Mars/Olympus' }),
          'INVALID_INPUT',
        );
        expect(err.issues.map((i) => i.path).sort()).toEqual(['$.timezone', '$.webhookSecret']);
      });

      test('returns null for an unknown clinic', async () => {
        expect(await store.clinics.get('nope')).toBeNull();
      });
    });

    describe('webhook deliveries', () => {
      test('two concurrent deliveries of the same request yield one case, created once', async () => {
        for (let i = 0; i < 10; i++) {
          const results = await Promise.all([
            store.deliveries.recordDelivery({
              clinicId: CLINIC.id,
              ehrRequestId: `ehr-${i}`,
              caseId: `c-${i}-x`,
              requestId: 'r1',
            }),
            store.deliveries.recordDelivery({
              clinicId: CLINIC.id,
              ehrRequestId: `ehr-${i}`,
              caseId: `c-${i}-y`,
              requestId: 'r2',
            }),
          ]);
          expect(results[0].caseId).toBe(results[1].caseId);
          expect(results.filter((r) => r.created)).toHaveLength(1);
        }
      });

      test('a redelivery returns the first case id; another clinic with the same EHR id is a different case', async () => {
        const first = await store.deliveries.recordDelivery({
          clinicId: CLINIC.id,
          ehrRequestId: 'dup',
          caseId: 'c1',
          requestId: 'r',
        });
        const again = await store.deliveries.recordDelivery({
          clinicId: CLINIC.id,
          ehrRequestId: 'dup',
          caseId: 'c2',
          requestId: 'r',
        });
        const other = await store.deliveries.recordDelivery({
          clinicId: 'clinic-b',
          ehrRequestId: 'dup',
          caseId: 'c3',
          requestId: 'r',
        });
        expect(first).toEqual({ caseId: 'c1', created: true });
        expect(again).toEqual({ caseId: 'c1', created: false });
        expect(other).toEqual({ caseId: 'c3', created: true });
      });

      test('a delivery for an unknown clinic is refused', async () => {
        await expectAppError(
          store.deliveries.recordDelivery({ clinicId: 'ghost', ehrRequestId: 'x', caseId: 'c', requestId: 'r' }),
          'INVALID_INPUT',
        );
      });
    });

    describe('case projection', () => {
      test('applies only newer seqs: retries and reordered activities never move a case backwards', async () => {
        const decision = { disposition: 'nurse_review', criteria: [{ id: 'a1c-recent', pass: false }] };
        expect(await store.cases.upsertCaseProjection(aCase('p1', { status: 'triaging', queue: null }), 1)).toEqual({
          applied: true,
        });
        expect(
          await store.cases.upsertCaseProjection(
            aCase('p1', {
              disposition: 'nurse_review',
              pool: 'protime_nurse_pool',
              decision,
              protocolId: 'fm',
              protocolVersion: 3,
            }),
            3,
          ),
        ).toEqual({ applied: true });
        // the seq-2 projection arrives late, and seq 3 is retried
        expect(await store.cases.upsertCaseProjection(aCase('p1', { status: 'triaging', queue: null }), 2)).toEqual({
          applied: false,
        });
        expect(await store.cases.upsertCaseProjection(aCase('p1', { status: 'closed' }), 3)).toEqual({
          applied: false,
        });

        const c = await store.cases.getCase('p1');
        expect(c).toMatchObject({
          status: 'queued',
          queue: 'nurse',
          pool: 'protime_nurse_pool',
          seq: 3,
          escalated: false,
        });
        expect(c?.decision).toEqual(decision);
        expect(c?.protocolVersion).toBe(3);
      });

      test('omitted fields are kept, null clears, booleans round-trip', async () => {
        await store.cases.upsertCaseProjection(aCase('p2', { pool: 'endocrinology', drugName: 'levothyroxine' }), 1);
        await store.cases.upsertCaseProjection(
          {
            ...aCase('p2', { status: 'closed', queue: null, outcome: 'approved', escalated: true }),
            closedAt: '2025-01-02T03:04:05Z',
          },
          2,
        );
        const c = await store.cases.getCase('p2');
        expect(c).toMatchObject({
          status: 'closed',
          queue: null,
          pool: 'endocrinology',
          drugName: 'levothyroxine',
          outcome: 'approved',
          escalated: true,
          closedAt: '2025-01-02T03:04:05.000Z',
        });
      });

      test('a case for an unknown clinic is refused; an unknown case reads as null', async () => {
        await expectAppError(store.cases.upsertCaseProjection(aCase('p3', { clinicId: 'ghost' }), 1), 'INVALID_INPUT');
        expect(await store.cases.getCase('p3')).toBeNull();
      });
    });

    describe('case events', () => {
      test('a retried append writes the row once; the timeline is in seq order', async () => {
        const ev = (seq: number, kind: string) => ({
          caseId: 'e1',
          seq,
          at: '2025-03-01T10:00:00Z',
          kind,
          actor: 'system',
          detail: { medicationRequest: 'MedicationRequest/mr-1' },
        });
        expect(await store.cases.appendCaseEvent(ev(2, 'triaged'))).toEqual({ created: true });
        expect(await store.cases.appendCaseEvent(ev(1, 'received'))).toEqual({ created: true });
        expect(await store.cases.appendCaseEvent({ ...ev(2, 'triaged'), kind: 'other' })).toEqual({ created: false });
        const events = await store.cases.listCaseEvents('e1');
        expect(events.map((e) => [e.seq, e.kind])).toEqual([
          [1, 'received'],
          [2, 'triaged'],
        ]);
        expect(events[0]?.detail).toEqual({ medicationRequest: 'MedicationRequest/mr-1' });
        expect(events[0]?.at).toBe('2025-03-01T10:00:00.000Z');
      });
    });

    describe('audit log', () => {
      test('an idempotency key writes once and returns the first id', async () => {
        const entry = {
          actorType: 'system' as const,
          actorId: 'worker',
          action: 'case.writeback',
          clinicId: CLINIC.id,
          caseId: 'a1',
          idempotencyKey: 'a1:writeback',
          detail: { task: 'Task/t-1' },
        };
        const first = await store.audit.appendAudit(entry);
        const again = await store.audit.appendAudit({ ...entry, detail: { task: 'Task/other' } });
        expect(first.created).toBe(true);
        expect(again).toEqual({ id: first.id, created: false });
        const { items } = await store.audit.listAudit({ caseId: 'a1' });
        expect(items).toHaveLength(1);
        expect(items[0]).toMatchObject({ id: first.id, detail: { task: 'Task/t-1' }, actorRole: null });
      });

      test('lists newest first with keyset pages and filters', async () => {
        for (let i = 0; i < 5; i++) {
          await store.audit.appendAudit({
            actorType: 'user',
            actorId: 'u1',
            actorRole: 'nurse',
            action: 'case.decided',
            caseId: 'a2',
            detail: { i },
          });
        }
        await store.audit.appendAudit({ actorType: 'user', actorId: 'u1', action: 'case.viewed', caseId: 'a2' });
        const page1 = await store.audit.listAudit({ caseId: 'a2', action: 'case.decided', limit: 3 });
        expect(page1.items.map((e) => e.detail.i)).toEqual([4, 3, 2]);
        expect(page1.nextCursor).not.toBeNull();
        const page2 = await store.audit.listAudit({
          caseId: 'a2',
          action: 'case.decided',
          limit: 3,
          cursor: page1.nextCursor,
        });
        expect(page2.items.map((e) => e.detail.i)).toEqual([1, 0]);
        expect(page2.nextCursor).toBeNull();
        await expectAppError(store.audit.listAudit({ cursor: 'not-a-cursor' }), 'INVALID_INPUT');
      });

      test('several actions: one list, newest first, in keyset pages across the actions', async () => {
        const actions = ['cfg.a', 'cfg.b', 'cfg.c'];
        for (let i = 0; i < 7; i++) {
          await store.audit.appendAudit({
            actorType: 'user',
            actorId: 'admin',
            action: actions[i % 3]!,
            clinicId: i === 3 ? 'elsewhere' : CLINIC.id,
            detail: { i },
          });
          await store.audit.appendAudit({
            actorType: 'user',
            actorId: 'n',
            action: 'case.viewed',
            clinicId: CLINIC.id,
          });
        }
        const seen: unknown[] = [];
        let cursor: string | null = null;
        for (let pages = 0; pages < 10; pages++) {
          const page: Awaited<ReturnType<typeof store.audit.listAudit>> = await store.audit.listAudit({
            clinicId: CLINIC.id,
            actions: [...actions, 'cfg.a'],
            limit: 2,
            cursor,
          });
          seen.push(...page.items.map((e) => e.detail.i));
          cursor = page.nextCursor;
          if (!cursor) break;
        }
        expect(seen).toEqual([6, 5, 4, 2, 1, 0]);
        await expectAppError(store.audit.listAudit({ actions: [] }), 'INVALID_INPUT');
      });

      test('the database itself refuses to update or delete audit rows', async () => {
        const { id } = await store.audit.appendAudit({ actorType: 'system', actorId: 'x', action: 'probe' });
        await expect(
          db.kysely.updateTable('audit_log').set({ action: 'tampered' }).where('id', '=', id).execute(),
        ).rejects.toThrow(/append-only/);
        await expect(db.kysely.deleteFrom('audit_log').where('id', '=', id).execute()).rejects.toThrow(/append-only/);
        const { items } = await store.audit.listAudit({ action: 'probe' });
        expect(items).toHaveLength(1);
      });
    });

    describe('protocols', () => {
      const v1 = { rules: [{ name: 'r1' }], defaultOutcome: 'nurse_review' };
      const v2 = { rules: [{ name: 'r1' }, { name: 'r2' }], defaultOutcome: 'nurse_review' };

      test('draft → publish → new draft → publish → rollback, with versions that never change', async () => {
        const p = store.protocols;
        await p.create({ id: 'fm', title: 'Family medicine 2015' });
        await expectAppError(p.create({ id: 'fm', title: 'again' }), 'CONFLICT');

        const d1 = await p.createDraft({ protocolId: 'fm', definition: { draft: true }, by: 'admin-1' });
        expect(d1).toMatchObject({ version: 1, status: 'draft', createdBy: 'admin-1' });
        await p.updateDraft({ protocolId: 'fm', version: 1, definition: v1, by: 'admin-1', note: 'initial' });
        expect(await p.getPublished('fm')).toBeNull();

        const pub1 = await p.publish({ protocolId: 'fm', version: 1, by: 'admin-1' });
        expect(pub1).toMatchObject({
          previousVersion: null,
          changed: true,
          published: { version: 1, status: 'published', definition: v1 },
        });
        // a case started now pins version 1
        const pinned = { protocolId: 'fm', version: 1 };

        const d2 = await p.createDraft({ protocolId: 'fm', definition: v2, by: 'admin-2' });
        expect(d2.version).toBe(2);
        expect((await p.getPublished('fm'))?.version).toBe(1); // a draft is not live
        const pub2 = await p.publish({ protocolId: 'fm', version: 2, by: 'admin-2' });
        expect(pub2).toMatchObject({ previousVersion: 1, changed: true });
        expect((await p.getVersion('fm', 1))?.status).toBe('retired');

        // published and retired versions are immutable
        await expectAppError(p.updateDraft({ protocolId: 'fm', version: 1, definition: v2, by: 'x' }), 'CONFLICT');
        await expectAppError(p.updateDraft({ protocolId: 'fm', version: 2, definition: v1, by: 'x' }), 'CONFLICT');
        await expectAppError(p.updateDraft({ protocolId: 'fm', version: 9, definition: v1, by: 'x' }), 'NOT_FOUND');
        // publishing a retired version is a rollback, not a publish; a retried publish is a no-op
        await expectAppError(p.publish({ protocolId: 'fm', version: 1, by: 'x' }), 'CONFLICT');
        expect((await p.publish({ protocolId: 'fm', version: 2, by: 'admin-2' })).changed).toBe(false);

        // Rollback publishes version 1's content again as a new version 3; history stays append-only.
        const rb = await p.rollback({ protocolId: 'fm', toVersion: 1, by: 'admin-3' });
        expect(rb).toMatchObject({
          previousVersion: 2,
          clinicId: null,
          changed: true,
          published: {
            version: 3,
            status: 'published',
            publishedBy: 'admin-3',
            note: 'Rollback of v1',
            definition: v1,
          },
        });
        expect(await p.get('fm')).toMatchObject({ publishedVersion: 3, latestVersion: 3 });
        expect((await p.getVersion(pinned.protocolId, pinned.version))?.definition).toEqual(v1);
        expect(await p.getVersion('fm', 2)).toMatchObject({ status: 'retired', definition: v2 });
        expect((await p.listVersions('fm')).map((v) => [v.version, v.status])).toEqual([
          [3, 'published'],
          [2, 'retired'],
          [1, 'retired'],
        ]);

        // a never-published draft cannot be a rollback target
        const d3 = await p.createDraft({ protocolId: 'fm', definition: v2, by: 'admin-1' });
        await expectAppError(p.rollback({ protocolId: 'fm', toVersion: d3.version, by: 'x' }), 'CONFLICT');

        const audit = await store.audit.listAudit({ limit: 500 });
        expect(
          audit.items
            .filter((e) => e.protocolId === 'fm')
            .map((e) => [e.action, e.protocolVersion, e.actorId])
            .reverse(),
        ).toEqual([
          ['protocol.draft_created', 1, 'admin-1'],
          ['protocol.published', 1, 'admin-1'],
          ['protocol.draft_created', 2, 'admin-2'],
          ['protocol.published', 2, 'admin-2'],
          ['protocol.rolled_back', 3, 'admin-3'],
          ['protocol.draft_created', 4, 'admin-1'],
        ]);
      });

      test('publish and rollback for one clinic pin that clinic only; the live version is unchanged', async () => {
        const p = store.protocols;
        await p.create({ id: 'pc', title: 'Per clinic' });
        await p.createDraft({ protocolId: 'pc', definition: v1, by: 'a' });
        await p.publish({ protocolId: 'pc', version: 1, by: 'a' });
        const base = {
          name: 'C',
          webhookSecret: 'per-clinic-secret-0123456789',
          fhirBaseUrl: 'http://127.0.0.1:9/fhir',
          fhirClientId: 'x',
          nurseSlaSeconds: 60,
          timezone: 'UTC',
        };
        await store.clinics.upsert({ ...base, id: 'pc-a', protocolId: 'pc' });
        await store.clinics.upsert({ ...base, id: 'pc-b', protocolId: 'pc' });
        await store.clinics.upsert({ ...base, id: 'pc-other', protocolId: 'fm' });
        expect((await store.clinics.get('pc-a'))?.protocolVersion).toBeNull();

        await p.createDraft({ protocolId: 'pc', definition: v2, by: 'a' });
        await expectAppError(p.publish({ protocolId: 'pc', version: 2, by: 'a', clinicId: 'pc-other' }), 'CONFLICT');
        await expectAppError(p.publish({ protocolId: 'pc', version: 2, by: 'a', clinicId: 'nope' }), 'NOT_FOUND');
        const r = await p.publish({ protocolId: 'pc', version: 2, by: 'a', clinicId: 'pc-a' });
        expect(r).toMatchObject({ clinicId: 'pc-a', previousVersion: null, changed: true, published: { version: 2 } });
        expect((await p.getVersion('pc', 2))?.status).toBe('published'); // immutable now
        await expectAppError(p.updateDraft({ protocolId: 'pc', version: 2, definition: v1, by: 'x' }), 'CONFLICT');
        expect(await p.get('pc')).toMatchObject({ publishedVersion: 1 });
        expect((await store.clinics.get('pc-a'))?.protocolVersion).toBe(2);
        expect((await store.clinics.get('pc-b'))?.protocolVersion).toBeNull();
        expect((await p.publish({ protocolId: 'pc', version: 2, by: 'a', clinicId: 'pc-a' })).changed).toBe(false);

        const rb = await p.rollback({ protocolId: 'pc', toVersion: 1, by: 'b', clinicId: 'pc-a' });
        expect(rb).toMatchObject({ clinicId: 'pc-a', previousVersion: 2, published: { version: 3, definition: v1 } });
        expect((await store.clinics.get('pc-a'))?.protocolVersion).toBe(3);
        expect(await p.get('pc')).toMatchObject({ publishedVersion: 1, latestVersion: 3 });
        const audit = (await store.audit.listAudit({ limit: 500 })).items.filter((e) => e.clinicId === 'pc-a');
        expect(audit.map((e) => [e.action, e.protocolVersion]).reverse()).toEqual([
          ['protocol.published', 2],
          ['protocol.rolled_back', 3],
        ]);
      });

      test('concurrent drafts get distinct, gap-free version numbers', async () => {
        await store.protocols.create({ id: 'race', title: 'Race' });
        const drafts = await Promise.all(
          Array.from({ length: 8 }, (_, i) =>
            store.protocols.createDraft({ protocolId: 'race', definition: { i }, by: 'a' }),
          ),
        );
        expect(drafts.map((d) => d.version).sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
      });

      test('concurrent publishes leave exactly one published version', async () => {
        await store.protocols.create({ id: 'race-pub', title: 'Race' });
        for (let i = 0; i < 4; i++)
          await store.protocols.createDraft({ protocolId: 'race-pub', definition: { i }, by: 'a' });
        await Promise.all(
          [1, 2, 3, 4].map((version) => store.protocols.publish({ protocolId: 'race-pub', version, by: 'a' })),
        );
        const versions = await store.protocols.listVersions('race-pub');
        const live = versions.filter((v) => v.status === 'published');
        expect(live).toHaveLength(1);
        expect((await store.protocols.get('race-pub'))?.publishedVersion).toBe(live[0]?.version);
        expect(versions.filter((v) => v.status === 'retired')).toHaveLength(3);
      });

      test('drafts for an unknown protocol are refused', async () => {
        await expectAppError(
          store.protocols.createDraft({ protocolId: 'ghost', definition: {}, by: 'a' }),
          'NOT_FOUND',
        );
      });
    });

    describe('API tokens', () => {
      test('finds a token by its raw value, stores only the hash, and stops finding it once revoked', async () => {
        const { token, record } = await store.tokens.createToken({
          name: 'ward nurse',
          role: 'nurse',
          clinicId: CLINIC.id,
          userId: 'n-1',
        });
        expect(record.tokenHash).toBe(hashToken(token));
        expect(record.tokenHash).not.toContain(token);
        expect(await store.tokens.findByToken(token)).toMatchObject({
          role: 'nurse',
          clinicId: CLINIC.id,
          userId: 'n-1',
          revokedAt: null,
        });
        expect(await store.tokens.findByToken(`${token}x`)).toBeNull();

        expect(await store.tokens.revoke(record.id)).toBe(true);
        expect(await store.tokens.revoke(record.id)).toBe(false);
        expect(await store.tokens.findByToken(token)).toBeNull();
      });

      test('a chosen token (demo) is stored once; a second create is a CONFLICT', async () => {
        const chosen = 'demo-admin-token-0123456789abcdef';
        const { token } = await store.tokens.createToken({
          name: 'demo',
          role: 'admin',
          userId: 'admin',
          token: chosen,
        });
        expect(token).toBe(chosen);
        await expectAppError(
          store.tokens.createToken({ name: 'demo', role: 'admin', userId: 'admin', token: chosen }),
          'CONFLICT',
        );
      });
    });

    describe('queues', () => {
      beforeAll(async () => {
        const at = (minute: number) => `2025-04-01T09:${String(minute).padStart(2, '0')}:00Z`;
        // inserted out of order; q3 and q4 share a timestamp (ties break on id)
        await store.cases.upsertCaseProjection(aCase('q5', { at: at(50) }), 1);
        await store.cases.upsertCaseProjection(aCase('q1', { at: at(10), pool: 'anticoagulation' }), 1);
        await store.cases.upsertCaseProjection(aCase('q4', { at: at(30) }), 1);
        await store.cases.upsertCaseProjection(aCase('q3', { at: at(30), pool: 'anticoagulation' }), 1);
        await store.cases.upsertCaseProjection(aCase('q2', { at: at(20) }), 1);
        await store.cases.upsertCaseProjection(aCase('qd', { at: at(5), queue: 'doctor' }), 1);
        await store.cases.upsertCaseProjection(aCase('qs', { at: at(5), queue: 'signature' }), 1);
        await store.cases.upsertCaseProjection(aCase('qc', { at: at(1), status: 'closed' }), 1);
        await store.cases.upsertCaseProjection(aCase('qb', { at: at(2), clinicId: 'clinic-b' }), 1);
      });

      test('lists oldest first and pages without gaps or repeats', async () => {
        const seen: string[] = [];
        let cursor: string | null = null;
        let pages = 0;
        do {
          const page: Awaited<ReturnType<Store['cases']['listQueue']>> = await store.cases.listQueue({
            clinicId: CLINIC.id,
            queue: 'nurse',
            limit: 2,
            cursor,
          });
          seen.push(...page.items.map((c) => c.id));
          cursor = page.nextCursor;
          pages++;
        } while (cursor !== null);
        // p1 (from the projection tests, created "now") is newest; closed qc and clinic-b's qb are not listed
        expect(seen.filter((id) => id.startsWith('q'))).toEqual(['q1', 'q2', 'q3', 'q4', 'q5']);
        expect(new Set(seen).size).toBe(seen.length);
        expect(pages).toBe(Math.ceil(seen.length / 2));
      });

      test('filters by pool, status and clinic', async () => {
        const pool = await store.cases.listQueue({ queue: 'nurse', pool: 'anticoagulation' });
        expect(pool.items.map((c) => c.id)).toEqual(['q1', 'q3']);
        const closed = await store.cases.listQueue({ queue: 'nurse', status: 'closed', clinicId: CLINIC.id });
        expect(closed.items.map((c) => c.id)).toContain('qc');
        const b = await store.cases.listQueue({ queue: 'nurse', clinicId: 'clinic-b' });
        expect(b.items.map((c) => c.id)).toEqual(['qb']);
        await expectAppError(store.cases.listQueue({ queue: 'nurse', cursor: '%%%' }), 'INVALID_INPUT');
      });

      test('counts open cases per queue', async () => {
        const all = await store.cases.countQueues();
        const a = await store.cases.countQueues({ clinicId: CLINIC.id });
        expect(a.doctor).toBe(1);
        expect(a.signature).toBe(1);
        expect(all.nurse).toBe(a.nurse + 1); // clinic-b's qb
        const listed = await store.cases.listQueue({ queue: 'nurse', clinicId: CLINIC.id, limit: 500 });
        expect(a.nurse).toBe(listed.items.length);
      });
    });

    describe('facts snapshots', () => {
      test('put replaces per case; list is per clinic and protocol, newest first, limited', async () => {
        const put = (caseId: string, recordedAt: string, protocolId = 'fm') =>
          store.snapshots.put({
            caseId,
            clinicId: CLINIC.id,
            protocolId,
            recordedAt,
            facts: { a1cDays: 30 },
            decision: { d: caseId },
          });
        await put('s1', '2025-01-01T00:00:00Z');
        await put('s2', '2025-01-02T00:00:00Z');
        await put('s3', '2025-01-03T00:00:00Z', 'other');
        await store.snapshots.put({
          caseId: 's1',
          clinicId: CLINIC.id,
          protocolId: 'fm',
          recordedAt: '2025-01-05T00:00:00Z',
          facts: { a1cDays: 400 },
          decision: { d: 'again' },
        });
        const list = await store.snapshots.list({ clinicId: CLINIC.id, protocolId: 'fm' });
        expect(list.map((s) => [s.caseId, s.facts])).toEqual([
          ['s1', { a1cDays: 400 }],
          ['s2', { a1cDays: 30 }],
        ]);
        expect(await store.snapshots.list({ clinicId: CLINIC.id, protocolId: 'fm', limit: 1 })).toHaveLength(1);
      });
    });
  });
});
