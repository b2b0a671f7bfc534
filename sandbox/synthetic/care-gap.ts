import { addDays, addMinutes, parseISO, subDays, subYears } from 'date-fns';
import type {
  Address,
  Appointment,
  CodeableConcept,
  Coding,
  Condition,
  ContactPoint,
  DiagnosticReport,
  Encounter,
  MedicationRequest,
  Observation,
  Organization,
  Patient,
  Practitioner,
  Procedure,
  Resource,
  ServiceRequest,
} from '@medplum/fhirtypes';
import {
  CLINIC,
  CPT,
  FAMILY,
  GIVEN_FEMALE,
  GIVEN_MALE,
  ICD10,
  LOINC,
  MRN,
  MRN_TYPE,
  PCPS,
  RXNORM,
  SNOMED,
} from './catalog.ts';
import { LAB_CATEGORY, at, day, ref } from './fhir.ts';
import { planContext, type PlanContext } from './plan.ts';
import type { Rng } from './prng.ts';

/**
 * Colorectal-screening records of the synthetic clinic, encoded exactly as crc-screening-2021.md's "How this clinic's
 * EHR records the data" says: the code systems, statuses and date fields the protocol reads. A care-gap scenario
 * writes one patient whose deciding clause is known; `CareGapRecord` is the small builder the scenarios use.
 */

export const HCPCS = 'urn:oid:2.16.840.1.113883.6.285';
const INTERPRETATION = 'http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation';
const CONDITION_CLINICAL = 'http://terminology.hl7.org/CodeSystem/condition-clinical';
const CONDITION_VERIFICATION = 'http://terminology.hl7.org/CodeSystem/condition-ver-status';

export type CareGapDisposition =
  'not_applicable' | 'gap_closed' | 'suppressed' | 'outreach' | 'nurse_review' | 'doctor_review';

/** A code in one system with its display: what the record builder writes. */
export interface Code {
  system: string;
  code: string;
  display: string;
}

const c = (system: string, code: string, display: string): Code => ({ system, code, display });
const coding = (x: Code): Coding => ({ system: x.system, code: x.code, display: x.display });
const concept = (x: Code, text?: string): CodeableConcept => ({ coding: [coding(x)], text: text ?? x.display });

/** The codes the scenarios draw from: a few of each list in the protocol document (not the full value sets). */
export const CRC_CODES = {
  colorectalCancer: [
    c(ICD10, 'C18.7', 'Malignant neoplasm of sigmoid colon'),
    c(ICD10, 'C18.2', 'Malignant neoplasm of ascending colon'),
    c(ICD10, 'C20', 'Malignant neoplasm of rectum'),
    c(ICD10, 'C19', 'Malignant neoplasm of rectosigmoid junction'),
  ],
  totalColectomy: [
    c(CPT, '44150', 'Colectomy, total, abdominal, without proctectomy; with ileostomy or ileoproctostomy'),
    c(CPT, '44210', 'Laparoscopy, surgical; colectomy, total, abdominal, without proctectomy'),
    c(SNOMED, '26390003', 'Total colectomy'),
  ],
  palliativeCondition: c(ICD10, 'Z51.5', 'Encounter for palliative care'),
  frailty: [
    c(ICD10, 'R54', 'Age-related physical debility'),
    c(ICD10, 'R26.81', 'Unsteadiness on feet'),
    c(ICD10, 'Z74.01', 'Bed confinement status'),
    c(ICD10, 'Z99.3', 'Dependence on wheelchair'),
  ],
  advancedIllness: [
    c(ICD10, 'I50.22', 'Chronic systolic (congestive) heart failure'),
    c(ICD10, 'J43.9', 'Emphysema, unspecified'),
    c(ICD10, 'N18.6', 'End stage renal disease'),
    c(ICD10, 'C25.9', 'Malignant neoplasm of pancreas, unspecified'),
    c(ICD10, 'G30.9', "Alzheimer's disease, unspecified"),
  ],
  dementiaMedication: [
    c(RXNORM, '135447', 'donepezil'),
    c(RXNORM, '4637', 'galantamine'),
    c(RXNORM, '6719', 'memantine'),
    c(RXNORM, '183379', 'rivastigmine'),
  ],
  symptoms: [
    c(ICD10, 'K62.5', 'Hemorrhage of anus and rectum'),
    c(ICD10, 'K92.1', 'Melena'),
    c(ICD10, 'D50.9', 'Iron deficiency anemia, unspecified'),
    c(ICD10, 'R19.5', 'Other fecal abnormalities'),
  ],
  ibd: [
    c(ICD10, 'K50.90', "Crohn's disease, unspecified, without complications"),
    c(ICD10, 'K51.90', 'Ulcerative colitis, unspecified, without complications'),
  ],
  polyps: [
    c(ICD10, 'Z86.010', 'Personal history of colonic polyps'),
    c(ICD10, 'Z86.0101', 'Personal history of adenomatous and serrated colon polyps'),
  ],
  colonoscopy: [
    c(CPT, '45378', 'Colonoscopy, flexible; diagnostic'),
    c(CPT, '45385', 'Colonoscopy, flexible; with removal of tumor(s), polyp(s), or other lesion(s) by snare technique'),
    c(HCPCS, 'G0121', 'Colorectal cancer screening; colonoscopy on individual not meeting criteria for high risk'),
    c(HCPCS, 'G0105', 'Colorectal cancer screening; colonoscopy on individual at high risk'),
    c(SNOMED, '73761001', 'Colonoscopy'),
  ],
  sigmoidoscopy: [
    c(CPT, '45330', 'Sigmoidoscopy, flexible; diagnostic'),
    c(HCPCS, 'G0104', 'Colorectal cancer screening; flexible sigmoidoscopy'),
    c(SNOMED, '44441009', 'Flexible fiberoptic sigmoidoscopy'),
  ],
  fit: [
    c(LOINC, '29771-3', 'Hemoglobin.gastrointestinal.lower [Presence] in Stool by Immunoassay'),
    c(LOINC, '57905-2', 'Hemoglobin.gastrointestinal.lower [Presence] in Stool by Immunoassay --1st specimen'),
    c(LOINC, '2335-8', 'Hemoglobin.gastrointestinal [Presence] in Stool'),
    c(LOINC, '80372-6', 'Hemoglobin.gastrointestinal.lower [Presence] in Stool by Rapid immunoassay'),
  ],
  sdna: [
    c(LOINC, '77353-1', 'Noninvasive colorectal cancer DNA and occult blood screening [Interpretation] in Stool'),
    c(LOINC, '77354-9', 'Noninvasive colorectal cancer DNA and occult blood screening [Presence] in Stool'),
  ],
  ctColonography: [
    c(LOINC, '60515-4', 'CT Abdomen and Pelvis W contrast via colon'),
    c(LOINC, '72531-7', 'CT Colon and Rectum W contrast via rectum'),
    c(LOINC, '79069-1', 'CT Colon and Rectum for screening WO contrast IV'),
  ],
  hospiceEncounter: c(SNOMED, '385763009', 'Hospice care'),
  hospiceDischarge: [
    c(SNOMED, '428361000124107', 'Discharge to home for hospice care'),
    c(SNOMED, '428371000124100', 'Discharge to healthcare facility for hospice care'),
  ],
  palliativeEncounter: c(SNOMED, '103735009', 'Palliative care'),
  hospiceAssessment: c(LOINC, '45755-6', 'Hospice care [Minimum Data Set]'),
  palliativeAssessment: c(LOINC, '71007-9', 'Functional Assessment of Chronic Illness Therapy - Palliative Care'),
  yes: c(LOINC, 'LA33-6', 'Yes'),
  housing: c(LOINC, '71802-3', 'Housing status'),
  nursingHome: c(SNOMED, '160734000', 'Lives in a nursing home'),
  livesAlone: c(SNOMED, '105529008', 'Lives alone'),
  refused: c(SNOMED, '183944003', 'Procedure refused'),
  positive: [
    { interpretation: 'POS', display: 'Positive' },
    { interpretation: 'A', display: 'Abnormal' },
    { value: c(SNOMED, '10828004', 'Positive') },
  ],
  negative: [
    { interpretation: 'NEG', display: 'Negative' },
    { interpretation: 'N', display: 'Normal' },
    { value: c(SNOMED, '260385009', 'Negative') },
  ],
} as const;

const TOWNS = ['Maple Grove', 'Cedar Falls', 'Brookfield', 'Lakeview', 'Riverton'] as const;
const STREETS = ['Oak Street', 'Elm Avenue', 'Birch Lane', 'Pine Road', 'Willow Court', 'Main Street'] as const;

/** How the patient can be reached: what `Patient.address` and `Patient.telecom` hold. */
export type Reachability = 'mail-and-phone' | 'phone-only' | 'mail-only' | 'none' | 'address-without-line';

/** An invented postal address and a 555 phone number, as the reachability asks. */
export function contactDetails(rng: Rng, reach: Reachability): { address?: Address[]; telecom?: ContactPoint[] } {
  const town = rng.pick(TOWNS);
  const postalCode = `5${String(rng.int(5000, 5999))}`;
  const line = [`${rng.int(10, 2999)} ${rng.pick(STREETS)}`];
  const phone: ContactPoint[] = [
    { system: 'phone', value: `555-01${String(rng.int(0, 99)).padStart(2, '0')}`, use: 'home' },
  ];
  const full: Address[] = [{ use: 'home', line, city: town, state: 'MN', postalCode }];
  switch (reach) {
    case 'mail-and-phone':
      return { address: full, telecom: phone };
    case 'phone-only':
      return { telecom: phone };
    case 'mail-only':
      return { address: full, telecom: [{ system: 'email', value: 'patient@example.org', use: 'home' }] };
    case 'address-without-line':
      return { address: [{ use: 'home', city: town, state: 'MN', postalCode }] };
    case 'none':
      return {};
  }
}

type StoolResult = 'positive' | 'negative' | 'none';
type ResultEncoding = { interpretation: string; display: string } | { value: Code };

/** One patient's record under construction: the builder a care-gap scenario writes through. */
export class CareGapRecord {
  readonly resources: Resource[] = [];
  readonly subject;
  readonly pcp;
  birthDate: Date | null;
  reach: Reachability = 'mail-and-phone';
  private seq = 0;

  constructor(
    readonly num: string,
    readonly rng: Rng,
    readonly c: PlanContext,
  ) {
    this.subject = ref<Patient>('Patient', `pat-${num}`);
    const pcp = rng.pick(PCPS);
    this.pcp = ref<Practitioner>('Practitioner', pcp.id, `Dr. ${pcp.given} ${pcp.family}`);
    this.birthDate = subDays(subYears(c.asOf, rng.int(50, 75)), rng.int(1, 300));
  }

  private id(prefix: string): string {
    this.seq += 1;
    return `${prefix}-${this.num}-${String(this.seq).padStart(2, '0')}`;
  }

  private time(d: Date): string {
    return at(d, this.rng.int(8, 15), this.rng.pick([0, 15, 30, 45]));
  }

  /** Age in whole years at asOf (`daysPastBirthday` 0 = the birthday is today). */
  age(years: number, daysPastBirthday = this.rng.int(1, 300)): this {
    this.birthDate = subDays(subYears(this.c.asOf, years), daysPastBirthday);
    return this;
  }

  /** Born on this date exactly (for birthday edges). */
  born(date: Date): this {
    this.birthDate = date;
    return this;
  }

  condition(
    code: Code,
    date: Date,
    opts: { status?: 'active' | 'resolved' | 'inactive'; verification?: 'confirmed' | 'entered-in-error' } = {},
  ): Condition {
    const status = opts.status ?? 'active';
    const condition: Condition = {
      resourceType: 'Condition',
      id: this.id('cond'),
      // FHIR con-5: an entered-in-error Condition carries no clinical status.
      ...(opts.verification === 'entered-in-error'
        ? {}
        : { clinicalStatus: { coding: [{ system: CONDITION_CLINICAL, code: status }] } }),
      verificationStatus: { coding: [{ system: CONDITION_VERIFICATION, code: opts.verification ?? 'confirmed' }] },
      category: [
        {
          coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-category', code: 'problem-list-item' }],
        },
      ],
      code: concept(code),
      subject: this.subject,
      onsetDateTime: day(date),
      ...(status === 'resolved' ? { abatementDateTime: day(date) } : {}),
      recordedDate: day(date),
    };
    this.resources.push(condition);
    return condition;
  }

  /** A completed procedure; `period` records the date as `performedPeriod.end` instead of `performedDateTime`. */
  procedure(code: Code, date: Date, opts: { period?: boolean } = {}): Procedure {
    const performed = this.time(date);
    const procedure: Procedure = {
      resourceType: 'Procedure',
      id: this.id('proc'),
      status: 'completed',
      code: concept(code),
      subject: this.subject,
      ...(opts.period
        ? {
            performedPeriod: {
              start: performed,
              end: addMinutes(parseISO(performed), 40).toISOString().slice(0, 19) + 'Z',
            },
          }
        : { performedDateTime: performed }),
      performer: [{ actor: this.pcp }],
    };
    this.resources.push(procedure);
    return procedure;
  }

  /** A screening the patient refused, recorded as the protocol says: `not-done` with SNOMED 183944003. */
  declined(code: Code, date: Date): Procedure {
    const procedure: Procedure = {
      resourceType: 'Procedure',
      id: this.id('proc'),
      status: 'not-done',
      statusReason: concept(CRC_CODES.refused),
      code: concept(code),
      subject: this.subject,
      performedDateTime: this.time(date),
    };
    this.resources.push(procedure);
    return procedure;
  }

  /** A stool test (or CT colonography) Observation; the result is encoded one of the ways the protocol accepts. */
  stoolTest(code: Code, date: Date, result: StoolResult, status: 'final' | 'amended' | 'corrected' = 'final') {
    const effective = this.time(date);
    const encodings: readonly ResultEncoding[] =
      result === 'positive' ? CRC_CODES.positive : result === 'negative' ? CRC_CODES.negative : [];
    const encoding = encodings.length ? this.rng.pick(encodings) : undefined;
    const observation: Observation = {
      resourceType: 'Observation',
      id: this.id('obs'),
      status,
      category: LAB_CATEGORY,
      code: concept(code),
      subject: this.subject,
      effectiveDateTime: effective,
      issued: effective.replace(/T\d\d:/, 'T21:'),
      ...(encoding && 'value' in encoding ? { valueCodeableConcept: concept(encoding.value) } : {}),
      ...(encoding && 'interpretation' in encoding
        ? {
            interpretation: [
              { coding: [{ system: INTERPRETATION, code: encoding.interpretation, display: encoding.display }] },
            ],
          }
        : {}),
    };
    this.resources.push(observation);
    return observation;
  }

  /** A CT colonography report (DiagnosticReport, final). */
  ctReport(code: Code, date: Date): DiagnosticReport {
    const report: DiagnosticReport = {
      resourceType: 'DiagnosticReport',
      id: this.id('dr'),
      status: 'final',
      category: [
        {
          coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0074', code: 'RAD', display: 'Radiology' }],
        },
      ],
      code: concept(code),
      subject: this.subject,
      effectiveDateTime: this.time(date),
      conclusion: 'No polyps 6 mm or larger.',
    };
    this.resources.push(report);
    return report;
  }

  /** An Observation whose value is a coded answer (hospice / palliative assessments, housing status). */
  answer(code: Code, value: Code, date: Date): Observation {
    const observation: Observation = {
      resourceType: 'Observation',
      id: this.id('obs'),
      status: 'final',
      category: [
        {
          coding: [
            { system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'survey', display: 'Survey' },
          ],
        },
      ],
      code: concept(code),
      subject: this.subject,
      effectiveDateTime: this.time(date),
      valueCodeableConcept: concept(value),
    };
    this.resources.push(observation);
    return observation;
  }

  /** A finished office visit (the panel: finished Encounters), or one of the given type / discharge disposition. */
  encounter(
    date: Date,
    opts: { type?: Code; discharge?: Code; status?: 'finished' | 'in-progress' | 'cancelled' } = {},
  ): Encounter {
    const start = this.time(date);
    const status = opts.status ?? 'finished';
    const inpatient = opts.discharge !== undefined;
    const type = opts.type
      ? concept(opts.type)
      : {
          coding: [
            {
              system: CPT,
              code: '99214',
              display: 'Office or other outpatient visit, established patient, moderate complexity',
            },
          ],
          text: 'Office visit',
        };
    const encounter: Encounter = {
      resourceType: 'Encounter',
      id: this.id('enc'),
      status,
      class: inpatient
        ? { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'IMP', display: 'inpatient encounter' }
        : { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB', display: 'ambulatory' },
      type: [type],
      subject: this.subject,
      participant: [{ individual: this.pcp }],
      period:
        status === 'finished'
          ? { start, end: addMinutes(parseISO(start), 30).toISOString().slice(0, 19) + 'Z' }
          : { start },
      ...(opts.discharge ? { hospitalization: { dischargeDisposition: concept(opts.discharge) } } : {}),
      serviceProvider: ref<Organization>('Organization', CLINIC.id),
    };
    this.resources.push(encounter);
    return encounter;
  }

  /** A screening order (FIT kit, colonoscopy, …) with its status and authoredOn. */
  order(code: Code, authored: Date, status: ServiceRequest['status']): ServiceRequest {
    const request: ServiceRequest = {
      resourceType: 'ServiceRequest',
      id: this.id('sr'),
      status,
      intent: 'order',
      code: concept(code),
      subject: this.subject,
      authoredOn: this.time(authored),
      requester: this.pcp,
      reasonCode: [concept(c(ICD10, 'Z12.11', 'Encounter for screening for malignant neoplasm of colon'))],
    };
    this.resources.push(request);
    return request;
  }

  /** A community prescription of an ingredient (RxNorm IN code and product text). */
  medication(code: Code, authored: Date, status: 'active' | 'stopped' = 'active'): MedicationRequest {
    const request: MedicationRequest = {
      resourceType: 'MedicationRequest',
      id: this.id('mr'),
      status,
      intent: 'order',
      medicationCodeableConcept: { coding: [coding(code)], text: `${code.display} 10 MG Oral Tablet` },
      subject: this.subject,
      authoredOn: this.time(authored),
      requester: this.pcp,
      dosageInstruction: [{ text: 'Take 1 tablet by mouth once daily' }],
    };
    this.resources.push(request);
    return request;
  }

  /** The Patient resource, with the birth date and reachability the scenario set. */
  patient(): Patient {
    const gender = this.rng.chance(0.52) ? 'female' : 'male';
    return {
      resourceType: 'Patient',
      id: `pat-${this.num}`,
      identifier: [{ type: MRN_TYPE, system: MRN, value: `MRN${this.num}` }],
      active: true,
      name: [
        {
          use: 'official',
          family: this.rng.pick(FAMILY),
          given: [this.rng.pick(gender === 'female' ? GIVEN_FEMALE : GIVEN_MALE)],
        },
      ],
      gender,
      ...(this.birthDate ? { birthDate: day(this.birthDate) } : {}),
      ...contactDetails(this.rng, this.reach),
      generalPractitioner: [this.pcp],
      managingOrganization: ref<Organization>('Organization', CLINIC.id),
    };
  }

  /** A future booked visit (the pre-visit-planning trigger). */
  appointment(startDay: Date): Appointment {
    const start = at(startDay, this.rng.int(13, 20), this.rng.pick([0, 20, 40]));
    const appointment: Appointment = {
      resourceType: 'Appointment',
      id: this.id('appt'),
      status: 'booked',
      description: 'Annual preventive visit',
      start,
      end: addMinutes(parseISO(start), 30).toISOString().slice(0, 19) + 'Z',
      participant: [
        { actor: this.subject, status: 'accepted' },
        { actor: this.pcp, status: 'accepted' },
      ],
    };
    this.resources.push(appointment);
    return appointment;
  }
}

/** What a care-gap scenario expects of the reference protocol (derived by hand from crc-screening-2021.md). */
export interface CareGapScenarioDef {
  /** Stable kebab-case name. */
  name: string;
  /** Relative frequency in the population (every scenario appears at least once when the population allows). */
  weight: number;
  expectedClause: string;
  expectedDisposition: CareGapDisposition;
  expectedReasons: readonly string[];
  /** Writes the scenario's part of the record (birth date, reachability, tests, exclusions, orders…). */
  build: (r: CareGapRecord) => void;
}

/** One care-gap patient of the synthetic clinic and what the reference protocol's clauses imply for them. */
export interface CareGapScenario {
  patientId: string;
  scenario: string;
  expectedClause: string;
  expectedDisposition: CareGapDisposition;
  expectedReasons: string[];
  /** Has a finished Encounter within the last 24 months: in the attributed panel the weekly sweep evaluates. */
  inPanel: boolean;
}

/**
 * Builds one care-gap patient: the scenario's record, then background that cannot change its clause (office visits:
 * within 24 months for most, only older ones for about one patient in eight, so the panel has a margin; a hypertension
 * problem; sometimes a booked visit).
 */
export function buildCareGapPatient(
  num: string,
  def: CareGapScenarioDef,
  rng: Rng,
  asOf: Date,
): { resources: Resource[]; scenario: CareGapScenario } {
  const ctx = planContext(rng, asOf);
  const record = new CareGapRecord(num, rng, ctx);
  def.build(record);
  const lapsed = rng.chance(0.12);
  for (let i = rng.int(1, 3); i > 0; i--) record.encounter(lapsed ? ctx.before(25, 48) : ctx.within(24));
  if (rng.chance(0.5)) record.condition(c(ICD10, 'I10', 'Essential (primary) hypertension'), ctx.before(24, 120));
  if (rng.chance(0.35)) record.appointment(addDays(asOf, rng.int(3, 90)));
  const panelFrom = day(ctx.ago(24));
  const inPanel = record.resources.some(
    (r) =>
      r.resourceType === 'Encounter' && r.status === 'finished' && (r.period?.start ?? '').slice(0, 10) >= panelFrom,
  );
  return {
    resources: [record.patient(), ...record.resources],
    scenario: {
      patientId: `pat-${num}`,
      scenario: def.name,
      expectedClause: def.expectedClause,
      expectedDisposition: def.expectedDisposition,
      expectedReasons: [...def.expectedReasons],
      inPanel,
    },
  };
}
