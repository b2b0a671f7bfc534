// Migration 0018 (cds_jtis) on both dialects: a CDS Hooks JWT's jti is claimed once per issuer while its token could
// be accepted; an expired row is taken over by a new claim and deleted by the sweep.
import { afterAll, beforeAll, describe, expect, inject, test } from 'vitest';
import { createStore, type Store } from '../../connectors/db/index.ts';
import { openTestDatabase, type TestDatabase } from '../helpers/db.ts';

const postgresUrl = inject('postgresUrl');
const dialects = [
  { dialect: 'sqlite' as const, adminUrl: undefined, skip: false },
  { dialect: 'postgres' as const, adminUrl: postgresUrl, skip: postgresUrl === undefined },
];

describe.each(dialects)('CDS Hooks jtis ($dialect)', ({ dialect, adminUrl, skip }) => {
  let tdb: TestDatabase;
  let store: Store;
  beforeAll(async () => {
    if (skip) return;
    tdb = await openTestDatabase(dialect, adminUrl);
    store = createStore(tdb.db);
  });
  afterAll(async () => {
    await tdb?.cleanup();
  });

  test.skipIf(skip)('a live jti is refused, per issuer; an expired one is taken over, then swept', async () => {
    const at = new Date('2026-06-15T15:00:00Z');
    const until = new Date('2026-06-15T15:05:00Z');
    const { cdsClients } = store;
    expect(await cdsClients.claimJti('iss-x', 'j-1', until, at)).toBe(true);
    expect(await cdsClients.claimJti('iss-x', 'j-1', until, at)).toBe(false);
    expect(await cdsClients.claimJti('iss-x', 'j-1', until, new Date('2026-06-15T15:04:59Z'))).toBe(false);
    expect(await cdsClients.claimJti('iss-y', 'j-1', until, at)).toBe(true);
    expect(await cdsClients.claimJti('iss-x', 'j-2', until, at)).toBe(true);
    // After it expired: the same jti is a new token's (its row is renewed, and refused again until then).
    const later = new Date('2026-06-15T15:06:00Z');
    const renewed = new Date('2026-06-15T15:11:00Z');
    expect(await cdsClients.claimJti('iss-x', 'j-1', renewed, later)).toBe(true);
    expect(await cdsClients.claimJti('iss-x', 'j-1', renewed, later)).toBe(false);
    // The sweep deletes what expired (iss-y/j-1 and iss-x/j-2), not the renewed row.
    expect(await cdsClients.deleteExpiredJtis(new Date('2026-06-15T15:07:00Z'))).toBe(2);
    expect(await cdsClients.claimJti('iss-x', 'j-1', renewed, later)).toBe(false);
    expect(await cdsClients.claimJti('iss-y', 'j-1', renewed, later)).toBe(true);
  });
});
