// Subscription event numbers in the app database (migration 0015), on both dialects: the number only rises (unless a
// handshake resets it), and the instant we were last up to date moves only with it, also under concurrent writes.
import { afterAll, beforeAll, describe, expect, inject, test } from 'vitest';
import { ensureBuiltinProtocols } from '../../api/seed.ts';
import { loadConfig } from '../../connectors/config.ts';
import { createStore, type Store } from '../../connectors/db/index.ts';
import { createLogger } from '../../connectors/logger.ts';
import { openTestDatabase, type TestDatabase } from '../helpers/db.ts';

const postgresUrl = inject('postgresUrl');
const dialects = [
  { dialect: 'sqlite' as const, adminUrl: undefined, skip: false },
  { dialect: 'postgres' as const, adminUrl: postgresUrl, skip: postgresUrl === undefined },
];

describe.each(dialects)('subscription event numbers on $dialect', ({ dialect, adminUrl, skip }) => {
  let t: TestDatabase;
  let store: Store;
  beforeAll(async () => {
    if (skip) return;
    t = await openTestDatabase(dialect, adminUrl);
    store = createStore(t.db);
    await ensureBuiltinProtocols(store, createLogger(loadConfig({ LOG_LEVEL: 'silent' }), 'test'));
    await store.clinics.upsert({
      id: 'sub-db',
      name: 'c',
      webhookSecret: 'subscription-db-secret-0123456789',
      fhirBaseUrl: 'http://127.0.0.1:9/fhir/R4',
      fhirClientId: 'x',
      fhirPrivateKeyJwk: null,
      fhirTokenUrl: null,
      protocolId: 'family-medicine-2015',
      nurseSlaSeconds: 60,
      timezone: 'UTC',
    });
  });
  afterAll(async () => {
    await t?.cleanup();
  });

  const at = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s)).toISOString();
  const base = { clinicId: 'sub-db', subscription: 'https://ehr.example.org/fhir/Subscription/a', topic: 'refill' };

  test.skipIf(skip)('rises, never falls; a handshake resets; the time moves only with the number', async () => {
    expect(await store.subscriptions.get('sub-db', base.subscription)).toBeNull();
    await store.subscriptions.advance({ ...base, highestEvent: 0, at: at(0), reset: true });
    await store.subscriptions.advance({ ...base, highestEvent: 5, at: at(5) });
    expect(await store.subscriptions.get('sub-db', base.subscription)).toEqual({
      ...base,
      highestEvent: 5,
      lastEventAt: at(5),
    });
    await store.subscriptions.advance({ ...base, highestEvent: 3, at: at(9) });
    expect(await store.subscriptions.get('sub-db', base.subscription)).toMatchObject({
      highestEvent: 5,
      lastEventAt: at(5),
    });
    await store.subscriptions.advance({ ...base, highestEvent: 5, at: at(10) });
    expect((await store.subscriptions.get('sub-db', base.subscription))?.lastEventAt).toBe(at(10));
    await store.subscriptions.advance({ ...base, highestEvent: 0, at: at(20), reset: true });
    expect((await store.subscriptions.get('sub-db', base.subscription))?.highestEvent).toBe(0);
  });

  test.skipIf(skip)('concurrent notifications: the highest number wins', async () => {
    const sub = { ...base, subscription: 'Subscription/concurrent' };
    await Promise.all([7, 3, 9, 1, 8].map((n) => store.subscriptions.advance({ ...sub, highestEvent: n, at: at(n) })));
    expect(await store.subscriptions.get('sub-db', sub.subscription)).toMatchObject({
      highestEvent: 9,
      lastEventAt: at(9),
    });
  });
});
