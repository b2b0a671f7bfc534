// `autopilot sweep start | status` against the API listening on loopback (real routes, auth, audit and SQLite; a
// recording gateway stands in for the Schedule, whose behaviour on the dev server is in
// test/integration/care-gap-sweep.int.test.ts). Also the sweeps API's own refusals.
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createApp } from '../../api/app.ts';
import { ensureBuiltinProtocols } from '../../api/seed.ts';
import type { SweepScheduleClinic } from '../../api/trigger-gateway.ts';
import type { WorkflowGateway } from '../../api/workflow-gateway.ts';
import { runSweepCli } from '../../cli/sweep.ts';
import { loadConfig } from '../../connectors/config.ts';
import { createStore, type Store } from '../../connectors/db/index.ts';
import { createLogger } from '../../connectors/logger.ts';
import { AppError } from '../../rules/index.ts';
import type { PanelSweepProgress } from '../../workflows/panel-sweep.ts';
import { openTestDatabase, type TestDatabase } from '../helpers/db.ts';

const ADMIN = 'sweep-cli-admin-token-0123456789';
const NURSE = 'sweep-cli-nurse-token-0123456789';
const OTHER_ADMIN = 'sweep-cli-other-admin-token-01234';
let testDb: TestDatabase;
let store: Store;
let server: ServerType;
let base: string;
let running: string | null = null;
const schedules: SweepScheduleClinic[] = [];
let polls = 0;
const racing: (() => void)[] = [];

const progress = (sweepId: string, status: 'running' | 'done'): PanelSweepProgress => ({
  sweepId,
  clinicId: 'cli-clinic',
  status,
  asOf: '2026-12-06',
  since: '2024-12-06',
  pages: 3,
  encounters: 250,
  patients: 120,
  cases: 120,
  startedAt: '2026-12-06T02:00:00.000Z',
  finishedAt: status === 'done' ? '2026-12-06T02:01:00.000Z' : null,
  runs: 1,
});

const gateway: WorkflowGateway = {
  startCase: () => Promise.reject(new Error('unused')),
  submitDecision: () => Promise.reject(new Error('unused')),
  getCaseState: () => Promise.resolve(null),
  ping: () => Promise.resolve(),
  startEventIntake: () => Promise.resolve(null),
  getEventIntake: () => Promise.resolve(null),
  ensureSweepSchedule: (clinic) => {
    schedules.push(clinic);
    return Promise.resolve();
  },
  startSweep: (clinic) => {
    if (clinic.id === 'cli-race') {
      // The race the Schedule leaves open: two hand starts in the same instant both find no sweep running, both
      // trigger; the Schedule starts one run, skips the other trigger, and both callers see the one run it started.
      return new Promise((resolve) => {
        racing.push(() => resolve({ sweepId: 'ps_cli-race-2026-12-06T06:00:00Z' }));
        if (racing.length === 2) for (const go of racing) go();
      });
    }
    if (running) throw new AppError('CONFLICT', 'A sweep of this clinic is running');
    running = `ps_${clinic.id}-2026-12-06T05:00:00Z`;
    return Promise.resolve({ sweepId: running });
  },
  getSweep: (clinicId, sweepId) => {
    if (sweepId !== running) return Promise.resolve(null);
    polls += 1;
    return Promise.resolve(progress(sweepId, polls >= 2 ? 'done' : 'running'));
  },
};

beforeAll(async () => {
  testDb = await openTestDatabase('sqlite');
  store = createStore(testDb.db);
  const config = loadConfig({ LOG_LEVEL: 'silent' });
  const logger = createLogger(config, 'test');
  await ensureBuiltinProtocols(store, logger);
  for (const id of ['cli-clinic', 'cli-other', 'cli', 'cli-race']) {
    await store.clinics.upsert({
      id,
      name: id,
      webhookSecret: `whsec_${id}_0123456789abcdef`,
      fhirBaseUrl: 'https://ehr.example.org/fhir/R4',
      fhirClientId: 'x',
      protocolId: 'family-medicine-2015',
      nurseSlaSeconds: 3600,
      timezone: 'UTC',
    });
  }
  await store.tokens.createToken({ name: 'a', role: 'admin', userId: 'admin-1', token: ADMIN });
  await store.tokens.createToken({ name: 'n', role: 'nurse', userId: 'nurse-1', clinicId: 'cli-clinic', token: NURSE });
  await store.tokens.createToken({
    name: 'o',
    role: 'admin',
    userId: 'admin-2',
    clinicId: 'cli-other',
    token: OTHER_ADMIN,
  });
  const app = createApp({ config, db: testDb.db, store, workflows: gateway, logger, now: () => new Date() });
  server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' });
  if (!server.listening) await once(server, 'listening');
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  if (server) await new Promise((resolve) => server.close(resolve));
  await testDb?.cleanup();
});

async function cli(...args: string[]) {
  let stdout = '';
  let stderr = '';
  const code = await runSweepCli(args, {
    stdout: (t) => (stdout += t),
    stderr: (t) => (stderr += t),
    today: () => '2026-12-06',
  });
  return { code, stdout, stderr };
}

describe('autopilot sweep', () => {
  test('start prints the sweep; a second start while it runs is refused (exit 1); status --wait prints it done', async () => {
    const started = await cli('start', '--clinic', 'cli-clinic', '--api', base, '--token', ADMIN);
    expect(started.code, started.stderr).toBe(0);
    const out = JSON.parse(started.stdout) as { sweepId: string; status: string; links: { self: string } };
    expect(out).toMatchObject({ sweepId: 'ps_cli-clinic-2026-12-06T05:00:00Z', status: 'running' });
    expect(out.links.self).toContain('/v1/clinics/cli-clinic/sweeps/ps_cli-clinic-2026-12-06T05%3A00%3A00Z');

    const again = await cli('start', '--clinic', 'cli-clinic', '--api', base, '--token', ADMIN);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/^autopilot: 409 CONFLICT: A sweep of this clinic is running\n$/);

    const status = await cli(
      'status',
      '--clinic',
      'cli-clinic',
      '--sweep',
      out.sweepId,
      '--wait',
      '--api',
      base,
      '--token',
      ADMIN,
    );
    expect(status.code, status.stderr).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({ status: 'done', patients: 120, cases: 120 });

    // The start is audited, once, with the admin who asked.
    const audit = await store.audit.listAudit({ clinicId: 'cli-clinic', action: 'sweep.started' });
    expect(audit.items).toHaveLength(1);
    expect(audit.items[0]).toMatchObject({ actorType: 'user', actorId: 'admin-1', detail: { sweepId: out.sweepId } });
  });

  test('bad input is one line and exit 2; an unknown sweep is refused by the API (exit 1)', async () => {
    expect(await cli('start', '--api', base, '--token', ADMIN)).toMatchObject({
      code: 2,
      stderr: 'autopilot: --clinic <id> is required\n',
    });
    expect((await cli('status', '--clinic', 'cli-clinic', '--api', base, '--token', ADMIN)).code).toBe(2);
    expect((await cli('launch', '--clinic', 'cli-clinic')).code).toBe(2);
    const unknown = await cli(
      'status',
      '--clinic',
      'cli-clinic',
      '--sweep',
      'ps_cli-clinic-2020-01-01T00:00:00Z',
      '--api',
      base,
      '--token',
      ADMIN,
    );
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/404 NOT_FOUND/);
    const unreachable = await cli('start', '--clinic', 'cli-clinic', '--api', 'http://127.0.0.1:9', '--token', ADMIN);
    expect(unreachable.code).toBe(2);
    expect(unreachable.stderr).toMatch(/cannot reach the API/);
  });
});

describe('the sweeps API', () => {
  const post = (clinic: string, token: string) =>
    fetch(`${base}/v1/clinics/${clinic}/sweeps`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });

  test('admin only: a nurse is 403, no token 401; an admin bound to another clinic sees no such clinic (404)', async () => {
    expect((await post('cli-clinic', NURSE)).status).toBe(403);
    expect((await fetch(`${base}/v1/clinics/cli-clinic/sweeps`, { method: 'POST' })).status).toBe(401);
    expect((await post('cli-clinic', OTHER_ADMIN)).status).toBe(404);
    expect((await post('no-such-clinic', ADMIN)).status).toBe(404);
  });

  test('two hand starts in the same instant that both see the one run started: one 202, the other 409', async () => {
    const answers = await Promise.all([post('cli-race', ADMIN), post('cli-race', ADMIN)]);
    expect(answers.map((r) => r.status).sort()).toEqual([202, 409]);
    const refused = answers.find((r) => r.status === 409)!;
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('CONFLICT');
    const started = answers.find((r) => r.status === 202)!;
    expect(((await started.json()) as { sweepId: string }).sweepId).toBe('ps_cli-race-2026-12-06T06:00:00Z');
    const audit = await store.audit.listAudit({ clinicId: 'cli-race', action: 'sweep.started' });
    expect(audit.items).toHaveLength(1);
  });

  test('a sweep id of another clinic, or not a sweep id at all, is 404 / 400', async () => {
    const get = (clinic: string, sweep: string) =>
      fetch(`${base}/v1/clinics/${clinic}/sweeps/${encodeURIComponent(sweep)}`, {
        headers: { authorization: `Bearer ${ADMIN}` },
      });
    expect((await get('cli-other', 'ps_cli-clinic-2026-12-06T05:00:00Z')).status).toBe(404);
    // Clinic `cli` is a prefix of `cli-clinic`: its admin still does not reach the other clinic's sweep.
    expect((await get('cli', 'ps_cli-clinic-2026-12-06T05:00:00Z')).status).toBe(404);
    const bad = await get('cli-clinic', 'not-a-sweep');
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { issues: { path: string }[] } }).error.issues[0]?.path).toBe('$.sweepId');
  });

  test('creating a clinic creates its sweep Schedule (weekly in its time zone)', async () => {
    const res = await fetch(`${base}/v1/clinics`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        id: 'cli-new',
        name: 'New',
        fhirBaseUrl: 'https://ehr.example.org/fhir/R4',
        fhirClientId: 'x',
        protocolId: 'family-medicine-2015',
        timezone: 'America/Chicago',
      }),
    });
    expect(res.status, await res.clone().text()).toBe(201);
    expect(schedules.at(-1)).toMatchObject({ id: 'cli-new', timezone: 'America/Chicago' });
  });
});
