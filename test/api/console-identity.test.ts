// The console shows who each patient is (name, date of birth and age, sex, MRN) in the queue rows and the case
// header, read live from the clinic's sandbox EHR through the API; and when the EHR is down, the case still opens
// with the identity marked unavailable. Real Chromium (test/helpers/chromium.ts), real app, real SQLite, real EHR.
import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import type { Patient } from '@medplum/fhirtypes';
import type { Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { createApp } from '../../api/app.ts';
import type { WorkflowGateway } from '../../api/workflow-gateway.ts';
import { loadConfig } from '../../connectors/config.ts';
import { createStore } from '../../connectors/db/index.ts';
import { generateClientKeyPair } from '../../connectors/fhir/auth.ts';
import { createClinicFhir } from '../../connectors/fhir/clinic-connectors.ts';
import { egressPolicy } from '../../connectors/fhir/egress.ts';
import { ageOn, clinicPatientFetcher, createPatientIdentityReader } from '../../connectors/fhir/patient-identity.ts';
import { createLogger } from '../../connectors/logger.ts';
import { IndexedRepository, loadResources } from '../../sandbox/indexed-repository.ts';
import { startSandbox, type SandboxHandle } from '../../sandbox/fhir-server.ts';
import { generateClinic } from '../../sandbox/synthetic/index.ts';
import { ConsoleBrowser } from '../helpers/console-browser.ts';
import { openTestDatabase, type TestDatabase } from '../helpers/db.ts';

const TOKENS = { nurse: 'nurse-token-console-identity-01', admin: 'admin-token-console-identity-01' } as const;
const ASOF = new Date().toISOString().slice(0, 10);

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
let patients: Patient[];

const nameOf = (p: Patient) => [...(p.name?.[0]?.given ?? []), p.name?.[0]?.family].join(' ');
const mrnOf = (p: Patient) => p.identifier?.find((i) => i.type?.coding?.some((c) => c.code === 'MR'))?.value ?? '';
const caseId = (clinic: string, n: number) => `rf_${clinic}_mr-000${n}-req`;

beforeAll(async () => {
  const clinic = generateClinic({ seed: 2015, patients: 6, asOf: ASOF });
  const repo = new IndexedRepository();
  loadResources(repo, clinic.resources);
  patients = clinic.resources.filter((r): r is Patient => r.resourceType === 'Patient');
  const keys = await generateClientKeyPair();
  sandbox = await startSandbox({
    repo,
    clients: [{ clientId: 'console-identity', jwks: keys.publicJwks }],
    validate: false,
  });
  const down = await startSandbox({ clients: [], validate: false });
  await down.close();

  tdb = await openTestDatabase('sqlite');
  const store = createStore(tdb.db);
  for (const [id, url] of [
    ['clinic-a', sandbox.fhirBaseUrl],
    ['clinic-down', down.fhirBaseUrl],
  ] as const) {
    await store.clinics.upsert({
      id,
      name: id,
      webhookSecret: 'whsec-console-identity-0123456789',
      fhirBaseUrl: url,
      fhirClientId: 'console-identity',
      fhirPrivateKeyJwk: JSON.stringify(keys.privateJwk),
      fhirTokenUrl: null,
      protocolId: 'family-medicine-2015',
      nurseSlaSeconds: 3600,
      timezone: 'UTC',
    });
  }
  await store.tokens.createToken({
    name: 'n',
    role: 'nurse',
    userId: 'nurse.jones',
    clinicId: 'clinic-a',
    token: TOKENS.nurse,
  });
  await store.tokens.createToken({
    name: 'a',
    role: 'admin',
    userId: 'admin.lee',
    clinicId: null,
    token: TOKENS.admin,
  });
  const rows = [
    ...[1, 2, 3].map((n) => ({ clinicId: 'clinic-a', n, patientId: patients[n - 1]!.id! })),
    { clinicId: 'clinic-down', n: 4, patientId: 'pat-0001' },
  ];
  for (const r of rows) {
    const mr = `mr-000${r.n}-req`;
    await store.cases.upsertCaseProjection(
      {
        id: caseId(r.clinicId, r.n),
        clinicId: r.clinicId,
        requestId: `req-${r.n}`,
        patientId: r.patientId,
        medicationRequestId: mr,
        status: 'queued',
        queue: 'nurse',
        reason: 'protocol',
        disposition: 'nurse_review',
        drugName: 'Warfarin sodium 5 mg tablet',
        at: new Date(Date.now() - (10 - r.n) * 60_000).toISOString(),
      },
      1,
    );
  }
  const config = loadConfig({ NODE_ENV: 'test', LOG_LEVEL: 'silent', EHR_ALLOW_PRIVATE_NETWORKS: 'true' });
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
  server = await new Promise<ServerType>((resolve) => {
    const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s));
  });
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  cb = await ConsoleBrowser.launch(baseUrl, []);
});

afterEach(() => cb.expectNoProblems());

afterAll(async () => {
  await cb?.close();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  await sandbox?.close();
  await tdb?.cleanup();
});

const signedIn = (role: keyof typeof TOKENS): Promise<Page> =>
  cb.signedIn(TOKENS[role], { role, context: { locale: 'en-US' } });

describe('patient identity in the console', () => {
  test('queue rows and the case header show name, date of birth and age, sex and MRN', async () => {
    const page = await signedIn('nurse');
    await expect.poll(() => page.locator('#queue-body tr').count()).toBe(3);
    for (const [i, p] of patients.slice(0, 3).entries()) {
      const cell = page.locator(`#queue-body tr[data-case-id="${caseId('clinic-a', i + 1)}"] td.patient`);
      await expect.poll(() => cell.innerText()).toContain(nameOf(p));
      const text = await cell.innerText();
      expect(text).toContain(`MRN ${mrnOf(p)}`);
      expect(text).toContain(`(${ageOn(p.birthDate!, ASOF)} y)`);
      expect(text).toContain(p.gender === 'female' ? 'Female' : 'Male');
    }
    expect(await page.getByRole('columnheader', { name: 'Patient' }).count()).toBe(1);

    await page
      .locator(`#queue-body tr[data-case-id="${caseId('clinic-a', 2)}"] a`)
      .first()
      .click();
    const banner = page.getByTestId('patient');
    await banner.waitFor();
    const p = patients[1]!;
    const text = await banner.innerText();
    expect(text).toContain(nameOf(p));
    expect(text).toContain(`MRN ${mrnOf(p)}`);
    expect(text).toContain(`(${ageOn(p.birthDate!, ASOF)} y)`);
    const [y, m, d] = p.birthDate!.split('-').map(Number) as [number, number, number];
    const dob = new Intl.DateTimeFormat('en-US', { dateStyle: 'medium', timeZone: 'UTC' }).format(
      new Date(Date.UTC(y, m - 1, d)),
    );
    expect(text).toContain(dob);
  });

  test('with the EHR down, the case opens and says the identity is unavailable', async () => {
    const page = await signedIn('admin');
    const row = page.locator(`#queue-body tr[data-case-id="${caseId('clinic-down', 4)}"]`);
    await expect.poll(() => row.locator('td.patient').innerText()).toContain('Identity unavailable');
    await page.goto(`${baseUrl}/#/case/${caseId('clinic-down', 4)}`);
    await page.locator('#case-headline').waitFor();
    expect(await page.getByTestId('patient').innerText()).toBe('Identity unavailable: the EHR did not answer');
    expect(await page.locator('#case-view').innerText()).toContain('Warfarin');
  });
});
