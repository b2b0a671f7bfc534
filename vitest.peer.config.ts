import { defineConfig } from 'vitest/config';

// `npm run test:peer`: the conformance suite against a peer FHIR server, HAPI FHIR JPA 8.8.0 (scripts/peer-hapi.ts).
// HAPI costs ~40 s and ~1 GB to start, so it runs once per run here, and never in the main `npm test` loop (whose
// config excludes test/peer/). One file at a time: HAPI and the sandbox share 2 cores.
export default defineConfig({
  test: {
    include: ['test/peer/**/*.peer.test.ts'],
    pool: 'forks',
    globalSetup: ['test/global-setup-hapi.ts'],
    testTimeout: 120_000,
    hookTimeout: 600_000,
    maxWorkers: 1,
    fileParallelism: false,
  },
});
