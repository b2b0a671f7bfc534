// CDS Hooks `appointment-book` (issue 12 §2): the patient's colorectal-screening status while a visit is booked, with
// the spec's request shape (hook, hookInstance, fhirServer, context { userId, patientId, encounterId, appointments },
// prefetch). The card says what the worker's evaluation says on the same record (the same extraction and evaluator),
// "FIT pended" when the patient's open outreach case pended one, nothing when screening is up to date; missing
// prefetch is read from the clinic's own FHIR connection (the sandbox EHR) and audited.
import { randomUUID } from 'node:crypto';
import type { Resource } from '@medplum/fhirtypes';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createApp } from '../../api/app.ts';
import { ensureBuiltinProtocols } from '../../api/seed.ts';
import type { WorkflowGateway } from '../../api/workflow-gateway.ts';
import { loadConfig, publicUrl } from '../../connectors/config.ts';
import { createStore, type Store } from '../../connectors/db/index.ts';
import { createAccessTokenSource, generateClientKeyPair } from '../../connectors/fhir/auth.ts';
import { createClinicFhir } from '../../connectors/fhir/clinic-connectors.ts';
import { egressPolicy } from '../../connectors/fhir/egress.ts';
import { createLogger } from '../../connectors/logger.ts';
import { careGapFactsFromBundle } from '../../facts/care-gap/index.ts';
import { evaluateCareGap, findCareGapBuiltin } from '../../rules/kinds/care-gap/index.ts';
import { IndexedRepository, loadResources } from '../../sandbox/indexed-repository.ts';
import { startSandbox, type SandboxHandle } from '../../sandbox/fhir-server.ts';
import {
  aColonoscopy,
  aDecline,
  aPatient,
  aScreeningOrder,
  aStoolTest,
  careGapBundle,
  PATIENT_ID,
} from '../helpers/care-gap-builders.ts';
import { openTestDatabase, type TestDatabase } from '../helpers/db.ts';

const CLINIC = 'cds-gap';
const NO_GAPS = 'cds-no-gaps';
const ISS = 'https://ehr.example.org/cds-gap';
const NOW = new Date('2026-06-15T15:00:00Z');
const ASOF = '2026-06-15';
const PATH = '/cds-services/care-gap-status';
const config = loadConfig({ NODE_ENV: 'test', LOG_LEVEL: 'silent', EHR_ALLOW_PRIVATE_NETWORKS: 'true' });
const logger = createLogger(config, 'test');
const gateway: WorkflowGateway = {
  startCase: () => Promise.reject(new Error('unused')),
  submitDecision: () => Promise.reject(new Error('unused')),
  getCaseState: () => Promise.resolve(null),
  ping: () => Promise.resolve(),
};
let testDb: TestDatabase;
let store: Store;
let key: CryptoKey;
let sandbox: SandboxHandle;
let app: ReturnType<typeof createApp>;
let keys: Awaited<ReturnType<typeof generateClientKeyPair>>;

// The record the sandbox EHR holds for the connector test: due (60, average risk, reachable, nothing on file).
const SANDBOX_PATIENT = 'pat-cds-sandbox';

beforeAll(async () => {
  testDb = await openTestDatabase('sqlite');
  store = createStore(testDb.db);
  await ensureBuiltinProtocols(store, logger);
  const repo = new IndexedRepository();
  loadResources(repo, [aPatient({ id: SANDBOX_PATIENT })]);
  keys = await generateClientKeyPair();
  sandbox = await startSandbox({ repo, clients: [{ clientId: 'cds-gap', jwks: keys.publicJwks }], validate: false });
  for (const [id, kinds] of [
    [CLINIC, [{ kind: 'care-gap', enabled: true, protocolId: 'crc-screening-2021' }]],
    [NO_GAPS, [{ kind: 'refill', enabled: true }]],
  ] as const) {
    await store.clinics.upsert({
      id,
      name: id,
      webhookSecret: 'cds-gap-secret-0123456789abcdef',
      fhirBaseUrl: sandbox.fhirBaseUrl,
      fhirClientId: 'cds-gap',
      fhirPrivateKeyJwk: JSON.stringify(keys.privateJwk),
      fhirTokenUrl: null,
      protocolId: 'family-medicine-2015',
      kinds: [...kinds],
      nurseSlaSeconds: 60,
      timezone: 'America/New_York',
    });
  }
  const pair = await generateKeyPair('ES384', { extractable: true });
  key = pair.privateKey;
  const pub = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES384' };
  await store.cdsClients.put({ iss: ISS, clinicId: CLINIC, jwksUrl: null, jwks: { keys: [pub] } });
  await store.cdsClients.put({
    iss: `${ISS}/other`,
    clinicId: NO_GAPS,
    jwksUrl: null,
    jwks: { keys: [pub] },
  });
  app = createApp({
    config,
    db: testDb.db,
    store,
    workflows: gateway,
    logger,
    now: () => NOW,
    clinicFhir: createClinicFhir(store, { timeoutMs: 2000, egress: egressPolicy(config) }),
  });
});
afterAll(async () => {
  await sandbox?.close();
  await testDb?.cleanup();
});

async function jwt(iss = ISS): Promise<string> {
  const iat = Math.floor(NOW.getTime() / 1000);
  return new SignJWT({})
    .setProtectedHeader({ alg: 'ES384', kid: 'k1', typ: 'JWT' })
    .setIssuer(iss)
    .setSubject('ehr-client')
    .setAudience(`${publicUrl(config)}${PATH}`)
    .setIssuedAt(iat)
    .setExpirationTime(iat + 300)
    .setJti(randomUUID())
    .sign(key);
}

async function call(body: unknown, iss?: string) {
  return app.request(PATH, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${await jwt(iss)}` },
    body: JSON.stringify(body),
  });
}

/** The CDS Hooks spec's appointment-book example (context), for `patientId`. */
function appointmentBook(patientId: string, prefetch?: Record<string, unknown>) {
  return {
    hook: 'appointment-book',
    hookInstance: randomUUID(),
    fhirServer: sandbox.fhirBaseUrl,
    context: {
      userId: 'PractitionerRole/A2340113',
      patientId,
      encounterId: '456',
      appointments: {
        resourceType: 'Bundle',
        type: 'collection',
        entry: [
          {
            resource: {
              resourceType: 'Appointment',
              id: 'apt1',
              status: 'proposed',
              serviceType: [{ coding: [{ code: '183', display: 'Sleep Medicine' }] }],
              appointmentType: {
                coding: [
                  {
                    system: 'http://terminology.hl7.org/CodeSystem/v2-0276',
                    code: 'FOLLOWUP',
                    display: 'A follow up visit from a previous appointment',
                  },
                ],
              },
              reasonReference: [{ reference: 'Condition/example', display: 'Severe burn of left ear' }],
              description: 'Discussion on the results of your recent MRI',
              start: '2026-07-10T09:00:00Z',
              end: '2026-07-10T11:00:00Z',
              created: '2026-06-15',
              comment:
                'Further expand on the results of the MRI and determine the next actions that may be appropriate.',
              participant: [
                {
                  actor: { reference: `Patient/${patientId}`, display: 'Peter James Chalmers' },
                  required: 'required',
                  status: 'tentative',
                },
                {
                  actor: { reference: 'Practitioner/example', display: 'Dr Adam Careful' },
                  required: 'required',
                  status: 'accepted',
                },
              ],
            },
          },
        ],
      },
    },
    ...(prefetch ? { prefetch } : {}),
  };
}

/** The service's prefetch, filled as an EHR fills it: the Patient, and one searchset per search. */
function prefetchOf(resources: Resource[]): Record<string, unknown> {
  const searchset = (...types: string[]) => ({
    resourceType: 'Bundle',
    type: 'searchset',
    entry: resources.filter((r) => types.includes(r.resourceType)).map((resource) => ({ resource })),
  });
  return {
    patient: resources.find((r) => r.resourceType === 'Patient') ?? aPatient(),
    conditions: searchset('Condition'),
    procedures: searchset('Procedure'),
    observations: searchset('Observation'),
    diagnosticReports: searchset('DiagnosticReport'),
    encounters: searchset('Encounter'),
    medications: searchset('MedicationRequest', 'Medication'),
    serviceRequests: searchset('ServiceRequest'),
  };
}

/** What the worker decides on the same record (its extraction and evaluator, the built-in protocol). */
async function workerDecision(resources: Resource[]) {
  const facts = careGapFactsFromBundle(careGapBundle(...resources), { asOf: ASOF });
  return evaluateCareGap(findCareGapBuiltin('crc-screening-2021', 1)!, facts);
}

type Card = {
  uuid: string;
  summary: string;
  detail: string;
  indicator: string;
  extension: { protocol: { id: string; version: number }; disposition: string };
  source: { topic?: { code: string; display: string } };
};

async function cardsFor(resources: Resource[]) {
  const res = await call(appointmentBook(PATIENT_ID, prefetchOf(resources)));
  expect(res.status, await res.clone().text()).toBe(200);
  return ((await res.json()) as { cards: Card[] }).cards;
}

async function auditFor(card: string | null, hookInstance?: string) {
  const rows = (await store.audit.listAudit({ clinicId: CLINIC, action: 'cds.evaluated' })).items;
  return rows.find((r) =>
    card ? (r.detail as { cards: string[] }).cards.includes(card) : r.detail.hookInstance === hookInstance,
  );
}

describe('discovery', () => {
  test('lists the appointment-book service with its prefetch templates', async () => {
    const res = await app.request('/cds-services');
    const body = (await res.json()) as { services: { hook: string; id: string; prefetch: Record<string, string> }[] };
    const service = body.services.find((s) => s.hook === 'appointment-book');
    expect(service?.id).toBe('care-gap-status');
    expect(service?.prefetch).toMatchObject({
      patient: 'Patient/{{context.patientId}}',
      observations: 'Observation?patient={{context.patientId}}',
      serviceRequests: 'ServiceRequest?patient={{context.patientId}}&status=draft,active,on-hold',
    });
  });
});

describe('appointment-book', () => {
  test('due, no case: "due: FIT recommended", the worker’s disposition, protocol id and version, audited', async () => {
    const record = [aPatient()];
    expect((await workerDecision(record)).disposition).toBe('outreach');
    const cards = await cardsFor(record);
    expect(cards).toHaveLength(1);
    const card = cards[0]!;
    expect(card.summary).toBe('Colorectal screening due: FIT recommended');
    expect(card.indicator).toBe('warning');
    expect(card.extension).toEqual({ protocol: { id: 'crc-screening-2021', version: 1 }, disposition: 'outreach' });
    expect(card.source.topic).toMatchObject({ code: 'crc-screening-2021', display: 'crc-screening-2021 v1' });
    expect(card.detail).toContain('CRC-17');
    const row = await auditFor(card.uuid);
    expect(row).toMatchObject({ protocolId: 'crc-screening-2021', protocolVersion: 1, actorType: 'ehr' });
    expect(row?.detail).toMatchObject({
      service: 'care-gap-status',
      patientId: PATIENT_ID,
      userId: 'PractitionerRole/A2340113',
      dispositions: ['outreach'],
    });
  });

  test('a positive FIT without a colonoscopy: a critical card for the doctor, with its evidence', async () => {
    const fit = aStoolTest('fit', '2026-03-01', { result: 'positive', id: 'fit-pos' });
    const record = [aPatient(), fit];
    const expected = await workerDecision(record);
    expect(expected).toMatchObject({ disposition: 'doctor_review', clause: 'CRC-8', priority: 'urgent' });
    const [card, ...rest] = await cardsFor(record);
    expect(rest).toEqual([]);
    expect(card?.summary).toMatch(/^Colorectal screening needs doctor review: A positive stool test/);
    expect(card?.summary.length).toBeLessThanOrEqual(140);
    expect(card?.indicator).toBe('critical');
    expect(card?.extension.disposition).toBe('doctor_review');
    expect(card?.detail).toContain('Observation/fit-pos');
    expect(card?.detail).toContain('GI referral');
  });

  test.each([
    ['up to date (a colonoscopy in 2020)', [aColonoscopy('2020-05-01')], 'gap_closed'],
    ['declined this year', [aDecline('2026-02-01')], 'suppressed'],
    ['a FIT ordered elsewhere last month', [aScreeningOrder('active', '2026-05-20')], 'suppressed'],
    ['under 45', [], 'not_applicable'],
  ])('%s: no card, the evaluation still audited', async (_name, extra, disposition) => {
    const patient = disposition === 'not_applicable' ? aPatient({ birthDate: '1990-01-01' }) : aPatient();
    const record = [patient, ...extra];
    expect((await workerDecision(record)).disposition).toBe(disposition);
    const body = appointmentBook(PATIENT_ID, prefetchOf(record));
    const res = await call(body);
    expect(res.status, await res.clone().text()).toBe(200);
    expect(((await res.json()) as { cards: Card[] }).cards).toEqual([]);
    const row = await auditFor(null, body.hookInstance);
    expect(row).toMatchObject({ protocolId: 'crc-screening-2021', protocolVersion: 1 });
    expect(row?.detail).toMatchObject({ dispositions: [disposition], cards: [] });
  });

  test('the open outreach case pended a FIT: "Colorectal screening due: FIT pended"; closed, no card', async () => {
    // The record as the EHR has it once the outreach pended its FIT order (a draft ServiceRequest): the protocol now
    // reads "already ordered" (CRC-13), which is the workflow's own order, so the case is what the card tells.
    const pended = aScreeningOrder('draft', ASOF, { id: 'sr-pended' });
    const record = [aPatient(), pended];
    expect((await workerDecision(record)).disposition).toBe('suppressed');
    const caseId = `cg_${CLINIC}_crc-screening-2021_0123456789abcdef0123456789abcdef`;
    // The projection the care-gap workflow records when it starts outreach (workflows/care-gap.ts startOutreach).
    const projection = {
      id: caseId,
      kind: 'care-gap',
      clinicId: CLINIC,
      requestId: 'req-cds',
      patientId: PATIENT_ID,
      medicationRequestId: null,
      status: 'queued' as const,
      disposition: 'outreach',
      queue: 'outreach' as const,
      pool: null,
      protocolId: 'crc-screening-2021',
      protocolVersion: 1,
      at: NOW.toISOString(),
    };
    await store.cases.upsertCaseProjection(projection, 1);
    try {
      const [card, ...rest] = await cardsFor(record);
      expect(rest).toEqual([]);
      expect(card?.summary).toBe('Colorectal screening due: FIT pended');
      expect(card?.extension).toEqual({ protocol: { id: 'crc-screening-2021', version: 1 }, disposition: 'outreach' });
      expect(card?.detail).toContain(caseId);
      // Due with the case open (the order not on the record yet): still "FIT pended", not a second recommendation.
      expect((await cardsFor([aPatient()]))[0]?.summary).toBe('Colorectal screening due: FIT pended');
    } finally {
      await store.cases.upsertCaseProjection(
        { ...projection, status: 'closed', queue: null, closedAt: NOW.toISOString() },
        2,
      );
    }
    expect(await cardsFor(record)).toEqual([]);
  });

  test('no prefetch and no fhirAuthorization: read through the clinic’s FHIR connection, audited', async () => {
    const before = sandbox.requests.length;
    const body = appointmentBook(SANDBOX_PATIENT);
    delete (body as { fhirServer?: string }).fhirServer;
    const res = await call(body);
    expect(res.status, await res.clone().text()).toBe(200);
    const { cards } = (await res.json()) as { cards: Card[] };
    expect(cards.map((c) => c.summary)).toEqual(['Colorectal screening due: FIT recommended']);
    const fhirCalls = sandbox.requests.slice(before).filter((r) => r.path.startsWith('/fhir/R4'));
    expect(fhirCalls.length).toBeGreaterThan(0);
    const reads = (await store.audit.listAudit({ clinicId: CLINIC, action: 'patient_context.read' })).items;
    const read = reads.find((r) => r.detail.hookInstance === body.hookInstance);
    expect(read).toMatchObject({ actorType: 'system', actorId: 'api' });
    expect(read?.detail).toMatchObject({
      patientId: SANDBOX_PATIENT,
      service: 'care-gap-status',
      via: 'clinic_connector',
      resourceCounts: { Patient: 1 },
    });
    expect((read?.detail.prefetch as string[]).sort()).toEqual(
      [
        'conditions',
        'diagnosticReports',
        'encounters',
        'medications',
        'observations',
        'patient',
        'procedures',
        'serviceRequests',
      ].sort(),
    );
    // A patient the EHR does not have: refused at the patient's prefetch.
    const unknown = await call(appointmentBook('pat-nobody'));
    expect(unknown.status).toBe(400);
    expect(((await unknown.json()) as { error: { issues: { path: string }[] } }).error.issues[0]?.path).toBe(
      '$.prefetch.patient',
    );
  });

  test('no prefetch, the EHR’s fhirAuthorization: read from fhirServer with its token, audited; a bad token 502', async () => {
    const accessToken = await createAccessTokenSource({
      baseUrl: sandbox.fhirBaseUrl,
      clientId: 'cds-gap',
      privateKeyJwk: keys.privateJwk,
      scope: 'system/*.read',
      timeoutMs: 2000,
    }).token();
    const fhirAuthorization = (token: string) => ({
      access_token: token,
      token_type: 'Bearer',
      expires_in: 300,
      scope: 'system/*.read',
      subject: 'cds-gap',
    });
    const before = sandbox.requests.length;
    const body = { ...appointmentBook(SANDBOX_PATIENT), fhirAuthorization: fhirAuthorization(accessToken) };
    const res = await call(body);
    expect(res.status, await res.clone().text()).toBe(200);
    expect(((await res.json()) as { cards: Card[] }).cards.map((c) => c.summary)).toEqual([
      'Colorectal screening due: FIT recommended',
    ]);
    expect(sandbox.requests.slice(before).filter((r) => r.path.startsWith('/fhir/R4/')).length).toBe(8);
    const reads = (await store.audit.listAudit({ clinicId: CLINIC, action: 'patient_context.read' })).items;
    const read = reads.find((r) => r.detail.hookInstance === body.hookInstance);
    expect(read).toMatchObject({ actorType: 'ehr', actorId: CLINIC });
    expect(read?.detail).toMatchObject({
      via: 'fhirAuthorization',
      roundTrips: 8,
      resourceCounts: { Patient: 1 },
    });
    const refused = await call({ ...appointmentBook(SANDBOX_PATIENT), fhirAuthorization: fhirAuthorization('nope') });
    expect(refused.status).toBe(502);
  });

  test('bad requests: 400 at the JSON path (context, a malformed prefetch resource); a clinic without care gaps 422', async () => {
    const path = async (res: Response) =>
      ((await res.json()) as { error: { issues: { path: string }[] } }).error.issues[0]?.path;
    const noAppointments = appointmentBook(PATIENT_ID, prefetchOf([aPatient()]));
    (noAppointments.context.appointments as { entry: unknown[] }).entry = [];
    const a = await call(noAppointments);
    expect(a.status).toBe(400);
    expect(await path(a)).toBe('$.context.appointments.entry');
    const badObservation = {
      resourceType: 'Observation',
      id: 'o1',
      status: 'final',
      subject: { reference: `Patient/${PATIENT_ID}` },
    };
    const malformed = await call(appointmentBook(PATIENT_ID, prefetchOf([aPatient(), badObservation as Resource])));
    expect(malformed.status).toBe(400);
    expect(await path(malformed)).toBe('$.prefetch.observations.entry[0].resource.code');
    const other = await call(appointmentBook(PATIENT_ID, prefetchOf([aPatient()])), `${ISS}/other`);
    expect(other.status).toBe(422);
  });
});
