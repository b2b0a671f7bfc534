// The protocol administration API in process (app.request) over a real SQLite store: an admin drafts a change to
// the reference protocol, validates it, reads the diff, simulates it against the clinic's recorded cases, publishes
// it and rolls it back. Nurses and doctors may not; malformed documents are 4xx, never 500.
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { factsFromBundle } from '../../facts/index.ts';
import { extractRefillFacts, patientRecordFromBundle } from '../../facts/refill/index.ts';
import { createApp } from '../../api/app.ts';
import { ensureBuiltinProtocols } from '../../api/seed.ts';
import type { WorkflowGateway } from '../../api/workflow-gateway.ts';
import { loadConfig } from '../../connectors/config.ts';
import { createStore, type Store } from '../../connectors/db/index.ts';
import { createLogger } from '../../connectors/logger.ts';
import { canonicalJson } from '../../rules/engine/diff.ts';
import { evaluateProtocol } from '../../rules/kinds/refill/evaluate.ts';
import { validateProtocol, type ProtocolDefinition } from '../../rules/kinds/refill/protocol.ts';
import { type RefillFacts } from '../../rules/kinds/refill/facts.ts';
import { type TriageDecision } from '../../rules/kinds/refill/decision.ts';
import { findBuiltinProtocol } from '../../rules/kinds/refill/protocols/index.ts';
import { createRng } from '../../sandbox/synthetic/prng.ts';
import { generateClinic, toPatientBundle } from '../../sandbox/synthetic/index.ts';
import { openTestDatabase, type TestDatabase } from '../helpers/db.ts';

const PROTOCOL = 'family-medicine-2015';
const CLINIC = 'proto-clinic';
const AS_OF = '2026-06-15';
const TOKENS = {
  admin: 'admin-token-protocols-0123456789',
  boundAdmin: 'bound-admin-token-protocols-0123',
  doctor: 'doctor-token-protocols-012345678',
  nurse: 'nurse-token-protocols-0123456789',
};

let testDb: TestDatabase;
let store: Store;
let app: ReturnType<typeof createApp>;
const config = loadConfig({ LOG_LEVEL: 'silent' });
const logger = createLogger(config, 'test');
const v1 = findBuiltinProtocol(PROTOCOL)!;
const recorded: { caseId: string; facts: RefillFacts; decision: TriageDecision }[] = [];

const unused = () => Promise.reject(new Error('the protocol API never calls Temporal'));
const gateway: WorkflowGateway = {
  startCase: unused,
  submitDecision: unused,
  getCaseState: () => Promise.resolve(null),
  ping: () => Promise.resolve(),
};

beforeAll(async () => {
  testDb = await openTestDatabase('sqlite');
  store = createStore(testDb.db);
  await ensureBuiltinProtocols(store, logger);
  for (const id of [CLINIC, 'other-clinic']) {
    await store.clinics.upsert({
      id,
      name: `Clinic ${id}`,
      webhookSecret: 'protocols-test-secret-0123456789',
      fhirBaseUrl: 'http://127.0.0.1:9/fhir/R4',
      fhirClientId: 'x',
      fhirPrivateKeyJwk: null,
      fhirTokenUrl: null,
      protocolId: PROTOCOL,
      nurseSlaSeconds: 60,
      timezone: 'UTC',
    });
  }
  await store.tokens.createToken({ name: 'a', role: 'admin', userId: 'admin-1', token: TOKENS.admin });
  await store.tokens.createToken({
    name: 'b',
    role: 'admin',
    userId: 'admin-2',
    clinicId: 'other-clinic',
    token: TOKENS.boundAdmin,
  });
  await store.tokens.createToken({ name: 'd', role: 'doctor', userId: 'doctor-1', token: TOKENS.doctor });
  await store.tokens.createToken({ name: 'n', role: 'nurse', userId: 'nurse-1', token: TOKENS.nurse });

  // The clinic's history: synthetic patients' facts (the worker's extraction) and the decisions v1 made on them.
  const clinic = generateClinic({ seed: 2015, patients: 150, asOf: AS_OF });
  for (const r of clinic.refillRequests) {
    const facts = extractRefillFacts(
      patientRecordFromBundle(toPatientBundle(clinic.resources, r.medicationRequestId)),
      {
        asOf: AS_OF,
      },
    );
    const decision = await evaluateProtocol(v1, facts);
    const caseId = `rf_${CLINIC}_${r.medicationRequestId}`;
    recorded.push({ caseId, facts, decision });
    await store.snapshots.put({ caseId, clinicId: CLINIC, protocolId: PROTOCOL, facts, decision });
  }
  app = createApp({ config, db: testDb.db, store, workflows: gateway, logger, now: () => new Date() });
});
afterAll(async () => {
  await testDb?.cleanup();
});

type Json = Record<string, unknown>;
async function call(method: string, path: string, opts: { token?: string | null; body?: unknown; raw?: string } = {}) {
  const token = opts.token === undefined ? TOKENS.admin : opts.token;
  // No body, no content type: publish takes an optional body.
  const headers: Record<string, string> =
    opts.raw !== undefined || opts.body !== undefined ? { 'content-type': 'application/json' } : {};
  if (token) headers.authorization = `Bearer ${token}`;
  const res = await app.request(path, {
    method,
    headers,
    ...(opts.raw !== undefined
      ? { body: opts.raw }
      : opts.body !== undefined
        ? { body: JSON.stringify(opts.body) }
        : {}),
  });
  const text = await res.text();
  return { status: res.status, text, json: (text ? JSON.parse(text) : null) as Json };
}

const clone = <T>(v: T): T => structuredClone(v);
const antacid = (p: ProtocolDefinition) => p.categories.find((c) => c.id === 'antacid_reflux')!;

describe('who may administer protocols', () => {
  const routes: [string, string, unknown?][] = [
    ['GET', '/v1/protocols'],
    ['GET', `/v1/protocols/${PROTOCOL}`],
    ['GET', `/v1/protocols/${PROTOCOL}/versions/1`],
    ['POST', '/v1/protocols/validate', { definition: v1 }],
    ['POST', `/v1/protocols/${PROTOCOL}/drafts`, { fromVersion: 1 }],
    ['PUT', `/v1/protocols/${PROTOCOL}/versions/1`, { definition: v1 }],
    ['GET', `/v1/protocols/${PROTOCOL}/diff?from=1&to=1`],
    ['POST', `/v1/protocols/${PROTOCOL}/versions/1/simulate`, { clinicId: CLINIC }],
    ['POST', `/v1/protocols/${PROTOCOL}/versions/1/publish`],
    ['POST', `/v1/protocols/${PROTOCOL}/rollback`, { toVersion: 1 }],
  ];
  test.each(routes)('%s %s: no token → 401, nurse or doctor → 403, and nothing is written', async (method, path, b) => {
    const before = await store.protocols.listVersions(PROTOCOL);
    expect((await call(method, path, { token: null, body: b })).status).toBe(401);
    expect((await call(method, path, { token: 'not-a-real-token-0000', body: b })).status).toBe(401);
    for (const role of ['nurse', 'doctor'] as const) {
      const res = await call(method, path, { token: TOKENS[role], body: b });
      expect(res.status, res.text).toBe(403);
      expect(res.json.error).toMatchObject({ code: 'FORBIDDEN' });
    }
    expect(await store.protocols.listVersions(PROTOCOL)).toEqual(before);
  });
});

describe('reading protocols', () => {
  test('the list shows the built-in protocol with its published version and a content hash', async () => {
    const res = await call('GET', '/v1/protocols');
    expect(res.status, res.text).toBe(200);
    const items = res.json.items as { id: string; published: { version: number; contentHash: string } }[];
    const fm = items.find((p) => p.id === PROTOCOL)!;
    expect(fm.published.version).toBe(1);
    // sha256 of the canonical JSON: independent of key order.
    const reordered = Object.fromEntries(Object.entries(v1).reverse());
    expect(fm.published.contentHash).toBe(createHash('sha256').update(canonicalJson(reordered)).digest('hex'));
  });

  test('a version carries its definition, status, author and note; unknown ones are 404, bad ids 400', async () => {
    const res = await call('GET', `/v1/protocols/${PROTOCOL}/versions/1`);
    expect(res.status, res.text).toBe(200);
    expect(res.json).toMatchObject({ protocolId: PROTOCOL, version: 1, status: 'published', createdBy: 'system' });
    expect(res.json.definition).toEqual(JSON.parse(JSON.stringify(v1)));
    expect((await call('GET', `/v1/protocols/${PROTOCOL}/versions/999`)).status).toBe(404);
    expect((await call('GET', '/v1/protocols/no-such-protocol')).status).toBe(404);
    expect((await call('GET', `/v1/protocols/${PROTOCOL}/versions/0`)).status).toBe(400);
    expect((await call('GET', `/v1/protocols/${PROTOCOL}/versions/abc`)).status).toBe(400);
    expect((await call('GET', `/v1/protocols/${encodeURIComponent('bad id!')}`)).status).toBe(400);
  });

  test('the OpenAPI document describes every protocol route', async () => {
    const doc = (await (await app.request('/openapi.json')).json()) as { paths: Record<string, object> };
    for (const p of [
      '/v1/protocols',
      '/v1/protocols/{id}',
      '/v1/protocols/{id}/versions/{version}',
      '/v1/protocols/validate',
      '/v1/protocols/{id}/drafts',
      '/v1/protocols/{id}/diff',
      '/v1/protocols/{id}/versions/{version}/simulate',
      '/v1/protocols/{id}/versions/{version}/publish',
      '/v1/protocols/{id}/rollback',
    ]) {
      expect(doc.paths[p], p).toBeDefined();
    }
  });
});

describe('an admin tightens the PPI visit window from 18 to 12 months', () => {
  test('draft → edit → validate → diff → simulate → publish → roll back', async () => {
    // First, a draft from the published version.
    const created = await call('POST', `/v1/protocols/${PROTOCOL}/drafts`, {
      body: { fromVersion: 1, note: 'Committee: PPI window 12 months' },
    });
    expect(created.status, created.text).toBe(201);
    const version = created.json.version as number;
    expect(created.json).toMatchObject({
      status: 'draft',
      createdBy: 'admin-1',
      note: 'Committee: PPI window 12 months',
    });
    expect(created.json.definition).toMatchObject({ id: PROTOCOL, version });

    // The admin changes one window (and its wording) and checks the document.
    const edited = clone(created.json.definition as ProtocolDefinition);
    const criterion = antacid(edited).criteria[0]!;
    (criterion.when as { all: { value: number }[] }).all[0]!.value = 12;
    criterion.explanation.pass = 'Last PCP office visit {{visits.lastPcpRov.date|none on file}} is within 12 months.';
    const valid = await call('POST', '/v1/protocols/validate', { body: { definition: edited } });
    expect(valid.json).toEqual({ valid: true, issues: [] });

    const put = await call('PUT', `/v1/protocols/${PROTOCOL}/versions/${version}`, { body: { definition: edited } });
    expect(put.status, put.text).toBe(200);
    expect(put.json.contentHash).not.toBe(created.json.contentHash);

    // The diff names exactly that criterion, with before/after of the changed fields.
    const diff = await call('GET', `/v1/protocols/${PROTOCOL}/diff?from=1&to=${version}`);
    expect(diff.status, diff.text).toBe(200);
    expect(diff.json.changes).toEqual([
      {
        kind: 'criterion',
        category: 'antacid_reflux',
        id: 'visit_within_18mo',
        change: 'changed',
        fields: [
          {
            path: '$.explanation.pass',
            before: 'Last PCP office visit {{visits.lastPcpRov.date|none on file}} is within 18 months.',
            after: 'Last PCP office visit {{visits.lastPcpRov.date|none on file}} is within 12 months.',
          },
          { path: '$.when.all[0].value', before: 18, after: 12 },
        ],
      },
    ]);
    expect(diff.json.counts).toEqual({ added: 0, removed: 0, changed: 1 });

    // The simulation over the clinic's recorded cases: exactly the approved PPI/H2 cases whose last PCP visit is
    // 12–18 months old move to needs_visit, because visit_within_18mo now fails.
    const expected = recorded
      .filter(
        (r) =>
          r.decision.disposition === 'approve' &&
          r.facts.drug.classes.some((c) => c === 'proton_pump_inhibitor' || c === 'h2_blocker') &&
          (r.facts.visits.lastPcpRov?.date ?? '9999') < '2025-06-15',
      )
      .map((r) => r.caseId)
      .sort();
    expect(expected.length).toBeGreaterThanOrEqual(3);

    const sim = await call('POST', `/v1/protocols/${PROTOCOL}/versions/${version}/simulate`, {
      body: { clinicId: CLINIC, limit: 1000 },
    });
    expect(sim.status, sim.text).toBe(200);
    const changed = sim.json.changed as { caseId: string; before: Json; after: Json; criteria: Json[] }[];
    expect(changed.map((c) => c.caseId).sort()).toEqual(expected);
    for (const c of changed) {
      expect(c.before).toMatchObject({ disposition: 'approve', protocolVersion: 1, failedCriteria: [] });
      expect(c.after).toMatchObject({ disposition: 'needs_visit', failedCriteria: ['visit_within_18mo'] });
      expect(c.criteria).toEqual([{ id: 'visit_within_18mo', clause: 'PPI-1', before: true, after: false }]);
    }
    const n = recorded.length;
    const approvedBefore = recorded.filter((r) => r.decision.disposition === 'approve').length;
    expect(sim.json).toMatchObject({ evaluated: n, skipped: 0, clinicId: CLINIC, version });
    const before = sim.json.before as { counts: Record<string, number>; automationRate: number };
    const after = sim.json.after as { counts: Record<string, number>; automationRate: number };
    expect(before.counts.approve).toBe(approvedBefore);
    expect(after.counts.approve).toBe(approvedBefore - expected.length);
    expect(after.counts.needs_visit).toBe(before.counts.needs_visit! + expected.length);
    expect(before.automationRate).toBeCloseTo(approvedBefore / n, 10);
    expect(after.automationRate).toBeCloseTo((approvedBefore - expected.length) / n, 10);

    // Simulating the live version reproduces every recorded decision.
    const same = await call('POST', `/v1/protocols/${PROTOCOL}/versions/1/simulate`, { body: { clinicId: CLINIC } });
    expect(same.json.changed).toEqual([]);

    // Publish: new cases get the new version; the draft is now immutable.
    const pub = await call('POST', `/v1/protocols/${PROTOCOL}/versions/${version}/publish`);
    expect(pub.status, pub.text).toBe(200);
    expect(pub.json).toMatchObject({ publishedVersion: version, previousVersion: 1, changed: true });
    expect((await store.protocols.getPublished(PROTOCOL))?.version).toBe(version);
    const late = await call('PUT', `/v1/protocols/${PROTOCOL}/versions/${version}`, { body: { definition: edited } });
    expect(late.status, late.text).toBe(409);
    const again = await call('POST', `/v1/protocols/${PROTOCOL}/versions/${version}/publish`);
    expect(again.json).toMatchObject({ publishedVersion: version, changed: false });

    // Roll back to version 1: its content is published again as the next version.
    const rb = await call('POST', `/v1/protocols/${PROTOCOL}/rollback`, { body: { toVersion: 1 } });
    expect(rb.status, rb.text).toBe(200);
    expect(rb.json).toMatchObject({ publishedVersion: version + 1, previousVersion: version, changed: true });
    const live = (await store.protocols.getPublished(PROTOCOL))!;
    expect(live).toMatchObject({ version: version + 1, note: 'Rollback of v1' });
    expect(canonicalJson({ ...(live.definition as object), version: 1 })).toBe(
      canonicalJson((await store.protocols.getVersion(PROTOCOL, 1))!.definition),
    );
    // A draft cannot be a rollback target.
    const draft2 = await call('POST', `/v1/protocols/${PROTOCOL}/drafts`, { body: { fromVersion: 1 } });
    const badRb = await call('POST', `/v1/protocols/${PROTOCOL}/rollback`, {
      body: { toVersion: draft2.json.version },
    });
    expect(badRb.status, badRb.text).toBe(409);

    // Every write is audited exactly once, with who did it.
    const { items } = await store.audit.listAudit({ limit: 500 });
    const mine = items.filter((e) => e.protocolId === PROTOCOL && e.protocolVersion === version).map((e) => e.action);
    expect(mine.sort()).toEqual(
      ['protocol.draft_created', 'protocol.draft_updated', 'protocol.published', 'protocol.simulated'].sort(),
    );
    const rolled = items.filter((e) => e.action === 'protocol.rolled_back' && e.protocolId === PROTOCOL);
    expect(rolled).toHaveLength(1);
    expect(rolled[0]).toMatchObject({ actorId: 'admin-1', protocolVersion: version + 1 });
    const updated = items.find((e) => e.action === 'protocol.draft_updated' && e.protocolVersion === version)!;
    expect(updated).toMatchObject({ actorId: 'admin-1', actorRole: 'admin', actorType: 'user' });
  });
});

describe('drafts and validation refuse what the engine could not run', () => {
  test('an unknown fact is 422 PROTOCOL_INVALID with its JSON path, and the same issue from validate', async () => {
    const bad = clone(v1) as unknown as { categories: { criteria: { when: { all: Json[] } }[] }[] };
    bad.categories[0]!.criteria[0]!.when.all[0]!.fact = 'shoeSize';
    const res = await call('POST', `/v1/protocols/${PROTOCOL}/drafts`, { body: { definition: bad } });
    expect(res.status, res.text).toBe(422);
    const error = res.json.error as { code: string; issues: { path: string; message: string }[] };
    expect(error.code).toBe('PROTOCOL_INVALID');
    expect(error.issues.map((i) => i.path)).toContain('$.categories[0].criteria[0].when.all[0].fact');
    const v = await call('POST', '/v1/protocols/validate', { body: { definition: bad } });
    expect(v.status).toBe(200);
    expect(v.json.valid).toBe(false);
    expect(v.json.issues).toEqual(error.issues);
  });

  test('a draft from scratch creates the protocol (audited); definition and fromVersion together are 400', async () => {
    const doc = { ...clone(v1), id: 'ignored-by-the-server', title: 'Riverside refill protocol' };
    const res = await call('POST', '/v1/protocols/riverside-refills/drafts', { body: { definition: doc } });
    expect(res.status, res.text).toBe(201);
    expect(res.json).toMatchObject({ protocolId: 'riverside-refills', version: 1, status: 'draft' });
    expect(res.json.definition).toMatchObject({ id: 'riverside-refills', version: 1 });
    expect(await store.protocols.get('riverside-refills')).toMatchObject({ title: 'Riverside refill protocol' });
    const { items } = await store.audit.listAudit({ action: 'protocol.created' });
    expect(items.some((e) => e.protocolId === 'riverside-refills' && e.actorId === 'admin-1')).toBe(true);

    const both = await call('POST', '/v1/protocols/riverside-refills/drafts', {
      body: { definition: doc, fromVersion: 1 },
    });
    expect(both.status, both.text).toBe(400);
    const neither = await call('POST', '/v1/protocols/riverside-refills/drafts', { body: {} });
    expect(neither.status, neither.text).toBe(400);
    const missing = await call('POST', '/v1/protocols/nobody/drafts', { body: { fromVersion: 1 } });
    expect(missing.status, missing.text).toBe(404);
  });

  test('a clinic-bound admin cannot simulate over another clinic’s cases', async () => {
    const res = await call('POST', `/v1/protocols/${PROTOCOL}/versions/1/simulate`, {
      token: TOKENS.boundAdmin,
      body: { clinicId: CLINIC },
    });
    expect(res.status, res.text).toBe(404);
    // …while protocols themselves stay shared: the demo's clinic-bound admin can read and draft them.
    expect((await call('GET', '/v1/protocols', { token: TOKENS.boundAdmin })).status).toBe(200);
    const own = await call('POST', `/v1/protocols/${PROTOCOL}/versions/1/simulate`, {
      token: TOKENS.boundAdmin,
      body: { clinicId: 'other-clinic' },
    });
    expect(own.status, own.text).toBe(200);
    expect(own.json).toMatchObject({ evaluated: 0, changed: [], before: { automationRate: null } });
    const unknown = await call('POST', `/v1/protocols/${PROTOCOL}/versions/1/simulate`, {
      body: { clinicId: 'no-such-clinic' },
    });
    expect(unknown.status).toBe(404);
  });
});

describe('malformed input is never a 500', () => {
  /** A random JSON value, small. */
  const randomValue = (rng: ReturnType<typeof createRng>, depth = 0): unknown => {
    switch (rng.int(0, depth > 2 ? 5 : 7)) {
      case 0:
        return null;
      case 1:
        return rng.pick([0, -1, 1.5, 1e308, -1e-308, 2 ** 53 + 1]);
      case 2:
        return rng.pick(['', 'x', '$..*', '{{drug.name}}', '__proto__', 'a'.repeat(5000), '\u0000']);
      case 3:
        return rng.chance(0.5);
      case 4:
        return [];
      case 5:
        return {};
      case 6:
        return Array.from({ length: rng.int(1, 3) }, () => randomValue(rng, depth + 1));
      default:
        return Object.fromEntries(
          Array.from({ length: rng.int(1, 3) }, () => [
            rng.pick(['all', 'any', 'not', 'fact', 'path', 'operator', 'value', 'condition', 'id', 'constructor']),
            randomValue(rng, depth + 1),
          ]),
        );
    }
  };

  /** Replaces or deletes one node of the document at a random place. */
  const mutate = (doc: unknown, rng: ReturnType<typeof createRng>): unknown => {
    const root = clone(doc) as Json;
    let node: unknown = root;
    for (let steps = rng.int(0, 7); steps > 0; steps--) {
      if (node === null || typeof node !== 'object') break;
      const keys = Object.keys(node);
      if (keys.length === 0) break;
      const k = rng.pick(keys);
      const child = (node as Json)[k];
      if (child === null || typeof child !== 'object' || rng.chance(0.2)) {
        if (rng.chance(0.3)) delete (node as Json)[k];
        else (node as Json)[k] = randomValue(rng);
        return root;
      }
      node = child;
    }
    if (node && typeof node === 'object') (node as Json)[rng.pick(['extra', 'when', 'id'])] = randomValue(rng);
    return root;
  };

  test('60 mutated documents through validate and drafts: 200/201/4xx only, 422s carry issues', async () => {
    const rng = createRng(4);
    const statuses: Record<number, number> = {};
    for (let i = 0; i < 60; i++) {
      const doc = i % 6 === 0 ? randomValue(rng) : mutate(v1, rng);
      const v = await call('POST', '/v1/protocols/validate', { body: { definition: doc } });
      // The schema declares `definition` an object: anything else is 400, an object always gets a verdict.
      const isObject = typeof doc === 'object' && doc !== null && !Array.isArray(doc);
      expect(v.status, v.text).toBe(isObject ? 200 : 400);
      const d = await call('POST', '/v1/protocols/fuzz-protocol/drafts', { body: { definition: doc } });
      statuses[d.status] = (statuses[d.status] ?? 0) + 1;
      expect([201, 400, 404, 409, 422], d.text).toContain(d.status);
      if (d.status === 422) {
        expect((d.json.error as { issues: unknown[] }).issues.length).toBeGreaterThan(0);
        expect(v.json.valid).toBe(false);
      }
      // Whatever was stored is a document the engine can run (the server sets id and version itself).
      if (d.status === 201) expect(validateProtocol(d.json.definition)).toEqual([]);
    }
    expect(statuses[422] ?? 0).toBeGreaterThan(20); // the fuzzer does produce invalid documents
  });

  test('Object.prototype names ({{constructor}}, __proto__, toString, hasOwnProperty) are 422 with a path', async () => {
    // Found by fuzzing: `{{constructor}}` in an explanation template made validate throw (a 500).
    const criterion = '$.categories[0].criteria[0]';
    for (const name of ['constructor', '__proto__', 'toString', 'hasOwnProperty']) {
      const places: [string, (c: Json) => void][] = [
        [`${criterion}.explanation.pass`, (c) => ((c.explanation as Json).pass = `Checked {{${name}}} today.`)],
        [`${criterion}.explanation.fail`, (c) => ((c.explanation as Json).fail = `Checked {{drug.${name}}} today.`)],
        [`${criterion}.when.all[0].fact`, (c) => ((c.when as { all: Json[] }).all[0]!.fact = name)],
        [`${criterion}.when.all[0].path`, (c) => ((c.when as { all: Json[] }).all[0]!.path = `$.${name}`)],
        [`${criterion}.when.condition`, (c) => (c.when = { condition: name })],
      ];
      for (const [path, spoil] of places) {
        const doc = clone(v1) as unknown as { categories: { criteria: Json[] }[] };
        spoil(doc.categories[0]!.criteria[0]!);
        const v = await call('POST', '/v1/protocols/validate', { body: { definition: doc } });
        expect(v.status, `${name} at ${path}: ${v.text}`).toBe(200);
        expect(v.json.valid, v.text).toBe(false);
        const d = await call('POST', `/v1/protocols/${PROTOCOL}/drafts`, { body: { definition: doc } });
        expect(d.status, `${name} at ${path}: ${d.text}`).toBe(422);
        const issues = (d.json.error as { issues: { path: string }[] }).issues.map((i) => i.path);
        expect(issues, `${name} at ${path}`).toContain(path);
      }
    }
  });

  test('garbage bodies, deep nesting and oversized bodies are 4xx', async () => {
    for (const raw of ['', 'not json', '[]', 'null', '{"definition":', '{"definition": 1, "extra": 2}']) {
      for (const path of ['/v1/protocols/validate', `/v1/protocols/${PROTOCOL}/drafts`]) {
        const res = await call('POST', path, { raw });
        expect(res.status, `${path} ${raw}: ${res.text}`).toBeGreaterThanOrEqual(400);
        expect(res.status, res.text).toBeLessThan(500);
      }
    }
    // 5,000 nested `all`s: built as text (JSON.stringify itself would overflow the stack).
    const leaf = JSON.stringify({ fact: 'drug', operator: 'equal', value: 1 });
    const deep = '{"all":['.repeat(5000) + leaf + ']}'.repeat(5000);
    const raw = JSON.stringify({ definition: { ...clone(v1), conditions: { deep: '@' } } }).replace('"@"', deep);
    const v = await call('POST', '/v1/protocols/validate', { raw });
    expect(v.status, v.text).toBe(200);
    expect(v.json).toEqual({ valid: false, issues: [{ path: '$', message: 'nested deeper than 64 levels' }] });
    const d = await call('POST', `/v1/protocols/${PROTOCOL}/drafts`, { raw });
    expect(d.status, d.text).toBe(422);
    const big = await call('POST', '/v1/protocols/validate', { raw: JSON.stringify({ definition: 'x'.repeat(2e6) }) });
    expect(big.status, big.text).toBe(413);
    expect(big.json).toMatchObject({ error: { code: 'PAYLOAD_TOO_LARGE' } });
  });
});

describe('simulation over a date range, as a job with progress, and over uploaded bundles', () => {
  /** A fresh draft from the live version with the PPI window at 12 months, and its definition. */
  async function ppi12Draft(): Promise<{ version: number; definition: ProtocolDefinition }> {
    const live = (await store.protocols.get(PROTOCOL))!.publishedVersion!;
    const created = await call('POST', `/v1/protocols/${PROTOCOL}/drafts`, { body: { fromVersion: live } });
    const version = created.json.version as number;
    const definition = clone(created.json.definition as ProtocolDefinition);
    (antacid(definition).criteria[0]!.when as { all: { value: number }[] }).all[0]!.value = 12;
    const put = await call('PUT', `/v1/protocols/${PROTOCOL}/versions/${version}`, { body: { definition } });
    expect(put.status, put.text).toBe(200);
    return { version, definition: put.json.definition as ProtocolDefinition };
  }

  test('from/to select recorded cases; a run over more than one page counts every case', async () => {
    const { version, definition } = await ppi12Draft();
    // Independently: which of the clinic's recorded cases does json-rules-engine decide differently?
    const flips = await Promise.all(
      recorded.map(async (r) => (await evaluateProtocol(definition, r.facts)).disposition !== r.decision.disposition),
    );
    expect(flips.some(Boolean)).toBe(true);
    const BIG = 'big-clinic';
    const { createdAt: _c, updatedAt: _u, ...settings } = (await store.clinics.get(CLINIC))!;
    await store.clinics.upsert({ ...settings, id: BIG, protocolVersion: null });
    const total = 5_200; // more than one page of 5,000
    let expectedChanged = 0;
    let expectedInJanuary = 0;
    for (let i = 0; i < total; i += 1) {
      const r = recorded[i % recorded.length]!;
      const january = i < 300;
      if (flips[i % recorded.length]) {
        expectedChanged += 1;
        if (january) expectedInJanuary += 1;
      }
      await store.snapshots.put({
        caseId: `big-${i}`,
        clinicId: BIG,
        protocolId: PROTOCOL,
        recordedAt: january ? '2026-01-10T12:00:00.000Z' : '2026-02-20T08:00:00.000Z',
        facts: r.facts,
        decision: r.decision,
      });
    }

    const path = `/v1/protocols/${PROTOCOL}/versions/${version}/simulate`;
    const jan = await call('POST', path, { body: { clinicId: BIG, from: '2026-01-10', to: '2026-01-10' } });
    expect(jan.status, jan.text).toBe(200);
    expect(jan.json.evaluated).toBe(300);
    expect((jan.json.changed as unknown[]).length).toBe(expectedInJanuary);
    const none = await call('POST', path, { body: { clinicId: BIG, from: '2026-01-11', to: '2026-02-19' } });
    expect(none.json.evaluated).toBe(0);

    // The whole clinic (more than one page of 5,000) in one synchronous run: every case counted, changed ones listed.
    const all = await call('POST', path, { body: { clinicId: BIG } });
    expect(all.status, all.text).toBe(200);
    expect(all.json).toMatchObject({ evaluated: total, skipped: 0, changedTotal: expectedChanged });
    expect((all.json.changed as unknown[]).length).toBe(Math.min(expectedChanged, 1000));
    const newest = await call('POST', path, { body: { clinicId: BIG, limit: 5001 } });
    expect(newest.json.evaluated).toBe(5001);
  }, 60_000);

  test('limit is capped at 100,000 (400 with its path); bundles are not a job', async () => {
    const path = `/v1/protocols/${PROTOCOL}/versions/1/simulate`;
    for (const limit of [100_001, 10_000_000]) {
      const res = await call('POST', path, { body: { clinicId: CLINIC, limit } });
      expect(res.status, res.text).toBe(400);
      expect((res.json.error as { issues: { path: string }[] }).issues.map((i) => i.path)).toEqual(['$.limit']);
      const job = await call('POST', path, { body: { clinicId: CLINIC, limit, async: true } });
      expect(job.status, job.text).toBe(400);
    }
    expect((await call('POST', path, { body: { clinicId: CLINIC, limit: 100_000 } })).status).toBe(200);
    // A range holding more than 100,000 recorded cases, without a limit, is refused before anything is read.
    const { createdAt: _c, updatedAt: _u, ...settings } = (await store.clinics.get(CLINIC))!;
    await store.clinics.upsert({ ...settings, id: 'huge-clinic', protocolVersion: null });
    const rows = Array.from({ length: 100_001 }, (_, i) => ({
      caseId: `huge-${i}`,
      clinicId: 'huge-clinic',
      protocolId: PROTOCOL,
      recordedAt: '2026-03-01T00:00:00.000Z',
      facts: '{}', // an older schema: counted in the range, skipped when read
      decision: '{}',
    }));
    for (let i = 0; i < rows.length; i += 2000) {
      await testDb.db.kysely
        .insertInto('facts_snapshots')
        .values(rows.slice(i, i + 2000))
        .execute();
    }
    const huge = await call('POST', path, { body: { clinicId: 'huge-clinic' } });
    expect(huge.status, huge.text).toBe(400);
    expect((huge.json.error as { issues: { path: string; message: string }[] }).issues).toEqual([
      { path: '$.limit', message: expect.stringMatching(/at most 100000 recorded cases.*async: true/) as string },
    ]);
    const newest = await call('POST', path, { body: { clinicId: 'huge-clinic', limit: 100 } });
    expect(newest.json).toMatchObject({ evaluated: 0, skipped: 100 });
    const bundles = await call('POST', path, { body: { clinicId: CLINIC, bundles: [{}], async: true } });
    expect(bundles.status, bundles.text).toBe(400);
    expect((bundles.json.error as { issues: { path: string }[] }).issues.map((i) => i.path)).toContain('$.async');
    // This app's gateway cannot start workflows: a job is refused as unavailable, and nothing is left running.
    const refused = await call('POST', path, { body: { clinicId: CLINIC, async: true } });
    expect(refused.status, refused.text).toBe(503);
    expect(await store.simulations.countRunning('admin-1', '1970-01-01T00:00:00.000Z')).toBe(0);
  });

  test('an admin may have two jobs running; a third is 409, another admin is not held back', async () => {
    const started: string[] = [];
    const jobs = createApp({
      config,
      db: testDb.db,
      store,
      workflows: { ...gateway, startSimulation: ({ jobId }) => (started.push(jobId), Promise.resolve()) },
      logger,
      now: () => new Date(),
    });
    const post = async (token: string, clinicId: string) => {
      const res = await jobs.request(`/v1/protocols/${PROTOCOL}/versions/1/simulate`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify({ clinicId, async: true }),
      });
      return { status: res.status, json: (await res.json()) as Json };
    };
    const first = await post(TOKENS.admin, CLINIC);
    const second = await post(TOKENS.admin, CLINIC);
    expect([first.status, second.status]).toEqual([202, 202]);
    expect(first.json.jobId).toMatch(/^sim_[0-9a-f-]{36}$/);
    expect(started).toEqual([first.json.jobId, second.json.jobId]); // the workflow id is the job id
    const third = await post(TOKENS.admin, CLINIC);
    expect(third.status).toBe(409);
    expect((third.json.error as { message: string }).message).toMatch(/already have 2 simulation jobs running/);
    expect(started).toHaveLength(2);
    expect((await post(TOKENS.boundAdmin, 'other-clinic')).status).toBe(202);

    // Any replica reads a job from the database; until the workflow reports, it is running with no total yet.
    const job = await call('GET', `/v1/simulations/${first.json.jobId as string}`);
    expect(job.status, job.text).toBe(200);
    expect(job.json).toEqual({ jobId: first.json.jobId, status: 'running', progress: { done: 0, total: null } });
    // A clinic-bound admin of another clinic cannot see it; malformed and unknown ids are 400 and 404.
    const foreign = await call('GET', `/v1/simulations/${first.json.jobId as string}`, { token: TOKENS.boundAdmin });
    expect(foreign.status).toBe(404);
    expect((await call('GET', '/v1/simulations/00000000-0000-4000-8000-000000000000')).status).toBe(400);
    expect((await call('GET', '/v1/simulations/sim_00000000-0000-4000-8000-000000000000')).status).toBe(404);
    const badPage = await call('GET', `/v1/simulations/${first.json.jobId as string}?pageSize=5000`);
    expect(badPage.status).toBe(400);
  });

  test('uploaded bundles are triaged with the clinic’s version as the baseline', async () => {
    const { version, definition } = await ppi12Draft();
    const live = (await store.protocols.getPublished(PROTOCOL))!;
    const baseline = validateProtocol(live.definition).length === 0 ? (live.definition as ProtocolDefinition) : v1;
    const synthetic = generateClinic({ seed: 2015, patients: 150, asOf: AS_OF });
    // A dozen requests, PPI ones first (the request body limit is 1 MiB).
    const picked = [
      ...synthetic.refillRequests.filter((r) => r.scenario.startsWith('ppi-rov-')).slice(0, 8),
      ...synthetic.refillRequests.filter((r) => !r.scenario.startsWith('ppi-')).slice(0, 4),
    ];
    const bundles = picked.map((r, i) => ({
      ...toPatientBundle(synthetic.resources, r.medicationRequestId),
      id: `upload-${i}`,
    }));
    const expected: string[] = [];
    for (const b of bundles) {
      const facts = extractRefillFacts(patientRecordFromBundle(b), { asOf: AS_OF });
      const [before, after] = [await evaluateProtocol(baseline, facts), await evaluateProtocol(definition, facts)];
      if (before.disposition !== after.disposition) expected.push(b.id);
    }
    expect(expected.length).toBeGreaterThan(0);
    const path = `/v1/protocols/${PROTOCOL}/versions/${version}/simulate`;
    const body = {
      clinicId: CLINIC,
      bundles: [...bundles, { resourceType: 'Bundle', type: 'collection' }],
      asOf: AS_OF,
    };

    // This app has no bundle reader injected: refused as well-formed but not processable here.
    expect((await call('POST', path, { body })).status).toBe(422);

    const withBundles = createApp({
      config,
      db: testDb.db,
      store,
      workflows: gateway,
      logger,
      now: () => new Date(),
      bundleFacts: (kind, bundle, asOf) => factsFromBundle(kind, bundle, { asOf }),
    });
    const res = await withBundles.request(path, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKENS.admin}` },
      body: JSON.stringify(body),
    });
    expect(res.status, await res.clone().text()).toBe(200);
    const report = (await res.json()) as { evaluated: number; skipped: number; changed: { caseId: string }[] };
    expect(report.evaluated).toBe(bundles.length);
    expect(report.skipped).toBe(1); // the empty bundle has no MedicationRequest
    expect(report.changed.map((c) => c.caseId).sort()).toEqual(expected.sort());
    const mixed = { clinicId: CLINIC, bundles, from: '2026-01-01' };
    expect(
      (
        await withBundles.request(path, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKENS.admin}` },
          body: JSON.stringify(mixed),
        })
      ).status,
    ).toBe(400);
  });
});

describe('a clinic-bound admin cannot change what other clinics run', () => {
  test('publish or roll back without clinicId, or for another clinic: 403 and nothing moves', async () => {
    const draft = await call('POST', `/v1/protocols/${PROTOCOL}/drafts`, { body: { fromVersion: 1 } });
    expect(draft.status, draft.text).toBe(201);
    const version = draft.json.version as number;
    const live = (await store.protocols.get(PROTOCOL))!.publishedVersion;
    const pins = async () => (await store.clinics.list()).map((c) => [c.id, c.protocolVersion]);
    const before = { versions: await store.protocols.listVersions(PROTOCOL), pins: await pins() };
    for (const [path, body] of [
      [`/v1/protocols/${PROTOCOL}/versions/${version}/publish`, undefined],
      [`/v1/protocols/${PROTOCOL}/versions/${version}/publish`, { clinicId: CLINIC }],
      [`/v1/protocols/${PROTOCOL}/rollback`, { toVersion: 1 }],
      [`/v1/protocols/${PROTOCOL}/rollback`, { toVersion: 1, clinicId: CLINIC }],
    ] as const) {
      const res = await call('POST', path, { token: TOKENS.boundAdmin, body });
      expect(res.status, `${path} ${JSON.stringify(body)}: ${res.text}`).toBe(403);
      expect(res.json.error).toMatchObject({ code: 'FORBIDDEN' });
    }
    expect((await store.protocols.get(PROTOCOL))!.publishedVersion).toBe(live);
    expect(await store.protocols.listVersions(PROTOCOL)).toEqual(before.versions);
    expect(await pins()).toEqual(before.pins);

    // Its own clinic it may publish for; the global admin publishes for everyone, audited with role and request id.
    const own = await call('POST', `/v1/protocols/${PROTOCOL}/versions/${version}/publish`, {
      token: TOKENS.boundAdmin,
      body: { clinicId: 'other-clinic' },
    });
    expect(own.status, own.text).toBe(200);
    expect(own.json).toMatchObject({ clinicId: 'other-clinic', publishedVersion: version });
    expect((await store.protocols.get(PROTOCOL))!.publishedVersion).toBe(live);
    const next = await call('POST', `/v1/protocols/${PROTOCOL}/drafts`, { body: { fromVersion: 1 } });
    const global = await app.request(`/v1/protocols/${PROTOCOL}/versions/${next.json.version as number}/publish`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKENS.admin}`, 'x-request-id': 'req-global-publish-1' },
    });
    expect(global.status, await global.clone().text()).toBe(200);
    // The audit row carries the server's own request id (the one answered in X-Request-Id), never the caller's.
    const serverRequestId = global.headers.get('x-request-id');
    expect(serverRequestId).toMatch(/^[0-9a-f-]{36}$/);
    const { items } = await store.audit.listAudit({ action: 'protocol.published', limit: 500 });
    const row = items.find((e) => e.protocolVersion === next.json.version && e.clinicId === null)!;
    expect(row).toMatchObject({
      actorId: 'admin-1',
      actorRole: 'admin',
      requestId: serverRequestId,
      detail: { scope: 'global', previousVersion: live },
    });
    expect(row.detail.tokenId).toMatch(/^tok_/);
    const clinicRow = items.find((e) => e.protocolVersion === version && e.clinicId === 'other-clinic')!;
    expect(clinicRow).toMatchObject({ actorId: 'admin-2', actorRole: 'admin', detail: { scope: 'clinic' } });
    expect(clinicRow.requestId).not.toBeNull();
    // Leave the live version where the other tests expect it.
    const back = await call('POST', `/v1/protocols/${PROTOCOL}/rollback`, { body: { toVersion: live } });
    expect(back.status, back.text).toBe(200);
  });
});

describe('publish and roll back with a note (why)', () => {
  test('the published draft keeps the note; a rollback is noted "Rollback of vK: <note>"; bad notes are 400', async () => {
    const live = (await store.protocols.get(PROTOCOL))!.publishedVersion!;
    const draft = await call('POST', `/v1/protocols/${PROTOCOL}/drafts`, { body: { fromVersion: live } });
    expect(draft.status, draft.text).toBe(201);
    const version = draft.json.version as number;
    expect(draft.json.note).toBe(`From version ${live}`);
    for (const note of ['', 'x'.repeat(2001)]) {
      const bad = await call('POST', `/v1/protocols/${PROTOCOL}/versions/${version}/publish`, {
        body: { clinicId: CLINIC, note },
      });
      expect(bad.status, bad.text).toBe(400);
      expect((bad.json.error as { issues: { path: string }[] }).issues[0]!.path).toBe('$.note');
    }
    const pub = await call('POST', `/v1/protocols/${PROTOCOL}/versions/${version}/publish`, {
      body: { clinicId: CLINIC, note: 'Pilot at this clinic first' },
    });
    expect(pub.status, pub.text).toBe(200);
    expect(pub.json).toMatchObject({ clinicId: CLINIC, publishedVersion: version, changed: true });
    const got = await call('GET', `/v1/protocols/${PROTOCOL}/versions/${version}`);
    expect(got.json).toMatchObject({ status: 'published', note: 'Pilot at this clinic first', publishedBy: 'admin-1' });
    // A retry with another note changes nothing: a published version keeps its note.
    const retry = await call('POST', `/v1/protocols/${PROTOCOL}/versions/${version}/publish`, {
      body: { clinicId: CLINIC, note: 'Something else' },
    });
    expect(retry.json).toMatchObject({ changed: false });
    expect((await store.protocols.getVersion(PROTOCOL, version))!.note).toBe('Pilot at this clinic first');

    const tooLong = await call('POST', `/v1/protocols/${PROTOCOL}/rollback`, {
      body: { toVersion: live, clinicId: CLINIC, note: 'x'.repeat(1901) },
    });
    expect(tooLong.status, tooLong.text).toBe(400);
    const rb = await call('POST', `/v1/protocols/${PROTOCOL}/rollback`, {
      body: { toVersion: live, clinicId: CLINIC, note: 'Too many visits asked for' },
    });
    expect(rb.status, rb.text).toBe(200);
    const rolled = rb.json.publishedVersion as number;
    expect(await store.protocols.getVersion(PROTOCOL, rolled)).toMatchObject({
      status: 'published',
      note: `Rollback of v${live}: Too many visits asked for`,
    });
    expect((await store.clinics.get(CLINIC))!.protocolVersion).toBe(rolled);
    expect((await store.protocols.get(PROTOCOL))!.publishedVersion).toBe(live);
    // Leave the clinic on the live version, as the other tests expect.
    await store.clinics.updateSettings(CLINIC, { protocolVersion: null });
  });
});
