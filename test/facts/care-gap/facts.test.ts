// FHIR → care-gap facts: the edge rules of crc-screening-2021.md "How this clinic's EHR records the data".
import type { Resource } from '@medplum/fhirtypes';
import { describe, expect, test } from 'vitest';
import {
  careGapFactsFromBundle,
  careGapFactsFromResources,
  careGapReads,
  MAX_CODES_PER_SEARCH,
} from '../../../facts/care-gap/index.ts';
import { AppError } from '../../../rules/errors.ts';
import {
  CARE_GAP_VALUE_SETS,
  careGapValueSetsWith,
  loadValueSetExpansion,
} from '../../../rules/kinds/care-gap/index.ts';
import {
  aColectomy,
  aColonoscopy,
  aCondition,
  aCtColonography,
  aHousingObservation,
  aMedicationRequest,
  aPatient,
  aScreeningOrder,
  aStoolTest,
  careGapBundle,
  PATIENT_ID,
} from '../../helpers/care-gap-builders.ts';

const AS_OF = '2026-06-15';
const facts = (...resources: Resource[]) => careGapFactsFromBundle(careGapBundle(...resources), { asOf: AS_OF });

describe('conditions', () => {
  test('entered-in-error and refuted never count, whatever the code', () => {
    const f = facts(
      aCondition('C18.7', { verificationStatus: 'entered-in-error' }),
      aCondition('K50.90', { verificationStatus: 'refuted' }),
      aCondition('R54', { verificationStatus: 'entered-in-error', onset: '2026-01-01' }),
      aCondition('Z51.5', { verificationStatus: 'refuted', onset: '2026-01-01' }),
    );
    expect(f.exclusions.colorectalCancer.present).toBe(false);
    expect(f.risk.inflammatoryBowelDisease.present).toBe(false);
    expect(f.exclusions.frailty.present).toBe(false);
    expect(f.exclusions.palliativeCare.present).toBe(false);
  });

  test('colorectal cancer counts in any clinical status (even none recorded); IBD, polyps, symptoms only when active', () => {
    const f = facts(
      aCondition('C18.7', { clinicalStatus: 'resolved' }),
      aCondition('C21.8', { clinicalStatus: null }),
      aCondition('K51.90', { clinicalStatus: 'resolved' }),
      aCondition('Z86.0100', { clinicalStatus: 'inactive' }),
      aCondition('K62.5', { clinicalStatus: 'remission', onset: '2026-06-01' }),
    );
    expect(f.exclusions.colorectalCancer.evidence.map((e) => e.value)).toEqual(['C18.7', 'C21.8']);
    expect(f.risk.inflammatoryBowelDisease.present).toBe(false);
    expect(f.risk.colonicPolypsHistory.present).toBe(false);
    expect(f.risk.lowerGiSymptoms.present).toBe(false);
  });

  test('an active problem may be recurrence or relapse (FHIR active specialisations)', () => {
    const f = facts(aCondition('K50.10', { clinicalStatus: 'recurrence' }));
    expect(f.risk.inflammatoryBowelDisease.present).toBe(true);
  });

  test('the date is onsetDateTime, else recordedDate; the latest wins; future-dated is ignored', () => {
    const f = facts(
      aCondition('R54', { onset: '2025-01-01', recorded: '2026-01-01' }),
      aCondition('R26.81', { recorded: '2025-09-01' }),
      aCondition('Z99.3', { onset: '2026-07-01' }),
    );
    expect(f.exclusions.frailty.lastDate).toBe('2025-09-01');
    expect(f.exclusions.frailty.evidence).toHaveLength(2);
  });

  test('ICD-10-CM prefixes: C18.* and C79.3* match their children, not their neighbours; dots optional', () => {
    const f = facts(aCondition('C79.31', { onset: '2026-01-01' }), aCondition('C794', { onset: '2026-01-01' }));
    expect(f.exclusions.advancedIllness.evidence.map((e) => e.value)).toEqual(['C79.31']);
    expect(facts(aCondition('C187')).exclusions.colorectalCancer.present).toBe(true);
    expect(facts(aCondition('C17.9')).exclusions.colorectalCancer.present).toBe(false);
    expect(facts(aCondition('N18.4', { onset: '2026-01-01' })).exclusions.advancedIllness.present).toBe(false);
  });
});

describe('tests', () => {
  test('a stool test without a result counts for nothing, not even as "a result" for an order', () => {
    const f = facts(aStoolTest('fit', '2026-01-01', { result: null }));
    expect(f.tests).toMatchObject({ lastNegativeFit: null, lastPositiveFit: null, lastResult: null });
  });

  test('positive by interpretation POS or A or value 10828004; negative by NEG or N or 260385009', () => {
    for (const via of ['interpretation', 'interpretation-a-n', 'value'] as const) {
      expect(facts(aStoolTest('fit', '2026-01-01', { result: 'positive', via })).tests.lastPositiveFit?.value).toBe(
        'positive',
      );
      expect(facts(aStoolTest('sdna', '2026-01-01', { result: 'negative', via })).tests.lastNegativeSdna?.value).toBe(
        'negative',
      );
    }
  });

  test('results must be final, amended or corrected; endoscopies completed', () => {
    const f = facts(
      aStoolTest('fit', '2026-01-01', { status: 'preliminary' }),
      aStoolTest('fit', '2026-02-01', { status: 'entered-in-error' }),
      aCtColonography('2026-01-01', { status: 'registered' }),
      aColonoscopy('2026-01-01', { status: 'entered-in-error' }),
    );
    expect(f.tests.lastNegativeFit).toBeNull();
    expect(f.tests.lastCtColonography).toBeNull();
    expect(f.tests.lastColonoscopy).toBeNull();
    expect(facts(aStoolTest('fit', '2026-02-01', { status: 'corrected' })).tests.lastNegativeFit?.date).toBe(
      '2026-02-01',
    );
  });

  test('the latest of each kind, and lastResult the latest of all', () => {
    const f = facts(aColonoscopy('2019-01-01'), aColonoscopy('2021-03-04'), aStoolTest('fit', '2025-12-01'));
    expect(f.tests.lastColonoscopy?.date).toBe('2021-03-04');
    expect(f.tests.lastResult?.date).toBe('2025-12-01');
  });

  test('a colectomy counts undated (ever); an undated colonoscopy does not (no window can hold it)', () => {
    const f = facts(aColectomy(), aColonoscopy(undefined as unknown as string));
    expect(f.exclusions.totalColectomy.present).toBe(true);
    expect(f.tests.lastColonoscopy).toBeNull();
  });
});

describe('housing, medications, orders', () => {
  test('the latest housing observation wins, whatever the order in the record', () => {
    expect(
      facts(aHousingObservation('2026-01-01', false), aHousingObservation('2025-01-01', true)).exclusions.housing
        .status,
    ).toBe('other');
    expect(
      facts(aHousingObservation('2025-01-01', false), aHousingObservation('2026-01-01', true)).exclusions.housing
        .status,
    ).toBe('nursing_home');
  });

  test('dementia medication: active, by RxNorm ingredient code or the ingredient in the product text', () => {
    expect(facts(aMedicationRequest({ rxnorm: '183379' })).exclusions.dementiaMedication.present).toBe(true);
    expect(
      facts(aMedicationRequest({ text: 'Galantamine ER 8 mg capsule' })).exclusions.dementiaMedication.present,
    ).toBe(true);
    expect(
      facts(aMedicationRequest({ rxnorm: '135447', status: 'completed' })).exclusions.dementiaMedication.present,
    ).toBe(false);
    expect(facts(aMedicationRequest({ text: 'Metformin 500 mg' })).exclusions.dementiaMedication.present).toBe(false);
  });

  test('screening orders: the latest open (draft/active/on-hold) and the latest active (active/on-hold)', () => {
    const f = facts(
      aScreeningOrder('active', '2026-01-01', { id: 'a' }),
      aScreeningOrder('draft', '2026-05-01', { id: 'd' }),
      aScreeningOrder('revoked', '2026-06-01', { id: 'r' }),
      aScreeningOrder('active', undefined, { id: 'undated' }),
      aScreeningOrder('active', '2026-06-01', { id: 'other-test', code: '2345-7' }),
    );
    expect(f.orders.latestOpen).toMatchObject({ id: 'd', date: '2026-05-01', value: 'draft' });
    expect(f.orders.latestActive).toMatchObject({ id: 'a', date: '2026-01-01', value: 'active' });
  });
});

describe('reachability', () => {
  test('no address with a line and a city and no phone → not reachable', () => {
    expect(facts(aPatient({ address: { city: 'Springfield' }, phone: false })).patient).toMatchObject({
      postalAddress: false,
      phone: false,
    });
    expect(facts(aPatient({ address: { line: ['1 Main St'] }, phone: false })).patient.postalAddress).toBe(false);
    expect(facts(aPatient({ address: { line: ['  '], city: 'X' }, phone: false })).patient.postalAddress).toBe(false);
    expect(facts(aPatient({ address: { line: ['1 Main'], city: 'X', use: 'old' } })).patient.postalAddress).toBe(false);
    expect(facts(aPatient({ address: false, phone: { system: 'email', value: 'a@b' } })).patient.phone).toBe(false);
    expect(facts(aPatient()).patient).toMatchObject({ postalAddress: true, phone: true });
  });
});

describe('age and the patient', () => {
  test('whole years at asOf; a partial, impossible, future or missing birth date gives null', () => {
    expect(facts(aPatient({ birthDate: '1981-06-15' })).patient.ageYears).toBe(45);
    expect(facts(aPatient({ birthDate: '1981-06-16' })).patient.ageYears).toBe(44);
    expect(facts(aPatient({ birthDate: '1981-06' })).patient).toMatchObject({ ageYears: null });
    expect(facts(aPatient({ birthDate: null })).patient.ageYears).toBeNull();
    expect(facts(aPatient({ birthDate: '1966-02-30' })).patient.ageYears).toBeNull();
    expect(facts(aPatient({ birthDate: '2030-01-01' })).patient.ageYears).toBeNull();
  });
});

describe('careGapFactsFromResources (the worker path)', () => {
  test('ignores resources about another patient', () => {
    const f = careGapFactsFromResources(
      [aPatient(), aCondition('C18.7', { patientId: 'someone-else' })],
      PATIENT_ID,
      AS_OF,
    );
    expect(f.exclusions.colorectalCancer.present).toBe(false);
  });

  test('a clinic-loaded value-set expansion adds codes (a VSAC export)', () => {
    const expanded = loadValueSetExpansion('colonoscopy', {
      resourceType: 'ValueSet',
      url: 'http://cts.nlm.nih.gov/fhir/ValueSet/2.16.840.1.113883.3.464.1003.108.12.1020',
      version: '20240101',
      expansion: { contains: [{ system: 'http://snomed.info/sct', code: '446521004' }] },
    });
    const colonoscopy = {
      ...aColonoscopy('2024-01-01'),
      code: { coding: [{ system: 'http://snomed.info/sct', code: '446521004' }] },
    } as Resource;
    expect(careGapFactsFromResources([aPatient(), colonoscopy], PATIENT_ID, AS_OF).tests.lastColonoscopy).toBeNull();
    expect(
      careGapFactsFromResources([aPatient(), colonoscopy], PATIENT_ID, AS_OF, {
        valueSets: { colonoscopy: expanded },
      }).tests.lastColonoscopy?.date,
    ).toBe('2024-01-01');
  });
});

describe('careGapFactsFromBundle', () => {
  const two = {
    resourceType: 'Bundle',
    type: 'collection',
    entry: [{ resource: aPatient({ id: 'a' }) }, { resource: aPatient({ id: 'b' }) }],
  };
  const code = (f: () => unknown): string => {
    try {
      f();
    } catch (e) {
      return e instanceof AppError ? `${e.code} ${e.message}` : String(e);
    }
    return 'no error';
  };
  test('bad input is INVALID_INPUT with a JSON path', () => {
    expect(code(() => careGapFactsFromBundle({ resourceType: 'Patient' }))).toMatch(/^INVALID_INPUT \$\.resourceType/);
    expect(code(() => careGapFactsFromBundle(two, { asOf: AS_OF }))).toBe(
      'INVALID_INPUT $.entry: the bundle holds 2 patients: say which with a patient id',
    );
    expect(code(() => careGapFactsFromBundle(two, { asOf: AS_OF, patientId: 'c' }))).toBe(
      'INVALID_INPUT $.entry: no Patient with id "c" in the bundle',
    );
    expect(code(() => careGapFactsFromBundle(careGapBundle(), { asOf: '2026-13-01' }))).toMatch(/asOf must be a date/);
  });
  test('a field the extraction reads, of the wrong FHIR type, is refused with its JSON path', () => {
    const bad = careGapBundle(aColonoscopy('2024-01-01'));
    (bad.entry![1]!.resource as unknown as { code: unknown }).code = { coding: 'CPT 45378' };
    expect(code(() => careGapFactsFromBundle(bad, { asOf: AS_OF }))).toMatch(
      /^INVALID_INPUT \$\.entry\[1\]\.resource\.code\.coding: /,
    );
  });

  test('junk in any field never crashes: facts or INVALID_INPUT', () => {
    const junk: unknown[] = [42, 'x', null, true, [], {}, [1], { coding: 7 }, '2026-13-45', { reference: 3 }];
    const record = careGapBundle(
      aPatient(),
      aCondition('C18.7', { onset: '2020-01-01' }),
      aColonoscopy('2024-01-01'),
      aStoolTest('fit', '2026-01-01', { result: 'positive', via: 'value' }),
      aHousingObservation('2026-01-01', true),
      aMedicationRequest({ rxnorm: '135447' }),
      aScreeningOrder('active', '2026-01-01'),
    );
    let outcomes = 0;
    record.entry!.forEach((entry, i) => {
      for (const field of Object.keys(entry.resource!)) {
        if (field === 'resourceType' || field === 'id') continue;
        for (const value of junk) {
          const copy = structuredClone(record);
          (copy.entry![i]!.resource as unknown as Record<string, unknown>)[field] = value;
          try {
            careGapFactsFromBundle(copy, { asOf: AS_OF });
          } catch (e) {
            expect(e).toBeInstanceOf(AppError);
            expect((e as AppError).code).toBe('INVALID_INPUT');
          }
          outcomes++;
        }
      }
    });
    expect(outcomes).toBeGreaterThan(300);
  });

  test('with several patients, the chosen one', () => {
    expect(careGapFactsFromBundle(two, { asOf: AS_OF, patientId: 'b' }).patient.evidence).toEqual({
      resourceType: 'Patient',
      id: 'b',
    });
  });
});

describe('careGapReads', () => {
  test('the Patient by _id and one search per resource type, all scoped to the patient', () => {
    const reads = careGapReads('p-9');
    expect(reads.map((r) => r.resourceType)).toEqual([
      'Patient',
      'Condition',
      'Procedure',
      'Observation',
      'DiagnosticReport',
      'Encounter',
      'MedicationRequest',
      'ServiceRequest',
    ]);
    expect(reads[0]?.params).toEqual({ _id: 'p-9' });
    expect(reads.slice(1).every((r) => r.params.patient === 'p-9')).toBe(true);
    expect(reads[3]?.params.code).toContain('http://loinc.org|29771-3');
    expect(reads[3]?.params.code).toContain('http://loinc.org|71802-3');
  });

  test('a large expansion of a long code system splits into searches whose query stays under 2,048 characters', () => {
    // 250 codes of a 60-character system: 100 per search would make a ~10 KB URL, which HAPI refuses (414).
    const system = `urn:example:${'long-code-system-'.repeat(3)}observations`;
    const codes = Array.from({ length: 250 }, (_, i) => ({ system, code: `X${String(i).padStart(5, '0')}` }));
    const sets = careGapValueSetsWith([{ valueSetId: 'fit-fobt', expansion: { source: 'test|1', codes } }]);
    const observations = careGapReads('p-9', sets).filter((r) => r.resourceType === 'Observation');
    const all = observations.flatMap((r) => r.params.code!.split(','));
    expect(all).toHaveLength(new Set(all).size);
    expect(all).toEqual(expect.arrayContaining(codes.map((c) => `${c.system}|${c.code}`)));
    expect(all).toHaveLength(250 + careGapReads('p-9')[3]!.params.code!.split(',').length);
    expect(observations.length).toBeGreaterThan(3); // not 100 per search: the length bound cut first
    for (const r of observations) {
      expect(new URLSearchParams(r.params).toString().length).toBeLessThan(2048);
      expect(r.params.code!.split(',').length).toBeLessThanOrEqual(MAX_CODES_PER_SEARCH);
    }
    // Short codes still go 100 to a search.
    const short = Array.from({ length: 250 }, (_, i) => ({ system: 'urn:x', code: String(i) }));
    const few = careGapReads(
      'p-9',
      careGapValueSetsWith([{ valueSetId: 'hospice', expansion: { source: 's', codes: short } }]),
    );
    const sizes = few.filter((r) => r.resourceType === 'Observation').map((r) => r.params.code!.split(',').length);
    expect(sizes.filter((n) => n === MAX_CODES_PER_SEARCH)).toHaveLength(2);
    expect(sizes.reduce((x, y) => x + y)).toBe(250 + careGapReads('p-9')[3]!.params.code!.split(',').length);
  });
});

describe('value sets', () => {
  test('every entry has a source; code ranges are expanded explicitly; no CPT descriptors', () => {
    for (const vs of Object.values(CARE_GAP_VALUE_SETS)) {
      for (const e of vs.entries) {
        expect(e.source.length).toBeGreaterThan(3);
        if (e.system === 'http://www.ama-assn.org/go/cpt') expect(e.display).toBeUndefined();
      }
    }
    const cpt = (id: keyof typeof CARE_GAP_VALUE_SETS) =>
      CARE_GAP_VALUE_SETS[id].entries.filter((e) => e.system.endsWith('/cpt')).map((e) => e.code);
    expect(cpt('colonoscopy')).toHaveLength(29);
    expect(cpt('colonoscopy')).toEqual(expect.arrayContaining(['44388', '44392', '44408', '45393', '45398']));
    expect(cpt('colonoscopy')).not.toContain('45383');
    expect(cpt('colonoscopy')).not.toContain('45387');
    expect(cpt('flexible-sigmoidoscopy')).toEqual([
      '45330',
      '45331',
      '45332',
      '45333',
      '45334',
      '45335',
      '45337',
      '45338',
      '45340',
      '45341',
      '45342',
      '45346',
      '45347',
      '45349',
      '45350',
    ]);
    expect(cpt('total-colectomy')).toEqual([
      '44150',
      '44151',
      '44152',
      '44153',
      '44155',
      '44156',
      '44157',
      '44158',
      '44210',
      '44211',
      '44212',
    ]);
  });

  test('loadValueSetExpansion reads expansion.contains (nested) and compose.include.concept, and merges', () => {
    const merged = loadValueSetExpansion('frailty', {
      resourceType: 'ValueSet',
      id: 'frailty-device',
      expansion: {
        contains: [
          { system: 'http://hl7.org/fhir/sid/icd-10-cm', code: 'R54' },
          {
            abstract: true,
            code: 'group',
            contains: [{ system: 'urn:oid:2.16.840.1.113883.6.96', code: '248279007' }],
          },
        ],
      },
      compose: {
        include: [{ system: 'http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets', concept: [{ code: 'E0100' }] }],
      },
    });
    const base = CARE_GAP_VALUE_SETS.frailty.entries.length;
    expect(merged.entries).toHaveLength(base + 2);
    expect(merged.entries.slice(base)).toEqual([
      {
        system: 'urn:oid:2.16.840.1.113883.6.96',
        code: '248279007',
        source: 'ValueSet/frailty-device (loaded expansion)',
      },
      {
        system: 'http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets',
        code: 'E0100',
        source: 'ValueSet/frailty-device (loaded expansion)',
      },
    ]);
  });

  test('loadValueSetExpansion refuses what it cannot load, with a JSON path', () => {
    const err = (id: string, vs: unknown): string => {
      try {
        loadValueSetExpansion(id, vs);
      } catch (e) {
        return (e as AppError).message;
      }
      return 'no error';
    };
    expect(err('nope', { resourceType: 'ValueSet' })).toMatch(/^\$: unknown value set "nope"/);
    expect(err('frailty', { resourceType: 'Bundle' })).toMatch(/^\$\.resourceType/);
    expect(err('frailty', { resourceType: 'ValueSet', expansion: { contains: [{ code: 'R54' }] } })).toBe(
      '$.expansion.contains[0].system: a code needs its system',
    );
    expect(
      err('frailty', {
        resourceType: 'ValueSet',
        compose: {
          include: [{ system: 'http://snomed.info/sct', filter: [{ property: 'concept', op: 'is-a', value: '1' }] }],
        },
      }),
    ).toBe('$.compose.include[0]: a filter or valueSet include cannot be expanded here: load the expansion');
    expect(err('frailty', { resourceType: 'ValueSet' })).toBe(
      '$: the ValueSet holds no codes (expansion.contains or compose.include.concept)',
    );
  });
});
