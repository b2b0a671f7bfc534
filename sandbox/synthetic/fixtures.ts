import type { Bundle } from '@medplum/fhirtypes';
import { toPatientBundle } from './bundle.ts';
import { generateClinic, type GenerateOptions, type RefillScenario } from './generate.ts';

/** The clinic the committed bundle fixtures are cut from. Triage them with `--as-of 2026-06-15`. */
export const FIXTURE_OPTIONS: GenerateOptions = { seed: 2015, patients: 200, asOf: '2026-06-15' };

/** Fixture file name (under test/fixtures/bundles/) → the scenario whose first refill request it holds. */
export const FIXTURE_SCENARIOS = {
  'synthetic-approve.json': 'ppi-rov-within-18mo',
  'synthetic-needs-visit.json': 'diabetes-ccn-visit-older-than-6mo-no-pcp-within-12mo',
  'synthetic-doctor-review.json': 'clopidogrel-task-to-provider',
  'synthetic-nurse-review.json': 'warfarin-to-protime-nurse',
} as const;

export interface FixtureBundle {
  file: keyof typeof FIXTURE_SCENARIOS;
  refill: RefillScenario;
  bundle: Bundle;
}

/**
 * The CLI-shaped bundles committed as test fixtures, rebuilt from the generator: one per disposition. A test compares
 * them with the committed files, so the fixtures cannot drift from the generator silently.
 */
export function buildFixtureBundles(): FixtureBundle[] {
  const clinic = generateClinic(FIXTURE_OPTIONS);
  return Object.entries(FIXTURE_SCENARIOS).map(([file, scenario]) => {
    const refill = clinic.refillRequests.find((r) => r.scenario === scenario);
    if (!refill) throw new Error(`fixture scenario ${scenario} is missing from the fixture clinic`);
    const bundle = toPatientBundle(clinic.resources, refill.medicationRequestId, {
      timestamp: `${FIXTURE_OPTIONS.asOf}T12:00:00Z`,
    });
    return { file: file as keyof typeof FIXTURE_SCENARIOS, refill, bundle };
  });
}
