// Extraction of the facts standard-chronic-care reads: potassium, creatinine, eGFR, TSH and the last blood pressure.
import type { Bundle, Observation } from '@medplum/fhirtypes';
import { describe, expect, test } from 'vitest';
import { extractRefillFacts, patientRecordFromBundle } from '../../../facts/refill/index.ts';
import { extractVitals } from '../../../facts/refill/vitals.ts';
import { ckdEpi2021, cockcroftGault } from '../../../facts/refill/kidney.ts';
import { strengthMg } from '../../../rules/drugs/classify.ts';
import { minimiseFacts } from '../../../rules/kinds/refill/minimise-facts.ts';
import { RefillFactsSchema } from '../../../rules/kinds/refill/facts.ts';
import { resolveFactPath } from '../../../rules/kinds/refill/facts.ts';
import { aRefillBundle, type ScenarioSpec } from '../../helpers/fhir-builders.ts';

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

describe('kidney function: the newest result, as an eGFR (issue 13)', () => {
  const labs = (list: ScenarioSpec['labs'], more: Partial<ScenarioSpec> = {}) =>
    factsOf({ drug: 'losartan', labs: list, ...more }).labs;

  test('CKD-EPI 2021 from creatinine, age and sex (Inker et al. 2021), rounded as labs report it', () => {
    expect(ckdEpi2021(0.7, 50, 'female')).toBe(105);
    expect(ckdEpi2021(1.0, 56, 'male')).toBe(88);
    expect(ckdEpi2021(2.4, 56, 'female')).toBe(23);
    expect(ckdEpi2021(1.0, 56, 'other')).toBeUndefined();
    expect(ckdEpi2021(1.0, 16, 'male')).toBeUndefined();
  });

  test('Cockcroft–Gault with actual weight, 0.85 for women', () => {
    expect(cockcroftGault(1.0, 82, 'male', 58)).toBe(46.7);
    expect(cockcroftGault(1.0, 72, 'female', 62)).toBe(49.8);
    expect(cockcroftGault(1.0, 72, 'female', undefined)).toBeUndefined();
  });

  test('a creatinine newer than the last eGFR is the current kidney function', () => {
    const l = labs(
      [
        { kind: 'egfr', date: '2025-09-01', value: 75 },
        { kind: 'creatinine', date: '2026-05-01', value: 2.4 },
      ],
      { sex: 'female' },
    );
    expect(l.kidneyFunction).toMatchObject({ id: 'obs-2', date: '2026-05-01', value: 23 });
    expect(l.lastEgfr).toMatchObject({ value: 75 });
  });

  test('without age or sex a newer creatinine is still current, with no value (no threshold passes)', () => {
    const l = labs([
      { kind: 'egfr', date: '2025-09-01', value: 75 },
      { kind: 'creatinine', date: '2026-05-01', value: 2.4 },
    ]);
    expect(l.kidneyFunction).toMatchObject({ id: 'obs-2', date: '2026-05-01' });
    expect(l.kidneyFunction).not.toHaveProperty('value');
  });

  test('the same day: a numeric report first, then the computed value, then a text report', () => {
    const numeric = labs(
      [
        { kind: 'creatinine', date: '2026-05-01', value: 1.0 },
        { kind: 'egfr', date: '2026-05-01', value: 70 },
      ],
      { sex: 'male' },
    );
    expect(numeric.kidneyFunction).toMatchObject({ id: 'obs-2', value: 70 });
    const text = labs(
      [
        { kind: 'creatinine', date: '2026-05-01', value: 1.0 },
        { kind: 'egfr', date: '2026-05-01', text: '>60' },
      ],
      { sex: 'male' },
    );
    expect(text.kidneyFunction).toMatchObject({ id: 'obs-1', value: 88 });
  });

  test('a newest text result is kept as text, never replaced by an older number', () => {
    const l = labs([
      { kind: 'egfr', date: '2026-01-10', value: 75 },
      { kind: 'egfr', date: '2026-05-01', text: '<15' },
      { kind: 'potassium', date: '2026-01-10', value: 4.2 },
      { kind: 'potassium', date: '2026-05-01', text: 'hemolysed' },
    ]);
    expect(l.lastEgfr).toMatchObject({ id: 'obs-2', value: '<15' });
    expect(l.kidneyFunction).toMatchObject({ id: 'obs-2', value: '<15' });
    expect(l.lastPotassium).toMatchObject({ id: 'obs-4', value: 'hemolysed' });
  });

  test('a creatinine in µmol/L is converted; creatinine clearance needs a weight', () => {
    const bundle = withObservations(aRefillBundle({ drug: 'apixaban', sex: 'male' }), [
      {
        resourceType: 'Observation',
        id: 'cr-si',
        status: 'final',
        category: [
          { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'laboratory' }] },
        ],
        code: { coding: [{ system: 'http://loinc.org', code: '2160-0' }] },
        effectiveDateTime: '2026-05-01',
        valueQuantity: { value: 88.42, unit: 'umol/L', code: 'umol/L' },
      },
    ]);
    const f = extractRefillFacts(patientRecordFromBundle(bundle), { asOf: '2026-06-15' });
    expect(f.labs.kidneyFunction).toMatchObject({ id: 'cr-si', value: 88 });
    expect(f.labs.creatinineClearance).toMatchObject({ id: 'cr-si' });
    expect(f.labs.creatinineClearance).not.toHaveProperty('value');
    const weighed = factsOf({
      drug: 'apixaban',
      sex: 'male',
      weights: [{ date: '2026-05-01', kg: 80 }],
      labs: [{ kind: 'creatinine', date: '2026-05-01', value: 1.0 }],
    });
    expect(weighed.labs.creatinineClearance).toMatchObject({ id: 'obs-1', date: '2026-05-01', value: 93.3 });
    expect(weighed.patient.weight).toMatchObject({ id: 'weight-1', value: 80 });
  });
});

describe('patient status (issue 13): sex, pregnancy, smoking, problems, strength', () => {
  test('sex from Patient.gender; null when not recorded', () => {
    expect(factsOf({ drug: 'losartan', sex: 'female' }).patient.sex).toBe('female');
    expect(factsOf({ drug: 'losartan' }).patient.sex).toBeNull();
  });

  test('pregnancy: an active Z33/O09 or SNOMED Condition, or a positive hCG within 9 months with no later negative', () => {
    const pregnant = (spec: Partial<ScenarioSpec>) => factsOf({ drug: 'losartan', ...spec }).patient.pregnancy.pregnant;
    expect(pregnant({ conditions: [{ kind: 'pregnancy' }] })).toBe(true);
    expect(pregnant({ conditions: [{ kind: 'pregnancy', coding: 'snomed' }] })).toBe(true);
    expect(pregnant({ conditions: [{ kind: 'pregnancy', status: 'resolved' }] })).toBe(false);
    expect(pregnant({ labs: [{ kind: 'hcg', date: '2026-05-20', result: 'positive' }] })).toBe(true);
    expect(pregnant({ labs: [{ kind: 'hcg', date: '2025-09-14', result: 'positive' }] })).toBe(false);
    expect(
      pregnant({
        labs: [
          { kind: 'hcg', date: '2026-03-01', result: 'positive' },
          { kind: 'hcg', date: '2026-05-01', result: 'negative' },
        ],
      }),
    ).toBe(false);
    expect(pregnant({})).toBe(false);
  });

  test('smoking status: the last 72166-2 answer; an unknown answer is no status', () => {
    const smoking = (list: ScenarioSpec['smoking']) =>
      factsOf({ drug: 'oralContraceptive', smoking: list }).patient.smoking;
    expect(
      smoking([
        { date: '2025-01-01', status: 'current' },
        { date: '2026-01-10', status: 'never' },
      ]),
    ).toMatchObject({ status: 'never', evidence: { id: 'smoking-2', date: '2026-01-10' } });
    expect(smoking([{ date: '2026-01-10', status: 'former' }]).status).toBe('former');
    expect(smoking([{ date: '2026-01-10', status: 'unknown' }]).status).toBeNull();
    expect(smoking([])).toEqual({ status: null, evidence: null });
  });

  test('problems: VTE counts even resolved; hypertension and migraine with aura only while active', () => {
    const codes = (conditions: ScenarioSpec['conditions']) =>
      factsOf({ drug: 'oralContraceptive', conditions }).patient.problems.codes;
    expect(codes([{ kind: 'vte', status: 'resolved' }])).toEqual(['venous_thromboembolism']);
    expect(codes([{ kind: 'hypertension', status: 'resolved' }])).toEqual([]);
    expect(codes([{ kind: 'migraine_with_aura' }, { kind: 'hypertension', coding: 'snomed' }])).toEqual([
      'migraine_with_aura',
      'hypertension',
    ]);
  });

  test('strength in mg of a single-ingredient product; unknown for combinations, concentrations and disagreements', () => {
    expect(strengthMg(['Apixaban 5 mg tablet', 'apixaban 5 MG Oral Tablet'], ['apixaban'])).toBe(5);
    expect(strengthMg(['Apixaban 2.5 mg tablet'], ['apixaban'])).toBe(2.5);
    expect(strengthMg(['Apixaban 5 mg tablet', 'apixaban 2.5 MG Oral Tablet'], ['apixaban'])).toBeNull();
    expect(strengthMg(['Apixaban tablet'], ['apixaban'])).toBeNull();
    expect(strengthMg(['Furosemide 10 mg/mL oral solution'], ['furosemide'])).toBeNull();
    expect(
      strengthMg(['Lisinopril 20 mg / hydrochlorothiazide 12.5 mg tablet'], ['hydrochlorothiazide', 'lisinopril']),
    ).toBeNull();
    expect(factsOf({ drug: 'apixaban' }).drug.strengthMg).toBe(5);
  });

  test('facts recorded before these fields existed parse, with "not read" defaults; snapshots drop their displays', () => {
    const f = factsOf({
      drug: 'losartan',
      sex: 'female',
      weights: [{ date: '2026-05-01', kg: 70 }],
      smoking: [{ date: '2026-01-10', status: 'never' }],
      conditions: [{ kind: 'pregnancy' }, { kind: 'hypertension' }],
    });
    const { sex: _s, weight: _w, pregnancy: _p, smoking: _k, problems: _r, ...oldPatient } = f.patient;
    const { strengthMg: _m, ...oldDrug } = f.drug;
    const { lastSodium: _n, kidneyFunction: _f, creatinineClearance: _c, ...oldLabs } = f.labs;
    const parsed = RefillFactsSchema.parse({ ...f, patient: oldPatient, drug: oldDrug, labs: oldLabs });
    expect(parsed.patient).toMatchObject({
      sex: null,
      weight: null,
      pregnancy: { pregnant: null, evidence: [] },
      smoking: { status: null, evidence: null },
      problems: { codes: [], evidence: [] },
    });
    expect(parsed.drug.strengthMg).toBeNull();
    const minimised = JSON.stringify(minimiseFacts(f));
    expect(minimised).not.toMatch(/"display"/);
    expect(minimiseFacts(f).patient.pregnancy.pregnant).toBe(true);
  });
});
