// `npm run cluster`'s pure parts: which processes a cluster has and their ports, the environment each server process
// gets for the server's embedded config template, the schema tool's commands, and the go install line. The cluster
// itself is started by `npm run cluster` and `npm run bench:scale`, never by `npm test` (it needs a 1.4 GB build).
import { expect, test } from 'vitest';
import {
  clusterPaths,
  goEnv,
  goInstallArgs,
  planServices,
  postgresTarget,
  schemaCommands,
  serviceEnv,
} from '../../scripts/cluster.ts';

const ports = () => {
  let p = 20000;
  return () => p++;
};

test('a cluster is one frontend, N history processes, matching and worker, each with ports of its own', () => {
  const plan = planServices(2, ports());
  expect(plan.map((p) => p.name)).toEqual(['frontend', 'history-1', 'history-2', 'matching', 'worker']);
  const all = plan.flatMap((p) => [p.grpcPort, p.membershipPort, ...(p.httpPort ? [p.httpPort] : [])]);
  expect(new Set(all).size).toBe(all.length);
  expect(plan[0]!.httpPort).toBeDefined();
  expect(() => planServices(0, ports())).toThrow(/at least one/);
});

test('each process runs its one service on PostgreSQL, same shards everywhere, its own ports, the frontend’s too', () => {
  const plan = planServices(2, ports());
  const [frontend, h1, h2] = plan;
  const common = {
    postgres: postgresTarget('postgres://postgres:s%40cret@127.0.0.1:5544/postgres'),
    shards: 8,
    dynamicConfigFile: '/tmp/dc.yaml',
    frontend: frontend!,
  };
  const e1 = serviceEnv(h1!, common);
  const e2 = serviceEnv(h2!, common);
  expect(e1).toMatchObject({
    DB: 'postgres12',
    POSTGRES_SEEDS: '127.0.0.1',
    DB_PORT: '5544',
    POSTGRES_USER: 'postgres',
    POSTGRES_PWD: 's@cret',
    DBNAME: 'temporal',
    VISIBILITY_DBNAME: 'temporal_visibility',
    NUM_HISTORY_SHARDS: '8',
    DYNAMIC_CONFIG_FILE_PATH: '/tmp/dc.yaml',
    TEMPORAL_SERVICES: 'history',
    HISTORY_GRPC_PORT: String(h1!.grpcPort),
    HISTORY_MEMBERSHIP_PORT: String(h1!.membershipPort),
    FRONTEND_GRPC_PORT: String(frontend!.grpcPort),
  });
  expect(e2.HISTORY_GRPC_PORT).toBe(String(h2!.grpcPort));
  expect(e2.NUM_HISTORY_SHARDS).toBe(e1.NUM_HISTORY_SHARDS);
  expect(serviceEnv(plan[3]!, common)).toMatchObject({
    TEMPORAL_SERVICES: 'matching',
    MATCHING_GRPC_PORT: String(plan[3]!.grpcPort),
  });
  expect(serviceEnv(frontend!, common)).toMatchObject({
    TEMPORAL_SERVICES: 'frontend',
    FRONTEND_HTTP_PORT: String(frontend!.httpPort),
  });
  expect(e1.MATCHING_GRPC_PORT).toBeUndefined();
});

test('the schema tool creates each database, versions it, then applies the built-in postgres12 schema', () => {
  const cmds = schemaCommands(postgresTarget('postgres://postgres@127.0.0.1:5544/postgres'), 'temporal_visibility');
  expect(cmds.map((c) => c.slice(12))).toEqual([
    ['create-database'],
    ['setup-schema', '--version', '0.0'],
    ['update-schema', '--schema-name', 'postgresql/v12/visibility'],
  ]);
  expect(cmds[0]!.slice(0, 12)).toEqual([
    ...['--plugin', 'postgres12', '--endpoint', '127.0.0.1', '--port', '5544'],
    ...['--user', 'postgres', '--password', '', '--database', 'temporal_visibility'],
  ]);
});

test('the build is go install of both programs at v1.32.0, every cache under .cluster, the local toolchain', () => {
  expect(goInstallArgs()).toEqual([
    'install',
    '-tags',
    'disable_grpc_modules',
    'go.temporal.io/server/cmd/server@v1.32.0',
    'go.temporal.io/server/cmd/tools/sql@v1.32.0',
  ]);
  const paths = clusterPaths('/x/.cluster');
  expect(goEnv(paths, { PATH: '/bin', GOPATH: '/root/go' })).toMatchObject({
    PATH: '/bin',
    GOPATH: '/x/.cluster/go',
    GOMODCACHE: '/x/.cluster/gomod',
    GOCACHE: '/x/.cluster/gocache',
    GOBIN: '/x/.cluster/bin',
    GOTOOLCHAIN: 'local',
  });
});
