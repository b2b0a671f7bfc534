// The protocol editor in the console (issue 10 §1), in headless Chromium against the real stack: the API on
// loopback, the run's Temporal dev server and a worker (simulation jobs are workflows), the sandbox EHR, and a
// clinic with 5,600 recorded refill cases (more than 5,000: the simulation shows its progress). An admin edits the
// reference protocol's PPI visit window, sees an invalid value at its field, fixes it, simulates, publishes for one
// clinic and rolls back; every number and state the page shows is checked against the API, and axe-core finds no
// serious or critical violation in any state of the pages (empty and error states included).
import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import type { Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { extractRefillFacts, patientRecordFromBundle } from '../../facts/refill/index.ts';
import { evaluateProtocol } from '../../rules/kinds/refill/evaluate.ts';
import { findBuiltinProtocol } from '../../rules/kinds/refill/protocols/index.ts';
import { generateClinic, toPatientBundle } from '../../sandbox/synthetic/index.ts';
import { axeViolations, ConsoleBrowser } from '../helpers/console-browser.ts';
import { startHarness, TOKENS, type Harness } from '../helpers/harness.ts';

const REFILL = 'family-medicine-2015';
const CARE_GAP = 'crc-screening-2021';
const AS_OF = '2026-06-15';
const RECORDED = 5600;
const CLINIC_ADMIN = 'clinic-admin-console-protocols-0123';
/** The PPI category's visit window (PPI-1), as the refill kind's form names it. */
const PPI_WINDOW = '$.categories[0].criteria[0].when.all[0].value';
const fieldId = (path: string) => `#pf-${path.replace(/[^A-Za-z0-9]+/g, '-')}`;

let h: Harness;
let server: ServerType;
let baseUrl: string;
let cb: ConsoleBrowser;

beforeAll(async () => {
  h = await startHarness({ patients: 20 });
  // The clinic's history: synthetic patients' facts and the decisions v1 made on them, written in bulk.
  const v1 = findBuiltinProtocol(REFILL)!;
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
  const rows = Array.from({ length: RECORDED }, (_, i) => ({
    caseId: `rf_${h.clinicId}_hist-${String(i).padStart(5, '0')}`,
    clinicId: h.clinicId,
    protocolId: REFILL,
    recordedAt: new Date(Date.UTC(2026, 0, 1) + i * 60_000).toISOString(),
    ...recorded[i % recorded.length]!,
  }));
  for (let i = 0; i < rows.length; i += 500) {
    await h.deps.db.kysely
      .insertInto('facts_snapshots')
      .values(rows.slice(i, i + 500))
      .execute();
  }
  await h.store.tokens.createToken({
    name: 'clinic-admin',
    role: 'admin',
    userId: 'clinic.admin@test',
    clinicId: h.clinicId,
    token: CLINIC_ADMIN,
  });
  server = await new Promise<ServerType>((resolve) => {
    const s = serve({ fetch: h.app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s));
  });
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  cb = await ConsoleBrowser.launch(baseUrl);
}, 180_000);

afterEach(() => cb.expectNoProblems());

afterAll(async () => {
  await cb?.close();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  await h?.close();
});

type Json = Record<string, unknown>;
async function api(path: string, init: { method?: string; body?: unknown } = {}): Promise<Json> {
  const res = await h.api(path, {
    as: 'admin',
    method: init.method ?? 'GET',
    ...(init.body !== undefined && { body: JSON.stringify(init.body) }),
  });
  const text = await res.text();
  expect(res.status, `${path}: ${text}`).toBeLessThan(300);
  return JSON.parse(text) as Json;
}

async function expectAccessible(page: Page, state: string): Promise<void> {
  expect(await axeViolations(page), `axe: ${state}`).toEqual([]);
}

/** Opens the group of the form that holds a field (its <details>), as a person would: clicking its summary. */
async function openGroupOf(page: Page, path: string): Promise<void> {
  const details = page.locator('details.form-group').filter({ has: page.locator(fieldId(path)) });
  if (!(await details.evaluate((d) => (d as HTMLDetailsElement).open))) await details.locator('summary').click();
}

const pct = (rate: number | null) => (rate === null ? '—' : `${(rate * 100).toFixed(1)} %`);

describe('console: protocol editor', () => {
  test('edit → invalid value at its field → fix → simulate → publish for one clinic → roll back', async () => {
    const page = await cb.signedIn(TOKENS.admin, { role: 'admin' });

    // The library: every protocol with its kind, live version and the clinics on it.
    await page.getByRole('link', { name: 'Protocols' }).click();
    const library = page.getByTestId('protocol-library');
    await library.waitFor();
    const listed = (await api('/v1/protocols')).items as { id: string; publishedVersion: number }[];
    await expect.poll(() => library.locator('tbody tr').count()).toBe(listed.length);
    const row = library.locator(`tr[data-protocol-id="${REFILL}"]`);
    const cells = await row.locator('td').allInnerTexts();
    expect(cells[1]).toBe('Refill');
    expect(cells[2]).toContain('v1');
    expect(cells[4]).toContain(`${h.clinicId}: follows the live version`);
    expect(await library.locator(`tr[data-protocol-id="${CARE_GAP}"] td`).nth(1).innerText()).toBe('Care gap');
    await expectAccessible(page, 'library');

    // The protocol: its clinics and versions with author, time, note and content hash.
    await row.getByRole('link').click();
    const versions = page.getByTestId('protocol-versions');
    await versions.waitFor();
    const v1 = (await api(`/v1/protocols/${REFILL}`)).versions as { contentHash: string; createdBy: string }[];
    const v1Row = versions.locator('tr[data-version="1"]');
    expect(await v1Row.locator('code.hash').getAttribute('title')).toBe(v1.at(-1)!.contentHash);
    expect(await v1Row.innerText()).toContain(v1.at(-1)!.createdBy);
    expect(await page.getByTestId('protocol-clinics').innerText()).toContain(h.clinicId);
    await expectAccessible(page, 'protocol page');

    // A new draft from the live version opens in the editor.
    await v1Row.getByRole('button', { name: 'New draft from v1' }).click();
    await page.waitForURL(/#\/protocols\/family-medicine-2015\/versions\/\d+$/);
    const version = Number(/versions\/(\d+)$/.exec(page.url())![1]);
    await expect.poll(() => page.getByTestId('problems-summary').textContent()).toBe('No problems found.');
    await expectAccessible(page, 'editor, no problems');

    // An invalid value is shown at its field (and in the raw view), as the admin types.
    await openGroupOf(page, PPI_WINDOW);
    const input = page.locator(fieldId(PPI_WINDOW));
    expect(await input.inputValue()).toBe('18');
    expect(await page.locator(`label[for="${fieldId(PPI_WINDOW).slice(1)}"]`).innerText()).toContain(
      'visit_within_18mo: visits.lastPcpRov.date within the last … months',
    );
    await input.fill('0');
    const fieldError = page.locator(`${fieldId(PPI_WINDOW)}-error`);
    await expect.poll(() => fieldError.textContent()).toContain('expected number to be >0');
    expect(await input.getAttribute('aria-invalid')).toBe('true');
    expect(await page.getByTestId('problem-list').innerText()).toContain(PPI_WINDOW);
    expect(await page.getByTestId('problems-summary').textContent()).toBe(
      '1 problem, shown at its field and in the raw view.',
    );
    await expectAccessible(page, 'editor, a problem at its field');

    // Saving it anyway: the server's 422 lands at the same field, and the edit stays.
    await page.getByRole('button', { name: 'Save draft' }).click();
    await expect.poll(() => page.getByTestId('editor-alert').textContent()).toContain('Not saved: 1 problem');
    expect(await fieldError.textContent()).toContain('expected number to be >0');
    expect(await input.inputValue()).toBe('0');

    // Fixed: no problems, and the raw view shows the new value.
    await input.fill('12');
    await expect.poll(() => page.getByTestId('problems-summary').textContent()).toBe('No problems found.');
    expect(await fieldError.textContent()).toBe('');
    const raw = JSON.parse(await page.locator('#proto-raw').inputValue()) as Json;
    expect(
      ((raw.categories as Json[])[0]!.criteria as { when: { all: { value: number }[] } }[])[0]!.when.all[0]!.value,
    ).toBe(12);

    // Simulate: saved first, run as a job with progress (5,600 cases), then the summary and the changed cases.
    await page.evaluate(() => {
      const w = window as unknown as { progressSeen: string[] };
      w.progressSeen = [];
      new MutationObserver(() => {
        const el = document.querySelector('[data-testid="sim-progress"]');
        if (el?.textContent) w.progressSeen.push(el.textContent);
      }).observe(document.body, { subtree: true, childList: true, characterData: true });
    });
    // What the API answered while the job ran: the page must have shown each of those progress states.
    type Polled = { status: string; progress: { done: number; total: number | null } };
    const polled: Promise<Polled>[] = [];
    page.on('response', (r) => {
      if (r.url().includes('/v1/simulations/')) polled.push(r.json() as Promise<Polled>);
    });
    expect(await page.locator('#sim-clinic').inputValue()).toBe(h.clinicId);
    await page.getByRole('button', { name: 'Simulate' }).click();
    const headline = page.getByTestId('sim-headline');
    await headline.waitFor({ timeout: 60_000 });
    const seen = await page.evaluate(() => (window as unknown as { progressSeen: string[] }).progressSeen);
    const running = (await Promise.all(polled)).filter((j) => j.status === 'running');
    expect(running.length, 'the job was still running when the page first asked').toBeGreaterThan(0);
    for (const { progress } of running) {
      const { done, total } = progress;
      const text =
        total === null
          ? `Counting the recorded cases… (${done} read)`
          : `${done.toLocaleString('en-US')} of ${total.toLocaleString('en-US')} cases (${Math.floor((100 * done) / total)} %)`;
      expect(
        seen.some((t) => t.includes(text)),
        `${text} in ${JSON.stringify(seen)}`,
      ).toBe(true);
    }
    expect((await api(`/v1/protocols/${REFILL}/versions/${version}`)).definition).toMatchObject({
      categories: expect.arrayContaining([expect.objectContaining({ id: 'antacid_reflux' })]) as unknown,
    });
    // The same numbers as a synchronous simulation of the saved draft.
    const sync = await api(`/v1/protocols/${REFILL}/versions/${version}/simulate`, {
      method: 'POST',
      body: { clinicId: h.clinicId },
    });
    const before = sync.before as { counts: Record<string, number>; automationRate: number };
    const after = sync.after as { counts: Record<string, number>; automationRate: number };
    expect(sync.evaluated).toBe(RECORDED);
    const changedTotal = sync.changedTotal as number;
    expect(changedTotal).toBeGreaterThan(20);
    expect(await headline.innerText()).toBe(
      `Simulated on clinic ${h.clinicId}: ${RECORDED} recorded cases; automation rate ${pct(before.automationRate)} → ${pct(after.automationRate)}; ${changedTotal} cases change disposition.`,
    );
    const counts = page.getByTestId('sim-counts');
    for (const [d, n] of Object.entries(before.counts)) {
      const r = counts.locator(`tr[data-disposition="${d}"] td`);
      expect(await r.nth(0).innerText(), d).toBe(String(n));
      expect(await r.nth(1).innerText(), d).toBe(String(after.counts[d] ?? 0));
    }
    // Each changed case with the criterion that flipped and why (the criterion's text in the draft).
    const changed = page.getByTestId('changed-cases').locator(':scope > li');
    expect(await changed.count()).toBe(20);
    const first = (sync.changed as { caseId: string }[])[0]!.caseId;
    expect(await changed.first().getAttribute('data-case-id')).toBe(first);
    const flipped = await changed.first().locator('li[data-criterion="visit_within_18mo"]').innerText();
    expect(flipped).toBe(
      'visit_within_18mo (PPI-1): met → not met — PPI-1: a return office visit with the PCP within 18 months.',
    );
    expect(await changed.first().innerText()).toContain('Meets protocol (v1) → Needs a visit');
    await expectAccessible(page, 'editor with a simulation result');
    await page.screenshot({ path: 'test/artifacts/console-protocol-editor.png' });
    // Paged: the next 20.
    await page.getByRole('button', { name: 'Next cases' }).click();
    await expect
      .poll(() => page.getByTestId('changed-page-label').textContent())
      .toContain(`Page 2 of ${Math.ceil(changedTotal / 20)}`);
    expect(await changed.first().getAttribute('data-case-id')).toBe((sync.changed as { caseId: string }[])[20]!.caseId);

    // The diff against the live version, criterion by criterion.
    await page.getByRole('button', { name: 'Compare with live' }).click();
    const diff = page.getByTestId('diff-table');
    await diff.waitFor();
    const diffRow = diff.locator('tr[data-item="visit_within_18mo"]');
    expect(await diffRow.locator('td').allInnerTexts()).toEqual([
      'criterion visit_within_18mo (in antacid_reflux)',
      'changed',
      '$.when.all[0].value',
      '18',
      '12',
    ]);

    // Publish for this clinic: a required note, and a confirm step showing the simulation summary.
    await page.getByRole('button', { name: 'Publish…' }).click();
    const dialog = page.locator('#publish-dialog');
    await dialog.waitFor();
    expect(await dialog.getByTestId('publish-summary').innerText()).toContain(
      `automation rate ${pct(before.automationRate)} → ${pct(after.automationRate)}`,
    );
    expect(await dialog.locator('#pub-scope-all').isDisabled()).toBe(false); // a global admin
    expect(await dialog.locator('#pub-clinic').inputValue()).toBe(h.clinicId);
    await expectAccessible(page, 'publish dialog');
    await dialog.getByRole('button', { name: `Publish v${version}` }).click();
    await expect
      .poll(() => dialog.locator('#pub-note-error').textContent())
      .toBe('Write why this version is published.');
    await dialog.getByLabel(/Why/).fill('PPI-1 tightened to 12 months, pilot at this clinic');
    await dialog.getByRole('button', { name: `Publish v${version}` }).click();
    await expect
      .poll(() => page.getByTestId('flash').textContent())
      .toContain(`Published v${version} for clinic ${h.clinicId} (before: the live version)`);
    const clinic = await api(`/v1/clinics/${h.clinicId}`);
    expect(clinic.protocolVersion).toBe(version);
    expect((await api(`/v1/protocols/${REFILL}`)).publishedVersion).toBe(1);
    expect(await api(`/v1/protocols/${REFILL}/versions/${version}`)).toMatchObject({
      status: 'published',
      note: 'PPI-1 tightened to 12 months, pilot at this clinic',
    });
    // The page now shows the published version, read-only.
    await expect.poll(() => page.locator(fieldId(PPI_WINDOW)).getAttribute('readonly')).toBe('');
    await expectAccessible(page, 'published version, read-only');

    // Roll back this clinic to the live version, the same way: why, and what it would do, confirmed.
    await page.getByRole('button', { name: 'Roll back…' }).click();
    const rb = page.locator('#rollback-dialog');
    await rb.waitFor();
    expect(await rb.locator('#rb-version').inputValue()).toBe('1');
    expect(await rb.locator('#rb-clinic').inputValue()).toBe(h.clinicId);
    await rb.getByTestId('sim-headline').waitFor({ timeout: 60_000 });
    expect(await rb.getByTestId('sim-headline').innerText()).toContain(`automation rate ${pct(before.automationRate)}`);
    await expectAccessible(page, 'rollback dialog with its simulation');
    await rb.getByLabel(/Why/).fill('Too many visits asked for; back to 18 months');
    await rb.getByRole('button', { name: 'Roll back', exact: true }).click();
    await page.waitForURL(/#\/protocols\/family-medicine-2015$/);
    const rolledTo = version + 1;
    await expect
      .poll(() => page.getByTestId('flash').textContent())
      .toBe(`Rolled back: v1’s content is now v${rolledTo} for clinic ${h.clinicId}.`);
    expect((await api(`/v1/clinics/${h.clinicId}`)).protocolVersion).toBe(rolledTo);
    expect(await api(`/v1/protocols/${REFILL}/versions/${rolledTo}`)).toMatchObject({
      status: 'published',
      note: 'Rollback of v1: Too many visits asked for; back to 18 months',
    });
    expect(await page.getByTestId('protocol-versions').locator(`tr[data-version="${rolledTo}"]`).innerText()).toContain(
      'Rollback of v1: Too many visits asked for',
    );
    await expectAccessible(page, 'protocol page after the rollback');
    // Leave the clinic on the live version.
    await h.store.clinics.updateSettings(h.clinicId, { protocolVersion: null });
  }, 180_000);

  test('a 409 or a 503 keeps the edits and says what to do; the edits move to a new draft', async () => {
    const draft = await api(`/v1/protocols/${REFILL}/drafts`, { method: 'POST', body: { fromVersion: 1 } });
    const version = draft.version as number;
    const page = await cb.signedIn(TOKENS.admin, {
      role: 'admin',
      path: `/#/protocols/${REFILL}/versions/${version}`,
    });
    await expect.poll(() => page.getByTestId('problems-summary').textContent()).toBe('No problems found.');
    await openGroupOf(page, PPI_WINDOW);
    const input = page.locator(fieldId(PPI_WINDOW));
    await input.fill('15');
    await expect.poll(() => page.getByTestId('editor-status').textContent()).toBe('Unsaved changes.');

    // 503 on save: nothing lost, the admin is told to try again; then it saves.
    await page.route(`**/v1/protocols/${REFILL}/versions/${version}`, (r) =>
      r.request().method() === 'PUT'
        ? r.fulfill({
            status: 503,
            json: { error: { code: 'TEMPORAL_UNAVAILABLE', message: 'Temporal is not reachable', requestId: 'req-1' } },
          })
        : r.continue(),
    );
    await page.getByRole('button', { name: 'Save draft' }).click();
    await expect
      .poll(() => page.getByTestId('editor-alert').textContent())
      .toBe(
        'Not saved: the server is not ready (Temporal is not reachable (reference req-1)). Your edits are kept; try again in a minute.',
      );
    expect(await input.inputValue()).toBe('15');
    await expectAccessible(page, 'editor after a 503');
    await page.unroute(`**/v1/protocols/${REFILL}/versions/${version}`);

    // 503 when the simulation job cannot start: the same, for the simulation.
    await page.route(`**/v1/protocols/${REFILL}/versions/${version}/simulate`, (r) =>
      r.fulfill({
        status: 503,
        json: { error: { code: 'TEMPORAL_UNAVAILABLE', message: 'Simulation jobs are not available', requestId: 'r' } },
      }),
    );
    await page.getByRole('button', { name: 'Simulate' }).click();
    await expect
      .poll(() => page.locator('#sim-result').textContent())
      .toContain('The simulation did not start: the server is not ready');
    expect((await api(`/v1/protocols/${REFILL}/versions/${version}`)).definition).toMatchObject({
      categories: expect.arrayContaining([
        expect.objectContaining({
          id: 'antacid_reflux',
          criteria: [expect.objectContaining({ when: { all: [expect.objectContaining({ value: 15 })] } })],
        }),
      ]) as unknown,
    }); // saved on the way
    await page.unroute(`**/v1/protocols/${REFILL}/versions/${version}/simulate`);

    // 409: someone published this draft meanwhile; the edit is kept and goes into a new draft.
    await input.fill('14');
    await api(`/v1/protocols/${REFILL}/versions/${version}/publish`, {
      method: 'POST',
      body: { clinicId: h.clinicId, note: 'published by someone else' },
    });
    await page.getByRole('button', { name: 'Save draft' }).click();
    const alert = page.getByTestId('editor-alert');
    await expect.poll(() => alert.textContent()).toContain(`Not saved: version v${version} is no longer a draft`);
    expect(await alert.textContent()).toContain('Your edits are kept here; save them as a new draft.');
    expect(await input.inputValue()).toBe('14');
    await expectAccessible(page, 'editor after a 409');
    await alert.getByRole('button', { name: 'Save as a new draft' }).click();
    await page.waitForURL((u) => !u.hash.endsWith(`/versions/${version}`));
    const next = Number(/versions\/(\d+)$/.exec(page.url())![1]);
    expect(next).toBeGreaterThan(version);
    await expect.poll(() => page.getByTestId('flash').textContent()).toBe(`Draft v${next} created.`);
    await openGroupOf(page, PPI_WINDOW);
    expect(await page.locator(fieldId(PPI_WINDOW)).inputValue()).toBe('14');
    expect(
      (
        ((await api(`/v1/protocols/${REFILL}/versions/${next}`)).definition as { categories: Json[] }).categories[0]!
          .criteria as { when: { all: { value: number }[] } }[]
      )[0]!.when.all[0]!.value,
    ).toBe(14);
    await h.store.clinics.updateSettings(h.clinicId, { protocolVersion: null });
  }, 120_000);

  test('the care-gap kind: its form (test windows, clause thresholds, outreach), problems at fields, empty states', async () => {
    const page = await cb.signedIn(TOKENS.admin, { role: 'admin', path: `/#/protocols/${CARE_GAP}` });
    // Empty state: no clinic runs it.
    await expect.poll(() => page.getByTestId('clinics-empty').textContent()).toBe('No clinic runs this protocol.');
    await expectAccessible(page, 'care-gap protocol page, no clinic');
    const live = (await api(`/v1/protocols/${CARE_GAP}`)).publishedVersion as number;
    await page.getByRole('button', { name: `New draft from v${live}` }).click();
    await page.waitForURL(/#\/protocols\/crc-screening-2021\/versions\/\d+$/);
    const version = Number(/versions\/(\d+)$/.exec(page.url())![1]);
    await expect.poll(() => page.getByTestId('problems-summary').textContent()).toBe('No problems found.');

    // A test's window: the field, its problem, its fix.
    const fit = '$.tests[0].windowMonths';
    await openGroupOf(page, fit);
    expect(await page.locator(`label[for="${fieldId(fit).slice(1)}"]`).innerText()).toContain(
      'fit: counts for (months)',
    );
    await page.locator(fieldId(fit)).fill('-1');
    await expect.poll(() => page.locator(`${fieldId(fit)}-error`).textContent()).not.toBe('');
    // A problem with an item as a whole (the outreach steps out of order) is shown at its group.
    const reminder = '$.outreach.reminderDay';
    await openGroupOf(page, reminder);
    await page.locator(fieldId(reminder)).fill('100');
    const groupErrors = page.locator(`${fieldId('$.outreach')}-group-error`);
    await expect.poll(() => groupErrors.textContent()).toContain('$.outreach: the steps must come in order');
    await expect
      .poll(() => page.getByTestId('problems-summary').textContent())
      .toBe('2 problems, shown at their fields and in the raw view.');
    await expectAccessible(page, 'care-gap editor with problems');
    await page.locator(fieldId(reminder)).fill('28');
    // A longer FIT window: the engine's consistency check names the clause that still says 12, at its own field.
    await page.locator(fieldId(fit)).fill('24');
    const crc10 = '$.clauses[10].when.any[0].value';
    await expect
      .poll(() => page.locator(`${fieldId(crc10)}-error`).textContent())
      .toBe('FIT / FOBT counts for 24 months (tests[fit]); this condition says 12');
    expect(await page.locator(fieldId(crc10)).isVisible()).toBe(true); // its group opened
    await page.locator(fieldId(crc10)).fill('24');
    // A clause's threshold (CRC-1: the age the population starts at).
    const age = '$.clauses[1].when.any[0].value';
    await openGroupOf(page, age);
    expect(await page.locator(fieldId(age)).inputValue()).toBe('45');
    await page.locator(fieldId(age)).fill('50');
    await expect.poll(() => page.getByTestId('problems-summary').textContent()).toBe('No problems found.');
    await page.getByRole('button', { name: 'Save draft' }).click();
    await expect.poll(() => page.getByTestId('editor-status').textContent()).toMatch(/^Saved at /);
    const saved = (await api(`/v1/protocols/${CARE_GAP}/versions/${version}`)).definition as {
      tests: { windowMonths: number }[];
      clauses: { when: { any: { value: number }[] } }[];
    };
    expect(saved.tests[0]!.windowMonths).toBe(24);
    expect(saved.clauses[10]!.when.any[0]!.value).toBe(24);
    expect(saved.clauses[1]!.when.any[0]!.value).toBe(50);

    // Simulated on a clinic that has no care-gap cases: the empty result says so.
    await page.getByRole('button', { name: 'Simulate' }).click();
    await page.getByTestId('sim-headline').waitFor({ timeout: 60_000 });
    expect(await page.locator('#sim-result').textContent()).toContain('No recorded cases for this clinic and range.');
    expect(await page.locator('#sim-result').textContent()).toContain('No case changes its disposition.');
    await expectAccessible(page, 'care-gap editor, empty simulation');
    // The diff names the clause and the test that changed.
    await page.getByRole('button', { name: 'Compare with live' }).click();
    await page.getByTestId('diff-table').waitFor();
    const items = await page
      .getByTestId('diff-table')
      .locator('tr[data-item]')
      .evaluateAll((rows) => rows.map((r) => r.getAttribute('data-item')));
    expect(items).toEqual(expect.arrayContaining(['CRC-1']));
  }, 120_000);

  test('keyboard only, with visible focus; a clinic admin publishes for its clinic only', async () => {
    const draft = await api(`/v1/protocols/${REFILL}/drafts`, { method: 'POST', body: { fromVersion: 1 } });
    const version = draft.version as number;
    const page = await cb.newPage();
    await page.goto(baseUrl);
    await page.getByLabel('API token').fill(CLINIC_ADMIN);
    await page.keyboard.press('Enter');
    await page.getByTestId('role').filter({ hasText: 'admin' }).waitFor();
    // Tab to the Protocols link and follow it.
    for (let i = 0; i < 40; i++) {
      await page.keyboard.press('Tab');
      if ((await page.evaluate(() => document.activeElement?.textContent)) === 'Protocols') break;
    }
    const focusStyle = () =>
      page.evaluate(() => {
        const el = document.activeElement as HTMLElement;
        const s = getComputedStyle(el);
        return { text: el.textContent?.trim().slice(0, 40), outline: `${s.outlineStyle} ${s.outlineWidth}` };
      });
    expect(await focusStyle()).toEqual({ text: 'Protocols', outline: 'solid 3px' });
    await page.keyboard.press('Enter');
    await page.getByTestId('protocol-library').waitFor();
    // A clinic admin sees its own clinic only.
    expect(await page.locator(`tr[data-protocol-id="${REFILL}"] td`).nth(4).innerText()).toBe(
      `${h.clinicId}: follows the live version`,
    );
    await page.goto(`${baseUrl}/#/protocols/${REFILL}/versions/${version}`);
    await expect.poll(() => page.getByTestId('problems-summary').textContent()).toBe('No problems found.');
    // Open the PPI group from the keyboard, then type into its first field.
    const summary = page
      .locator('details.form-group')
      .filter({ has: page.locator(fieldId(PPI_WINDOW)) })
      .locator('summary');
    await summary.focus();
    await page.keyboard.press('Shift+Tab');
    await page.keyboard.press('Tab');
    expect((await focusStyle()).outline).toBe('solid 3px');
    await page.keyboard.press('Enter');
    for (let i = 0; i < 10; i++) {
      await page.keyboard.press('Tab');
      if ((await page.evaluate(() => document.activeElement?.id)) === fieldId(PPI_WINDOW).slice(1)) break;
    }
    expect(await page.evaluate(() => document.activeElement?.id)).toBe(fieldId(PPI_WINDOW).slice(1));
    expect((await focusStyle()).outline).toBe('solid 3px');
    await page.keyboard.press('ControlOrMeta+a');
    await page.keyboard.type('13');
    await expect.poll(() => page.getByTestId('editor-status').textContent()).toBe('Unsaved changes.');
    // Simulate from the keyboard (the form's submit button), then open Publish and leave it with Escape.
    await page.locator('#sim-clinic').focus();
    for (let i = 0; i < 12; i++) {
      await page.keyboard.press('Tab');
      if ((await page.evaluate(() => document.activeElement?.textContent)) === 'Simulate') break;
    }
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe('Simulate');
    await page.keyboard.press('Enter');
    await page.getByTestId('sim-headline').waitFor({ timeout: 60_000 });
    const publish = page.getByRole('button', { name: 'Publish…' });
    await publish.focus();
    await page.keyboard.press('Enter');
    const dialog = page.locator('#publish-dialog');
    await dialog.waitFor();
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('pub-note');
    expect(await dialog.locator('#pub-scope-all').isDisabled()).toBe(true);
    expect(await dialog.locator('#pub-scope-all-why').textContent()).toBe(
      'Only a global admin may publish for every clinic.',
    );
    expect(await dialog.getByTestId('publish-summary').textContent()).toContain(`Simulated on clinic ${h.clinicId}`);
    await page.keyboard.press('Escape');
    await expect.poll(() => dialog.count()).toBe(0);
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe('Publish…');
    // Publish with the keyboard: note, then the confirm button.
    await page.keyboard.press('Enter');
    await page.keyboard.type('Pilot from the keyboard');
    await page
      .locator('#publish-dialog')
      .getByRole('button', { name: `Publish v${version}` })
      .focus();
    await page.keyboard.press('Enter');
    await expect
      .poll(() => page.getByTestId('flash').textContent())
      .toContain(`Published v${version} for clinic ${h.clinicId}`);
    expect((await api(`/v1/clinics/${h.clinicId}`)).protocolVersion).toBe(version);
    await h.store.clinics.updateSettings(h.clinicId, { protocolVersion: null });
  }, 120_000);
});
