// The entrypoint seeds the sandbox from the synthetic generator and serves what it generated.
import type { Bundle, MedicationRequest } from '@medplum/fhirtypes';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { loadConfig } from '../../connectors/config.ts';
import { createLogger } from '../../connectors/logger.ts';
import { careGapPatientsFor, startSeededSandbox, type SeededSandbox } from '../../sandbox/main.ts';
import { CARE_GAP_SCENARIOS } from '../../sandbox/synthetic/index.ts';

let seeded: SeededSandbox;

beforeAll(async () => {
  const config = loadConfig({ SANDBOX_PATIENTS: '25', SANDBOX_SEED: '7', LOG_LEVEL: 'silent' });
  seeded = await startSeededSandbox(config, createLogger(config, 'sandbox-test'), {
    port: 0,
    requireAuth: false,
    asOf: '2026-01-15',
  });
});
afterAll(async () => {
  await seeded?.handle.close();
});

test('serves every generated refill request and its patient over HTTP', async () => {
  const { handle, refillRequests } = seeded;
  expect(refillRequests).toHaveLength(25);
  for (const { patientId, medicationRequestId } of refillRequests.slice(0, 5)) {
    const mr = await fetch(`${handle.fhirBaseUrl}/MedicationRequest/${medicationRequestId}`);
    expect(mr.status).toBe(200);
    expect(((await mr.json()) as MedicationRequest).subject?.reference).toBe(`Patient/${patientId}`);
    const search = await fetch(`${handle.fhirBaseUrl}/MedicationRequest?patient=${patientId}&intent=proposal`);
    const ids = ((await search.json()) as Bundle).entry?.map((e) => e.resource?.id);
    expect(ids).toContain(medicationRequestId);
  }
  expect(handle.requests.filter((r) => r.status === 200)).toHaveLength(10);
});

test('also seeds the care-gap patients, one or more per scenario', async () => {
  const { handle, careGaps } = seeded;
  expect(careGaps.length).toBe(careGapPatientsFor(25));
  expect(new Set(careGaps.map((s) => s.scenario)).size).toBe(CARE_GAP_SCENARIOS.length);
  const first = careGaps[0];
  const res = await fetch(`${handle.fhirBaseUrl}/Patient/${first?.patientId ?? ''}`);
  expect(res.status).toBe(200);
});
