/* eslint-disable @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-assignment, @typescript-eslint/no-unsafe-call, @typescript-eslint/no-unsafe-argument -- JSON answers and protocol documents edited on purpose, read untyped */
// Protocol kinds through the admin API, in process over a real SQLite store: the care-gap built-in is published at
// first start beside the refill ones; drafts, validation, diff, simulation, publish and rollback work for a care-gap
// protocol; a protocol keeps the kind it was created with; a clinic enables a kind with a protocol, a pinned version
// and a sweep cadence, and `protocolForKind` answers what the worker runs. Existing clinics keep refill as it was.
import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { factsFromBundle } from '../../facts/index.ts';
import { careGapFactsFromBundle } from '../../facts/care-gap/index.ts';
import { createApp } from '../../api/app.ts';
import { ensureBuiltinProtocols, ensureDemoClinic } from '../../api/seed.ts';
import type { WorkflowGateway } from '../../api/workflow-gateway.ts';
import { loadConfig } from '../../connectors/config.ts';
import { DEFAULT_SWEEP_CRON } from '../../connectors/db/clinics.ts';
import { createStore, type Store } from '../../connectors/db/index.ts';
import { createLogger } from '../../connectors/logger.ts';
import { CARE_GAP_BUILTINS, evaluateCareGap, type CareGapFacts } from '../../rules/kinds/care-gap/index.ts';
import { findBuiltinProtocol } from '../../rules/kinds/refill/protocols/index.ts';
import { startSandbox } from '../../sandbox/fhir-server.ts';
import { findFreePort } from '../../scripts/temporal-cli.ts';
import { openTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { careGapFacts } from '../helpers/care-gap-builders.ts';

const CRC = 'crc-screening-2021';
const REFILL = 'family-medicine-2015';
const TOKENS = { admin: 'kinds-admin-token-0123456789abc', nurse: 'kinds-nurse-token-0123456789abc' } as const;
const config = loadConfig({ LOG_LEVEL: 'silent', EHR_ALLOW_PRIVATE_NETWORKS: 'true' });
const logger = createLogger(config, 'test');
const crcV1 = CARE_GAP_BUILTINS[0]!;

let testDb: TestDatabase;
let store: Store;
let app: ReturnType<typeof createApp>;

const unused = () => Promise.reject(new Error('not used'));
const gateway: WorkflowGateway = {
  startCase: unused,
  submitDecision: unused,
  getCaseState: () => Promise.resolve(null),
  ping: () => Promise.resolve(),
};

async function api(path: string, init: { method?: string; body?: unknown; as?: keyof typeof TOKENS } = {}) {
  const res = await app.request(path, {
    method: init.method ?? 'GET',
    headers: {
      authorization: `Bearer ${TOKENS[init.as ?? 'admin']}`,
      ...(init.body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

/** crc-screening-2021 with the colonoscopy window of CRC-10 set to `months`. */
function withColonoscopyWindow(months: number): Record<string, unknown> {
  const doc = structuredClone(crcV1) as unknown as {
    tests: { id: string; windowMonths: number }[];
    clauses: { id: string; when: { any: { value: number }[] } }[];
  };
  // The window is data (the tests table) and each condition that uses it says the same (validation holds them).
  doc.tests.find((t) => t.id === 'colonoscopy')!.windowMonths = months;
  doc.clauses.find((c) => c.id === 'CRC-10')!.when.any[4]!.value = months;
  return doc;
}

const facts = (colonoscopy: string | null): CareGapFacts => careGapFacts({ colonoscopy });

function clinicBody(id: string, extra: Record<string, unknown> = {}) {
  return {
    id,
    name: `Clinic ${id}`,
    fhirBaseUrl: 'http://127.0.0.1:9/fhir/R4',
    fhirClientId: 'autopilot',
    protocolId: REFILL,
    refillAutomationEnabled: true,
    timezone: 'UTC',
    ...extra,
  };
}

beforeAll(async () => {
  testDb = await openTestDatabase('sqlite');
  store = createStore(testDb.db);
  await ensureBuiltinProtocols(store, logger);
  await store.tokens.createToken({ name: 'a', role: 'admin', userId: 'admin-1', token: TOKENS.admin });
  await store.tokens.createToken({
    name: 'n',
    role: 'nurse',
    userId: 'nurse-1',
    clinicId: 'legacy',
    token: TOKENS.nurse,
  });
  // A clinic onboarded before kinds existed: its own protocolId, no kind settings.
  await store.clinics.upsert({
    id: 'legacy',
    name: 'Legacy clinic',
    webhookSecret: 'kinds-test-secret-0123456789',
    fhirBaseUrl: 'http://127.0.0.1:9/fhir/R4',
    fhirClientId: 'x',
    protocolId: REFILL,
    nurseSlaSeconds: 60,
    timezone: 'UTC',
  });
  app = createApp({ config, db: testDb.db, store, workflows: gateway, logger, now: () => new Date() });
});
afterAll(async () => {
  await testDb?.cleanup();
});

describe('protocols of every kind', () => {
  test('first start publishes crc-screening-2021 v1 as a care-gap protocol; the list shows each kind', async () => {
    const { status, body } = await api('/v1/protocols');
    expect(status).toBe(200);
    const byId = new Map(body.items.map((p: { id: string }) => [p.id, p]));
    expect(byId.get(CRC)).toMatchObject({ kind: 'care-gap', publishedVersion: 1 });
    expect(byId.get(REFILL)).toMatchObject({ kind: 'refill', publishedVersion: 1 });
    const v1 = await api(`/v1/protocols/${CRC}/versions/1`);
    expect(v1.body.definition).toMatchObject({ kind: 'care-gap', id: CRC, version: 1 });
    // A second start adds nothing.
    await ensureBuiltinProtocols(store, logger);
    expect((await store.protocols.listVersions(CRC)).length).toBe(1);
  });

  test('validate takes any kind; an unknown kind is an issue at $.kind', async () => {
    expect((await api('/v1/protocols/validate', { method: 'POST', body: { definition: crcV1 } })).body).toEqual({
      valid: true,
      issues: [],
    });
    const unknown = await api('/v1/protocols/validate', {
      method: 'POST',
      body: { definition: { ...crcV1, kind: 'vaccines' } },
    });
    expect(unknown.body.valid).toBe(false);
    expect(unknown.body.issues[0].path).toBe('$.kind');
  });

  test('a protocol keeps its kind: a refill document is refused as a draft of a care-gap protocol (422 at $.kind)', async () => {
    const refillDoc = findBuiltinProtocol(REFILL)!;
    const res = await api(`/v1/protocols/${CRC}/drafts`, { method: 'POST', body: { definition: refillDoc } });
    expect(res.status).toBe(422);
    expect(res.body.error.issues[0].path).toBe('$.kind');
    const back = await api(`/v1/protocols/${REFILL}/drafts`, { method: 'POST', body: { definition: crcV1 } });
    expect(back.status).toBe(422);
    expect(back.body.error.issues[0].path).toBe('$.kind');
  });

  test('a new protocol takes the kind of its first document', async () => {
    const res = await api('/v1/protocols/crc-local/drafts', { method: 'POST', body: { definition: crcV1 } });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body.definition).toMatchObject({ kind: 'care-gap', id: 'crc-local', version: 1 });
    expect((await api('/v1/protocols/crc-local')).body.kind).toBe('care-gap');
  });

  test('a broken care-gap draft is 422 with JSON paths', async () => {
    const broken = structuredClone(crcV1) as unknown as { clauses: Record<string, unknown>[] };
    broken.clauses[2]!.disposition = 'approve';
    const res = await api(`/v1/protocols/${CRC}/drafts`, { method: 'POST', body: { definition: broken } });
    expect(res.status).toBe(422);
    expect(res.body.error.issues.map((i: { path: string }) => i.path)).toContain('$.clauses[2].disposition');
  });

  test('draft → diff → simulate over recorded cases → publish → roll back, for a care-gap protocol', async () => {
    // Recorded cases of this protocol at a clinic: colonoscopies 5, 9 and 11 years ago.
    for (const [i, date] of ['2021-05-01', '2017-03-01', '2015-01-01'].entries()) {
      const f = facts(date);
      await store.snapshots.put({
        caseId: `cg_legacy_${CRC}_${String(i).padStart(32, '0')}`,
        clinicId: 'legacy',
        protocolId: CRC,
        facts: f,
        decision: await evaluateCareGap(crcV1, f),
      });
    }
    const draft = await api(`/v1/protocols/${CRC}/drafts`, {
      method: 'POST',
      body: { definition: withColonoscopyWindow(96), note: '8-year colonoscopy window' },
    });
    expect(draft.status, JSON.stringify(draft.body)).toBe(201);
    const v = draft.body.version as number;

    const diff = await api(`/v1/protocols/${CRC}/diff?from=1&to=${v}`);
    expect(diff.status).toBe(200);
    expect(diff.body.changes).toEqual([
      {
        kind: 'item',
        collection: 'tests',
        id: 'colonoscopy',
        change: 'changed',
        fields: [{ path: '$.windowMonths', before: 120, after: 96 }],
      },
      {
        kind: 'item',
        collection: 'clauses',
        id: 'CRC-10',
        change: 'changed',
        fields: [{ path: '$.when.any[4].value', before: 120, after: 96 }],
      },
    ]);

    const sim = await api(`/v1/protocols/${CRC}/versions/${v}/simulate`, {
      method: 'POST',
      body: { clinicId: 'legacy' },
    });
    expect(sim.status, JSON.stringify(sim.body)).toBe(200);
    expect(sim.body).toMatchObject({ evaluated: 3, skipped: 0, changedTotal: 1 });
    expect(sim.body.before.counts).toMatchObject({ gap_closed: 2, outreach: 1 });
    expect(sim.body.after.counts).toMatchObject({ gap_closed: 1, outreach: 2 });
    expect(sim.body.changed[0]).toMatchObject({
      before: { disposition: 'gap_closed', clause: 'CRC-10', protocolVersion: 1 },
      after: { disposition: 'outreach', clause: 'CRC-17' },
    });
    expect(sim.body.changed[0].criteria).toContainEqual({ id: 'CRC-10', clause: 'CRC-10', before: true, after: false });
    // A job is a job for every kind: this app's gateway cannot start workflows, so it is 503, not a 422.
    const job = await api(`/v1/protocols/${CRC}/versions/${v}/simulate`, {
      method: 'POST',
      body: { clinicId: 'legacy', async: true },
    });
    expect(job.status).toBe(503);
    // Uploaded care-gap bundles: extracted by the facts registry, baseline the clinic's version (v1, live).
    const names = ['care-gap-up-to-date', 'care-gap-positive-fit', 'care-gap-outreach', 'care-gap-two-patients'];
    const bundles = await Promise.all(
      names.map(async (n) => ({
        ...(JSON.parse(await readFile(`test/fixtures/bundles/${n}.json`, 'utf8')) as Record<string, unknown>),
        id: n,
      })),
    );
    const expected: string[] = [];
    for (const b of bundles.slice(0, 3)) {
      const f = careGapFactsFromBundle(b, { asOf: '2026-06-15' });
      const [was, now] = [await evaluateCareGap(crcV1, f), await evaluateCareGap(draft.body.definition, f)];
      if (was.disposition !== now.disposition || was.clause !== now.clause) expected.push(b.id);
    }
    const withBundles = createApp({
      config,
      db: testDb.db,
      store,
      workflows: gateway,
      logger,
      now: () => new Date(),
      bundleFacts: (kind, bundle, asOf) => factsFromBundle(kind, bundle, { asOf }),
    });
    const res = await withBundles.request(`/v1/protocols/${CRC}/versions/${v}/simulate`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKENS.admin}`, 'content-type': 'application/json' },
      body: JSON.stringify({ clinicId: 'legacy', bundles, asOf: '2026-06-15' }),
    });
    const report = (await res.json()) as { evaluated: number; skipped: number; changed: { caseId: string }[] };
    expect(res.status, JSON.stringify(report)).toBe(200);
    // The two-patient bundle names no patient: not one patient's input, skipped.
    expect(report).toMatchObject({ evaluated: 3, skipped: 1 });
    expect(report.changed.map((c) => c.caseId).sort()).toEqual(expected.sort());

    const pub = await api(`/v1/protocols/${CRC}/versions/${v}/publish`, { method: 'POST' });
    expect(pub.status).toBe(200);
    expect(pub.body).toMatchObject({ publishedVersion: v, previousVersion: 1 });
    const rb = await api(`/v1/protocols/${CRC}/rollback`, { method: 'POST', body: { toVersion: 1 } });
    expect(rb.status).toBe(200);
    const live = await store.protocols.getPublished(CRC);
    expect(live?.version).toBe(v + 1);
    expect((live?.definition as { clauses: unknown[] }).clauses).toEqual(
      (crcV1 as unknown as { clauses: unknown[] }).clauses,
    );
  });
});

describe('per-clinic kind settings', () => {
  test('an existing clinic keeps refill exactly as before and runs no care gap', async () => {
    expect(await store.clinics.protocolForKind('legacy', 'refill')).toEqual({
      clinicId: 'legacy',
      kind: 'refill',
      protocolId: REFILL,
      pinnedVersion: null,
      version: 1,
      sweepCron: DEFAULT_SWEEP_CRON,
    });
    expect(await store.clinics.protocolForKind('legacy', 'care-gap')).toBeNull();
    const view = await api('/v1/clinics/legacy');
    expect(view.body.kinds).toEqual([
      {
        kind: 'refill',
        enabled: true,
        protocolId: REFILL,
        protocolVersion: null,
        sweepCron: DEFAULT_SWEEP_CRON,
        switchField: 'refillAutomationEnabled',
      },
      {
        kind: 'care-gap',
        enabled: false,
        protocolId: null,
        protocolVersion: null,
        sweepCron: DEFAULT_SWEEP_CRON,
        switchField: null,
      },
    ]);
  });

  test('a clinic created with care-gap enabled runs crc-screening-2021 at the live version, weekly by default', async () => {
    const res = await api('/v1/clinics', {
      method: 'POST',
      body: clinicBody('kinds-a', { kinds: [{ kind: 'care-gap', enabled: true, protocolId: CRC }] }),
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body.clinic.kinds[1]).toEqual({
      kind: 'care-gap',
      enabled: true,
      protocolId: CRC,
      protocolVersion: null,
      sweepCron: DEFAULT_SWEEP_CRON,
      switchField: null,
    });
    const live = (await store.protocols.get(CRC))!.publishedVersion;
    expect(await store.clinics.protocolForKind('kinds-a', 'care-gap')).toMatchObject({
      protocolId: CRC,
      pinnedVersion: null,
      version: live,
    });
    expect((await store.clinics.listRunning('care-gap')).map((a) => a.clinicId)).toEqual(['kinds-a']);
    expect((await store.clinics.listRunning('refill')).map((a) => a.clinicId)).toContain('legacy');
  });

  test('PATCH pins a version and a cadence; publish for one clinic moves its care-gap pin only', async () => {
    const patch = await api('/v1/clinics/kinds-a/settings', {
      method: 'PATCH',
      body: { kinds: [{ kind: 'care-gap', protocolVersion: 1, sweepCron: '30 5 * * 1-5' }] },
    });
    expect(patch.status, JSON.stringify(patch.body)).toBe(200);
    expect(await store.clinics.protocolForKind('kinds-a', 'care-gap')).toMatchObject({
      pinnedVersion: 1,
      version: 1,
      sweepCron: '30 5 * * 1-5',
    });
    const draft = await api(`/v1/protocols/${CRC}/drafts`, {
      method: 'POST',
      body: { definition: withColonoscopyWindow(108) },
    });
    const v = draft.body.version as number;
    const pub = await api(`/v1/protocols/${CRC}/versions/${v}/publish`, {
      method: 'POST',
      body: { clinicId: 'kinds-a' },
    });
    expect(pub.status, JSON.stringify(pub.body)).toBe(200);
    expect(pub.body).toMatchObject({ clinicId: 'kinds-a', previousVersion: 1, publishedVersion: v });
    expect(await store.clinics.protocolForKind('kinds-a', 'care-gap')).toMatchObject({ pinnedVersion: v, version: v });
    // The clinic's refill protocol did not move.
    expect((await store.clinics.get('kinds-a'))!.protocolVersion).toBeNull();
    // A clinic that does not run the protocol cannot be pinned to it.
    const other = await api(`/v1/protocols/${CRC}/versions/${v}/publish`, {
      method: 'POST',
      body: { clinicId: 'legacy' },
    });
    expect(other.status).toBe(409);
    // Disabled: the clinic no longer runs the kind.
    await api('/v1/clinics/kinds-a/settings', {
      method: 'PATCH',
      body: { kinds: [{ kind: 'care-gap', enabled: false }] },
    });
    expect(await store.clinics.protocolForKind('kinds-a', 'care-gap')).toBeNull();
  });

  test('bad kind settings are 400 (schema) or 422 (content) with the JSON path, and change nothing', async () => {
    const before = await api('/v1/clinics/legacy');
    const cases: [unknown, number, string][] = [
      [[{ kind: 'care-gap', sweepCron: '61 * * * *' }], 400, 'sweepCron'],
      [[{ kind: 'care-gap', sweepCron: 'every monday' }], 400, 'sweepCron'],
      [[{ kind: 'vaccines', enabled: true }], 400, 'kind'],
      [[{ kind: 'care-gap', enabled: true, protocolId: REFILL }], 422, '$.kinds[0].protocolId'],
      [[{ kind: 'care-gap', enabled: true }], 422, '$.kinds[0].protocolId'],
      [[{ kind: 'care-gap', protocolId: 'no-such-protocol' }], 422, '$.kinds[0].protocolId'],
      [[{ kind: 'care-gap', protocolId: CRC, protocolVersion: 999 }], 422, '$.kinds[0].protocolVersion'],
      [[{ kind: 'refill', protocolId: CRC }], 422, '$.kinds[0].kind'],
      [
        [
          { kind: 'care-gap', sweepCron: '0 6 * * 1' },
          { kind: 'care-gap', sweepCron: '0 7 * * 1' },
        ],
        422,
        '$.kinds[1].kind',
      ],
    ];
    for (const [kinds, status, path] of cases) {
      const res = await api('/v1/clinics/legacy/settings', { method: 'PATCH', body: { kinds } });
      expect(res.status, JSON.stringify(kinds)).toBe(status);
      const paths = (res.body.error.issues ?? []).map((i: { path: string }) => i.path).join(' ');
      expect(paths, JSON.stringify(kinds)).toContain(path);
    }
    // The clinic's own protocol cannot change kind through protocolId either.
    const swap = await api('/v1/clinics/legacy/settings', { method: 'PATCH', body: { protocolId: CRC } });
    expect(swap.status).toBe(422);
    expect(swap.body.error.issues[0].path).toBe('$.protocolId');
    expect((await api('/v1/clinics/legacy')).body).toEqual(before.body);
  });

  test('a sweep cadence for the clinic’s own kind is kept; a nurse may not change kinds', async () => {
    const ok = await api('/v1/clinics/legacy/settings', {
      method: 'PATCH',
      body: { kinds: [{ kind: 'refill', sweepCron: '0 0 1 * *' }] },
    });
    expect(ok.status, JSON.stringify(ok.body)).toBe(200);
    expect(ok.body.kinds[0]).toMatchObject({ kind: 'refill', enabled: true, sweepCron: '0 0 1 * *' });
    const nurse = await api('/v1/clinics/legacy/settings', {
      method: 'PATCH',
      as: 'nurse',
      body: { kinds: [{ kind: 'care-gap', enabled: false }] },
    });
    expect(nurse.status).toBe(403);
  });

  test('GET /v1/kinds lists both kinds with their routing and actions', async () => {
    const res = await api('/v1/kinds', { as: 'nurse' });
    expect(res.status).toBe(200);
    expect(res.body.items.map((k: { id: string }) => k.id)).toEqual(['refill', 'care-gap']);
    const cg = res.body.items[1];
    expect(cg.dispositions).toContainEqual(expect.objectContaining({ id: 'outreach', queue: 'outreach' }));
    expect(cg.dispositions).toContainEqual(expect.objectContaining({ id: 'gap_closed', queue: null }));
    expect(cg.actions.map((a: { id: string }) => a.id)).toEqual([
      'sign_order',
      'record_decline',
      'done_elsewhere',
      'snooze',
      'escalate',
    ]);
    expect(res.body.items[0].actions.map((a: { id: string }) => a.id)).toEqual([
      'approve',
      'deny',
      'needs_visit',
      'escalate',
    ]);
  });

  test('the demo clinic runs every kind: care gaps with the built-in, once (an admin’s later choice is kept)', async () => {
    const port = await findFreePort();
    const sandbox = await startSandbox({ port, validate: false });
    try {
      const demoConfig = loadConfig({
        LOG_LEVEL: 'silent',
        DATA_DIR: testDb.options.dataDir,
        SANDBOX_PORT: String(port),
      });
      await ensureDemoClinic(store, demoConfig, logger);
      expect(await store.clinics.protocolForKind('demo', 'care-gap')).toMatchObject({ protocolId: CRC });
      // SMART App Launch from the sandbox: the console's client and the demo practitioners' mappings.
      expect(await store.smart.getClient('demo')).toMatchObject({ clientId: 'ehr-autopilot-console' });
      expect(await store.smart.getUser('demo', 'Practitioner/pract-pcp-1')).toMatchObject({
        userId: 'demo-doctor',
        role: 'doctor',
      });
      expect((await store.clinics.protocolForKind('demo', 'refill'))?.protocolId).toBe(REFILL);
      await store.clinics.updateSettings('demo', { kinds: [{ kind: 'care-gap', enabled: false }] });
      await ensureDemoClinic(store, demoConfig, logger);
      expect(await store.clinics.protocolForKind('demo', 'care-gap')).toBeNull();
    } finally {
      await sandbox.close();
    }
  });
});
