// Value-set expansions and sweep-schedule sync hashes on both dialects: an expansion is stored by content hash (the
// same codes in another order hash the same; an old hash stays readable after a newer load or a removal), one is in
// force per clinic and value set, and each change writes its audit row in the same transaction.
import { afterAll, beforeAll, describe, expect, inject, test } from 'vitest';
import { createStore, type Store } from '../../connectors/db/index.ts';
import { expansionHash } from '../../connectors/db/value-sets.ts';
import { openTestDatabase, type TestDatabase } from '../helpers/db.ts';

const postgresUrl = inject('postgresUrl');
const dialects = [
  { dialect: 'sqlite' as const, adminUrl: undefined, skip: false },
  { dialect: 'postgres' as const, adminUrl: postgresUrl, skip: postgresUrl === undefined },
];
const S = 'http://snomed.info/sct';

describe.each(dialects)('value-set expansions on $dialect', ({ dialect, adminUrl, skip }) => {
  let t: TestDatabase;
  let store: Store;
  beforeAll(async () => {
    if (skip) return;
    t = await openTestDatabase(dialect, adminUrl);
    store = createStore(t.db);
    for (const id of ['c1', 'c2'])
      await t.db.kysely
        .insertInto('clinics')
        .values({
          id,
          name: id,
          webhookSecret: 'whsec_0123456789abcdef',
          previousWebhookSecret: null,
          previousWebhookSecretExpiresAt: null,
          fhirBaseUrl: 'https://ehr.example.org/fhir/R4',
          fhirClientId: 'c',
          fhirPrivateKeyJwk: null,
          fhirPublicJwk: null,
          fhirTokenUrl: null,
          protocolId: 'p',
          protocolVersion: null,
          nurseSlaSeconds: 3600,
          timezone: 'UTC',
          createdAt: '2026-01-01T00:00:00.000Z',
          updatedAt: '2026-01-01T00:00:00.000Z',
        })
        .execute();
  });
  afterAll(async () => {
    await t?.cleanup();
  });

  test.skipIf(skip)('stored by content hash, one in force per clinic and id, audited in the transaction', async () => {
    const a = [
      { system: S, code: '2', display: 'two' },
      { system: S, code: '1' },
    ];
    const first = await store.valueSets.put(
      { clinicId: 'c1', valueSetId: 'colonoscopy', source: 'vs|1', codes: a, by: 'admin-1' },
      (r, changed) => ({
        actorType: 'user',
        actorId: 'admin-1',
        action: 'value_set.loaded',
        clinicId: 'c1',
        detail: { hash: r.hash, changed },
      }),
    );
    expect(first.changed).toBe(true);
    expect(first.record).toMatchObject({ clinicId: 'c1', valueSetId: 'colonoscopy', codeCount: 2, source: 'vs|1' });
    expect(first.record.hash).toBe(expansionHash([...a].reverse()));
    const same = await store.valueSets.put({
      clinicId: 'c1',
      valueSetId: 'colonoscopy',
      source: 'vs|2',
      codes: [...a].reverse(),
      by: 'admin-2',
    });
    expect(same).toMatchObject({
      changed: false,
      record: { hash: first.record.hash, source: 'vs|2', updatedBy: 'admin-2' },
    });
    expect((await store.valueSets.get('c1', 'colonoscopy'))?.codes).toEqual([
      { system: S, code: '1' },
      { system: S, code: '2', display: 'two' },
    ]);

    const next = await store.valueSets.put({
      clinicId: 'c1',
      valueSetId: 'colonoscopy',
      source: 'vs|3',
      codes: [{ system: S, code: '3' }],
      by: 'admin-1',
    });
    expect(next.changed).toBe(true);
    expect(next.record.hash).not.toBe(first.record.hash);
    await store.valueSets.put({
      clinicId: 'c1',
      valueSetId: 'frailty',
      source: 'f',
      codes: [{ system: S, code: '9' }],
      by: 'admin-1',
    });
    expect((await store.valueSets.list('c1')).map((r) => r.valueSetId)).toEqual(['colonoscopy', 'frailty']);
    expect(await store.valueSets.list('c2')).toEqual([]);
    expect(
      (await store.valueSets.current('c1', ['colonoscopy', 'hospice'])).map((e) => [e.valueSetId, e.hash, e.codes]),
    ).toEqual([['colonoscopy', next.record.hash, [{ system: S, code: '3' }]]]);
    expect(await store.valueSets.current('c2', ['colonoscopy'])).toEqual([]);
    // Every loaded expansion stays, by hash (an evaluation that recorded one can be explained).
    const kept = await t.db.kysely
      .selectFrom('value_set_expansions')
      .select('hash')
      .where('clinicId', '=', 'c1')
      .execute();
    expect(kept.map((r) => r.hash).sort()).toEqual(
      [first.record.hash, next.record.hash, (await store.valueSets.get('c1', 'frailty'))!.hash].sort(),
    );

    expect(
      await store.valueSets.remove('c1', 'colonoscopy', (r) => ({
        actorType: 'user',
        actorId: 'admin-1',
        action: 'value_set.removed',
        clinicId: 'c1',
        detail: { hash: r.hash },
      })),
    ).toBe(true);
    expect(await store.valueSets.remove('c1', 'colonoscopy')).toBe(false);
    expect(await store.valueSets.get('c1', 'colonoscopy')).toBeNull();
    const audit = (await store.audit.listAudit({ clinicId: 'c1' })).items.map((a) => [a.action, a.detail]);
    expect(audit).toEqual([
      ['value_set.removed', { hash: next.record.hash }],
      ['value_set.loaded', { hash: first.record.hash, changed: true }],
    ]);
  });

  test.skipIf(skip)('a failed audit leaves no half-written load', async () => {
    await expect(
      store.valueSets.put(
        { clinicId: 'c2', valueSetId: 'hospice', source: 's', codes: [{ system: S, code: '1' }], by: 'a' },
        () => ({
          actorType: 'user',
          actorId: '',
          action: 'value_set.loaded',
        }),
      ),
    ).rejects.toThrow();
    expect(await store.valueSets.get('c2', 'hospice')).toBeNull();
  });

  test.skipIf(skip)('bad input is refused with a path; an unknown clinic is refused', async () => {
    await expect(
      store.valueSets.put({
        clinicId: 'c1',
        valueSetId: 'Not Kebab',
        source: 's',
        codes: [{ system: S, code: '1' }],
        by: 'a',
      }),
    ).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    await expect(
      store.valueSets.put({ clinicId: 'c1', valueSetId: 'x', source: 's', codes: [], by: 'a' }),
    ).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    await expect(
      store.valueSets.put({
        clinicId: 'nope',
        valueSetId: 'x',
        source: 's',
        codes: [{ system: S, code: '1' }],
        by: 'a',
      }),
    ).rejects.toThrow();
  });

  test.skipIf(skip)('sweep-schedule sync hashes: put, replace, remove', async () => {
    expect(await store.sweepSyncs.all()).toEqual(new Map());
    await store.sweepSyncs.put('c1', 'h1');
    await store.sweepSyncs.put('c2', 'h2');
    await store.sweepSyncs.put('c1', 'h3');
    expect(await store.sweepSyncs.all()).toEqual(
      new Map([
        ['c1', 'h3'],
        ['c2', 'h2'],
      ]),
    );
    await store.sweepSyncs.remove('c2');
    expect(await store.sweepSyncs.all()).toEqual(new Map([['c1', 'h3']]));
  });
});
