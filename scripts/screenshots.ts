// `npm run screenshots`: the README's screenshots, taken from the running product (`npm start`, then
// `npm run demo:traffic -- --decide`) in headless Chromium, the browser the install step provides. Signs in with the
// demo clinic's tokens from $DATA_DIR/demo-credentials.json and writes docs/screenshots/*.png (console-access.png:
// the access-monitoring page, after the other shots, whose case views it then lists).
// The protocol editor's shot works on a draft of the demo clinic's protocol that it keeps for itself (noted
// SCREENSHOT_NOTE, reset to the live version each run): it shortens the form's first window by a third and
// simulates that on the clinic's recorded cases. Nothing is published.
// Options: --out DIR (default docs/screenshots).
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { Browser, Page } from 'playwright-core';
import { loadConfig } from '../connectors/config.ts';
import { launchChromium } from '../test/helpers/chromium.ts';

const { values } = parseArgs({ options: { out: { type: 'string', default: 'docs/screenshots' } } });
const config = loadConfig();
const creds = JSON.parse(readFileSync(join(config.DATA_DIR, 'demo-credentials.json'), 'utf8')) as {
  tokens: Record<string, string>;
};
const base = `http://127.0.0.1:${config.PORT}`;
const out = values.out;
mkdirSync(out, { recursive: true });
/** The note of the draft the editor shot works on (found again on the next run, never published). */
const SCREENSHOT_NOTE = 'Screenshot draft (npm run screenshots): never published';

/** A fresh tab signed in as `role`, at `hash` once the console has rendered. */
async function signedIn(browser: Browser, role: string, hash: string): Promise<Page> {
  const token = creds.tokens[role];
  if (!token) throw new Error(`no demo token for role ${role} in demo-credentials.json`);
  const context = await browser.newContext({ viewport: { width: 1360, height: 900 }, deviceScaleFactor: 1 });
  const page = await context.newPage();
  await page.goto(base);
  await page.getByLabel('API token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByTestId('role').filter({ hasText: role }).waitFor();
  await page.goto(`${base}/${hash}`);
  return page;
}

// The queue shot: the first of these queues that holds cases, as its usual role sees it (none: no queue shot).
const counts = (
  (await (
    await fetch(`${base}/v1/queues/nurse/cases?limit=1`, { headers: { authorization: `Bearer ${creds.tokens.admin}` } })
  ).json()) as { counts: Record<string, number> }
).counts;
const queueShot = [
  { role: 'nurse', queue: 'nurse' },
  { role: 'doctor', queue: 'signature' },
  { role: 'doctor', queue: 'doctor' },
].find((q) => (counts[q.queue] ?? 0) > 0);
if (!queueShot) console.log('no open cases in the nurse, signature or doctor queue: no queue and case shots');

/**
 * The access-monitoring page as the demo clinic's admin sees it (its privacy officer sees the same): the flags of the
 * last 7 days with one's evidence open (not the admin's own), above the access log, cut below its first rows.
 */
async function accessShot(browser: Browser): Promise<void> {
  const page = await signedIn(browser, 'admin', '#/access');
  await page.getByTestId('access-log').or(page.getByTestId('log-empty')).first().waitFor({ timeout: 20_000 });
  await page.getByTestId('flag-counts').filter({ hasText: /open/ }).waitFor({ timeout: 20_000 });
  // The evidence of a flag about someone else than the admin taking the shot (whose own page views are accesses too).
  const first = page.locator('article.flag').filter({ hasNotText: 'demo-admin' }).first();
  if (await first.count()) await first.locator('summary').click();
  const rows = page.locator('[data-testid="access-log"] tbody tr');
  const end = (await rows.count()) ? rows.nth(Math.min(7, (await rows.count()) - 1)) : page.getByTestId('log-empty');
  const bottom = await end.evaluate((el) => el.getBoundingClientRect().bottom + window.scrollY + 16);
  await page.screenshot({
    path: join(out, 'console-access.png'),
    fullPage: true,
    clip: { x: 0, y: 0, width: 1360, height: Math.ceil(bottom) },
  });
  console.log(`wrote ${join(out, 'console-access.png')} (${await page.getByTestId('flag-counts').innerText()})`);
  await page.context().close();
}

const browser = await launchChromium();
try {
  const shots: { file: string; role: string; hash: string; ready: string }[] = [
    {
      file: 'console-analytics.png',
      role: 'admin',
      hash: '#/analytics',
      ready: '[data-testid="analytics-report"] [data-testid="chart-reduction"]',
    },
    ...(queueShot
      ? [
          {
            file: 'console-queue.png',
            role: queueShot.role,
            hash: `#/queue/${queueShot.queue}`,
            ready: '#queue-body tr a',
          },
        ]
      : []),
  ];
  await editorShot(browser);
  for (const shot of shots) {
    const page = await signedIn(browser, shot.role, shot.hash);
    await page.locator(shot.ready).first().waitFor({ timeout: 20_000 });
    await page.screenshot({ path: join(out, shot.file), fullPage: true });
    console.log(`wrote ${join(out, shot.file)}`);
    // The case view: the queue's first case, with its criteria and evidence.
    if (shot.file === 'console-queue.png') {
      await page.locator('#queue-body tr a').first().click();
      await page.getByRole('heading', { level: 1 }).first().waitFor();
      await page.screenshot({ path: join(out, 'console-case.png'), fullPage: true });
      console.log(`wrote ${join(out, 'console-case.png')}`);
    }
    await page.context().close();
  }
  // Last: the shots above viewed cases, which the access log shows.
  await accessShot(browser);
} finally {
  await browser.close();
}

/** The admin's API, as the console calls it. */
async function adminApi(
  path: string,
  init: { method?: string; body?: unknown } = {},
): Promise<Record<string, unknown>> {
  const res = await fetch(`${base}${path}`, {
    method: init.method ?? 'GET',
    headers: { authorization: `Bearer ${creds.tokens.admin}`, 'content-type': 'application/json' },
    ...(init.body !== undefined && { body: JSON.stringify(init.body) }),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${init.method ?? 'GET'} ${path}: ${res.status} ${text}`);
  return JSON.parse(text) as Record<string, unknown>;
}

/**
 * The protocol editor with a simulation result: the demo clinic's own protocol, its first "Window" field shortened by
 * a third in the form, the diff against the live version and the simulation on the clinic's recorded cases.
 */
async function editorShot(browser: Browser): Promise<void> {
  const clinic = ((await adminApi('/v1/clinics')).items as { id: string; protocolId: string }[])[0];
  if (!clinic) return console.log('no clinic: no protocol editor shot');
  const id = encodeURIComponent(clinic.protocolId);
  const protocol = (await adminApi(`/v1/protocols/${id}`)) as {
    publishedVersion: number | null;
    versions: { version: number; status: string; note: string | null }[];
  };
  if (protocol.publishedVersion === null) return console.log('the protocol has no live version: no editor shot');
  const live = await adminApi(`/v1/protocols/${id}/versions/${protocol.publishedVersion}`);
  const mine = protocol.versions.find((v) => v.status === 'draft' && v.note === SCREENSHOT_NOTE);
  let version: number;
  if (mine) {
    version = mine.version;
    await adminApi(`/v1/protocols/${id}/versions/${version}`, {
      method: 'PUT',
      body: { definition: live.definition, note: SCREENSHOT_NOTE },
    });
  } else {
    const draft = await adminApi(`/v1/protocols/${id}/drafts`, {
      method: 'POST',
      body: { fromVersion: protocol.publishedVersion, note: SCREENSHOT_NOTE },
    });
    version = draft.version as number;
  }

  const page = await signedIn(browser, 'admin', `#/protocols/${id}/versions/${version}`);
  await page.setViewportSize({ width: 1360, height: 1100 });
  await page.getByTestId('problems-summary').filter({ hasText: 'No problems found.' }).waitFor({ timeout: 20_000 });
  const group = page
    .locator('details.form-group')
    .filter({ has: page.locator('.tag', { hasText: /^Window$/ }) })
    .first();
  await group.locator('summary').click();
  const field = group
    .locator('.field')
    .filter({ has: page.locator('.tag', { hasText: /^Window$/ }) })
    .first();
  const input = field.locator('input');
  const before = Number(await input.inputValue());
  await input.fill(String(Math.max(1, Math.round((before * 2) / 3))));
  await page.getByTestId('problems-summary').filter({ hasText: 'No problems found.' }).waitFor();
  // The form scrolled to the edited group.
  await group.evaluate((g) => {
    const box = g.closest('.proto-form');
    if (box) box.scrollTop = (g as HTMLElement).offsetTop - (box as HTMLElement).offsetTop - 8;
  });
  await page.getByRole('button', { name: 'Compare with live' }).click();
  await page.getByTestId('diff').waitFor({ timeout: 20_000 });
  await page.getByRole('button', { name: 'Simulate' }).click();
  await page.getByTestId('sim-headline').waitFor({ timeout: 120_000 });
  // Down to the third changed case (or the end of the results).
  const last = page.getByTestId('changed-cases').locator(':scope > li').nth(2);
  const end = (await last.count()) ? last : page.locator('#sim-result');
  const bottom = await end.evaluate((el) => el.getBoundingClientRect().bottom + window.scrollY + 2);
  await page.screenshot({
    path: join(out, 'console-protocol-editor.png'),
    fullPage: true,
    clip: { x: 0, y: 0, width: 1360, height: Math.ceil(bottom) },
  });
  console.log(
    `wrote ${join(out, 'console-protocol-editor.png')} (${await page.getByTestId('sim-headline').innerText()})`,
  );
  await page.context().close();
}
