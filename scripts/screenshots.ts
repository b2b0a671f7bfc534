// `npm run screenshots`: the README's screenshots, taken from the running product (`npm start`, then
// `npm run demo:traffic -- --decide`) in headless Chromium, the browser the install step provides. Signs in with the
// demo clinic's tokens from $DATA_DIR/demo-credentials.json and writes docs/screenshots/*.png (console-access.png:
// the access-monitoring page, after the other shots, whose case views it then lists).
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
