/** Code systems and codes of this clinic's FHIR encoding (see /work/shared/protocols/family-medicine-2015.md). */
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

/** A return office visit with the PCP: CPT 99213 or SNOMED 390906007 (follow-up encounter). */
export const ROV_TYPES = [
  { system: SYSTEMS.cpt, code: '99213' },
  { system: SYSTEMS.snomed, code: '390906007' },
] as const;
/** A Collaborative Care Nurse visit: CPT 99211. */
export const CCN_VISIT_TYPES = [{ system: SYSTEMS.cpt, code: '99211' }] as const;

export const PCP_ROLE = 'primary-care-physician';
export const CCN_ROLE = 'collaborative-care-nurse';

/** LOINC codes per lab the protocols look at (panels by panel code). */
export const LAB_CODES = {
  cbc: ['58410-2', '57021-8'],
  cmp: ['24323-8'],
  a1c: ['4548-4', '17856-6'],
  lipidPanel: ['57698-3', '24331-1'],
  urineMicroalbumin: ['14959-1', '14957-5', '9318-7', '32294-1'],
  potassium: ['2823-3', '6298-4'],
  creatinine: ['2160-0'],
  egfr: ['33914-3', '48642-3', '62238-1', '98979-8'],
  tsh: ['3016-3', '11580-8'],
} as const;

/** LOINC codes of the vital signs the protocols look at: the blood pressure panel and its two components. */
export const VITAL_CODES = {
  bloodPressurePanel: ['85354-9'],
  systolic: ['8480-6'],
  diastolic: ['8462-4'],
} as const;

/** LOINC codes of drug levels, by canonical ingredient (the clinic also codes `urn:family-clinic:lab#<drug>-level`). */
export const DRUG_LEVEL_LOINC: Readonly<Record<string, string>> = {
  '4086-5': 'valproate',
  '3432-2': 'carbamazepine',
  '3968-5': 'phenytoin',
};

/** Asthma as a visit reason or diagnosis: SNOMED 195967001, ICD-10-CM J45.*, or "asthma" in the text. */
export const ASTHMA = { snomed: ['195967001'], icd10Prefix: 'J45' } as const;
