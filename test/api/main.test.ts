// The API entrypoint (api/main.ts) as its own process: a bad DEMO_* value stops it with one line naming the
// variable, and the demo clinic is seeded only with DEMO=1, never because NODE_ENV is unset.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, inject, test } from 'vitest';
import { createStore, openDatabase } from '../../connectors/db/index.ts';
import { TEST_PAYLOAD_KEY, TEST_PAYLOAD_KEY_ID } from '../helpers/temporal.ts';
import { findFreePort } from '../../scripts/temporal-cli.ts';

const MAIN = fileURLToPath(new URL('../../api/main.ts', import.meta.url));
const dirs: string[] = [];
const children: ChildProcess[] = [];
afterEach(async () => {
  for (const child of children.splice(0)) {
    if (child.exitCode !== null || child.signalCode !== null) continue;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
  }
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** The API's environment as a deploy would give it: no NODE_ENV (vitest's `test` is not passed on). */
async function apiEnv(extra: Record<string, string> = {}): Promise<Record<string, string>> {
  const dataDir = mkdtempSync(join(tmpdir(), 'ehr-autopilot-main-'));
  dirs.push(dataDir);
  return {
    PATH: process.env.PATH ?? '',
    DATA_DIR: dataDir,
    PORT: String(await findFreePort()),
    SANDBOX_PORT: String(await findFreePort()),
    TEMPORAL_ADDRESS: inject('temporalAddress'),
    PAYLOAD_KEY: TEST_PAYLOAD_KEY,
    PAYLOAD_KEY_ID: TEST_PAYLOAD_KEY_ID,
    LOG_LEVEL: 'warn',
    ...extra,
  };
}

function run(env: Record<string, string>): { child: ChildProcess; output: () => string } {
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  return { child, output: () => output };
}

/** Starts the API and waits until /health answers 200; returns whether the demo clinic exists in its database. */
async function demoClinicSeeded(env: Record<string, string>): Promise<boolean> {
  const { child, output } = run(env);
  const deadline = Date.now() + 45_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`api/main.ts exited (${child.exitCode}): ${output()}`);
    const res = await fetch(`http://127.0.0.1:${env.PORT}/health`).catch(() => undefined);
    if (res?.status === 200) break;
    if (Date.now() > deadline) throw new Error(`api/main.ts never became healthy: ${output()}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  const db = await openDatabase({ dataDir: env.DATA_DIR! });
  try {
    const store = createStore(db);
    const clinic = await store.clinics.get('demo');
    expect(existsSync(join(env.DATA_DIR!, 'demo-credentials.json'))).toBe(clinic !== null);
    return clinic !== null;
  } finally {
    await db.close();
  }
}

describe('api/main.ts', () => {
  test('a DEMO_ADMIN_TOKEN shorter than 24 characters: exit 1 with one line naming it, no stack trace', async () => {
    const { child, output } = run(await apiEnv({ DEMO: '1', DEMO_ADMIN_TOKEN: 'too-short-admin' }));
    const code = await new Promise<number | null>((r) => child.once('exit', r));
    expect(code).toBe(1);
    expect(output().trim().split('\n')).toEqual([
      'Invalid configuration: DEMO_ADMIN_TOKEN: must be 24 to 512 characters of A-Z a-z 0-9 . _ ~ + / = - (a bearer token), or unset',
    ]);
  });

  test('without DEMO=1 no demo clinic is seeded, though NODE_ENV is unset (development)', async () => {
    expect(await demoClinicSeeded(await apiEnv())).toBe(false);
  });

  test('with DEMO=1 the demo clinic and its credentials file are seeded', async () => {
    expect(await demoClinicSeeded(await apiEnv({ DEMO: '1' }))).toBe(true);
  });
});
