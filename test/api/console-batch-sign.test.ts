// Batch signing in the console, in a real browser (headless Chromium via playwright-core) against the real stack:
// the API served on loopback, the run's Temporal dev server, the worker and the sandbox EHR (test/helpers/harness.ts).
// Select, confirm (the count and the medications), per-case results, Undo inside the window.
import type { AddressInfo } from 'node:net';
import type { MedicationRequest } from '@medplum/fhirtypes';
import { serve, type ServerType } from '@hono/node-server';
import type { Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { ORDER_IDENTIFIER_SYSTEM } from '../../activities/kinds/refill/ehr-writeback.ts';
import type { CaseRecord } from '../../connectors/db/index.ts';
import { ConsoleBrowser } from '../helpers/console-browser.ts';
import { refillEvent, startHarness, TOKENS, type Harness } from '../helpers/harness.ts';

const UNDO_SECONDS = 8;
let h: Harness;
let server: ServerType;
let baseUrl: string;
let cb: ConsoleBrowser;

beforeAll(async () => {
  h = await startHarness({ patients: 80, env: { BATCH_SIGN_UNDO_SECONDS: String(UNDO_SECONDS) } });
  server = await new Promise<ServerType>((resolve) => {
    const s = serve({ fetch: h.app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s));
  });
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  cb = await ConsoleBrowser.launch(baseUrl, ['--disable-quic', '--no-first-run', '--disable-background-networking']);
});

afterEach(() => cb.expectNoProblems());

afterAll(async () => {
  await cb?.close();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  await h?.close();
});

const orderFor = (caseId: string): MedicationRequest | undefined =>
  h.sandbox.repo
    .search('MedicationRequest', new URLSearchParams({ identifier: `${ORDER_IDENTIFIER_SYSTEM}|${caseId}` }))
    .entry?.map((e) => e.resource as MedicationRequest)[0];

/** Polls the projection directly (a read through the API would audit a view of the case). */
async function waitFor(caseId: string, until: (c: CaseRecord) => boolean, ms = 30_000): Promise<CaseRecord> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const c = await h.store.cases.getCase(caseId);
    if (c && until(c)) return c;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`case ${caseId} did not get there`);
}

const signedInDoctor = (): Promise<Page> => cb.signedIn(TOKENS.doctor, { role: 'doctor', path: '/#/queue/signature' });

describe('console: batch signing', () => {
  test('sign all shown: confirm lists the count and medications, results per case, Undo inside the window', async () => {
    // Three approvable requests of different patients, in the signature queue with their drafts pended.
    const picked = new Map<string, string>();
    for (const s of h.scenarios) {
      if (s.expectedDisposition === 'approve' && !picked.has(s.patientId))
        picked.set(s.patientId, s.medicationRequestId);
    }
    const ids: string[] = [];
    for (const mr of [...picked.values()].slice(0, 3)) {
      const res = await h.webhook(h.clinicId, refillEvent(mr));
      expect(res.status).toBe(202);
      ids.push(((await res.json()) as { caseId: string }).caseId);
    }
    const cases = await Promise.all(
      ids.map((id) => waitFor(id, (c) => c.status === 'queued' && c.queue === 'signature')),
    );
    const [a, b, c] = ids as [string, string, string];
    const drugs = cases.map((x) => x.drugName ?? '');
    expect(drugs.every((d) => d.length > 0)).toBe(true);
    // A nurse has case C open: it must not be signed in a batch for the next minute.
    expect((await h.api(`/v1/cases/${c}`, { as: 'nurse' })).status).toBe(200);

    const page = await signedInDoctor();
    await expect.poll(() => page.locator('#queue-body tr').count()).toBe(3);
    await expect.poll(() => page.locator('input.batch-check').count()).toBe(3);
    const all = page.locator('#batch-sign-all');
    await expect.poll(() => all.textContent()).toBe('Sign all shown (3)');
    // One checkbox: "Sign selected" counts it; the row's click does not open the case.
    await page.getByLabel(`Select ${drugs[0]}`).check();
    await expect.poll(() => page.locator('#batch-sign-selected').textContent()).toBe('Sign selected (1)');
    expect(page.url()).toContain('#/queue/signature');

    await all.click();
    const dialog = page.locator('#batch-confirm');
    await dialog.waitFor();
    expect(await dialog.locator('#batch-confirm-title').textContent()).toBe('Sign 3 cases?');
    expect(await dialog.locator('#batch-confirm-list li').allTextContents()).toEqual(drugs);
    await dialog.getByRole('button', { name: 'Sign 3 orders' }).click();

    const results = page.locator('#batch-results');
    await expect.poll(() => results.locator('h2').textContent()).toBe('Batch: 2 signed, 1 not signed');
    const item = (id: string) => results.locator(`li[data-case-id="${id}"]`);
    expect(await item(a).textContent()).toContain('Signed: goes out in');
    expect(await item(b).textContent()).toContain('Signed: goes out in');
    expect(await item(c).textContent()).toContain('Not signed: someone else opened it in the last minute');
    expect(await item(c).getByRole('button', { name: 'Undo' }).count()).toBe(0);
    expect(orderFor(a)?.status).toBe('draft');

    // Undo A inside the window: nothing goes out, and the case is back in the queue.
    await item(a).getByRole('button', { name: 'Undo' }).click();
    await expect.poll(() => item(a).textContent()).toContain('Undone: back in the queue, nothing sent');
    await waitFor(a, () => true);
    await expect
      .poll(async () => (await h.store.cases.listCaseEvents(a)).map((e) => e.kind).includes('signature.undone'))
      .toBe(true);

    // B goes out when its window ends; A stays a draft in the queue.
    const closed = await waitFor(b, (x) => x.status === 'closed', (UNDO_SECONDS + 20) * 1000);
    expect(closed.outcome).toBe('approved');
    expect(orderFor(b)?.status).toBe('active');
    await expect.poll(() => item(b).textContent(), { timeout: 10_000 }).toContain('Signed: sent to the EHR');
    expect(orderFor(a)?.status).toBe('draft');
    expect(await h.store.cases.getCase(a)).toMatchObject({ status: 'queued', queue: 'signature' });
  });
});
