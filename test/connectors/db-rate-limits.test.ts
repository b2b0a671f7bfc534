// Rate-limit counters in the app database, on both dialects: what makes a limit hold across API replicas.
import { afterAll, beforeAll, describe, expect, inject, test } from 'vitest';
import { createRateLimitRepo, DbRateLimitStore, openDatabase, type Db } from '../../connectors/db/index.ts';
import { openTestDatabase, type TestDatabase } from '../helpers/db.ts';

const postgresUrl = inject('postgresUrl');
const dialects = [
  { dialect: 'sqlite' as const, adminUrl: undefined, skip: false },
  { dialect: 'postgres' as const, adminUrl: postgresUrl, skip: postgresUrl === undefined },
];

describe.each(dialects)('rate-limit counters on $dialect', ({ dialect, adminUrl, skip }) => {
  let t: TestDatabase;
  let second: Db;

  beforeAll(async () => {
    if (skip) return;
    t = await openTestDatabase(dialect, adminUrl);
    // A second connection (pool) to the same database: another API replica.
    second = await openDatabase(t.options);
  });
  afterAll(async () => {
    await second?.close();
    await t?.cleanup();
  });

  test.skipIf(skip)('a window counts up, ends, and a new one starts at 1', async () => {
    const repo = createRateLimitRepo(t.db);
    const t0 = new Date('2026-01-01T00:00:00.000Z');
    const at = (ms: number) => new Date(t0.getTime() + ms);
    expect(await repo.hit('w', 60_000, t0)).toEqual({ hits: 1, resetAt: at(60_000) });
    expect(await repo.hit('w', 60_000, at(1_000))).toEqual({ hits: 2, resetAt: at(60_000) });
    await repo.unhit('w', at(2_000));
    expect((await repo.hit('w', 60_000, at(3_000))).hits).toBe(2);
    // The window's end is exclusive: at resetAt a new window starts.
    expect(await repo.hit('w', 60_000, at(60_000))).toEqual({ hits: 1, resetAt: at(120_000) });
  });

  test.skipIf(skip)('concurrent hits from two replicas are all counted', async () => {
    const a = createRateLimitRepo(t.db);
    const b = createRateLimitRepo(second);
    const now = new Date();
    const results = await Promise.all(
      Array.from({ length: 40 }, (_, i) => (i % 2 === 0 ? a : b).hit('race', 60_000, now)),
    );
    // Every hit got its own count: 1..40, no lost update.
    expect(results.map((r) => r.hits).sort((x, y) => x - y)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
  });

  test.skipIf(skip)('ended windows are deleted; running ones stay', async () => {
    const repo = createRateLimitRepo(t.db);
    const now = new Date('2027-01-01T00:00:00.000Z');
    await repo.hit('old', 1_000, new Date(now.getTime() - 5_000));
    await repo.hit('live', 60_000, now);
    expect(await repo.deleteExpired(now)).toBeGreaterThanOrEqual(1);
    const rows = await t.db.kysely.selectFrom('rate_limits').select('bucket').execute();
    expect(rows.map((r) => r.bucket)).toContain('live');
    expect(rows.map((r) => r.bucket)).not.toContain('old');
  });

  test.skipIf(skip)(
    'the hono-rate-limiter store prefixes buckets and sweeps ended windows once per window',
    async () => {
      let clock = new Date('2028-01-01T00:00:00.000Z');
      const store = new DbRateLimitStore(t.db, { prefix: 'ip', now: () => clock });
      store.init({ windowMs: 10_000 });
      expect(await store.increment('203.0.113.7')).toEqual({
        totalHits: 1,
        resetTime: new Date('2028-01-01T00:00:10.000Z'),
      });
      expect((await store.increment('203.0.113.7')).totalHits).toBe(2);
      await store.decrement('203.0.113.7');
      expect((await store.increment('203.0.113.7')).totalHits).toBe(2);
      const buckets = async () =>
        (await t.db.kysely.selectFrom('rate_limits').select('bucket').execute()).map((r) => r.bucket);
      expect(await buckets()).toContain('ip:203.0.113.7');
      clock = new Date('2028-01-01T00:00:30.000Z');
      await store.increment('198.51.100.1');
      expect(await buckets()).not.toContain('ip:203.0.113.7');
    },
  );

  test.skipIf(skip)('a database that cannot count lets the request through and reports the error', async () => {
    const closed = await openDatabase(t.options);
    await closed.close();
    const errors: unknown[] = [];
    const store = new DbRateLimitStore(closed, { prefix: 'ip', onError: (e) => errors.push(e) });
    store.init({ windowMs: 60_000 });
    expect((await store.increment('x')).totalHits).toBe(0);
    expect(errors).toHaveLength(1);
  });
});
