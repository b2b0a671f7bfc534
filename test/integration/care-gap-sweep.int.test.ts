// The care-gap triggers end to end on the run's Temporal dev server and the sandbox EHR: the panel sweep (a Schedule
// per clinic, started by hand through the API) starts one careGap case per attributed patient, refuses a second sweep
// while one runs, and a re-run reaches the same cases; the events webhook starts (or finds) the patient's case.
import { randomBytes } from 'node:crypto';
import type { Resource } from '@medplum/fhirtypes';
import { WorkflowNotFoundError } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createActivities } from '../../activities/index.ts';
import { createApp } from '../../api/app.ts';
import { signWebhook } from '../../api/middleware/webhook-signature.ts';
import { ensureBuiltinProtocols } from '../../api/seed.ts';
import { createTriggerGateway, sweepScheduleId } from '../../api/trigger-gateway.ts';
import { createWorkflowGateway } from '../../api/workflow-gateway.ts';
import { loadConfig, type Config } from '../../connectors/config.ts';
import { createStore, type Store } from '../../connectors/db/index.ts';
import { generateClientKeyPair } from '../../connectors/fhir/auth.ts';
import { createClinicFhir } from '../../connectors/fhir/clinic-connectors.ts';
import { egressPolicy } from '../../connectors/fhir/egress.ts';
import { createLogger } from '../../connectors/logger.ts';
import { createSecretBox } from '../../connectors/secret-box.ts';
import { subjectKeyer } from '../../connectors/subject-key.ts';
import type { TemporalClientHandle } from '../../connectors/temporal.ts';
import { IndexedRepository, loadResources } from '../../sandbox/indexed-repository.ts';
import { startSandbox, type SandboxHandle } from '../../sandbox/fhir-server.ts';
import { CARE_GAP_BUILTINS } from '../../rules/kinds/care-gap/index.ts';
import { careGapCaseId } from '../../activities/kinds/care-gap/triggers.ts';
import { openTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { TEST_POLICY } from '../helpers/harness.ts';
import {
  createTestClient,
  createTestWorker,
  testTemporalConfig,
  uniqueTaskQueue,
  type TestWorker,
} from '../helpers/temporal.ts';

const SECRET = 'sweep-test-webhook-secret-0123456789';
const ADMIN = 'sweep-admin-token-0123456789abcdef';
const PROTOCOL = 'crc-screening-2021';

/** `n` months before today, as a FHIR dateTime (a day's margin off the 24-month edge either way). */
function monthsAgo(n: number, days = 0): string {
  const d = new Date();
  d.setUTCMonth(d.getUTCMonth() - n);
  d.setUTCDate(d.getUTCDate() - days);
  return d.toISOString();
}

const patient = (id: string): Resource => ({ resourceType: 'Patient', id, birthDate: '1970-05-01', gender: 'female' });
const encounter = (id: string, patientId: string, start: string, status = 'finished'): Resource =>
  ({
    resourceType: 'Encounter',
    id,
    status,
    class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB' },
    subject: { reference: `Patient/${patientId}` },
    period: { start, end: start },
  }) as Resource;

// The panel: five attributed patients (one with three visits, so it appears on several pages of two; one with two
// visits on either side of a page boundary that is also a continue-as-new), and three that are not: a last finished
// visit 25 months ago, only an in-progress visit, and only a cancelled recent one. The sweep reads them sorted by
// patient: [a a] [a b] | [b c] [d e].
const ATTRIBUTED = ['pt-a', 'pt-b', 'pt-c', 'pt-d', 'pt-e'];
const NOT_ATTRIBUTED = ['pt-old', 'pt-open', 'pt-cancelled'];
const RESOURCES: Resource[] = [
  ...[...ATTRIBUTED, ...NOT_ATTRIBUTED, 'pt-new'].map(patient),
  encounter('enc-a1', 'pt-a', monthsAgo(1)),
  encounter('enc-b1', 'pt-b', monthsAgo(2)),
  encounter('enc-b2', 'pt-b', monthsAgo(4)),
  encounter('enc-a2', 'pt-a', monthsAgo(3)),
  encounter('enc-c1', 'pt-c', monthsAgo(23, 27)),
  encounter('enc-d1', 'pt-d', monthsAgo(12)),
  encounter('enc-a3', 'pt-a', monthsAgo(20)),
  encounter('enc-e1', 'pt-e', monthsAgo(6)),
  encounter('enc-old1', 'pt-old', monthsAgo(25)),
  encounter('enc-open1', 'pt-open', monthsAgo(1), 'in-progress'),
  encounter('enc-cancel1', 'pt-cancelled', monthsAgo(1), 'cancelled'),
  encounter('enc-cancel2', 'pt-cancelled', monthsAgo(30)),
  {
    resourceType: 'Observation',
    id: 'obs-fit-a',
    status: 'final',
    code: { coding: [{ system: 'http://loinc.org', code: '29771-3' }] },
    subject: { reference: 'Patient/pt-a' },
    effectiveDateTime: monthsAgo(0, 1),
  },
  {
    resourceType: 'Observation',
    id: 'obs-slow',
    status: 'final',
    code: { coding: [{ system: 'http://loinc.org', code: '29771-3' }] },
    subject: { reference: 'Patient/pt-b' },
    effectiveDateTime: monthsAgo(0, 1),
  },
  {
    resourceType: 'Appointment',
    id: 'ap-new',
    status: 'booked',
    participant: [
      { actor: { reference: 'Practitioner/dr-1' }, status: 'accepted' },
      { actor: { reference: 'Patient/pt-new' }, status: 'accepted' },
    ],
  },
];

let clinicId: string;
let config: Config;
let store: Store;
let sandbox: SandboxHandle;
let testDb: TestDatabase;
let worker: TestWorker;
let running: Promise<void>;
let temporal: TemporalClientHandle;
let app: ReturnType<typeof createApp>;
let caseOf: (patientId: string) => string;
let keys: Awaited<ReturnType<typeof generateClientKeyPair>>;

beforeAll(async () => {
  const repo = new IndexedRepository();
  loadResources(repo, RESOURCES);
  keys = await generateClientKeyPair();
  // Latency per FHIR answer, so that a sweep (pages of two) runs long enough to be overlapped by a second start.
  sandbox = await startSandbox({
    repo,
    clients: [{ clientId: 'autopilot-sweep', jwks: keys.publicJwks }],
    validate: false,
    latencyMs: 150,
  });
  testDb = await openTestDatabase('sqlite');
  store = createStore(testDb.db);
  config = testTemporalConfig({ DATA_DIR: testDb.options.dataDir, EHR_ALLOW_PRIVATE_NETWORKS: 'true' });
  const logger = createLogger(loadConfig({ LOG_LEVEL: 'silent' }), 'test');
  await ensureBuiltinProtocols(store, logger);
  // The built-in care-gap protocol, published as `npm start` publishes it (if the seed did not already).
  if (!(await store.protocols.getPublished(PROTOCOL))) {
    const builtin = CARE_GAP_BUILTINS.find((p) => p.id === PROTOCOL)!;
    await store.protocols.create({ id: PROTOCOL, title: builtin.title });
    const draft = await store.protocols.createDraft({ protocolId: PROTOCOL, definition: builtin, by: 'system' });
    await store.protocols.publish({ protocolId: PROTOCOL, version: draft.version, by: 'system' });
  }
  clinicId = `sweep-${randomBytes(4).toString('hex')}`;
  await store.clinics.upsert({
    id: clinicId,
    name: 'Sweep clinic',
    webhookSecret: SECRET,
    fhirBaseUrl: sandbox.fhirBaseUrl,
    fhirClientId: 'autopilot-sweep',
    fhirPrivateKeyJwk: JSON.stringify(keys.privateJwk),
    fhirTokenUrl: null,
    protocolId: 'family-medicine-2015',
    nurseSlaSeconds: 3600,
    timezone: 'UTC',
    // The clinic's own protocol is a refill one; it runs care gaps besides (its per-kind settings).
    kinds: [{ kind: 'care-gap', enabled: true, protocolId: PROTOCOL }],
  });
  await store.tokens.createToken({ name: 'admin', role: 'admin', userId: 'admin-1', clinicId: null, token: ADMIN });
  temporal = await createTestClient(config);
  const taskQueue = uniqueTaskQueue('sweep');
  const subjectKey = subjectKeyer(config);
  caseOf = (patientId) => careGapCaseId(clinicId, PROTOCOL, subjectKey(clinicId, patientId));
  const fhir = createClinicFhir(store, {
    timeoutMs: 5000,
    secrets: createSecretBox(config),
    egress: egressPolicy(config),
  });
  worker = await createTestWorker({
    config,
    taskQueue,
    activities: createActivities({
      store,
      fhir,
      logger,
      triggers: { client: temporal.client, taskQueue, subjectKey, policy: TEST_POLICY },
    }),
  });
  running = worker.worker.run();
  app = createApp({
    config,
    db: testDb.db,
    store,
    workflows: {
      ...createWorkflowGateway(temporal.client, { taskQueue }),
      // Pages of two encounters, continue-as-new every two pages: a small panel walks every path of a big one.
      ...createTriggerGateway(temporal.client, {
        taskQueue,
        policy: TEST_POLICY,
        sweep: { pageSize: 2, pagesPerRun: 2 },
      }),
    },
    logger,
    now: () => new Date(),
    workflowPolicy: TEST_POLICY,
  });
}, 120_000);

afterAll(async () => {
  await temporal?.client.schedule
    .getHandle(sweepScheduleId(clinicId))
    .delete()
    .catch(() => undefined);
  worker?.worker.shutdown();
  await running?.catch(() => undefined);
  await worker?.close();
  await temporal?.close();
  await sandbox?.close();
  await testDb?.cleanup();
});

const api = (path: string, init: RequestInit = {}) =>
  Promise.resolve(
    app.request(path, { ...init, headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' } }),
  );

interface Progress {
  sweepId: string;
  status: string;
  pages: number;
  encounters: number;
  patients: number;
  cases: number;
  runs: number;
  since: string | null;
}

async function waitForSweep(sweepId: string, timeoutMs = 30_000): Promise<Progress> {
  const deadline = Date.now() + timeoutMs;
  let last: Progress | undefined;
  while (Date.now() < deadline) {
    const res = await api(`/v1/clinics/${clinicId}/sweeps/${encodeURIComponent(sweepId)}`);
    if (res.status === 200) {
      last = (await res.json()) as Progress;
      if (last.status === 'done') return last;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  const d = await temporal.client.workflow.getHandle(sweepId).describe();
  const pending = d.raw.pendingActivities?.map((a) => ({
    type: a.activityType?.name,
    attempt: a.attempt,
    failure: a.lastFailure?.message,
  }));
  throw new Error(
    `sweep ${sweepId} did not finish (${d.status.name}); last: ${JSON.stringify(last)}; pending: ${JSON.stringify(pending)}`,
  );
}

/** The run id of a case's workflow, or null when none exists. */
async function runOf(caseId: string): Promise<string | null> {
  try {
    return (await temporal.client.workflow.getHandle(caseId).describe()).runId;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return null;
    throw err;
  }
}

async function executionsOf(caseId: string): Promise<number> {
  let n = 0;
  for await (const _ of temporal.client.workflow.list({ query: `WorkflowId = '${caseId}'` })) n += 1;
  return n;
}

function postEvent(body: unknown, clinic = clinicId) {
  const raw = JSON.stringify(body);
  const ts = Math.floor(Date.now() / 1000);
  return Promise.resolve(
    app.request(`/v1/webhooks/${clinic}/events`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-autopilot-timestamp': String(ts),
        'x-autopilot-signature': signWebhook(SECRET, ts, raw),
      },
      body: raw,
    }),
  );
}

describe('panel sweep', () => {
  const firstRuns = new Map<string, string>();

  test('one careGap case per attributed patient, none for a patient last seen more than 24 months ago; a second start while it runs is 409', async () => {
    // First, an admin starts a sweep by hand (the weekly Schedule runs the same workflow) …
    const start = await api(`/v1/clinics/${clinicId}/sweeps`, { method: 'POST' });
    expect(start.status, await start.clone().text()).toBe(202);
    const { sweepId, links } = (await start.json()) as { sweepId: string; links: { self: string } };
    expect(sweepId).toMatch(new RegExp(`^ps_${clinicId}-\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}Z$`));
    expect(links.self).toContain(`/v1/clinics/${clinicId}/sweeps/`);

    // … a second start while it runs is refused, naming nothing about patients …
    const second = await api(`/v1/clinics/${clinicId}/sweeps`, { method: 'POST' });
    expect(second.status, await second.clone().text()).toBe(409);
    expect(((await second.json()) as { error: { code: string } }).error.code).toBe('CONFLICT');

    // … the sweep pages through the finished encounters of 24 months (8 of them, pages of two) and finishes, each
    // patient counted once though pt-a spans two pages and pt-b two runs.
    const done = await waitForSweep(sweepId);
    expect(done).toMatchObject({ status: 'done', pages: 4, encounters: 8, patients: 5, cases: 5 });
    expect(done.runs).toBeGreaterThan(1); // continue-as-new every two pages

    // Then every attributed patient has exactly one case, and nobody else has one.
    for (const id of ATTRIBUTED) {
      const run = await runOf(caseOf(id));
      expect(run, id).not.toBeNull();
      firstRuns.set(id, run!);
    }
    for (const id of NOT_ATTRIBUTED) expect(await runOf(caseOf(id)), id).toBeNull();

    // The start is audited; the page reads are, with counts only.
    const started = await store.audit.listAudit({ clinicId, action: 'sweep.started' });
    expect(started.items.map((a) => a.detail.sweepId)).toEqual([sweepId]);
    const pages = await store.audit.listAudit({ clinicId, action: 'ehr.panel_page_read', limit: 50 });
    expect(pages.items).toHaveLength(4);
    expect(JSON.stringify(pages.items)).not.toMatch(/pt-/);
  });

  test('a re-run reaches the same cases: no second workflow per patient', async () => {
    const start = await api(`/v1/clinics/${clinicId}/sweeps`, { method: 'POST' });
    expect(start.status, await start.clone().text()).toBe(202);
    const done = await waitForSweep(((await start.json()) as { sweepId: string }).sweepId);
    expect(done).toMatchObject({ status: 'done', patients: 5, cases: 5 });
    for (const id of ATTRIBUTED) {
      expect(await runOf(caseOf(id)), id).toBe(firstRuns.get(id));
      expect(await executionsOf(caseOf(id)), id).toBe(1);
    }
    for (const id of NOT_ATTRIBUTED) expect(await runOf(caseOf(id)), id).toBeNull();
  });

  test('two hand starts in the same instant: exactly one 202, the other 409', async () => {
    const answers = await Promise.all([0, 1].map(() => api(`/v1/clinics/${clinicId}/sweeps`, { method: 'POST' })));
    const statuses = answers.map((r) => r.status).sort();
    expect(statuses, await Promise.all(answers.map((r) => r.clone().text())).then((t) => t.join('\n'))).toEqual([
      202, 409,
    ]);
    const { sweepId } = (await answers.find((r) => r.status === 202)!.json()) as { sweepId: string };
    expect(await waitForSweep(sweepId)).toMatchObject({ status: 'done', patients: 5, cases: 5 });
  });

  test('hand starts back to back on an empty panel (each run done within its second): each is 202 with a run of its own', async () => {
    // A Schedule names a run by the second it is scheduled for. A second clinic on an empty EHR without added latency
    // sweeps in well under a second, so the next start lands in the second of a run that already finished: it must
    // not get that run's id (the Schedule would drop it and the start answer 503 after its whole wait).
    const empty = await startSandbox({
      repo: new IndexedRepository(),
      clients: [{ clientId: 'autopilot-sweep', jwks: keys.publicJwks }],
      validate: false,
    });
    const quick = `sweep-empty-${randomBytes(4).toString('hex')}`;
    try {
      await store.clinics.upsert({
        id: quick,
        name: 'Empty panel',
        webhookSecret: SECRET,
        fhirBaseUrl: empty.fhirBaseUrl,
        fhirClientId: 'autopilot-sweep',
        fhirPrivateKeyJwk: JSON.stringify(keys.privateJwk),
        fhirTokenUrl: null,
        protocolId: 'family-medicine-2015',
        nurseSlaSeconds: 3600,
        timezone: 'UTC',
        kinds: [{ kind: 'care-gap', enabled: true, protocolId: PROTOCOL }],
      });
      const ids: string[] = [];
      const finished: number[] = [];
      for (let i = 0; i < 4; i++) {
        const start = await api(`/v1/clinics/${quick}/sweeps`, { method: 'POST' });
        expect(start.status, await start.clone().text()).toBe(202);
        const { sweepId } = (await start.json()) as { sweepId: string };
        ids.push(sweepId);
        await temporal.client.workflow.getHandle(sweepId).result();
        finished.push(Date.now());
      }
      expect(new Set(ids).size).toBe(4);
      // The case this test is for did occur: some run finished in the same second it was scheduled for.
      const scheduled = ids.map((id) => Date.parse(id.slice(`${sweepScheduleId(quick)}-`.length)));
      expect(scheduled.some((at, i) => Math.floor(finished[i]! / 1000) === at / 1000)).toBe(true);
    } finally {
      await temporal.client.schedule
        .getHandle(sweepScheduleId(quick))
        .delete()
        .catch(() => undefined);
      await empty.close();
    }
  });

  test('an unknown sweep is 404; the Schedule skips overlaps and holds the clinic’s weekly run', async () => {
    const res = await api(
      `/v1/clinics/${clinicId}/sweeps/${encodeURIComponent(`ps_${clinicId}-2020-01-01T00:00:00Z`)}`,
    );
    expect(res.status).toBe(404);
    const schedule = await temporal.client.schedule.getHandle(sweepScheduleId(clinicId)).describe();
    expect(schedule.policies.overlap).toBe('SKIP');
    // The clinic's care-gap sweep cadence (default Monday 06:00), in its time zone.
    expect(schedule.spec.calendars?.[0]).toMatchObject({
      dayOfWeek: [{ start: 'MONDAY', end: 'MONDAY' }],
      hour: [{ start: 6, end: 6 }],
    });
    expect(schedule.spec.timezone).toBe('UTC');
  });
});

describe('events webhook → careGap', () => {
  test('a result for a patient with a case signals that case: the same workflow, no second one', async () => {
    const before = await runOf(caseOf('pt-a'));
    const res = await postEvent({ type: 'result.available', id: 'evt-fit-a', resource: 'Observation/obs-fit-a' });
    expect(res.status, await res.clone().text()).toBe(202);
    const out = (await res.json()) as { status: string; caseIds: string[]; intakeId: string };
    expect(out).toMatchObject({ status: 'cases', caseIds: [caseOf('pt-a')] });
    expect(await runOf(caseOf('pt-a'))).toBe(before ?? expect.any(String));
    expect(await executionsOf(caseOf('pt-a'))).toBe(1);

    // A redelivery answers the same, and starts nothing new.
    const again = await postEvent({ type: 'result.available', id: 'evt-fit-a', resource: 'Observation/obs-fit-a' });
    expect((await again.json()) as unknown).toEqual(out);
    let intakes = 0;
    for await (const _ of temporal.client.workflow.list({ query: `WorkflowId = '${out.intakeId}'` })) intakes += 1;
    expect(intakes).toBe(1);
  });

  test('a booked visit of a patient without a case starts one; an unknown focus touches nothing', async () => {
    expect(await runOf(caseOf('pt-new'))).toBeNull();
    const res = await postEvent({ type: 'appointment.booked', id: 'evt-ap-new', appointment: 'Appointment/ap-new' });
    expect(res.status, await res.clone().text()).toBe(202);
    expect((await res.json()) as unknown).toMatchObject({ status: 'cases', caseIds: [caseOf('pt-new')] });
    expect(await runOf(caseOf('pt-new'))).not.toBeNull();
    // The case runs: its first step puts it in the case projection, served as a care-gap case.
    let shown: { kind?: string } | undefined;
    for (const until = Date.now() + 30_000; Date.now() < until && !shown;) {
      const c = await api(`/v1/cases/${caseOf('pt-new')}`);
      if (c.status === 200) shown = (await c.json()) as typeof shown;
      else await new Promise((r) => setTimeout(r, 250));
    }
    expect(shown).toMatchObject({ kind: 'care-gap' });

    const missing = await postEvent({ type: 'result.available', id: 'evt-missing', resource: 'Observation/nope' });
    expect(missing.status).toBe(202);
    expect((await missing.json()) as unknown).toMatchObject({ status: 'not_found', caseIds: [] });

    // The intake's outcome can be read back by an admin.
    const intakeId = (
      (await (
        await postEvent({ type: 'appointment.booked', id: 'evt-ap-new', appointment: 'Appointment/ap-new' })
      ).json()) as { intakeId: string }
    ).intakeId;
    const read = await api(`/v1/clinics/${clinicId}/events/${intakeId}`);
    expect(read.status).toBe(200);
    expect((await read.json()) as unknown).toMatchObject({ eventId: 'evt-ap-new', caseIds: [caseOf('pt-new')] });
  });

  test('an EHR slower than the answer may wait: 202 pending with the intake; a redelivery answers the case ids', async () => {
    // The EHR fails the focus read a few times (the intake retries with backoff), so the intake outlasts the answer.
    sandbox.injectFaults({ status: 503, count: 6, match: '/Observation/obs-slow' });
    const body = { type: 'result.available', id: 'evt-slow', resource: 'Observation/obs-slow' };
    const res = await postEvent(body);
    expect(res.status, await res.clone().text()).toBe(202);
    const pending = (await res.json()) as {
      status: string;
      caseIds: string[];
      intakeId: string;
      links: { intake: string };
    };
    expect(pending).toMatchObject({ status: 'pending', caseIds: [] });
    expect(pending.links.intake).toContain(`/v1/clinics/${clinicId}/events/${pending.intakeId}`);
    const deadline = Date.now() + 30_000;
    let out: { status: string; caseIds: string[] } = pending;
    // A redelivery answers `pending` until the intake is done, or 503 (retry) when Temporal is too busy to answer.
    for (let busy = false; (busy || out.status === 'pending') && Date.now() < deadline;) {
      await new Promise((r) => setTimeout(r, 300));
      const again = await postEvent(body);
      busy = again.status === 503;
      if (!busy) out = (await again.json()) as typeof out;
    }
    expect(out).toMatchObject({ status: 'cases', caseIds: [caseOf('pt-b')] });
  });

  test('the kinds a clinic runs decide what starts: a clinic without care gaps starts nothing', async () => {
    const clinic = (await store.clinics.get(clinicId))!;
    const off = `${clinicId}-off`;
    await store.clinics.upsert({
      id: off,
      name: 'No care gaps',
      webhookSecret: SECRET,
      fhirBaseUrl: clinic.fhirBaseUrl,
      fhirClientId: clinic.fhirClientId,
      fhirPrivateKeyJwk: clinic.fhirPrivateKeyJwk,
      fhirTokenUrl: null,
      protocolId: 'family-medicine-2015',
      nurseSlaSeconds: 3600,
      timezone: 'UTC',
    });
    const res = await postEvent({ type: 'result.available', id: 'evt-off', resource: 'Observation/obs-fit-a' }, off);
    expect(res.status, await res.clone().text()).toBe(202);
    expect((await res.json()) as unknown).toMatchObject({ status: 'no_kind', caseIds: [] });
    expect(await runOf(careGapCaseId(off, PROTOCOL, subjectKeyer(config)(off, 'pt-a')))).toBeNull();
  });
});
