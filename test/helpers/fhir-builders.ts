// FHIR-level builders for refill scenarios, following the clinic's encoding (family-medicine-2015.md). Tests describe a
// patient in clinical terms (drug, visits, labs, allergies) and get a Bundle that goes through the same
// patientRecordFromBundle → extractRefillFacts → evaluateProtocol path as the CLI and the worker.
import type { Bundle, BundleEntry, CodeableConcept, Resource } from '@medplum/fhirtypes';

const RXNORM = 'http://www.nlm.nih.gov/research/umls/rxnorm';
const LOINC = 'http://loinc.org';
const CPT = 'http://www.ama-assn.org/go/cpt';
const SNOMED = 'http://snomed.info/sct';

/** Drugs the scenarios use: product text, RxNorm ingredient code, and an SCD where the clinic codes one. */
export const DRUGS = {
  omeprazole: { text: 'Omeprazole 20 mg delayed-release capsule', rxnorm: '7646' },
  famotidine: { text: 'Famotidine 40 mg tablet', rxnorm: '4278' },
  dabigatran: { text: 'Dabigatran etexilate 150 mg capsule', rxnorm: '1037042' },
  clopidogrel: {
    text: 'Clopidogrel 75 mg tablet',
    rxnorm: '32968',
    scd: { code: '309362', display: 'clopidogrel 75 MG Oral Tablet' },
  },
  warfarin: {
    text: 'Warfarin sodium 5 mg tablet',
    rxnorm: '11289',
    scd: { code: '855332', display: 'warfarin sodium 5 MG Oral Tablet' },
  },
  valproate: { text: 'Divalproex sodium (valproate) 500 mg delayed-release tablet', rxnorm: '11118' },
  lamotrigine: { text: 'Lamotrigine 100 mg tablet', rxnorm: '28439' },
  levetiracetam: { text: 'Levetiracetam 500 mg tablet', rxnorm: '114477' },
  quetiapine: { text: 'Quetiapine 100 mg tablet', rxnorm: '51272' },
  lithium: { text: 'Lithium carbonate 300 mg capsule', rxnorm: '42351' },
  pregabalin: { text: 'Pregabalin 75 mg capsule', rxnorm: '187832' },
  sertraline: { text: 'Sertraline 50 mg tablet', rxnorm: '36437' },
  bupropion: { text: 'Bupropion XL 150 mg tablet', rxnorm: '42347' },
  amitriptyline: { text: 'Amitriptyline 25 mg tablet', rxnorm: '704' },
  acyclovir: { text: 'Acyclovir 400 mg tablet', rxnorm: '281' },
  valacyclovir: { text: 'Valacyclovir 500 mg tablet', rxnorm: '73645' },
  ibuprofen: { text: 'Ibuprofen 800 mg tablet', rxnorm: '5640' },
  allopurinol: { text: 'Allopurinol 300 mg tablet', rxnorm: '519' },
  b12: { text: 'Cyanocobalamin (vitamin B12) 1000 mcg/mL injection', rxnorm: '11248' },
  methotrexate: { text: 'Methotrexate 2.5 mg tablet', rxnorm: '6851' },
  fluticasoneInhaler: { text: 'Fluticasone propionate HFA 110 mcg/actuation inhaler', rxnorm: '41126' },
  albuterol: {
    text: 'Albuterol HFA 90 mcg/actuation inhaler',
    rxnorm: '435',
    scd: { code: '745679', display: '200 ACTUAT albuterol 0.09 MG/ACTUAT Metered Dose Inhaler' },
  },
  fluticasoneNasal: { text: 'Fluticasone propionate 50 mcg/actuation nasal spray', rxnorm: '41126' },
  oxybutynin: { text: 'Oxybutynin 10 mg extended-release tablet', rxnorm: '32675' },
  cetirizine: { text: 'Cetirizine 10 mg tablet', rxnorm: '20610' },
  epipen: { text: 'EpiPen (epinephrine) 0.3 mg auto-injector, 2-pack', rxnorm: '3992' },
  amoxicillin: { text: 'Amoxicillin 500 mg capsule', rxnorm: '723' },
  metformin: {
    text: 'Metformin 500 mg tablet',
    rxnorm: '6809',
    scd: { code: '861007', display: 'metformin hydrochloride 500 MG Oral Tablet' },
  },
  glargine: { text: 'Insulin glargine 100 units/mL pen (Lantus SoloStar)', rxnorm: '274783' },
  u500: { text: 'Humulin R U-500 (insulin regular human 500 units/mL) KwikPen', rxnorm: '253182' },
  lisinopril: { text: 'Lisinopril 10 mg tablet', rxnorm: '29046' },
  oxycodone: { text: 'Oxycodone HCl 5 mg tablet', rxnorm: '7804' },
  alprazolam: { text: 'Alprazolam 0.5 mg tablet', rxnorm: '596' },
  // standard-chronic-care
  losartan: { text: 'Losartan potassium 50 mg tablet', rxnorm: '52175' },
  lisinoprilHctz: { text: 'Lisinopril 20 mg / hydrochlorothiazide 12.5 mg tablet', rxnorm: '29046' },
  hydrochlorothiazide: { text: 'Hydrochlorothiazide 25 mg tablet', rxnorm: '5487' },
  furosemide: { text: 'Furosemide 40 mg tablet', rxnorm: '4603' },
  atorvastatin: { text: 'Atorvastatin 40 mg tablet', rxnorm: '83367' },
  levothyroxine: { text: 'Levothyroxine 75 mcg tablet', rxnorm: '10582' },
  apixaban: { text: 'Apixaban 5 mg tablet', rxnorm: '1364430' },
  oralContraceptive: { text: 'Levonorgestrel 0.15 mg / ethinyl estradiol 0.03 mg tablet', rxnorm: '6373' },
  contraceptivePatch: { text: 'Ethinyl estradiol transdermal patch, weekly', rxnorm: '4124' },
  metoprolol: { text: 'Metoprolol succinate 50 mg extended-release tablet', rxnorm: '6918' },
  // standard-chronic-care v2 (issue 13)
  apixaban25: { text: 'Apixaban 2.5 mg tablet', rxnorm: '1364430' },
  rivaroxaban20: { text: 'Rivaroxaban 20 mg tablet', rxnorm: '1114195' },
  rivaroxaban15: { text: 'Rivaroxaban 15 mg tablet', rxnorm: '1114195' },
  edoxaban60: { text: 'Edoxaban 60 mg tablet', rxnorm: '1599538' },
  apixabanNoStrength: { text: 'Apixaban tablet', rxnorm: '1364430' },
  sacubitrilValsartan: { text: 'Sacubitril 49 mg / valsartan 51 mg tablet', rxnorm: '69749' },
  entresto: { text: 'Entresto 24/26 tablet', rxnorm: '69749' },
  estradiolDrospirenone: { text: 'Drospirenone 0.5 mg / estradiol 1 mg tablet', rxnorm: '4083' },
  norethindronePop: { text: 'Norethindrone 0.35 mg tablet', rxnorm: '7514' },
  norethindrone5: { text: 'Norethindrone acetate 5 mg tablet', rxnorm: '7514' },
  levonorgestrelEmergency: { text: 'Levonorgestrel 1.5 mg tablet', rxnorm: '6373' },
} as const;
export type DrugKey = keyof typeof DRUGS;

export interface VisitSpec {
  /** `pcp`: ROV (99213) with the PCP; `ccn`: 99211 with the Collaborative Care Nurse; `non_pcp`: 99213 with an MD who is not a PCP. */
  kind: 'pcp' | 'ccn' | 'non_pcp';
  date: string;
  status?: 'finished' | 'cancelled' | 'planned' | 'in-progress';
  reasons?: ('asthma' | 'gerd' | 'sinusitis')[];
  /** Code the visit type only with SNOMED 390906007 (no CPT). */
  snomedOnly?: boolean;
}

export interface LabSpec {
  kind:
    | 'cbc'
    | 'cmp'
    | 'a1c'
    | 'lipid'
    | 'microalbumin'
    | 'level'
    | 'potassium'
    | 'creatinine'
    | 'egfr'
    | 'tsh'
    | 'sodium'
    | 'hcg';
  date: string;
  value?: number;
  /** A result reported as text (`valueString`, e.g. `>60`) instead of a number. */
  text?: string;
  /** For `hcg`: the qualitative result (SNOMED 10828004 positive, 260385009 negative). */
  result?: 'positive' | 'negative';
  /** Another LOINC code for the same kind (e.g. potassium 6298-4 instead of 2823-3). */
  loinc?: string;
  /** For `level`: the clinic's `<drug>-level` code. */
  drug?: string;
  status?: 'final' | 'preliminary' | 'amended' | 'cancelled';
}

/** A blood pressure panel (85354-9, vital-signs) with systolic/diastolic components where given. */
export interface BloodPressureSpec {
  date: string;
  systolic?: number;
  diastolic?: number;
  status?: 'final' | 'preliminary';
}

/** A body weight (29463-7, vital-signs) in kg. */
export interface WeightSpec {
  date: string;
  kg: number;
}

/** A smoking status (72166-2, social-history) with its SNOMED answer. */
export interface SmokingSpec {
  date: string;
  status: 'never' | 'former' | 'current' | 'unknown';
}

/** A problem-list Condition, coded in ICD-10-CM (default) or SNOMED CT. */
export interface ConditionSpec {
  kind: 'pregnancy' | 'vte' | 'migraine_with_aura' | 'hypertension';
  status?: 'active' | 'resolved';
  coding?: 'icd10' | 'snomed';
  recorded?: string;
}

export interface AllergySpec {
  drug: DrugKey;
  status: 'active' | 'inactive' | 'resolved';
}

/** A refill scenario in clinical terms. Everything has a sensible default: an adult, active prescription, retail. */
export interface ScenarioSpec {
  asOf?: string;
  drug: DrugKey;
  /** How the request codes the drug: ingredient code + text (default), the SCD, or text only. */
  coding?: 'in' | 'scd' | 'text';
  prn?: boolean;
  pharmacy?: 'retail' | 'mail-order' | 'none';
  supplyDays?: number;
  birthDate?: string;
  /** `Patient.gender` (none by default). */
  sex?: 'female' | 'male' | 'other';
  weights?: WeightSpec[];
  smoking?: SmokingSpec[];
  conditions?: ConditionSpec[];
  /** First prescription of this ingredient (another strength: dose changes are not new starts). */
  therapyStart?: string;
  /** authoredOn of the prescription being renewed (default: therapyStart). */
  priorAuthoredOn?: string;
  priorStatus?: 'active' | 'stopped' | 'none';
  /** reasonCode text on the prescription and the request (e.g. dental prophylaxis). */
  reason?: string;
  visits?: VisitSpec[];
  appointments?: string[];
  labs?: LabSpec[];
  bloodPressures?: BloodPressureSpec[];
  allergies?: AllergySpec[];
}

const REASONS: Record<NonNullable<VisitSpec['reasons']>[number], CodeableConcept> = {
  asthma: { coding: [{ system: SNOMED, code: '195967001', display: 'Asthma' }] },
  gerd: { coding: [{ system: SNOMED, code: '235595009', display: 'Gastroesophageal reflux disease' }] },
  sinusitis: { coding: [{ system: SNOMED, code: '36971009', display: 'Sinusitis' }] },
};

const LABS: Record<Exclude<LabSpec['kind'], 'level'>, { loinc: string; display: string; unit?: string }> = {
  cbc: { loinc: '58410-2', display: 'CBC panel - Blood by Automated count' },
  cmp: { loinc: '24323-8', display: 'Comprehensive metabolic 2000 panel - Serum or Plasma' },
  a1c: { loinc: '4548-4', display: 'Hemoglobin A1c/Hemoglobin.total in Blood', unit: '%' },
  lipid: { loinc: '57698-3', display: 'Lipid panel with direct LDL - Serum or Plasma' },
  microalbumin: { loinc: '14959-1', display: 'Microalbumin/Creatinine [Mass Ratio] in Urine', unit: 'mg/g' },
  potassium: { loinc: '2823-3', display: 'Potassium [Moles/volume] in Serum or Plasma', unit: 'mmol/L' },
  creatinine: { loinc: '2160-0', display: 'Creatinine [Mass/volume] in Serum or Plasma', unit: 'mg/dL' },
  egfr: {
    loinc: '33914-3',
    display: 'Glomerular filtration rate/1.73 sq M.predicted [Volume Rate/Area] in Serum or Plasma by MDRD',
    unit: 'mL/min/{1.73_m2}',
  },
  tsh: { loinc: '3016-3', display: 'Thyrotropin [Units/volume] in Serum or Plasma', unit: 'm[IU]/L' },
  sodium: { loinc: '2951-2', display: 'Sodium [Moles/volume] in Serum or Plasma', unit: 'mmol/L' },
  hcg: { loinc: '2106-3', display: 'Choriogonadotropin (pregnancy test) [Presence] in Urine' },
};

const SMOKING_ANSWERS: Record<SmokingSpec['status'], { code: string; display: string }> = {
  never: { code: '266919005', display: 'Never smoked tobacco' },
  former: { code: '8517006', display: 'Ex-smoker' },
  current: { code: '449868002', display: 'Smokes tobacco daily' },
  unknown: { code: '266927001', display: 'Tobacco smoking consumption unknown' },
};

const CONDITION_CODES: Record<ConditionSpec['kind'], { icd10: string; snomed: string; display: string }> = {
  pregnancy: { icd10: 'Z33.1', snomed: '77386006', display: 'Pregnant state' },
  vte: { icd10: 'Z86.718', snomed: '128053003', display: 'Deep venous thrombosis' },
  migraine_with_aura: { icd10: 'G43.109', snomed: '4473006', display: 'Migraine with aura' },
  hypertension: { icd10: 'I10', snomed: '38341003', display: 'Essential hypertension' },
};

function drugConcept(key: DrugKey, coding: ScenarioSpec['coding'] = 'in'): CodeableConcept {
  const d = DRUGS[key];
  if (coding === 'text') return { text: d.text };
  if (coding === 'scd' && 'scd' in d) return { coding: [{ system: RXNORM, ...d.scd }], text: d.text };
  return { coding: [{ system: RXNORM, code: d.rxnorm, display: key }], text: d.text };
}

const PATIENT = 'Patient/pat-1';

/** Builds the FHIR Bundle (type collection) for a scenario. Ids are stable, so evidence can be asserted. */
export function aRefillBundle(spec: ScenarioSpec): Bundle {
  const resources: Resource[] = [];
  const therapyStart = spec.therapyStart ?? '2020-01-15';
  const priorAuthoredOn = spec.priorAuthoredOn ?? therapyStart;
  const reasonCode = spec.reason ? [{ text: spec.reason }] : undefined;
  const dosage = [{ text: 'as directed', ...(spec.prn ? { asNeededBoolean: true } : {}) }];
  const supply = {
    value: spec.supplyDays ?? 30,
    unit: 'days',
    system: 'http://unitsofmeasure.org',
    code: 'd',
  };

  resources.push({
    resourceType: 'Patient',
    id: 'pat-1',
    birthDate: spec.birthDate ?? '1970-05-05',
    ...(spec.sex ? { gender: spec.sex } : {}),
    generalPractitioner: [{ reference: 'Practitioner/pcp-1' }],
  });
  resources.push(
    {
      resourceType: 'Practitioner',
      id: 'pcp-1',
      qualification: [{ code: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0360', code: 'MD' }] } }],
      extension: [{ url: 'urn:family-clinic:role', valueCode: 'primary-care-physician' }],
    },
    {
      resourceType: 'Practitioner',
      id: 'ccn-1',
      qualification: [{ code: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0360', code: 'RN' }] } }],
      extension: [{ url: 'urn:family-clinic:role', valueCode: 'collaborative-care-nurse' }],
    },
    {
      resourceType: 'Practitioner',
      id: 'derm-1',
      qualification: [{ code: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0360', code: 'MD' }] } }],
      extension: [{ url: 'urn:family-clinic:role', valueCode: 'dermatologist' }],
    },
  );
  if (spec.pharmacy !== 'none') {
    resources.push({
      resourceType: 'Organization',
      id: 'pharm-1',
      name: spec.pharmacy === 'mail-order' ? 'HomeDelivery Pharmacy' : 'Main Street Pharmacy',
      type: [{ coding: [{ system: 'urn:family-clinic:pharmacy-type', code: spec.pharmacy ?? 'retail' }] }],
    });
  }

  if (therapyStart !== priorAuthoredOn) {
    resources.push({
      resourceType: 'MedicationRequest',
      id: 'rx-first',
      status: 'completed',
      intent: 'order',
      subject: { reference: PATIENT },
      medicationCodeableConcept: drugConcept(spec.drug),
      authoredOn: therapyStart,
      dosageInstruction: dosage,
      ...(reasonCode ? { reasonCode } : {}),
    });
  }
  if (spec.priorStatus !== 'none') {
    resources.push({
      resourceType: 'MedicationRequest',
      id: 'rx-current',
      status: spec.priorStatus ?? 'active',
      intent: 'order',
      subject: { reference: PATIENT },
      medicationCodeableConcept: drugConcept(spec.drug),
      authoredOn: priorAuthoredOn,
      dosageInstruction: dosage,
      dispenseRequest: { expectedSupplyDuration: supply, quantity: { value: 30 }, numberOfRepeatsAllowed: 5 },
      ...(reasonCode ? { reasonCode } : {}),
    });
  }
  resources.push({
    resourceType: 'MedicationRequest',
    id: 'refill-req',
    status: 'draft',
    intent: 'proposal',
    identifier: [{ system: 'urn:family-clinic:renewal-request', value: 'rr-1' }],
    category: [
      {
        coding: [{ system: 'http://terminology.hl7.org/CodeSystem/medicationrequest-category', code: 'community' }],
      },
    ],
    subject: { reference: PATIENT },
    requester: { reference: 'Organization/pharm-1' },
    ...(spec.priorStatus !== 'none' ? { priorPrescription: { reference: 'MedicationRequest/rx-current' } } : {}),
    medicationCodeableConcept: drugConcept(spec.drug, spec.coding),
    authoredOn: spec.asOf ?? '2026-06-15',
    dosageInstruction: dosage,
    dispenseRequest: {
      expectedSupplyDuration: supply,
      quantity: { value: spec.supplyDays ?? 30 },
      numberOfRepeatsAllowed: 0,
    },
    ...(reasonCode ? { reasonCode } : {}),
  });

  (spec.visits ?? []).forEach((v, i) => {
    const practitioner = v.kind === 'pcp' ? 'pcp-1' : v.kind === 'ccn' ? 'ccn-1' : 'derm-1';
    const type: CodeableConcept =
      v.kind === 'ccn'
        ? { coding: [{ system: CPT, code: '99211' }] }
        : v.snomedOnly
          ? { coding: [{ system: SNOMED, code: '390906007', display: 'Follow-up encounter' }] }
          : {
              coding: [
                { system: CPT, code: '99213' },
                { system: SNOMED, code: '390906007' },
              ],
            };
    resources.push({
      resourceType: 'Encounter',
      id: `enc-${i + 1}`,
      status: v.status ?? 'finished',
      class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB' },
      type: [type],
      subject: { reference: PATIENT },
      participant: [{ individual: { reference: `Practitioner/${practitioner}` } }],
      period: { start: `${v.date}T09:00:00-05:00`, end: `${v.date}T09:30:00-05:00` },
      ...(v.reasons ? { reasonCode: v.reasons.map((r) => REASONS[r]) } : {}),
    });
  });

  (spec.appointments ?? []).forEach((date, i) =>
    resources.push({
      resourceType: 'Appointment',
      id: `appt-${i + 1}`,
      status: 'booked',
      start: `${date}T10:00:00-05:00`,
      participant: [{ actor: { reference: PATIENT }, status: 'accepted' }],
    }),
  );

  (spec.labs ?? []).forEach((l, i) => {
    const code: CodeableConcept =
      l.kind === 'level'
        ? {
            coding: [
              { system: LOINC, code: '4086-5', display: 'Valproate [Mass/volume] in Serum or Plasma' },
              { system: 'urn:family-clinic:lab', code: `${l.drug ?? 'valproate'}-level` },
            ],
            text: `${l.drug ?? 'valproate'} level`,
          }
        : { coding: [{ system: LOINC, code: l.loinc ?? LABS[l.kind].loinc, display: LABS[l.kind].display }] };
    if (l.kind === 'level' && l.drug && l.drug !== 'valproate') code.coding = code.coding?.slice(1);
    const unit = l.kind === 'level' ? 'ug/mL' : l.kind === 'a1c' ? '%' : LABS[l.kind].unit;
    const answer =
      l.result === 'positive'
        ? { coding: [{ system: SNOMED, code: '10828004', display: 'Positive' }] }
        : l.result === 'negative'
          ? { coding: [{ system: SNOMED, code: '260385009', display: 'Negative' }] }
          : undefined;
    resources.push({
      resourceType: 'Observation',
      id: `obs-${i + 1}`,
      status: l.status ?? 'final',
      category: [
        {
          coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'laboratory' }],
        },
      ],
      code,
      subject: { reference: PATIENT },
      effectiveDateTime: `${l.date}T08:00:00-05:00`,
      ...(l.value !== undefined ? { valueQuantity: { value: l.value, ...(unit ? { unit } : {}) } } : {}),
      ...(l.text !== undefined ? { valueString: l.text } : {}),
      ...(answer ? { valueCodeableConcept: answer } : {}),
    });
  });

  (spec.weights ?? []).forEach((w, i) =>
    resources.push({
      resourceType: 'Observation',
      id: `weight-${i + 1}`,
      status: 'final',
      category: [
        {
          coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs' }],
        },
      ],
      code: { coding: [{ system: LOINC, code: '29463-7', display: 'Body weight' }] },
      subject: { reference: PATIENT },
      effectiveDateTime: `${w.date}T09:05:00-05:00`,
      valueQuantity: { value: w.kg, unit: 'kg', system: 'http://unitsofmeasure.org', code: 'kg' },
    }),
  );

  (spec.smoking ?? []).forEach((sm, i) =>
    resources.push({
      resourceType: 'Observation',
      id: `smoking-${i + 1}`,
      status: 'final',
      category: [
        {
          coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'social-history' }],
        },
      ],
      code: { coding: [{ system: LOINC, code: '72166-2', display: 'Tobacco smoking status' }] },
      subject: { reference: PATIENT },
      effectiveDateTime: `${sm.date}T09:00:00-05:00`,
      valueCodeableConcept: { coding: [{ system: SNOMED, ...SMOKING_ANSWERS[sm.status] }] },
    }),
  );

  (spec.conditions ?? []).forEach((c, i) => {
    const codes = CONDITION_CODES[c.kind];
    resources.push({
      resourceType: 'Condition',
      id: `cond-${i + 1}`,
      clinicalStatus: {
        coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: c.status ?? 'active' }],
      },
      code: {
        coding: [
          c.coding === 'snomed'
            ? { system: SNOMED, code: codes.snomed, display: codes.display }
            : { system: 'http://hl7.org/fhir/sid/icd-10-cm', code: codes.icd10, display: codes.display },
        ],
      },
      subject: { reference: PATIENT },
      recordedDate: c.recorded ?? '2026-01-10',
    });
  });

  (spec.bloodPressures ?? []).forEach((bp, i) => {
    const component = (code: string, display: string, value: number | undefined) =>
      value === undefined
        ? []
        : [{ code: { coding: [{ system: LOINC, code, display }] }, valueQuantity: { value, unit: 'mm[Hg]' } }];
    resources.push({
      resourceType: 'Observation',
      id: `bp-${i + 1}`,
      status: bp.status ?? 'final',
      category: [
        {
          coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs' }],
        },
      ],
      code: { coding: [{ system: LOINC, code: '85354-9', display: 'Blood pressure panel' }] },
      subject: { reference: PATIENT },
      effectiveDateTime: `${bp.date}T09:10:00-05:00`,
      component: [
        ...component('8480-6', 'Systolic blood pressure', bp.systolic),
        ...component('8462-4', 'Diastolic blood pressure', bp.diastolic),
      ],
    });
  });

  (spec.allergies ?? []).forEach((a, i) =>
    resources.push({
      resourceType: 'AllergyIntolerance',
      id: `allergy-${i + 1}`,
      clinicalStatus: {
        coding: [{ system: 'http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical', code: a.status }],
      },
      code: { coding: [{ system: RXNORM, code: DRUGS[a.drug].rxnorm, display: a.drug }] },
      patient: { reference: PATIENT },
    }),
  );

  return {
    resourceType: 'Bundle',
    type: 'collection',
    entry: resources.map((resource): BundleEntry => ({
      fullUrl: `urn:test:${resource.resourceType}/${resource.id}`,
      resource,
    })),
  };
}
