// `npm run screenshots`: the README's screenshots, taken from the running product (`npm start`, then
// `npm run demo:traffic -- --decide`) in headless Chromium, the browser the install step provides. Signs in with the
// demo clinic's tokens from $DATA_DIR/demo-credentials.json and writes docs/screenshots/*.png.
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
} finally {
  await browser.close();
}
