// The tamper-evident audit log (issue 10 §3) on both dialects: every row is hash-chained to the previous row of its
// clinic; someone who gets past the append-only triggers (as a tamperer with database access would) and alters,
// removes or slips in a row breaks the chain exactly there, and `verifyChains` (what `autopilot audit verify` runs)
// names the row, its clinic and the expected against the found hash.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { CamelCasePlugin, Kysely, Migrator, PostgresDialect, SqliteDialect, sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, test } from 'vitest';
import { genesisHash, rowHash } from '../../connectors/db/audit-chain.ts';
import { createStore, openDatabase, type Db, type Store } from '../../connectors/db/index.ts';
import { migrationProvider } from '../../connectors/db/migrations.ts';
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

/** Runs `fn` with the append-only triggers out of the way, as a tamperer with database access would. */
async function pastTheTriggers(db: Db, fn: () => Promise<unknown>): Promise<void> {
  if (db.dialect === 'postgres') {
    await sql`alter table audit_log disable trigger user`.execute(db.kysely);
    try {
      await fn();
    } finally {
      await sql`alter table audit_log enable trigger user`.execute(db.kysely);
    }
    return;
  }
  await sql`drop trigger audit_log_no_update`.execute(db.kysely);
  await sql`drop trigger audit_log_no_delete`.execute(db.kysely);
  try {
    await fn();
  } finally {
    await sql`create trigger audit_log_no_update before update on audit_log
      begin select raise(abort, 'audit_log is append-only'); end`.execute(db.kysely);
    await sql`create trigger audit_log_no_delete before delete on audit_log
      begin select raise(abort, 'audit_log is append-only'); end`.execute(db.kysely);
  }
}

const entry = (clinicId: string | null, i: number) => ({
  actorType: 'user' as const,
  actorId: `user-${i % 3}@example.org`,
  actorRole: 'nurse',
  action: 'case.viewed',
  clinicId,
  caseId: `rf_${clinicId ?? 'none'}_mr-${i}`,
  requestId: `req-${i}`,
  detail: { patientId: `pat-${i}`, n: i },
});

describe.each(dialects)('audit hash chain on $dialect', ({ dialect, adminUrl, skip, title }) => {
  describe.skipIf(skip)(title, () => {
    let t: TestDatabase;
    let db: Db;
    let store: Store;

    beforeAll(async () => {
      t = await openTestDatabase(dialect, adminUrl);
      db = t.db;
      store = createStore(db);
    });
    afterAll(async () => {
      await t?.cleanup();
    });

    test('each row links to the previous row of its clinic; rows without a clinic chain on their own', async () => {
      for (let i = 0; i < 6; i++) await store.audit.appendAudit(entry(['north', 'south', null][i % 3]!, i));
      const rows = await db.kysely.selectFrom('audit_log').selectAll().orderBy('id').execute();
      const north = rows.filter((r) => r.clinicId === 'north');
      expect(north).toHaveLength(2);
      expect(north[0]!.prevHash).toBe(genesisHash('north'));
      expect(north[1]!.prevHash).toBe(north[0]!.hash);
      const none = rows.filter((r) => r.clinicId === null);
      expect(none[0]!.prevHash).toBe(genesisHash(null));
      expect(none[1]!.prevHash).toBe(none[0]!.hash);
      for (const r of rows) expect(r.hash).toMatch(/^[0-9a-f]{64}$/);
      const report = await store.audit.verifyChains();
      expect(report.breaks).toEqual([]);
      expect(report.rows).toBe(rows.length);
      expect(report.chains.map((c) => [c.clinicId, c.rows]).sort()).toEqual(
        [
          ['north', 2],
          ['south', 2],
          [null, 2],
        ].sort(),
      );
    });

    test('concurrent writers of one clinic (standalone rows and rows inside other transactions) keep one chain', async () => {
      const issues = Array.from({ length: 6 }, (_, i) =>
        store.tokens.createToken(
          { name: 'x', role: 'nurse', clinicId: null, userId: `u${i}@x.org` },
          { actorType: 'system', actorId: 'test', action: 'token.issued', clinicId: 'east', detail: {} },
        ),
      );
      await Promise.all([
        ...Array.from({ length: 40 }, (_, i) => store.audit.appendAudit(entry('east', i))),
        ...issues,
      ]);
      const report = await store.audit.verifyChains({ clinicId: 'east' });
      expect(report.breaks).toEqual([]);
      expect(report.chains).toEqual([expect.objectContaining({ clinicId: 'east', rows: 46, broken: null })]);
    });

    test('several rows in one call chain in order, beside concurrent single rows; one bad entry writes none', async () => {
      await Promise.all([
        ...Array.from({ length: 10 }, (_, i) =>
          store.audit.appendAudits([entry('batch', 2 * i), entry('batch', 2 * i + 1)]),
        ),
        ...Array.from({ length: 10 }, (_, i) => store.audit.appendAudit(entry('batch', 100 + i))),
      ]);
      const rows = await db.kysely
        .selectFrom('audit_log')
        .selectAll()
        .where('clinicId', '=', 'batch')
        .orderBy('id')
        .execute();
      expect(rows).toHaveLength(30);
      // A pair written together sits together, in the order given.
      for (let i = 0; i < 10; i++) {
        const first = rows.findIndex((r) => r.caseId === `rf_batch_mr-${2 * i}`);
        expect(rows[first + 1]!.caseId).toBe(`rf_batch_mr-${2 * i + 1}`);
      }
      expect((await store.audit.verifyChains({ clinicId: 'batch' })).breaks).toEqual([]);
      await expect(
        store.audit.appendAudits([entry('batch', 200), { ...entry('batch', 201), action: '' }]),
      ).rejects.toThrow();
      const after = await db.kysely.selectFrom('audit_log').select('id').where('clinicId', '=', 'batch').execute();
      expect(after).toHaveLength(30);
    });

    test('one call of rows for two chains, an existing row among them, links each chain to its own head', async () => {
      await store.audit.appendAudit({ ...entry('mixed', 1), idempotencyKey: `mixed-1-${dialect}` });
      await store.audit.appendAudit(entry(null, 9001));
      const written = await store.audit.appendAudits([
        entry('mixed', 2),
        entry(null, 9002),
        { ...entry('mixed', 1), idempotencyKey: `mixed-1-${dialect}` }, // already there: the head does not move
        entry('mixed', 3),
        entry(null, 9003),
      ]);
      expect(written.map((w) => w.created)).toEqual([true, true, false, true, true]);
      expect((await store.audit.verifyChains({ clinicId: 'mixed' })).breaks).toEqual([]);
      expect((await store.audit.verifyChains()).breaks).toEqual([]);
    });

    test('an idempotent retry writes nothing and leaves the chain as it was', async () => {
      const first = await store.audit.appendAudit({ ...entry('west', 1), idempotencyKey: `k-${dialect}` });
      const again = await store.audit.appendAudit({ ...entry('west', 2), idempotencyKey: `k-${dialect}` });
      expect(again).toEqual({ id: first.id, created: false });
      await store.audit.appendAudit(entry('west', 3));
      expect((await store.audit.verifyChains({ clinicId: 'west' })).breaks).toEqual([]);
    });

    describe('tampering', () => {
      let ids: number[];
      beforeAll(async () => {
        ids = [];
        for (let i = 0; i < 5; i++) ids.push((await store.audit.appendAudit(entry('tamper-a', i))).id);
        for (let i = 0; i < 3; i++) await store.audit.appendAudit(entry('tamper-b', i));
      });

      test('the triggers still refuse the update a tamperer would try first', async () => {
        await expect(
          db.kysely.updateTable('audit_log').set({ actorId: 'someone-else' }).where('id', '=', ids[1]!).execute(),
        ).rejects.toThrow(/append-only/);
      });

      test('an altered row is found: its own hash no longer matches its fields', async () => {
        const before = await db.kysely
          .selectFrom('audit_log')
          .select('hash')
          .where('id', '=', ids[1]!)
          .executeTakeFirstOrThrow();
        await pastTheTriggers(db, () =>
          db.kysely.updateTable('audit_log').set({ actorId: 'someone-else' }).where('id', '=', ids[1]!).execute(),
        );
        const report = await store.audit.verifyChains();
        expect(report.breaks).toHaveLength(1);
        const [b] = report.breaks;
        expect(b).toMatchObject({ id: ids[1], clinicId: 'tamper-a', kind: 'content', found: before.hash });
        expect(b!.expected).not.toBe(before.hash);
        expect(report.chains.find((c) => c.clinicId === 'tamper-b')?.broken).toBeNull();
        expect(report.chains.find((c) => c.clinicId === 'tamper-a')?.head?.id).toBe(ids[0]);
        // Put it back: the chain verifies again (the hash covers exactly the stored fields).
        await pastTheTriggers(db, () =>
          db.kysely.updateTable('audit_log').set({ actorId: 'user-1@example.org' }).where('id', '=', ids[1]!).execute(),
        );
        expect((await store.audit.verifyChains({ clinicId: 'tamper-a' })).breaks).toEqual([]);
      });

      test('re-hashing the altered row moves the break to the next row’s link', async () => {
        const row = await db.kysely
          .selectFrom('audit_log')
          .selectAll()
          .where('id', '=', ids[2]!)
          .executeTakeFirstOrThrow();
        const forged = { ...row, detail: '{"patientId":"pat-other","n":2}', protocolVersion: row.protocolVersion };
        const forgedHash = rowHash(row.prevHash!, forged);
        await pastTheTriggers(db, () =>
          db.kysely
            .updateTable('audit_log')
            .set({ detail: forged.detail, hash: forgedHash })
            .where('id', '=', ids[2]!)
            .execute(),
        );
        const { breaks } = await store.audit.verifyChains({ clinicId: 'tamper-a' });
        expect(breaks).toEqual([
          { id: ids[3], clinicId: 'tamper-a', kind: 'link', expected: forgedHash, found: row.hash },
        ]);
        await pastTheTriggers(db, () =>
          db.kysely
            .updateTable('audit_log')
            .set({ detail: row.detail, hash: row.hash })
            .where('id', '=', ids[2]!)
            .execute(),
        );
      });

      test('a removed row breaks the link of the row after it', async () => {
        const removed = await db.kysely
          .selectFrom('audit_log')
          .select(['hash', 'prevHash'])
          .where('id', '=', ids[3]!)
          .executeTakeFirstOrThrow();
        await pastTheTriggers(db, () => db.kysely.deleteFrom('audit_log').where('id', '=', ids[3]!).execute());
        const { breaks } = await store.audit.verifyChains({ clinicId: 'tamper-a' });
        expect(breaks).toEqual([
          { id: ids[4], clinicId: 'tamper-a', kind: 'link', expected: removed.prevHash, found: removed.hash },
        ]);
      });

      test('a row slipped in around insertAudit (no hash) is a broken link', async () => {
        const slipped = await db.kysely
          .insertInto('audit_log')
          .values({ ...entry('tamper-b', 9), at: new Date().toISOString(), detail: '{}' })
          .returning('id')
          .executeTakeFirstOrThrow();
        const { breaks, chains } = await store.audit.verifyChains({ clinicId: 'tamper-b' });
        expect(breaks).toEqual([
          { id: Number(slipped.id), clinicId: 'tamper-b', kind: 'link', expected: chains[0]?.head?.hash, found: null },
        ]);
      });
    });
  });
});

/**
 * An app database as the release before 0014 left it (migrated to 0012), so that the backfill of the rows that
 * predate the chain can be checked; `reopen` then opens it through openDatabase (which migrates to the latest).
 */
async function databaseAt0012(
  dialect: 'sqlite' | 'postgres',
): Promise<{ kysely: Kysely<Record<string, never>>; reopen: () => Promise<Db>; drop: () => Promise<void> }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'ehr-autopilot-chain-'));
  if (dialect === 'sqlite') {
    const kysely = new Kysely<Record<string, never>>({
      dialect: new SqliteDialect({ database: new BetterSqlite3(join(dataDir, 'app.db')) }),
      plugins: [new CamelCasePlugin()],
    });
    return {
      kysely,
      reopen: async () => {
        await kysely.destroy();
        return openDatabase({ dataDir });
      },
      drop: () => Promise.resolve(rmSync(dataDir, { recursive: true, force: true })),
    };
  }
  const admin = new pg.Client({ connectionString: postgresUrl });
  await admin.connect();
  const name = `test_chain_${Date.now()}`;
  await admin.query(`create database ${name}`);
  const url = new URL(postgresUrl!);
  url.pathname = `/${name}`;
  const kysely = new Kysely<Record<string, never>>({
    dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: url.toString(), max: 2 }) }),
    plugins: [new CamelCasePlugin()],
  });
  return {
    kysely,
    reopen: async () => {
      await kysely.destroy();
      return openDatabase({ databaseUrl: url.toString(), dataDir });
    },
    drop: async () => {
      await admin.query(`drop database if exists ${name} with (force)`);
      await admin.end();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

describe.each(dialects)('migration 0014 on $dialect', ({ dialect, skip, title }) => {
  test.skipIf(skip)(
    `${title}: chains the rows that predate it, in id order, and new rows continue the chains`,
    async () => {
      const old = await databaseAt0012(dialect);
      let db: Db | undefined;
      try {
        const migrator = new Migrator({ db: old.kysely, provider: migrationProvider(dialect) });
        expect((await migrator.migrateTo('0012_signing_policies')).error).toBeUndefined();
        // 3,000 rows across three chains: more than one page of the backfill.
        for (let from = 0; from < 3000; from += 500) {
          const values = Array.from({ length: 500 }, (_, j) => {
            const i = from + j;
            const e = entry(['c1', 'c2', null][i % 3]!, i);
            return sql`(${new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString()}, 'user', ${e.actorId}, ${e.actorRole},
            ${e.action}, ${e.clinicId}, ${e.caseId}, ${i % 7 === 0 ? 'family-medicine-2015' : null},
            ${i % 7 === 0 ? 3 : null}, ${e.requestId}, ${JSON.stringify(e.detail)})`;
          });
          await sql`insert into audit_log (at, actor_type, actor_id, actor_role, action, clinic_id, case_id, protocol_id,
          protocol_version, request_id, detail) values ${sql.join(values)}`.execute(old.kysely);
        }
        db = await old.reopen();
        const store = createStore(db);
        const report = await store.audit.verifyChains();
        expect(report.breaks).toEqual([]);
        expect(report.rows).toBe(3000);
        expect(report.chains.map((c) => c.rows).sort()).toEqual([1000, 1000, 1000]);
        const c1 = await db.kysely
          .selectFrom('audit_log')
          .select(['id', 'prevHash', 'hash'])
          .where('clinicId', '=', 'c1')
          .orderBy('id')
          .limit(2)
          .execute();
        expect(c1[0]!.prevHash).toBe(genesisHash('c1'));
        expect(c1[1]!.prevHash).toBe(c1[0]!.hash);
        // The append-only trigger is back after the backfill.
        await expect(
          db.kysely.updateTable('audit_log').set({ action: 'x' }).where('id', '=', c1[0]!.id).execute(),
        ).rejects.toThrow(/append-only/);
        await store.audit.appendAudit(entry('c1', 9999));
        expect((await store.audit.verifyChains({ clinicId: 'c1' })).chains[0]).toMatchObject({
          rows: 1001,
          broken: null,
        });
      } finally {
        await db?.close();
        await old.drop();
      }
    },
  );
});

// The API and the worker are two processes writing one SQLite file: each row's read of its chain's head and its insert
// happen under the write lock (BEGIN IMMEDIATE), so neither a fork of the chain nor a SQLITE_BUSY_SNAPSHOT failure.
test('two processes appending to one clinic of one SQLite file at once keep one intact chain', async () => {
  const t = await openTestDatabase('sqlite');
  try {
    const dbModule = new URL('../../connectors/db/index.ts', import.meta.url).href;
    const script = `
      const { openDatabase, createStore } = await import(${JSON.stringify(dbModule)});
      const db = await openDatabase({ dataDir: process.env.DATA_DIR });
      const store = createStore(db);
      // Both start writing at the same moment, whenever each process finished loading.
      await new Promise((r) => setTimeout(r, Number(process.env.START_AT) - Date.now()));
      for (let i = 0; i < 1000; i++) {
        await store.audit.appendAudit({ actorType: 'system', actorId: process.env.WHO, action: 'probe', clinicId: 'shared' });
      }
      await db.close();`;
    const run = (who: string) =>
      new Promise<{ code: number | null; stderr: string }>((resolve) => {
        const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
          env: { ...process.env, DATA_DIR: t.options.dataDir, WHO: who, START_AT: String(startAt) },
          stdio: ['ignore', 'ignore', 'pipe'],
        });
        let stderr = '';
        child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        child.on('close', (code) => resolve({ code, stderr }));
      });
    const startAt = Date.now() + 6000;
    const results = await Promise.all([run('api'), run('worker')]);
    for (const r of results) expect(r.code, r.stderr).toBe(0);
    const report = await createStore(t.db).audit.verifyChains({ clinicId: 'shared' });
    expect(report.breaks).toEqual([]);
    expect(report.rows).toBe(2000);
  } finally {
    await t.cleanup();
  }
});

describe.each(dialects)('migration 0014 failing on $dialect', ({ dialect, skip, title }) => {
  test.skipIf(skip)(
    `${title}: leaves the database as it was, the append-only trigger in place; a retry applies it`,
    async () => {
      const old = await databaseAt0012(dialect);
      let db: Db | undefined;
      try {
        const migrator = new Migrator({ db: old.kysely, provider: migrationProvider(dialect) });
        expect((await migrator.migrateTo('0012_signing_policies')).error).toBeUndefined();
        await sql`insert into audit_log (at, actor_type, actor_id, action, detail)
        values ('2026-01-01T00:00:00.000Z', 'system', 'x', 'probe', '{}')`.execute(old.kysely);
        // A table in the way of its last step: 0014 fails after its backfill.
        await sql`create table access_settings (x text)`.execute(old.kysely);
        expect((await migrator.migrateToLatest()).error).toBeDefined();
        const columns = await sql<{ name: string }>`select ${sql.raw(
          dialect === 'postgres'
            ? `column_name as name from information_schema.columns where table_name = 'audit_log'`
            : `name from pragma_table_info('audit_log')`,
        )}`.execute(old.kysely);
        expect(columns.rows.map((c) => c.name)).not.toContain('hash');
        await expect(sql`update audit_log set action = 'tampered'`.execute(old.kysely)).rejects.toThrow(/append-only/);
        await sql`drop table access_settings`.execute(old.kysely);
        db = await old.reopen();
        expect((await createStore(db).audit.verifyChains()).breaks).toEqual([]);
      } finally {
        await db?.close();
        await old.drop();
      }
    },
  );
});
