// vitest globalSetup: one PostgreSQL for the whole run, so the database tests run against both dialects.
// TEST_DATABASE_URL wins; otherwise a throwaway cluster is made from local server binaries; otherwise nothing is
// provided and the PostgreSQL half of the suite is skipped (with the reason in its title).
import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { delimiter, join } from 'node:path';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Admin URL of a PostgreSQL server tests may CREATE DATABASE on; absent when none is available. */
    postgresUrl?: string;
    /** Why there is no `postgresUrl`. */
    postgresSkipReason?: string;
  }
}

function findBinDir(): string | undefined {
  const onPath = (process.env.PATH ?? '').split(delimiter).filter((d) => d !== '');
  const versions = existsSync('/usr/lib/postgresql')
    ? readdirSync('/usr/lib/postgresql')
        .sort((a, b) => Number(b) - Number(a))
        .map((v) => `/usr/lib/postgresql/${v}/bin`)
    : [];
  return [...onPath, ...versions].find((d) => existsSync(join(d, 'initdb')) && existsSync(join(d, 'pg_ctl')));
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr !== null ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

/** initdb refuses to run as root; as root, run the server tools as the `postgres` user (created by the package). */
function runAs(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  try {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    return { uid, gid };
  } catch {
    throw new Error('running as root and there is no `postgres` user to run initdb as');
  }
}

function run(bin: string, args: string[], user: { uid: number; gid: number } | undefined): void {
  // Passing uid/gid to the child is runuser without a shell, and works the same in CI.
  execFileSync(bin, args, { stdio: 'pipe', ...(user && { uid: user.uid, gid: user.gid }), cwd: tmpdir() });
}

export async function setup(project: TestProject): Promise<(() => void) | undefined> {
  const given = process.env.TEST_DATABASE_URL;
  if (given !== undefined && given !== '') {
    project.provide('postgresUrl', given);
    return undefined;
  }
  const bin = findBinDir();
  if (bin === undefined) {
    project.provide('postgresSkipReason', 'no TEST_DATABASE_URL and no PostgreSQL server binaries (initdb, pg_ctl)');
    return undefined;
  }

  const user = runAs();
  const dir = mkdtempSync(join(tmpdir(), 'ehr-autopilot-pg-'));
  if (user) chownSync(dir, user.uid, user.gid);
  const data = join(dir, 'data');
  const port = await freePort();
  const pgCtl = join(bin, 'pg_ctl');
  try {
    run(join(bin, 'initdb'), ['-D', data, '-A', 'trust', '-U', 'postgres', '-E', 'UTF8', '--no-locale'], user);
    const serverOptions = [
      `-p ${port}`,
      `-c listen_addresses=127.0.0.1`,
      `-c unix_socket_directories=${dir}`,
      '-c fsync=off', // a throwaway cluster: durability buys nothing here
      '-c full_page_writes=off',
      '-c max_connections=200',
    ].join(' ');
    run(pgCtl, ['-D', data, '-l', join(dir, 'server.log'), '-o', serverOptions, '-w', '-t', '60', 'start'], user);
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    const detail = err instanceof Error ? err.message : String(err);
    // In CI the binaries are installed on purpose: a failure to start must fail the run, not skip half the suite.
    if (process.env.CI) throw err;
    project.provide('postgresSkipReason', `could not start a throwaway PostgreSQL (${bin}): ${detail.split('\n')[0]}`);
    return undefined;
  }
  project.provide('postgresUrl', `postgres://postgres@127.0.0.1:${port}/postgres`);
  console.log(
    `[global-setup-postgres] PostgreSQL on 127.0.0.1:${port} (${bin}, as ${user ? 'postgres' : userInfo().username})`,
  );

  return () => {
    try {
      run(pgCtl, ['-D', data, '-m', 'immediate', '-w', 'stop'], user);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}
