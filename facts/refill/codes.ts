import { CONDITIONS_VALUE_SET, LAB_PANELS_VALUE_SET, OFFICE_VISIT_VALUE_SET } from '../../rules/value-sets/index.ts';

/** Code systems and codes of this clinic's FHIR encoding (see docs/protocols/family-medicine-2015.md). */
export const SYSTEMS = {
  rxnorm: 'http://www.nlm.nih.gov/research/umls/rxnorm',
  loinc: 'http://loinc.org',
  snomed: 'http://snomed.info/sct',
  cpt: 'http://www.ama-assn.org/go/cpt',
  icd10: 'http://hl7.org/fhir/sid/icd-10-cm',
  v20360: 'http://terminology.hl7.org/CodeSystem/v2-0360',
  observationCategory: 'http://terminology.hl7.org/CodeSystem/observation-category',
  pharmacyType: 'urn:family-clinic:pharmacy-type',
  clinicLab: 'urn:family-clinic:lab',
  role: 'urn:family-clinic:role',
} as const;

const { pcpReturnVisit, ccnVisit } = OFFICE_VISIT_VALUE_SET.visits;
const { labs, vitals, drugLevels } = LAB_PANELS_VALUE_SET;
const codesOf = (types: readonly { system: string; code: string }[]): readonly { system: string; code: string }[] =>
  types.map(({ system, code }) => ({ system, code }));

/** A return office visit with the PCP (`rules/value-sets/office-visit.json`: CPT 99213 or SNOMED 390906007). */
export const ROV_TYPES = codesOf(pcpReturnVisit.types);
/** A Collaborative Care Nurse visit (`rules/value-sets/office-visit.json`: CPT 99211). */
export const CCN_VISIT_TYPES = codesOf(ccnVisit.types);

/** The clinician who must take part in each kind of visit: a v2-0360 qualification and this clinic's role. */
export const PCP_QUALIFICATION = pcpReturnVisit.clinician.qualification;
export const PCP_ROLE = pcpReturnVisit.clinician.role;
export const CCN_QUALIFICATION = ccnVisit.clinician.qualification;
export const CCN_ROLE = ccnVisit.clinician.role;

/** LOINC codes per lab the protocols look at, panels by panel code (`rules/value-sets/lab-panels.json`). */
export const LAB_CODES = {
  cbc: labs.cbc.loinc,
  cmp: labs.cmp.loinc,
  a1c: labs.a1c.loinc,
  lipidPanel: labs.lipidPanel.loinc,
  urineMicroalbumin: labs.urineMicroalbumin.loinc,
  potassium: labs.potassium.loinc,
  creatinine: labs.creatinine.loinc,
  egfr: labs.egfr.loinc,
  tsh: labs.tsh.loinc,
  sodium: labs.sodium.loinc,
  hcg: labs.hcg.loinc,
} as const;

/** LOINC codes of the blood pressure panel and its two components (`rules/value-sets/lab-panels.json`). */
export const VITAL_CODES = {
  bloodPressurePanel: vitals.bloodPressurePanel.loinc,
  systolic: vitals.systolic.loinc,
  diastolic: vitals.diastolic.loinc,
  bodyWeight: vitals.bodyWeight.loinc,
} as const;

/** LOINC of the smoking-status observation (`rules/value-sets/lab-panels.json` socialHistory). */
export const SMOKING_STATUS_LOINC = LAB_PANELS_VALUE_SET.socialHistory.smokingStatus.loinc;

/** LOINC codes of drug levels, by canonical ingredient (the clinic also codes `urn:family-clinic:lab#<drug>-level`). */
export const DRUG_LEVEL_LOINC: Readonly<Record<string, string>> = Object.fromEntries(
  drugLevels.map((d) => [d.loinc, d.ingredient]),
);

/** Asthma as a visit reason or diagnosis (`rules/value-sets/conditions.json`), or "asthma" in the text. */
export const ASTHMA: { readonly snomed: readonly string[]; readonly icd10Prefixes: readonly string[] } = {
  snomed: CONDITIONS_VALUE_SET.conditions.asthma.snomed,
  icd10Prefixes: CONDITIONS_VALUE_SET.conditions.asthma.icd10Prefixes,
};

/** Problem-list conditions by the name the facts give them (`rules/value-sets/conditions.json`). */
export const PROBLEM_CODES = {
  pregnancy: CONDITIONS_VALUE_SET.conditions.pregnancy,
  venous_thromboembolism: CONDITIONS_VALUE_SET.conditions.venous_thromboembolism,
  migraine_with_aura: CONDITIONS_VALUE_SET.conditions.migraine_with_aura,
  hypertension: CONDITIONS_VALUE_SET.conditions.hypertension,
} as const;
