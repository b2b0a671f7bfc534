import type { Env } from 'hono';
import type { ClientRateLimitInfo, HonoConfigType, Store } from 'hono-rate-limiter';
import { sql } from 'kysely';
import { dbInt } from './dialect.ts';
import type { Db } from './open.ts';

export interface RateLimitRepo {
  /**
   * Counts one hit on `bucket` in its current fixed window, starting a new window of `windowMs` when the last one
   * has ended. One statement (INSERT … ON CONFLICT DO UPDATE … RETURNING), atomic on SQLite and PostgreSQL, so
   * concurrent hits from any number of API replicas are all counted.
   */
  hit(bucket: string, windowMs: number, now?: Date): Promise<{ hits: number; resetAt: Date }>;
  /** Takes one hit back from a window still running (never below zero). */
  unhit(bucket: string, now?: Date): Promise<void>;
  /** Forgets a bucket. */
  reset(bucket: string): Promise<void>;
  /** Deletes the buckets whose window ended before `now`; returns how many. */
  deleteExpired(now?: Date): Promise<number>;
}

/** Fixed-window hit counters in the app database (table `rate_limits`, migration 0004). */
export function createRateLimitRepo({ kysely }: Db): RateLimitRepo {
  return {
    async hit(bucket, windowMs, now = new Date()) {
      const at = now.toISOString();
      const next = new Date(now.getTime() + windowMs).toISOString();
      // In ON CONFLICT DO UPDATE, `rate_limits.<column>` is the stored row (before this update) on both dialects.
      const ended = sql<boolean>`${sql.ref('rate_limits.resetAt')} <= ${at}`;
      const row = await kysely
        .insertInto('rate_limits')
        .values({ bucket, hits: 1, resetAt: next })
        .onConflict((oc) =>
          oc.column('bucket').doUpdateSet({
            hits: sql<number>`case when ${ended} then 1 else ${sql.ref('rate_limits.hits')} + 1 end`,
            resetAt: sql<string>`case when ${ended} then ${next} else ${sql.ref('rate_limits.resetAt')} end`,
          }),
        )
        .returning(['hits', 'resetAt'])
        .executeTakeFirstOrThrow();
      return { hits: dbInt.parse(row.hits), resetAt: new Date(row.resetAt) };
    },
    async unhit(bucket, now = new Date()) {
      await kysely
        .updateTable('rate_limits')
        .set({ hits: sql<number>`${sql.ref('hits')} - 1` })
        .where('bucket', '=', bucket)
        .where('hits', '>', 0)
        .where('resetAt', '>', now.toISOString())
        .execute();
    },
    async reset(bucket) {
      await kysely.deleteFrom('rate_limits').where('bucket', '=', bucket).execute();
    },
    async deleteExpired(now = new Date()) {
      const r = await kysely.deleteFrom('rate_limits').where('resetAt', '<=', now.toISOString()).executeTakeFirst();
      return Number(r.numDeletedRows);
    },
  };
}

export interface DbRateLimitStoreOptions {
  /** Names the limiter; buckets are `<prefix>:<key>`. */
  prefix: string;
  /** Called when the database fails; the request is then let through (see `increment`). */
  onError?: (err: unknown) => void;
  now?: () => Date;
}

/**
 * A hono-rate-limiter `Store` over the app database, so a limit holds across every API replica (its MemoryStore
 * would give each replica its own count). Once per window each process deletes the buckets whose window has ended.
 *
 * If the database cannot count, the request is let through (`totalHits: 0`) and `onError` is told: a broken
 * counter should not turn into an outage of every route, and the routes that need the database fail on their own.
 */
export class DbRateLimitStore<E extends Env = Env> implements Store<E> {
  readonly localKeys = false;
  readonly prefix: string;
  private windowMs = 60_000;
  private lastSweep = 0;
  private readonly repo: RateLimitRepo;
  private readonly onError: (err: unknown) => void;
  private readonly now: () => Date;

  constructor(db: Db, options: DbRateLimitStoreOptions) {
    this.repo = createRateLimitRepo(db);
    this.prefix = options.prefix;
    this.onError = options.onError ?? (() => undefined);
    this.now = options.now ?? (() => new Date());
  }

  init(options: Pick<HonoConfigType<E>, 'windowMs'>): void {
    this.windowMs = options.windowMs;
  }

  async increment(key: string): Promise<ClientRateLimitInfo> {
    const now = this.now();
    try {
      const { hits, resetAt } = await this.repo.hit(this.bucket(key), this.windowMs, now);
      if (now.getTime() - this.lastSweep >= this.windowMs) {
        this.lastSweep = now.getTime();
        await this.repo.deleteExpired(now);
      }
      return { totalHits: hits, resetTime: resetAt };
    } catch (err) {
      this.onError(err);
      return { totalHits: 0, resetTime: new Date(now.getTime() + this.windowMs) };
    }
  }

  async decrement(key: string): Promise<void> {
    try {
      await this.repo.unhit(this.bucket(key), this.now());
    } catch (err) {
      this.onError(err);
    }
  }

  async resetKey(key: string): Promise<void> {
    await this.repo.reset(this.bucket(key));
  }

  private bucket(key: string): string {
    return `${this.prefix}:${key}`;
  }
}
