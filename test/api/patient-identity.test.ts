// Who the patient is, without storing it: the case view and queue rows carry the patient's name, birth date, age,
// sex and MRN read live from the clinic's sandbox EHR (SMART backend auth, real HTTP), every view leaves an audit
// row, and the identity reaches neither the app database nor the logs. EHRs that are down or slow cost the identity,
// never the view.
import { Writable } from 'node:stream';
import type { Patient } from '@medplum/fhirtypes';
import { sql } from 'kysely';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createApp } from '../../api/app.ts';
import type { ApiDeps } from '../../api/deps.ts';
import type { WorkflowGateway } from '../../api/workflow-gateway.ts';
import { loadConfig } from '../../connectors/config.ts';
import { createStore, type CaseProjection, type Store } from '../../connectors/db/index.ts';
import { generateClientKeyPair } from '../../connectors/fhir/auth.ts';
import { createClinicFhir } from '../../connectors/fhir/clinic-connectors.ts';
import { egressPolicy } from '../../connectors/fhir/egress.ts';
import { clinicPatientFetcher, createPatientIdentityReader } from '../../connectors/fhir/patient-identity.ts';
import { IndexedRepository, loadResources } from '../../sandbox/indexed-repository.ts';
import { startSandbox, type SandboxHandle } from '../../sandbox/fhir-server.ts';
import { generateClinic } from '../../sandbox/synthetic/index.ts';
import { openTestDatabase, type TestDatabase } from '../helpers/db.ts';

const TOKENS = { nurse: 'nurse-token-identity-0123456789', admin: 'admin-token-identity-0123456789' } as const;
const ASOF = new Date().toISOString().slice(0, 10);
const MR = 'http://terminology.hl7.org/CodeSystem/v2-0203';

const gateway: WorkflowGateway = {
  startCase: () => Promise.reject(new Error('unused')),
  submitDecision: () => Promise.reject(new Error('unused')),
  getCaseState: () => Promise.resolve(null),
  ping: () => Promise.resolve(),
};

let tdb: TestDatabase;
let store: Store;
let app: ReturnType<typeof createApp>;
const sandboxes: SandboxHandle[] = [];
let ehrA: SandboxHandle;
let patientsA: Patient[];
let patientsB: Patient[];
const logLines: string[] = [];

/** A sandbox EHR serving a synthetic clinic (`seed`), with SMART backend auth for `clientId`. */
async function ehr(seed: number, jwks: unknown, opts: { latencyMs?: number } = {}) {
  const clinic = generateClinic({ seed, patients: 8, asOf: ASOF });
  const repo = new IndexedRepository();
  loadResources(repo, clinic.resources);
  const sandbox = await startSandbox({
    repo,
    clients: [{ clientId: 'autopilot-identity', jwks: jwks as never }],
    validate: false,
    ...opts,
  });
  sandboxes.push(sandbox);
  const patients = clinic.resources.filter((r): r is Patient => r.resourceType === 'Patient');
  return { sandbox, patients };
}

function caseRow(clinicId: string, n: number, patientId: string | null, rest: Partial<CaseProjection> = {}) {
  const mr = `mr-${String(n).padStart(4, '0')}-req`;
  return {
    id: `rf_${clinicId}_${mr}`,
    clinicId,
    requestId: `req-${clinicId}-${mr}`,
    patientId,
    medicationRequestId: mr,
    status: 'queued' as const,
    queue: 'nurse' as const,
    reason: 'protocol',
    disposition: 'nurse_review',
    drugName: 'Warfarin sodium 5 mg tablet',
    at: new Date(Date.now() - (100 - n) * 60_000).toISOString(),
    ...rest,
  };
}

function nameOf(p: Patient): string {
  const n = p.name?.[0];
  return [...(n?.given ?? []), n?.family].join(' ');
}

function mrnOf(p: Patient): string | undefined {
  return p.identifier?.find((i) => i.type?.coding?.some((c) => c.system === MR && c.code === 'MR'))?.value;
}

async function get(path: string, as: keyof typeof TOKENS) {
  const res = await app.request(path, { headers: { authorization: `Bearer ${TOKENS[as]}` } });
  return { res, body: (await res.json()) as Record<string, unknown> };
}

/** Every text cell of every table of the (SQLite) app database, as one string per row. */
async function databaseText(): Promise<string[]> {
  const tables = await sql<{ name: string }>`select name from sqlite_master where type = 'table'`.execute(
    tdb.db.kysely,
  );
  const rows: string[] = [];
  for (const { name } of tables.rows) {
    const all = await sql<Record<string, unknown>>`select * from ${sql.table(name)}`.execute(tdb.db.kysely);
    for (const row of all.rows) rows.push(`${name}: ${JSON.stringify(row)}`);
  }
  return rows;
}

beforeAll(async () => {
  const keys = await generateClientKeyPair();
  const a = await ehr(2015, keys.publicJwks);
  const b = await ehr(77, keys.publicJwks);
  const slow = await ehr(2015, keys.publicJwks, { latencyMs: 4000 });
  const down = await ehr(2015, keys.publicJwks);
  await down.sandbox.close(); // an EHR that refuses connections
  ehrA = a.sandbox;
  patientsA = a.patients;
  patientsB = b.patients;

  tdb = await openTestDatabase('sqlite');
  store = createStore(tdb.db);
  const base = {
    webhookSecret: 'whsec-identity-0123456789abcdef',
    fhirClientId: 'autopilot-identity',
    fhirPrivateKeyJwk: JSON.stringify(keys.privateJwk),
    fhirTokenUrl: null,
    protocolId: 'family-medicine-2015',
    nurseSlaSeconds: 3600,
    timezone: 'UTC',
  };
  for (const [id, sandbox] of [
    ['clinic-a', a.sandbox],
    ['clinic-b', b.sandbox],
    ['clinic-slow', slow.sandbox],
    ['clinic-down', down.sandbox],
  ] as const) {
    await store.clinics.upsert({ ...base, id, name: id, fhirBaseUrl: sandbox.fhirBaseUrl });
  }
  await store.tokens.createToken({
    name: 'nurse',
    role: 'nurse',
    userId: 'nurse.jones',
    clinicId: 'clinic-a',
    token: TOKENS.nurse,
  });
  await store.tokens.createToken({
    name: 'admin',
    role: 'admin',
    userId: 'admin.lee',
    clinicId: null,
    token: TOKENS.admin,
  });

  // clinic-a: five cases of five patients, one not triaged yet (no patient); clinic-b: a case of a patient whose
  // id (pat-0001) clinic-a's EHR also uses, for another person; the slow and the down clinic: one case each.
  for (let i = 1; i <= 5; i++) await store.cases.upsertCaseProjection(caseRow('clinic-a', i, patientsA[i - 1]!.id!), 1);
  await store.cases.upsertCaseProjection(
    caseRow('clinic-a', 6, null, { disposition: null, reason: 'ehr_unavailable' }),
    1,
  );
  await store.cases.upsertCaseProjection(caseRow('clinic-b', 7, patientsB[0]!.id!), 1);
  await store.cases.upsertCaseProjection(caseRow('clinic-slow', 8, 'pat-0001'), 1);
  await store.cases.upsertCaseProjection(caseRow('clinic-down', 9, 'pat-0001'), 1);

  const config = loadConfig({ LOG_LEVEL: 'debug', EHR_ALLOW_PRIVATE_NETWORKS: 'true' });
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      logLines.push(chunk.toString());
      done();
    },
  });
  const deps: ApiDeps = {
    config,
    db: tdb.db,
    store,
    workflows: gateway,
    logger: pino({ level: 'debug' }, sink),
    now: () => new Date(),
    patientIdentity: createPatientIdentityReader({
      fetch: clinicPatientFetcher(createClinicFhir(store, { timeoutMs: 2000, egress: egressPolicy(config) })),
      timeoutMs: 1500,
    }),
  };
  app = createApp(deps);
});

afterAll(async () => {
  await Promise.allSettled(sandboxes.map((s) => s.close()));
  await tdb?.cleanup();
});

describe('the case view', () => {
  test('shows name, birth date, age, sex and MRN read live from the EHR, and audits the view', async () => {
    const p = patientsA[0]!;
    expect(mrnOf(p), 'the synthetic patients carry an MR-typed identifier').toMatch(/^MRN\d+$/);
    const { res, body } = await get(`/v1/cases/rf_clinic-a_mr-0001-req`, 'nurse');
    expect(res.status).toBe(200);
    const born = p.birthDate!;
    const age = Number(ASOF.slice(0, 4)) - Number(born.slice(0, 4)) - (ASOF.slice(5) < born.slice(5) ? 1 : 0);
    expect(body.patient).toEqual({ name: nameOf(p), birthDate: born, age, sex: p.gender, mrn: mrnOf(p) });

    // The audit row: who (user, role), which clinic, case and patient, and the request (as X-Request-Id answers).
    const requestId = res.headers.get('x-request-id');
    const { items } = await store.audit.listAudit({ caseId: 'rf_clinic-a_mr-0001-req', action: 'case.viewed' });
    expect(items[0]).toMatchObject({
      actorType: 'user',
      actorId: 'nurse.jones',
      actorRole: 'nurse',
      clinicId: 'clinic-a',
      caseId: 'rf_clinic-a_mr-0001-req',
      requestId,
      detail: { patientId: p.id, identity: 'shown' },
    });
    // The EHR saw one Patient search for this request, carrying the same request id.
    const searches = ehrA.requests.filter((r) => r.requestId === requestId && r.path.endsWith('/Patient'));
    expect(searches).toHaveLength(1);
    expect(new URLSearchParams(searches[0]!.query).get('_id')).toBe(p.id);
  });

  test('a case whose patient is not known yet has no patient, and the EHR is not asked', async () => {
    const before = ehrA.requests.length;
    const { res, body } = await get(`/v1/cases/rf_clinic-a_mr-0006-req`, 'nurse');
    expect(res.status).toBe(200);
    expect(body).not.toHaveProperty('patient');
    expect(ehrA.requests.length).toBe(before);
  });
});

describe('the queue', () => {
  test('(a second case view first, so that two of the page’s patients are cached)', async () => {
    const { body } = await get(`/v1/cases/rf_clinic-a_mr-0002-req`, 'nurse');
    expect(body.patient).toMatchObject({ name: nameOf(patientsA[1]!), mrn: mrnOf(patientsA[1]!) });
  });

  test('one EHR search per page for the rows not cached, every row identified, the view audited', async () => {
    const { res, body } = await get(`/v1/queues/nurse/cases?limit=50`, 'nurse');
    expect(res.status).toBe(200);
    const items = body.items as { caseId: string; patientId: string | null; patient?: Record<string, unknown> }[];
    expect(items.map((i) => i.caseId)).toEqual([1, 2, 3, 4, 5, 6].map((n) => `rf_clinic-a_mr-000${n}-req`));
    for (const [i, item] of items.slice(0, 5).entries()) {
      const p = patientsA[i]!;
      expect(item.patient).toMatchObject({ name: nameOf(p), birthDate: p.birthDate, sex: p.gender, mrn: mrnOf(p) });
    }
    expect(items[5]).not.toHaveProperty('patient');
    const requestId = res.headers.get('x-request-id');
    const searches = ehrA.requests.filter((r) => r.requestId === requestId && r.path.endsWith('/Patient'));
    // Patients 1 and 2 were viewed a moment ago (cached for 60 s): one search, for the other three only.
    expect(searches).toHaveLength(1);
    expect(new URLSearchParams(searches[0]!.query).get('_id')!.split(',').sort()).toEqual(
      patientsA
        .slice(2, 5)
        .map((p) => p.id)
        .sort(),
    );
    const { items: audit } = await store.audit.listAudit({ action: 'queue.listed', limit: 1 });
    expect(audit[0]).toMatchObject({
      actorId: 'nurse.jones',
      actorRole: 'nurse',
      clinicId: 'clinic-a',
      requestId,
      detail: {
        queue: 'nurse',
        caseIds: items.map((i) => i.caseId),
        patientIds: items.map((i) => i.patientId ?? ''),
        identitiesShown: 5,
      },
    });

    // Inside the TTL a second page view asks the EHR nothing.
    const again = await get(`/v1/queues/nurse/cases?limit=50`, 'nurse');
    const id2 = again.res.headers.get('x-request-id');
    expect(ehrA.requests.filter((r) => r.requestId === id2)).toEqual([]);
  });

  test('per clinic: the same patient id in two clinics shows each clinic’s own patient', async () => {
    const a = patientsA[0]!;
    const b = patientsB[0]!;
    expect(a.id).toBe(b.id);
    expect(nameOf(a)).not.toBe(nameOf(b));
    const { body } = await get(`/v1/queues/nurse/cases?limit=50`, 'admin');
    const items = body.items as { caseId: string; patient?: { name?: string } }[];
    const byCase = new Map(items.map((i) => [i.caseId, i.patient]));
    expect(byCase.get('rf_clinic-a_mr-0001-req')).toMatchObject({ name: nameOf(a) });
    expect(byCase.get('rf_clinic-b_mr-0007-req')).toMatchObject({ name: nameOf(b) });
  });
});

describe('an EHR that is down or slow', () => {
  test('the case and the queue still render, the identity marked unavailable, and the view is audited', async () => {
    const down = await get(`/v1/cases/rf_clinic-down_mr-0009-req`, 'admin');
    expect(down.res.status).toBe(200);
    expect(down.body.patient).toEqual({ unavailable: true, reason: 'ehr_unavailable' });
    const { items } = await store.audit.listAudit({ caseId: 'rf_clinic-down_mr-0009-req', action: 'case.viewed' });
    expect(items[0]?.detail).toEqual({ patientId: 'pat-0001', queue: 'nurse', identity: 'ehr_unavailable' });

    const started = Date.now();
    const slow = await get(`/v1/cases/rf_clinic-slow_mr-0008-req`, 'admin');
    expect(slow.res.status).toBe(200);
    expect(slow.body.patient).toEqual({ unavailable: true, reason: 'timeout' });
    expect(Date.now() - started).toBeLessThan(3000);

    const queue = await get(`/v1/queues/nurse/cases?limit=50`, 'admin');
    expect(queue.res.status).toBe(200);
    const rows = queue.body.items as { caseId: string; patient?: unknown }[];
    expect(rows.find((r) => r.caseId === 'rf_clinic-down_mr-0009-req')?.patient).toEqual({
      unavailable: true,
      reason: 'ehr_unavailable',
    });
    expect(rows.find((r) => r.caseId === 'rf_clinic-a_mr-0003-req')?.patient).toMatchObject({
      name: nameOf(patientsA[2]!),
    });
    // Logged with the clinic, the reason and a count: no patient id, no name.
    const warning = logLines.find((l) => l.includes('patient identity unavailable') && l.includes('clinic-down'));
    expect(JSON.parse(warning!)).toMatchObject({ clinicId: 'clinic-down', reason: 'ehr_unavailable', count: 1 });
    expect(warning).not.toContain('pat-0001');
  });
});

describe('storage', () => {
  test('after all these views, no identity is in the app database or the logs', async () => {
    const rows = await databaseText();
    expect(
      rows.some((r) => r.includes('case.viewed')),
      'the scan sees the audit rows',
    ).toBe(true);
    for (const q of patientsA.slice(0, 5)) {
      for (const secret of [nameOf(q), mrnOf(q)!, `"${q.birthDate!}"`]) {
        expect(rows.filter((r) => r.includes(secret))).toEqual([]);
        expect(logLines.filter((l) => l.includes(secret))).toEqual([]);
      }
    }
    expect(logLines.length).toBeGreaterThan(0);
  });
});
