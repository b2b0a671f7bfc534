// The store's JSON columns (a case's decision, an event's or audit row's detail, a facts snapshot) are checked in
// place instead of through z.json(), which copies every node (issue 11): the same values must pass and fail.
import { runInNewContext } from 'node:vm';
import { describe, expect, test } from 'vitest';
import { z } from 'zod';
import { jsonRecord, jsonValue, nonJsonAt } from '../../connectors/db/dialect.ts';
import { AppError } from '../../rules/index.ts';
import { createStore } from '../../connectors/db/index.ts';
import { openTestDatabase } from '../helpers/db.ts';

const valid: unknown[] = [
  null,
  true,
  'x',
  0,
  -0,
  1.5,
  [],
  {},
  [1, [2, { b: 'x', c: null }]],
  Object.create(null) as object,
  Object.assign(Object.create({ inherited: 1 }) as object, { own: 1 }),
  // A plain object made in another realm (a vm context) is still a plain object.
  runInNewContext('({ a: [1, { b: "x" }] })') as unknown,
  { nested: { deep: [{ a: [true, false, 'y'] }] } },
];
const invalid: unknown[] = [
  undefined,
  NaN,
  Infinity,
  10n,
  () => 1,
  Symbol('s'),
  new Date(),
  new Map(),
  { a: undefined },
  [undefined],
  // A hole: JSON.stringify would write null where the value was missing.
  // eslint-disable-next-line no-sparse-arrays
  [1, , 3],
  { toJSON: () => 1 },
  new (class Point {
    x = 1;
  })(),
  { a: { b: [1, new Set()] } },
];

describe('JSON values checked in place', () => {
  test.each(valid.map((v) => [v]))('accepts what z.json() accepts: %o', (v) => {
    expect(z.json().safeParse(v).success).toBe(true);
    expect(jsonValue.safeParse(v).success).toBe(true);
  });

  test.each(invalid.map((v) => [v]))('refuses what z.json() refuses: %o', (v) => {
    expect(z.json().safeParse(v).success).toBe(false);
    expect(jsonValue.safeParse(v).success).toBe(false);
  });

  test('returns the value itself, not a copy', () => {
    const v = { a: [1, { b: 2 }] };
    expect(jsonValue.parse(v)).toBe(v);
    expect(jsonRecord.parse(v)).toBe(v);
  });

  test('names the first offending path', () => {
    expect(nonJsonAt({ a: { b: [1, 2, NaN] } })).toEqual(['a', 'b', 2]);
    const r = jsonValue.safeParse({ labs: [{ value: 1 }, { value: undefined }] });
    expect(r.success).toBe(false);
    expect(r.error!.issues[0]!.path).toEqual(['labs', 1, 'value']);
  });

  test('a cyclic or absurdly deep value is refused, not a stack overflow', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(jsonValue.safeParse(cyclic).success).toBe(false);
    let deep: unknown = 1;
    for (let i = 0; i < 1000; i++) deep = [deep];
    expect(jsonValue.safeParse(deep).success).toBe(false);
  });

  test('a record must be an object', () => {
    for (const v of [[], 'x', 1, null]) expect(jsonRecord.safeParse(v).success).toBe(false);
    expect(jsonRecord.safeParse({ a: 1 }).success).toBe(true);
  });

  test('a stored value is read back as parsed, however deep (reads are not walked again)', async () => {
    const t = await openTestDatabase('sqlite');
    try {
      let deep = '1';
      for (let i = 0; i < 1000; i++) deep = `[${deep}]`;
      await t.db.kysely
        .insertInto('facts_snapshots')
        .values({
          caseId: 'old-case',
          clinicId: 'c1',
          protocolId: 'fm',
          facts: `{"nested":${deep}}`,
          decision: '{}',
          recordedAt: '2026-01-01T00:00:00.000Z',
        })
        .execute();
      const [row] = await createStore(t.db).snapshots.list({ clinicId: 'c1', protocolId: 'fm' });
      expect(JSON.stringify(row!.facts)).toBe(`{"nested":${deep}}`);
    } finally {
      await t.cleanup();
    }
  });

  test('the store refuses a non-JSON value with its path, and writes nothing', async () => {
    const t = await openTestDatabase('sqlite');
    try {
      const store = createStore(t.db);
      const put = store.snapshots.put({
        caseId: 'case-1',
        clinicId: 'c1',
        protocolId: 'fm',
        facts: { labs: [{ at: new Date() }] } as never,
        decision: {},
      });
      const err: unknown = await put.catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AppError);
      expect((err as AppError).code).toBe('INVALID_INPUT');
      expect((err as AppError).message).toContain('$.facts.labs[0].at');
      expect(await store.snapshots.count({ clinicId: 'c1', protocolId: 'fm' })).toBe(0);
    } finally {
      await t.cleanup();
    }
  });
});
