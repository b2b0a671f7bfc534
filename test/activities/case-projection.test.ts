// projectCase keeps free text out of the app database: a workflow that still sends a clinician's `note` in the
// projection detail (one started before the note left it) gets only `noteProvided` into the timeline and the audit log.
import { afterAll, beforeAll, expect, test } from 'vitest';
import { projectCase } from '../../activities/kinds/refill/case-projection.ts';
import { createStore, type Store } from '../../connectors/db/index.ts';
import { openTestDatabase, type TestDatabase } from '../helpers/db.ts';

let testDb: TestDatabase;
let store: Store;
beforeAll(async () => {
  testDb = await openTestDatabase('sqlite');
  store = createStore(testDb.db);
  await store.clinics.upsert({
    id: 'c1',
    name: 'Clinic',
    webhookSecret: 'projection-test-secret-0123456789',
    fhirBaseUrl: 'http://127.0.0.1:9/fhir/R4',
    fhirClientId: 'x',
    fhirPrivateKeyJwk: null,
    fhirTokenUrl: null,
    protocolId: 'family-medicine-2015',
    refillAutomationEnabled: true,
    nurseSlaSeconds: 60,
    timezone: 'UTC',
  });
});
afterAll(async () => {
  await testDb?.cleanup();
});

test('a note in the projection detail reaches neither the timeline nor the audit log', async () => {
  const note = 'Patient Ottoline Brackenbury-Voss called twice (legacy-note-41)';
  await projectCase(
    { store },
    {
      caseId: 'rf_c1_mr-1',
      clinicId: 'c1',
      requestId: 'req-1',
      medicationRequestId: 'mr-1',
      patientId: 'pat-1',
      drugName: null,
      seq: 1,
      at: '2026-06-15T10:00:00.000Z',
      event: 'decision.received',
      actor: { userId: 'nurse-1', role: 'nurse' },
      detail: { action: 'needs_visit', decisionId: 'd-1', note },
      state: {
        caseId: 'rf_c1_mr-1',
        status: 'queued',
        queue: 'nurse',
        pool: null,
        reason: 'protocol',
        protocol: { id: 'family-medicine-2015', version: 1 },
        decision: null,
        escalated: false,
        outcome: null,
        decidedBy: null,
        slaDueAt: null,
      },
    },
  );
  const { kysely } = testDb.db;
  const audit = await kysely.selectFrom('audit_log').selectAll().where('caseId', '=', 'rf_c1_mr-1').execute();
  const events = await kysely.selectFrom('case_events').selectAll().where('caseId', '=', 'rf_c1_mr-1').execute();
  expect(audit).toHaveLength(1);
  expect(events).toHaveLength(1);
  for (const row of [...audit, ...events]) {
    expect(JSON.stringify(row)).not.toContain('legacy-note-41');
    expect(JSON.parse(row.detail)).toMatchObject({ action: 'needs_visit', noteProvided: true });
  }
});
