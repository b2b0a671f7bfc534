// Migrations 0008 (protocol kinds) and 0010 (kind switches) on both dialects: a database from before kinds keeps every
// protocol as a refill protocol and every clinic running it as before, its refill automation switch moved into
// clinic_kinds; per-kind clinic settings store, merge and answer protocolForKind; a publish for one clinic pins the
// slot of the protocol's kind.
import { CamelCasePlugin, Kysely, PostgresDialect, SqliteDialect } from 'kysely';
import BetterSqlite3 from 'better-sqlite3';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, test } from 'vitest';
import { createStore, type Database, type Db, type Store } from '../../connectors/db/index.ts';
import { DEFAULT_SWEEP_CRON } from '../../connectors/db/clinics.ts';
import { migrationProvider } from '../../connectors/db/migrations.ts';
import { openDatabase } from '../../connectors/db/open.ts';
import { openTestDatabase, type TestDatabase } from '../helpers/db.ts';

const postgresUrl = inject('postgresUrl');
const dialects = [
  { dialect: 'sqlite' as const, adminUrl: undefined, skip: false },
  { dialect: 'postgres' as const, adminUrl: postgresUrl, skip: postgresUrl === undefined },
];

const CLINIC = {
  id: 'clinic-k',
  name: 'Kinds clinic',
  webhookSecret: 'whsec_0123456789abcdef',
  fhirBaseUrl: 'http://127.0.0.1:3001/fhir/R4',
  fhirClientId: 'autopilot',
  protocolId: 'family-medicine-2015',
  nurseSlaSeconds: 14_400,
  timezone: 'America/Chicago',
};

describe.each(dialects)('protocol kinds in the app database ($dialect)', ({ dialect, adminUrl, skip }) => {
  let tdb: TestDatabase;
  let store: Store;

  beforeAll(async () => {
    if (skip) return;
    tdb = await openTestDatabase(dialect, adminUrl);
    store = createStore(tdb.db);
  });
  afterAll(async () => {
    await tdb?.cleanup();
  });

  test.skipIf(skip)(
    'a database from before kinds: its protocols become refill, its clinics run them as before',
    async () => {
      // The same database opened fresh, migrated only up to 0007, with a protocol and a clinic; then opened normally.
      await tdb.db.close();
      const kysely = rawKysely(dialect, tdb.options);
      try {
        const provider = migrationProvider(dialect);
        const names = Object.keys(await provider.getMigrations()).sort();
        expect(names).toContain('0008_protocol_kinds');
        expect(names).toContain('0010_kind_switches');
        await rewindKindSwitches(kysely);
        // Back to before 0008: its table and those of every later migration, and their migration rows.
        for (const table of ['value_set_expansions', 'clinic_value_sets', 'sweep_schedule_syncs', 'clinic_kinds'])
          await kysely.schema.dropTable(table).ifExists().execute();
        await kysely
          .deleteFrom('kysely_migration' as never)
          .where('name' as never, '>=', '0008_protocol_kinds' as never)
          .execute();
        await kysely.schema.alterTable('protocols').dropColumn('kind').execute();
        await kysely
          .insertInto('protocols')
          .values({
            id: 'family-medicine-2015',
            title: 'FM',
            publishedVersion: 1,
            latestVersion: 1,
            createdAt: 'x',
          })
          .execute();
        await kysely
          .insertInto('clinics')
          .values({ ...CLINIC, refillAutomationEnabled: 1, createdAt: 'x', updatedAt: 'x' } as never)
          .execute();
      } finally {
        await kysely.destroy();
      }
      const db: Db = await openDatabase(tdb.options);
      tdb.db = db;
      store = createStore(db);
      expect((await store.protocols.get('family-medicine-2015'))?.kind).toBe('refill');
      // 0019: a clinic from before the batch setting reads its EHR as every connector did then (auto).
      expect((await store.clinics.get(CLINIC.id))?.fhirBatch).toBe('auto');
      expect(await store.clinics.protocolForKind(CLINIC.id, 'refill')).toEqual({
        clinicId: CLINIC.id,
        kind: 'refill',
        protocolId: 'family-medicine-2015',
        pinnedVersion: null,
        version: 1,
        sweepCron: DEFAULT_SWEEP_CRON,
      });
      expect(await store.clinics.protocolForKind(CLINIC.id, 'care-gap')).toBeNull();
      // Its refill automation switch (on) is now the refill kind's `enabled`.
      expect(await store.clinics.kinds(CLINIC.id)).toEqual([
        {
          kind: 'refill',
          enabled: true,
          protocolId: null,
          protocolVersion: null,
          sweepCron: null,
          updatedAt: expect.any(String) as string,
        },
      ]);
    },
  );

  test.skipIf(skip)(
    '0010: the switch of a refill clinic moves into clinic_kinds (off stays off); another kind’s clinic gets no row',
    async () => {
      await store.protocols.create({ id: 'crc-0010', title: 'CRC', kind: 'care-gap' });
      const base = { ...CLINIC, webhookSecret: 'whsec_0123456789abcdef' };
      await store.clinics.upsert({ ...base, id: 'refill-off' });
      await store.clinics.upsert({ ...base, id: 'refill-on', kinds: [{ kind: 'refill', sweepCron: '0 1 * * 1' }] });
      await store.clinics.upsert({ ...base, id: 'gap-own', protocolId: 'crc-0010' });
      await tdb.db.close();
      const kysely = rawKysely(dialect, tdb.options);
      try {
        await rewindKindSwitches(kysely);
        for (const [id, on] of [
          ['refill-off', 0],
          ['refill-on', 1],
          ['gap-own', 1],
        ] as const) {
          await kysely
            .updateTable('clinics')
            .set({ refillAutomationEnabled: on } as never)
            .where('id', '=', id)
            .execute();
        }
      } finally {
        await kysely.destroy();
      }
      const db: Db = await openDatabase(tdb.options);
      tdb.db = db;
      store = createStore(db);
      const refillRow = async (id: string) => (await store.clinics.kinds(id)).find((k) => k.kind === 'refill');
      expect(await refillRow('refill-off')).toMatchObject({ enabled: false, protocolId: null });
      // An existing row keeps its other settings; only `enabled` takes the switch.
      expect(await refillRow('refill-on')).toMatchObject({ enabled: true, sweepCron: '0 1 * * 1' });
      expect(await refillRow('gap-own')).toBeUndefined();
      const columns = await db.kysely.introspection.getTables();
      const clinics = columns.find((t) => t.name === 'clinics')!;
      expect(clinics.columns.map((c) => c.name)).not.toContain('refill_automation_enabled');
      expect(clinics.columns.map((c) => c.name)).not.toContain('refillAutomationEnabled');
    },
  );

  test.skipIf(skip)(
    'kind settings merge field by field; a new protocol clears the pin; disabled is not run',
    async () => {
      await store.protocols.create({ id: 'crc-a', title: 'CRC A', kind: 'care-gap' });
      await store.protocols.create({ id: 'crc-b', title: 'CRC B', kind: 'care-gap' });
      for (const id of ['crc-a', 'crc-b']) {
        const d = await store.protocols.createDraft({ protocolId: id, definition: { kind: 'care-gap' }, by: 't' });
        await store.protocols.publish({ protocolId: id, version: d.version, by: 't' });
      }
      await store.clinics.updateSettings(CLINIC.id, {
        kinds: [{ kind: 'care-gap', enabled: true, protocolId: 'crc-a', protocolVersion: 1, sweepCron: '0 5 * * 2' }],
      });
      expect(await store.clinics.protocolForKind(CLINIC.id, 'care-gap')).toMatchObject({
        protocolId: 'crc-a',
        pinnedVersion: 1,
        version: 1,
        sweepCron: '0 5 * * 2',
      });
      await store.clinics.updateSettings(CLINIC.id, { kinds: [{ kind: 'care-gap', protocolId: 'crc-b' }] });
      expect((await store.clinics.kinds(CLINIC.id)).filter((k) => k.kind === 'care-gap')).toEqual([
        expect.objectContaining({
          kind: 'care-gap',
          enabled: true,
          protocolId: 'crc-b',
          protocolVersion: null,
          sweepCron: '0 5 * * 2',
        }),
      ]);
      // Publish for this clinic: the care-gap slot is pinned, the clinic's refill protocol is untouched.
      const d2 = await store.protocols.createDraft({
        protocolId: 'crc-b',
        definition: { kind: 'care-gap', v: 2 },
        by: 't',
      });
      const r = await store.protocols.publish({
        protocolId: 'crc-b',
        version: d2.version,
        by: 't',
        clinicId: CLINIC.id,
      });
      expect(r).toMatchObject({ clinicId: CLINIC.id, previousVersion: null, changed: true });
      expect(await store.clinics.protocolForKind(CLINIC.id, 'care-gap')).toMatchObject({
        pinnedVersion: 2,
        version: 2,
      });
      expect((await store.clinics.get(CLINIC.id))?.protocolVersion).toBeNull();
      await expect(
        store.protocols.publish({ protocolId: 'crc-a', version: 1, by: 't', clinicId: CLINIC.id }),
      ).rejects.toMatchObject({ code: 'CONFLICT' });
      // (`gap-own`, of the 0010 test above, runs care gaps as its own kind.)
      const running = async () =>
        (await store.clinics.listRunning('care-gap')).map((a) => a.clinicId).filter((id) => id !== 'gap-own');
      expect(await running()).toEqual([CLINIC.id]);
      await store.clinics.updateSettings(CLINIC.id, { kinds: [{ kind: 'care-gap', enabled: false }] });
      expect(await store.clinics.protocolForKind(CLINIC.id, 'care-gap')).toBeNull();
      expect(await running()).toEqual([]);
    },
  );
});

/**
 * Undoes 0010 on an open raw kysely: the column comes back (every clinic off) and 0010 is unrun; 0011 (indexes only)
 * is unrun too, since kysely applies migrations in order.
 */
async function rewindKindSwitches(kysely: Kysely<Database>): Promise<void> {
  // Kysely applies migrations in order: 0019 (the clinics' batch setting), 0018 (CDS jtis), 0017 (SMART App Launch),
  // 0016 (CDS clients), 0015 (subscription events), 0014 (access monitoring), 0013 (the analytics rollup) and 0012
  // (signing policies) are unrun too; the table checks of 0012 and 0014 admit the old values.
  const unrun = (name: string) =>
    kysely
      .deleteFrom('kysely_migration' as never)
      .where('name' as never, '=', name as never)
      .execute();
  await kysely.schema.alterTable('clinics').dropColumn('fhirBatch').execute();
  await unrun('0019_clinic_fhir_batch');
  await kysely.schema.dropTable('cds_jtis').ifExists().execute();
  await unrun('0018_cds_jtis');
  for (const table of ['smart_handoffs', 'smart_launches', 'smart_users', 'smart_clients'])
    await kysely.schema.dropTable(table).ifExists().execute();
  await unrun('0017_smart_app_launch');
  await kysely.schema.dropTable('cds_clients').ifExists().execute();
  await unrun('0016_cds_clients');
  await kysely.schema.dropTable('subscription_events').ifExists().execute();
  await unrun('0015_subscription_events');
  for (const table of ['access_flag_reviews', 'access_settings'])
    await kysely.schema.dropTable(table).ifExists().execute();
  for (const index of ['audit_log_clinic_at_idx', 'audit_log_clinic_actor_idx', 'cases_clinic_patient_idx'])
    await kysely.schema.dropIndex(index).ifExists().execute();
  for (const column of ['prevHash', 'hash']) await kysely.schema.alterTable('audit_log').dropColumn(column).execute();
  await unrun('0014_access_monitoring');
  for (const table of ['analytics_daily', 'analytics_rollup_state'])
    await kysely.schema.dropTable(table).ifExists().execute();
  await kysely.schema.dropIndex('cases_clinic_status_idx').ifExists().execute();
  await unrun('0013_analytics_rollup');
  await kysely.schema.dropTable('signing_policies').ifExists().execute();
  await unrun('0012_signing_policies');
  for (const index of ['cases_analytics_idx', 'audit_log_case_action_idx'])
    await kysely.schema.dropIndex(index).ifExists().execute();
  await unrun('0011_analytics_indexes');
  await kysely.schema
    .alterTable('clinics')
    .addColumn('refillAutomationEnabled', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  await unrun('0010_kind_switches');
}

/** A kysely over the test database without running migrations (to rewind one). */
function rawKysely(
  dialect: 'sqlite' | 'postgres',
  options: { databaseUrl?: string; dataDir: string },
): Kysely<Database> {
  const plugins = [new CamelCasePlugin()];
  return dialect === 'postgres'
    ? new Kysely<Database>({
        dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: options.databaseUrl }) }),
        plugins,
      })
    : new Kysely<Database>({
        dialect: new SqliteDialect({ database: new BetterSqlite3(join(options.dataDir, 'app.db')) }),
        plugins,
      });
}
