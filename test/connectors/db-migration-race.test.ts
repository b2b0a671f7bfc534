import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { openDatabase } from '../../connectors/db/index.ts';

// `npm start` opens one fresh SQLite file from the API and the worker at the same moment. Before the retry in
// openDatabase, the second open failed with "table … already exists" (the loser of the race re-ran migration 0001).
test('two opens of one fresh SQLite file at once both succeed, and the schema is migrated once', async () => {
  for (let i = 0; i < 5; i++) {
    const dataDir = mkdtempSync(join(tmpdir(), 'ehr-autopilot-race-'));
    try {
      const dbs = await Promise.all([openDatabase({ dataDir }), openDatabase({ dataDir })]);
      const rows = await dbs[0].kysely
        .selectFrom('kyselyMigration' as never)
        .select('name' as never)
        .execute();
      const names = rows.map((r) => (r as { name: string }).name);
      expect(new Set(names).size).toBe(names.length);
      expect(names.length).toBeGreaterThanOrEqual(8);
      await Promise.all(dbs.map((d) => d.close()));
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  }
});
