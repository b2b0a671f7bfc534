// The console's outcome-analytics page in a real browser (Chromium via playwright-core, test/helpers/chromium.ts)
// against the real Hono app and a real SQLite app database, with a mix of cases written through the store functions
// the workflows call (test/helpers/analytics.ts). The numbers the page shows are checked against GET /v1/analytics for
// the same filters, and the CSV the page saves against GET /v1/analytics.csv.
import { mkdirSync, readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import type { Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { createApp } from '../../api/app.ts';
import { ensureBuiltinProtocols } from '../../api/seed.ts';
import type { WorkflowGateway } from '../../api/workflow-gateway.ts';
import { loadConfig } from '../../connectors/config.ts';
import { createStore, type Store } from '../../connectors/db/index.ts';
import { createLogger } from '../../connectors/logger.ts';
import { startOfLocalDay, type AnalyticsReport } from '../../rules/analytics/index.ts';
import { analyticsMix, recordMix } from '../helpers/analytics.ts';
import { ConsoleBrowser } from '../helpers/console-browser.ts';
import { openTestDatabase, type TestDatabase } from '../helpers/db.ts';

const TZ = 'America/Chicago';
const CLINIC = {
  id: 'clinic-an',
  name: 'Analytics Clinic',
  webhookSecret: 'whsec_analytics_console_0123456789',
  fhirBaseUrl: 'http://127.0.0.1:3001/fhir/R4',
  fhirClientId: 'autopilot',
  fhirPrivateKeyJwk: null,
  fhirTokenUrl: null,
  protocolId: 'family-medicine-2015',
  nurseSlaSeconds: 3600,
  timezone: TZ,
};
const TOKENS = {
  admin: 'clinic-admin-console-analytics-01',
  global: 'global-admin-console-analytics-01',
  nurse: 'nurse-console-analytics-token-001',
};
const FROM = '2026-05-04';
const TO = '2026-05-06';
const FILTERS = `clinicId=${CLINIC.id}&from=${FROM}&to=${TO}`;

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
  await ensureBuiltinProtocols(store, logger);
  await store.clinics.upsert(CLINIC);
  await store.clinics.upsert({ ...CLINIC, id: 'clinic-other', name: 'Other Clinic' });
  const token = (name: keyof typeof TOKENS, role: 'admin' | 'nurse', clinicId: string | null) =>
    store.tokens.createToken({ name, role, userId: `${name}@test`, clinicId, token: TOKENS[name] });
  await token('admin', 'admin', CLINIC.id);
  await token('global', 'admin', null);
  await token('nurse', 'nurse', CLINIC.id);
  await recordMix(store, CLINIC.id, analyticsMix(startOfLocalDay(FROM, TZ), 3));
  const workflows = { ping: () => Promise.resolve() } as unknown as WorkflowGateway;
  const app = createApp({ config, db: tdb.db, store, workflows, logger, now: () => new Date() });
  server = await new Promise<ServerType>((resolve) => {
    const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s));
  });
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  cb = await ConsoleBrowser.launch(baseUrl, ['--disable-quic', '--no-first-run', '--disable-background-networking']);
}, 120_000);

afterEach(() => cb.expectNoProblems());

afterAll(async () => {
  await cb?.close();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  await tdb?.cleanup();
});

const signedIn = (role: keyof typeof TOKENS): Promise<Page> =>
  cb.signedIn(TOKENS[role], { context: { acceptDownloads: true } });

async function apiJson(query: string, token = TOKENS.admin): Promise<AnalyticsReport> {
  const res = await fetch(`${baseUrl}/v1/analytics?${query}`, { headers: { authorization: `Bearer ${token}` } });
  expect(res.status).toBe(200);
  return (await res.json()) as AnalyticsReport;
}

const pct = (rate: number | null) => (rate === null ? '—' : `${(rate * 100).toFixed(1)} %`);

/** The text of every cell of a table on the page, row by row. */
async function cells(page: Page, testid: string): Promise<string[][]> {
  return page
    .getByTestId(testid)
    .locator('tbody tr')
    .evaluateAll((rows) => rows.map((r) => Array.from(r.querySelectorAll('td'), (td) => td.textContent ?? '')));
}

describe('console: outcome analytics', () => {
  test('an admin opens the page from the nav; every number shown equals the API’s', async () => {
    const page = await signedIn('admin');
    const link = page.getByRole('link', { name: 'Analytics' });
    await expect(link.isVisible()).resolves.toBe(true);
    await link.click();
    // A clinic admin's clinic is fixed; pick the range and submit the form.
    await expect(page.locator('#an-clinic').inputValue()).resolves.toBe(CLINIC.id);
    await page.locator('#an-from').fill(FROM);
    await page.locator('#an-to').fill(TO);
    await page.getByRole('button', { name: 'Show' }).click();
    await page.waitForURL((u) => u.hash.includes(`from=${FROM}`) && u.hash.includes(`to=${TO}`));
    await page.getByTestId('analytics-report').waitFor();

    const api = await apiJson(`from=${FROM}&to=${TO}&granularity=day`);
    const t = api.totals;
    expect(t.requests).toBe(3 * 19); // the mix: 19 cases a day
    const metric = (id: string) => page.getByTestId(`metric-${id}`).textContent();
    await expect(metric('requests')).resolves.toBe(String(t.requests));
    await expect(metric('automation-rate')).resolves.toBe(pct(t.automationRate));
    await expect(metric('touches-per-100')).resolves.toBe(String(t.physicianTouches.per100));
    await expect(metric('reduction')).resolves.toBe(`${t.physicianTouches.reductionPct} %`);
    await expect(metric('sla-compliance')).resolves.toBe(pct(t.sla.compliance));
    await expect(metric('escalations')).resolves.toBe(String(t.escalations.total));
    await expect(metric('overrides')).resolves.toBe(String(t.overrides));

    // Per day: requests and physician touches summed over the API's series rows of that day.
    const days = await cells(page, 'by-bucket');
    expect(days.map((r) => r[0])).toEqual([FROM, '2026-05-05', TO]);
    for (const [day, requests, automated, touches] of days) {
      const rows = api.series.filter((r) => r.bucket === day);
      expect(Number(requests), day).toBe(rows.reduce((s, r) => s + r.requests, 0));
      expect(Number(automated), day).toBe(rows.reduce((s, r) => s + r.automated, 0));
      expect(Number(touches), day).toBe(rows.reduce((s, r) => s + r.physicianTouches.total, 0));
    }
    // Per protocol version: requests and overrides add up to the API's.
    const versions = await cells(page, 'by-version');
    expect(versions.reduce((s, r) => s + Number(r[2]), 0)).toBe(t.requests);
    expect(versions.reduce((s, r) => s + Number(r[7]), 0)).toBe(t.overrides);
    expect(versions.map((r) => r[1]).sort()).toEqual(
      [...new Set(api.series.map((r) => (r.protocolId === null ? 'none' : `${r.protocolId} v${r.protocolVersion}`)))]
        .map((x) => (x === 'none' ? 'none (not triaged by a protocol)' : x))
        .sort(),
    );

    // Whatever roles, queues and dispositions the API returns, one row each.
    await expect(cells(page, 'dispositions')).resolves.toEqual(
      Object.entries(t.dispositions)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([d, n]) => [d, String(n)]),
    );
    await expect(cells(page, 'roles')).resolves.toEqual(
      api.touchesByRole.map((r) => [r.role, String(r.cases), String(r.decisions)]),
    );
    const turnaround = await cells(page, 'turnaround');
    expect(turnaround.map((r) => Number(r[1]))).toEqual(api.turnaround.map((q) => q.closed));
    expect(turnaround.find((r) => r[0] === 'signature')?.slice(2)).toEqual(['3 min', '3 min']); // 180 s, as the mix writes
    await expect(cells(page, 'escalations')).resolves.toEqual(
      Object.entries(t.escalations.byReason).map(([r, n]) => [r, String(n)]),
    );
    await expect(cells(page, 'failing')).resolves.toEqual(
      api.failingCriteria.map((f) => [f.criterion, f.kind, f.protocolId ?? '—', String(f.cases)]),
    );
    const overrides = await cells(page, 'overrides');
    expect(overrides.map((r) => r[0])).toEqual(api.overrides.items.map((o) => o.caseId));
    expect(overrides.map((r) => `${r[1]}>${r[2]}:${r[3]}`)).toEqual(
      api.overrides.items.map((o) => `${o.disposition}>${o.outcome}:${o.role}`),
    );

    mkdirSync('test/artifacts', { recursive: true });
    await page.screenshot({ path: 'test/artifacts/console-analytics.png', fullPage: true });

    // The charts: one reduction bar per day with requests, the 70 % target line, and a stacked bar per disposition.
    await expect(page.getByTestId('chart-reduction').locator('rect.bar').count()).resolves.toBe(3);
    await expect(page.getByTestId('target-line').count()).resolves.toBe(1);
    await expect(page.getByTestId('chart-reduction').textContent()).resolves.toContain('target 70 %');
    const stacked = await page.getByTestId('chart-requests').locator('rect').count();
    expect(stacked).toBe(
      [FROM, '2026-05-05', TO].reduce(
        (s, day) =>
          s +
          new Set(
            api.series
              .filter((r) => r.bucket === day)
              .flatMap((r) => Object.entries(r.dispositions).filter(([, n]) => n > 0))
              .map(([d]) => d),
          ).size,
        0,
      ),
    );
  });

  test('the CSV button saves what GET /v1/analytics.csv answers; weeks and the protocol filter round-trip', async () => {
    const page = await signedIn('admin');
    const query = `from=${FROM}&to=${TO}&granularity=week&protocolId=family-medicine-2015`;
    await page.goto(`${baseUrl}/#/analytics?${query}`);
    await page.getByTestId('analytics-report').waitFor();
    const api = await apiJson(query);
    expect(api.totals.requests).toBe(3 * 15); // a day's 15 refills triaged by this protocol (not the 3 care gaps, nor the automation-off case)
    await expect(page.getByTestId('metric-requests').textContent()).resolves.toBe(String(api.totals.requests));
    await expect(cells(page, 'by-bucket').then((rows) => rows.map((r) => r[0]))).resolves.toEqual(['2026-05-04']);
    await expect(page.locator('#an-granularity').inputValue()).resolves.toBe('week');

    const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('csv').click()]);
    expect(download.suggestedFilename()).toBe(`analytics-${FROM}-${TO}.csv`);
    const saved = readFileSync(await download.path(), 'utf8');
    const res = await fetch(`${baseUrl}/v1/analytics.csv?${query}`, {
      headers: { authorization: `Bearer ${TOKENS.admin}` },
    });
    expect(saved).toBe(await res.text());
    expect(saved.split('\r\n')[0]).toMatch(/^bucket,kind,protocol_id,protocol_version,requests,/);
  });

  test('a global admin picks the clinic; a nurse has no analytics page', async () => {
    const page = await signedIn('global');
    await page.getByRole('link', { name: 'Analytics' }).click();
    await page.locator('select#an-clinic option[value="clinic-an"]').waitFor({ state: 'attached' });
    await page.locator('select#an-clinic').selectOption(CLINIC.id);
    await page.locator('#an-from').fill(FROM);
    await page.locator('#an-to').fill(TO);
    await page.getByRole('button', { name: 'Show' }).click();
    await page.getByTestId('analytics-report').waitFor();
    const api = await apiJson(FILTERS, TOKENS.global);
    await expect(page.getByTestId('metric-requests').textContent()).resolves.toBe(String(api.totals.requests));
    // A range the API refuses is caught in the page first, with a message and no report.
    await page.locator('#an-from').fill('2025-01-01');
    await page.getByRole('button', { name: 'Show' }).click();
    await expect(page.getByTestId('analytics-status').textContent()).resolves.toContain('At most 366 days');
    await page.context().close();

    const nurse = await signedIn('nurse');
    await expect(nurse.getByRole('link', { name: 'Analytics' }).isVisible()).resolves.toBe(false);
    await nurse.goto(`${baseUrl}/#/analytics?${FILTERS}`);
    await nurse.locator('#queue-view').waitFor();
    await expect(nurse.locator('#analytics-view').isHidden()).resolves.toBe(true);
  });
});
