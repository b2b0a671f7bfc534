// The one place where SQLite and PostgreSQL differ: driver errors, row locks, and how a column is encoded.
import { z } from 'zod';
import { AppError, jsonPath } from '../../rules/index.ts';

export type DialectName = 'sqlite' | 'postgres';

/** Picks the dialect from a DATABASE_URL: unset means embedded SQLite; anything but postgres(ql):// is refused. */
export function dialectFromUrl(databaseUrl: string | undefined): DialectName {
  if (databaseUrl === undefined || databaseUrl === '') return 'sqlite';
  if (/^postgres(ql)?:\/\//.test(databaseUrl)) return 'postgres';
  throw new AppError(
    'CONFIG_INVALID',
    'DATABASE_URL must start with postgres:// or postgresql:// (or be unset for SQLite)',
  );
}

// SQLite: better-sqlite3 SqliteError.code; PostgreSQL: SQLSTATE in pg's DatabaseError.code.
const UNIQUE_CODES = new Set(['SQLITE_CONSTRAINT_UNIQUE', 'SQLITE_CONSTRAINT_PRIMARYKEY', '23505']);
const FOREIGN_KEY_CODES = new Set(['SQLITE_CONSTRAINT_FOREIGNKEY', '23503']);

function driverCode(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null || !('code' in err)) return undefined;
  return typeof err.code === 'string' ? err.code : undefined;
}

/**
 * Maps a driver error to the service's vocabulary: unique → CONFLICT, foreign key → INVALID_INPUT. Anything else is
 * rethrown untouched (connection failures stay plain errors, which Temporal retries). Driver messages are dropped on
 * purpose: PostgreSQL puts key values in them.
 */
export function toDbError(err: unknown, what: string): unknown {
  const code = driverCode(err);
  if (code !== undefined && UNIQUE_CODES.has(code)) {
    return new AppError('CONFLICT', `${what} already exists`, { cause: err });
  }
  if (code !== undefined && FOREIGN_KEY_CODES.has(code)) {
    return new AppError('INVALID_INPUT', `${what} refers to a row that does not exist`, { cause: err });
  }
  return err;
}

/** Runs a statement and maps constraint violations (see toDbError). */
export async function mapDbErrors<T>(what: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    throw toDbError(err, what);
  }
}

/**
 * Whether a read inside a transaction must take a row lock. PostgreSQL needs `FOR UPDATE` to serialise concurrent
 * read-modify-write; SQLite has no such clause and serialises writers on the database lock instead.
 */
export function needsRowLock(dialect: DialectName): boolean {
  return dialect === 'postgres';
}

/** A timestamp as stored: ISO-8601 in UTC with milliseconds, so text order is time order. */
export const isoUtc = z.iso.datetime({ offset: true }).transform((s) => new Date(s).toISOString());

/** The current time as stored. */
export function nowIso(): string {
  return new Date().toISOString();
}

/** Booleans are INTEGER 0/1 on both dialects. */
export const toDbBool = (v: boolean): number => (v ? 1 : 0);
export const dbBool = z
  .number()
  .int()
  .transform((v) => v !== 0);

/** JSON columns are TEXT on both dialects; stringify on write. */
export const toJsonText = (value: unknown): string => JSON.stringify(value);

/** A TEXT column holding JSON, parsed and then validated by `schema`. */
export function jsonText<T extends z.ZodType>(schema: T) {
  return z
    .string()
    .transform((s, ctx) => {
      try {
        return JSON.parse(s) as unknown;
      } catch {
        ctx.addIssue({ code: 'custom', message: 'stored value is not JSON' });
        return z.NEVER;
      }
    })
    .pipe(schema);
}

/** int8 ids arrive as strings from pg and as numbers from better-sqlite3. */
export const dbInt = z.union([
  z.number().int(),
  z
    .string()
    .regex(/^-?\d+$/)
    .transform(Number),
]);

/** Validates a repository input; failures become INVALID_INPUT with JSON paths (no values, so no PHI). */
export function parseInput<T extends z.ZodType>(schema: T, input: unknown, what: string): z.output<T> {
  const parsed = schema.safeParse(input);
  if (parsed.success) return parsed.data;
  const issues = parsed.error.issues.map((i) => ({ path: jsonPath(i.path), message: i.message }));
  throw new AppError('INVALID_INPUT', `Invalid ${what}: ${issues.map((i) => `${i.path} ${i.message}`).join('; ')}`, {
    issues,
  });
}
