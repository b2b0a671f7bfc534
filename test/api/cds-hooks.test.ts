// CDS Hooks 2.0 on the API (issue 12 §2): discovery, the refill service called as an EHR calls it (its signed JWT,
// the spec's request shape: hook, hookInstance, fhirServer, context { userId, patientId, medications }, prefetch),
// cards that say what the workflow decides on the same record, feedback, errors with JSON paths, audit rows.
import { readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createApp } from '../../api/app.ts';
import { ensureBuiltinProtocols } from '../../api/seed.ts';
import type { WorkflowGateway } from '../../api/workflow-gateway.ts';
import { loadConfig, publicUrl } from '../../connectors/config.ts';
import { createStore, type Store } from '../../connectors/db/index.ts';
import { createLogger } from '../../connectors/logger.ts';
import { extractRefillFacts, patientRecordFromBundle } from '../../facts/refill/index.ts';
import { evaluateProtocol } from '../../rules/kinds/refill/evaluate.ts';
import { findBuiltinProtocol } from '../../rules/kinds/refill/protocols/index.ts';
import { openTestDatabase, type TestDatabase } from '../helpers/db.ts';

const CLINIC = 'cds-clinic';
const ISS = 'https://ehr.example.org/cds-client';
const NOW = new Date('2026-06-15T15:00:00Z');
let testDb: TestDatabase;
let store: Store;
let key: CryptoKey;
let otherKey: CryptoKey;
const config = loadConfig({ LOG_LEVEL: 'silent' });
const logger = createLogger(config, 'test');
const gateway: WorkflowGateway = {
  startCase: () => Promise.reject(new Error('unused')),
  submitDecision: () => Promise.reject(new Error('unused')),
  getCaseState: () => Promise.resolve(null),
  ping: () => Promise.resolve(),
};
let app: ReturnType<typeof createApp>;

beforeAll(async () => {
  testDb = await openTestDatabase('sqlite');
  store = createStore(testDb.db);
  await ensureBuiltinProtocols(store, logger);
  await store.clinics.upsert({
    id: CLINIC,
    name: 'CDS clinic',
    webhookSecret: 'cds-test-secret-0123456789abcdef',
    fhirBaseUrl: 'https://ehr.example.org/fhir/R4',
    fhirClientId: 'x',
    fhirPrivateKeyJwk: null,
    fhirTokenUrl: null,
    protocolId: 'family-medicine-2015',
    kinds: [{ kind: 'refill', enabled: true }],
    nurseSlaSeconds: 60,
    timezone: 'America/New_York',
  });
  otherKey = (await generateKeyPair('ES384')).privateKey;
  const pair = await generateKeyPair('ES384', { extractable: true });
  key = pair.privateKey;
  const pub = await exportJWK(pair.publicKey);
  await store.cdsClients.put({
    iss: ISS,
    clinicId: CLINIC,
    jwksUrl: null,
    jwks: { keys: [{ ...pub, kid: 'k1', alg: 'ES384' }] },
  });
  app = createApp({ config, db: testDb.db, store, workflows: gateway, logger, now: () => NOW });
});
afterAll(async () => {
  await testDb?.cleanup();
});

async function jwt(path: string, opts: { signer?: CryptoKey; iss?: string; aud?: string; iat?: number } = {}) {
  const iat = opts.iat ?? Math.floor(NOW.getTime() / 1000);
  return new SignJWT({})
    .setProtectedHeader({ alg: 'ES384', kid: 'k1', typ: 'JWT' })
    .setIssuer(opts.iss ?? ISS)
    .setSubject('ehr-client')
    .setAudience(opts.aud ?? `${publicUrl(config)}${path}`)
    .setIssuedAt(iat)
    .setExpirationTime(iat + 300)
    .setJti(randomUUID())
    .sign(opts.signer ?? key);
}

async function call(path: string, body: unknown, token?: string) {
  return app.request(path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token ?? (await jwt(path))}` },
    body: JSON.stringify(body),
  });
}

type Res = { resourceType: string; id?: string; intent?: string };
const fixture = (name: string) =>
  JSON.parse(readFileSync(new URL(`../fixtures/bundles/${name}`, import.meta.url), 'utf8')) as {
    entry: { resource: Res }[];
  };

/** A refill bundle as an EHR's medication-refill request: the proposal as the draft, the rest as prefetch. */
function hookRequest(name: string) {
  const bundle = fixture(name);
  const resources = bundle.entry.map((e) => e.resource);
  const request = resources.find((r) => r.resourceType === 'MedicationRequest' && r.intent === 'proposal')!;
  const patient = resources.find((r) => r.resourceType === 'Patient')!;
  const searchset = (type: string) => ({
    resourceType: 'Bundle',
    type: 'searchset',
    entry: resources.filter((r) => r.resourceType === type && r !== request).map((resource) => ({ resource })),
  });
  return {
    hook: 'medication-refill',
    hookInstance: randomUUID(),
    fhirServer: 'https://ehr.example.org/fhir/R4',
    context: {
      userId: 'Practitioner/123',
      patientId: patient.id,
      medications: {
        resourceType: 'Bundle',
        type: 'collection',
        entry: [{ resource: { ...request, status: 'draft' } }],
      },
    },
    prefetch: {
      patient,
      medications: searchset('MedicationRequest'),
      encounters: searchset('Encounter'),
      observations: searchset('Observation'),
      conditions: searchset('Condition'),
      allergies: searchset('AllergyIntolerance'),
      appointments: searchset('Appointment'),
      other: {
        resourceType: 'Bundle',
        type: 'searchset',
        entry: resources
          .filter(
            (r) =>
              ![
                'MedicationRequest',
                'Encounter',
                'Observation',
                'Condition',
                'AllergyIntolerance',
                'Appointment',
                'Patient',
              ].includes(r.resourceType),
          )
          .map((resource) => ({ resource })),
      },
    },
  };
}

type Card = {
  uuid: string;
  summary: string;
  indicator: string;
  extension: { protocol: { id: string; version: number }; disposition: string };
  suggestions?: unknown[];
  source: { topic?: { code: string } };
};

describe('discovery', () => {
  test('lists the services with their prefetch templates, without authentication', async () => {
    const res = await app.request('/cds-services');
    expect(res.status).toBe(200);
    const body = (await res.json()) as { services: { hook: string; id: string; prefetch: Record<string, string> }[] };
    const refill = body.services.find((s) => s.hook === 'medication-refill');
    expect(refill?.id).toBe('refill-protocol');
    expect(refill?.prefetch.patient).toBe('Patient/{{context.patientId}}');
  });
});

describe('medication-refill', () => {
  const fixtures = [
    'synthetic-approve.json',
    'synthetic-needs-visit.json',
    'synthetic-nurse-review.json',
    'synthetic-doctor-review.json',
    'cli-approve.json',
    'cli-needs-visit-mail-order.json',
    'cli-warfarin.json',
    'cli-u500.json',
  ];
  test.each(fixtures)('%s: the card’s disposition is the workflow’s on the same record', async (name) => {
    // The workflow's path: the same extraction, json-rules-engine (the evaluate activity's evaluator).
    const asOf = '2026-06-15';
    const protocol = findBuiltinProtocol('family-medicine-2015')!;
    const expected = await evaluateProtocol(
      protocol,
      extractRefillFacts(patientRecordFromBundle(fixture(name)), { asOf }),
    );
    const res = await call('/cds-services/refill-protocol', hookRequest(name));
    expect(res.status, await res.clone().text()).toBe(200);
    const { cards } = (await res.json()) as { cards: Card[] };
    expect(cards).toHaveLength(1);
    const card = cards[0]!;
    expect(card.extension).toEqual({
      protocol: { id: 'family-medicine-2015', version: 1 },
      disposition: expected.disposition,
    });
    expect(card.source.topic?.code).toBe('family-medicine-2015');
    if (expected.disposition === 'approve') {
      expect(card.summary).toMatch(/^Meets protocol: renew /);
      expect(card.suggestions).toHaveLength(1);
    } else if (expected.disposition === 'needs_visit') {
      expect(card.summary).toMatch(/^Needs a visit/);
    } else {
      expect(card.summary).toMatch(/^Route to /);
    }
    const audit = await store.audit.listAudit({ clinicId: CLINIC, action: 'cds.evaluated' });
    const row = audit.items.find((a) => (a.detail as { cards: string[] }).cards.includes(card.uuid));
    expect(row?.protocolId).toBe('family-medicine-2015');
    expect(row?.detail).toMatchObject({
      service: 'refill-protocol',
      dispositions: [expected.disposition],
      userId: 'Practitioner/123',
    });
  });

  test('the JWT: missing, another key, an unknown issuer, another audience, too old: 401', async () => {
    const path = '/cds-services/refill-protocol';
    const body = hookRequest('synthetic-approve.json');
    const none = await app.request(path, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    expect(none.status).toBe(401);
    for (const token of [
      await jwt(path, { signer: otherKey }),
      await jwt(path, { iss: 'https://elsewhere.example.org' }),
      await jwt(path, { aud: 'https://elsewhere.example.org/cds-services/refill-protocol' }),
      await jwt(path, { iat: Math.floor(NOW.getTime() / 1000) - 3600 }),
    ]) {
      expect((await call(path, body, token)).status).toBe(401);
    }
  });

  test('a jti is accepted once, by any replica sharing the database (401 on replay)', async () => {
    const path = '/cds-services/refill-protocol';
    const token = await jwt(path);
    const first = await call(path, hookRequest('synthetic-approve.json'), token);
    expect(first.status, await first.clone().text()).toBe(200);
    const replay = await call(path, hookRequest('synthetic-approve.json'), token);
    expect(replay.status).toBe(401);
    expect(((await replay.json()) as { error: { message: string } }).error.message).toMatch(/replayed/);
    // Another API process over the same database (another replica) refuses it too.
    const replica = createApp({ config, db: testDb.db, store, workflows: gateway, logger, now: () => NOW });
    const elsewhere = await replica.request(path, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify(hookRequest('synthetic-approve.json')),
    });
    expect(elsewhere.status).toBe(401);
  });

  test('jku: a header naming another URL than the registered JWKS URL is 401 before any fetch; with inline keys the registered keys decide', async () => {
    const path = '/cds-services/refill-protocol';
    const body = hookRequest('synthetic-approve.json');
    const withJku = async (jku: string, iss: string) =>
      new SignJWT({})
        .setProtectedHeader({ alg: 'ES384', kid: 'k1', typ: 'JWT', jku })
        .setIssuer(iss)
        .setAudience(`${publicUrl(config)}${path}`)
        .setIssuedAt(Math.floor(NOW.getTime() / 1000))
        .setExpirationTime(Math.floor(NOW.getTime() / 1000) + 300)
        .setJti(randomUUID())
        .sign(key);
    // A client whose keys are at a URL (not reachable here: the refusal must come before any fetch).
    await store.cdsClients.put({
      iss: `${ISS}/by-url`,
      clinicId: CLINIC,
      jwksUrl: 'https://jwks.invalid/keys.json',
      jwks: null,
    });
    const elsewhere = await call(path, body, await withJku('https://attacker.example.org/jwks', `${ISS}/by-url`));
    expect(elsewhere.status).toBe(401);
    expect(((await elsewhere.json()) as { error: { message: string } }).error.message).toMatch(/jku/);
    // Inline keys: a jku never makes us fetch anything; the registered key verifies the token.
    const inline = await call(path, body, await withJku('https://attacker.example.org/jwks', ISS));
    expect(inline.status, await inline.clone().text()).toBe(200);
  });

  test('bad requests: 400 with the JSON path; missing prefetch without fhirAuthorization 422; unknown service 404', async () => {
    const path = '/cds-services/refill-protocol';
    const noPatient = hookRequest('synthetic-approve.json');
    (noPatient.context as Record<string, unknown>).patientId = 'not an id!';
    const bad = await call(path, noPatient);
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { issues: { path: string }[] } }).error.issues[0]?.path).toBe(
      '$.context.patientId',
    );
    const wrongHook = { ...hookRequest('synthetic-approve.json'), hook: 'order-sign' };
    const wh = await call(path, wrongHook);
    expect(wh.status).toBe(400);
    const partial = hookRequest('synthetic-approve.json');
    delete (partial.prefetch as Record<string, unknown>).encounters;
    const missing = await call(path, partial);
    expect(missing.status).toBe(422);
    expect(((await missing.json()) as { error: { issues: { path: string }[] } }).error.issues[0]?.path).toBe(
      '$.prefetch.encounters',
    );
    const elsewhere = {
      ...partial,
      fhirAuthorization: {
        access_token: 't',
        token_type: 'Bearer',
        expires_in: 300,
        scope: 'patient/*.read',
        subject: 'ehr',
      },
      fhirServer: 'https://attacker.example.org/fhir',
    };
    const ssrf = await call(path, elsewhere);
    expect(ssrf.status).toBe(400);
    expect(((await ssrf.json()) as { error: { issues: { path: string }[] } }).error.issues[0]?.path).toBe(
      '$.fhirServer',
    );
    expect(
      (await call('/cds-services/nope', hookRequest('synthetic-approve.json'), await jwt('/cds-services/nope'))).status,
    ).toBe(404);
  });

  test('feedback records accepted and overridden cards (ids and codes only)', async () => {
    const path = '/cds-services/refill-protocol/feedback';
    const res = await call(path, {
      feedback: [
        {
          card: 'card-1',
          outcome: 'accepted',
          acceptedSuggestions: [{ id: 'sug-1' }],
          outcomeTimestamp: NOW.toISOString(),
        },
        {
          card: 'card-2',
          outcome: 'overridden',
          overrideReason: { reason: { code: 'patient-seen-elsewhere', system: 'urn:x' }, userComment: 'Saw Dr Smith' },
          outcomeTimestamp: NOW.toISOString(),
        },
      ],
    });
    expect(res.status, await res.clone().text()).toBe(200);
    const rows = (await store.audit.listAudit({ clinicId: CLINIC, action: 'cds.feedback' })).items;
    expect(
      rows.map((r) => r.detail).sort((a, b) => JSON.stringify(a.card).localeCompare(JSON.stringify(b.card))),
    ).toEqual([
      expect.objectContaining({ card: 'card-1', outcome: 'accepted', acceptedSuggestions: ['sug-1'] }),
      expect.objectContaining({ card: 'card-2', outcome: 'overridden', overrideReason: 'patient-seen-elsewhere' }),
    ]);
    expect(JSON.stringify(rows)).not.toContain('Smith');
    const bad = await call(path, { feedback: [{ card: 'c', outcome: 'maybe', outcomeTimestamp: NOW.toISOString() }] });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { issues: { path: string }[] } }).error.issues[0]?.path).toBe(
      '$.feedback[0].outcome',
    );
  });
});
