// The console's clinic pages in a real browser (Chromium via playwright-core, test/helpers/console-browser.ts) against
// the real Hono app, a real SQLite app database and the real sandbox EHR on loopback: a global admin onboards a clinic
// through the wizard (a taken id, a key the API refuses, a connection check that fails and then passes); a clinic admin
// rotates the webhook secret (shown once, the old one honoured for the grace period) with the keyboard only, and
// changes settings through a 503, a 422 at its field and a 409 that keep what was entered. axe-core finds no serious
// or critical violation in any state, empty ones included.
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import type { Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { createApp } from '../../api/app.ts';
import { signWebhook } from '../../api/middleware/webhook-signature.ts';
import { ensureBuiltinProtocols } from '../../api/seed.ts';
import type { WorkflowGateway } from '../../api/workflow-gateway.ts';
import { loadConfig } from '../../connectors/config.ts';
import { createStore, type Store } from '../../connectors/db/index.ts';
import { generateClientKeyPair } from '../../connectors/fhir/auth.ts';
import { createLogger } from '../../connectors/logger.ts';
import { startSandbox, type SandboxHandle } from '../../sandbox/fhir-server.ts';
import { axeViolations, ConsoleBrowser } from '../helpers/console-browser.ts';
import { openTestDatabase, type TestDatabase } from '../helpers/db.ts';

const TOKENS = {
  global: 'global-admin-console-clinics-0001',
  admin: 'clinic-admin-console-clinics-0001',
  nurse: 'nurse-console-clinics-token-00001',
};
const RIVERSIDE = {
  id: 'riverside',
  name: 'Riverside Family Medicine',
  webhookSecret: 'whsec_riverside_console_clinics_0123456789',
  fhirClientId: 'riverside-client',
  fhirPrivateKeyJwk: null,
  fhirTokenUrl: null,
  protocolId: 'family-medicine-2015',
  nurseSlaSeconds: 3600,
  timezone: 'America/Chicago',
};

let tdb: TestDatabase;
let store: Store;
let sandbox: SandboxHandle;
let server: ServerType;
let baseUrl: string;
let cb: ConsoleBrowser;
const started: string[] = [];

const gateway = {
  startCase: (start: { caseId: string }) => {
    started.push(start.caseId);
    return Promise.resolve({ caseId: start.caseId, runId: 'r1' });
  },
  ping: () => Promise.resolve(),
} as unknown as WorkflowGateway;

beforeAll(async () => {
  tdb = await openTestDatabase('sqlite');
  store = createStore(tdb.db);
  const config = loadConfig({
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    PAYLOAD_KEY: randomBytes(32).toString('base64'),
    PAYLOAD_KEY_ID: 'console-clinics-k1',
    // The sandbox EHR listens on loopback, as with `npm start` (DEMO=1).
    EHR_ALLOW_PRIVATE_NETWORKS: 'true',
  });
  const logger = createLogger(config, 'test');
  await ensureBuiltinProtocols(store, logger);
  await store.tokens.createToken({ name: 'g', role: 'admin', userId: 'global-admin@test', token: TOKENS.global });
  sandbox = await startSandbox({ validate: false });
  const app = createApp({ config, db: tdb.db, store, workflows: gateway, logger, now: () => new Date() });
  server = await new Promise<ServerType>((resolve) => {
    const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s));
  });
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  cb = await ConsoleBrowser.launch(baseUrl);
}, 120_000);

afterEach(() => cb.expectNoProblems());

afterAll(async () => {
  await cb?.close();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  await sandbox?.close();
  await tdb?.cleanup();
});

/** The clinics the later tests work on, and their tokens (the first test sees no clinic at all). */
async function seedClinics(): Promise<void> {
  if (await store.clinics.get(RIVERSIDE.id)) return;
  await store.clinics.upsert({ ...RIVERSIDE, fhirBaseUrl: sandbox.fhirBaseUrl });
  await store.clinics.upsert({ ...RIVERSIDE, id: 'taken', name: 'Taken', fhirBaseUrl: sandbox.fhirBaseUrl });
  await store.tokens.createToken({
    name: 'a',
    role: 'admin',
    userId: 'riverside-admin@test',
    clinicId: RIVERSIDE.id,
    token: TOKENS.admin,
  });
  await store.tokens.createToken({
    name: 'n',
    role: 'nurse',
    userId: 'nurse@test',
    clinicId: RIVERSIDE.id,
    token: TOKENS.nurse,
  });
}

async function expectAccessible(page: Page, state: string): Promise<void> {
  expect(await axeViolations(page), `axe: ${state}`).toEqual([]);
}

/** A refill webhook signed with `secret`: 202 when the clinic accepts the secret, 401 when not. */
async function webhookWith(clinicId: string, secret: string, id: string): Promise<number> {
  const raw = JSON.stringify({
    type: 'refill.requested',
    id: `evt-${id}`,
    medicationRequest: `MedicationRequest/${id}`,
  });
  const ts = Math.floor(Date.now() / 1000);
  const res = await fetch(`${baseUrl}/v1/webhooks/${clinicId}/refill-requests`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-autopilot-timestamp': String(ts),
      'x-autopilot-signature': signWebhook(secret, ts, raw),
    },
    body: raw,
  });
  return res.status;
}

/** The status of each step of the connection check shown. */
async function stepStatuses(page: Page): Promise<string[]> {
  return page
    .locator('.check-step')
    .evaluateAll((els) => els.map((e) => `${e.getAttribute('data-testid')}:${e.getAttribute('data-status')}`));
}

/** The control's error text (its aria-describedby error line) and whether it is marked invalid. */
async function fieldError(page: Page, id: string): Promise<{ invalid: string | null; text: string }> {
  await page.locator(`#${id}[aria-invalid="true"]`).waitFor({ timeout: 10_000 });
  return {
    invalid: await page.locator(`#${id}`).getAttribute('aria-invalid'),
    text: (await page.locator(`#${id}-error`).textContent()) ?? '',
  };
}

/** Waits until the element with this test id shows text matching `text` (messages appear once a request ends). */
async function shows(page: Page, testId: string, text: RegExp): Promise<void> {
  await page.getByTestId(testId).filter({ hasText: text }).waitFor({ timeout: 10_000 });
}

async function confirm(page: Page): Promise<void> {
  await page.getByTestId('confirm-ok').click();
  await page.locator('#clinic-confirm').waitFor({ state: 'hidden' });
}

describe('console: clinics', () => {
  test('an admin opens Clinics from the nav; with no clinic, the empty list and the first wizard step pass axe', async () => {
    const page = await cb.signedIn(TOKENS.global, { role: 'admin' });
    await page.getByRole('link', { name: 'Clinics' }).click();
    await page.getByTestId('clinics-empty').waitFor();
    await expect(page.getByTestId('clinics-empty').textContent()).resolves.toContain('No clinics yet');
    await expectAccessible(page, 'empty clinic list');

    await page.getByTestId('onboard').click();
    await page.getByTestId('wizard').waitFor();
    // Next with nothing entered: each required field says so, at the field.
    await page.getByRole('button', { name: 'Next: EHR connection' }).click();
    await expect(fieldError(page, 'wz-id')).resolves.toEqual({ invalid: 'true', text: 'Enter the clinic id.' });
    await expect(fieldError(page, 'wz-name')).resolves.toMatchObject({ invalid: 'true' });
    await expectAccessible(page, 'wizard step 1 with errors');
  });

  test('onboarding against the sandbox EHR: a taken id (409) and an unusable key (422) at their fields, then a failing and a passing connection check', async () => {
    await seedClinics();
    const keys = await generateClientKeyPair('lakeside-key-1');
    const page = await cb.signedIn(TOKENS.global, { role: 'admin', path: '/#/clinics/new' });
    await page.getByTestId('wizard').waitFor();

    // Step 1: a clinic id that is already taken (the server will say so: 409).
    await page.getByLabel('Clinic id').fill('taken');
    await page.getByLabel('Name', { exact: true }).fill('Lakeside Clinic');
    await page.getByLabel('Time zone').selectOption('America/Chicago');
    await page.getByLabel('Protocol').selectOption('family-medicine-2015');
    await page.getByRole('button', { name: 'Next: EHR connection' }).click();

    // Step 2: a base URL with a typo (no /R4) and a private key that is no key (the server answers 422).
    await page.getByLabel('FHIR base URL').fill(`${sandbox.url}/fhir`);
    await page.getByLabel('SMART client id').fill('lakeside-client');
    await page.getByLabel('Private key').fill('not a key, but long enough to be taken for one by a hurried admin');
    await page.getByRole('button', { name: 'Create the clinic' }).click();
    await expect(page.locator('#clinic-confirm').textContent()).resolves.toContain('Clinic taken: Lakeside Clinic');
    await expectAccessible(page, 'create confirmation dialog');
    await confirm(page);
    await expect(fieldError(page, 'wz-key')).resolves.toMatchObject({
      invalid: 'true',
      text: expect.stringMatching(/key/i) as unknown,
    });
    await expectAccessible(page, 'wizard step 2 with a 422 at the key');

    // The real key: now the id is the problem (409), shown at the id on step 1, every entry kept.
    await page.getByLabel('Private key').fill(JSON.stringify(keys.privateJwk));
    await page.getByRole('button', { name: 'Create the clinic' }).click();
    await confirm(page);
    await expect(fieldError(page, 'wz-id')).resolves.toMatchObject({
      invalid: 'true',
      text: expect.stringMatching(/choose another id/) as unknown,
    });
    await expect(page.getByLabel('Name', { exact: true }).inputValue()).resolves.toBe('Lakeside Clinic');
    await shows(page, 'wizard-message', /entries are kept/);
    await page.getByLabel('Clinic id').fill('lakeside');
    await page.getByRole('button', { name: 'Next: EHR connection' }).click();
    await expect(page.getByLabel('Private key').inputValue()).resolves.toBe(JSON.stringify(keys.privateJwk));
    await page.getByRole('button', { name: 'Create the clinic' }).click();
    await confirm(page);

    // Step 3: the webhook secret, shown once, is the clinic's (a webhook signed with it is accepted).
    const secret = await page.getByTestId('wz-secret').inputValue();
    expect(secret).toMatch(/^whsec_/);
    expect(await webhookWith('lakeside', secret, 'mr-lake-1')).toBe(202);
    const jwks = JSON.parse((await page.getByTestId('jwks').textContent()) ?? '') as { keys: { kid: string }[] };
    expect(jwks.keys[0]?.kid).toBe('lakeside-key-1');
    expect(JSON.stringify(jwks)).not.toContain(keys.privateJwk.d!);
    await expectAccessible(page, 'webhook secret and key');
    await page.getByRole('button', { name: 'Next: check the connection' }).click();
    await shows(page, 'wizard-message', /Store the webhook secret first/);
    await page.getByLabel('I have stored the webhook secret').check();
    await page.getByRole('button', { name: 'Next: check the connection' }).click();

    // Step 4, first check: the base URL is wrong; the fix says so; the other steps are not run.
    await page.getByTestId('check-report').waitFor();
    await expect(stepStatuses(page)).resolves.toEqual([
      'step-capability_statement:fail',
      'step-smart_discovery:skipped',
      'step-token:skipped',
      'step-test_read:skipped',
    ]);
    await expect(page.getByTestId('step-capability_statement').textContent()).resolves.toMatch(
      /How to fix: .*base URL is probably wrong/,
    );
    await expectAccessible(page, 'a failing connection check');
    expect(await page.content()).not.toContain(secret); // shown once

    // Fix the base URL from the page: the check runs again; now the EHR does not know the key yet.
    await page.getByText('Change the EHR connection').click();
    await page.locator('#wz-conn-base').fill(sandbox.fhirBaseUrl);
    // And batch reads off (an EHR whose batch misbehaves): the check still probes, and says what the setting does.
    await page.getByLabel('Batch reads').selectOption('never');
    await page.getByRole('button', { name: 'Save connection' }).click();
    await expect(page.locator('#clinic-confirm').textContent()).resolves.toContain(`→ ${sandbox.fhirBaseUrl}`);
    await expect(page.locator('#clinic-confirm').textContent()).resolves.toContain('→ Never batch: parallel searches');
    await confirm(page);
    await page.locator('[data-testid="step-token"][data-status="fail"]').waitFor();
    await expect(stepStatuses(page)).resolves.toEqual([
      'step-capability_statement:pass',
      'step-smart_discovery:pass',
      'step-token:fail',
      'step-test_read:skipped',
    ]);
    await expect(page.getByTestId('step-token').textContent()).resolves.toMatch(
      /client id lakeside-client.*public key shown for this clinic/,
    );
    await expect(page.getByTestId('step-capability_statement').textContent()).resolves.toContain(
      'Batch is off for this clinic (setting "never")',
    );

    // The EHR's admin registers the public key shown; the next check passes every step.
    sandbox.registerClient({ clientId: 'lakeside-client', jwks: jwks });
    await page.getByTestId('check-again').click();
    await page.locator('[data-testid="check-report"][data-ok="true"]').waitFor();
    await expect(stepStatuses(page)).resolves.toEqual([
      'step-capability_statement:pass',
      'step-smart_discovery:pass',
      'step-token:pass',
      'step-test_read:pass',
    ]);
    await expect(page.getByTestId('check-summary').textContent()).resolves.toBe(
      'The connection works: ehr-autopilot can read this EHR.',
    );
    await expectAccessible(page, 'a passing connection check');
    mkdirSync('test/artifacts', { recursive: true });
    await page.screenshot({ path: 'test/artifacts/console-clinic-onboarding.png', fullPage: true });

    // Done: the clinic's settings, whose change list shows the onboarding by the global admin.
    await page.getByTestId('wizard-done').click();
    await page.getByRole('heading', { name: 'Lakeside Clinic', level: 1 }).waitFor();
    await page.locator('[data-testid="changes"] tbody tr').first().waitFor();
    const changes = await page.locator('[data-testid="changes"] tbody tr').allTextContents();
    expect(changes.some((r) => /global-admin@test.*Clinic onboarded/.test(r))).toBe(true);
    expect(changes.some((r) => /EHR connection: FHIR base URL: .*\/fhir → .*\/fhir\/R4/.test(r))).toBe(true);
    expect(changes.filter((r) => /Connection checked/.test(r))).toHaveLength(3);
    const stored = await store.clinics.get('lakeside');
    expect(changes.some((r) => /Batch reads: auto → never/.test(r))).toBe(true);
    expect(stored).toMatchObject({
      fhirBaseUrl: sandbox.fhirBaseUrl,
      fhirClientId: 'lakeside-client',
      fhirBatch: 'never',
    });
    expect(stored?.fhirPrivateKeyJwk).toMatch(/^enc:v1:/);
    expect(await page.content()).not.toContain(keys.privateJwk.d!);
  });

  test('a clinic admin rotates the webhook secret with the keyboard only: shown once, the old one kept for the grace period', async () => {
    await seedClinics();
    const page = await cb.signedIn(TOKENS.admin, { role: 'admin', path: '/#/clinics/riverside' });
    await page.getByRole('heading', { name: RIVERSIDE.name, level: 1 }).waitFor();
    // Seeded without the API: no change recorded yet (the empty state), no onboarding for a clinic admin.
    await page.getByTestId('changes-empty').waitFor();
    await expectAccessible(page, 'settings with no changes');

    // Keyboard only: from the grace period to the confirmation.
    await page.locator('#ws-grace').focus();
    await page.keyboard.press('Home'); // "None"
    await page.keyboard.press('ArrowDown'); // 1 hour
    await expect(page.locator('#ws-grace').inputValue()).resolves.toBe('3600');
    await page.keyboard.press('Tab');
    const focused = await page.evaluate(() => {
      const el = document.activeElement as HTMLElement;
      return { text: el.textContent, outline: getComputedStyle(el).outlineStyle };
    });
    expect(focused).toEqual({ text: 'Rotate the secret', outline: 'solid' }); // visible focus
    await page.keyboard.press('Enter');
    await page.locator('#clinic-confirm[open]').waitFor();
    await expect(page.locator('#clinic-confirm').textContent()).resolves.toMatch(/keeps working until about/);
    await expectAccessible(page, 'rotation confirmation');
    await page.keyboard.press('Enter'); // the confirm button has the focus
    const box = page.getByTestId('ws-new');
    await box.waitFor();
    await expect(page.evaluate(() => document.activeElement?.id)).resolves.toBe('ws-new');
    const secret = await box.inputValue();
    expect(secret).toMatch(/^whsec_/);
    expect(await webhookWith(RIVERSIDE.id, secret, 'mr-rot-new')).toBe(202);
    expect(await webhookWith(RIVERSIDE.id, RIVERSIDE.webhookSecret, 'mr-rot-old')).toBe(202); // grace period
    await expectAccessible(page, 'the new secret shown once');

    // Stored: it leaves the page and does not come back.
    await page.getByTestId('secret-done').focus();
    await page.keyboard.press('Enter');
    await page.locator('[data-testid="changes"] tbody tr').first().waitFor();
    expect(await page.content()).not.toContain(secret);
    await page.reload();
    await page.getByRole('heading', { name: RIVERSIDE.name, level: 1 }).waitFor();
    await page.locator('[data-testid="changes"] tbody tr').first().waitFor();
    expect(await page.content()).not.toContain(secret);
    const first = await page.locator('[data-testid="changes"] tbody tr').first().textContent();
    expect(first).toMatch(/riverside-admin@test \(admin\)Webhook secret rotated; the previous one stays valid until/);
    await expect(page.getByTestId('secret').textContent()).resolves.toMatch(
      /The previous secret is still accepted until/,
    );
    // A clinic admin may check the connection, not move it.
    await expect(page.getByTestId('connection').textContent()).resolves.toMatch(/Only a global admin can change/);
  });

  test('settings: a 503 keeps the SLA entered, a 422 shows at the authority field, a 409 keeps the policy entered', async () => {
    await seedClinics();
    const page = await cb.signedIn(TOKENS.admin, { role: 'admin', path: '/#/clinics/riverside' });
    await page.getByRole('heading', { name: RIVERSIDE.name, level: 1 }).waitFor();

    // 503 once: the entry stays, the message says to press again; the second try saves it.
    await page.getByLabel('Nurse SLA (minutes)').fill('120');
    let failOnce = true;
    await page.route('**/v1/clinics/riverside/settings', async (route) => {
      if (!failOnce) return route.continue();
      failOnce = false;
      await route.fulfill({
        status: 503,
        contentType: 'application/json',
        body: JSON.stringify({ error: { code: 'UNAVAILABLE', message: 'database busy', requestId: 'req-503' } }),
      });
    });
    await page.getByTestId('general').getByRole('button', { name: 'Review and save' }).click();
    await expect(page.locator('#clinic-confirm').textContent()).resolves.toContain('Nurse SLA: 1 h → 2 h');
    await confirm(page);
    await shows(page, 'general-message', /could not save the settings just now \(database busy\).*entries are kept/);
    await expect(page.getByLabel('Nurse SLA (minutes)').inputValue()).resolves.toBe('120');
    await expectAccessible(page, 'a 503 on save');
    await page.getByTestId('general').getByRole('button', { name: 'Review and save' }).click();
    await confirm(page);
    await shows(page, 'general-message', /^Saved\.$/);
    expect((await store.clinics.get(RIVERSIDE.id))?.nurseSlaSeconds).toBe(7200);
    await page.unroute('**/v1/clinics/riverside/settings');

    // Another kind switched on without its protocol: 422 at that kind's protocol (the server's path, $.kinds[0]).
    await page.getByLabel('Automation for Care gap').check();
    await page.getByTestId('kinds').getByRole('button', { name: 'Review and save' }).click();
    await confirm(page);
    await expect(fieldError(page, 'kd-protocol-care-gap')).resolves.toEqual({
      invalid: 'true',
      text: 'kind care-gap is enabled without a protocol: give its protocolId',
    });
    await page.getByLabel('Automation for Care gap').uncheck();

    // Automation on and a pinned version for the clinic's own protocol.
    await page
      .getByLabel(/^Automation for /)
      .first()
      .check();
    await page
      .getByLabel(/^Pinned version for /)
      .first()
      .selectOption('1');
    await page.getByTestId('kinds').getByRole('button', { name: 'Review and save' }).click();
    await expect(page.locator('#clinic-confirm').textContent()).resolves.toMatch(
      /automation on.*pinned version live version → v1/,
    );
    await confirm(page);
    await shows(page, 'kinds-message', /^Saved\.$/);
    const view = (await (
      await fetch(`${baseUrl}/v1/clinics/riverside`, { headers: { authorization: `Bearer ${TOKENS.admin}` } })
    ).json()) as { refillAutomationEnabled: boolean; protocolVersion: number | null };
    expect(view).toMatchObject({ refillAutomationEnabled: true, protocolVersion: 1 });

    // The signing policy: delegated without the authorising physician is 422 at that field.
    const policy = page.getByTestId('signing-family-medicine-2015');
    await policy.getByLabel('Delegates sign protocol approvals').check();
    await policy.getByLabel('Pharmacists').check();
    await policy.getByRole('button', { name: 'Review and save' }).click();
    await confirm(page);
    await expect(fieldError(page, 'sp-authority-family-medicine-2015')).resolves.toEqual({
      invalid: 'true',
      text: 'a delegation or standing order needs the physician who authorises it',
    });
    await expectAccessible(page, 'a 422 at the authority field');

    // Meanwhile another admin sets the policy: saving now is 409, and what was entered stays.
    const put = await fetch(`${baseUrl}/v1/clinics/riverside/signing-policy/family-medicine-2015`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${TOKENS.global}`, 'content-type': 'application/json' },
      body: JSON.stringify({ mode: 'standing_order', authority: { display: 'Dr. Other' } }),
    });
    expect(put.status).toBe(200);
    await policy.getByLabel('Authorising physician').fill('Dr. Ana Lopez, medical director');
    await policy.getByRole('button', { name: 'Review and save' }).click();
    await confirm(page);
    await shows(page, 'sp-message-family-medicine-2015', /version 1, not 0.*entries are kept.*press “Reload policy”/);
    await expect(policy.getByLabel('Delegates sign protocol approvals').isChecked()).resolves.toBe(true);
    await expect(policy.getByLabel('Pharmacists').isChecked()).resolves.toBe(true);
    await expect(policy.getByLabel('Authorising physician').inputValue()).resolves.toBe(
      'Dr. Ana Lopez, medical director',
    );
    await expectAccessible(page, 'a 409 on the signing policy');

    // Reload: the other admin's policy; make the change again on top of it.
    await policy.getByRole('button', { name: 'Reload policy' }).click();
    const reloaded = page.getByTestId('signing-family-medicine-2015');
    // The reload fetches the policy, then draws the card anew: poll until the other admin's choice shows.
    await expect
      .poll(() => reloaded.getByLabel('Standing order: activated at once, a doctor co-signs').isChecked())
      .toBe(true);
    await reloaded.getByLabel('Delegates sign protocol approvals').check();
    await reloaded.getByLabel('Pharmacists').check();
    await reloaded.getByLabel('Authorising physician').fill('Dr. Ana Lopez, medical director');
    await reloaded.getByRole('button', { name: 'Review and save' }).click();
    await confirm(page);
    await shows(page, 'sp-message-family-medicine-2015', /^Saved\.$/);
    const saved = await store.signingPolicies.get(RIVERSIDE.id, 'family-medicine-2015');
    expect(saved).toMatchObject({ mode: 'delegated', delegates: ['pharmacist'], version: 2 });

    // Who changed what and when.
    await page
      .locator('[data-testid="changes"] tbody tr')
      .first()
      .filter({ hasText: /Delegates sign/ })
      .waitFor();
    const rows = await page.locator('[data-testid="changes"] tbody tr').allTextContents();
    expect(rows[0]).toMatch(/riverside-admin@test \(admin\)Signing policy of family-medicine-2015: Delegates sign/);
    expect(rows[1]).toMatch(/global-admin@test \(admin\)Signing policy of family-medicine-2015: Standing order/);
    expect(
      rows.some((r) => /Settings: Automation \(Refill triage\): off → on; Pinned version: live version → v1/.test(r)),
    ).toBe(true);
    expect(rows.some((r) => /Settings: Nurse SLA: 1 h → 2 h/.test(r))).toBe(true);
    await page.screenshot({ path: 'test/artifacts/console-clinic-settings.png', fullPage: true });
  });

  test('a nurse has no Clinics link, and the route shows her queue', async () => {
    await seedClinics();
    const page = await cb.signedIn(TOKENS.nurse, { role: 'nurse', path: '/#/clinics' });
    await expect(page.locator('#nav-clinics').isHidden()).resolves.toBe(true);
    await expect(page.locator('#clinics-view').isHidden()).resolves.toBe(true);
    await expect(page.locator('#queue-view').isVisible()).resolves.toBe(true);
  });
});
