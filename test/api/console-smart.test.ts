// SMART App Launch in a real browser: Chromium opens the sandbox EHR's launch URL (as the EHR would when a clinician
// opens the app), follows the whole chain — sandbox /launch → API /smart/launch → sandbox authorize → API
// /smart/callback → console — and lands signed in as the mapped user, on the launch patient's cases, with no token or
// code left in the URL. Then the standalone launch through the sandbox's picker. Real app, SQLite, sandbox EHR.
import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import type { Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { createApp } from '../../api/app.ts';
import type { WorkflowGateway } from '../../api/workflow-gateway.ts';
import { loadConfig } from '../../connectors/config.ts';
import { createStore } from '../../connectors/db/index.ts';
import { generateClientKeyPair } from '../../connectors/fhir/auth.ts';
import { createClinicFhir } from '../../connectors/fhir/clinic-connectors.ts';
import { egressPolicy } from '../../connectors/fhir/egress.ts';
import { clinicPatientFetcher, createPatientIdentityReader } from '../../connectors/fhir/patient-identity.ts';
import { createLogger } from '../../connectors/logger.ts';
import { startSandbox, type SandboxHandle } from '../../sandbox/fhir-server.ts';
import { axeViolations, ConsoleBrowser } from '../helpers/console-browser.ts';
import { openTestDatabase, type TestDatabase } from '../helpers/db.ts';

const gateway: WorkflowGateway = {
  startCase: () => Promise.reject(new Error('unused')),
  submitDecision: () => Promise.reject(new Error('unused')),
  getCaseState: () => Promise.resolve(null),
  ping: () => Promise.resolve(),
};

let tdb: TestDatabase;
let sandbox: SandboxHandle;
let server: ServerType;
let baseUrl: string;
let cb: ConsoleBrowser;

beforeAll(async () => {
  // The API listens first: its public URL (the SMART redirect URI) names its port.
  let fetchApp: (req: Request) => Response | Promise<Response> = () => new Response('starting', { status: 503 });
  server = await new Promise<ServerType>((resolve) => {
    const s = serve({ fetch: (req) => fetchApp(req), port: 0, hostname: '127.0.0.1' }, () => resolve(s));
  });
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const keys = await generateClientKeyPair();
  sandbox = await startSandbox({
    clients: [{ clientId: 'backend', jwks: keys.publicJwks }],
    appClients: [{ clientId: 'console-app', redirectUris: [`${baseUrl}/smart/callback`] }],
    validate: false,
  });
  const patient = (id: string, given: string, family: string) =>
    sandbox.repo.update({
      resourceType: 'Patient',
      id,
      name: [{ given: [given], family }],
      gender: 'female',
      birthDate: '1961-03-12',
    });
  patient('pat-1', 'Ada', 'Byron');
  patient('pat-2', 'Grace', 'Hopper');
  sandbox.repo.update({ resourceType: 'Practitioner', id: 'pract-1', name: [{ given: ['Miriam'], family: 'Okafor' }] });

  tdb = await openTestDatabase('sqlite');
  const store = createStore(tdb.db);
  await store.clinics.upsert({
    id: 'clinic-a',
    name: 'clinic-a',
    webhookSecret: 'whsec-console-smart-0123456789',
    fhirBaseUrl: sandbox.fhirBaseUrl,
    fhirClientId: 'backend',
    fhirPrivateKeyJwk: JSON.stringify(keys.privateJwk),
    fhirTokenUrl: null,
    protocolId: 'family-medicine-2015',
    nurseSlaSeconds: 3600,
    timezone: 'UTC',
  });
  await store.smart.putClient('clinic-a', 'console-app');
  await store.smart.putUser({
    clinicId: 'clinic-a',
    fhirUser: 'Practitioner/pract-1',
    userId: 'dr.okafor',
    role: 'doctor',
  });
  for (const [n, patientId] of [
    [1, 'pat-1'],
    [2, 'pat-1'],
    [3, 'pat-2'],
  ] as const) {
    await store.cases.upsertCaseProjection(
      {
        id: `rf_clinic-a_mr-${n}`,
        clinicId: 'clinic-a',
        requestId: `req-${n}`,
        patientId,
        medicationRequestId: `mr-${n}`,
        status: 'queued',
        queue: 'doctor',
        reason: 'protocol',
        disposition: 'doctor_review',
        drugName: n === 3 ? 'Metformin 500 mg tablet' : 'Lisinopril 10 mg tablet',
        at: new Date(Date.now() - n * 60_000).toISOString(),
      },
      1,
    );
  }
  const config = loadConfig({
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    PUBLIC_URL: baseUrl,
    EHR_ALLOW_PRIVATE_NETWORKS: 'true',
  });
  const app = createApp({
    config,
    db: tdb.db,
    store,
    workflows: gateway,
    logger: createLogger(config, 'api-test'),
    now: () => new Date(),
    patientIdentity: createPatientIdentityReader({
      fetch: clinicPatientFetcher(createClinicFhir(store, { timeoutMs: 2000, egress: egressPolicy(config) })),
    }),
  });
  fetchApp = (req) => app.fetch(req);
  cb = await ConsoleBrowser.launch(baseUrl);
});

afterEach(() => cb.expectNoProblems());

afterAll(async () => {
  await cb?.close();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  await sandbox?.close();
  await tdb?.cleanup();
});

/** Everything the tab's URL and history could leak: no token, no code, no state. */
async function expectCleanUrl(page: Page): Promise<void> {
  const url = page.url();
  expect(url).toBe(`${baseUrl}/#/patient`);
  const token = await page.evaluate(() => sessionStorage.getItem('ehr-autopilot.token'));
  expect(token).toMatch(/^eap_/);
  expect(url).not.toContain(token!);
}

describe('SMART App Launch in Chromium', () => {
  test('EHR launch: the sandbox opens the app; the console shows that patient’s cases, signed in as the mapped user', async () => {
    const page = await cb.newPage();
    const launch = new URL(`${sandbox.url}/launch`);
    launch.searchParams.set('app', `${baseUrl}/smart/launch`);
    launch.searchParams.set('patient', 'pat-1');
    launch.searchParams.set('practitioner', 'pract-1');
    await page.goto(launch.toString());

    const title = page.locator('#patient-title');
    await title.waitFor();
    expect(await title.innerText()).toBe('Cases of Ada Byron');
    expect(await page.getByTestId('role').textContent()).toBe('doctor');
    expect(await page.locator('#who-text').innerText()).toContain('dr.okafor');
    const rows = page.locator('#patient-cases tbody tr');
    expect(await rows.count()).toBe(2);
    expect(await rows.evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-case-id')))).toEqual([
      'rf_clinic-a_mr-1',
      'rf_clinic-a_mr-2',
    ]);
    await expectCleanUrl(page);
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('patient-title');
    expect(await axeViolations(page)).toEqual([]);

    // A case of the patient opens; the Patient link brings the list back.
    await rows.first().locator('a').first().click();
    await page.locator('#case-headline').waitFor();
    expect(page.url()).toBe(`${baseUrl}/#/case/rf_clinic-a_mr-1`);
    await page.locator('#nav-patient').click();
    await title.waitFor();
    expect(await rows.count()).toBe(2);

    // Sign out ends the session on the server too: the token no longer works.
    const token = await page.evaluate(() => sessionStorage.getItem('ehr-autopilot.token'));
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('API token').waitFor();
    await expect
      .poll(async () => (await fetch(`${baseUrl}/v1/me`, { headers: { authorization: `Bearer ${token}` } })).status)
      .toBe(401);
  });

  test('standalone launch: sign in through the sandbox’s picker and choose the patient', async () => {
    const page = await cb.newPage();
    await page.goto(`${baseUrl}/smart/launch?iss=${encodeURIComponent(sandbox.fhirBaseUrl)}`);
    await page.getByLabel('Signed in as').selectOption('pract-1');
    await page.getByLabel('Patient').selectOption('pat-2');
    await page.getByRole('button', { name: 'Allow' }).click();
    const title = page.locator('#patient-title');
    await title.waitFor();
    expect(await title.innerText()).toBe('Cases of Grace Hopper');
    expect(
      await page
        .locator('#patient-cases tbody tr')
        .evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-case-id'))),
    ).toEqual(['rf_clinic-a_mr-3']);
    await expectCleanUrl(page);
  });

  test('an unknown EHR gets a refusal page', async () => {
    const page = await cb.newPage();
    const res = await page.goto(
      `${baseUrl}/smart/launch?iss=${encodeURIComponent('https://ehr.unknown.example/fhir')}`,
    );
    expect(res?.status()).toBe(404);
    expect(await page.locator('h1').innerText()).toBe('Unknown EHR');
  });
});
