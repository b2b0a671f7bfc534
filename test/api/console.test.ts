// The web console, driven in a real browser (Chromium via playwright-core, resolved by test/helpers/chromium.ts: no
// system browser needed) against the real Hono app, a real SQLite app database and a recording workflow gateway (the
// workflow path has its own tests).
import { mkdirSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import type { Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { createApp } from '../../api/app.ts';
import type { ApiDeps } from '../../api/deps.ts';
import { meRoutes } from '../../api/routes/me.ts';
import { ensureBuiltinProtocols } from '../../api/seed.ts';
import type { WorkflowGateway } from '../../api/workflow-gateway.ts';
import { loadConfig } from '../../connectors/config.ts';
import { createStore, type CaseEventInput, type CaseProjection, type Store } from '../../connectors/db/index.ts';
import { createLogger } from '../../connectors/logger.ts';
import { AppError } from '../../rules/index.ts';
import { describeLifecycle } from '../../rules/lifecycle/index.ts';
import type { ClinicianDecision } from '../../rules/schema/case.ts';
import type { TriageDecision } from '../../rules/kinds/refill/decision.ts';
import { axeViolations, ConsoleBrowser } from '../helpers/console-browser.ts';
import { openTestDatabase, type TestDatabase } from '../helpers/db.ts';

const CLINIC = 'clinic-a';
const TOKENS = {
  nurse: 'nurse-token-0123456789abcdef',
  doctor: 'doctor-token-0123456789abcdef',
  admin: 'admin-token-0123456789abcdef',
};

/** The recording fake: every decision the API forwards, and a per-case script of failures to answer with. */
class RecordingGateway implements WorkflowGateway {
  readonly decisions: { caseId: string; decision: ClinicianDecision }[] = [];
  readonly script = new Map<string, AppError[]>();

  startCase(): Promise<{ caseId: string; runId: string }> {
    return Promise.reject(new Error('not used by the console'));
  }
  submitDecision(
    caseId: string,
    _workflowType: string,
    decision: ClinicianDecision,
  ): Promise<{
    caseId: string;
    decisionId: string;
    action: ClinicianDecision['action'];
    queue: null;
  }> {
    this.decisions.push({ caseId, decision });
    const failure = this.script.get(caseId)?.shift();
    if (failure) return Promise.reject(failure);
    return Promise.resolve({ caseId, decisionId: decision.decisionId, action: decision.action, queue: null });
  }
  getCaseState(): Promise<null> {
    return Promise.resolve(null);
  }
  ping(): Promise<void> {
    return Promise.resolve();
  }
}

const PROTOCOL = { id: 'family-medicine-2015', version: 1 };

// Decisions as the evaluator produces them for the synthetic clinic (test/fixtures/bundles), ids kept.
const needsVisitInsulin: TriageDecision = {
  disposition: 'needs_visit',
  failedCriteria: ['pcp_visit_12mo_or_ccn_visit_6mo'],
  criteria: [
    {
      id: 'active_allergy_to_requested_drug',
      clause: 'G-1',
      passed: true,
      explanation: 'No active allergy to insulin glargine on file.',
      evidence: [],
    },
    {
      id: 'medication_not_active',
      clause: 'G-1',
      passed: true,
      explanation: 'The prescription being renewed is active.',
      evidence: [{ resourceType: 'MedicationRequest', id: 'mr-0155-02', date: '2026-03-24', display: 'active' }],
    },
    {
      id: 'pcp_visit_12mo_or_ccn_visit_6mo',
      clause: 'DM-1',
      passed: false,
      explanation:
        'No PCP visit within 12 months (last: 2025-01-13) and no Collaborative Care Nurse visit within 6 months ' +
        '(last: 2025-11-05): the patient needs a visit.',
      evidence: [
        { resourceType: 'Encounter', id: 'enc-0155-03', date: '2025-01-13', display: 'Office visit with the PCP' },
        {
          resourceType: 'Encounter',
          id: 'enc-0155-04',
          date: '2025-11-05',
          display: 'Visit with the Collaborative Care Nurse',
        },
      ],
    },
    {
      id: 'a1c_order_cadence_undefined',
      clause: 'DM-2',
      passed: true,
      explanation: 'Last A1c 9 has a DM-2 cadence.',
      evidence: [
        {
          resourceType: 'Observation',
          id: 'obs-0155-010',
          date: '2026-01-25',
          value: 9,
          display: 'Hemoglobin A1c: 9 %',
        },
      ],
    },
  ],
  approvedSupply: null,
  bridgeSupply: { quantity: 30, refills: 1 },
  routeTo: null,
  actions: ['order_hba1c', 'order_urine_microalbumin'],
  protocol: PROTOCOL,
  drug: {
    name: 'Insulin glargine 100 units/mL pen (Lantus SoloStar)',
    ingredients: ['insulin glargine'],
    classes: ['antidiabetic', 'insulin'],
    controlledSchedule: null,
  },
};

function routed(id: string, clause: string, explanation: string, mr: string, drug: string): TriageDecision['criteria'] {
  return [
    {
      id,
      clause,
      passed: false,
      explanation,
      evidence: [{ resourceType: 'MedicationRequest', id: mr, date: '2026-06-13', display: drug }],
    },
  ];
}

const nurseReviewWarfarin = (mr: string): TriageDecision => ({
  disposition: 'nurse_review',
  failedCriteria: ['warfarin_to_protime_nurse'],
  criteria: routed(
    'warfarin_to_protime_nurse',
    'AC-3',
    'Warfarin: forwarded to the Protime (anticoagulation) nurse pool (AC-3).',
    mr,
    'Warfarin sodium 5 mg tablet',
  ),
  approvedSupply: null,
  bridgeSupply: null,
  routeTo: 'protime_nurse_pool',
  actions: [],
  protocol: PROTOCOL,
  drug: {
    name: 'Warfarin sodium 5 mg tablet',
    ingredients: ['warfarin'],
    classes: ['anticoagulant'],
    controlledSchedule: null,
  },
});

const doctorReviewClopidogrel: TriageDecision = {
  disposition: 'doctor_review',
  failedCriteria: ['clopidogrel_provider_each_time'],
  criteria: routed(
    'clopidogrel_provider_each_time',
    'AC-2',
    'Clopidogrel: the provider reviews every renewal (AC-2).',
    'mr-0034-req',
    'Clopidogrel 75 mg tablet',
  ),
  approvedSupply: null,
  bridgeSupply: null,
  routeTo: 'pcp_or_coverage',
  actions: [],
  protocol: PROTOCOL,
  drug: {
    name: 'Clopidogrel 75 mg tablet',
    ingredients: ['clopidogrel'],
    classes: ['antiplatelet'],
    controlledSchedule: null,
  },
};

const approveFamotidine = (mr: string): TriageDecision => ({
  disposition: 'approve',
  failedCriteria: [],
  criteria: [
    {
      id: 'visit_within_18mo',
      clause: 'PPI-1',
      passed: true,
      explanation: 'Last PCP office visit 2025-01-22 is within 18 months.',
      evidence: [
        { resourceType: 'Encounter', id: `enc-${mr}`, date: '2025-01-22', display: 'Office visit with the PCP' },
      ],
    },
  ],
  approvedSupply: { renewalMonths: 12 },
  bridgeSupply: null,
  routeTo: null,
  actions: [],
  protocol: PROTOCOL,
  drug: {
    name: 'Famotidine 40 mg tablet',
    ingredients: ['famotidine'],
    classes: ['h2_blocker'],
    controlledSchedule: null,
  },
});

const NOW = Date.now();
const iso = (offsetMinutes: number): string => new Date(NOW + offsetMinutes * 60_000).toISOString();

/** A queued case as the workflow projects it. */
function queued(
  mr: string,
  minutesAgo: number,
  rest: Omit<Partial<CaseProjection>, 'id' | 'clinicId' | 'requestId' | 'medicationRequestId' | 'status'>,
): CaseProjection {
  const d = rest.decision as TriageDecision | undefined;
  return {
    id: `rf_${CLINIC}_${mr}`,
    clinicId: CLINIC,
    requestId: `req-${mr}`,
    patientId: d ? `pt-${mr}` : null,
    medicationRequestId: mr,
    status: 'queued',
    reason: 'protocol',
    ...(d ? { drugName: d.drug.name, disposition: d.disposition, protocolId: PROTOCOL.id, protocolVersion: 1 } : {}),
    at: iso(-minutesAgo),
    ...rest,
  };
}

const INSULIN = `rf_${CLINIC}_mr-0155-req`;
const UNTRIAGED = `rf_${CLINIC}_mr-0201-req`;
const WARFARIN_503 = `rf_${CLINIC}_mr-0025-req`;
const WARFARIN_409 = `rf_${CLINIC}_mr-0026-req`;
const CLOPIDOGREL = `rf_${CLINIC}_mr-0034-req`;

let tdb: TestDatabase;
let store: Store;
let gateway: RecordingGateway;
let server: ServerType;
let baseUrl: string;
/** The browser; it records script errors and CSP violations (HTTP 4xx/5xx answers are expected). */
let cb: ConsoleBrowser;

async function seed(): Promise<void> {
  await ensureBuiltinProtocols(store, createLogger({ LOG_LEVEL: 'silent' }, 'test'));
  await store.clinics.upsert({
    id: CLINIC,
    name: 'Family Clinic A',
    webhookSecret: 'whsec-0123456789abcdef',
    fhirBaseUrl: 'http://127.0.0.1:3001/fhir/R4',
    fhirClientId: 'autopilot',
    protocolId: PROTOCOL.id,
    nurseSlaSeconds: 4 * 3600,
    timezone: 'America/Chicago',
  });
  await store.tokens.createToken({
    name: 'nurse',
    role: 'nurse',
    userId: 'nurse.jones',
    clinicId: CLINIC,
    token: TOKENS.nurse,
  });
  await store.tokens.createToken({
    name: 'doctor',
    role: 'doctor',
    userId: 'dr.smith',
    clinicId: CLINIC,
    token: TOKENS.doctor,
  });
  await store.tokens.createToken({
    name: 'admin',
    role: 'admin',
    userId: 'admin.lee',
    clinicId: null,
    token: TOKENS.admin,
  });

  const cases: CaseProjection[] = [
    // Oldest nurse case: automation off, never triaged, past its SLA.
    queued('mr-0201-req', 300, { reason: 'automation_disabled', slaDueAt: iso(-60) }),
    queued('mr-0155-req', 120, { decision: needsVisitInsulin, slaDueAt: iso(120) }),
    queued('mr-0025-req', 90, {
      decision: nurseReviewWarfarin('mr-0025-req'),
      pool: 'protime_nurse_pool',
      slaDueAt: iso(150),
    }),
    queued('mr-0026-req', 80, {
      decision: nurseReviewWarfarin('mr-0026-req'),
      pool: 'protime_nurse_pool',
      slaDueAt: iso(160),
    }),
    queued('mr-0034-req', 60, { decision: doctorReviewClopidogrel, queue: 'doctor', pool: 'pcp_or_coverage' }),
  ].map((c) => ({ queue: 'nurse' as const, ...c }));
  // 27 protocol approvals waiting for a signature: more than one page (25).
  for (let i = 0; i < 27; i++) {
    const mr = `mr-${String(1000 + i)}-req`;
    cases.push(queued(mr, 400 - i, { decision: approveFamotidine(mr), queue: 'signature' }));
  }
  for (const c of cases) await store.cases.upsertCaseProjection(c, 2);

  const timeline: Omit<CaseEventInput, 'caseId'>[] = [
    { seq: 0, at: iso(-121), kind: 'case.received', actor: 'ehr', detail: { medicationRequestId: 'mr-0155-req' } },
    { seq: 1, at: iso(-121), kind: 'case.triaging', actor: 'system', detail: {} },
    {
      seq: 2,
      at: iso(-120),
      kind: 'case.queued',
      actor: 'system',
      detail: { queue: 'nurse', pool: null, reason: 'protocol' },
    },
  ];
  for (const e of timeline) await store.cases.appendCaseEvent({ caseId: INSULIN, ...e });
  await store.audit.appendAudit({
    at: iso(-120),
    actorType: 'system',
    actorId: 'system',
    action: 'case.routed',
    clinicId: CLINIC,
    caseId: INSULIN,
    protocolId: PROTOCOL.id,
    protocolVersion: 1,
    detail: { queue: 'nurse', disposition: 'needs_visit' },
  });
}

beforeAll(async () => {
  tdb = await openTestDatabase('sqlite');
  store = createStore(tdb.db);
  await seed();
  gateway = new RecordingGateway();
  const config = loadConfig({ NODE_ENV: 'test', LOG_LEVEL: 'silent' });
  const deps: ApiDeps = {
    config,
    db: tdb.db,
    store,
    workflows: gateway,
    logger: createLogger(config, 'api-test'),
    now: () => new Date(),
  };
  // GET /v1/me lives in api/routes/me.ts; mount it here until api/app.ts does (a probe app answers 401 once it does).
  const meMounted = (await createApp(deps).request('/v1/me')).status !== 404;
  const app = createApp(deps);
  if (!meMounted) app.route('/', meRoutes(deps));
  server = await new Promise<ServerType>((resolve) => {
    const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s));
  });
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  cb = await ConsoleBrowser.launch(baseUrl);
});

afterEach(() => cb.expectNoProblems());

afterAll(async () => {
  await cb?.close();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  await tdb?.cleanup();
});

/** A fresh browser tab (its own sessionStorage), signed in with the given role's token. */
const signedIn = (role: keyof typeof TOKENS): Promise<Page> => cb.signedIn(TOKENS[role], { role });

describe('console', () => {
  test('the page and its assets are served from the API, with a strict content security policy', async () => {
    const res = await fetch(`${baseUrl}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/html');
    expect(res.headers.get('content-security-policy')).toContain("script-src 'self'");
    const html = await res.text();
    expect(html).toContain('/console/app.js');
    for (const [path, type] of [
      ['/console/app.js', 'text/javascript'],
      ['/console/app.css', 'text/css'],
    ] as const) {
      const r = await fetch(`${baseUrl}${path}`);
      expect(r.status, path).toBe(200);
      expect(r.headers.get('content-type')).toContain(type);
    }
  });

  test('GET /v1/me answers who the token belongs to, and 401 without one', async () => {
    const me = await fetch(`${baseUrl}/v1/me`, { headers: { authorization: `Bearer ${TOKENS.nurse}` } });
    expect(me.status).toBe(200);
    expect(await me.json()).toEqual({ userId: 'nurse.jones', role: 'nurse', clinicId: CLINIC });
    const anon = await fetch(`${baseUrl}/v1/me`);
    expect(anon.status).toBe(401);
    expect(((await anon.json()) as { error: { code: string } }).error.code).toBe('UNAUTHENTICATED');
  });

  test('GET /v1/lifecycle answers the case lifecycle of rules/lifecycle/, and 401 without a token', async () => {
    const res = await fetch(`${baseUrl}/v1/lifecycle`, { headers: { authorization: `Bearer ${TOKENS.nurse}` } });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual(describeLifecycle());
    expect((await fetch(`${baseUrl}/v1/lifecycle`)).status).toBe(401);
  });

  test("the console offers the buttons the API's lifecycle allows, not a copy of its own", async () => {
    const page = await cb.newPage();
    // A lifecycle in which the nurse queue offers a nurse only "needs a visit" (the server would still decide).
    const lifecycle = describeLifecycle();
    const nurseQueue = lifecycle.queues.find((q) => q.queue === 'nurse')!;
    nurseQueue.actions = ['needs_visit'];
    await page.route('**/v1/lifecycle', (r) => r.fulfill({ json: lifecycle }));
    await page.goto(`${baseUrl}/#/case/${encodeURIComponent(INSULIN)}`);
    await page.getByLabel('API token').fill(TOKENS.nurse);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByTestId('role').filter({ hasText: 'nurse' }).waitFor();
    await expect.poll(() => page.locator('.decision-buttons button').allTextContents()).toEqual(['Needs a visit']);
  });

  test('axe: the sign-in page, a queue and a case have no serious or critical violations', async () => {
    const page = await cb.newPage();
    await page.goto(baseUrl);
    await page.getByLabel('API token').waitFor();
    expect(await axeViolations(page)).toEqual([]);
    await cb.signIn(page, TOKENS.nurse, 'nurse');
    await expect.poll(() => page.locator('#queue-body tr').count()).toBeGreaterThan(0);
    expect(await axeViolations(page)).toEqual([]);
    await page.goto(`${baseUrl}/#/case/${encodeURIComponent(INSULIN)}`);
    await page.locator('#case-headline').waitFor();
    expect(await axeViolations(page)).toEqual([]);
  });

  test('a wrong token is refused at sign-in; a good one survives a reload and sign-out forgets it', async () => {
    const page = await cb.newPage(await cb.newContext({ viewport: { width: 1280, height: 720 } }));
    await page.goto(baseUrl);
    await page.getByLabel('API token').fill('not-a-real-token-000000000');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect.poll(() => page.locator('#signin-error').textContent()).toBe('This token was not accepted.');

    await page.getByLabel('API token').fill(TOKENS.nurse);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByTestId('role').filter({ hasText: 'nurse' }).waitFor();
    expect(page.url()).toMatch(/#\/queue\/nurse$/);
    await page.reload();
    await page.getByTestId('role').filter({ hasText: 'nurse' }).waitFor();
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('API token').waitFor();
    expect(await page.evaluate(() => sessionStorage.length)).toBe(0);
  });

  test('a nurse sees her queue oldest first, with counts, reasons, SLA and failed criteria', async () => {
    const page = await signedIn('nurse');
    const rows = page.locator('#queue-body tr');
    await expect.poll(() => rows.count()).toBe(4);
    expect(await page.getByRole('tab', { name: /Nurse/ }).getAttribute('aria-selected')).toBe('true');
    expect(await page.getByRole('tab', { name: /Nurse/ }).textContent()).toContain('4');
    expect(await page.getByRole('tab', { name: /Signature/ }).textContent()).toContain('27');
    expect(await page.getByRole('tab', { name: /Doctor/ }).textContent()).toContain('1');
    await expect
      .poll(() => page.locator('#queue-sub').textContent())
      .toBe('Refills a nurse reviews: needs a visit, nurse review, or not triaged automatically.');

    const ids = await rows.evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-case-id')));
    expect(ids).toEqual([UNTRIAGED, INSULIN, WARFARIN_503, WARFARIN_409]);
    const untriaged = rows.nth(0);
    expect(await untriaged.textContent()).toContain('Automation disabled');
    expect(await untriaged.textContent()).toMatch(/Overdue/);
    expect(await untriaged.getAttribute('class')).toContain('overdue');
    const insulin = rows.nth(1);
    expect(await insulin.textContent()).toContain('Insulin glargine');
    expect(await insulin.textContent()).toContain('Needs a visit');
    expect(await insulin.textContent()).toContain('pcp_visit_12mo_or_ccn_visit_6mo');
    expect(await insulin.getAttribute('class')).not.toContain('overdue');
    expect(await rows.nth(2).textContent()).toContain('Protime nurse pool');
    mkdirSync('test/artifacts', { recursive: true });
    await page.screenshot({ path: 'test/artifacts/console-queue.png' });
  });

  test('the queue refreshes by itself when a new case arrives', async () => {
    const page = await signedIn('nurse');
    const rows = page.locator('#queue-body tr');
    await expect.poll(() => rows.count()).toBe(4);
    await store.cases.upsertCaseProjection(
      queued('mr-0300-req', 1, { queue: 'nurse', reason: 'ehr_record_not_found', slaDueAt: iso(240) }),
      2,
    );
    try {
      await expect.poll(() => rows.count(), { timeout: 12_000 }).toBe(5);
      expect(await rows.nth(4).textContent()).toContain('EHR record not found');
      expect(await page.getByRole('tab', { name: /Nurse/ }).textContent()).toContain('5');
    } finally {
      // Leave the queue as the other tests expect it.
      await store.cases.upsertCaseProjection(
        { ...queued('mr-0300-req', 1, {}), status: 'closed', queue: 'nurse', outcome: 'denied' },
        3,
      );
    }
  });

  test('pages through the signature queue 25 at a time', async () => {
    const page = await signedIn('doctor');
    await page.getByRole('tab', { name: /Signature/ }).click();
    const rows = page.locator('#queue-body tr');
    await expect.poll(() => rows.count()).toBe(25);
    expect(await page.getByRole('button', { name: 'Previous page' }).isDisabled()).toBe(true);
    const first = await rows.first().getAttribute('data-case-id');
    await page.getByRole('button', { name: 'Next page' }).click();
    await expect.poll(() => rows.count()).toBe(2);
    expect(await page.locator('#page-label').textContent()).toBe('Page 2 of 2');
    expect(await page.getByRole('button', { name: 'Next page' }).isDisabled()).toBe(true);
    await page.getByRole('button', { name: 'Previous page' }).click();
    await expect.poll(() => rows.first().getAttribute('data-case-id')).toBe(first);
  });

  test('a nurse opens a case, reads every criterion with its evidence, and approves with a note', async () => {
    const page = await signedIn('nurse');
    await page.getByRole('link', { name: /Insulin glargine/ }).click();
    await page.getByRole('heading', { level: 1, name: 'Patient needs a visit before a full renewal' }).waitFor();
    expect(page.url()).toBe(`${baseUrl}/#/case/${encodeURIComponent(INSULIN)}`);

    const criteria = page.locator('li.criterion');
    expect(await criteria.count()).toBe(4);
    const failed = page.locator('li[data-criterion="pcp_visit_12mo_or_ccn_visit_6mo"]');
    expect(await failed.locator('.verdict').textContent()).toBe('✗ Not met');
    expect(await failed.textContent()).toContain('Clause DM-1');
    expect(await failed.textContent()).toContain('No PCP visit within 12 months');
    expect(await failed.locator('table.evidence tbody tr').allTextContents()).toEqual([
      expect.stringContaining('Encounter/enc-0155-03'),
      expect.stringContaining('Encounter/enc-0155-04'),
    ]);
    const a1c = page.locator('li[data-criterion="a1c_order_cadence_undefined"]');
    expect(await a1c.locator('.verdict').textContent()).toBe('✓ Met');
    const a1cRow = await a1c.locator('table.evidence tbody tr').textContent();
    expect(a1cRow).toContain('Observation/obs-0155-010');
    expect(a1cRow).toContain('9');
    expect(a1cRow).toContain('Hemoglobin A1c: 9 %');
    expect(await page.locator('li[data-criterion="active_allergy_to_requested_drug"]').textContent()).toContain(
      'No matching record on file.',
    );

    const details = (await page.locator('dl.details').textContent()) ?? '';
    expect(details).toContain('family-medicine-2015 v1');
    expect(details).toContain('#30 with 1 refill');
    expect(details).toContain('Order HbA1c');
    expect(details).toContain('Order urine microalbumin');
    expect(await page.locator('ol.timeline li').count()).toBe(3);
    // The refill's own words for its first event (api/console/kinds/refill.js), not the console's generic ones.
    expect(await page.locator('ol.timeline li strong').first().textContent()).toBe(
      'Refill request received from the EHR',
    );

    // A nurse on a nurse-queue case may approve, deny, ask for a visit or escalate.
    const buttons = await page.locator('.decision-buttons button').allTextContents();
    expect(buttons).toEqual(['Approve refill', 'Needs a visit', 'Deny refill', 'Escalate to doctor']);

    mkdirSync('test/artifacts', { recursive: true });
    await page.screenshot({ path: 'test/artifacts/console-case.png', fullPage: true });

    await page.getByRole('button', { name: 'Approve refill' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByLabel(/Note/).fill('Bridge supply given; visit booked for next week.');
    await dialog.getByRole('button', { name: 'Confirm: Approve refill' }).click();
    await expect.poll(() => page.locator('#decision-message').textContent()).toContain('Decision recorded');
    expect(await dialog.isVisible()).toBe(false);

    const sent = gateway.decisions.filter((d) => d.caseId === INSULIN);
    expect(sent).toHaveLength(1);
    expect(sent[0]!.decision).toMatchObject({
      action: 'approve',
      note: 'Bridge supply given; visit booked for next week.',
      actor: { userId: 'nurse.jones', role: 'nurse' },
    });
    expect(sent[0]!.decision.decisionId).toMatch(
      /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    );

    // The case is still open in the projection (the fake workflow never closes it): no second set of buttons.
    await expect
      .poll(() => page.locator('#decision-why').textContent())
      .toBe('Your decision (approve refill) was accepted; the case closes once it is written back to the EHR.');
    expect(await page.locator('.decision-buttons button').count()).toBe(0);
  });

  test('works from the keyboard: arrow keys switch queues, Enter opens a case, Escape cancels a decision', async () => {
    const page = await signedIn('nurse');
    await page.locator('#queue-body tr').first().waitFor();
    await page.getByRole('tab', { name: /Nurse/ }).focus();
    await page.keyboard.press('ArrowRight');
    await expect.poll(() => page.url()).toMatch(/#\/queue\/doctor$/);
    await expect.poll(() => page.evaluate(() => document.activeElement?.id)).toBe('tab-doctor');
    await page.keyboard.press('ArrowLeft');
    await expect.poll(() => page.url()).toMatch(/#\/queue\/nurse$/);

    await page
      .getByRole('link', { name: /Warfarin/ })
      .first()
      .focus();
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { level: 1, name: 'A nurse reviews this refill' }).waitFor();
    const before = gateway.decisions.length;
    await page.getByRole('button', { name: 'Escalate to doctor' }).focus();
    await page.keyboard.press('Enter');
    const dialog = page.getByRole('dialog');
    await dialog.waitFor();
    // The note field has focus, so a nurse can type straight away.
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('confirm-note');
    await page.keyboard.press('Escape');
    await expect.poll(() => dialog.isVisible()).toBe(false);
    expect(gateway.decisions.length).toBe(before);
  });

  test('doctor-only decisions are not offered to a nurse on a doctor-queue case; a doctor gets them', async () => {
    const nurse = await signedIn('nurse');
    await nurse.goto(`${baseUrl}/#/case/${encodeURIComponent(CLOPIDOGREL)}`);
    await nurse.getByRole('heading', { level: 1, name: 'A doctor reviews this refill' }).waitFor();
    expect(await nurse.locator('.decision-buttons button').count()).toBe(0);
    expect(await nurse.locator('#decision-why').textContent()).toBe(
      'Only a doctor or physician assistant can decide cases in the doctor queue.',
    );
    await nurse.context().close();

    const doctor = await signedIn('doctor');
    await doctor.goto(`${baseUrl}/#/case/${encodeURIComponent(CLOPIDOGREL)}`);
    await doctor.getByRole('heading', { level: 1, name: 'A doctor reviews this refill' }).waitFor();
    // Escalation only exists from the nurse queue.
    expect(await doctor.locator('.decision-buttons button').allTextContents()).toEqual([
      'Approve refill',
      'Needs a visit',
      'Deny refill',
    ]);
  });

  test('a 409 from the workflow is shown as a readable message', async () => {
    gateway.script.set(WARFARIN_409, [new AppError('CONFLICT', 'the case already has a decision')]);
    const page = await signedIn('nurse');
    await page.goto(`${baseUrl}/#/case/${encodeURIComponent(WARFARIN_409)}`);
    await page.getByRole('button', { name: 'Deny refill' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Confirm: Deny refill' }).click();
    await expect
      .poll(() => page.locator('#decision-message').textContent())
      .toMatch(/^This case has changed: the case already has a decision\. Someone may have decided it already/);
    expect(await page.getByRole('dialog').isVisible()).toBe(false);
    await page.screenshot({ path: 'test/artifacts/console-409.png' });
    expect(gateway.decisions.filter((d) => d.caseId === WARFARIN_409).map((d) => d.decision.action)).toEqual(['deny']);
  });

  test('a 503 keeps the dialog open and Retry sends the same decisionId again', async () => {
    gateway.script.set(WARFARIN_503, [
      new AppError('TEMPORAL_UNAVAILABLE', 'The decision was not confirmed in time; retry with the same decisionId', {
        retryable: true,
      }),
    ]);
    const page = await signedIn('nurse');
    await page.goto(`${baseUrl}/#/case/${encodeURIComponent(WARFARIN_503)}`);
    await page.getByRole('button', { name: 'Needs a visit' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByRole('button', { name: 'Confirm: Needs a visit' }).click();
    await expect.poll(() => dialog.locator('#confirm-error').textContent()).toMatch(/not confirmed.*Press Retry/);
    await dialog.getByRole('button', { name: 'Retry' }).click();
    await expect.poll(() => page.locator('#decision-message').textContent()).toContain('Decision recorded');

    const sent = gateway.decisions.filter((d) => d.caseId === WARFARIN_503);
    expect(sent.map((d) => d.decision.action)).toEqual(['needs_visit', 'needs_visit']);
    expect(sent[1]!.decision.decisionId).toBe(sent[0]!.decision.decisionId);
  });

  test('a case moved to the doctor queue meanwhile: the API refuses (403) and the console says why', async () => {
    const page = await signedIn('nurse');
    await page.goto(`${baseUrl}/#/case/${encodeURIComponent(UNTRIAGED)}`);
    await page.getByRole('heading', { level: 1, name: 'Not triaged: automation is off' }).waitFor();
    await page.getByRole('button', { name: 'Approve refill' }).click();
    // The SLA timer escalates the case while the nurse is reading.
    await store.cases.upsertCaseProjection(
      { ...queued('mr-0201-req', 300, {}), queue: 'doctor', reason: 'escalated_sla', escalated: true, at: iso(0) },
      3,
    );
    await page.getByRole('dialog').getByRole('button', { name: 'Confirm: Approve refill' }).click();
    await expect
      .poll(() => page.locator('#decision-message').textContent())
      .toMatch(/^Not allowed: The doctor queue needs a doctor or physician assistant\./);
    // Reloaded: the case now sits in the doctor queue and the nurse is offered nothing.
    await expect
      .poll(() => page.locator('#decision-why').textContent())
      .toBe('Only a doctor or physician assistant can decide cases in the doctor queue.');
    expect(gateway.decisions.some((d) => d.caseId === UNTRIAGED)).toBe(false);
  });

  test('a care-gap case beside refills: its clauses with pass/fail and evidence, the test that left the gap open, its actions', async () => {
    // The care-gap case as GET /v1/cases/{id} carries it (kind, clause, priority, nextDueDate, reasons, clauses): served
    // by the page's network layer here, since this app database has no care-gap cases; the refills are real.
    const caseId = `cg_${CLINIC}_crc-screening-2021_${'0a1b2c3d'.repeat(4)}`;
    const colonoscopy = {
      resourceType: 'Procedure',
      id: 'proc-0412-01',
      date: '2014-03-01',
      display: 'Colonoscopy (CPT 45378)',
    };
    const clause = (id: string, title: string, passed: boolean | null, evidence: unknown[] = []) => ({
      id,
      title,
      source: `docs/protocols/crc-screening-2021.md ${id}`,
      passed,
      evidence,
    });
    const summary = {
      caseId,
      kind: 'care-gap',
      clinicId: CLINIC,
      status: 'queued',
      disposition: 'outreach',
      outcome: null,
      queue: 'outreach',
      pool: null,
      reason: 'protocol',
      escalated: false,
      slaDueAt: null,
      drugName: null,
      medicationRequestId: null,
      patientId: 'pat-0412',
      clause: 'CRC-17',
      priority: 'routine',
      nextDueDate: null,
      dueAt: iso(28 * 24 * 60),
      reasons: [{ id: 'screening_due', evidence: [{ resourceType: 'Patient', id: 'pat-0412' }] }],
      protocol: { id: 'crc-screening-2021', version: 1 },
      failedCriteria: [],
      approvedSupply: null,
      bridgeSupply: null,
      routeTo: null,
      actions: ['pend_fit_order', 'mail_fit_outreach'],
      createdAt: iso(-30),
      updatedAt: iso(-30),
      closedAt: null,
    };
    const full = {
      ...summary,
      criteria: [],
      clauses: [
        clause('CRC-0', 'The birth date is known', true, [{ resourceType: 'Patient', id: 'pat-0412' }]),
        clause('CRC-1', 'Age 45 through 85', true, [{ resourceType: 'Patient', id: 'pat-0412', value: 61 }]),
        clause('CRC-10', 'Up to date: a qualifying test within its window', false, [colonoscopy]),
        clause('CRC-16', 'Reachable by mail or phone', true),
        clause('CRC-17', 'Otherwise: close the gap automatically', true),
      ],
      timeline: [],
    };
    const lifecycle = describeLifecycle() as { queues: { queue: string; roles: string[]; actions: string[] }[] };
    if (!lifecycle.queues.some((q) => q.queue === 'outreach')) {
      lifecycle.queues.push({ queue: 'outreach', roles: ['nurse', 'doctor'], actions: [] });
    }
    const posted: unknown[] = [];

    const page = await cb.newPage();
    await page.route('**/v1/lifecycle', (r) => r.fulfill({ json: lifecycle }));
    await page.route('**/v1/queues/outreach/cases*', (r) =>
      r.fulfill({ json: { queue: 'outreach', items: [summary], nextCursor: null, counts: { outreach: 1 } } }),
    );
    // The doctor queue: the real refill items, and the care-gap item beside them.
    await page.route('**/v1/queues/doctor/cases*', async (r) => {
      const res = await r.fetch();
      const json = (await res.json()) as { items: unknown[] };
      await r.fulfill({ response: res, json: { ...json, items: [...json.items, { ...summary, queue: 'doctor' }] } });
    });
    await page.route(`**/v1/cases/${caseId}`, (r) => r.fulfill({ json: full }));
    await page.route(`**/v1/cases/${caseId}/actions`, (r) => {
      posted.push(r.request().postDataJSON());
      return r.fulfill({ status: 200, json: { caseId, action: 'done_elsewhere' } });
    });
    await page.goto(baseUrl);
    await page.getByLabel('API token').fill(TOKENS.doctor);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByTestId('role').filter({ hasText: 'doctor' }).waitFor();

    const rows = page.locator('#queue-body tr');
    const refills = (await store.cases.listQueue({ clinicId: CLINIC, queue: 'doctor', limit: 100 })).items.length;
    await expect.poll(() => rows.count()).toBe(refills + 1);
    expect(await page.locator('#queue-body').textContent()).toContain('Clopidogrel');
    const cgRow = rows.last();
    expect(await cgRow.getAttribute('data-case-id')).toBe(caseId);
    expect(await cgRow.textContent()).toContain('Screening gap · crc-screening-2021');
    expect(await cgRow.textContent()).toContain('Outreach');
    expect(await cgRow.textContent()).toContain('CRC-17');

    await page.getByRole('tab', { name: /Outreach/ }).click();
    await expect.poll(() => page.url()).toMatch(/#\/queue\/outreach$/);
    // Each queue's subtitle is what the kinds say about it: the outreach queue holds care gaps only.
    await expect
      .poll(() => page.locator('#queue-sub').textContent())
      .toBe('Care gaps being closed by outreach: tracking items, no decision needed yet.');
    await expect.poll(() => rows.first().getAttribute('data-case-id')).toBe(caseId);
    await page.getByRole('link', { name: /Screening gap/ }).click();
    await page.getByRole('heading', { level: 1, name: 'Screening due: outreach under way' }).waitFor();

    const gap = page.locator('[data-gap]');
    expect(await gap.getAttribute('data-gap')).toBe('open');
    expect(await gap.textContent()).toContain('Screening due');
    expect(await gap.textContent()).toContain('Colonoscopy (CPT 45378)');
    expect(await gap.textContent()).toMatch(/2014/);
    expect(await page.locator('li[data-clause]').count()).toBe(5);
    const c10 = page.locator('li[data-clause="CRC-10"]');
    expect(await c10.locator('.verdict').textContent()).toBe('✗ Failed');
    expect(await c10.locator('table.evidence tbody tr').textContent()).toContain('Procedure/proc-0412-01');
    const c17 = page.locator('li[data-clause="CRC-17"]');
    expect(await c17.locator('.verdict').textContent()).toBe('✓ Passed');
    expect(await c17.textContent()).toContain('Decided here');
    const details = (await page.locator('dl.details').textContent()) ?? '';
    expect(details).toContain('crc-screening-2021 v1');
    expect(details).toContain('Pend a FIT kit order');

    // A doctor on an outreach item: the care-gap actions GET /v1/kinds lists for doctors there.
    expect(await page.locator('.decision-buttons button').allTextContents()).toEqual([
      'Sign the order',
      'Record a decline',
      'Done elsewhere',
      'Snooze',
    ]);
    await page.screenshot({ path: 'test/artifacts/console-care-gap.png', fullPage: true });
    await page.getByRole('button', { name: 'Done elsewhere' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByRole('button', { name: 'Confirm: Done elsewhere' }).click();
    expect(await dialog.locator('#confirm-error').textContent()).toBe('Give the date of the test.');
    expect(posted).toEqual([]);
    await dialog.getByLabel('Test', { exact: true }).selectOption('colonoscopy');
    await dialog.getByLabel('Date of the test').fill('2026-05-02');
    await dialog.getByLabel(/Note/).fill('Done at the county hospital.');
    await dialog.getByRole('button', { name: 'Confirm: Done elsewhere' }).click();
    await expect.poll(() => page.locator('#decision-message').textContent()).toContain('Decision recorded');
    expect(posted).toEqual([
      {
        action: 'done_elsewhere',
        // eslint-disable-next-line @typescript-eslint/no-unsafe-assignment -- an asymmetric matcher
        actionId: expect.stringMatching(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/),
        note: 'Done at the county hospital.',
        date: '2026-05-02',
        test: 'colonoscopy',
      },
    ]);
  });

  test('an admin reads the case and its audit trail but is offered no decisions', async () => {
    const page = await signedIn('admin');
    await page.goto(`${baseUrl}/#/case/${encodeURIComponent(INSULIN)}`);
    await page.locator('table.audit tbody tr').first().waitFor();
    expect(await page.locator('table.audit').textContent()).toContain('case.routed');
    expect(await page.locator('.decision-buttons button').count()).toBe(0);
    expect(await page.locator('#decision-why').textContent()).toContain('Admins review cases');
  });
});
