// One real Temporal dev server for the whole test run, from the provisioned CLI (nothing is downloaded).
// Its SQLite file is exposed too: the encryption test reads the raw bytes to prove no PHI reaches Temporal.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { findFreePort, startDevServer } from '../scripts/temporal-cli.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    /** host:port of the run's Temporal dev server. */
    temporalAddress: string;
    /** Its SQLite state file (WAL mode: read `-wal` alongside). */
    temporalDbFile: string;
  }
}

/** Starts the dev server and provides its address; the returned function stops it and removes its state. */
export async function setup(project: TestProject): Promise<() => Promise<void>> {
  const dir = await mkdtemp(join(tmpdir(), 'ehr-autopilot-temporal-'));
  const dbFile = join(dir, 'temporal.db');
  const server = await startDevServer({ port: await findFreePort(), dbFile, readyTimeoutMs: 60_000 });
  // Backstop for an abrupt exit of the vitest process: never leave a server behind.
  const backstop = (): void => server.killNow();
  process.once('exit', backstop);
  project.provide('temporalAddress', server.address);
  project.provide('temporalDbFile', dbFile);
  return async () => {
    process.removeListener('exit', backstop);
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  };
}
