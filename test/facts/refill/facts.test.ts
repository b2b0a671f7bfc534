import { describe, expect, test } from 'vitest';
import type { Bundle, MedicationRequest, Resource } from '@medplum/fhirtypes';
import { extractRefillFacts, patientRecordFromBundle } from '../../../facts/refill/index.ts';
import { AppError } from '../../../rules/index.ts';
import { aRefillBundle, type ScenarioSpec } from '../../helpers/fhir-builders.ts';

const factsOf = (spec: ScenarioSpec, asOf = '2026-06-15') =>
  extractRefillFacts(patientRecordFromBundle(aRefillBundle(spec)), { asOf });

function invalid(bundle: unknown): AppError {
  try {
    patientRecordFromBundle(bundle);
  } catch (e) {
    if (e instanceof AppError) return e;
    throw e;
  }
  throw new Error('expected patientRecordFromBundle to throw');
}

const edit = (bundle: Bundle, id: string, change: (r: Resource & Record<string, unknown>) => void): Bundle => {
  const r = bundle.entry?.find((e) => e.resource?.id === id)?.resource;
  if (!r) throw new Error(`no ${id}`);
  change(r as Resource & Record<string, unknown>);
  return bundle;
};

describe('extractRefillFacts', () => {
  test('facts of a typical request', () => {
    const f = factsOf({
      drug: 'metformin',
      coding: 'scd',
      supplyDays: 90,
      pharmacy: 'mail-order',
      visits: [
        { kind: 'pcp', date: '2026-04-15' },
        { kind: 'ccn', date: '2026-05-20' },
      ],
      labs: [{ kind: 'a1c', date: '2026-05-01', value: 7.4 }],
    });
    expect(f.drug).toMatchObject({
      name: 'Metformin 500 mg tablet',
      rxnormCodes: ['861007'],
      ingredients: ['metformin'],
      classes: ['antidiabetic'],
      controlledSchedule: null,
      prn: false,
      evidence: { resourceType: 'MedicationRequest', id: 'refill-req' },
    });
    expect(f.request).toMatchObject({ pharmacyType: 'mail-order', supplyDays: 90 });
    expect(f.patient.ageYears).toBe(56);
    expect(f.therapy).toEqual({
      startDate: '2020-01-15',
      evidence: { resourceType: 'MedicationRequest', id: 'rx-current', date: '2020-01-15' },
    });
    expect(f.visits.lastPcpRov?.date).toBe('2026-04-15');
    expect(f.visits.lastCcnVisit).toMatchObject({ resourceType: 'Encounter', id: 'enc-2', date: '2026-05-20' });
    expect(f.labs.lastA1c).toMatchObject({ id: 'obs-1', date: '2026-05-01', value: 7.4 });
    expect(f.labs.lastLipidPanel).toBeNull();
  });

  test('events after asOf are not on file yet (simulation at an earlier date)', () => {
    const f = factsOf({ drug: 'omeprazole', visits: [{ kind: 'pcp', date: '2026-05-01' }] }, '2026-04-30');
    expect(f.visits.lastPcpRov).toBeNull();
  });

  test('therapy start is the earliest prescription of the ingredient, whatever the strength', () => {
    const f = factsOf({ drug: 'sertraline', therapyStart: '2019-03-01', priorAuthoredOn: '2026-05-01' });
    expect(f.therapy.startDate).toBe('2019-03-01');
  });

  test('a partial birth date gives the youngest possible age', () => {
    expect(factsOf({ drug: 'sertraline', birthDate: '2007' }).patient.ageYears).toBe(18);
    expect(factsOf({ drug: 'sertraline', birthDate: '2007-06' }).patient.ageYears).toBe(18);
    expect(factsOf({ drug: 'sertraline', birthDate: '2007-05' }).patient.ageYears).toBe(19);
  });

  test('PRN comes from dosageInstruction.asNeededBoolean', () => {
    expect(factsOf({ drug: 'albuterol', prn: true }).drug.prn).toBe(true);
    expect(factsOf({ drug: 'albuterol' }).drug.prn).toBe(false);
  });

  test('an antibiotic is dental prophylaxis only when its indication says so', () => {
    expect(
      factsOf({ drug: 'amoxicillin', reason: 'Dental prophylaxis before procedures' }).drug.antibioticIndication,
    ).toBe('dental_prophylaxis');
    expect(factsOf({ drug: 'amoxicillin', reason: 'Sinusitis' }).drug.antibioticIndication).toBe('other');
    expect(factsOf({ drug: 'amoxicillin' }).drug.antibioticIndication).toBeNull();
  });

  test('supply days fall back to the prescription being renewed', () => {
    const bundle = edit(aRefillBundle({ drug: 'omeprazole', supplyDays: 90 }), 'refill-req', (r) => {
      delete (r as MedicationRequest).dispenseRequest;
    });
    const f = extractRefillFacts(patientRecordFromBundle(bundle), { asOf: '2026-06-15' });
    expect(f.request.supplyDays).toBe(90);
    expect(f.request.evidence).toContainEqual({ resourceType: 'MedicationRequest', id: 'rx-current' });
  });

  test('a drug given by medicationReference is read from the Medication', () => {
    const bundle = aRefillBundle({ drug: 'omeprazole' });
    bundle.entry?.push({
      resource: { resourceType: 'Medication', id: 'med-1', code: { text: 'Pantoprazole 40 mg DR tablet' } },
    });
    edit(bundle, 'refill-req', (r) => {
      delete (r as MedicationRequest).medicationCodeableConcept;
      (r as MedicationRequest).medicationReference = { reference: 'Medication/med-1' };
    });
    const f = extractRefillFacts(patientRecordFromBundle(bundle), { asOf: '2026-06-15' });
    expect(f.drug.ingredients).toEqual(['pantoprazole']);
  });

  test('urn:uuid references are resolved through fullUrl', () => {
    const bundle = aRefillBundle({ drug: 'omeprazole', visits: [{ kind: 'pcp', date: '2026-03-01' }] });
    for (const e of bundle.entry ?? [])
      if (e.resource?.resourceType === 'Practitioner') e.fullUrl = `urn:uuid:${e.resource.id}`;
    edit(bundle, 'enc-1', (r) => {
      (r as { participant: unknown }).participant = [{ individual: { reference: 'urn:uuid:pcp-1' } }];
    });
    const f = extractRefillFacts(patientRecordFromBundle(bundle), { asOf: '2026-06-15' });
    expect(f.visits.lastPcpRov?.id).toBe('enc-1');
  });

  test('asOf must be a calendar date', () => {
    const record = patientRecordFromBundle(aRefillBundle({ drug: 'omeprazole' }));
    expect(() => extractRefillFacts(record, { asOf: '15/06/2026' })).toThrow(AppError);
  });
});

describe('patientRecordFromBundle', () => {
  test('collects the record around the one refill request', () => {
    const r = patientRecordFromBundle(
      aRefillBundle({ drug: 'omeprazole', visits: [{ kind: 'pcp', date: '2026-03-01' }] }),
    );
    expect(r.request.id).toBe('refill-req');
    expect(r.priorPrescription?.id).toBe('rx-current');
    expect(r.encounters).toHaveLength(1);
    expect(r.practitioners).toHaveLength(3);
  });

  test('not a Bundle', () => {
    expect(invalid({ resourceType: 'Patient' }).message).toMatch(/^\$\.resourceType: /);
    expect(invalid([]).code).toBe('INVALID_INPUT');
  });

  test('no refill request', () => {
    const bundle = edit(aRefillBundle({ drug: 'omeprazole' }), 'refill-req', (r) => {
      r.intent = 'order';
    });
    expect(invalid(bundle).message).toBe(
      '$.entry: no refill request (MedicationRequest with intent "proposal") in the bundle',
    );
  });

  test('two refill requests', () => {
    const bundle = aRefillBundle({ drug: 'omeprazole' });
    const req = bundle.entry?.find((e) => e.resource?.id === 'refill-req')?.resource;
    bundle.entry?.push({ resource: { ...(req as MedicationRequest), id: 'refill-req-2' } });
    expect(invalid(bundle).message).toMatch(/more than one refill request/);
  });

  test('a malformed resource is named by its JSON path', () => {
    const bundle = edit(
      aRefillBundle({ drug: 'omeprazole', visits: [{ kind: 'pcp', date: '2026-03-01' }] }),
      'enc-1',
      (r) => {
        delete r.status;
      },
    );
    const index = bundle.entry?.findIndex((e) => e.resource?.id === 'enc-1');
    expect(invalid(bundle).message).toBe(
      `$.entry[${index}].resource.status: Invalid input: expected string, received undefined`,
    );
  });

  test('a resource of another patient is refused', () => {
    const bundle = edit(
      aRefillBundle({ drug: 'omeprazole', visits: [{ kind: 'pcp', date: '2026-03-01' }] }),
      'enc-1',
      (r) => {
        r.subject = { reference: 'Patient/someone-else' };
      },
    );
    expect(invalid(bundle).message).toMatch(/\.resource\.subject\.reference: refers to Patient\/someone-else/);
  });
});
