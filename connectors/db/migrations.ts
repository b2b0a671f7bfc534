import { randomBytes } from 'node:crypto';
import { sql, type Kysely, type Migration, type MigrationProvider } from 'kysely';
import { genesisHash, rowHash } from './audit-chain.ts';
import type { DialectName } from './dialect.ts';

// Migrations are code, applied in name order and never edited once released: add a new one instead.
// Portable DDL only (TEXT / INTEGER), except the two spots branched on `dialect` below.

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations must not depend on today's table types
type AnyDb = Kysely<any>;

function initial(dialect: DialectName): Migration {
  return {
    async up(db: AnyDb) {
      await db.schema
        .createTable('clinics')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('webhookSecret', 'text', (c) => c.notNull())
        .addColumn('fhirBaseUrl', 'text', (c) => c.notNull())
        .addColumn('fhirClientId', 'text', (c) => c.notNull())
        .addColumn('fhirPrivateKeyJwk', 'text')
        .addColumn('fhirTokenUrl', 'text')
        .addColumn('protocolId', 'text', (c) => c.notNull())
        .addColumn('refillAutomationEnabled', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('nurseSlaSeconds', 'integer', (c) => c.notNull())
        .addColumn('timezone', 'text', (c) => c.notNull())
        .addColumn('createdAt', 'text', (c) => c.notNull())
        .addColumn('updatedAt', 'text', (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('protocols')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('title', 'text', (c) => c.notNull())
        .addColumn('publishedVersion', 'integer')
        .addColumn('latestVersion', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('createdAt', 'text', (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('protocol_versions')
        .addColumn('protocolId', 'text', (c) => c.notNull().references('protocols.id'))
        .addColumn('version', 'integer', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull().check(sql`status in ('draft', 'published', 'retired')`))
        .addColumn('definition', 'text', (c) => c.notNull())
        .addColumn('note', 'text')
        .addColumn('createdBy', 'text', (c) => c.notNull())
        .addColumn('createdAt', 'text', (c) => c.notNull())
        .addColumn('updatedAt', 'text', (c) => c.notNull())
        .addColumn('publishedAt', 'text')
        .addColumn('publishedBy', 'text')
        .addPrimaryKeyConstraint('protocol_versions_pk', ['protocolId', 'version'])
        .execute();

      await db.schema
        .createTable('webhook_deliveries')
        .addColumn('clinicId', 'text', (c) => c.notNull().references('clinics.id'))
        .addColumn('ehrRequestId', 'text', (c) => c.notNull())
        .addColumn('caseId', 'text', (c) => c.notNull())
        .addColumn('requestId', 'text', (c) => c.notNull())
        .addColumn('receivedAt', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('webhook_deliveries_pk', ['clinicId', 'ehrRequestId'])
        .execute();

      await db.schema
        .createTable('cases')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('clinicId', 'text', (c) => c.notNull().references('clinics.id'))
        .addColumn('requestId', 'text', (c) => c.notNull())
        .addColumn('patientId', 'text')
        .addColumn('medicationRequestId', 'text', (c) => c.notNull())
        .addColumn('drugName', 'text')
        .addColumn('status', 'text', (c) =>
          c.notNull().check(sql`status in ('received', 'triaging', 'queued', 'closed', 'failed')`),
        )
        .addColumn('disposition', 'text')
        .addColumn('queue', 'text', (c) => c.check(sql`queue in ('signature', 'nurse', 'doctor')`))
        .addColumn('pool', 'text')
        .addColumn('reason', 'text')
        .addColumn('protocolId', 'text')
        .addColumn('protocolVersion', 'integer')
        .addColumn('decision', 'text')
        .addColumn('outcome', 'text')
        .addColumn('slaDueAt', 'text')
        .addColumn('escalated', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('createdAt', 'text', (c) => c.notNull())
        .addColumn('updatedAt', 'text', (c) => c.notNull())
        .addColumn('closedAt', 'text')
        .addColumn('seq', 'integer', (c) => c.notNull())
        .execute();
      // The queue pages: oldest first, keyset on (createdAt, id), with and without a clinic filter.
      await db.schema
        .createIndex('cases_queue_idx')
        .on('cases')
        .columns(['queue', 'status', 'createdAt', 'id'])
        .execute();
      await db.schema
        .createIndex('cases_clinic_queue_idx')
        .on('cases')
        .columns(['clinicId', 'queue', 'status', 'createdAt', 'id'])
        .execute();

      await db.schema
        .createTable('case_events')
        .addColumn('caseId', 'text', (c) => c.notNull())
        .addColumn('seq', 'integer', (c) => c.notNull())
        .addColumn('at', 'text', (c) => c.notNull())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('actor', 'text', (c) => c.notNull())
        .addColumn('detail', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('case_events_pk', ['caseId', 'seq'])
        .execute();

      await db.schema
        .createTable('audit_log')
        .addColumn('id', dialect === 'postgres' ? 'bigserial' : 'integer', (c) =>
          dialect === 'postgres' ? c.primaryKey() : c.primaryKey().autoIncrement(),
        )
        .addColumn('at', 'text', (c) => c.notNull())
        .addColumn('actorType', 'text', (c) =>
          c.notNull().check(sql`${sql.ref('actorType')} in ('system', 'user', 'ehr', 'protocol')`),
        )
        .addColumn('actorId', 'text', (c) => c.notNull())
        .addColumn('actorRole', 'text')
        .addColumn('action', 'text', (c) => c.notNull())
        .addColumn('clinicId', 'text')
        .addColumn('caseId', 'text')
        .addColumn('protocolId', 'text')
        .addColumn('protocolVersion', 'integer')
        .addColumn('requestId', 'text')
        .addColumn('idempotencyKey', 'text', (c) => c.unique())
        .addColumn('detail', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('audit_log_case_idx').on('audit_log').columns(['caseId', 'id']).execute();
      await db.schema.createIndex('audit_log_clinic_idx').on('audit_log').columns(['clinicId', 'id']).execute();
      await db.schema.createIndex('audit_log_action_idx').on('audit_log').columns(['action', 'id']).execute();
      // Append-only is enforced by the database, not just by the absence of an update function.
      if (dialect === 'postgres') {
        await sql`create function audit_log_append_only() returns trigger language plpgsql as $$
          begin raise exception 'audit_log is append-only'; end $$`.execute(db);
        await sql`create trigger audit_log_no_change before update or delete on audit_log
          for each row execute function audit_log_append_only()`.execute(db);
        await sql`create trigger audit_log_no_truncate before truncate on audit_log
          for each statement execute function audit_log_append_only()`.execute(db);
      } else {
        await sql`create trigger audit_log_no_update before update on audit_log
          begin select raise(abort, 'audit_log is append-only'); end`.execute(db);
        await sql`create trigger audit_log_no_delete before delete on audit_log
          begin select raise(abort, 'audit_log is append-only'); end`.execute(db);
      }

      await db.schema
        .createTable('api_tokens')
        .addColumn('tokenHash', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('role', 'text', (c) => c.notNull().check(sql`role in ('admin', 'doctor', 'nurse')`))
        .addColumn('clinicId', 'text')
        .addColumn('userId', 'text', (c) => c.notNull())
        .addColumn('createdAt', 'text', (c) => c.notNull())
        .addColumn('revokedAt', 'text')
        .execute();

      await db.schema
        .createTable('facts_snapshots')
        .addColumn('caseId', 'text', (c) => c.primaryKey())
        .addColumn('clinicId', 'text', (c) => c.notNull())
        .addColumn('protocolId', 'text', (c) => c.notNull())
        .addColumn('recordedAt', 'text', (c) => c.notNull())
        .addColumn('facts', 'text', (c) => c.notNull())
        .addColumn('decision', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('facts_snapshots_clinic_protocol_idx')
        .on('facts_snapshots')
        .columns(['clinicId', 'protocolId', 'recordedAt'])
        .execute();
    },
  };
}

/** Clinic onboarding: the previous webhook secret during a rotation's grace period, and the SMART public key. */
function clinicOnboarding(): Migration {
  return {
    async up(db: AnyDb) {
      // One column per statement: SQLite's ALTER TABLE adds a single column at a time.
      await db.schema.alterTable('clinics').addColumn('previousWebhookSecret', 'text').execute();
      await db.schema.alterTable('clinics').addColumn('previousWebhookSecretExpiresAt', 'text').execute();
      await db.schema.alterTable('clinics').addColumn('fhirPublicJwk', 'text').execute();
    },
  };
}

/** Per-clinic protocol version: null follows the protocol's live version; a number pins that published version. */
function clinicProtocolVersion(): Migration {
  return {
    async up(db: AnyDb) {
      await db.schema.alterTable('clinics').addColumn('protocolVersion', 'integer').execute();
    },
  };
}

/**
 * Rate-limit counters shared by every API replica: one row per bucket (`<limiter>:<ip or clinic>`) holding the hits
 * of its current fixed window and when that window ends. Rows of ended windows are deleted by the API.
 */
function rateLimits(): Migration {
  return {
    async up(db: AnyDb) {
      await db.schema
        .createTable('rate_limits')
        .addColumn('bucket', 'text', (c) => c.primaryKey())
        .addColumn('hits', 'integer', (c) => c.notNull())
        .addColumn('resetAt', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('rate_limits_reset_idx').on('rate_limits').column('resetAt').execute();
    },
  };
}

/** Asynchronous protocol simulations: one row per job (progress, totals) and its changed cases, paged by seq. */
function simulationJobs(): Migration {
  return {
    async up(db: AnyDb) {
      await db.schema
        .createTable('simulation_jobs')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('requestedBy', 'text', (c) => c.notNull())
        .addColumn('requestedRole', 'text', (c) => c.notNull())
        .addColumn('clinicId', 'text', (c) => c.notNull())
        .addColumn('protocolId', 'text', (c) => c.notNull())
        .addColumn('protocolVersion', 'integer', (c) => c.notNull())
        .addColumn('definition', 'text', (c) => c.notNull())
        .addColumn('rangeFrom', 'text')
        .addColumn('rangeBefore', 'text')
        .addColumn('caseLimit', 'integer')
        .addColumn('status', 'text', (c) => c.notNull().check(sql`status in ('running', 'done', 'failed')`))
        .addColumn('total', 'integer')
        .addColumn('evaluated', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('skipped', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('pages', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('exhausted', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('cursorRecordedAt', 'text')
        .addColumn('cursorCaseId', 'text')
        .addColumn('countsBefore', 'text', (c) => c.notNull())
        .addColumn('countsAfter', 'text', (c) => c.notNull())
        .addColumn('changedTotal', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('changedStored', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('errorCode', 'text')
        .addColumn('errorMessage', 'text')
        .addColumn('requestId', 'text')
        .addColumn('createdAt', 'text', (c) => c.notNull())
        .addColumn('updatedAt', 'text', (c) => c.notNull())
        .addColumn('finishedAt', 'text')
        .execute();
      // The per-admin cap counts an admin's running jobs.
      await db.schema
        .createIndex('simulation_jobs_requester_idx')
        .on('simulation_jobs')
        .columns(['requestedBy', 'status'])
        .execute();
      await db.schema
        .createTable('simulation_changed')
        .addColumn('jobId', 'text', (c) => c.notNull())
        .addColumn('seq', 'integer', (c) => c.notNull())
        .addColumn('detail', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('simulation_changed_pk', ['jobId', 'seq'])
        .execute();
    },
  };
}

/**
 * Token lifecycle: a public id (what lists, audit rows and `tokens revoke` name; never the hash), an expiry, when the
 * token was last used, and who issued it. Existing tokens get an id and keep no expiry (they were issued before
 * expiry existed; revoke and reissue them).
 */
function tokenLifecycle(): Migration {
  return {
    async up(db: AnyDb) {
      await db.schema.alterTable('api_tokens').addColumn('id', 'text').execute();
      await db.schema.alterTable('api_tokens').addColumn('expiresAt', 'text').execute();
      await db.schema.alterTable('api_tokens').addColumn('lastUsedAt', 'text').execute();
      await db.schema.alterTable('api_tokens').addColumn('createdBy', 'text').execute();
      const rows = (await db.selectFrom('api_tokens').select('tokenHash').execute()) as { tokenHash: string }[];
      for (const { tokenHash } of rows) {
        await db
          .updateTable('api_tokens')
          .set({ id: `tok_${randomBytes(9).toString('base64url')}` })
          .where('tokenHash', '=', tokenHash)
          .execute();
      }
      await db.schema.createIndex('api_tokens_id_idx').on('api_tokens').column('id').unique().execute();
      await db.schema
        .createIndex('api_tokens_clinic_idx')
        .on('api_tokens')
        .columns(['clinicId', 'createdAt'])
        .execute();
    },
  };
}

/**
 * Protocol kinds on cases (issue 8): every case has a `kind` (existing rows are refills), a case about a patient has
 * no MedicationRequest, and a kind may carry a deciding clause, a priority, the date its gap is next due and when its
 * next timer fires. The queue check admits the `outreach` queue. On SQLite a CHECK cannot be altered, so the table is
 * rebuilt (same columns and indexes, rows copied); PostgreSQL alters in place.
 */
function caseKinds(dialect: DialectName): Migration {
  return {
    async up(db: AnyDb) {
      const queueCheck = sql`queue in ('signature', 'nurse', 'doctor', 'outreach')`;
      if (dialect === 'postgres') {
        await sql`alter table cases drop constraint if exists cases_queue_check`.execute(db);
        await sql`alter table cases add constraint cases_queue_check check (${queueCheck})`.execute(db);
        await sql`alter table cases alter column medication_request_id drop not null`.execute(db);
      } else {
        await db.schema
          .createTable('cases_0007')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('clinicId', 'text', (c) => c.notNull().references('clinics.id'))
          .addColumn('requestId', 'text', (c) => c.notNull())
          .addColumn('patientId', 'text')
          .addColumn('medicationRequestId', 'text')
          .addColumn('drugName', 'text')
          .addColumn('status', 'text', (c) =>
            c.notNull().check(sql`status in ('received', 'triaging', 'queued', 'closed', 'failed')`),
          )
          .addColumn('disposition', 'text')
          .addColumn('queue', 'text', (c) => c.check(queueCheck))
          .addColumn('pool', 'text')
          .addColumn('reason', 'text')
          .addColumn('protocolId', 'text')
          .addColumn('protocolVersion', 'integer')
          .addColumn('decision', 'text')
          .addColumn('outcome', 'text')
          .addColumn('slaDueAt', 'text')
          .addColumn('escalated', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('createdAt', 'text', (c) => c.notNull())
          .addColumn('updatedAt', 'text', (c) => c.notNull())
          .addColumn('closedAt', 'text')
          .addColumn('seq', 'integer', (c) => c.notNull())
          .execute();
        await sql`insert into cases_0007 select id, clinic_id, request_id, patient_id, medication_request_id, drug_name,
          status, disposition, queue, pool, reason, protocol_id, protocol_version, decision, outcome, sla_due_at,
          escalated, created_at, updated_at, closed_at, seq from cases`.execute(db);
        await db.schema.dropTable('cases').execute();
        await sql`alter table cases_0007 rename to cases`.execute(db);
        await db.schema
          .createIndex('cases_queue_idx')
          .on('cases')
          .columns(['queue', 'status', 'createdAt', 'id'])
          .execute();
        await db.schema
          .createIndex('cases_clinic_queue_idx')
          .on('cases')
          .columns(['clinicId', 'queue', 'status', 'createdAt', 'id'])
          .execute();
      }
      await db.schema
        .alterTable('cases')
        .addColumn('kind', 'text', (c) => c.notNull().defaultTo('refill'))
        .execute();
      await db.schema.alterTable('cases').addColumn('clause', 'text').execute();
      await db.schema.alterTable('cases').addColumn('priority', 'text').execute();
      await db.schema.alterTable('cases').addColumn('nextDueDate', 'text').execute();
      await db.schema.alterTable('cases').addColumn('dueAt', 'text').execute();
    },
  };
}

/**
 * Protocol kinds (issue 8): a protocol's kind, fixed at creation (every protocol before kinds was a refill protocol),
 * and per clinic which further kinds run, with which protocol (and pinned version) and how often the kind's panel
 * sweep runs. The clinic's own `protocolId` / `protocolVersion` keep serving the kind of that protocol, as before.
 */
function protocolKinds(): Migration {
  return {
    async up(db: AnyDb) {
      await db.schema
        .alterTable('protocols')
        .addColumn('kind', 'text', (c) => c.notNull().defaultTo('refill'))
        .execute();
      await db.schema
        .createTable('clinic_kinds')
        .addColumn('clinicId', 'text', (c) => c.notNull().references('clinics.id'))
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('enabled', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('protocolId', 'text', (c) => c.references('protocols.id'))
        .addColumn('protocolVersion', 'integer')
        .addColumn('sweepCron', 'text')
        .addColumn('updatedAt', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('clinic_kinds_pk', ['clinicId', 'kind'])
        .execute();
      // Which clinics a publish for one clinic may pin: those running the protocol.
      await db.schema.createIndex('clinic_kinds_protocol_idx').on('clinic_kinds').column('protocolId').execute();
    },
  };
}

/**
 * Value-set expansions per clinic (issue 8): every expansion a clinic loaded, by content hash (immutable, so an
 * evaluation that recorded a hash can always be explained), and which one is in force per value set (a removed one
 * falls back to the kind's built-in set). Also the sweep Schedules' last synced settings per clinic, so the API
 * syncs at start only the Schedules whose settings changed.
 */
function valueSets(): Migration {
  return {
    async up(db: AnyDb) {
      await db.schema
        .createTable('value_set_expansions')
        .addColumn('clinicId', 'text', (c) => c.notNull().references('clinics.id'))
        .addColumn('valueSetId', 'text', (c) => c.notNull())
        .addColumn('hash', 'text', (c) => c.notNull())
        .addColumn('source', 'text', (c) => c.notNull())
        .addColumn('codeCount', 'integer', (c) => c.notNull())
        .addColumn('codes', 'text', (c) => c.notNull())
        .addColumn('createdAt', 'text', (c) => c.notNull())
        .addColumn('createdBy', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('value_set_expansions_pk', ['clinicId', 'valueSetId', 'hash'])
        .execute();
      await db.schema
        .createTable('clinic_value_sets')
        .addColumn('clinicId', 'text', (c) => c.notNull().references('clinics.id'))
        .addColumn('valueSetId', 'text', (c) => c.notNull())
        .addColumn('hash', 'text', (c) => c.notNull())
        .addColumn('source', 'text', (c) => c.notNull())
        .addColumn('codeCount', 'integer', (c) => c.notNull())
        .addColumn('updatedAt', 'text', (c) => c.notNull())
        .addColumn('updatedBy', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('clinic_value_sets_pk', ['clinicId', 'valueSetId'])
        .execute();
      await db.schema
        .createTable('sweep_schedule_syncs')
        .addColumn('clinicId', 'text', (c) => c.primaryKey())
        .addColumn('hash', 'text', (c) => c.notNull())
        .addColumn('syncedAt', 'text', (c) => c.notNull())
        .execute();
    },
  };
}

/**
 * A kind's switch moves into clinic_kinds (issue 8): `clinics.refill_automation_enabled` predates kinds; it becomes
 * `clinic_kinds.enabled` of the refill kind for every clinic whose own protocol is a refill protocol (or predates
 * protocol kinds), created or overwritten (`enabled` of a clinic's own kind meant nothing before). For a clinic whose
 * own protocol is of another kind the column meant nothing either (no refill triage of its own) and its refill row,
 * if any, keeps saying whether it runs refill. Then the column goes: nothing reads it any more.
 */
function kindSwitches(): Migration {
  return {
    async up(db: AnyDb) {
      const now = new Date().toISOString();
      const rows = (await db
        .selectFrom('clinics')
        .select(['id', 'refillAutomationEnabled'])
        .where('protocolId', 'not in', db.selectFrom('protocols').select('id').where('kind', '<>', 'refill'))
        .execute()) as { id: string; refillAutomationEnabled: number }[];
      for (const row of rows) {
        await db
          .insertInto('clinic_kinds')
          .values({ clinicId: row.id, kind: 'refill', enabled: row.refillAutomationEnabled, updatedAt: now })
          .onConflict((oc) =>
            oc.columns(['clinicId', 'kind']).doUpdateSet({ enabled: row.refillAutomationEnabled, updatedAt: now }),
          )
          .execute();
      }
      await db.schema.alterTable('clinics').dropColumn('refillAutomationEnabled').execute();
    },
  };
}

/** The columns of `cases_analytics_idx` (0011; rebuilt with the table by 0012 on SQLite). */
const CASES_ANALYTICS_COLUMNS = [
  'clinicId',
  'createdAt',
  'protocolId',
  'protocolVersion',
  'kind',
  'disposition',
  'status',
  'queue',
  'reason',
  'outcome',
  'escalated',
  'slaDueAt',
  'closedAt',
  'id',
];

/**
 * Outcome analytics (issue 9 §5, connectors/db/analytics.ts): cases of a clinic by receipt time, covering every column
 * the grouped read uses (no table lookups; the stored decision stays out), and decision records by case, action and
 * role (the physician-touch lookup per case). The protocol filter narrows within the clinic's range.
 */
function analyticsIndexes(): Migration {
  return {
    async up(db: AnyDb) {
      await db.schema.createIndex('cases_analytics_idx').on('cases').columns(CASES_ANALYTICS_COLUMNS).execute();
      await db.schema
        .createIndex('audit_log_case_action_idx')
        .on('audit_log')
        .columns(['caseId', 'action', 'actorType', 'actorRole'])
        .execute();
    },
  };
}

/**
 * Signing policies and delegation (issue 9 §1): a clinic's signing policy per protocol (no row: `doctor`); the token
 * roles `pharmacist` and `pa`; the `cosign` queue of standing orders awaiting a doctor's co-signature. SQLite cannot
 * alter a CHECK, so `cases` and `api_tokens` are rebuilt (same columns, rows and indexes); PostgreSQL alters in place.
 */
function signingPolicies(dialect: DialectName): Migration {
  return {
    async up(db: AnyDb) {
      const queueCheck = sql`queue in ('signature', 'nurse', 'doctor', 'outreach', 'cosign')`;
      const roleCheck = sql`role in ('admin', 'doctor', 'nurse', 'pharmacist', 'pa')`;
      if (dialect === 'postgres') {
        await sql`alter table cases drop constraint if exists cases_queue_check`.execute(db);
        await sql`alter table cases add constraint cases_queue_check check (${queueCheck})`.execute(db);
        await sql`alter table api_tokens drop constraint if exists api_tokens_role_check`.execute(db);
        await sql`alter table api_tokens add constraint api_tokens_role_check check (${roleCheck})`.execute(db);
      } else {
        await rebuildCases(db, queueCheck);
        await rebuildTokens(db, roleCheck);
      }
      await db.schema
        .createTable('signing_policies')
        .addColumn('clinicId', 'text', (c) => c.notNull().references('clinics.id'))
        .addColumn('protocolId', 'text', (c) => c.notNull().references('protocols.id'))
        .addColumn('mode', 'text', (c) => c.notNull().check(sql`mode in ('doctor', 'delegated', 'standing_order')`))
        .addColumn('delegates', 'text', (c) => c.notNull().defaultTo('[]'))
        .addColumn('cosignDays', 'integer', (c) => c.notNull().defaultTo(7))
        .addColumn('authorityReference', 'text')
        .addColumn('authorityDisplay', 'text')
        .addColumn('version', 'integer', (c) => c.notNull())
        .addColumn('updatedAt', 'text', (c) => c.notNull())
        .addColumn('updatedBy', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('signing_policies_pk', ['clinicId', 'protocolId'])
        .execute();
    },
  };
}

/** SQLite: `cases` as after 0011, with the queue check `check`. */
async function rebuildCases(db: AnyDb, check: ReturnType<typeof sql>): Promise<void> {
  const columns = [
    'id',
    'clinic_id',
    'request_id',
    'patient_id',
    'medication_request_id',
    'drug_name',
    'status',
    'disposition',
    'queue',
    'pool',
    'reason',
    'protocol_id',
    'protocol_version',
    'decision',
    'outcome',
    'sla_due_at',
    'escalated',
    'created_at',
    'updated_at',
    'closed_at',
    'seq',
    'kind',
    'clause',
    'priority',
    'next_due_date',
    'due_at',
  ].join(', ');
  await db.schema
    .createTable('cases_0012')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('clinicId', 'text', (c) => c.notNull().references('clinics.id'))
    .addColumn('requestId', 'text', (c) => c.notNull())
    .addColumn('patientId', 'text')
    .addColumn('medicationRequestId', 'text')
    .addColumn('drugName', 'text')
    .addColumn('status', 'text', (c) =>
      c.notNull().check(sql`status in ('received', 'triaging', 'queued', 'closed', 'failed')`),
    )
    .addColumn('disposition', 'text')
    .addColumn('queue', 'text', (c) => c.check(check))
    .addColumn('pool', 'text')
    .addColumn('reason', 'text')
    .addColumn('protocolId', 'text')
    .addColumn('protocolVersion', 'integer')
    .addColumn('decision', 'text')
    .addColumn('outcome', 'text')
    .addColumn('slaDueAt', 'text')
    .addColumn('escalated', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('createdAt', 'text', (c) => c.notNull())
    .addColumn('updatedAt', 'text', (c) => c.notNull())
    .addColumn('closedAt', 'text')
    .addColumn('seq', 'integer', (c) => c.notNull())
    .addColumn('kind', 'text', (c) => c.notNull().defaultTo('refill'))
    .addColumn('clause', 'text')
    .addColumn('priority', 'text')
    .addColumn('nextDueDate', 'text')
    .addColumn('dueAt', 'text')
    .execute();
  await sql`insert into cases_0012 (${sql.raw(columns)}) select ${sql.raw(columns)} from cases`.execute(db);
  await db.schema.dropTable('cases').execute();
  await sql`alter table cases_0012 rename to cases`.execute(db);
  await db.schema.createIndex('cases_queue_idx').on('cases').columns(['queue', 'status', 'createdAt', 'id']).execute();
  await db.schema
    .createIndex('cases_clinic_queue_idx')
    .on('cases')
    .columns(['clinicId', 'queue', 'status', 'createdAt', 'id'])
    .execute();
  await db.schema.createIndex('cases_analytics_idx').on('cases').columns(CASES_ANALYTICS_COLUMNS).execute();
}

/** SQLite: `api_tokens` as after 0005, with the role check `check` (built as `temp`, then renamed). */
async function rebuildTokens(db: AnyDb, check: ReturnType<typeof sql>, temp = 'api_tokens_0012'): Promise<void> {
  const columns = [
    'token_hash',
    'name',
    'role',
    'clinic_id',
    'user_id',
    'created_at',
    'revoked_at',
    'id',
    'expires_at',
    'last_used_at',
    'created_by',
  ].join(', ');
  await db.schema
    .createTable(temp)
    .addColumn('tokenHash', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('role', 'text', (c) => c.notNull().check(check))
    .addColumn('clinicId', 'text')
    .addColumn('userId', 'text', (c) => c.notNull())
    .addColumn('createdAt', 'text', (c) => c.notNull())
    .addColumn('revokedAt', 'text')
    .addColumn('id', 'text')
    .addColumn('expiresAt', 'text')
    .addColumn('lastUsedAt', 'text')
    .addColumn('createdBy', 'text')
    .execute();
  await sql`insert into ${sql.table(temp)} (${sql.raw(columns)}) select ${sql.raw(columns)} from api_tokens`.execute(
    db,
  );
  await db.schema.dropTable('api_tokens').execute();
  await sql`alter table ${sql.table(temp)} rename to api_tokens`.execute(db);
  await db.schema.createIndex('api_tokens_id_idx').on('api_tokens').column('id').unique().execute();
  await db.schema.createIndex('api_tokens_clinic_idx').on('api_tokens').columns(['clinicId', 'createdAt']).execute();
}

/**
 * The daily rollup of closed cases (issue 9 §5: analytics under 1 s at 1,000,000 cases): counts per clinic, local day,
 * metric and cell, and which clinics' rollups are current. The tables start empty and no clinic's rollup is current:
 * the data half (connectors/db/analytics-rollup.ts `refreshRollups`, run at open) builds them from `cases`, because
 * what a case adds depends on the kinds' code, which a schema migration must not freeze. Open cases are read live, by
 * clinic and status.
 */
function analyticsRollup(): Migration {
  return {
    async up(db: AnyDb) {
      await db.schema
        .createTable('analytics_daily')
        .addColumn('clinicId', 'text', (c) => c.notNull().references('clinics.id'))
        .addColumn('day', 'text', (c) => c.notNull())
        .addColumn('metric', 'text', (c) => c.notNull())
        .addColumn('cell', 'text', (c) => c.notNull())
        .addColumn('protocolId', 'text')
        .addColumn('n', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('m', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('hist', 'text')
        .addPrimaryKeyConstraint('analytics_daily_pk', ['clinicId', 'day', 'metric', 'cell'])
        .execute();
      await db.schema
        .createTable('analytics_rollup_state')
        .addColumn('clinicId', 'text', (c) => c.primaryKey().references('clinics.id'))
        .addColumn('timezone', 'text', (c) => c.notNull())
        .addColumn('definitions', 'text', (c) => c.notNull())
        .addColumn('builtAt', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('cases_clinic_status_idx')
        .on('cases')
        .columns(['clinicId', 'status', 'createdAt', 'id'])
        .execute();
    },
  };
}

/**
 * Access monitoring (issue 10 §3). The audit log becomes tamper-evident: every row gets `prev_hash` and `hash`
 * (./audit-chain.ts), one chain per clinic and one for rows without a clinic, computed here for the rows that exist
 * (in id order) with the append-only trigger suspended for the backfill only, and by `insertAudit` from now on. The
 * token role `privacy` (a clinic's privacy officer; SQLite rebuilds `api_tokens` for the CHECK, as 0012 did). Indexes
 * for the access log; flag reviews and each clinic's access-monitoring thresholds.
 */
function accessMonitoring(dialect: DialectName): Migration {
  return {
    async up(db: AnyDb) {
      if (dialect === 'postgres') return accessMonitoringUp(db, dialect); // inside the migrator's transaction
      // kysely runs SQLite migrations outside a transaction; this one suspends the append-only trigger for its
      // backfill, so it runs all or nothing, in a savepoint (a failure leaves the database as it was, trigger and all).
      await sql`savepoint migration_0014`.execute(db);
      try {
        await accessMonitoringUp(db, dialect);
        await sql`release migration_0014`.execute(db);
      } catch (err) {
        await sql`rollback to migration_0014`.execute(db);
        await sql`release migration_0014`.execute(db);
        throw err;
      }
    },
  };
}

/** The steps of 0014 (see accessMonitoring). */
async function accessMonitoringUp(db: AnyDb, dialect: DialectName): Promise<void> {
  const roleCheck = sql`role in ('admin', 'doctor', 'nurse', 'pharmacist', 'pa', 'privacy')`;
  if (dialect === 'postgres') {
    await sql`alter table api_tokens drop constraint if exists api_tokens_role_check`.execute(db);
    await sql`alter table api_tokens add constraint api_tokens_role_check check (${roleCheck})`.execute(db);
  } else {
    await rebuildTokens(db, roleCheck, 'api_tokens_0014');
  }
  await db.schema.alterTable('audit_log').addColumn('prevHash', 'text').execute();
  await db.schema.alterTable('audit_log').addColumn('hash', 'text').execute();
  if (dialect === 'postgres') {
    await sql`alter table audit_log disable trigger audit_log_no_change`.execute(db);
    await chainAuditRows(db, dialect);
    await sql`alter table audit_log enable trigger audit_log_no_change`.execute(db);
  } else {
    await sql`drop trigger audit_log_no_update`.execute(db);
    await chainAuditRows(db, dialect);
    await sql`create trigger audit_log_no_update before update on audit_log
      begin select raise(abort, 'audit_log is append-only'); end`.execute(db);
  }
  // After the backfill, which would otherwise update these too (PostgreSQL rewrites every index of an updated row).
  // The access log and its flags read one clinic's rows by time, and by person and time; a patient's cases.
  await db.schema.createIndex('audit_log_clinic_at_idx').on('audit_log').columns(['clinicId', 'at', 'id']).execute();
  await db.schema
    .createIndex('audit_log_clinic_actor_idx')
    .on('audit_log')
    .columns(['clinicId', 'actorId', 'at', 'id'])
    .execute();
  await db.schema.createIndex('cases_clinic_patient_idx').on('cases').columns(['clinicId', 'patientId']).execute();
  // A flag's review (the flag itself is computed from the audit log, and keeps its id): one per flag.
  await db.schema
    .createTable('access_flag_reviews')
    .addColumn('clinicId', 'text', (c) => c.notNull().references('clinics.id'))
    .addColumn('flagId', 'text', (c) => c.notNull())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('note', 'text', (c) => c.notNull())
    .addColumn('evidenceTotal', 'integer', (c) => c.notNull())
    .addColumn('reviewedAt', 'text', (c) => c.notNull())
    .addColumn('reviewedBy', 'text', (c) => c.notNull())
    .addColumn('reviewedRole', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('access_flag_reviews_pk', ['clinicId', 'flagId'])
    .execute();
  // A clinic's thresholds (no row: the defaults of rules/access/flags.ts), versioned like signing policies.
  await db.schema
    .createTable('access_settings')
    .addColumn('clinicId', 'text', (c) => c.primaryKey().references('clinics.id'))
    .addColumn('settings', 'text', (c) => c.notNull())
    .addColumn('version', 'integer', (c) => c.notNull())
    .addColumn('updatedAt', 'text', (c) => c.notNull())
    .addColumn('updatedBy', 'text', (c) => c.notNull())
    .execute();
}

/** Hashes the audit rows that predate the chain, in id order, a page at a time (multi-row UPDATE … FROM VALUES). */
async function chainAuditRows(db: AnyDb, dialect: DialectName): Promise<void> {
  const heads = new Map<string | null, string>();
  const PAGE = 2000;
  const BATCH = 500; // 3 bound values per row: well under SQLite's 32,766 per statement
  let after = 0;
  for (;;) {
    const rows = (await db
      .selectFrom('audit_log')
      .select([
        'id',
        'at',
        'actorType',
        'actorId',
        'actorRole',
        'action',
        'clinicId',
        'caseId',
        'protocolId',
        'protocolVersion',
        'requestId',
        'idempotencyKey',
        'detail',
      ])
      .where('id', '>', after)
      .orderBy('id')
      .limit(PAGE)
      .execute()) as {
      id: number | string;
      at: string;
      actorType: string;
      actorId: string;
      actorRole: string | null;
      action: string;
      clinicId: string | null;
      caseId: string | null;
      protocolId: string | null;
      protocolVersion: number | string | null;
      requestId: string | null;
      idempotencyKey: string | null;
      detail: string;
    }[];
    const hashed = rows.map((r) => {
      const prevHash = heads.get(r.clinicId) ?? genesisHash(r.clinicId);
      const hash = rowHash(prevHash, {
        ...r,
        protocolVersion: r.protocolVersion === null ? null : Number(r.protocolVersion),
      });
      heads.set(r.clinicId, hash);
      return { id: Number(r.id), prevHash, hash };
    });
    for (let i = 0; i < hashed.length; i += BATCH) {
      const batch = hashed.slice(i, i + BATCH);
      if (dialect === 'postgres') {
        const values = sql.join(batch.map((b) => sql`(${b.id}::bigint, ${b.prevHash}, ${b.hash})`));
        await sql`update audit_log as a set prev_hash = v.p, hash = v.h from (values ${values}) as v(id, p, h)
          where a.id = v.id`.execute(db);
      } else {
        const values = sql.join(batch.map((b) => sql`(${b.id}, ${b.prevHash}, ${b.hash})`));
        await sql`update audit_log set prev_hash = v.column2, hash = v.column3 from (values ${values}) as v
          where audit_log.id = v.column1`.execute(db);
      }
    }
    if (rows.length < PAGE) return;
    after = Number(rows.at(-1)!.id);
  }
}

/**
 * FHIR Subscriptions (issue 12 §4): per clinic and Subscription, the highest event number seen and when, so that a gap
 * (a lost notification) starts a catch-up query of the topic's resources changed since then.
 */
function subscriptionEvents(): Migration {
  return {
    async up(db: AnyDb) {
      await db.schema
        .createTable('subscription_events')
        .addColumn('clinicId', 'text', (c) => c.notNull().references('clinics.id'))
        .addColumn('subscription', 'text', (c) => c.notNull())
        .addColumn('topic', 'text', (c) => c.notNull())
        .addColumn('highestEvent', 'integer', (c) => c.notNull())
        .addColumn('lastEventAt', 'text', (c) => c.notNull())
        .addColumn('updatedAt', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('subscription_events_pk', ['clinicId', 'subscription'])
        .execute();
    },
  };
}

/**
 * CDS Hooks clients (issue 12 §2): each EHR that calls our CDS services is registered for one clinic by its JWT
 * issuer (`iss`) and its public keys, a JWKS URL or an inline JWKS.
 */
function cdsClients(): Migration {
  return {
    async up(db: AnyDb) {
      await db.schema
        .createTable('cds_clients')
        .addColumn('iss', 'text', (c) => c.primaryKey())
        .addColumn('clinicId', 'text', (c) => c.notNull().references('clinics.id'))
        .addColumn('jwksUrl', 'text')
        .addColumn('jwks', 'text')
        .addColumn('createdAt', 'text', (c) => c.notNull())
        .execute();
    },
  };
}

/**
 * The `jti` of every CDS Hooks JWT accepted, until the token could no longer be accepted anyway (`expiresAt`): a token
 * replayed to any API replica is refused. Expired rows are deleted as calls come (connectors/db/cds-clients.ts).
 */
function cdsJtis(): Migration {
  return {
    async up(db: AnyDb) {
      await db.schema
        .createTable('cds_jtis')
        .addColumn('iss', 'text', (c) => c.notNull())
        .addColumn('jti', 'text', (c) => c.notNull())
        .addColumn('expiresAt', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('cds_jtis_pk', ['iss', 'jti'])
        .execute();
      await db.schema.createIndex('cds_jtis_expires_idx').on('cds_jtis').column('expiresAt').execute();
    },
  };
}

/**
 * The batch setting of a clinic's EHR connection (issue 12 §1): `auto` (probe when not advertised), `always` or
 * `never`. Existing clinics get `auto`, which is what every connector did before.
 */
function clinicFhirBatch(): Migration {
  return {
    async up(db: AnyDb) {
      await db.schema
        .alterTable('clinics')
        .addColumn('fhirBatch', 'text', (c) => c.notNull().defaultTo('auto'))
        .execute();
    },
  };
}

/**
 * SMART App Launch (issue 12 §3): each clinic's app client at its EHR, the mapping of EHR users (`fhirUser`) to console
 * users and roles, launches under way (state → PKCE verifier) and finished sign-ins waiting for the console.
 */
function smartAppLaunch(): Migration {
  return {
    async up(db: AnyDb) {
      await db.schema
        .createTable('smart_clients')
        .addColumn('clinicId', 'text', (c) => c.primaryKey().references('clinics.id'))
        .addColumn('clientId', 'text', (c) => c.notNull())
        .addColumn('createdAt', 'text', (c) => c.notNull())
        .addColumn('updatedAt', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('smart_users')
        .addColumn('clinicId', 'text', (c) => c.notNull().references('clinics.id'))
        .addColumn('fhirUser', 'text', (c) => c.notNull())
        .addColumn('userId', 'text', (c) => c.notNull())
        .addColumn('role', 'text', (c) => c.notNull())
        .addColumn('createdAt', 'text', (c) => c.notNull())
        .addColumn('updatedAt', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('smart_users_pk', ['clinicId', 'fhirUser'])
        .execute();
      for (const table of ['smart_launches', 'smart_handoffs'] as const) {
        let t = db.schema
          .createTable(table)
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('clinicId', 'text', (c) => c.notNull().references('clinics.id'));
        t =
          table === 'smart_launches'
            ? t
                .addColumn('clientId', 'text', (c) => c.notNull())
                .addColumn('redirectUri', 'text', (c) => c.notNull())
                .addColumn('tokenEndpoint', 'text', (c) => c.notNull())
                .addColumn('codeVerifier', 'text', (c) => c.notNull())
            : t
                .addColumn('userId', 'text', (c) => c.notNull())
                .addColumn('role', 'text', (c) => c.notNull())
                .addColumn('fhirUser', 'text', (c) => c.notNull())
                .addColumn('patientId', 'text');
        await t
          .addColumn('mode', 'text', (c) => c.notNull())
          .addColumn('createdAt', 'text', (c) => c.notNull())
          .addColumn('expiresAt', 'text', (c) => c.notNull())
          .execute();
        await db.schema.createIndex(`${table}_expires_idx`).on(table).column('expiresAt').execute();
      }
    },
  };
}

/** The app database's migrations, for kysely's Migrator. Names sort in application order. */
export function migrationProvider(dialect: DialectName): MigrationProvider {
  return {
    getMigrations: () =>
      Promise.resolve({
        '0001_initial': initial(dialect),
        '0002_clinic_onboarding': clinicOnboarding(),
        '0003_clinic_protocol_version': clinicProtocolVersion(),
        '0004_rate_limits': rateLimits(),
        '0005_token_lifecycle': tokenLifecycle(),
        '0006_simulation_jobs': simulationJobs(),
        '0007_case_kinds': caseKinds(dialect),
        '0008_protocol_kinds': protocolKinds(),
        '0009_value_sets': valueSets(),
        '0010_kind_switches': kindSwitches(),
        '0011_analytics_indexes': analyticsIndexes(),
        '0012_signing_policies': signingPolicies(dialect),
        '0013_analytics_rollup': analyticsRollup(),
        '0014_access_monitoring': accessMonitoring(dialect),
        '0015_subscription_events': subscriptionEvents(),
        '0016_cds_clients': cdsClients(),
        '0017_smart_app_launch': smartAppLaunch(),
        '0018_cds_jtis': cdsJtis(),
        '0019_clinic_fhir_batch': clinicFhirBatch(),
      }),
  };
}
