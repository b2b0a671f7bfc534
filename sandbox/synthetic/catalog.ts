/**
 * Code tables for the synthetic clinic: drugs (RxNorm), conditions (SNOMED CT + ICD-10-CM), labs and vitals (LOINC),
 * people and places. Everything here is invented or public terminology; there is no patient data.
 *
 * RxNorm codes used (checked from memory of RxNorm / Synthea modules / eCQM value sets; there is no RxNav access
 * from this machine, so treat them as "plausible, spot-checked", not as an authoritative mapping):
 *
 * | ingredient (IN)          | IN code | SCD codes used                                                    |
 * |--------------------------|---------|-------------------------------------------------------------------|
 * | omeprazole               | 7646    | —                                                                 |
 * | pantoprazole             | 40790   | —                                                                 |
 * | famotidine               | 4278    | —                                                                 |
 * | dabigatran etexilate     | 1037042 | 1037045 dabigatran etexilate 150 MG Oral Capsule (eCQM value set) |
 * | clopidogrel              | 32968   | 309362 clopidogrel 75 MG Oral Tablet                              |
 * | warfarin                 | 11289   | 855332 warfarin sodium 5 MG Oral Tablet                           |
 * | levetiracetam            | 114477  | —                                                                 |
 * | lamotrigine              | 28439   | —                                                                 |
 * | valproic acid (valproate)| 11118   | —                                                                 |
 * | carbamazepine            | 2002    | —                                                                 |
 * | phenytoin                | 8183    | —                                                                 |
 * | quetiapine               | 51272   | —                                                                 |
 * | aripiprazole             | 89013   | —                                                                 |
 * | lithium carbonate        | 42351   | —                                                                 |
 * | sertraline               | 36437   | —                                                                 |
 * | fluoxetine               | 4493    | —                                                                 |
 * | citalopram               | 2556    | —                                                                 |
 * | escitalopram             | 321988  | —                                                                 |
 * | duloxetine               | 72625   | —                                                                 |
 * | venlafaxine              | 39786   | —                                                                 |
 * | mirtazapine              | 15996   | —                                                                 |
 * | bupropion                | 42347   | —                                                                 |
 * | acyclovir                | 281     | —                                                                 |
 * | valacyclovir             | 73645   | —                                                                 |
 * | ibuprofen                | 5640    | —                                                                 |
 * | naproxen                 | 7258    | —                                                                 |
 * | meloxicam                | 41493   | —                                                                 |
 * | allopurinol              | 519     | —                                                                 |
 * | vitamin B12              | 11248   | —                                                                 |
 * | albuterol                | 435     | 745679 200 ACTUAT albuterol 0.09 MG/ACTUAT Metered Dose Inhaler   |
 * | fluticasone              | 41126   | 895994 120 ACTUAT fluticasone propionate 0.044 MG/ACTUAT MDI      |
 * | budesonide               | 19831   | —                                                                 |
 * | oxybutynin               | 32675   | —                                                                 |
 * | solifenacin              | 322167  | —                                                                 |
 * | tolterodine              | 119565  | —                                                                 |
 * | epinephrine              | 3992    | —                                                                 |
 * | cetirizine               | 20610   | —                                                                 |
 * | loratadine               | 28889   | —                                                                 |
 * | amoxicillin              | 723     | 308182 amoxicillin 250 MG Oral Capsule                            |
 * | clindamycin              | 2582    | —                                                                 |
 * | metformin                | 6809    | 860975 24 HR metformin hydrochloride 500 MG Extended Release Tab  |
 * | glipizide                | 4821    | —                                                                 |
 * | insulin glargine         | 274783  | —                                                                 |
 * | insulin regular, human   | 253182  | — (U-500 is told apart by its text "U-500, 500 units/mL")         |
 * | lisinopril               | 29046   | 314076 lisinopril 10 MG Oral Tablet                               |
 * | atorvastatin             | 83367   | —                                                                 |
 * | levothyroxine            | 10582   | —                                                                 |
 * | amlodipine               | 17767   | —                                                                 |
 * | hydrochlorothiazide      | 5487    | —                                                                 |
 * | metoprolol               | 6918    | —                                                                 |
 * | alprazolam (C-IV)        | 596     | —                                                                 |
 * | oxycodone (C-II)         | 7804    | —                                                                 |
 * | zolpidem (C-IV)          | 39993   | —                                                                 |
 * | sulfamethoxazole         | 10180   | — (allergy only)                                                  |
 * | codeine                  | 2670    | — (allergy only)                                                  |
 * | penicillin G             | 7980    | — (allergy only)                                                  |
 *
 * Drug-level LOINC codes: valproate 4086-5, carbamazepine 3432-2, phenytoin 3968-5, lamotrigine 6948-4 (moderate
 * confidence), levetiracetam 30558-1 (NOT verified: the level is also coded `urn:family-clinic:lab#<drug>-level`,
 * which is what the protocol reads).
 */

export const RXNORM = 'http://www.nlm.nih.gov/research/umls/rxnorm';
export const SNOMED = 'http://snomed.info/sct';
export const ICD10 = 'http://hl7.org/fhir/sid/icd-10-cm';
export const LOINC = 'http://loinc.org';
export const UCUM = 'http://unitsofmeasure.org';
export const CPT = 'http://www.ama-assn.org/go/cpt';
export const V2_0360 = 'http://terminology.hl7.org/CodeSystem/v2-0360';
export const ROLE_URL = 'urn:family-clinic:role';
export const PHARMACY_TYPE = 'urn:family-clinic:pharmacy-type';
export const RENEWAL_REQUEST = 'urn:family-clinic:renewal-request';
export const CLINIC_LAB = 'urn:family-clinic:lab';
export const MRN = 'urn:family-clinic:mrn';
/** The identifier type that marks an MRN (HL7 v2 table 0203, code `MR`): how readers find it among identifiers. */
export const MRN_TYPE = { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'MR' }] };

/**
 * The class a synthetic scenario files a request under (`RefillScenario.drugClass`). Named after the protocol's
 * categories; drugs outside the protocol are `not_in_protocol` or `controlled_substance`.
 */
export type DrugClass =
  | 'antacid_reflux'
  | 'dabigatran'
  | 'clopidogrel'
  | 'warfarin'
  | 'anticonvulsant_with_level'
  | 'neuro_psych_without_level'
  | 'antidepressant'
  | 'antiviral_hsv'
  | 'arthritis_nsaid_allopurinol_b12'
  | 'asthma_routine_inhaler'
  | 'asthma_prn_inhaler'
  | 'bladder'
  | 'allergy_epipen_dental'
  | 'antibiotic'
  | 'diabetes'
  | 'insulin_u500'
  | 'not_in_protocol'
  | 'controlled_substance';

export type ConditionKey =
  | 'gerd'
  | 'afib'
  | 'cad'
  | 'epilepsy'
  | 'bipolar'
  | 'schizophrenia'
  | 'depression'
  | 'anxiety'
  | 'hsv'
  | 'osteoarthritis'
  | 'gout'
  | 'b12'
  | 'asthma'
  | 'urge_incontinence'
  | 'allergic_rhinitis'
  | 'peanut_allergy'
  | 'valve'
  | 'sinusitis'
  | 'diabetes'
  | 'hypertension'
  | 'hyperlipidemia'
  | 'hypothyroidism'
  | 'insomnia'
  | 'chronic_pain';

export interface ConditionDef {
  /** Absent where no SNOMED CT code could be checked; the ICD-10-CM code is always there. */
  snomed?: string;
  snomedDisplay?: string;
  icd10: string;
  icd10Display: string;
}

export const CONDITIONS: Record<ConditionKey, ConditionDef> = {
  gerd: {
    snomed: '235595009',
    snomedDisplay: 'Gastroesophageal reflux disease',
    icd10: 'K21.9',
    icd10Display: 'Gastro-esophageal reflux disease without esophagitis',
  },
  afib: {
    snomed: '49436004',
    snomedDisplay: 'Atrial fibrillation',
    icd10: 'I48.91',
    icd10Display: 'Unspecified atrial fibrillation',
  },
  cad: {
    snomed: '53741008',
    snomedDisplay: 'Coronary arteriosclerosis',
    icd10: 'I25.10',
    icd10Display: 'Atherosclerotic heart disease of native coronary artery without angina pectoris',
  },
  epilepsy: {
    snomed: '84757009',
    snomedDisplay: 'Epilepsy',
    icd10: 'G40.909',
    icd10Display: 'Epilepsy, unspecified, not intractable, without status epilepticus',
  },
  bipolar: {
    snomed: '13746004',
    snomedDisplay: 'Bipolar disorder',
    icd10: 'F31.9',
    icd10Display: 'Bipolar disorder, unspecified',
  },
  schizophrenia: {
    snomed: '58214004',
    snomedDisplay: 'Schizophrenia',
    icd10: 'F20.9',
    icd10Display: 'Schizophrenia, unspecified',
  },
  depression: {
    snomed: '370143000',
    snomedDisplay: 'Major depressive disorder',
    icd10: 'F33.1',
    icd10Display: 'Major depressive disorder, recurrent, moderate',
  },
  anxiety: {
    snomed: '21897009',
    snomedDisplay: 'Generalized anxiety disorder',
    icd10: 'F41.1',
    icd10Display: 'Generalized anxiety disorder',
  },
  hsv: {
    snomed: '88594005',
    snomedDisplay: 'Herpes simplex',
    icd10: 'B00.9',
    icd10Display: 'Herpesviral infection, unspecified',
  },
  osteoarthritis: {
    snomed: '396275006',
    snomedDisplay: 'Osteoarthritis',
    icd10: 'M19.90',
    icd10Display: 'Unspecified osteoarthritis, unspecified site',
  },
  gout: { snomed: '90560007', snomedDisplay: 'Gout', icd10: 'M10.9', icd10Display: 'Gout, unspecified' },
  b12: { icd10: 'E53.8', icd10Display: 'Deficiency of other specified B group vitamins' },
  asthma: {
    snomed: '195967001',
    snomedDisplay: 'Asthma',
    icd10: 'J45.909',
    icd10Display: 'Unspecified asthma, uncomplicated',
  },
  urge_incontinence: {
    snomed: '75088002',
    snomedDisplay: 'Urge incontinence of urine',
    icd10: 'N39.41',
    icd10Display: 'Urge incontinence',
  },
  allergic_rhinitis: {
    snomed: '367498001',
    snomedDisplay: 'Seasonal allergic rhinitis',
    icd10: 'J30.2',
    icd10Display: 'Other seasonal allergic rhinitis',
  },
  peanut_allergy: {
    snomed: '91935009',
    snomedDisplay: 'Allergy to peanuts',
    icd10: 'Z91.010',
    icd10Display: 'Allergy to peanuts',
  },
  valve: { icd10: 'Z95.2', icd10Display: 'Presence of prosthetic heart valve' },
  sinusitis: {
    snomed: '36971009',
    snomedDisplay: 'Sinusitis',
    icd10: 'J32.9',
    icd10Display: 'Chronic sinusitis, unspecified',
  },
  diabetes: {
    snomed: '44054006',
    snomedDisplay: 'Diabetes mellitus type 2',
    icd10: 'E11.9',
    icd10Display: 'Type 2 diabetes mellitus without complications',
  },
  hypertension: {
    snomed: '38341003',
    snomedDisplay: 'Hypertensive disorder',
    icd10: 'I10',
    icd10Display: 'Essential (primary) hypertension',
  },
  hyperlipidemia: {
    snomed: '55822004',
    snomedDisplay: 'Hyperlipidemia',
    icd10: 'E78.5',
    icd10Display: 'Hyperlipidemia, unspecified',
  },
  hypothyroidism: {
    snomed: '40930008',
    snomedDisplay: 'Hypothyroidism',
    icd10: 'E03.9',
    icd10Display: 'Hypothyroidism, unspecified',
  },
  insomnia: { snomed: '193462001', snomedDisplay: 'Insomnia', icd10: 'G47.00', icd10Display: 'Insomnia, unspecified' },
  chronic_pain: {
    snomed: '82423001',
    snomedDisplay: 'Chronic pain',
    icd10: 'G89.29',
    icd10Display: 'Other chronic pain',
  },
};

export interface DrugProduct {
  /** Product text as the prescriber's EHR shows it (`medicationCodeableConcept.text`). */
  text: string;
  /** Set when this product is coded as an RxNorm clinical drug; otherwise it is coded with the ingredient only. */
  scd?: { code: string; display: string };
}

export interface DrugDef {
  key: string;
  ingredient: string;
  rxnorm: string;
  drugClass: DrugClass;
  /** At least two strengths where a dose change is plausible; the last one is the usual current product. */
  products: readonly DrugProduct[];
  sig: string;
  condition: ConditionKey;
  /** Dispensed units per 30 days and their unit (a whole inhaler or pen counts as one). */
  per30: number;
  unit: string;
  prn?: boolean;
  /** Key of the drug-level lab (NEU-1 listed drugs). */
  level?: LevelKey;
}

const drug = (d: DrugDef): DrugDef => d;

export const DRUGS = {
  omeprazole: drug({
    key: 'omeprazole',
    ingredient: 'omeprazole',
    rxnorm: '7646',
    drugClass: 'antacid_reflux',
    products: [
      { text: 'Omeprazole 20 mg delayed-release capsule' },
      { text: 'Omeprazole 40 mg delayed-release capsule' },
    ],
    sig: 'Take 1 capsule by mouth daily before breakfast',
    condition: 'gerd',
    per30: 30,
    unit: 'capsule',
  }),
  pantoprazole: drug({
    key: 'pantoprazole',
    ingredient: 'pantoprazole',
    rxnorm: '40790',
    drugClass: 'antacid_reflux',
    products: [
      { text: 'Pantoprazole 20 mg delayed-release tablet' },
      { text: 'Pantoprazole 40 mg delayed-release tablet' },
    ],
    sig: 'Take 1 tablet by mouth daily',
    condition: 'gerd',
    per30: 30,
    unit: 'tablet',
  }),
  famotidine: drug({
    key: 'famotidine',
    ingredient: 'famotidine',
    rxnorm: '4278',
    drugClass: 'antacid_reflux',
    products: [{ text: 'Famotidine 20 mg tablet' }, { text: 'Famotidine 40 mg tablet' }],
    sig: 'Take 1 tablet by mouth twice daily',
    condition: 'gerd',
    per30: 60,
    unit: 'tablet',
  }),
  dabigatran: drug({
    key: 'dabigatran',
    ingredient: 'dabigatran etexilate',
    rxnorm: '1037042',
    drugClass: 'dabigatran',
    products: [
      { text: 'Dabigatran etexilate 75 mg capsule' },
      { text: 'Pradaxa 150 mg capsule', scd: { code: '1037045', display: 'dabigatran etexilate 150 MG Oral Capsule' } },
    ],
    sig: 'Take 1 capsule by mouth twice daily',
    condition: 'afib',
    per30: 60,
    unit: 'capsule',
  }),
  clopidogrel: drug({
    key: 'clopidogrel',
    ingredient: 'clopidogrel',
    rxnorm: '32968',
    drugClass: 'clopidogrel',
    products: [{ text: 'Clopidogrel 75 mg tablet', scd: { code: '309362', display: 'clopidogrel 75 MG Oral Tablet' } }],
    sig: 'Take 1 tablet by mouth daily',
    condition: 'cad',
    per30: 30,
    unit: 'tablet',
  }),
  warfarin: drug({
    key: 'warfarin',
    ingredient: 'warfarin',
    rxnorm: '11289',
    drugClass: 'warfarin',
    products: [
      { text: 'Warfarin 2.5 mg tablet' },
      { text: 'Warfarin sodium 5 mg tablet', scd: { code: '855332', display: 'warfarin sodium 5 MG Oral Tablet' } },
    ],
    sig: 'Take as directed by the anticoagulation clinic',
    condition: 'afib',
    per30: 30,
    unit: 'tablet',
  }),
  levetiracetam: drug({
    key: 'levetiracetam',
    ingredient: 'levetiracetam',
    rxnorm: '114477',
    drugClass: 'anticonvulsant_with_level',
    products: [{ text: 'Levetiracetam 500 mg tablet' }, { text: 'Levetiracetam 750 mg tablet' }],
    sig: 'Take 1 tablet by mouth twice daily',
    condition: 'epilepsy',
    per30: 60,
    unit: 'tablet',
    level: 'levetiracetam',
  }),
  lamotrigine: drug({
    key: 'lamotrigine',
    ingredient: 'lamotrigine',
    rxnorm: '28439',
    drugClass: 'anticonvulsant_with_level',
    products: [{ text: 'Lamotrigine 100 mg tablet' }, { text: 'Lamotrigine 200 mg tablet' }],
    sig: 'Take 1 tablet by mouth twice daily',
    condition: 'epilepsy',
    per30: 60,
    unit: 'tablet',
    level: 'lamotrigine',
  }),
  valproate: drug({
    key: 'valproate',
    ingredient: 'valproic acid',
    rxnorm: '11118',
    drugClass: 'anticonvulsant_with_level',
    products: [
      { text: 'Divalproex sodium (valproate) 250 mg delayed-release tablet' },
      { text: 'Divalproex sodium (valproate) 500 mg delayed-release tablet' },
    ],
    sig: 'Take 1 tablet by mouth twice daily',
    condition: 'epilepsy',
    per30: 60,
    unit: 'tablet',
    level: 'valproate',
  }),
  carbamazepine: drug({
    key: 'carbamazepine',
    ingredient: 'carbamazepine',
    rxnorm: '2002',
    drugClass: 'anticonvulsant_with_level',
    products: [{ text: 'Carbamazepine 200 mg tablet' }, { text: 'Carbamazepine 400 mg extended-release tablet' }],
    sig: 'Take 1 tablet by mouth twice daily',
    condition: 'epilepsy',
    per30: 60,
    unit: 'tablet',
    level: 'carbamazepine',
  }),
  phenytoin: drug({
    key: 'phenytoin',
    ingredient: 'phenytoin',
    rxnorm: '8183',
    drugClass: 'anticonvulsant_with_level',
    products: [
      { text: 'Phenytoin sodium extended 100 mg capsule' },
      { text: 'Phenytoin sodium extended 300 mg capsule' },
    ],
    sig: 'Take 1 capsule by mouth daily',
    condition: 'epilepsy',
    per30: 30,
    unit: 'capsule',
    level: 'phenytoin',
  }),
  quetiapine: drug({
    key: 'quetiapine',
    ingredient: 'quetiapine',
    rxnorm: '51272',
    drugClass: 'neuro_psych_without_level',
    products: [{ text: 'Quetiapine 100 mg tablet' }, { text: 'Quetiapine 200 mg tablet' }],
    sig: 'Take 1 tablet by mouth at bedtime',
    condition: 'schizophrenia',
    per30: 30,
    unit: 'tablet',
  }),
  aripiprazole: drug({
    key: 'aripiprazole',
    ingredient: 'aripiprazole',
    rxnorm: '89013',
    drugClass: 'neuro_psych_without_level',
    products: [{ text: 'Aripiprazole 5 mg tablet' }, { text: 'Aripiprazole 10 mg tablet' }],
    sig: 'Take 1 tablet by mouth daily',
    condition: 'bipolar',
    per30: 30,
    unit: 'tablet',
  }),
  lithium: drug({
    key: 'lithium',
    ingredient: 'lithium carbonate',
    rxnorm: '42351',
    drugClass: 'neuro_psych_without_level',
    products: [
      { text: 'Lithium carbonate 300 mg capsule' },
      { text: 'Lithium carbonate 450 mg extended-release tablet' },
    ],
    sig: 'Take 1 by mouth twice daily',
    condition: 'bipolar',
    per30: 60,
    unit: 'tablet',
  }),
  sertraline: drug({
    key: 'sertraline',
    ingredient: 'sertraline',
    rxnorm: '36437',
    drugClass: 'antidepressant',
    products: [{ text: 'Sertraline 50 mg tablet' }, { text: 'Sertraline 100 mg tablet' }],
    sig: 'Take 1 tablet by mouth daily',
    condition: 'depression',
    per30: 30,
    unit: 'tablet',
  }),
  fluoxetine: drug({
    key: 'fluoxetine',
    ingredient: 'fluoxetine',
    rxnorm: '4493',
    drugClass: 'antidepressant',
    products: [{ text: 'Fluoxetine 20 mg capsule' }, { text: 'Fluoxetine 40 mg capsule' }],
    sig: 'Take 1 capsule by mouth daily',
    condition: 'depression',
    per30: 30,
    unit: 'capsule',
  }),
  citalopram: drug({
    key: 'citalopram',
    ingredient: 'citalopram',
    rxnorm: '2556',
    drugClass: 'antidepressant',
    products: [{ text: 'Citalopram 20 mg tablet' }, { text: 'Citalopram 40 mg tablet' }],
    sig: 'Take 1 tablet by mouth daily',
    condition: 'depression',
    per30: 30,
    unit: 'tablet',
  }),
  escitalopram: drug({
    key: 'escitalopram',
    ingredient: 'escitalopram',
    rxnorm: '321988',
    drugClass: 'antidepressant',
    products: [{ text: 'Escitalopram 10 mg tablet' }, { text: 'Escitalopram 20 mg tablet' }],
    sig: 'Take 1 tablet by mouth daily',
    condition: 'anxiety',
    per30: 30,
    unit: 'tablet',
  }),
  duloxetine: drug({
    key: 'duloxetine',
    ingredient: 'duloxetine',
    rxnorm: '72625',
    drugClass: 'antidepressant',
    products: [
      { text: 'Duloxetine 30 mg delayed-release capsule' },
      { text: 'Duloxetine 60 mg delayed-release capsule' },
    ],
    sig: 'Take 1 capsule by mouth daily',
    condition: 'depression',
    per30: 30,
    unit: 'capsule',
  }),
  venlafaxine: drug({
    key: 'venlafaxine',
    ingredient: 'venlafaxine',
    rxnorm: '39786',
    drugClass: 'antidepressant',
    products: [
      { text: 'Venlafaxine 75 mg extended-release capsule' },
      { text: 'Venlafaxine 150 mg extended-release capsule' },
    ],
    sig: 'Take 1 capsule by mouth daily',
    condition: 'anxiety',
    per30: 30,
    unit: 'capsule',
  }),
  mirtazapine: drug({
    key: 'mirtazapine',
    ingredient: 'mirtazapine',
    rxnorm: '15996',
    drugClass: 'antidepressant',
    products: [{ text: 'Mirtazapine 15 mg tablet' }, { text: 'Mirtazapine 30 mg tablet' }],
    sig: 'Take 1 tablet by mouth at bedtime',
    condition: 'depression',
    per30: 30,
    unit: 'tablet',
  }),
  bupropion: drug({
    key: 'bupropion',
    ingredient: 'bupropion',
    rxnorm: '42347',
    drugClass: 'antidepressant',
    products: [{ text: 'Bupropion XL 150 mg tablet' }, { text: 'Bupropion XL 300 mg tablet' }],
    sig: 'Take 1 tablet by mouth every morning',
    condition: 'depression',
    per30: 30,
    unit: 'tablet',
  }),
  acyclovir: drug({
    key: 'acyclovir',
    ingredient: 'acyclovir',
    rxnorm: '281',
    drugClass: 'antiviral_hsv',
    products: [{ text: 'Acyclovir 400 mg tablet' }, { text: 'Acyclovir 800 mg tablet' }],
    sig: 'Take 1 tablet by mouth twice daily for suppression',
    condition: 'hsv',
    per30: 60,
    unit: 'tablet',
  }),
  valacyclovir: drug({
    key: 'valacyclovir',
    ingredient: 'valacyclovir',
    rxnorm: '73645',
    drugClass: 'antiviral_hsv',
    products: [{ text: 'Valacyclovir 500 mg tablet' }, { text: 'Valacyclovir 1 g tablet' }],
    sig: 'Take 1 tablet by mouth daily',
    condition: 'hsv',
    per30: 30,
    unit: 'tablet',
  }),
  ibuprofen: drug({
    key: 'ibuprofen',
    ingredient: 'ibuprofen',
    rxnorm: '5640',
    drugClass: 'arthritis_nsaid_allopurinol_b12',
    products: [{ text: 'Ibuprofen 600 mg tablet' }, { text: 'Ibuprofen 800 mg tablet' }],
    sig: 'Take 1 tablet by mouth three times daily with food',
    condition: 'osteoarthritis',
    per30: 90,
    unit: 'tablet',
  }),
  naproxen: drug({
    key: 'naproxen',
    ingredient: 'naproxen',
    rxnorm: '7258',
    drugClass: 'arthritis_nsaid_allopurinol_b12',
    products: [{ text: 'Naproxen 375 mg tablet' }, { text: 'Naproxen 500 mg tablet' }],
    sig: 'Take 1 tablet by mouth twice daily with food',
    condition: 'osteoarthritis',
    per30: 60,
    unit: 'tablet',
  }),
  meloxicam: drug({
    key: 'meloxicam',
    ingredient: 'meloxicam',
    rxnorm: '41493',
    drugClass: 'arthritis_nsaid_allopurinol_b12',
    products: [{ text: 'Meloxicam 7.5 mg tablet' }, { text: 'Meloxicam 15 mg tablet' }],
    sig: 'Take 1 tablet by mouth daily',
    condition: 'osteoarthritis',
    per30: 30,
    unit: 'tablet',
  }),
  allopurinol: drug({
    key: 'allopurinol',
    ingredient: 'allopurinol',
    rxnorm: '519',
    drugClass: 'arthritis_nsaid_allopurinol_b12',
    products: [{ text: 'Allopurinol 100 mg tablet' }, { text: 'Allopurinol 300 mg tablet' }],
    sig: 'Take 1 tablet by mouth daily',
    condition: 'gout',
    per30: 30,
    unit: 'tablet',
  }),
  b12: drug({
    key: 'b12',
    ingredient: 'vitamin B12',
    rxnorm: '11248',
    drugClass: 'arthritis_nsaid_allopurinol_b12',
    products: [{ text: 'Cyanocobalamin (vitamin B12) 1000 mcg/mL injection' }],
    sig: 'Inject 1 mL intramuscularly monthly',
    condition: 'b12',
    per30: 1,
    unit: 'mL',
  }),
  fluticasoneInhaler: drug({
    key: 'fluticasoneInhaler',
    ingredient: 'fluticasone',
    rxnorm: '41126',
    drugClass: 'asthma_routine_inhaler',
    products: [
      {
        text: 'Fluticasone propionate HFA 44 mcg/actuation inhaler',
        scd: { code: '895994', display: '120 ACTUAT fluticasone propionate 0.044 MG/ACTUAT Metered Dose Inhaler' },
      },
      { text: 'Fluticasone propionate HFA 110 mcg/actuation inhaler' },
    ],
    sig: 'Inhale 2 puffs twice daily',
    condition: 'asthma',
    per30: 1,
    unit: 'inhaler',
  }),
  budesonideInhaler: drug({
    key: 'budesonideInhaler',
    ingredient: 'budesonide',
    rxnorm: '19831',
    drugClass: 'asthma_routine_inhaler',
    products: [
      { text: 'Budesonide 90 mcg/actuation dry powder inhaler' },
      { text: 'Budesonide 180 mcg/actuation dry powder inhaler' },
    ],
    sig: 'Inhale 1 puff twice daily',
    condition: 'asthma',
    per30: 1,
    unit: 'inhaler',
  }),
  albuterol: drug({
    key: 'albuterol',
    ingredient: 'albuterol',
    rxnorm: '435',
    drugClass: 'asthma_prn_inhaler',
    products: [
      {
        text: 'Albuterol HFA 90 mcg/actuation inhaler',
        scd: { code: '745679', display: '200 ACTUAT albuterol 0.09 MG/ACTUAT Metered Dose Inhaler' },
      },
    ],
    sig: 'Inhale 2 puffs every 4-6 hours as needed for wheezing',
    condition: 'asthma',
    per30: 1,
    unit: 'inhaler',
    prn: true,
  }),
  oxybutynin: drug({
    key: 'oxybutynin',
    ingredient: 'oxybutynin',
    rxnorm: '32675',
    drugClass: 'bladder',
    products: [
      { text: 'Oxybutynin 5 mg extended-release tablet' },
      { text: 'Oxybutynin 10 mg extended-release tablet' },
    ],
    sig: 'Take 1 tablet by mouth daily',
    condition: 'urge_incontinence',
    per30: 30,
    unit: 'tablet',
  }),
  solifenacin: drug({
    key: 'solifenacin',
    ingredient: 'solifenacin',
    rxnorm: '322167',
    drugClass: 'bladder',
    products: [{ text: 'Solifenacin 5 mg tablet' }, { text: 'Solifenacin 10 mg tablet' }],
    sig: 'Take 1 tablet by mouth daily',
    condition: 'urge_incontinence',
    per30: 30,
    unit: 'tablet',
  }),
  tolterodine: drug({
    key: 'tolterodine',
    ingredient: 'tolterodine',
    rxnorm: '119565',
    drugClass: 'bladder',
    products: [
      { text: 'Tolterodine 2 mg extended-release capsule' },
      { text: 'Tolterodine 4 mg extended-release capsule' },
    ],
    sig: 'Take 1 capsule by mouth daily',
    condition: 'urge_incontinence',
    per30: 30,
    unit: 'capsule',
  }),
  fluticasoneNasal: drug({
    key: 'fluticasoneNasal',
    ingredient: 'fluticasone',
    rxnorm: '41126',
    drugClass: 'allergy_epipen_dental',
    products: [{ text: 'Fluticasone propionate 50 mcg/actuation nasal spray' }],
    sig: 'Use 2 sprays in each nostril daily during allergy season',
    condition: 'allergic_rhinitis',
    per30: 1,
    unit: 'bottle',
  }),
  cetirizine: drug({
    key: 'cetirizine',
    ingredient: 'cetirizine',
    rxnorm: '20610',
    drugClass: 'allergy_epipen_dental',
    products: [{ text: 'Cetirizine 10 mg tablet' }],
    sig: 'Take 1 tablet by mouth daily during allergy season',
    condition: 'allergic_rhinitis',
    per30: 30,
    unit: 'tablet',
  }),
  loratadine: drug({
    key: 'loratadine',
    ingredient: 'loratadine',
    rxnorm: '28889',
    drugClass: 'allergy_epipen_dental',
    products: [{ text: 'Loratadine 10 mg tablet' }],
    sig: 'Take 1 tablet by mouth daily during allergy season',
    condition: 'allergic_rhinitis',
    per30: 30,
    unit: 'tablet',
  }),
  epinephrine: drug({
    key: 'epinephrine',
    ingredient: 'epinephrine',
    rxnorm: '3992',
    drugClass: 'allergy_epipen_dental',
    products: [{ text: 'EpiPen (epinephrine) 0.3 mg auto-injector, 2-pack' }],
    sig: 'Inject 0.3 mg into the thigh once as needed for anaphylaxis',
    condition: 'peanut_allergy',
    per30: 1,
    unit: 'pack',
    prn: true,
  }),
  amoxicillin: drug({
    key: 'amoxicillin',
    ingredient: 'amoxicillin',
    rxnorm: '723',
    drugClass: 'antibiotic',
    products: [
      { text: 'Amoxicillin 250 mg capsule', scd: { code: '308182', display: 'amoxicillin 250 MG Oral Capsule' } },
      { text: 'Amoxicillin 500 mg capsule' },
    ],
    sig: 'Take 2 g (4 x 500 mg) by mouth 1 hour before the dental procedure',
    condition: 'valve',
    per30: 4,
    unit: 'capsule',
  }),
  clindamycin: drug({
    key: 'clindamycin',
    ingredient: 'clindamycin',
    rxnorm: '2582',
    drugClass: 'antibiotic',
    products: [{ text: 'Clindamycin 300 mg capsule' }],
    sig: 'Take 600 mg (2 capsules) by mouth 1 hour before the dental procedure',
    condition: 'valve',
    per30: 2,
    unit: 'capsule',
  }),
  metformin: drug({
    key: 'metformin',
    ingredient: 'metformin',
    rxnorm: '6809',
    drugClass: 'diabetes',
    products: [
      { text: 'Metformin 500 mg tablet' },
      {
        text: 'Metformin ER 500 mg 24-hour tablet',
        scd: { code: '860975', display: '24 HR metformin hydrochloride 500 MG Extended Release Oral Tablet' },
      },
    ],
    sig: 'Take 2 tablets by mouth daily with the evening meal',
    condition: 'diabetes',
    per30: 60,
    unit: 'tablet',
  }),
  glipizide: drug({
    key: 'glipizide',
    ingredient: 'glipizide',
    rxnorm: '4821',
    drugClass: 'diabetes',
    products: [{ text: 'Glipizide 5 mg tablet' }, { text: 'Glipizide 10 mg tablet' }],
    sig: 'Take 1 tablet by mouth daily before breakfast',
    condition: 'diabetes',
    per30: 30,
    unit: 'tablet',
  }),
  glargine: drug({
    key: 'glargine',
    ingredient: 'insulin glargine',
    rxnorm: '274783',
    drugClass: 'diabetes',
    products: [{ text: 'Insulin glargine 100 units/mL pen (Lantus SoloStar)' }],
    sig: 'Inject 20 units subcutaneously at bedtime',
    condition: 'diabetes',
    per30: 1,
    unit: 'box of pens',
  }),
  u500: drug({
    key: 'u500',
    ingredient: 'insulin regular, human',
    rxnorm: '253182',
    drugClass: 'insulin_u500',
    products: [{ text: 'Humulin R U-500 (insulin regular human 500 units/mL) KwikPen' }],
    sig: 'Inject 60 units subcutaneously before breakfast and supper',
    condition: 'diabetes',
    per30: 1,
    unit: 'box of pens',
  }),
  lisinopril: drug({
    key: 'lisinopril',
    ingredient: 'lisinopril',
    rxnorm: '29046',
    drugClass: 'not_in_protocol',
    products: [
      { text: 'Lisinopril 10 mg tablet', scd: { code: '314076', display: 'lisinopril 10 MG Oral Tablet' } },
      { text: 'Lisinopril 20 mg tablet' },
    ],
    sig: 'Take 1 tablet by mouth daily',
    condition: 'hypertension',
    per30: 30,
    unit: 'tablet',
  }),
  atorvastatin: drug({
    key: 'atorvastatin',
    ingredient: 'atorvastatin',
    rxnorm: '83367',
    drugClass: 'not_in_protocol',
    products: [{ text: 'Atorvastatin 20 mg tablet' }, { text: 'Atorvastatin 40 mg tablet' }],
    sig: 'Take 1 tablet by mouth at bedtime',
    condition: 'hyperlipidemia',
    per30: 30,
    unit: 'tablet',
  }),
  levothyroxine: drug({
    key: 'levothyroxine',
    ingredient: 'levothyroxine',
    rxnorm: '10582',
    drugClass: 'not_in_protocol',
    products: [{ text: 'Levothyroxine 50 mcg tablet' }, { text: 'Levothyroxine 75 mcg tablet' }],
    sig: 'Take 1 tablet by mouth every morning on an empty stomach',
    condition: 'hypothyroidism',
    per30: 30,
    unit: 'tablet',
  }),
  amlodipine: drug({
    key: 'amlodipine',
    ingredient: 'amlodipine',
    rxnorm: '17767',
    drugClass: 'not_in_protocol',
    products: [{ text: 'Amlodipine 5 mg tablet' }, { text: 'Amlodipine 10 mg tablet' }],
    sig: 'Take 1 tablet by mouth daily',
    condition: 'hypertension',
    per30: 30,
    unit: 'tablet',
  }),
  hydrochlorothiazide: drug({
    key: 'hydrochlorothiazide',
    ingredient: 'hydrochlorothiazide',
    rxnorm: '5487',
    drugClass: 'not_in_protocol',
    products: [{ text: 'Hydrochlorothiazide 12.5 mg capsule' }, { text: 'Hydrochlorothiazide 25 mg tablet' }],
    sig: 'Take 1 by mouth every morning',
    condition: 'hypertension',
    per30: 30,
    unit: 'tablet',
  }),
  metoprolol: drug({
    key: 'metoprolol',
    ingredient: 'metoprolol',
    rxnorm: '6918',
    drugClass: 'not_in_protocol',
    products: [{ text: 'Metoprolol succinate ER 25 mg tablet' }, { text: 'Metoprolol succinate ER 50 mg tablet' }],
    sig: 'Take 1 tablet by mouth daily',
    condition: 'hypertension',
    per30: 30,
    unit: 'tablet',
  }),
  alprazolam: drug({
    key: 'alprazolam',
    ingredient: 'alprazolam',
    rxnorm: '596',
    drugClass: 'controlled_substance',
    products: [{ text: 'Alprazolam 0.25 mg tablet' }, { text: 'Alprazolam 0.5 mg tablet' }],
    sig: 'Take 1 tablet by mouth twice daily as needed for anxiety',
    condition: 'anxiety',
    per30: 60,
    unit: 'tablet',
  }),
  oxycodone: drug({
    key: 'oxycodone',
    ingredient: 'oxycodone',
    rxnorm: '7804',
    drugClass: 'controlled_substance',
    products: [{ text: 'Oxycodone HCl 5 mg tablet' }, { text: 'Oxycodone HCl 10 mg tablet' }],
    sig: 'Take 1 tablet by mouth every 8 hours as needed for pain',
    condition: 'chronic_pain',
    per30: 90,
    unit: 'tablet',
  }),
  zolpidem: drug({
    key: 'zolpidem',
    ingredient: 'zolpidem',
    rxnorm: '39993',
    drugClass: 'controlled_substance',
    products: [{ text: 'Zolpidem 5 mg tablet' }, { text: 'Zolpidem 10 mg tablet' }],
    sig: 'Take 1 tablet by mouth at bedtime as needed for sleep',
    condition: 'insomnia',
    per30: 30,
    unit: 'tablet',
  }),
} as const satisfies Record<string, DrugDef>;

export type DrugKey = keyof typeof DRUGS;

/** Chronic drugs outside the protocol that patients also take (never the requested ingredient). */
export const BACKGROUND_DRUGS: readonly DrugKey[] = [
  'lisinopril',
  'atorvastatin',
  'levothyroxine',
  'amlodipine',
  'hydrochlorothiazide',
  'metoprolol',
];

/** Allergy-only ingredients, for patients' background allergies. */
export const ALLERGENS = [
  { rxnorm: '10180', name: 'sulfamethoxazole', reaction: 'Rash' },
  { rxnorm: '2670', name: 'codeine', reaction: 'Nausea and vomiting' },
  { rxnorm: '7980', name: 'penicillin G', reaction: 'Hives' },
] as const;

export type LevelKey = 'valproate' | 'carbamazepine' | 'phenytoin' | 'lamotrigine' | 'levetiracetam';

/** Drug levels: LOINC code, display, UCUM unit and a therapeutic-range value. */
export const LEVELS: Record<LevelKey, { loinc: string; display: string; unit: string; range: [number, number] }> = {
  valproate: {
    loinc: '4086-5',
    display: 'Valproate [Mass/volume] in Serum or Plasma',
    unit: 'ug/mL',
    range: [50, 100],
  },
  carbamazepine: {
    loinc: '3432-2',
    display: 'Carbamazepine [Mass/volume] in Serum or Plasma',
    unit: 'ug/mL',
    range: [4, 12],
  },
  phenytoin: { loinc: '3968-5', display: 'Phenytoin [Mass/volume] in Serum or Plasma', unit: 'ug/mL', range: [10, 20] },
  lamotrigine: {
    loinc: '6948-4',
    display: 'Lamotrigine [Mass/volume] in Serum or Plasma',
    unit: 'ug/mL',
    range: [3, 14],
  },
  levetiracetam: {
    loinc: '30558-1',
    display: 'Levetiracetam [Mass/volume] in Serum or Plasma',
    unit: 'ug/mL',
    range: [12, 46],
  },
};

export interface AnalyteDef {
  loinc: string;
  display: string;
  unit: string;
  range: [number, number];
  decimals: number;
}

/** Panels as LOINC panel code + members. */
export const PANELS: Record<'cbc' | 'cmp' | 'lipid', { loinc: string; display: string; members: AnalyteDef[] }> = {
  cbc: {
    loinc: '58410-2',
    display: 'CBC panel - Blood by Automated count',
    members: [
      {
        loinc: '6690-2',
        display: 'Leukocytes [#/volume] in Blood by Automated count',
        unit: '10*3/uL',
        range: [4.2, 10.5],
        decimals: 1,
      },
      { loinc: '718-7', display: 'Hemoglobin [Mass/volume] in Blood', unit: 'g/dL', range: [11.8, 16.4], decimals: 1 },
      {
        loinc: '4544-3',
        display: 'Hematocrit [Volume Fraction] of Blood by Automated count',
        unit: '%',
        range: [35, 48],
        decimals: 1,
      },
      {
        loinc: '777-3',
        display: 'Platelets [#/volume] in Blood by Automated count',
        unit: '10*3/uL',
        range: [160, 380],
        decimals: 0,
      },
    ],
  },
  cmp: {
    loinc: '24323-8',
    display: 'Comprehensive metabolic 2000 panel - Serum or Plasma',
    members: [
      {
        loinc: '2345-7',
        display: 'Glucose [Mass/volume] in Serum or Plasma',
        unit: 'mg/dL',
        range: [78, 140],
        decimals: 0,
      },
      {
        loinc: '2160-0',
        display: 'Creatinine [Mass/volume] in Serum or Plasma',
        unit: 'mg/dL',
        range: [0.6, 1.3],
        decimals: 2,
      },
      {
        loinc: '2951-2',
        display: 'Sodium [Moles/volume] in Serum or Plasma',
        unit: 'mmol/L',
        range: [136, 145],
        decimals: 0,
      },
      {
        loinc: '2823-3',
        display: 'Potassium [Moles/volume] in Serum or Plasma',
        unit: 'mmol/L',
        range: [3.6, 5.0],
        decimals: 1,
      },
      {
        loinc: '1742-6',
        display: 'Alanine aminotransferase [Enzymatic activity/volume] in Serum or Plasma',
        unit: 'U/L',
        range: [10, 45],
        decimals: 0,
      },
      {
        loinc: '1751-7',
        display: 'Albumin [Mass/volume] in Serum or Plasma',
        unit: 'g/dL',
        range: [3.6, 5.0],
        decimals: 1,
      },
    ],
  },
  lipid: {
    loinc: '57698-3',
    display: 'Lipid panel with direct LDL - Serum or Plasma',
    members: [
      {
        loinc: '2093-3',
        display: 'Cholesterol [Mass/volume] in Serum or Plasma',
        unit: 'mg/dL',
        range: [140, 260],
        decimals: 0,
      },
      {
        loinc: '2571-8',
        display: 'Triglyceride [Mass/volume] in Serum or Plasma',
        unit: 'mg/dL',
        range: [70, 260],
        decimals: 0,
      },
      {
        loinc: '2085-9',
        display: 'Cholesterol in HDL [Mass/volume] in Serum or Plasma',
        unit: 'mg/dL',
        range: [35, 75],
        decimals: 0,
      },
      {
        loinc: '18262-6',
        display: 'Cholesterol in LDL [Mass/volume] in Serum or Plasma by Direct assay',
        unit: 'mg/dL',
        range: [60, 170],
        decimals: 0,
      },
    ],
  },
};

export const A1C: AnalyteDef = {
  loinc: '4548-4',
  display: 'Hemoglobin A1c/Hemoglobin.total in Blood',
  unit: '%',
  range: [5.4, 9.8],
  decimals: 1,
};
export const MICROALBUMIN: AnalyteDef = {
  loinc: '14959-1',
  display: 'Microalbumin/Creatinine [Mass Ratio] in Urine',
  unit: 'mg/g',
  range: [4, 60],
  decimals: 0,
};

export const VITALS = {
  bp: { loinc: '85354-9', display: 'Blood pressure panel with all children optional' },
  systolic: { loinc: '8480-6', display: 'Systolic blood pressure' },
  diastolic: { loinc: '8462-4', display: 'Diastolic blood pressure' },
  weight: { loinc: '29463-7', display: 'Body weight' },
} as const;

/** Invented names (common given names and surnames; no real person is meant). */
export const GIVEN_FEMALE = [
  'Ana',
  'Beth',
  'Carmen',
  'Dana',
  'Elena',
  'Fiona',
  'Grace',
  'Hana',
  'Iris',
  'June',
  'Keiko',
  'Lena',
  'Maya',
  'Nora',
  'Olivia',
  'Priya',
  'Rosa',
  'Sara',
  'Tess',
  'Vera',
];
export const GIVEN_MALE = [
  'Adam',
  'Ben',
  'Carlos',
  'David',
  'Eli',
  'Felix',
  'Gabe',
  'Hugo',
  'Ivan',
  'Jon',
  'Kenji',
  'Luis',
  'Marco',
  'Nate',
  'Omar',
  'Paul',
  'Raj',
  'Sam',
  'Theo',
  'Victor',
];
export const FAMILY = [
  'Alder',
  'Birch',
  'Cedar',
  'Dale',
  'Elm',
  'Fern',
  'Glen',
  'Hale',
  'Ivy',
  'Juniper',
  'Knoll',
  'Lark',
  'Moss',
  'North',
  'Oak',
  'Pine',
  'Quarry',
  'Reed',
  'Stone',
  'Thorn',
  'Vale',
  'Wren',
  'Yarrow',
  'Zephyr',
];

export const PCPS = [
  { id: 'pract-pcp-1', given: 'Miriam', family: 'Okafor' },
  { id: 'pract-pcp-2', given: 'Daniel', family: 'Lindqvist' },
  { id: 'pract-pcp-3', given: 'Sofia', family: 'Marchetti' },
  { id: 'pract-pcp-4', given: 'Arjun', family: 'Rao' },
] as const;

export const CCN = { id: 'pract-ccn-1', given: 'Paula', family: 'Brennan' } as const;

export const PHARMACIES = [
  { id: 'org-pharm-1', name: 'Main Street Pharmacy', type: 'retail' },
  { id: 'org-pharm-2', name: 'Riverside Drug', type: 'retail' },
  { id: 'org-pharm-3', name: 'Hilltop Community Pharmacy', type: 'retail' },
  { id: 'org-pharm-4', name: 'Corner Care Pharmacy', type: 'retail' },
  { id: 'org-pharm-5', name: 'ParcelRx Mail Service', type: 'mail-order' },
  { id: 'org-pharm-6', name: 'HomeDelivery Pharmacy', type: 'mail-order' },
] as const;

export const CLINIC = { id: 'org-clinic', name: 'Maple Grove Family Medicine (synthetic)' } as const;
