// A fresh app database per test file, on either dialect.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { openDatabase, type Db } from '../../connectors/db/index.ts';

export interface TestDatabase {
  db: Db;
  /** The options it was opened with, to open it again (e.g. to check migrations are idempotent). */
  options: { databaseUrl?: string; dataDir: string };
  /** Closes the connection and removes the database (temp dir or `DROP DATABASE`). */
  cleanup(): Promise<void>;
}

/**
 * Opens a new, empty, migrated database: SQLite in a temp dir, or a `test_<random>` database created on the
 * PostgreSQL server at `adminUrl` (the URL the postgres global setup provides).
 */
export async function openTestDatabase(dialect: 'sqlite' | 'postgres', adminUrl?: string): Promise<TestDatabase> {
  const dataDir = mkdtempSync(join(tmpdir(), 'ehr-autopilot-db-'));
  if (dialect === 'sqlite') {
    const options = { dataDir };
    const db = await openDatabase(options);
    return {
      db,
      options,
      async cleanup() {
        await db.close();
        rmSync(dataDir, { recursive: true, force: true });
      },
    };
  }
  if (adminUrl === undefined) throw new Error('postgres test database requested without an admin URL');
  const name = `test_${randomBytes(6).toString('hex')}`;
  await withAdmin(adminUrl, (c) => c.query(`create database ${name}`));
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  const options = { databaseUrl: url.toString(), dataDir };
  const db = await openDatabase(options);
  return {
    db,
    options,
    async cleanup() {
      await db.close();
      await withAdmin(adminUrl, (c) => c.query(`drop database if exists ${name} with (force)`));
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

async function withAdmin(adminUrl: string, fn: (c: pg.Client) => Promise<unknown>): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await fn(client);
  } finally {
    await client.end();
  }
}
