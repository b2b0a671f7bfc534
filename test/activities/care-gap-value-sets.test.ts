// A clinic's loaded value-set expansion, as the worker uses it: the care-gap read asks the EHR for the expansion's
// codes too (a FIT coded with a LOINC code only the clinic's export lists is found), extraction counts them (a
// colonoscopy coded in SNOMED), the built-in codes keep counting (extend, not replace), and the hashes used are
// returned and audited. Against the sandbox EHR, with the real store (SQLite).
import type { Resource } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { careGapActivities } from '../../activities/kinds/care-gap/index.ts';
import type { ActivityDeps } from '../../activities/index.ts';
import { ensureBuiltinProtocols } from '../../api/seed.ts';
import { loadConfig } from '../../connectors/config.ts';
import { createStore, type Store } from '../../connectors/db/index.ts';
import { generateClientKeyPair } from '../../connectors/fhir/auth.ts';
import { createFhirConnector } from '../../connectors/fhir/connector.ts';
import { createLogger } from '../../connectors/logger.ts';
import { CareGapFactsSchema, CARE_GAP_VALUE_SETS } from '../../rules/kinds/care-gap/index.ts';
import { startSandbox, type SandboxHandle } from '../../sandbox/fhir-server.ts';
import { IndexedRepository } from '../../sandbox/indexed-repository.ts';
import { aColonoscopy, aPatient, aStoolTest, PATIENT_ID, SYSTEMS } from '../helpers/care-gap-builders.ts';
import { openTestDatabase, type TestDatabase } from '../helpers/db.ts';

const CLINIC = 'vs-clinic';
/** A LOINC code for a stool test that the built-in fit-fobt set does not list (the clinic's export does). */
const EXTRA_FIT = '99999-1';
/** A SNOMED colonoscopy code the built-in set does not list. */
const EXTRA_COLONOSCOPY = '446521004';

let testDb: TestDatabase;
let store: Store;
let sandbox: SandboxHandle;
let activities: ReturnType<typeof careGapActivities>;

beforeAll(async () => {
  testDb = await openTestDatabase('sqlite');
  store = createStore(testDb.db);
  const config = loadConfig({ LOG_LEVEL: 'silent' });
  const logger = createLogger(config, 'test');
  await ensureBuiltinProtocols(store, logger);
  await store.clinics.create({
    id: CLINIC,
    name: CLINIC,
    webhookSecret: 'whsec_0123456789abcdef',
    fhirBaseUrl: 'https://ehr.example.org/fhir/R4',
    fhirClientId: 'cg',
    protocolId: 'family-medicine-2015',
    nurseSlaSeconds: 3600,
    timezone: 'UTC',
    kinds: [{ kind: 'care-gap', enabled: true, protocolId: 'crc-screening-2021' }],
  });
  const repo = new IndexedRepository();
  for (const r of [
    aPatient(),
    aStoolTest('fit', '2026-03-01', { loinc: EXTRA_FIT, result: 'negative', id: 'fit-extra' }),
    {
      ...aColonoscopy('2020-05-01', { id: 'colo-snomed' }),
      code: { coding: [{ system: SYSTEMS.snomed, code: EXTRA_COLONOSCOPY }] },
    } as Resource,
    aColonoscopy('2015-05-01', { id: 'colo-cpt' }),
  ])
    repo.update(r);
  const keys = await generateClientKeyPair();
  sandbox = await startSandbox({ repo, clients: [{ clientId: 'cg', jwks: keys.publicJwks }] });
  const fhir = createFhirConnector({
    baseUrl: sandbox.fhirBaseUrl,
    timeoutMs: 5000,
    auth: { clientId: 'cg', privateKeyJwk: keys.privateJwk },
  });
  const deps: ActivityDeps = {
    store,
    logger,
    fhir: { forClinic: () => Promise.resolve(fhir), withRequestId: (_id, fn) => fn() },
  };
  activities = careGapActivities(deps);
});
afterAll(async () => {
  await sandbox?.close();
  await testDb?.cleanup();
});

const caseRef = {
  caseId: 'cg_vs-clinic_crc-screening-2021_00112233445566778899aabbccddeeff',
  clinicId: CLINIC,
  requestId: 'req-vs',
};
const gather = () => activities.careGapGather({ ...caseRef, patientId: PATIENT_ID, asOf: '2026-06-15' });

describe('a clinic’s loaded expansions in the care-gap evaluation', () => {
  test('built-ins only: the extra codes are neither read nor counted, no hash recorded', async () => {
    expect(CARE_GAP_VALUE_SETS['fit-fobt'].entries.some((e) => e.code === EXTRA_FIT)).toBe(false);
    expect(CARE_GAP_VALUE_SETS.colonoscopy.entries.some((e) => e.code === EXTRA_COLONOSCOPY)).toBe(false);
    const { facts, valueSets } = await gather();
    const f = CareGapFactsSchema.parse(facts);
    expect(f.tests.lastNegativeFit).toBeNull();
    expect(f.tests.lastColonoscopy?.id).toBe('colo-cpt');
    expect(valueSets).toEqual({});
  });

  test('loaded: the FIT is searched for and found, the SNOMED colonoscopy counts, CPT still does; hashes returned and audited', async () => {
    const fit = await store.valueSets.put({
      clinicId: CLINIC,
      valueSetId: 'fit-fobt',
      source: 'http://example.org/ValueSet/fit|1',
      codes: [{ system: SYSTEMS.loinc, code: EXTRA_FIT }],
      by: 'admin-1',
    });
    const colonoscopy = await store.valueSets.put({
      clinicId: CLINIC,
      valueSetId: 'colonoscopy',
      source: 'http://example.org/ValueSet/colonoscopy|1',
      codes: [{ system: 'urn:oid:2.16.840.1.113883.6.96', code: EXTRA_COLONOSCOPY }],
      by: 'admin-1',
    });
    const { facts, valueSets } = await gather();
    const f = CareGapFactsSchema.parse(facts);
    expect(f.tests.lastNegativeFit).toMatchObject({ id: 'fit-extra', date: '2026-03-01' });
    expect(f.tests.lastColonoscopy).toMatchObject({ id: 'colo-snomed', date: '2020-05-01' });
    expect(valueSets).toEqual({ colonoscopy: colonoscopy.record.hash, 'fit-fobt': fit.record.hash });

    const decision = await activities.careGapEvaluate({
      ...caseRef,
      protocol: { id: 'crc-screening-2021', version: 1 },
      facts,
      seq: 3,
      valueSets,
    });
    expect(decision.disposition).toBe('gap_closed');
    const audit = await store.audit.listAudit({ caseId: caseRef.caseId });
    expect(audit.items.find((a) => a.action === 'protocol.evaluated')?.detail.valueSets).toEqual(valueSets);
    expect(audit.items.find((a) => a.action === 'patient_context.read')?.detail.valueSets).toEqual(valueSets);

    // Removed: back to the built-ins.
    await store.valueSets.remove(CLINIC, 'fit-fobt');
    await store.valueSets.remove(CLINIC, 'colonoscopy');
    expect((await gather()).valueSets).toEqual({});
  });
});
