// Access monitoring through the API in process, with a real SQLite store (issue 10 §3): the role `privacy` (a clinic's
// privacy officer) reads the access-monitoring routes of its clinic and /v1/me, and nothing else; admins read them too.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createApp } from '../../api/app.ts';
import type { WorkflowGateway } from '../../api/workflow-gateway.ts';
import { loadConfig } from '../../connectors/config.ts';
import { createStore, type Store } from '../../connectors/db/index.ts';
import { createLogger } from '../../connectors/logger.ts';
import { openTestDatabase, type TestDatabase } from '../helpers/db.ts';

const config = loadConfig({ LOG_LEVEL: 'silent', PAYLOAD_KEY: randomBytes(32).toString('base64') });
const logger = createLogger(config, 'test');
const GLOBAL_ADMIN = 'access-global-admin-token-0123456789';
const CLINIC_ADMIN = 'access-clinic-admin-token-0123456789';
const PRIVACY = 'access-privacy-token-0123456789abcdef';
const NURSE = 'access-nurse-token-0123456789abcdefgh';
const DOCTOR = 'access-doctor-token-0123456789abcdefg';
const NURSE_B = 'access-nurse-b-token-0123456789abcdef';

let testDb: TestDatabase;
let store: Store;
let app: ReturnType<typeof createApp>;
const clock = Date.now();

const gateway: WorkflowGateway = {
  startCase: () => Promise.reject(new Error('unused')),
  submitDecision: () => Promise.reject(new Error('unused')),
  getCaseState: () => Promise.resolve(null),
  ping: () => Promise.resolve(),
};

const clinic = (id: string) => ({
  id,
  name: id,
  webhookSecret: `whsec_${id}_0123456789abcdef`,
  fhirBaseUrl: 'https://ehr.example.org/fhir/R4',
  fhirClientId: 'x',
  protocolId: 'family-medicine-2015',
  nurseSlaSeconds: 3600,
  timezone: 'America/Chicago',
});

beforeAll(async () => {
  testDb = await openTestDatabase('sqlite');
  store = createStore(testDb.db);
  await store.clinics.upsert(clinic('ac-a'));
  await store.clinics.upsert(clinic('ac-b'));
  const token = (role: 'admin' | 'nurse' | 'doctor' | 'privacy', userId: string, t: string, clinicId: string | null) =>
    store.tokens.createToken({ name: userId, role, userId, clinicId, token: t });
  await token('admin', 'root@example.org', GLOBAL_ADMIN, null);
  await token('admin', 'lead@ac-a.example', CLINIC_ADMIN, 'ac-a');
  await token('privacy', 'po@ac-a.example', PRIVACY, 'ac-a');
  await token('nurse', 'ana@ac-a.example', NURSE, 'ac-a');
  await token('doctor', 'bo@ac-a.example', DOCTOR, 'ac-a');
  await token('nurse', 'cy@ac-b.example', NURSE_B, 'ac-b');
  for (const [clinicId, i, queue] of [
    ['ac-a', 1, 'nurse'],
    ['ac-a', 2, 'doctor'],
    ['ac-a', 3, 'nurse'],
    ['ac-b', 1, 'nurse'],
  ] as const) {
    await store.cases.upsertCaseProjection(
      {
        id: `rf_${clinicId}_mr-${i}`,
        clinicId,
        requestId: 'seed',
        patientId: `pat-${i}`,
        medicationRequestId: `mr-${i}`,
        drugName: 'Lisinopril 10 mg',
        status: 'queued',
        queue,
      },
      3,
    );
  }
  app = createApp({ config, db: testDb.db, store, workflows: gateway, logger, now: () => new Date(clock) });
});
afterAll(async () => {
  await testDb?.cleanup();
});

async function call(method: string, path: string, token: string | null, body?: unknown) {
  const headers: Record<string, string> = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await app.request(path, {
    method,
    headers,
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // CSV, or an empty body
  }
  return { status: res.status, text, json, headers: res.headers };
}

interface OpenApiDoc {
  paths: Record<string, Record<string, { security?: unknown[] }>>;
}

/** Routes a privacy officer may read: who it is, and access monitoring. */
const PRIVACY_ROUTES = /^\/v1\/(me|access\/.*)$/;

describe('the role privacy', () => {
  test('a clinic admin issues a privacy officer’s token for its clinic; one for no clinic is refused', async () => {
    const issued = await call('POST', '/v1/tokens', CLINIC_ADMIN, { role: 'privacy', userId: 'po2@ac-a.example' });
    expect(issued.status, issued.text).toBe(201);
    expect(issued.json.record).toMatchObject({ role: 'privacy', clinicId: 'ac-a' });
    const me = await call('GET', '/v1/me', (issued.json as { token: string }).token);
    expect(me.json).toEqual({ userId: 'po2@ac-a.example', role: 'privacy', clinicId: 'ac-a' });

    const unbound = await call('POST', '/v1/tokens', GLOBAL_ADMIN, { role: 'privacy', userId: 'po3@example.org' });
    expect(unbound.status, unbound.text).toBe(422);
    expect(unbound.json.error).toMatchObject({ issues: [{ path: '$.clinicId' }] });
  });

  test('a privacy token bound to no clinic (written around the API) is refused everywhere', async () => {
    await store.tokens.createToken({
      name: 'x',
      role: 'privacy',
      userId: 'po-unbound@example.org',
      token: 'access-unbound-privacy-token-01234567',
    });
    const me = await call('GET', '/v1/me', 'access-unbound-privacy-token-01234567');
    expect(me.status).toBe(403);
  });

  test('every other route of the API refuses it with 403, before reading anything', async () => {
    const doc = (await call('GET', '/openapi.json', null)).json as unknown as OpenApiDoc;
    const refused: string[] = [];
    let checked = 0;
    for (const [path, methods] of Object.entries(doc.paths)) {
      if (PRIVACY_ROUTES.test(path)) continue;
      for (const [method, op] of Object.entries(methods)) {
        if (!op.security) continue; // webhooks (signed) and public documents
        const concrete = path.replace(/\{([^}]+)\}/g, (_, name: string) => (name === 'clinicId' ? 'ac-a' : 'x-1'));
        const res = await call(method.toUpperCase(), concrete, PRIVACY, method === 'get' ? undefined : {});
        checked++;
        // CDS Hooks take the EHR's signed JWT, not an API token: any API token is 401 there, a privacy one too.
        const expected = path.startsWith('/cds-services') ? 401 : 403;
        if (res.status !== expected) refused.push(`${method} ${path}: ${res.status}`);
      }
    }
    expect(refused).toEqual([]);
    expect(checked).toBeGreaterThan(30);
    expect((await call('GET', '/v1/queues/nurse/cases', PRIVACY)).json.error).toMatchObject({
      code: 'FORBIDDEN',
      message: 'A privacy token reads access monitoring only, not cases, queues or settings',
    });
  });
});

interface Page {
  items: {
    id: number;
    action: string;
    category: string;
    userId: string;
    role: string | null;
    clinicId: string;
    requestId: string | null;
    callerRequestId: string | null;
    subjects: { caseId: string | null; patientId: string | null }[];
  }[];
  nextCursor: string | null;
}

describe('the access log', () => {
  const A = '/v1/access/ac-a';
  let viewId: string | null;

  beforeAll(async () => {
    // Clinicians at work through the API: a nurse lists her queue and opens a case, a doctor opens another; a nurse of
    // the other clinic opens one of hers. The worker reads a patient's record (written as the activity writes it).
    expect((await call('GET', '/v1/queues/nurse/cases', NURSE)).status).toBe(200);
    const view = await app.request('/v1/cases/rf_ac-a_mr-1', {
      headers: { authorization: `Bearer ${NURSE}`, 'x-request-id': 'ehr-trace:7' },
    });
    expect(view.status).toBe(200);
    viewId = view.headers.get('x-request-id');
    expect((await call('GET', '/v1/cases/rf_ac-a_mr-2', DOCTOR)).status).toBe(200);
    expect((await call('GET', '/v1/cases/rf_ac-b_mr-1', NURSE_B)).status).toBe(200);
    await store.audit.appendAudit({
      actorType: 'system',
      actorId: 'worker',
      action: 'patient_context.read',
      clinicId: 'ac-a',
      caseId: 'rf_ac-a_mr-3',
      requestId: 'req-webhook-3',
      detail: { patientId: 'pat-3', roundTrips: 2 },
    });
    await store.audit.appendAudit({
      actorType: 'user',
      actorId: 'bo@ac-a.example',
      actorRole: 'doctor',
      action: 'decision.recorded',
      clinicId: 'ac-a',
      caseId: 'rf_ac-a_mr-3',
      requestId: 'req-webhook-3',
      detail: { action: 'approve', decisionId: 'd-1' },
    });
    // Not accesses to patient data: a token issued, a protocol published.
    await store.audit.appendAudit({ actorType: 'user', actorId: 'x', action: 'token.issued', clinicId: 'ac-a' });
  });

  test('a privacy officer sees every access of its clinic: who, role, when, which case and patient, which request', async () => {
    const res = await call('GET', `${A}/log`, PRIVACY);
    expect(res.status, res.text).toBe(200);
    const page = res.json as unknown as Page;
    expect(page.items.map((e) => [e.action, e.userId])).toEqual([
      ['decision.recorded', 'bo@ac-a.example'],
      ['patient_context.read', 'worker'],
      ['case.viewed', 'bo@ac-a.example'],
      ['case.viewed', 'ana@ac-a.example'],
      ['queue.listed', 'ana@ac-a.example'],
    ]);
    const [decision, read, , nurseView, listed] = page.items;
    expect(nurseView).toMatchObject({
      category: 'view',
      role: 'nurse',
      clinicId: 'ac-a',
      requestId: viewId,
      callerRequestId: 'ehr-trace:7',
      subjects: [{ caseId: 'rf_ac-a_mr-1', patientId: 'pat-1' }],
    });
    expect(listed!.subjects).toEqual([
      { caseId: 'rf_ac-a_mr-1', patientId: 'pat-1' },
      { caseId: 'rf_ac-a_mr-3', patientId: 'pat-3' },
    ]);
    // The decision row names no patient; the case does.
    expect(decision!.subjects).toEqual([{ caseId: 'rf_ac-a_mr-3', patientId: 'pat-3' }]);
    expect(read).toMatchObject({ category: 'ehr_read', role: null, requestId: 'req-webhook-3' });
    expect(res.text).not.toMatch(/Lisinopril|ac-b/);
  });

  test('filters by person, case, patient and action; keyset pages', async () => {
    // (Earlier reads of the log touched these cases too, and are in it: the tests below look at the clinicians'.)
    const ids = async (query: string) =>
      ((await call('GET', `${A}/log?${query}`, PRIVACY)).json as unknown as Page).items
        .filter((e) => e.category !== 'monitoring')
        .map((e) => `${e.action}:${e.userId}`);
    expect(await ids('userId=ana@ac-a.example')).toEqual([
      'case.viewed:ana@ac-a.example',
      'queue.listed:ana@ac-a.example',
    ]);
    expect(await ids('caseId=rf_ac-a_mr-3')).toEqual([
      'decision.recorded:bo@ac-a.example',
      'patient_context.read:worker',
      'queue.listed:ana@ac-a.example',
    ]);
    expect(await ids('patientId=pat-1&action=case.viewed')).toEqual(['case.viewed:ana@ac-a.example']);
    // A patient id that is a prefix of another, or differs in case, matches nothing.
    expect(await ids('patientId=pat')).toEqual([]);
    expect(await ids('patientId=PAT-1')).toEqual([]);

    const first = (await call('GET', `${A}/log?limit=1&action=case.viewed`, PRIVACY)).json as unknown as Page;
    const all = (await call('GET', `${A}/log?action=case.viewed`, PRIVACY)).json as unknown as Page;
    expect(first.items).toHaveLength(1);
    expect(first.nextCursor).not.toBeNull();
    const second = (await call('GET', `${A}/log?limit=1&action=case.viewed&cursor=${first.nextCursor}`, PRIVACY))
      .json as unknown as Page;
    expect([...first.items, ...second.items].map((e) => e.id)).toEqual(all.items.map((e) => e.id));
    expect(second.nextCursor).toBeNull();
  });

  test('a range, by default the last 7 days; an empty or backward range is 422 at $.to', async () => {
    const old = new Date(clock - 8 * 86_400_000).toISOString();
    await store.audit.appendAudit({
      at: old,
      actorType: 'user',
      actorId: 'old@ac-a.example',
      actorRole: 'nurse',
      action: 'case.viewed',
      clinicId: 'ac-a',
      caseId: 'rf_ac-a_mr-1',
      detail: { patientId: 'pat-1' },
    });
    const recent = (await call('GET', `${A}/log?userId=old@ac-a.example`, PRIVACY)).json as unknown as Page;
    expect(recent.items).toEqual([]);
    const from = new Date(clock - 9 * 86_400_000).toISOString();
    const wider = (await call('GET', `${A}/log?userId=old@ac-a.example&from=${from}`, PRIVACY)).json as unknown as Page;
    expect(wider.items.map((e) => e.userId)).toEqual(['old@ac-a.example']);
    const backward = await call('GET', `${A}/log?from=${new Date(clock).toISOString()}&to=${from}`, PRIVACY);
    expect(backward.status).toBe(422);
    expect(backward.json.error).toMatchObject({ issues: [{ path: '$.to' }] });
  });

  test('bad input is 400 with the path; another clinic is 404; clinicians are 403', async () => {
    for (const [query, path] of [
      ['limit=201', '$.limit'],
      ['action=token.issued', '$.action'],
      ['caseId=nope', '$.caseId'],
      ['cursor=abc', '$.cursor'],
      ['from=yesterday', '$.from'],
    ]) {
      const res = await call('GET', `${A}/log?${query}`, PRIVACY);
      expect(res.status, query).toBe(400);
      expect(res.json.error).toMatchObject({ code: 'INVALID_INPUT', issues: [expect.objectContaining({ path })] });
    }
    expect((await call('GET', '/v1/access/ac-b/log', PRIVACY)).status).toBe(404);
    expect((await call('GET', '/v1/access/ac-b/log', CLINIC_ADMIN)).status).toBe(404);
    expect((await call('GET', '/v1/access/ac-b/log', GLOBAL_ADMIN)).status).toBe(200);
    expect((await call('GET', `${A}/log`, NURSE)).status).toBe(403);
    expect((await call('GET', `${A}/log`, null)).status).toBe(401);
  });

  test('reading the log is itself audited, with the cases and patients it showed; so is the CSV export', async () => {
    const res = await call('GET', `${A}/log?patientId=pat-1&action=case.viewed`, PRIVACY);
    const { items } = await store.audit.listAudit({ action: 'access_log.viewed', limit: 1 });
    expect(items[0]).toMatchObject({
      actorId: 'po@ac-a.example',
      actorRole: 'privacy',
      clinicId: 'ac-a',
      requestId: res.headers.get('x-request-id'),
      detail: {
        filterPatientId: 'pat-1',
        filterAction: 'case.viewed',
        caseIds: ['rf_ac-a_mr-1'],
        patientIds: ['pat-1'],
      },
    });
    // …and shows up in the log itself, as monitoring.
    const mine = (await call('GET', `${A}/log?userId=po@ac-a.example&action=access_log.viewed`, CLINIC_ADMIN))
      .json as unknown as Page;
    expect(mine.items[0]).toMatchObject({ category: 'monitoring', role: 'privacy' });

    const csv = await call('GET', `${A}/log.csv?caseId=rf_ac-a_mr-3`, PRIVACY);
    expect(csv.status, csv.text).toBe(200);
    expect(csv.headers.get('content-type')).toBe('text/csv; charset=utf-8');
    expect(csv.headers.get('content-disposition')).toMatch(/^attachment; filename="access-ac-a-\d{4}-\d{2}-\d{2}-/);
    const lines = csv.text.trimEnd().split('\r\n');
    expect(lines[0]).toBe(
      'at,user_id,role,actor_type,action,category,clinic_id,case_id,patient_id,request_id,caller_request_id,audit_id',
    );
    // The decision, the worker's read, and the queue page (its two cases, one line each), besides reads of the log.
    const rows = lines.slice(1).map((l) => l.split(','));
    expect(rows.filter((r) => r[5] !== 'monitoring').map((r) => r.slice(4, 9).join(','))).toEqual([
      'decision.recorded,decision,ac-a,rf_ac-a_mr-3,pat-3',
      'patient_context.read,ehr_read,ac-a,rf_ac-a_mr-3,pat-3',
      'queue.listed,list,ac-a,rf_ac-a_mr-1,pat-1',
      'queue.listed,list,ac-a,rf_ac-a_mr-3,pat-3',
    ]);
    const exported = await store.audit.listAudit({ action: 'access_log.exported', limit: 1 });
    expect(exported.items[0]).toMatchObject({
      actorId: 'po@ac-a.example',
      detail: { count: new Set(rows.map((r) => r[11])).size, filterCaseId: 'rf_ac-a_mr-3' },
    });
  });
});

interface FlagsBody {
  timezone: string;
  counts: { open: number; reviewed: number };
  items: {
    id: string;
    kind: string;
    userId: string | null;
    caseId: string | null;
    patientId: string | null;
    reason: string;
    evidence: { total: number; accesses: { auditId: number; caseId: string | null }[] };
    review: { note: string; reviewedBy: string; evidenceTotal: number } | null;
  }[];
}

describe('flags, their review and the clinic’s thresholds', () => {
  const A = '/v1/access/ac-a';
  const DAY = 'from=2026-03-10&to=2026-03-10';
  const view = (at: string, userId: string, role: string, caseId: string, queue: string) =>
    store.audit.appendAudit({
      at,
      actorType: 'user',
      actorId: userId,
      actorRole: role,
      action: 'case.viewed',
      clinicId: 'ac-a',
      caseId,
      detail: { patientId: `pat-${caseId.slice(-1)}`, queue },
    });

  beforeAll(async () => {
    // Tuesday 2026-03-10 in Chicago (CDT, UTC−5). A nurse opens a doctor-queue case at 10:00.
    await view('2026-03-10T15:00:00.000Z', 'ana@ac-a.example', 'nurse', 'rf_ac-a_mr-2', 'doctor');
    // A doctor opens a case at 23:00.
    await view('2026-03-11T04:00:00.000Z', 'night@ac-a.example', 'doctor', 'rf_ac-a_mr-1', 'nurse');
    // A nurse who opens 5 cases in an hour on each of the 7 days before opens 30 at 11:00.
    for (let d = 3; d <= 9; d++) {
      for (let i = 0; i < 5; i++) {
        await view(`2026-03-0${d}T16:0${i}:00.000Z`, 'fast@ac-a.example', 'nurse', `rf_ac-a_mr-h${i}`, 'nurse');
      }
    }
    for (let i = 0; i < 30; i++) {
      await view(
        `2026-03-10T16:${String(i).padStart(2, '0')}:00.000Z`,
        'fast@ac-a.example',
        'nurse',
        `rf_ac-a_mr-f${i}`,
        'nurse',
      );
    }
    // Five different people open one case during the afternoon.
    for (let i = 0; i < 5; i++) {
      await view(`2026-03-10T19:0${i}:00.000Z`, `u${i}@ac-a.example`, 'nurse', 'rf_ac-a_mr-3', 'nurse');
    }
  });

  const flags = async (query = DAY, token = PRIVACY) => {
    const res = await call('GET', `${A}/flags?${query}`, token);
    expect(res.status, res.text).toBe(200);
    return res.json as unknown as FlagsBody;
  };

  test('each heuristic flags what it should, with its evidence and a reason', async () => {
    const body = await flags();
    expect(body.timezone).toBe('America/Chicago');
    expect(body.items.map((f) => f.id)).toEqual([
      'outside_queues:2026-03-10:ana@ac-a.example',
      'rate:2026-03-10T16:fast@ac-a.example',
      'many_viewers:2026-03-10:rf_ac-a_mr-3',
      'after_hours:2026-03-10:night@ac-a.example',
    ]);
    const [outside, rate, many, night] = body.items;
    expect(outside).toMatchObject({ caseId: 'rf_ac-a_mr-2', patientId: 'pat-2', evidence: { total: 1 } });
    expect(outside!.reason).toContain('outside the queues a nurse works');
    expect(rate!.reason).toBe(
      'Viewed 30 cases in one hour: more than 3 × their own median of 5 per active hour over the 30 days before (and the floor of 20)',
    );
    expect(rate!.evidence.total).toBe(30);
    expect(many).toMatchObject({ caseId: 'rf_ac-a_mr-3', patientId: 'pat-3' });
    expect(night!.reason).toMatch(/^1 access to patient data at 23:00 \(America\/Chicago\)/);
    expect(body.counts).toEqual({ open: 4, reviewed: 0 });
    // Viewing the flags is audited with the cases and patients their evidence showed.
    const { items } = await store.audit.listAudit({ action: 'access_flags.viewed', limit: 1 });
    expect(items[0]).toMatchObject({ actorId: 'po@ac-a.example', clinicId: 'ac-a', detail: { count: 4 } });
    expect(items[0]!.detail.caseIds).toEqual(expect.arrayContaining(['rf_ac-a_mr-2', 'rf_ac-a_mr-3']));
  });

  test('a flag is marked reviewed once, with a note that stays out of the audit log', async () => {
    const id = 'after_hours:2026-03-10:night@ac-a.example';
    const note = 'On call that night (rota checked); no concern.';
    const res = await call('POST', `${A}/flag-reviews`, PRIVACY, { flagId: id, note });
    expect(res.status, res.text).toBe(201);
    expect(res.json).toMatchObject({ note, evidenceTotal: 1, reviewedBy: 'po@ac-a.example', reviewedRole: 'privacy' });
    const body = await flags();
    expect(body.items.find((f) => f.id === id)?.review).toMatchObject({ note, reviewedBy: 'po@ac-a.example' });
    expect(body.counts).toEqual({ open: 3, reviewed: 1 });
    expect((await flags(`${DAY}&status=open`)).items.map((f) => f.id)).not.toContain(id);
    expect((await flags(`${DAY}&status=reviewed`)).items.map((f) => f.id)).toEqual([id]);
    expect((await flags(`${DAY}&kind=rate`)).items.map((f) => f.kind)).toEqual(['rate']);

    const { items } = await store.audit.listAudit({ action: 'access_flag.reviewed', limit: 1 });
    expect(items[0]).toMatchObject({
      actorId: 'po@ac-a.example',
      actorRole: 'privacy',
      clinicId: 'ac-a',
      detail: { flagId: id, kind: 'after_hours', noteProvided: true },
    });
    expect(JSON.stringify(items[0])).not.toContain('rota');

    const again = await call('POST', `${A}/flag-reviews`, CLINIC_ADMIN, { flagId: id, note: 'again' });
    expect(again.status).toBe(409);
    const none = await call('POST', `${A}/flag-reviews`, PRIVACY, {
      flagId: 'after_hours:2026-03-10:nobody@ac-a.example',
      note: 'x',
    });
    expect(none.status).toBe(404);
    for (const [body, path] of [
      [{ flagId: id, note: '   ' }, '$.note'],
      [{ flagId: 'not a flag', note: 'x' }, '$.flagId'],
      [{ flagId: id, note: 'x', extra: 1 }, '$'],
    ] as const) {
      const bad = await call('POST', `${A}/flag-reviews`, PRIVACY, body);
      expect(bad.status, JSON.stringify(body)).toBe(400);
      expect(bad.json.error).toMatchObject({ issues: [expect.objectContaining({ path })] });
    }
    expect((await call('POST', '/v1/access/ac-b/flag-reviews', PRIVACY, { flagId: id, note: 'x' })).status).toBe(404);
    expect((await call('POST', `${A}/flag-reviews`, NURSE, { flagId: id, note: 'x' })).status).toBe(403);
  });

  test('thresholds are clinic settings: defaults, validated, versioned, audited, and they change the flags', async () => {
    const initial = await call('GET', `${A}/settings`, PRIVACY);
    expect(initial.json).toMatchObject({
      clinicId: 'ac-a',
      timezone: 'America/Chicago',
      workingHours: { start: '07:00', end: '19:00', days: [1, 2, 3, 4, 5] },
      rateMultiplier: 3,
      rateFloorPerHour: 20,
      rateBaselineDays: 30,
      viewersPerCase: 5,
      version: 0,
    });
    const { clinicId: _c, timezone: _t, version: _v, updatedAt: _u, updatedBy: _b, ...settings } = initial.json;
    // Six viewers to flag a case, and a clinic open until 23:30: the five-viewer case and the 23:00 view pass.
    const put = await call('PUT', `${A}/settings`, PRIVACY, {
      ...settings,
      viewersPerCase: 6,
      workingHours: { start: '07:00', end: '23:30', days: [1, 2, 3, 4, 5] },
      expectedVersion: 0,
    });
    expect(put.status, put.text).toBe(200);
    expect(put.json).toMatchObject({ version: 1, viewersPerCase: 6, updatedBy: 'po@ac-a.example' });
    expect((await flags()).items.map((f) => f.kind)).toEqual(['outside_queues', 'rate']);
    const { items } = await store.audit.listAudit({ action: 'access_settings.updated', limit: 1 });
    expect(items[0]).toMatchObject({
      actorRole: 'privacy',
      detail: { version: 1, before: { viewersPerCase: 5 }, after: { viewersPerCase: 6 }, fromDefaults: true },
    });

    const stale = await call('PUT', `${A}/settings`, CLINIC_ADMIN, { ...settings, expectedVersion: 0 });
    expect(stale.status).toBe(409);
    const backwards = await call('PUT', `${A}/settings`, PRIVACY, {
      ...settings,
      workingHours: { start: '19:00', end: '07:00', days: [1, 1] },
    });
    expect(backwards.status).toBe(422);
    expect((backwards.json.error as { issues: { path: string }[] }).issues.map((i) => i.path)).toEqual([
      '$.workingHours.end',
      '$.workingHours.days',
    ]);
    for (const [patch, path] of [
      [{ rateMultiplier: 1 }, '$.rateMultiplier'],
      [{ rateFloorPerHour: 0 }, '$.rateFloorPerHour'],
      [{ viewersPerCase: 2.5 }, '$.viewersPerCase'],
      [{ workingHours: { start: '7am', end: '19:00', days: [] } }, '$.workingHours.start'],
      [{ workingHours: { start: '07:00', end: '19:00', days: [8] } }, '$.workingHours.days[0]'],
    ] as const) {
      const bad = await call('PUT', `${A}/settings`, PRIVACY, { ...settings, ...patch });
      expect(bad.status, JSON.stringify(patch)).toBe(400);
      expect(bad.json.error).toMatchObject({ issues: [expect.objectContaining({ path })] });
    }
    // Back to the defaults for the other tests; a range over the limit is 422.
    expect((await call('PUT', `${A}/settings`, CLINIC_ADMIN, settings)).status).toBe(200);
    const wide = await call('GET', `${A}/flags?from=2026-01-01&to=2026-03-10`, PRIVACY);
    expect(wide.status).toBe(422);
    expect(wide.json.error).toMatchObject({ issues: [{ path: '$.to' }] });
  });
});
