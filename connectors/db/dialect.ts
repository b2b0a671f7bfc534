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

/** A JSON value: what `z.json()` accepts. */
export type JsonValue = z.output<ReturnType<typeof z.json>>;

/** An object (not an array, not null): the shape of a `detail` column. */
function isJsonObject(value: unknown): boolean {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Deeper than this is refused (and a cyclic object stops here instead of overflowing the stack). */
const MAX_JSON_DEPTH = 256;

/**
 * Where `value` stops being a JSON value (a path below it), or null when it is one: strings, booleans, null, finite
 * numbers, arrays of JSON values (no holes) and plain objects of JSON values, as `z.json()` accepts them (deeper than
 * 256 levels excepted). Reads without copying.
 */
export function nonJsonAt(value: unknown, depth = 0): (string | number)[] | null {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return null;
    case 'number':
      return Number.isFinite(value) ? null : [];
    case 'object': {
      if (value === null) return null;
      if (depth >= MAX_JSON_DEPTH) return [];
      if (Array.isArray(value)) {
        for (let i = 0; i < value.length; i++) {
          if (!(i in value)) return [i];
          const at = nonJsonAt(value[i], depth + 1);
          if (at !== null) return [i, ...at];
        }
        return null;
      }
      // zod's own test of a plain object (a class instance, a Map or a Date is not; one from another realm is).
      if (!z.core.util.isPlainObject(value)) return [];
      for (const key of Object.keys(value)) {
        const at = nonJsonAt((value as Record<string, unknown>)[key], depth + 1);
        if (at !== null) return [key, ...at];
      }
      return null;
    }
    case 'undefined':
    case 'bigint':
    case 'function':
    case 'symbol':
      return [];
  }
}

/** The issue of a value that is not JSON, at the first offending path. */
function refuseNonJson(value: unknown, ctx: z.RefinementCtx): void {
  const at = nonJsonAt(value);
  if (at !== null) ctx.addIssue({ code: 'custom', message: 'Invalid JSON value', path: at });
}

/**
 * A JSON value (`z.json()`'s contract), checked in place: `z.json()` copies every node of the value through a union of
 * schemas, which on a case's decision or facts is a measurable part of each write (issue 11). The issue names the
 * first offending path.
 */
export const jsonValue = z.custom<JsonValue>().superRefine(refuseNonJson);

/** An object of JSON values (an event's or an audit row's `detail`), checked in place. */
export const jsonRecord = z
  .custom<Record<string, JsonValue>>(isJsonObject, 'Expected an object of JSON values')
  .superRefine(refuseNonJson);

/**
 * What `JSON.parse` gave back from a JSON column: a JSON value by construction (no cycles, no holes, nothing a parse
 * can produce that z.json() refuses), so reads are not walked again; a value written before would otherwise fail to
 * read only for being deep.
 */
export const parsedJson = z.custom<JsonValue>();

/** An object from a JSON column (an event's or an audit row's `detail`): only its shape is checked. */
export const parsedJsonRecord = z.custom<Record<string, JsonValue>>(isJsonObject, 'Expected an object of JSON values');

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
