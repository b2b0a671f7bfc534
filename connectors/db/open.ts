import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { CamelCasePlugin, Kysely, Migrator, PostgresDialect, SqliteDialect, sql, type SqliteDatabase } from 'kysely';
import { LRUCache } from 'lru-cache';
import pg from 'pg';
import type { Logger } from '../logger.ts';
import type { SecretBox } from '../secret-box.ts';
import { refreshRollups } from './analytics-rollup.ts';
import { sealPlaintextClinicSecrets } from './clinics.ts';
import { dialectFromUrl, type DialectName } from './dialect.ts';
import { migrationProvider } from './migrations.ts';
import type { Database } from './schema.ts';

/** An open app database: the query builder, which dialect it speaks, a health probe and a way to close it. */
export interface Db {
  kysely: Kysely<Database>;
  dialect: DialectName;
  /**
   * Encrypts clinic secrets (webhook secrets) on write and decrypts them on read. Absent (tests, the CLI): secrets
   * are written as given and encrypted ones are read back as ciphertext. The API and the worker always set it.
   */
  secrets?: SecretBox;
  /** Resolves when the database answers a trivial query; rejects otherwise (used by GET /health). */
  ping(): Promise<void>;
  close(): Promise<void>;
}

export interface OpenDatabaseOptions {
  /** Unset: SQLite at `$dataDir/app.db`. `postgres://…` or `postgresql://…`: PostgreSQL. */
  databaseUrl?: string | undefined;
  dataDir: string;
  /** PostgreSQL pool size per process (default 10). */
  poolSize?: number;
  logger?: Logger;
  /** The deployment's secret box: clinic secrets are encrypted with it, and plaintext ones left by older versions are sealed at open. */
  secrets?: SecretBox;
}

/**
 * Runs the pending migrations. On PostgreSQL kysely's advisory lock serialises processes. On SQLite its lock is
 * per connection only, so the API and the worker opening one fresh file at the same moment could both run a
 * migration; the loser's transaction (all pending migrations, rolled back as one) fails ("table … already exists" or
 * a busy snapshot), and a retry then finds them applied.
 */
async function migrate(kysely: Kysely<Database>, dialect: DialectName): Promise<void> {
  const attempts = dialect === 'sqlite' ? 5 : 1;
  for (let attempt = 1; ; attempt++) {
    const { error } = await new Migrator({ db: kysely, provider: migrationProvider(dialect) }).migrateToLatest();
    if (error === undefined) return;
    if (attempt >= attempts) throw error instanceof Error ? error : new Error('migration failed', { cause: error });
    await new Promise((resolve) => setTimeout(resolve, 50 * attempt));
  }
}

/**
 * Opens the app database and brings its schema up to date before returning.
 *
 * SQLite is the embedded default (WAL, busy timeout, foreign keys on); PostgreSQL is for several API/worker replicas.
 * Migrations are safe to run from every process at start: kysely takes a migration lock (an advisory lock on
 * PostgreSQL) and skips what already ran.
 *
 * @throws AppError `CONFIG_INVALID` for a DATABASE_URL that is neither unset nor postgres.
 */
/**
 * better-sqlite3 behind kysely with its prepared statements kept: kysely prepares every query it runs, and compiling
 * the same SQL again is a measurable part of a case step's cost. Keyed by the SQL text (values are bound, never in
 * it), bounded. Safe because better-sqlite3 runs a statement to completion synchronously; nothing here streams.
 */
function cachingStatements(sqlite: BetterSqlite3.Database): SqliteDatabase {
  const statements = new LRUCache<string, BetterSqlite3.Statement>({ max: 500 });
  return {
    close: () => sqlite.close(),
    prepare(sqlText: string) {
      let statement = statements.get(sqlText);
      if (!statement) {
        statement = sqlite.prepare(sqlText);
        statements.set(sqlText, statement);
      }
      return statement;
    },
  };
}

export async function openDatabase(opts: OpenDatabaseOptions): Promise<Db> {
  const dialect = dialectFromUrl(opts.databaseUrl);
  const plugins = [new CamelCasePlugin()];
  let kysely: Kysely<Database>;
  if (dialect === 'postgres') {
    const pool = new pg.Pool({ connectionString: opts.databaseUrl, max: opts.poolSize ?? 10 });
    // An idle client losing its connection emits 'error' on the pool; unhandled, that would kill the process.
    pool.on('error', (err) => opts.logger?.warn({ err: { message: err.message } }, 'postgres idle client error'));
    kysely = new Kysely<Database>({ dialect: new PostgresDialect({ pool }), plugins });
  } else {
    mkdirSync(opts.dataDir, { recursive: true });
    const sqlite = new BetterSqlite3(join(opts.dataDir, 'app.db'));
    sqlite.pragma('journal_mode = WAL');
    sqlite.pragma('busy_timeout = 5000');
    sqlite.pragma('foreign_keys = ON');
    sqlite.pragma('synchronous = NORMAL'); // safe with WAL: a crash may lose the last commit, never corrupt
    kysely = new Kysely<Database>({ dialect: new SqliteDialect({ database: cachingStatements(sqlite) }), plugins });
  }

  try {
    await migrate(kysely, dialect);
    // The data half of the webhook-secret migration: it needs the deployment's key, which schema migrations never see.
    if (opts.secrets) await sealPlaintextClinicSecrets(kysely, opts.secrets);
    // The data half of the analytics rollup (migration 0013): clinics whose rollup is missing or stale are rebuilt.
    await refreshRollups(kysely, dialect);
  } catch (err) {
    await kysely.destroy();
    throw err;
  }

  return {
    kysely,
    dialect,
    ...(opts.secrets ? { secrets: opts.secrets } : {}),
    async ping() {
      await sql`select 1`.execute(kysely);
    },
    close: () => kysely.destroy(),
  };
}
