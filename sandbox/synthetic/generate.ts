import { addDays, addMinutes, isValid, max as maxDate, parseISO, subDays } from 'date-fns';
import type {
  AllergyIntolerance,
  Appointment,
  CodeableConcept,
  Condition,
  Encounter,
  Medication,
  MedicationRequest,
  Observation,
  Organization,
  Patient,
  Practitioner,
  Resource,
} from '@medplum/fhirtypes';
import { z } from 'zod';
import { AppError, jsonPath } from '../../rules/index.ts';
import {
  A1C,
  ALLERGENS,
  BACKGROUND_DRUGS,
  CCN,
  CLINIC,
  CPT,
  DRUGS,
  FAMILY,
  GIVEN_FEMALE,
  GIVEN_MALE,
  LEVELS,
  MICROALBUMIN,
  MRN,
  MRN_TYPE,
  PANELS,
  PCPS,
  PHARMACIES,
  PHARMACY_TYPE,
  RENEWAL_REQUEST,
  ROLE_URL,
  RXNORM,
  SNOMED,
  V2_0360,
  VITALS,
  CLINIC_LAB,
  type AnalyteDef,
  type ConditionKey,
  type DrugClass,
  type DrugDef,
  type DrugKey,
} from './catalog.ts';
import {
  COMMUNITY,
  VITALS_CATEGORY,
  at,
  conditionCode,
  count,
  day,
  labResult,
  loinc,
  medicationCode,
  medicationId,
  quantity,
  ref,
} from './fhir.ts';
import {
  birthDateFor,
  planContext,
  type Disposition,
  type LabKind,
  type PatientPlan,
  type ScenarioDef,
} from './plan.ts';
import { buildCareGapPatient, contactDetails, type CareGapScenario } from './care-gap.ts';
import { CARE_GAP_SCENARIOS } from './care-gap-scenarios.ts';
import { createRng, type Rng } from './prng.ts';
import { SCENARIOS } from './scenarios.ts';

export interface GenerateOptions {
  seed: number;
  patients: number;
  /**
   * Extra patients with colorectal-screening scenarios (crc-screening-2021), numbered `pat-cg-0001`…, after the refill
   * patients. Default 0. With at least as many as there are care-gap scenarios, every scenario appears.
   */
  careGapPatients?: number;
  /** YYYY-MM-DD: "today" of the data. Nothing but Appointments is dated after it. */
  asOf: string;
}

/** One refill request of the synthetic clinic and what the reference protocol's clauses imply for it. */
export interface RefillScenario {
  patientId: string;
  medicationRequestId: string;
  scenario: string;
  drugClass: string;
  expectedDisposition: Disposition;
  expectedFailed: string[];
}

export interface SyntheticClinic {
  resources: Resource[];
  refillRequests: RefillScenario[];
  /** The care-gap patients and the clause the reference protocol decides by for each. */
  careGaps: CareGapScenario[];
}

const GenerateOptionsSchema = z.strictObject({
  seed: z.number().int(),
  patients: z.number().int().min(1).max(100_000),
  careGapPatients: z.number().int().min(0).max(100_000).optional(),
  asOf: z.iso.date(),
});

/**
 * Generates a deterministic synthetic family-medicine clinic: shared resources (clinic, PCPs, the Collaborative Care
 * Nurse, pharmacies, Medications) and, per patient, a record with exactly one pharmacy refill request whose expected
 * triage outcome under family-medicine-2015 is known; then `careGapPatients` patients whose colorectal-screening record
 * makes a known clause of crc-screening-2021 decide. Every patient has a postal address and a phone unless a care-gap
 * scenario is about reachability. Same options ⇒ byte-identical JSON, so demos, tests and
 * benchmarks can share data without shipping any.
 *
 * @throws AppError `INVALID_INPUT` when the options are malformed.
 */
export function generateClinic(opts: GenerateOptions): SyntheticClinic {
  const parsed = GenerateOptionsSchema.safeParse(opts);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => ({ path: jsonPath(i.path), message: i.message }));
    throw new AppError('INVALID_INPUT', 'Invalid synthetic clinic options', { issues });
  }
  const { seed, patients, careGapPatients = 0, asOf: asOfText } = parsed.data;
  const asOf = parseISO(asOfText);
  if (!isValid(asOf)) throw new AppError('INVALID_INPUT', 'asOf is not a calendar date');

  const master = createRng(seed);
  const width = Math.max(4, String(patients).length);
  const resources: Resource[] = [...sharedResources()];
  const refillRequests: RefillScenario[] = [];
  const assignment = assignScenarios(master, SCENARIOS, patients);

  assignment.forEach((scenario, i) => {
    const rng = createRng((Math.imul(seed ^ 0x5bd1e995, 0x01000193) + Math.imul(i + 1, 0x9e3779b1)) >>> 0);
    // Contact details draw from their own stream, so the refill record (and its expected outcome) is as before.
    const contactRng = createRng((Math.imul(seed ^ 0x2c1b3c6d, 0x01000193) + Math.imul(i + 1, 0x85ebca6b)) >>> 0);
    const built = buildPatient(String(i + 1).padStart(width, '0'), scenario, rng, asOf);
    const [patient] = built.resources;
    if (patient?.resourceType === 'Patient') Object.assign(patient, contactDetails(contactRng, 'mail-and-phone'));
    resources.push(...built.resources);
    refillRequests.push(built.refill);
  });

  const careGaps: CareGapScenario[] = [];
  const cgWidth = Math.max(4, String(careGapPatients).length);
  const cgMaster = createRng((seed ^ 0x6a09e667) >>> 0);
  assignScenarios(cgMaster, CARE_GAP_SCENARIOS, careGapPatients).forEach((scenario, i) => {
    const rng = createRng((Math.imul(seed ^ 0x3c6ef372, 0x01000193) + Math.imul(i + 1, 0x9e3779b1)) >>> 0);
    const built = buildCareGapPatient(`cg-${String(i + 1).padStart(cgWidth, '0')}`, scenario, rng, asOf);
    resources.push(...built.resources);
    careGaps.push(built.scenario);
  });
  return { resources, refillRequests, careGaps };
}

/**
 * How many patients get each scenario: proportional to the weights (largest remainder), at least one of each when the
 * population allows it, so even a small demo clinic covers every case; then a seeded shuffle.
 */
function assignScenarios<T extends { weight: number }>(rng: Rng, scenarios: readonly T[], patients: number): T[] {
  const total = scenarios.reduce((sum, s) => sum + s.weight, 0);
  if (patients < scenarios.length) {
    return Array.from({ length: patients }, () => {
      let r = rng.next() * total;
      return scenarios.find((s) => (r -= s.weight) < 0) ?? (scenarios[0] as T);
    });
  }
  const exact = scenarios.map((s) => (s.weight * patients) / total);
  const quota = exact.map((e) => Math.max(1, Math.floor(e)));
  let left = patients - quota.reduce((a, b) => a + b, 0);
  while (left < 0) {
    const largest = quota.indexOf(Math.max(...quota));
    quota[largest] = (quota[largest] ?? 1) - 1;
    left++;
  }
  const byRemainder = exact.map((e, i) => ({ i, r: e - Math.floor(e) })).sort((a, b) => b.r - a.r || a.i - b.i);
  for (let k = 0; k < left; k++) {
    const { i } = byRemainder[k % byRemainder.length] as { i: number };
    quota[i] = (quota[i] ?? 0) + 1;
  }
  return rng.shuffle(scenarios.flatMap((s, i) => Array.from({ length: quota[i] ?? 0 }, () => s)));
}

function sharedResources(): Resource[] {
  const clinic: Organization = {
    resourceType: 'Organization',
    id: CLINIC.id,
    active: true,
    type: [
      {
        coding: [
          {
            system: 'http://terminology.hl7.org/CodeSystem/organization-type',
            code: 'prov',
            display: 'Healthcare Provider',
          },
        ],
      },
    ],
    name: CLINIC.name,
  };
  const practitioner = (
    p: { id: string; given: string; family: string },
    qualification: { code: string; display: string },
    role: string,
  ): Practitioner => ({
    resourceType: 'Practitioner',
    id: p.id,
    extension: [{ url: ROLE_URL, valueCode: role }],
    active: true,
    name: [{ family: p.family, given: [p.given], suffix: [qualification.code] }],
    qualification: [
      { code: { coding: [{ system: V2_0360, code: qualification.code, display: qualification.display }] } },
    ],
  });
  const pharmacies: Organization[] = PHARMACIES.map((p) => ({
    resourceType: 'Organization',
    id: p.id,
    active: true,
    type: [
      {
        coding: [
          {
            system: PHARMACY_TYPE,
            code: p.type,
            display: p.type === 'retail' ? 'Retail (local) pharmacy' : 'Mail-order pharmacy',
          },
        ],
      },
    ],
    name: p.name,
  }));
  const medications: Medication[] = Object.values(DRUGS).flatMap((drug: DrugDef) =>
    drug.products.map((product, i) => ({
      resourceType: 'Medication' as const,
      id: medicationId(drug, i),
      status: 'active' as const,
      code: medicationCode(drug, product),
    })),
  );
  return [
    clinic,
    ...PCPS.map((p) => practitioner(p, { code: 'MD', display: 'Doctor of Medicine' }, 'primary-care-physician')),
    practitioner(CCN, { code: 'RN', display: 'Registered Nurse' }, 'collaborative-care-nurse'),
    ...pharmacies,
    ...medications,
  ];
}

const PEDIATRIC_OK: readonly DrugClass[] = ['asthma_routine_inhaler', 'asthma_prn_inhaler', 'allergy_epipen_dental'];

/** Fills what the scenario left open with defaults that cannot change its expected outcome. */
function completePlan(rng: Rng, asOf: Date, drug: DrugDef, partial: Partial<PatientPlan>): PatientPlan {
  const c = planContext(rng, asOf);
  const pediatric = PEDIATRIC_OK.includes(drug.drugClass) && rng.chance(0.3);
  const age = partial.age ?? { years: pediatric ? rng.int(6, 17) : rng.int(24, 86), daysPastBirthday: rng.int(1, 300) };
  const therapyStart = partial.therapyStart ?? c.before(13, 60);
  const orderFrom = maxDate([therapyStart, c.ago(11)]);
  const orderTo = subDays(asOf, 14);
  const currentOrder = partial.currentOrder ?? (orderFrom < orderTo ? c.between(orderFrom, orderTo) : therapyStart);
  const canChangeDose = drug.products.length > 1 && day(currentOrder) !== day(therapyStart);
  const pcpVisits = partial.pcpVisits ?? [];
  const ccnVisits = partial.ccnVisits ?? [];
  const cancelledVisits = partial.cancelledVisits ?? [];
  const explicit = [...pcpVisits.map((v) => v.date), ...ccnVisits, ...cancelledVisits];
  const historyBefore = partial.historyBefore ?? (explicit.length ? new Date(Math.min(...explicit.map(Number))) : asOf);
  const supplyDraw = rng.next();
  return {
    age,
    therapyStart,
    currentOrder,
    doseChange: canChangeDose && (partial.doseChange ?? rng.chance(0.25)),
    priorStatus: partial.priorStatus ?? 'active',
    pcpVisits,
    ccnVisits,
    cancelledVisits,
    historyBefore,
    labs: partial.labs ?? [],
    absentLabs: partial.absentLabs ?? [],
    ...(partial.allergyToRequested ? { allergyToRequested: partial.allergyToRequested } : {}),
    indication: partial.indication ?? (drug.drugClass !== 'antibiotic' && rng.chance(0.5) ? drug.condition : 'none'),
    supply: partial.supply ?? (supplyDraw < 0.5 ? 'retail30' : supplyDraw < 0.7 ? 'retail90' : 'mail90'),
    useMedicationReference: partial.useMedicationReference ?? rng.chance(0.2),
  };
}

interface BuiltPatient {
  resources: Resource[];
  refill: RefillScenario;
}

function buildPatient(num: string, scenario: ScenarioDef, rng: Rng, asOf: Date): BuiltPatient {
  const drugKey = rng.pick(scenario.drugs);
  const drug: DrugDef = DRUGS[drugKey];
  const plan = completePlan(rng, asOf, drug, scenario.plan(planContext(rng, asOf), drug));
  const c = planContext(rng, asOf);
  const patientId = `pat-${num}`;
  const subject = ref<Patient>('Patient', patientId);
  const pcp = rng.pick(PCPS);
  const pcpRef = ref<Practitioner>('Practitioner', pcp.id, `Dr. ${pcp.given} ${pcp.family}`);
  const ccnRef = ref<Practitioner>('Practitioner', CCN.id, `${CCN.given} ${CCN.family}, RN`);
  const adult = plan.age.years >= 18;

  // --- Patient
  const gender = rng.chance(0.52) ? 'female' : 'male';
  const patient: Patient = {
    resourceType: 'Patient',
    id: patientId,
    identifier: [{ type: MRN_TYPE, system: MRN, value: `MRN${num}` }],
    active: true,
    name: [
      { use: 'official', family: rng.pick(FAMILY), given: [rng.pick(gender === 'female' ? GIVEN_FEMALE : GIVEN_MALE)] },
    ],
    gender,
    birthDate: day(birthDateFor(asOf, plan.age)),
    generalPractitioner: [pcpRef],
    managingOrganization: ref<Organization>('Organization', CLINIC.id),
  };

  // --- Background chronic drugs (never the requested ingredient), adults only.
  const background: DrugKey[] = adult
    ? rng.shuffle(BACKGROUND_DRUGS.filter((k) => DRUGS[k].ingredient !== drug.ingredient)).slice(0, rng.int(0, 3))
    : [];

  // --- Conditions: the requested drug's, the background drugs', and any reason a visit addresses.
  const problems = new Set<ConditionKey>([drug.condition, ...background.map((k) => DRUGS[k].condition)]);
  for (const v of plan.pcpVisits) for (const r of v.reasons ?? []) problems.add(r);
  if (plan.indication !== 'none' && plan.indication !== 'dental') problems.add(plan.indication);
  const conditions: Condition[] = [...problems].map((key, i) => {
    const acute = key === 'sinusitis';
    const onset = acute ? c.between(c.ago(30), subDays(asOf, 20)) : subDays(plan.therapyStart, rng.int(0, 200));
    return {
      resourceType: 'Condition',
      id: `cond-${num}-${String(i + 1).padStart(2, '0')}`,
      clinicalStatus: {
        coding: [
          { system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: acute ? 'resolved' : 'active' },
        ],
      },
      verificationStatus: {
        coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-ver-status', code: 'confirmed' }],
      },
      category: [
        {
          coding: [
            {
              system: 'http://terminology.hl7.org/CodeSystem/condition-category',
              code: acute ? 'encounter-diagnosis' : 'problem-list-item',
            },
          ],
        },
      ],
      code: conditionCode(key),
      subject,
      onsetDateTime: day(onset),
      ...(acute ? { abatementDateTime: day(addDays(onset, 14)) } : {}),
      recordedDate: day(onset),
    };
  });
  const chronicReasons = [...problems].filter((k) => k !== 'asthma' && k !== 'sinusitis');

  // --- Allergies: background (never to the requested ingredient) and the scenario's, if any.
  const allergies: AllergyIntolerance[] = [];
  const allergyId = () => `alg-${num}-${String(allergies.length + 1).padStart(2, '0')}`;
  const allergy = (
    code: CodeableConcept,
    status: 'active' | 'inactive' | 'resolved',
    cat: 'medication' | 'food',
    reaction: string,
  ) =>
    allergies.push({
      resourceType: 'AllergyIntolerance',
      id: allergyId(),
      clinicalStatus: {
        coding: [{ system: 'http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical', code: status }],
      },
      verificationStatus: {
        coding: [
          { system: 'http://terminology.hl7.org/CodeSystem/allergyintolerance-verification', code: 'confirmed' },
        ],
      },
      type: 'allergy',
      category: [cat],
      criticality: cat === 'food' ? 'high' : 'low',
      code,
      patient: subject,
      recordedDate: day(c.between(c.ago(60), c.ago(2))),
      reaction: [{ manifestation: [{ text: reaction }] }],
    });
  if (rng.chance(0.4)) {
    const pool = ALLERGENS.filter((a) => !(drug.key === 'amoxicillin' && a.name === 'penicillin G'));
    for (const a of rng.shuffle(pool).slice(0, rng.int(1, 2))) {
      const status = rng.chance(0.8) ? 'active' : rng.pick(['inactive', 'resolved'] as const);
      allergy(
        { coding: [{ system: RXNORM, code: a.rxnorm, display: a.name }], text: a.name },
        status,
        'medication',
        a.reaction,
      );
    }
  }
  if (drug.key === 'epinephrine') {
    allergy(
      { coding: [{ system: SNOMED, code: '91935009', display: 'Allergy to peanuts' }], text: 'Peanut allergy' },
      'active',
      'food',
      'Anaphylaxis',
    );
  }
  if (plan.allergyToRequested) {
    allergy(
      { coding: [{ system: RXNORM, code: drug.rxnorm, display: drug.ingredient }], text: drug.ingredient },
      plan.allergyToRequested,
      'medication',
      rng.pick(['Rash', 'Hives', 'Angioedema', 'Nausea']),
    );
  }

  // --- Prescriptions (orders) and the refill request.
  const orders: MedicationRequest[] = [];
  const orderId = () => `mr-${num}-${String(orders.length + 1).padStart(2, '0')}`;
  const reasonFor = (indication: PatientPlan['indication']): CodeableConcept[] | undefined => {
    if (indication === 'none') return undefined;
    if (indication === 'dental') {
      return [{ text: 'Dental prophylaxis: antibiotic before dental procedures (prosthetic heart valve)' }];
    }
    return [conditionCode(indication)];
  };
  const order = (
    d: DrugDef,
    productIndex: number,
    authored: Date,
    status: 'active' | 'stopped' | 'completed',
    byReference: boolean,
    reasonCode?: CodeableConcept[],
  ): MedicationRequest => {
    const product = d.products[productIndex] ?? d.products[0];
    if (!product) throw new Error(`drug ${d.key} has no product`);
    const mr: MedicationRequest = {
      resourceType: 'MedicationRequest',
      id: orderId(),
      status,
      ...(status === 'stopped' ? { statusReason: { text: 'Discontinued by prescriber' } } : {}),
      intent: 'order',
      category: COMMUNITY,
      ...(byReference
        ? { medicationReference: ref<Medication>('Medication', medicationId(d, productIndex), product.text) }
        : { medicationCodeableConcept: medicationCode(d, product) }),
      subject,
      authoredOn: at(authored, rng.int(8, 16), rng.int(0, 59)),
      requester: pcpRef,
      ...(reasonCode ? { reasonCode } : {}),
      dosageInstruction: [{ text: d.sig, ...(d.prn ? { asNeededBoolean: true } : {}) }],
      dispenseRequest: {
        validityPeriod: { start: day(authored) }, // no end date: nothing but Appointments lies after asOf
        numberOfRepeatsAllowed: 3,
        quantity: count(d.per30 * 3, d.unit),
        expectedSupplyDuration: { value: 90, unit: 'days', system: 'http://unitsofmeasure.org', code: 'd' },
      },
    };
    orders.push(mr);
    return mr;
  };

  const last = drug.products.length - 1;
  const reasonCode = reasonFor(plan.indication);
  if (plan.doseChange) {
    order(drug, 0, plan.therapyStart, 'stopped', plan.useMedicationReference, reasonCode);
  } else if (day(plan.therapyStart) !== day(plan.currentOrder)) {
    order(drug, last, plan.therapyStart, 'completed', plan.useMedicationReference, reasonCode);
  }
  const prior = order(drug, last, plan.currentOrder, plan.priorStatus, plan.useMedicationReference, reasonCode);
  for (const k of background) {
    const d: DrugDef = DRUGS[k];
    order(
      d,
      rng.int(0, d.products.length - 1),
      c.between(c.ago(36), c.ago(1)),
      rng.chance(0.8) ? 'active' : 'stopped',
      rng.chance(0.2),
    );
  }

  const mail = plan.supply === 'mail90';
  const pharmacy = rng.pick(PHARMACIES.filter((p) => (mail ? p.type === 'mail-order' : p.type === 'retail')));
  const days = plan.supply === 'retail30' ? 30 : 90;
  const requestId = `mr-${num}-req`;
  const request: MedicationRequest = {
    resourceType: 'MedicationRequest',
    id: requestId,
    identifier: [{ system: RENEWAL_REQUEST, value: `RR-${num}` }],
    status: 'draft',
    intent: 'proposal',
    category: COMMUNITY,
    ...(prior.medicationReference
      ? { medicationReference: prior.medicationReference }
      : prior.medicationCodeableConcept
        ? { medicationCodeableConcept: prior.medicationCodeableConcept }
        : {}),
    subject,
    authoredOn: at(subDays(asOf, rng.int(0, 2)), rng.int(7, 11), rng.int(0, 59)),
    requester: ref<Organization>('Organization', pharmacy.id, pharmacy.name),
    ...(reasonCode ? { reasonCode } : {}),
    dosageInstruction: prior.dosageInstruction ?? [],
    priorPrescription: ref<MedicationRequest>('MedicationRequest', prior.id ?? ''),
    dispenseRequest: {
      quantity: count((drug.per30 * days) / 30, drug.unit),
      numberOfRepeatsAllowed: days === 30 ? 5 : 3,
      expectedSupplyDuration: { value: days, unit: 'days', system: 'http://unitsofmeasure.org', code: 'd' },
    },
  };

  // --- Encounters: background history strictly before the scenario's visits, then the scenario's own.
  type VisitKind = 'pcp' | 'ccn' | 'cancelled';
  const visits: { date: Date; kind: VisitKind; reasons: ConditionKey[] }[] = [];
  const pickReasons = (): ConditionKey[] => rng.shuffle(chronicReasons).slice(0, rng.int(1, 2));
  const historyFrom = c.ago(36);
  const historyTo = subDays(plan.historyBefore, 1);
  if (historyTo > historyFrom) {
    for (let i = rng.int(1, 4); i > 0; i--)
      visits.push({ date: c.between(historyFrom, historyTo), kind: 'pcp', reasons: pickReasons() });
  }
  for (const v of plan.pcpVisits) visits.push({ date: v.date, kind: 'pcp', reasons: v.reasons ?? pickReasons() });
  for (const d of plan.ccnVisits)
    visits.push({ date: d, kind: 'ccn', reasons: drug.condition === 'diabetes' ? ['diabetes'] : [] });
  for (const d of plan.cancelledVisits) visits.push({ date: d, kind: 'cancelled', reasons: pickReasons() });
  visits.sort((a, b) => a.date.getTime() - b.date.getTime());

  const encounters: Encounter[] = [];
  const observations: Observation[] = [];
  const obsId = () => `obs-${num}-${String(observations.length + 1).padStart(3, '0')}`;
  const baseWeight = plan.age.years < 18 ? rng.decimal(20, 60, 1) : rng.decimal(52, 118, 1);

  visits.forEach((v, i) => {
    const id = `enc-${num}-${String(i + 1).padStart(2, '0')}`;
    const startHour = rng.int(8, 15);
    const startMinute = rng.pick([0, 15, 30, 45]);
    const start = at(v.date, startHour, startMinute);
    const length = v.kind === 'ccn' ? 20 : 30;
    const end = addMinutes(parseISO(start), length).toISOString().replace('.000Z', 'Z');
    const nurse = v.kind === 'ccn';
    encounters.push({
      resourceType: 'Encounter',
      id,
      status: v.kind === 'cancelled' ? 'cancelled' : 'finished',
      class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB', display: 'ambulatory' },
      type: [
        nurse
          ? {
              coding: [
                {
                  system: CPT,
                  code: '99211',
                  display: 'Office or other outpatient visit, established patient, minimal',
                },
              ],
              text: 'Collaborative Care Nurse visit',
            }
          : {
              coding: [
                {
                  system: CPT,
                  code: '99213',
                  display: 'Office or other outpatient visit, established patient, low complexity',
                },
                { system: SNOMED, code: '390906007', display: 'Follow-up encounter' },
              ],
              text: 'Return office visit',
            },
      ],
      subject,
      participant: [
        {
          type: [
            {
              coding: [
                {
                  system: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType',
                  code: 'PPRF',
                  display: 'primary performer',
                },
              ],
            },
          ],
          individual: nurse ? ccnRef : pcpRef,
        },
      ],
      period: v.kind === 'cancelled' ? { start } : { start, end },
      ...(v.reasons.length ? { reasonCode: v.reasons.map(conditionCode) } : {}),
      serviceProvider: ref<Organization>('Organization', CLINIC.id),
    });
    if (v.kind === 'cancelled') return;
    const encounter = ref<Encounter>('Encounter', id);
    const systolic = rng.int(106, 152);
    observations.push({
      resourceType: 'Observation',
      id: obsId(),
      status: 'final',
      category: VITALS_CATEGORY,
      code: { coding: [loinc(VITALS.bp.loinc, VITALS.bp.display)], text: 'Blood pressure' },
      subject,
      encounter,
      effectiveDateTime: start,
      component: [
        {
          code: { coding: [loinc(VITALS.systolic.loinc, VITALS.systolic.display)] },
          valueQuantity: quantity(systolic, 'mm[Hg]'),
        },
        {
          code: { coding: [loinc(VITALS.diastolic.loinc, VITALS.diastolic.display)] },
          valueQuantity: quantity(systolic - rng.int(36, 56), 'mm[Hg]'),
        },
      ],
    });
    observations.push({
      resourceType: 'Observation',
      id: obsId(),
      status: 'final',
      category: VITALS_CATEGORY,
      code: { coding: [loinc(VITALS.weight.loinc, VITALS.weight.display)], text: 'Body weight' },
      subject,
      encounter,
      effectiveDateTime: start,
      valueQuantity: quantity(Math.round((baseWeight + rng.decimal(-2.5, 2.5, 1)) * 10) / 10, 'kg'),
    });
  });

  // --- Labs: the scenario's, then background results of kinds it does not control.
  const analyte = (a: AnalyteDef, value?: number) =>
    quantity(value ?? rng.decimal(a.range[0], a.range[1], a.decimals), a.unit);
  const addLab = (kind: LabKind, date: Date, value?: number) => {
    const effective = at(date, rng.int(7, 15), rng.int(0, 59));
    if (kind === 'cbc' || kind === 'cmp' || kind === 'lipid') {
      const panel = PANELS[kind];
      const members = panel.members.map((m) => {
        const o = labResult(obsId(), subject, { coding: [loinc(m.loinc, m.display)] }, effective, analyte(m));
        observations.push(o);
        return o;
      });
      const p = labResult(
        obsId(),
        subject,
        { coding: [loinc(panel.loinc, panel.display)], text: panel.display },
        effective,
      );
      p.hasMember = members.map((m) => ref<Observation>('Observation', m.id ?? ''));
      observations.push(p);
    } else if (kind === 'a1c') {
      observations.push(
        labResult(
          obsId(),
          subject,
          { coding: [loinc(A1C.loinc, A1C.display)], text: 'Hemoglobin A1c' },
          effective,
          analyte(A1C, value),
        ),
      );
    } else if (kind === 'microalbumin') {
      observations.push(
        labResult(
          obsId(),
          subject,
          { coding: [loinc(MICROALBUMIN.loinc, MICROALBUMIN.display)], text: 'Urine microalbumin/creatinine ratio' },
          effective,
          analyte(MICROALBUMIN, value),
        ),
      );
    } else {
      if (!drug.level) throw new Error(`scenario ${scenario.name} draws a level for ${drug.key}, which has none`);
      const lvl = LEVELS[drug.level];
      const code = {
        coding: [
          loinc(lvl.loinc, lvl.display),
          { system: CLINIC_LAB, code: `${drug.level}-level`, display: `${drug.ingredient} level` },
        ],
        text: `${drug.ingredient} level`,
      };
      observations.push(
        labResult(
          obsId(),
          subject,
          code,
          effective,
          quantity(value ?? rng.decimal(lvl.range[0], lvl.range[1], 1), lvl.unit),
        ),
      );
    }
  };
  for (const lab of [...plan.labs].sort((a, b) => a.date.getTime() - b.date.getTime()))
    addLab(lab.kind, lab.date, lab.value);
  const controlled = new Set<LabKind>([...plan.labs.map((l) => l.kind), ...plan.absentLabs]);
  const has = (k: ConditionKey) => problems.has(k);
  const backgroundLab = (kind: LabKind, wanted: boolean) => {
    if (!wanted || controlled.has(kind)) return;
    for (let i = rng.int(1, 2); i > 0; i--) addLab(kind, c.between(c.ago(30), subDays(asOf, 3)));
  };
  backgroundLab('cmp', adult && (has('hypertension') || has('diabetes') || has('hyperlipidemia') || rng.chance(0.3)));
  backgroundLab('lipid', adult && (has('hyperlipidemia') || has('diabetes') || rng.chance(0.2)));
  backgroundLab('microalbumin', has('diabetes'));
  backgroundLab('a1c', has('diabetes'));
  backgroundLab('cbc', rng.chance(0.25));

  // --- Future appointments (never visits).
  const appointments: Appointment[] = [];
  for (let i = rng.int(0, 2); i > 0; i--) {
    const startDay = addDays(asOf, rng.int(3, 120));
    const start = at(startDay, rng.int(13, 20), rng.pick([0, 20, 40]));
    appointments.push({
      resourceType: 'Appointment',
      id: `appt-${num}-${String(appointments.length + 1).padStart(2, '0')}`,
      status: 'booked',
      appointmentType: {
        coding: [
          {
            system: 'http://terminology.hl7.org/CodeSystem/v2-0276',
            code: 'FOLLOWUP',
            display: 'A follow up visit from a previous appointment',
          },
        ],
      },
      description: 'Follow-up visit',
      start,
      end: addMinutes(parseISO(start), 20).toISOString().replace('.000Z', 'Z'),
      participant: [
        { actor: subject, status: 'accepted' },
        { actor: pcpRef, status: 'accepted' },
      ],
    });
  }

  return {
    resources: [
      patient,
      ...conditions,
      ...allergies,
      ...orders,
      request,
      ...encounters,
      ...observations,
      ...appointments,
    ],
    refill: {
      patientId,
      medicationRequestId: requestId,
      scenario: scenario.name,
      drugClass: drug.drugClass,
      expectedDisposition: scenario.expected,
      expectedFailed: [...scenario.expectedFailed],
    },
  };
}
