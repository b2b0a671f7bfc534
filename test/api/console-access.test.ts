// The console's access-monitoring page in a real browser (Chromium via playwright-core) against the real Hono app
// and a real SQLite app database: a privacy officer signs in and lands on the page, finds a flagged access, opens its
// evidence and marks it reviewed with a note, all from the keyboard with visible focus; filters the access log and
// saves it as CSV (the same bytes as GET …/log.csv); axe-core finds no serious or critical violation, with flags and
// without (an empty clinic).
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import type { Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { createApp } from '../../api/app.ts';
import type { WorkflowGateway } from '../../api/workflow-gateway.ts';
import { loadConfig } from '../../connectors/config.ts';
import { createStore, type Store } from '../../connectors/db/index.ts';
import { createLogger } from '../../connectors/logger.ts';
import { windowOf } from '../../rules/access/flags.ts';
import { axeViolations, ConsoleBrowser } from '../helpers/console-browser.ts';
import { openTestDatabase, type TestDatabase } from '../helpers/db.ts';

const CLINIC = {
  id: 'clinic-ac',
  name: 'Access Clinic',
  webhookSecret: 'whsec_access_console_0123456789',
  fhirBaseUrl: 'http://127.0.0.1:3001/fhir/R4',
  fhirClientId: 'autopilot',
  fhirPrivateKeyJwk: null,
  fhirTokenUrl: null,
  protocolId: 'family-medicine-2015',
  nurseSlaSeconds: 3600,
  timezone: 'America/Chicago',
};
const TOKENS = {
  privacy: 'privacy-console-access-token-0001',
  emptyPrivacy: 'privacy-console-access-token-0002',
  admin: 'admin-console-access-token-000001',
  nurse: 'nurse-console-access-token-000001',
};
const NURSE = 'ana.lopez@clinic-ac.example';
const FLAG = `outside_queues`;

let tdb: TestDatabase;
let store: Store;
let server: ServerType;
let baseUrl: string;
let cb: ConsoleBrowser;

beforeAll(async () => {
  tdb = await openTestDatabase('sqlite');
  store = createStore(tdb.db);
  const config = loadConfig({ NODE_ENV: 'test', LOG_LEVEL: 'silent' });
  const logger = createLogger(config, 'test');
  await store.clinics.upsert(CLINIC);
  await store.clinics.upsert({ ...CLINIC, id: 'clinic-quiet', name: 'Quiet Clinic' });
  const token = (name: keyof typeof TOKENS, role: 'admin' | 'nurse' | 'privacy', clinicId: string, userId: string) =>
    store.tokens.createToken({ name, role, userId, clinicId, token: TOKENS[name] });
  await token('privacy', 'privacy', CLINIC.id, 'po@clinic-ac.example');
  await token('emptyPrivacy', 'privacy', 'clinic-quiet', 'po@clinic-quiet.example');
  await token('admin', 'admin', CLINIC.id, 'lead@clinic-ac.example');
  await token('nurse', 'nurse', CLINIC.id, NURSE);
  for (const [i, queue] of [
    [1, 'nurse'],
    [2, 'doctor'],
    [3, 'nurse'],
  ] as const) {
    await store.cases.upsertCaseProjection(
      {
        id: `rf_clinic-ac_mr-${i}`,
        clinicId: CLINIC.id,
        requestId: 'seed',
        patientId: `pat-${i}`,
        medicationRequestId: `mr-${i}`,
        status: 'queued',
        queue,
      },
      3,
    );
  }
  // The last hour: a nurse opens a doctor-queue case (a flag whatever the hour), five people open one case (another).
  const ago = (minutes: number) => new Date(Date.now() - minutes * 60_000).toISOString();
  const view = (at: string, actorId: string, role: string, caseId: string, queue: string) =>
    store.audit.appendAudit({
      at,
      actorType: 'user',
      actorId,
      actorRole: role,
      action: 'case.viewed',
      clinicId: CLINIC.id,
      caseId,
      requestId: `req-${actorId}-${caseId}`,
      detail: { patientId: `pat-${caseId.slice(-1)}`, queue },
    });
  await view(ago(30), NURSE, 'nurse', 'rf_clinic-ac_mr-2', 'doctor');
  for (let i = 0; i < 5; i++)
    await view(ago(20 - i), `rn${i}@clinic-ac.example`, 'nurse', 'rf_clinic-ac_mr-3', 'nurse');
  await view(ago(10), NURSE, 'nurse', 'rf_clinic-ac_mr-1', 'nurse');

  const workflows = { ping: () => Promise.resolve() } as unknown as WorkflowGateway;
  const app = createApp({ config, db: tdb.db, store, workflows, logger, now: () => new Date() });
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
  await tdb?.cleanup();
});

/** Presses Tab until `target` has focus (at most `max` times), checking every stop shows a visible focus ring. */
async function tabTo(page: Page, target: string, max = 80): Promise<void> {
  for (let i = 0; i < max; i++) {
    await page.keyboard.press('Tab');
    const here = await page.evaluate((sel) => {
      const el = document.activeElement;
      if (!el || el === document.body) return { at: false, ring: true };
      const s = getComputedStyle(el);
      return {
        at: el.matches(sel),
        ring: s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2,
        what: `${el.tagName}#${el.id}.${el.className}`,
      };
    }, target);
    expect(here.ring, `visible focus on ${'what' in here ? here.what : 'element'}`).toBe(true);
    if (here.at) return;
  }
  throw new Error(`Tab never reached ${target}`);
}

describe('console: access monitoring', () => {
  test('a privacy officer marks a flagged access reviewed, keyboard only; the page has no serious axe violation', async () => {
    const page = await cb.signedIn(TOKENS.privacy, { role: 'privacy' });
    // Lands on the page: no queue tabs for a privacy officer.
    await page.waitForURL((u) => u.hash === '#/access');
    await page.getByRole('heading', { name: 'Access monitoring', level: 1 }).waitFor();
    await expect(page.locator('#tabs').isVisible()).resolves.toBe(false);
    const flagId = `${FLAG}:`;
    const flag = page.locator(`article[data-flag-id^="${flagId}"]`);
    await flag.waitFor();
    await expect(flag.locator('.flag-reason').textContent()).resolves.toBe(
      'Viewed 1 case in the doctor queue, outside the queues a nurse works (signature, nurse, outreach)',
    );
    await expect(flag.locator('.flag-facts').textContent()).resolves.toContain(`${NURSE} (nurse)`);
    await expect(page.locator('article[data-kind="many_viewers"] .flag-reason').textContent()).resolves.toContain(
      '5 different people viewed this case',
    );
    await page.getByTestId('access-log').waitFor();
    expect(await axeViolations(page)).toEqual([]);

    // Keyboard only: Tab to the flag's evidence and open it, then to its note, type, and submit.
    const summary = `article[data-flag-id^="${flagId}"] summary`;
    await tabTo(page, summary);
    await page.keyboard.press('Enter');
    await expect(flag.locator('details').getAttribute('open')).resolves.toBe('');
    await expect(flag.locator('details table tbody').textContent()).resolves.toContain('rf_clinic-ac_mr-2');
    await tabTo(page, `article[data-flag-id^="${flagId}"] textarea`, 10);
    // Submitting without a note is refused in the page, at the field.
    await tabTo(page, `article[data-flag-id^="${flagId}"] button[type=submit]`, 3);
    await page.keyboard.press('Enter');
    await expect(flag.locator('.error-text').textContent()).resolves.toBe('Write what the review found first.');
    await page.keyboard.type('Covering the doctor queue for Dr. Lee that morning (rota checked).');
    await tabTo(page, `article[data-flag-id^="${flagId}"] button[type=submit]`, 3);
    await page.keyboard.press('Enter');
    const done = flag.getByTestId('review');
    await done.waitFor();
    await expect(done.textContent()).resolves.toMatch(
      /^Reviewed by po@clinic-ac\.example \(privacy\), .+: Covering the doctor queue/,
    );
    // Focus moves to the recorded review, and the page says so.
    await expect(page.evaluate(() => document.activeElement?.getAttribute('data-testid'))).resolves.toBe('review');
    await expect(page.getByTestId('access-status').textContent()).resolves.toBe('Flag marked reviewed.');
    expect(await axeViolations(page)).toEqual([]);

    // The server has it: the flag is reviewed with the note, and the review is audited without it.
    const id = await flag.getAttribute('data-flag-id');
    const res = await fetch(`${baseUrl}/v1/access/${CLINIC.id}/flags?status=reviewed`, {
      headers: { authorization: `Bearer ${TOKENS.admin}` },
    });
    const body = (await res.json()) as { items: { id: string; review: { note: string } | null }[] };
    expect(body.items.map((f) => [f.id, f.review?.note])).toEqual([
      [id, 'Covering the doctor queue for Dr. Lee that morning (rota checked).'],
    ]);
    const { items } = await store.audit.listAudit({ action: 'access_flag.reviewed' });
    expect(items[0]).toMatchObject({ actorId: 'po@clinic-ac.example', detail: { flagId: id, noteProvided: true } });
    expect(JSON.stringify(items)).not.toContain('rota');
  });

  test('the access log filters by person and saves the same CSV as the API', async () => {
    const page = await cb.signedIn(TOKENS.privacy, { role: 'privacy', context: { acceptDownloads: true } });
    await page.getByTestId('access-log').waitFor();
    await tabTo(page, '#lg-user');
    await page.keyboard.type(NURSE);
    await page.keyboard.press('Enter');
    await page.waitForFunction((who) => {
      const people = Array.from(
        document.querySelectorAll('[data-testid=access-log] tbody tr'),
        (r) => r.children[1]?.textContent ?? '',
      );
      return people.length > 0 && people.every((p) => p === who);
    }, NURSE);
    const rows = await page
      .locator('[data-testid=access-log] tbody tr')
      .evaluateAll((trs) => trs.map((tr) => Array.from(tr.querySelectorAll('td'), (td) => td.textContent ?? '')));
    expect(rows.map((r) => [r[1], r[2], r[3], r[4]])).toEqual([
      [NURSE, 'nurse', 'Viewed a case', 'rf_clinic-ac_mr-1 · Patient/pat-1'],
      [NURSE, 'nurse', 'Viewed a case', 'rf_clinic-ac_mr-2 · Patient/pat-2'],
    ]);

    const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('log-csv').click()]);
    const saved = readFileSync(await download.path(), 'utf8');
    // The same query, from the API: the page sends the clinic's local days as instants (rules/access windowOf).
    const { start, end } = windowOf(
      await page.locator('#lg-from').inputValue(),
      await page.locator('#lg-to').inputValue(),
      CLINIC.timezone,
    );
    const q = new URLSearchParams({ from: start, to: end, userId: NURSE }).toString();
    const api = await fetch(`${baseUrl}/v1/access/${CLINIC.id}/log.csv?${q}`, {
      headers: { authorization: `Bearer ${TOKENS.privacy}` },
    });
    expect(saved).toBe(await api.text());
    expect(saved.trimEnd().split('\r\n')).toHaveLength(3);
    expect(download.suggestedFilename()).toMatch(/^access-clinic-ac-\d{4}-\d{2}-\d{2}-\d{4}-\d{2}-\d{2}\.csv$/);
  });

  test('empty: a clinic with no flags says so, a filter that matches nothing too, and both pass axe', async () => {
    const page = await cb.signedIn(TOKENS.emptyPrivacy, { role: 'privacy' });
    await page.getByTestId('flags-empty').waitFor();
    // (Its log is never quite empty: reading the flags is an access, and is in it.)
    await page.getByTestId('access-log').waitFor();
    await tabTo(page, '#lg-user');
    await page.keyboard.type('nobody@clinic-quiet.example');
    await page.keyboard.press('Enter');
    await page.getByTestId('log-empty').waitFor();
    await expect(page.getByTestId('flag-counts').textContent()).resolves.toMatch(/^0 open, 0 reviewed/);
    expect(await axeViolations(page)).toEqual([]);
  });

  test('admins reach it from the nav; clinicians do not see the link', async () => {
    const admin = await cb.signedIn(TOKENS.admin, { role: 'admin' });
    const link = admin.getByRole('link', { name: 'Access monitoring' });
    await link.click();
    await admin.getByRole('heading', { name: 'Access monitoring', level: 1 }).waitFor();
    await admin.locator('article[data-kind="many_viewers"]').waitFor();
    const nurse = await cb.signedIn(TOKENS.nurse, { role: 'nurse' });
    await expect(nurse.getByRole('link', { name: 'Access monitoring' }).isVisible()).resolves.toBe(false);
  });
});
