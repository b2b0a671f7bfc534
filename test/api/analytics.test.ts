// GET /v1/analytics and /v1/analytics.csv: who may read them, bad input as 4xx with the JSON path, the report over a
// mix of cases recorded through the real store functions, the CSV, and the audit row of every view.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createApp } from '../../api/app.ts';
import { ensureBuiltinProtocols } from '../../api/seed.ts';
import type { WorkflowGateway } from '../../api/workflow-gateway.ts';
import { loadConfig } from '../../connectors/config.ts';
import { createStore, type Store } from '../../connectors/db/index.ts';
import { createLogger } from '../../connectors/logger.ts';
import { startOfLocalDay, type AnalyticsReport } from '../../rules/analytics/index.ts';
import { analyticsMix, recordMix } from '../helpers/analytics.ts';
import { openTestDatabase, type TestDatabase } from '../helpers/db.ts';

const TOKENS = {
  global: 'global-admin-analytics-0123',
  admin: 'clinic-admin-analytics-0123',
  otherAdmin: 'other-admin-analytics-0123',
  doctor: 'doctor-analytics-token-0123',
  nurse: 'nurse-analytics-token-01234',
};
const CLINIC = {
  id: 'north',
  name: 'North',
  webhookSecret: 'whsec_north_0123456789abcdef',
  fhirBaseUrl: 'http://127.0.0.1:3001/fhir/R4',
  fhirClientId: 'autopilot',
  fhirPrivateKeyJwk: null,
  fhirTokenUrl: null,
  protocolId: 'family-medicine-2015',
  nurseSlaSeconds: 3600,
  timezone: 'Europe/Berlin',
};

let tdb: TestDatabase;
let store: Store;
let app: ReturnType<typeof createApp>;

beforeAll(async () => {
  tdb = await openTestDatabase('sqlite');
  store = createStore(tdb.db);
  const config = loadConfig({ LOG_LEVEL: 'silent' });
  const logger = createLogger(config, 'test');
  await ensureBuiltinProtocols(store, logger);
  await store.clinics.upsert(CLINIC);
  await store.clinics.upsert({ ...CLINIC, id: 'south', name: 'South' });
  await store.tokens.createToken({ name: 'g', role: 'admin', userId: 'global@x', token: TOKENS.global });
  await store.tokens.createToken({
    name: 'a',
    role: 'admin',
    userId: 'admin@north',
    clinicId: 'north',
    token: TOKENS.admin,
  });
  await store.tokens.createToken({
    name: 'o',
    role: 'admin',
    userId: 'admin@south',
    clinicId: 'south',
    token: TOKENS.otherAdmin,
  });
  await store.tokens.createToken({
    name: 'd',
    role: 'doctor',
    userId: 'dr@north',
    clinicId: 'north',
    token: TOKENS.doctor,
  });
  await store.tokens.createToken({
    name: 'n',
    role: 'nurse',
    userId: 'rn@north',
    clinicId: 'north',
    token: TOKENS.nurse,
  });
  await recordMix(store, 'north', analyticsMix(startOfLocalDay('2026-05-04', CLINIC.timezone), 2));
  const workflows = { ping: () => Promise.resolve() } as unknown as WorkflowGateway;
  app = createApp({ config, db: tdb.db, store, workflows, logger, now: () => new Date() });
}, 60_000);
afterAll(async () => tdb?.cleanup());

const get = (path: string, token: string) => app.request(path, { headers: { authorization: `Bearer ${token}` } });
const errorOf = async (res: Response) =>
  ((await res.json()) as { error: { code: string; issues?: { path: string }[] } }).error;

describe('who may read analytics', () => {
  test('a clinic admin reads its own clinic, with or without clinicId; a global admin names one', async () => {
    for (const [path, token] of [
      ['/v1/analytics?from=2026-05-04&to=2026-05-05', TOKENS.admin],
      ['/v1/analytics?clinicId=north&from=2026-05-04&to=2026-05-05', TOKENS.admin],
      ['/v1/analytics?clinicId=north&from=2026-05-04&to=2026-05-05', TOKENS.global],
    ] as const) {
      const res = await get(path, token);
      expect(res.status, path).toBe(200);
      const body = (await res.json()) as AnalyticsReport;
      expect(body.clinicId).toBe('north');
      expect(body.timezone).toBe('Europe/Berlin');
      expect(body.totals.requests).toBe(38);
    }
  });

  test('doctors and nurses are refused (403), as is another clinic’s admin', async () => {
    for (const token of [TOKENS.doctor, TOKENS.nurse]) {
      const res = await get('/v1/analytics?from=2026-05-04&to=2026-05-05', token);
      expect(res.status).toBe(403);
    }
    const res = await get('/v1/analytics?clinicId=north&from=2026-05-04&to=2026-05-05', TOKENS.otherAdmin);
    expect(res.status).toBe(403);
    expect(
      (await get('/v1/analytics.csv?clinicId=north&from=2026-05-04&to=2026-05-05', TOKENS.otherAdmin)).status,
    ).toBe(403);
    expect((await app.request('/v1/analytics?from=2026-05-04&to=2026-05-05')).status).toBe(401);
  });

  test('an unknown clinic is 404 for a global admin', async () => {
    expect((await get('/v1/analytics?clinicId=nowhere&from=2026-05-04&to=2026-05-05', TOKENS.global)).status).toBe(404);
  });
});

describe('bad input: 4xx with the JSON path', () => {
  test.each([
    ['/v1/analytics?to=2026-05-05', 400, '$.from'],
    ['/v1/analytics?from=2026-5-4&to=2026-05-05', 400, '$.from'],
    ['/v1/analytics?from=2026-05-04&to=2026-05-05&granularity=month', 400, '$.granularity'],
    ['/v1/analytics?from=2026-05-04&to=2026-05-05&protocolId=%20x', 400, '$.protocolId'],
    ['/v1/analytics?from=2026-05-05&to=2026-05-04', 422, '$.to'],
    ['/v1/analytics?from=2025-01-01&to=2026-01-02', 422, '$.to'],
    ['/v1/analytics.csv?from=2025-01-01&to=2026-01-02', 422, '$.to'],
  ])('%s → %i at %s', async (path, status, at) => {
    const res = await get(path, TOKENS.admin);
    expect(res.status).toBe(status);
    expect((await errorOf(res)).issues?.map((i) => i.path)).toContain(at);
  });

  test('366 days are accepted; a global admin without clinicId is 422 at $.clinicId', async () => {
    expect((await get('/v1/analytics?from=2025-05-05&to=2026-05-05', TOKENS.admin)).status).toBe(200);
    const res = await get('/v1/analytics?from=2026-05-04&to=2026-05-05', TOKENS.global);
    expect(res.status).toBe(422);
    expect((await errorOf(res)).issues?.map((i) => i.path)).toEqual(['$.clinicId']);
  });
});

describe('the report and its CSV', () => {
  test('weeks and the protocol filter; every view is audited with the override case ids', async () => {
    const res = await get(
      '/v1/analytics?from=2026-05-04&to=2026-05-05&granularity=week&protocolId=family-medicine-2015',
      TOKENS.admin,
    );
    const body = (await res.json()) as AnalyticsReport;
    expect(body.series.map((r) => r.bucket)).toEqual(['2026-05-04']);
    expect(body.totals.requests).toBe(30); // automation-off cases have no protocol
    expect(body.totals.overrides).toBe(4);
    const audit = await store.audit.listAudit({ clinicId: 'north', action: 'analytics.viewed', limit: 1 });
    expect(audit.items[0]).toMatchObject({
      actorId: 'admin@north',
      actorRole: 'admin',
      detail: { from: '2026-05-04', to: '2026-05-05', granularity: 'week', protocolId: 'family-medicine-2015' },
    });
    expect((audit.items[0]!.detail.caseIds as string[]).sort()).toEqual(
      body.overrides.items.map((o) => o.caseId).sort(),
    );
  });

  test('CSV: a header and one line per bucket and protocol version, numbers equal to the JSON', async () => {
    const res = await get('/v1/analytics.csv?from=2026-05-04&to=2026-05-05', TOKENS.admin);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/csv/);
    expect(res.headers.get('content-disposition')).toContain('analytics-2026-05-04-2026-05-05.csv');
    const lines = (await res.text()).trimEnd().split('\r\n');
    const header = lines[0]!.split(',');
    expect(header.slice(0, 5)).toEqual(['bucket', 'kind', 'protocol_id', 'protocol_version', 'requests']);
    const json = (await (
      await get('/v1/analytics?from=2026-05-04&to=2026-05-05', TOKENS.admin)
    ).json()) as AnalyticsReport;
    expect(lines).toHaveLength(json.series.length + 1);
    const col = (name: string) => header.indexOf(name);
    const sum = (name: string) => lines.slice(1).reduce((s, l) => s + Number(l.split(',')[col(name)]), 0);
    expect(sum('requests')).toBe(json.totals.requests);
    expect(sum('physician_touches')).toBe(json.totals.physicianTouches.total);
    expect(sum('disposition_approve')).toBe(json.totals.dispositions.approve);
    expect(sum('touches_nurse')).toBe(json.totals.touchesByRole.nurse);
  });
});
