// A clinic's value-set expansions through the API (in process, real SQLite store): an admin loads a FHIR ValueSet
// (a VSAC-style export) for a value set id its kinds declare, lists and reads it, falls back to the built-in; bad
// bodies are 400 with the JSON path or 422, other clinics' admins and other roles are refused, every change is
// audited with ids, hashes and counts only.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createApp } from '../../api/app.ts';
import { MAX_VALUE_SET_BODY_BYTES } from '../../api/middleware/body-limit.ts';
import { ensureBuiltinProtocols } from '../../api/seed.ts';
import type { WorkflowGateway } from '../../api/workflow-gateway.ts';
import { loadConfig } from '../../connectors/config.ts';
import { createStore, type Store } from '../../connectors/db/index.ts';
import { createLogger } from '../../connectors/logger.ts';
import { MAX_EXPANSION_CODES } from '../../rules/value-set-expansion.ts';
import { openTestDatabase, type TestDatabase } from '../helpers/db.ts';

const config = loadConfig({ LOG_LEVEL: 'silent' });
const logger = createLogger(config, 'test');
const TOKENS = {
  admin: 'vs-admin-token-0123456789',
  boundAdmin: 'vs-bound-admin-token-0123456789',
  otherAdmin: 'vs-other-admin-token-0123456789',
  nurse: 'vs-nurse-token-0123456789',
} as const;
type As = keyof typeof TOKENS;

let testDb: TestDatabase;
let store: Store;
let app: ReturnType<typeof createApp>;

const clinic = (id: string, careGap: boolean) => ({
  id,
  name: id,
  webhookSecret: 'whsec_0123456789abcdef',
  fhirBaseUrl: 'https://ehr.example.org/fhir/R4',
  fhirClientId: 'c',
  protocolId: 'family-medicine-2015',
  nurseSlaSeconds: 3600,
  timezone: 'UTC',
  ...(careGap ? { kinds: [{ kind: 'care-gap', enabled: true, protocolId: 'crc-screening-2021' }] } : {}),
});

beforeAll(async () => {
  testDb = await openTestDatabase('sqlite');
  store = createStore(testDb.db);
  await ensureBuiltinProtocols(store, logger);
  await store.clinics.create(clinic('north', true));
  await store.clinics.create(clinic('south', true));
  await store.clinics.create(clinic('refill-only', false));
  await store.tokens.createToken({ name: 'a', role: 'admin', userId: 'admin-1', token: TOKENS.admin });
  await store.tokens.createToken({
    name: 'b',
    role: 'admin',
    userId: 'north-admin',
    clinicId: 'north',
    token: TOKENS.boundAdmin,
  });
  await store.tokens.createToken({
    name: 'o',
    role: 'admin',
    userId: 'south-admin',
    clinicId: 'south',
    token: TOKENS.otherAdmin,
  });
  await store.tokens.createToken({
    name: 'n',
    role: 'nurse',
    userId: 'nurse-1',
    clinicId: 'north',
    token: TOKENS.nurse,
  });
  const workflows = { ping: () => Promise.resolve() } as unknown as WorkflowGateway;
  app = createApp({ config, db: testDb.db, store, workflows, logger, now: () => new Date() });
});
afterAll(async () => {
  await testDb?.cleanup();
});

/** The fields these tests read from an answer. */
interface Answer {
  [field: string]: unknown;
  error: { code: string; issues: { path: string; message: string }[] };
  hash: string;
  codeCount: number;
  codes: unknown[];
  nextOffset: number | null;
  items: unknown[];
  declared: unknown[];
}

async function api(path: string, init: { method?: string; body?: unknown; raw?: string; as?: As } = {}) {
  const headers: Record<string, string> = {};
  if (init.as) headers.authorization = `Bearer ${TOKENS[init.as]}`;
  if (init.body !== undefined || init.raw !== undefined) headers['content-type'] = 'application/json';
  const res = await app.request(path, {
    method: init.method ?? 'GET',
    headers,
    ...(init.raw !== undefined
      ? { body: init.raw }
      : init.body !== undefined
        ? { body: JSON.stringify(init.body) }
        : {}),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : null) as Answer };
}

/** A VSAC-style export: `url`, `version`, a flat `expansion.contains`. */
const vsac = (codes: { system: string; code: string; display?: string }[], version = '20240101') => ({
  resourceType: 'ValueSet',
  id: '2.16.840.1.113883.3.464.1003.108.12.1020',
  url: 'http://cts.nlm.nih.gov/fhir/ValueSet/2.16.840.1.113883.3.464.1003.108.12.1020',
  version,
  status: 'active',
  meta: { profile: ['http://hl7.org/fhir/StructureDefinition/shareablevalueset'] },
  compose: { include: [{ valueSet: ['http://example.org/grouping'] }] },
  expansion: { timestamp: '2024-01-01T00:00:00Z', total: codes.length, contains: codes },
});
const SNOMED = 'http://snomed.info/sct';

describe('loading, reading and removing an expansion', () => {
  test('PUT stores it, GET lists and pages it, DELETE falls back; each change audited', async () => {
    const put = await api('/v1/clinics/north/value-sets/colonoscopy', {
      method: 'PUT',
      as: 'boundAdmin',
      body: vsac([
        { system: SNOMED, code: '446521004', display: 'Colonoscopy (procedure)' },
        { system: SNOMED, code: '73761001' },
        { system: SNOMED, code: '73761001' },
      ]),
    });
    expect(put.status).toBe(200);
    expect(put.body).toMatchObject({
      valueSetId: 'colonoscopy',
      kind: 'care-gap',
      codeCount: 2,
      source: 'http://cts.nlm.nih.gov/fhir/ValueSet/2.16.840.1.113883.3.464.1003.108.12.1020|20240101',
      updatedBy: 'north-admin',
    });
    expect(put.body.hash).toMatch(/^[0-9a-f]{64}$/);

    const list = await api('/v1/clinics/north/value-sets', { as: 'admin' });
    expect(list.status).toBe(200);
    expect(list.body.items).toEqual([put.body]);
    expect(list.body.declared).toContainEqual({ valueSetId: 'fit-fobt', kind: 'care-gap' });

    const page = await api('/v1/clinics/north/value-sets/colonoscopy?limit=1', { as: 'boundAdmin' });
    expect(page.status).toBe(200);
    expect(page.body.codes).toEqual([{ system: SNOMED, code: '446521004', display: 'Colonoscopy (procedure)' }]);
    expect(page.body.nextOffset).toBe(1);
    const rest = await api('/v1/clinics/north/value-sets/colonoscopy?offset=1&limit=1', { as: 'boundAdmin' });
    expect(rest.body.codes).toEqual([{ system: SNOMED, code: '73761001' }]);
    expect(rest.body.nextOffset).toBeNull();

    // The same codes again (another version label, another order): the same hash.
    const again = await api('/v1/clinics/north/value-sets/colonoscopy', {
      method: 'PUT',
      as: 'boundAdmin',
      body: vsac(
        [
          { system: SNOMED, code: '73761001' },
          { system: SNOMED, code: '446521004', display: 'Colonoscopy (procedure)' },
        ],
        '20250101',
      ),
    });
    expect(again.body.hash).toBe(put.body.hash);

    expect((await api('/v1/clinics/north/value-sets/colonoscopy', { method: 'DELETE', as: 'boundAdmin' })).status).toBe(
      204,
    );
    expect((await api('/v1/clinics/north/value-sets/colonoscopy', { as: 'boundAdmin' })).status).toBe(404);
    expect((await api('/v1/clinics/north/value-sets/colonoscopy', { method: 'DELETE', as: 'boundAdmin' })).status).toBe(
      404,
    );

    const audit = await store.audit.listAudit({ clinicId: 'north' });
    const rows = audit.items.filter((a) => a.action.startsWith('value_set.')).reverse();
    expect(rows.map((a) => a.action)).toEqual(['value_set.loaded', 'value_set.loaded', 'value_set.removed']);
    expect(rows[0]).toMatchObject({
      actorId: 'north-admin',
      actorRole: 'admin',
      detail: { kind: 'care-gap', valueSetId: 'colonoscopy', hash: put.body.hash, previousHash: null, codeCount: 2 },
    });
    expect(rows[1]!.detail.previousHash).toBe(put.body.hash);
  });

  test('compose.include[].concept with the include system is read too', async () => {
    const res = await api('/v1/clinics/north/value-sets/frailty', {
      method: 'PUT',
      as: 'admin',
      body: {
        resourceType: 'ValueSet',
        name: 'FrailtyDevice',
        compose: {
          include: [
            { system: 'http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets', concept: [{ code: 'E0100' }] },
          ],
        },
      },
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ codeCount: 1, source: 'FrailtyDevice' });
  });
});

describe('refusals', () => {
  const put = (path: string, body: unknown, as: As = 'admin') => api(path, { method: 'PUT', as, body });

  test('400 (422 for a code without its system) with the JSON path when the body breaks the schema', async () => {
    const noSystem = await put('/v1/clinics/north/value-sets/hospice', {
      resourceType: 'ValueSet',
      expansion: { contains: [{ code: '385763009' }] },
    });
    // Not a schema rule (see api/routes/value-sets.ts): 422, still at the field's path.
    expect(noSystem.status).toBe(422);
    expect(noSystem.body.error.issues).toContainEqual(
      expect.objectContaining({ path: '$.expansion.contains[0].system' }),
    );
    const bundle = await put('/v1/clinics/north/value-sets/hospice', { resourceType: 'Bundle' });
    expect(bundle.status).toBe(400);
    expect(bundle.body.error.issues[0]?.path).toBe('$.resourceType');
    const nested = await put('/v1/clinics/north/value-sets/hospice', {
      resourceType: 'ValueSet',
      expansion: { contains: [{ contains: [{ system: SNOMED, code: 7 }] }] },
    });
    expect(nested.status).toBe(400);
    expect(nested.body.error.issues[0]?.path).toBe('$.expansion.contains[0].contains[0].code');
    const tooLong = await put(
      '/v1/clinics/north/value-sets/hospice',
      vsac(Array.from({ length: MAX_EXPANSION_CODES + 1 }, (_, i) => ({ system: SNOMED, code: String(100000 + i) }))),
    );
    expect(tooLong.status).toBe(400);
    expect(tooLong.body.error.issues[0]?.path).toBe('$.expansion.contains');
  });

  test('422 for a well-formed ValueSet that cannot be loaded; nothing stored', async () => {
    const empty = await put('/v1/clinics/north/value-sets/hospice', { resourceType: 'ValueSet', expansion: {} });
    expect(empty.status).toBe(422);
    const definitionOnly = await put('/v1/clinics/north/value-sets/hospice', {
      resourceType: 'ValueSet',
      compose: { include: [{ system: SNOMED, filter: [{ property: 'concept', op: 'is-a', value: '1' }] }] },
    });
    expect(definitionOnly.status).toBe(422);
    expect(definitionOnly.body.error.issues[0]?.path).toBe('$.compose.include[0]');
    // Each list within its declared maxItems, more codes in all than an expansion may hold.
    const half = (from: number) =>
      Array.from({ length: MAX_EXPANSION_CODES / 2 + 1 }, (_, i) => ({ code: String(from + i) }));
    const tooMany = await put('/v1/clinics/north/value-sets/hospice', {
      resourceType: 'ValueSet',
      compose: {
        include: [
          { system: SNOMED, concept: half(100_000) },
          { system: SNOMED, concept: half(200_000) },
        ],
      },
    });
    expect(tooMany.status).toBe(422);
    expect(tooMany.body.error.issues[0]?.path).toBe(`$.compose.include[1].concept[${MAX_EXPANSION_CODES / 2 - 1}]`);
    expect((await api('/v1/clinics/north/value-sets/hospice', { as: 'admin' })).status).toBe(404);
  });

  test('404 for an id no kind of the clinic declares, and for a clinic that runs no such kind', async () => {
    expect((await put('/v1/clinics/north/value-sets/no-such-set', vsac([{ system: SNOMED, code: '1' }]))).status).toBe(
      404,
    );
    expect(
      (await put('/v1/clinics/refill-only/value-sets/colonoscopy', vsac([{ system: SNOMED, code: '1' }]))).status,
    ).toBe(404);
    expect((await api('/v1/clinics/refill-only/value-sets', { as: 'admin' })).body.declared).toEqual([]);
  });

  test('another clinic’s admin gets 404, other roles 403, no token 401', async () => {
    const body = vsac([{ system: SNOMED, code: '1' }]);
    expect((await put('/v1/clinics/north/value-sets/colonoscopy', body, 'otherAdmin')).status).toBe(404);
    expect((await api('/v1/clinics/north/value-sets', { as: 'otherAdmin' })).status).toBe(404);
    expect((await put('/v1/clinics/north/value-sets/colonoscopy', body, 'nurse')).status).toBe(403);
    expect((await api('/v1/clinics/north/value-sets')).status).toBe(401);
  });

  test('a body over the limit is 413 before it is read; a large real-sized export is accepted', async () => {
    const big = await api('/v1/clinics/north/value-sets/colonoscopy', {
      method: 'PUT',
      as: 'admin',
      raw: `{"resourceType":"ValueSet","pad":"${'x'.repeat(MAX_VALUE_SET_BODY_BYTES)}"}`,
    });
    expect(big.status).toBe(413);
    // ~20,000 codes with displays: ~2 MB, far above the 64 KB of other clinic routes.
    const codes = Array.from({ length: 20_000 }, (_, i) => ({
      system: 'http://hl7.org/fhir/sid/icd-10-cm',
      code: `Z${String(i).padStart(5, '0')}`,
      display: `A display of about sixty characters for code number ${i}`,
    }));
    const body = vsac(codes);
    expect(JSON.stringify(body).length).toBeGreaterThan(2_000_000);
    const ok = await put('/v1/clinics/north/value-sets/lower-gi-symptoms', body);
    expect(ok.status).toBe(200);
    expect(ok.body.codeCount).toBe(20_000);
  });
});
