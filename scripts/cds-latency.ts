// p50/p95 of one CDS Hooks call (full prefetch, JWT verified) through the API in process, on a temporary SQLite
// database: `npx tsx scripts/cds-latency.ts [--requests N] [--service refill-protocol|care-gap-status]`
// (medication-refill, the default, or appointment-book). The spec expects answers in well under a second; this
// measures what the server adds (no network, no EHR fetch).
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { createApp } from '../api/app.ts';
import { ensureBuiltinProtocols } from '../api/seed.ts';
import { loadConfig, publicUrl } from '../connectors/config.ts';
import { createStore, openDatabase } from '../connectors/db/index.ts';
import { createLogger } from '../connectors/logger.ts';

const { values } = parseArgs({
  options: { requests: { type: 'string', default: '500' }, service: { type: 'string', default: 'refill-protocol' } },
});
const n = Number(values.requests);
const service = values.service;
if (service !== 'refill-protocol' && service !== 'care-gap-status') {
  throw new Error('--service is refill-protocol or care-gap-status');
}
const dataDir = mkdtempSync(join(tmpdir(), 'cds-latency-'));
const config = loadConfig({
  LOG_LEVEL: 'silent',
  DATA_DIR: dataDir,
  RATE_LIMIT_PER_IP: '0',
  RATE_LIMIT_WEBHOOKS_PER_CLINIC: '0',
});
const logger = createLogger(config, 'bench');
const db = await openDatabase({ dataDir });
const store = createStore(db);
await ensureBuiltinProtocols(store, logger);
await store.clinics.upsert({
  id: 'cds-bench',
  name: 'CDS bench',
  webhookSecret: 'cds-bench-secret-0123456789abcdef',
  fhirBaseUrl: 'https://ehr.example.org/fhir/R4',
  fhirClientId: 'x',
  fhirPrivateKeyJwk: null,
  fhirTokenUrl: null,
  protocolId: 'family-medicine-2015',
  kinds: [
    { kind: 'refill', enabled: true },
    { kind: 'care-gap', enabled: true, protocolId: 'crc-screening-2021' },
  ],
  nurseSlaSeconds: 60,
  timezone: 'UTC',
});
const pair = await generateKeyPair('ES384', { extractable: true });
const iss = 'https://ehr.example.org/cds-client';
await store.cdsClients.put({
  iss,
  clinicId: 'cds-bench',
  jwksUrl: null,
  jwks: { keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'k1' }] },
});
const app = createApp({
  config,
  db,
  store,
  workflows: {
    startCase: () => Promise.reject(new Error('unused')),
    submitDecision: () => Promise.reject(new Error('unused')),
    getCaseState: () => Promise.resolve(null),
    ping: () => Promise.resolve(),
  },
  logger,
  now: () => new Date(),
});

type Res = { resourceType: string; id?: string; intent?: string };
const names = [
  'synthetic-approve.json',
  'synthetic-needs-visit.json',
  'synthetic-nurse-review.json',
  'synthetic-doctor-review.json',
];
const refillBodies = () =>
  names.map((name) => {
    const bundle = JSON.parse(readFileSync(new URL(`../test/fixtures/bundles/${name}`, import.meta.url), 'utf8')) as {
      entry: { resource: Res }[];
    };
    const rs = bundle.entry.map((e) => e.resource);
    const request = rs.find((r) => r.resourceType === 'MedicationRequest' && r.intent === 'proposal')!;
    const set = (pred: (r: Res) => boolean) => ({
      resourceType: 'Bundle',
      type: 'searchset',
      entry: rs.filter(pred).map((resource) => ({ resource })),
    });
    const types = ['MedicationRequest', 'Encounter', 'Observation', 'Condition', 'AllergyIntolerance', 'Appointment'];
    const [medications, encounters, observations, conditions, allergies, appointments] = types.map((t) =>
      set((r) => r.resourceType === t && r !== request),
    );
    return JSON.stringify({
      hook: 'medication-refill',
      hookInstance: randomUUID(),
      context: {
        userId: 'Practitioner/1',
        patientId: rs.find((r) => r.resourceType === 'Patient')!.id,
        medications: { resourceType: 'Bundle', type: 'collection', entry: [{ resource: request }] },
      },
      prefetch: {
        patient: rs.find((r) => r.resourceType === 'Patient'),
        medications,
        encounters,
        observations,
        conditions,
        allergies,
        appointments,
        other: set((r) => !types.includes(r.resourceType) && r.resourceType !== 'Patient'),
      },
    });
  });

/** appointment-book: the CDS Hooks spec's context, the care-gap fixtures' records as the service's prefetch. */
const careGapNames = ['care-gap-outreach.json', 'care-gap-positive-fit.json', 'care-gap-up-to-date.json'];
const careGapBodies = () =>
  careGapNames.map((name) => {
    const bundle = JSON.parse(readFileSync(new URL(`../test/fixtures/bundles/${name}`, import.meta.url), 'utf8')) as {
      entry: { resource: Res }[];
    };
    const rs = bundle.entry.map((e) => e.resource);
    const patient = rs.find((r) => r.resourceType === 'Patient')!;
    const set = (...types: string[]) => ({
      resourceType: 'Bundle',
      type: 'searchset',
      entry: rs.filter((r) => types.includes(r.resourceType)).map((resource) => ({ resource })),
    });
    return JSON.stringify({
      hook: 'appointment-book',
      hookInstance: randomUUID(),
      context: {
        userId: 'PractitionerRole/A2340113',
        patientId: patient.id,
        appointments: {
          resourceType: 'Bundle',
          type: 'collection',
          entry: [{ resource: { resourceType: 'Appointment', id: 'apt1', status: 'proposed' } }],
        },
      },
      prefetch: {
        patient,
        conditions: set('Condition'),
        procedures: set('Procedure'),
        observations: set('Observation'),
        diagnosticReports: set('DiagnosticReport'),
        encounters: set('Encounter'),
        medications: set('MedicationRequest', 'Medication'),
        serviceRequests: set('ServiceRequest'),
      },
    });
  });
const bodies = service === 'refill-protocol' ? refillBodies() : careGapBodies();
const path = `/cds-services/${service}`;
const ms: number[] = [];
for (let i = 0; i < n; i += 1) {
  const token = await new SignJWT({})
    .setProtectedHeader({ alg: 'ES384', kid: 'k1' })
    .setIssuer(iss)
    .setSubject('ehr')
    .setAudience(`${publicUrl(config)}${path}`)
    .setIssuedAt()
    .setExpirationTime('5m')
    .setJti(randomUUID())
    .sign(pair.privateKey);
  const started = performance.now();
  const res = await app.request(path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: bodies[i % bodies.length]!,
  });
  if (res.status !== 200) throw new Error(`status ${res.status}: ${await res.text()}`);
  await res.json();
  ms.push(performance.now() - started);
}
ms.sort((a, b) => a - b);
const q = (p: number) => ms[Math.min(ms.length - 1, Math.ceil(p * ms.length) - 1)]!.toFixed(1);
console.log(
  JSON.stringify({
    service,
    requests: n,
    p50Ms: Number(q(0.5)),
    p95Ms: Number(q(0.95)),
    p99Ms: Number(q(0.99)),
    maxMs: Number(ms.at(-1)!.toFixed(1)),
  }),
);
await db.close();
rmSync(dataDir, { recursive: true, force: true });
