// A protocol simulation as a durable job, end to end on the real Temporal dev server: an admin starts it through
// the API, the worker's simulationJob workflow evaluates the clinic's recorded cases page by page, and a second API
// app (another replica: same database and Temporal, no memory shared) reports progress and pages through the result,
// which matches the synchronous simulation of the same version.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { extractRefillFacts, patientRecordFromBundle } from '../../facts/refill/index.ts';
import { createActivities } from '../../activities/index.ts';
import { createApp } from '../../api/app.ts';
import { createWorkflowGateway } from '../../api/workflow-gateway.ts';
import { createClinicFhir } from '../../connectors/fhir/clinic-connectors.ts';
import { createLogger } from '../../connectors/logger.ts';
import { egressPolicy } from '../../connectors/fhir/egress.ts';
import { createSecretBox } from '../../connectors/secret-box.ts';
import type { TemporalClientHandle } from '../../connectors/temporal.ts';
import { evaluateProtocol } from '../../rules/kinds/refill/evaluate.ts';
import type { ProtocolDefinition } from '../../rules/kinds/refill/protocol.ts';
import { findBuiltinProtocol } from '../../rules/kinds/refill/protocols/index.ts';
import { generateClinic, toPatientBundle } from '../../sandbox/synthetic/index.ts';
import { startHarness, TOKENS, type Harness } from '../helpers/harness.ts';
import { createTestClient, createTestWorker, uniqueTaskQueue } from '../helpers/temporal.ts';

const PROTOCOL = 'family-medicine-2015';
const AS_OF = '2026-06-15';
const TOTAL = 5600; // two pages of 5,000
let h: Harness;
let temporal: TemporalClientHandle;

beforeAll(async () => {
  h = await startHarness({ patients: 20 });
  temporal = await createTestClient(h.config);
  // The clinic's history: synthetic patients' facts and the decisions version 1 made on them, written in bulk.
  const v1 = findBuiltinProtocol(PROTOCOL)!;
  const clinic = generateClinic({ seed: 2015, patients: 150, asOf: AS_OF });
  const recorded = await Promise.all(
    clinic.refillRequests.map(async (r) => {
      const facts = extractRefillFacts(
        patientRecordFromBundle(toPatientBundle(clinic.resources, r.medicationRequestId)),
        { asOf: AS_OF },
      );
      return { facts: JSON.stringify(facts), decision: JSON.stringify(await evaluateProtocol(v1, facts)) };
    }),
  );
  const rows = Array.from({ length: TOTAL }, (_, i) => ({
    caseId: `rf_${h.clinicId}_hist-${String(i).padStart(5, '0')}`,
    clinicId: h.clinicId,
    protocolId: PROTOCOL,
    recordedAt: new Date(Date.UTC(2026, 0, 1) + i * 60_000).toISOString(),
    ...recorded[i % recorded.length]!,
  }));
  for (let i = 0; i < rows.length; i += 500) {
    await h.deps.db.kysely
      .insertInto('facts_snapshots')
      .values(rows.slice(i, i + 500))
      .execute();
  }
}, 120_000);
afterAll(async () => {
  await temporal?.close();
  await h?.close();
});

type Json = Record<string, unknown>;
interface Changed {
  caseId: string;
  before: Json;
  after: Json;
  criteria: Json[];
}

describe('a simulation job', () => {
  test('runs as a workflow, is readable from another replica, and pages to the synchronous result', async () => {
    const call = async (app: ReturnType<typeof createApp>, method: string, path: string, body?: unknown) => {
      const res = await app.request(path, {
        method,
        headers: { authorization: `Bearer ${TOKENS.admin}`, 'content-type': 'application/json' },
        ...(body !== undefined && { body: JSON.stringify(body) }),
      });
      const text = await res.text();
      return { status: res.status, text, json: JSON.parse(text) as Json };
    };

    // First, the admin drafts the PPI window down to 12 months.
    const created = await call(h.app, 'POST', `/v1/protocols/${PROTOCOL}/drafts`, { fromVersion: 1 });
    expect(created.status, created.text).toBe(201);
    const version = created.json.version as number;
    const definition = created.json.definition as ProtocolDefinition;
    const ppi = definition.categories.find((c) => c.id === 'antacid_reflux')!.criteria[0]!;
    (ppi.when as { all: { value: number }[] }).all[0]!.value = 12;
    const put = await call(h.app, 'PUT', `/v1/protocols/${PROTOCOL}/versions/${version}`, { definition });
    expect(put.status, put.text).toBe(200);
    const path = `/v1/protocols/${PROTOCOL}/versions/${version}/simulate`;

    // The synchronous answer is the reference.
    const sync = await call(h.app, 'POST', path, { clinicId: h.clinicId });
    expect(sync.status, sync.text).toBe(200);
    expect(sync.json.evaluated).toBe(TOTAL);
    const expectedChanged = sync.json.changed as Changed[];
    expect(expectedChanged.length).toBe(sync.json.changedTotal);
    expect(expectedChanged.length).toBeGreaterThan(100); // enough for several pages of 50

    // Then the same as a job, started on this replica…
    const started = await call(h.app, 'POST', path, { clinicId: h.clinicId, async: true });
    expect(started.status, started.text).toBe(202);
    const jobId = started.json.jobId as string;
    expect(jobId).toMatch(/^sim_[0-9a-f-]{36}$/);

    // …and followed on another one, which shares nothing with the first but the database and Temporal.
    const replica = createApp({ ...h.deps });
    const seen: number[] = [];
    let job: Json = {};
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      const r = await call(replica, 'GET', `/v1/simulations/${jobId}?pageSize=50`);
      expect(r.status, r.text).toBe(200);
      job = r.json;
      seen.push((job.progress as { done: number }).done);
      if (job.status !== 'running') break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(job.status, JSON.stringify(job.error)).toBe('done');
    expect(job.progress).toEqual({ done: TOTAL, total: TOTAL });
    expect([...seen].sort((a, b) => a - b)).toEqual(seen); // progress never goes back

    // The counts equal the synchronous run's; the changed cases, paged by 50, are exactly its list, in order.
    const report = job.report as Json;
    for (const key of [
      'evaluated',
      'skipped',
      'before',
      'after',
      'changedTotal',
      'protocolId',
      'version',
      'clinicId',
    ]) {
      expect(report[key], key).toEqual(sync.json[key]);
    }
    const paged: Changed[] = [...(report.changed as Changed[])];
    let next = (job.page as { next: number | null }).next;
    let pages = 1;
    while (next !== null) {
      const r = await call(replica, 'GET', `/v1/simulations/${jobId}?pageSize=50&cursor=${next}`);
      expect((r.json.report as { changed: Changed[] }).changed.length).toBeLessThanOrEqual(50);
      paged.push(...(r.json.report as { changed: Changed[] }).changed);
      next = (r.json.page as { next: number | null }).next;
      pages += 1;
    }
    expect(pages).toBe(Math.ceil(expectedChanged.length / 50));
    expect(paged).toEqual(expectedChanged);

    // It was a Temporal workflow with the job's id (no patient data in it), and the run is audited once.
    const handle = temporal.client.workflow.getHandle(jobId);
    expect(await handle.result()).toEqual({ jobId, status: 'done' });
    const described = await handle.describe();
    expect(described.type).toBe('simulationJob');
    expect(described.status.name).toBe('COMPLETED');
    const audit = await h.store.audit.listAudit({ action: 'protocol.simulated', limit: 100 });
    const mine = audit.items.filter((e) => (e.detail as { jobId?: string }).jobId === jobId);
    expect(mine).toHaveLength(1);
    expect(mine[0]).toMatchObject({ actorId: 'admin-1', protocolVersion: version, clinicId: h.clinicId });
    expect(mine[0]!.detail).toMatchObject({ evaluated: TOTAL, changed: expectedChanged.length });
  }, 120_000);

  test('is durable: started while no worker polls, it completes once a worker comes up', async () => {
    // An API replica whose task queue has no worker yet (the worker that would have run it is gone).
    const taskQueue = uniqueTaskQueue('sim');
    const replica = createApp({ ...h.deps, workflows: createWorkflowGateway(temporal.client, { taskQueue }) });
    const res = await replica.request(`/v1/protocols/${PROTOCOL}/versions/1/simulate`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKENS.admin}`, 'content-type': 'application/json' },
      body: JSON.stringify({ clinicId: h.clinicId, async: true, limit: 1200 }),
    });
    expect(res.status, await res.clone().text()).toBe(202);
    const { jobId } = (await res.json()) as { jobId: string };
    const read = async () =>
      (await (
        await h.app.request(`/v1/simulations/${jobId}`, { headers: { authorization: `Bearer ${TOKENS.admin}` } })
      ).json()) as { status: string; progress: { done: number; total: number | null }; report?: Json };
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(await read()).toMatchObject({ status: 'running', progress: { done: 0, total: null } });

    // A worker comes up on that queue: the job runs to the end.
    const logger = createLogger(h.config, 'test');
    const fhir = createClinicFhir(h.store, {
      timeoutMs: 5000,
      secrets: createSecretBox(h.config),
      egress: egressPolicy(h.config),
    });
    const worker = await createTestWorker({
      activities: createActivities({ store: h.store, fhir, logger }),
      config: h.config,
      taskQueue,
    });
    await worker.worker.runUntil(temporal.client.workflow.getHandle(jobId).result());
    await worker.close();
    const done = await read();
    expect(done).toMatchObject({ status: 'done', progress: { done: 1200, total: 1200 } });
    expect(done.report).toMatchObject({ evaluated: 1200, changedTotal: 0 }); // version 1 against its own decisions
  }, 120_000);
});
