// Extraction of the facts standard-chronic-care reads: potassium, creatinine, eGFR, TSH and the last blood pressure.
import type { Bundle, Observation } from '@medplum/fhirtypes';
import { describe, expect, test } from 'vitest';
import { extractRefillFacts, patientRecordFromBundle } from '../../activities/facts/index.ts';
import { extractVitals } from '../../activities/facts/vitals.ts';
import { RefillFactsSchema } from '../../rules/index.ts';
import { resolveFactPath } from '../../rules/schema/fact-paths.ts';
import { aRefillBundle, type ScenarioSpec } from '../helpers/fhir-builders.ts';

const factsOf = (spec: ScenarioSpec, asOf = '2026-06-15') =>
  extractRefillFacts(patientRecordFromBundle(aRefillBundle(spec)), { asOf });

function withObservations(bundle: Bundle, observations: Observation[]): Bundle {
  return {
    ...bundle,
    entry: [
      ...(bundle.entry ?? []),
      ...observations.map((resource) => ({ fullUrl: `urn:test:Observation/${resource.id}`, resource })),
    ],
  };
}

const bp = (id: string, date: string, components: [string, number][], status = 'final'): Observation =>
  ({
    resourceType: 'Observation',
    id,
    status,
    code: { coding: [{ system: 'http://loinc.org', code: '85354-9' }] },
    subject: { reference: 'Patient/pat-1' },
    effectiveDateTime: date,
    component: components.map(([code, value]) => ({
      code: { coding: [{ system: 'http://loinc.org', code }] },
      valueQuantity: { value, unit: 'mm[Hg]' },
    })),
  }) as Observation;

describe('chronic-care labs', () => {
  test('the last final numeric result of each analyte on or before asOf, by LOINC', () => {
    const f = factsOf({
      drug: 'losartan',
      labs: [
        { kind: 'potassium', date: '2026-01-10', value: 4.0 },
        { kind: 'potassium', date: '2026-04-01', value: 4.6, loinc: '6298-4' },
        { kind: 'potassium', date: '2026-05-01', value: 6.1, status: 'preliminary' },
        { kind: 'potassium', date: '2026-05-02' },
        { kind: 'potassium', date: '2026-07-01', value: 3.9 },
        { kind: 'creatinine', date: '2026-02-01', value: 1.1 },
        { kind: 'egfr', date: '2026-02-01', value: 58, loinc: '62238-1' },
        { kind: 'egfr', date: '2026-03-01', value: 55, loinc: '48642-3' },
        { kind: 'tsh', date: '2025-09-09', value: 3.3, loinc: '11580-8' },
      ],
    });
    expect(f.labs.lastPotassium).toMatchObject({
      resourceType: 'Observation',
      id: 'obs-2',
      date: '2026-04-01',
      value: 4.6,
    });
    expect(f.labs.lastCreatinine).toMatchObject({ id: 'obs-6', date: '2026-02-01', value: 1.1 });
    expect(f.labs.lastEgfr).toMatchObject({ id: 'obs-8', date: '2026-03-01', value: 55 });
    expect(f.labs.lastTsh).toMatchObject({ id: 'obs-9', date: '2025-09-09', value: 3.3 });
    expect(f.labs.lastPotassium?.display).toBe('Potassium [Moles/volume] in Serum or Plasma: 4.6 mmol/L');
  });

  test('every eGFR code counts (MDRD, CKD-EPI, CKD-EPI 2021)', () => {
    for (const loinc of ['33914-3', '48642-3', '62238-1', '98979-8']) {
      const f = factsOf({ drug: 'apixaban', labs: [{ kind: 'egfr', date: '2026-02-01', value: 70, loinc }] });
      expect(f.labs.lastEgfr?.value, loinc).toBe(70);
    }
  });

  test('nothing on file is null, and a CMP panel alone is no potassium', () => {
    const f = factsOf({ drug: 'losartan', labs: [{ kind: 'cmp', date: '2026-02-01' }] });
    expect(f.labs.lastCmp).not.toBeNull();
    expect(f.labs).toMatchObject({ lastPotassium: null, lastCreatinine: null, lastEgfr: null, lastTsh: null });
    expect(f.vitals).toEqual({ lastBloodPressure: null });
  });
});

describe('last blood pressure', () => {
  test('the latest final panel with both numbers, with its Observation as evidence', () => {
    const f = factsOf({
      drug: 'losartan',
      bloodPressures: [
        { date: '2025-10-01', systolic: 150, diastolic: 95 },
        { date: '2026-03-01', systolic: 128, diastolic: 79 },
        { date: '2026-04-01', systolic: 131 },
        { date: '2026-05-01', systolic: 170, diastolic: 100, status: 'preliminary' },
        { date: '2026-07-01', systolic: 119, diastolic: 70 },
      ],
    });
    expect(f.vitals.lastBloodPressure).toEqual({
      date: '2026-03-01',
      systolic: 128,
      diastolic: 79,
      evidence: {
        resourceType: 'Observation',
        id: 'bp-2',
        date: '2026-03-01',
        value: '128/79',
        display: 'Blood pressure: 128/79 mm[Hg]',
      },
    });
  });

  test('components are found by code whatever their order; other codes are ignored', () => {
    const observations = [
      bp('a', '2026-01-01', [
        ['8462-4', 81],
        ['8480-6', 133],
      ]),
      {
        ...bp('b', '2026-02-01', [['8480-6', 120]]),
        code: { coding: [{ system: 'http://loinc.org', code: '29463-7' }] },
      },
      bp(
        'c',
        '2026-02-02',
        [
          ['8480-6', 140],
          ['8462-4', 90],
        ],
        'entered-in-error',
      ),
    ];
    expect(extractVitals(observations, '2026-06-15').lastBloodPressure).toMatchObject({
      date: '2026-01-01',
      systolic: 133,
      diastolic: 81,
      evidence: { id: 'a' },
    });
  });

  test('a panel read from a bundle with both components reaches the facts', () => {
    const bundle = withObservations(aRefillBundle({ drug: 'oralContraceptive' }), [
      bp('bp-x', '2026-05-20T10:00:00Z', [
        ['8480-6', 112],
        ['8462-4', 68],
      ]),
    ]);
    const f = extractRefillFacts(patientRecordFromBundle(bundle), { asOf: '2026-06-15' });
    expect(f.vitals.lastBloodPressure).toMatchObject({ date: '2026-05-20', systolic: 112, diastolic: 68 });
  });
});

describe('the facts schema grows without breaking recorded facts', () => {
  test('facts recorded before the new fields existed still parse, with the new fields null', () => {
    const f = factsOf({ drug: 'losartan', labs: [{ kind: 'potassium', date: '2026-01-10', value: 4 }] });
    const { vitals: _vitals, ...old } = f;
    const { lastPotassium: _k, lastCreatinine: _c, lastEgfr: _e, lastTsh: _t, ...oldLabs } = f.labs;
    const parsed = RefillFactsSchema.parse({ ...old, labs: oldLabs });
    expect(parsed.vitals).toEqual({ lastBloodPressure: null });
    expect(parsed.labs).toMatchObject({ lastPotassium: null, lastCreatinine: null, lastEgfr: null, lastTsh: null });
  });

  test('rules can name the new paths, and the resolver knows their kinds', () => {
    expect(resolveFactPath('vitals', '$.lastBloodPressure.systolic')).toMatchObject({ kind: 'number' });
    expect(resolveFactPath('vitals', '$.lastBloodPressure.date')).toMatchObject({ kind: 'date' });
    expect(resolveFactPath('labs', '$.lastEgfr.date')).toMatchObject({ kind: 'date' });
    expect(resolveFactPath('labs', '$.lastTsh.value')).toMatchObject({ kind: 'scalar' });
    expect(resolveFactPath('visits', '$.lastPcpRov.constructor')).toEqual({
      error: 'fact "visits" has no field "constructor" at $.lastPcpRov',
    });
    expect(resolveFactPath('vitals', '$.lastBloodPressure.pulse')).toEqual({
      error: 'fact "vitals" has no field "pulse" at $.lastBloodPressure',
    });
  });
});
