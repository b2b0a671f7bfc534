// The generator's expected outcomes must follow from the FHIR it writes, not just from the scenario's intent.
// This test reads each generated record back the way the protocol page encodes it (family-medicine-2015.md,
// "How this clinic's EHR records the data" and "Date rules") and applies the clauses; any scenario whose data
// drifted (a background visit leaking into a window, a lab on the wrong side of an edge, a month-end clamp) fails.
// It is a test oracle for the generator, not the product's evaluator (that lives in rules/ and is written separately).
import { differenceInYears, parseISO, subMonths } from 'date-fns';
import type {
  AllergyIntolerance,
  Encounter,
  Medication,
  MedicationRequest,
  Observation,
  Patient,
  Practitioner,
  Resource,
} from '@medplum/fhirtypes';
import { describe, expect, test } from 'vitest';
import {
  CLINIC_LAB,
  CPT,
  DRUGS,
  LOINC,
  ROLE_URL,
  RXNORM,
  SNOMED,
  type DrugDef,
} from '../../sandbox/synthetic/catalog.ts';
import { generateClinic, type RefillScenario } from '../../sandbox/synthetic/index.ts';

type Outcome = Pick<RefillScenario, 'expectedDisposition' | 'expectedFailed'>;
const drugs: DrugDef[] = Object.values(DRUGS);

function oracle(resources: readonly Resource[], refill: RefillScenario, asOfText: string): Outcome {
  const asOf = parseISO(asOfText);
  const get = <T extends Resource>(reference: string | undefined) =>
    resources.find((r) => `${r.resourceType}/${r.id ?? ''}` === reference) as T | undefined;
  const subject = `Patient/${refill.patientId}`;
  const mine = <T extends Resource>(type: T['resourceType']) =>
    resources.filter(
      (r) =>
        r.resourceType === type &&
        ((r as { subject?: { reference?: string } }).subject?.reference === subject ||
          (r as { patient?: { reference?: string } }).patient?.reference === subject),
    ) as T[];
  const day = (s: string | undefined) => (s ?? '').slice(0, 10);
  // "Within N months": on or after asOf − N calendar months (subMonths clamps the day); compare local calendar dates.
  const edge = (months: number) => {
    const d = subMonths(asOf, months);
    return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
  };
  const inWindow = (date: string | undefined, months: number) => !!date && day(date) >= edge(months);
  const latest = (dates: (string | undefined)[]) => dates.map(day).filter(Boolean).sort().at(-1);

  const request = get<MedicationRequest>(`MedicationRequest/${refill.medicationRequestId}`);
  if (!request) throw new Error('refill request missing');
  const prior = get<MedicationRequest>(request.priorPrescription?.reference);
  const patient = get<Patient>(subject);
  const code = (mr: MedicationRequest) =>
    mr.medicationCodeableConcept ?? get<Medication>(mr.medicationReference?.reference)?.code;
  const drugOf = (mr: MedicationRequest): DrugDef | undefined => {
    const cc = code(mr);
    const rx = cc?.coding?.find((c) => c.system === RXNORM)?.code;
    return drugs.find(
      (d) =>
        d.products.some((p) => p.scd?.code === rx && p.text === cc?.text) ||
        (d.rxnorm === rx && d.products.some((p) => p.text === cc?.text)),
    );
  };
  const drug = drugOf(request);
  if (!drug || !prior || !patient) throw new Error(`unreadable record for ${refill.medicationRequestId}`);
  const text = code(request)?.text ?? '';

  // Routing first (AC-2, AC-3, DM-4), then the G-1 catch-alls, then the class criteria.
  if (drug.drugClass === 'clopidogrel')
    return { expectedDisposition: 'doctor_review', expectedFailed: ['clopidogrel_provider_each_time'] };
  if (drug.drugClass === 'warfarin')
    return { expectedDisposition: 'nurse_review', expectedFailed: ['warfarin_to_protime_nurse'] };
  if (/U-500/.test(text)) return { expectedDisposition: 'doctor_review', expectedFailed: ['u500_to_endocrinology'] };
  const dental = (request.reasonCode ?? []).some((r) => /dental/i.test(r.text ?? ''));
  if (
    drug.drugClass === 'not_in_protocol' ||
    drug.drugClass === 'controlled_substance' ||
    (drug.drugClass === 'antibiotic' && !dental)
  ) {
    return { expectedDisposition: 'doctor_review', expectedFailed: ['medication_not_in_protocol'] };
  }
  const allergic = mine<AllergyIntolerance>('AllergyIntolerance').some(
    (a) =>
      a.clinicalStatus?.coding?.[0]?.code === 'active' &&
      a.code?.coding?.some((c) => c.system === RXNORM && c.code === drug.rxnorm),
  );
  if (allergic) return { expectedDisposition: 'doctor_review', expectedFailed: ['active_allergy_to_requested_drug'] };
  if (prior.status !== 'active')
    return { expectedDisposition: 'doctor_review', expectedFailed: ['medication_not_active'] };
  const age = differenceInYears(asOf, parseISO(patient.birthDate ?? ''));
  if (drug.drugClass === 'antidepressant' && age <= 18)
    return { expectedDisposition: 'doctor_review', expectedFailed: ['age_over_18'] };

  const role = (p: Practitioner | undefined) => p?.extension?.find((e) => e.url === ROLE_URL)?.valueCode;
  const visits = (cpt: string, who: string, reason?: string) =>
    mine<Encounter>('Encounter').filter(
      (e) =>
        e.status === 'finished' &&
        e.class?.code === 'AMB' &&
        e.type?.some((t) => t.coding?.some((c) => c.system === CPT && c.code === cpt)) &&
        e.participant?.some((p) => role(get<Practitioner>(p.individual?.reference)) === who) &&
        (reason === undefined ||
          e.reasonCode?.some((r) => r.coding?.some((c) => c.system === SNOMED && c.code === reason))),
    );
  const lastRov = latest(visits('99213', 'primary-care-physician').map((e) => e.period?.start));
  const lastAsthmaRov = latest(visits('99213', 'primary-care-physician', '195967001').map((e) => e.period?.start));
  const lastCcn = latest(visits('99211', 'collaborative-care-nurse').map((e) => e.period?.start));
  const labs = mine<Observation>('Observation').filter((o) => o.status === 'final');
  const lastLab = (system: string, c: string) =>
    labs
      .filter((o) => o.code?.coding?.some((x) => x.system === system && x.code === c))
      .sort((a, b) => (a.effectiveDateTime ?? '').localeCompare(b.effectiveDateTime ?? ''))
      .at(-1);
  const ingredientOrders = mine<MedicationRequest>('MedicationRequest').filter(
    (m) => drugOf(m)?.rxnorm === drug.rxnorm,
  );
  const therapyStart = ingredientOrders.map((m) => day(m.authoredOn)).sort()[0];

  const failed: string[] = [];
  switch (drug.drugClass) {
    case 'antacid_reflux':
    case 'antiviral_hsv':
    case 'arthritis_nsaid_allopurinol_b12':
      if (!inWindow(lastRov, 18)) failed.push('visit_within_18mo');
      break;
    case 'dabigatran':
      if (!inWindow(lastRov, 12)) failed.push('office_visit_within_12mo');
      break;
    case 'anticonvulsant_with_level':
    case 'neuro_psych_without_level':
      if (!inWindow(lastRov, 12)) failed.push('visit_within_12mo');
      if (!inWindow(lastLab(LOINC, '58410-2')?.effectiveDateTime, 12)) failed.push('cbc_within_12mo');
      if (!inWindow(lastLab(LOINC, '24323-8')?.effectiveDateTime, 12)) failed.push('cmp_within_12mo');
      if (drug.level && !inWindow(lastLab(CLINIC_LAB, `${drug.level}-level`)?.effectiveDateTime, 12))
        failed.push('drug_level_within_12mo');
      break;
    case 'antidepressant':
      if (inWindow(therapyStart, 6)) failed.push('no_refill_within_6mo_of_start');
      if (!inWindow(lastRov, 12)) failed.push('visit_within_12mo');
      break;
    case 'asthma_routine_inhaler':
      if (!inWindow(lastAsthmaRov, 12)) failed.push('visit_within_12mo_for_asthma');
      break;
    case 'bladder':
      if (!inWindow(lastRov, 12)) failed.push('visit_within_12mo');
      break;
    case 'diabetes': {
      if (!inWindow(lastRov, 12) && !inWindow(lastCcn, 6)) failed.push('pcp_visit_12mo_or_ccn_visit_6mo');
      const a1c = lastLab(LOINC, '4548-4')?.valueQuantity?.value;
      if (failed.length === 0 && a1c === 7)
        return { expectedDisposition: 'doctor_review', expectedFailed: ['a1c_order_cadence_undefined'] };
      break;
    }
    case 'asthma_prn_inhaler':
    case 'allergy_epipen_dental':
    case 'antibiotic':
      break;
    case 'insulin_u500':
      throw new Error('a U-500 product must say "U-500" in its text');
  }
  if (drug.drugClass === 'asthma_prn_inhaler' && request.dosageInstruction?.[0]?.asNeededBoolean !== true) {
    throw new Error('a rescue inhaler must be marked as needed');
  }
  return failed.length
    ? { expectedDisposition: 'needs_visit', expectedFailed: failed }
    : { expectedDisposition: 'approve', expectedFailed: [] };
}

describe('expected outcomes follow from the generated FHIR', () => {
  // Month ends exercise the clamped windows: 2026-08-31 − 6 months = 2026-02-28; 2028-02-29 is a leap day.
  test.each([
    [11, '2026-06-15'],
    [12, '2026-08-31'],
    [13, '2028-02-29'],
    [14, '2027-03-31'],
    [15, '2026-12-31'],
  ])('seed %i, asOf %s: every refill request', (seed, asOf) => {
    const { resources, refillRequests } = generateClinic({ seed, patients: 250, asOf });
    const mismatches = refillRequests
      .map((refill) => ({ refill, got: oracle(resources, refill, asOf) }))
      .filter(
        ({ refill, got }) =>
          got.expectedDisposition !== refill.expectedDisposition ||
          got.expectedFailed.join() !== refill.expectedFailed.join(),
      )
      .map(
        ({ refill, got }) =>
          `${refill.medicationRequestId} ${refill.scenario}: expected ${refill.expectedDisposition} [${refill.expectedFailed.join()}], data says ${got.expectedDisposition} [${got.expectedFailed.join()}]`,
      );
    expect(mismatches).toEqual([]);
  });
});
