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
    expect(await page.locator('#sim-clinic').inputValue()).toBe(h.clinicId);
    await page.getByRole('button', { name: 'Simulate' }).click();
    const headline = page.getByTestId('sim-headline');
    await headline.waitFor({ timeout: 60_000 });
    const seen = await page.evaluate(() => (window as unknown as { progressSeen: string[] }).progressSeen);
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.some((t) => /of 5,600 cases|Counting the recorded cases/.test(t))).toBe(true);
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
});
