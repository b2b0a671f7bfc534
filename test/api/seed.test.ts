// Built-in protocols reach installations seeded by an earlier release: a safety fix to the library must not wait for
// an admin who never customised it, and must never replace what an admin published.
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { createStore, type Store } from '../../connectors/db/index.ts';
import { createLogger } from '../../connectors/logger.ts';
import { ensureBuiltinProtocols } from '../../api/seed.ts';
import { canonicalJson } from '../../rules/engine/diff.ts';
import { findBuiltinProtocol } from '../../rules/kinds/refill/protocols/index.ts';
import { openTestDatabase, type TestDatabase } from '../helpers/db.ts';

const logger = createLogger({ LOG_LEVEL: 'silent' }, 'test');
const ID = 'standard-chronic-care';
const shipped = findBuiltinProtocol(ID)!;
/** What an earlier release seeded: the same protocol with other content (as v1 was before issue 13). */
const earlier = { ...shipped, version: shipped.version - 1, description: 'an earlier release of the library' };

let testDb: TestDatabase;
let store: Store;
beforeEach(async () => {
  testDb = await openTestDatabase('sqlite');
  store = createStore(testDb.db);
});
afterEach(async () => {
  await testDb.cleanup();
});

/** Seeds the protocol as an earlier release's ensureBuiltinProtocols did, or as an admin's own live version. */
async function seedEarlier(by: 'system' | 'admin-1'): Promise<number> {
  if (!(await store.protocols.get(ID))) await store.protocols.create({ id: ID, title: shipped.title });
  const v = await store.protocols.createDraft({
    protocolId: ID,
    definition: earlier,
    by,
    note: by === 'system' ? 'Built-in protocol' : 'our own thresholds',
  });
  await store.protocols.publish({ protocolId: ID, version: v.version, by });
  return v.version;
}

describe('a built-in protocol shipped with new content', () => {
  test('a first start publishes it; a second start adds nothing', async () => {
    await ensureBuiltinProtocols(store, logger);
    const versions = await store.protocols.listVersions(ID);
    expect(versions).toHaveLength(1);
    await ensureBuiltinProtocols(store, logger);
    expect(await store.protocols.listVersions(ID)).toHaveLength(1);
    expect(canonicalJson((await store.protocols.getPublished(ID))!.definition)).toBe(canonicalJson(shipped));
  });

  test('replaces a live version that is the unmodified earlier built-in, once', async () => {
    const old = await seedEarlier('system');
    await ensureBuiltinProtocols(store, logger);
    const live = (await store.protocols.getPublished(ID))!;
    expect(live.version).toBe(old + 1);
    expect(live.createdBy).toBe('system');
    expect(canonicalJson(live.definition)).toBe(canonicalJson(shipped));
    expect((await store.protocols.getVersion(ID, old))!.status).toBe('retired');
    await ensureBuiltinProtocols(store, logger);
    expect(await store.protocols.listVersions(ID)).toHaveLength(2);
  });

  test('leaves an admin’s own live version live and offers the update as a draft', async () => {
    await seedEarlier('system');
    const own = await seedEarlier('admin-1');
    await ensureBuiltinProtocols(store, logger);
    expect((await store.protocols.getPublished(ID))!.version).toBe(own);
    const [newest] = await store.protocols.listVersions(ID);
    expect(newest).toMatchObject({ version: own + 1, status: 'draft', createdBy: 'system' });
    expect(canonicalJson(newest!.definition)).toBe(canonicalJson(shipped));
    await ensureBuiltinProtocols(store, logger);
    expect(await store.protocols.listVersions(ID)).toHaveLength(3);
  });
});
