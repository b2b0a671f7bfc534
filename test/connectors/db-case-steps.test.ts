// Migration 0007 (case kinds) and the one-transaction case step, on both dialects: a step writes its projection, its
// timeline event and its audit row together or not at all; rows from before kinds are refills; the outreach queue is
// admitted; a care gap's row has no MedicationRequest and carries its kind's fields.
import { Kysely, Migrator, CamelCasePlugin, SqliteDialect, PostgresDialect, sql } from 'kysely';
import BetterSqlite3 from 'better-sqlite3';
import pg from 'pg';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, test } from 'vitest';
import { createStore, openDatabase, type Store } from '../../connectors/db/index.ts';
import { migrationProvider } from '../../connectors/db/migrations.ts';
import { openTestDatabase, type TestDatabase } from '../helpers/db.ts';

const postgresUrl = inject('postgresUrl');
const dialects = [
  { dialect: 'sqlite' as const, adminUrl: undefined, skip: false },
  { dialect: 'postgres' as const, adminUrl: postgresUrl, skip: postgresUrl === undefined },
];

const CLINIC = {
  id: 'clinic-k',
  name: 'Kinds clinic',
  webhookSecret: 'whsec_kinds_0123456789abcdef',
  fhirBaseUrl: 'http://127.0.0.1:3001/fhir/R4',
  fhirClientId: 'autopilot',
  fhirPrivateKeyJwk: null,
  fhirTokenUrl: null,
  protocolId: 'family-medicine-2015',
  nurseSlaSeconds: 60,
  timezone: 'UTC',
};

const step = (id: string, seq: number, action: string | null) => ({
  projection: {
    id,
    kind: 'care-gap',
    clinicId: CLINIC.id,
    requestId: 'req-1',
    patientId: 'pat-1',
    medicationRequestId: null,
    status: 'queued' as const,
    queue: 'outreach' as const,
    disposition: 'outreach',
    clause: 'CRC-17',
    priority: 'routine' as const,
    dueAt: '2026-07-13T00:00:00.000Z',
    at: '2026-06-15T10:00:00.000Z',
  },
  seq,
  event: { at: '2026-06-15T10:00:00.000Z', kind: 'case.queued', actor: 'system', detail: { queue: 'outreach' } },
  audit: action
    ? {
        actorType: 'system' as const,
        actorId: 'worker',
        action,
        clinicId: CLINIC.id,
        caseId: id,
        idempotencyKey: `${id}:${seq}:${action}`,
      }
    : null,
});

describe.each(dialects)('case steps on $dialect', ({ dialect, adminUrl, skip }) => {
  describe.skipIf(skip)(dialect, () => {
    let tdb: TestDatabase;
    let store: Store;
    beforeAll(async () => {
      tdb = await openTestDatabase(dialect, adminUrl);
      store = createStore(tdb.db);
      await store.clinics.upsert(CLINIC);
      // A failure inside the transaction, after the projection and the event were written: the audit insert aborts.
      if (dialect === 'sqlite') {
        await sql`create trigger boom before insert on audit_log when new.action = 'test.boom'
          begin select raise(abort, 'boom'); end`.execute(tdb.db.kysely);
      } else {
        await sql`create function boom() returns trigger language plpgsql as $$
          begin if new.action = 'test.boom' then raise exception 'boom'; end if; return new; end $$`.execute(
          tdb.db.kysely,
        );
        await sql`create trigger boom before insert on audit_log for each row execute function boom()`.execute(
          tdb.db.kysely,
        );
      }
    });
    afterAll(async () => {
      await tdb?.cleanup();
    });

    test('a care-gap step writes its outreach-queue row, its event and its audit row; a retry writes nothing twice', async () => {
      const id = 'cg_clinic-k_crc-screening-2021_0123456789abcdef0123456789abcdef';
      expect(await store.cases.recordStep(step(id, 1, 'case.routed'))).toEqual({ applied: true, eventCreated: true });
      expect(await store.cases.recordStep(step(id, 1, 'case.routed'))).toEqual({ applied: false, eventCreated: false });
      const row = await store.cases.getCase(id);
      expect(row).toMatchObject({
        kind: 'care-gap',
        medicationRequestId: null,
        queue: 'outreach',
        clause: 'CRC-17',
        priority: 'routine',
        dueAt: '2026-07-13T00:00:00.000Z',
        nextDueDate: null,
      });
      expect(await store.cases.listCaseEvents(id)).toHaveLength(1);
      expect((await store.audit.listAudit({ caseId: id })).items.map((a) => a.action)).toEqual(['case.routed']);
      expect((await store.cases.listQueue({ queue: 'outreach' })).items.map((c) => c.id)).toEqual([id]);
      expect((await store.cases.countQueues()).outreach).toBe(1);
    });

    test('the audit rows a step comes with go before its own, in its transaction; one failing undoes the step', async () => {
      const id = 'cg_clinic-k_crc-screening-2021_00000000000000000000000000000001';
      const write = (action: string) => ({
        actorType: 'system' as const,
        actorId: 'worker',
        action,
        clinicId: CLINIC.id,
        caseId: id,
        idempotencyKey: `${id}:${action}`,
      });
      await expect(
        store.cases.recordStep({
          ...step(id, 1, 'case.routed'),
          auditsBefore: [write('ehr.task_synced'), write('test.boom')],
        }),
      ).rejects.toThrow();
      expect(await store.cases.getCase(id)).toBeNull();
      expect((await store.audit.listAudit({ caseId: id })).items).toEqual([]);
      const before = [write('ehr.write_back'), write('ehr.task_synced')];
      await store.cases.recordStep({ ...step(id, 1, 'case.routed'), auditsBefore: before });
      await store.cases.recordStep({ ...step(id, 1, 'case.routed'), auditsBefore: before }); // retried: once each
      const rows = (await store.audit.listAudit({ caseId: id })).items;
      expect(rows.map((a) => a.action).reverse()).toEqual(['ehr.write_back', 'ehr.task_synced', 'case.routed']);
      expect((await store.audit.verifyChains({ clinicId: CLINIC.id })).breaks).toEqual([]);
    });

    test('a step whose audit row fails leaves neither its projection nor its event behind', async () => {
      const id = 'cg_clinic-k_crc-screening-2021_ffffffffffffffffffffffffffffffff';
      await expect(store.cases.recordStep(step(id, 1, 'test.boom'))).rejects.toThrow();
      expect(await store.cases.getCase(id)).toBeNull();
      expect(await store.cases.listCaseEvents(id)).toEqual([]);
    });
  });
});

test('migration 0007 keeps every existing case, as a refill, on SQLite (table rebuilt for the queue check)', async () => {
  const tdb = await openTestDatabase('sqlite');
  const dataDir = tdb.options.dataDir;
  await tdb.db.close();
  // A database as the previous release left it: migrated up to 0006, with a refill case in it.
  const raw = new BetterSqlite3(join(dataDir, 'old.db'));
  const kysely = new Kysely<Record<string, never>>({
    dialect: new SqliteDialect({ database: raw }),
    plugins: [new CamelCasePlugin()],
  });
  const migrator = new Migrator({ db: kysely, provider: migrationProvider('sqlite') });
  expect((await migrator.migrateTo('0006_simulation_jobs')).error).toBeUndefined();
  await sql`insert into clinics (id, name, webhook_secret, fhir_base_url, fhir_client_id, protocol_id,
    refill_automation_enabled, nurse_sla_seconds, timezone, created_at, updated_at)
    values ('c1', 'C', 's', 'http://x', 'x', 'p', 1, 60, 'UTC', 't', 't')`.execute(kysely);
  await sql`insert into cases (id, clinic_id, request_id, medication_request_id, status, queue, escalated, created_at,
    updated_at, seq) values ('rf_c1_mr-1', 'c1', 'r', 'mr-1', 'queued', 'nurse', 0, 't0', 't0', 3)`.execute(kysely);
  expect((await migrator.migrateToLatest()).error).toBeUndefined();
  const rows = await sql<{ id: string; kind: string; queue: string; seq: number }>`select * from cases`.execute(kysely);
  expect(rows.rows).toEqual([expect.objectContaining({ id: 'rf_c1_mr-1', kind: 'refill', queue: 'nurse', seq: 3 })]);
  await expect(
    sql`insert into cases (id, clinic_id, request_id, status, queue, escalated, created_at, updated_at, seq)
      values ('x', 'c1', 'r', 'queued', 'elsewhere', 0, 't', 't', 1)`.execute(kysely),
  ).rejects.toThrow(/CHECK/);
  await kysely.destroy();
  // And the store reads it back through the same code as always.
  const db = await openDatabase({ dataDir });
  await db.close();
  await tdb.cleanup();
});

test.skipIf(postgresUrl === undefined)('migration 0007 on PostgreSQL: refill rows stay refills', async () => {
  const admin = new pg.Client({ connectionString: postgresUrl });
  await admin.connect();
  const name = `test_m7_${Date.now()}`;
  await admin.query(`create database ${name}`);
  const url = new URL(postgresUrl!);
  url.pathname = `/${name}`;
  const pool = new pg.Pool({ connectionString: url.toString(), max: 2 });
  const kysely = new Kysely<Record<string, never>>({
    dialect: new PostgresDialect({ pool }),
    plugins: [new CamelCasePlugin()],
  });
  try {
    const migrator = new Migrator({ db: kysely, provider: migrationProvider('postgres') });
    expect((await migrator.migrateTo('0006_simulation_jobs')).error).toBeUndefined();
    await sql`insert into clinics (id, name, webhook_secret, fhir_base_url, fhir_client_id, protocol_id,
      refill_automation_enabled, nurse_sla_seconds, timezone, created_at, updated_at)
      values ('c1', 'C', 's', 'http://x', 'x', 'p', 1, 60, 'UTC', 't', 't')`.execute(kysely);
    await sql`insert into cases (id, clinic_id, request_id, medication_request_id, status, queue, escalated,
      created_at, updated_at, seq) values ('rf_c1_mr-1', 'c1', 'r', 'mr-1', 'queued', 'nurse', 0, 't0', 't0', 3)`.execute(
      kysely,
    );
    expect((await migrator.migrateToLatest()).error).toBeUndefined();
    const rows = await sql<{ kind: string }>`select kind from cases`.execute(kysely);
    expect(rows.rows).toEqual([{ kind: 'refill' }]);
    await sql`insert into cases (id, clinic_id, request_id, status, queue, escalated, created_at, updated_at, seq)
      values ('cg', 'c1', 'r', 'queued', 'outreach', 0, 't', 't', 1)`.execute(kysely);
    await expect(
      sql`insert into cases (id, clinic_id, request_id, status, queue, escalated, created_at, updated_at, seq)
        values ('x', 'c1', 'r', 'queued', 'elsewhere', 0, 't', 't', 1)`.execute(kysely),
    ).rejects.toThrow(/check/i);
  } finally {
    await kysely.destroy();
    await admin.query(`drop database if exists ${name} with (force)`);
    await admin.end();
  }
});
