// FHIR-level builders for care-gap scenarios, following the clinic's encoding (crc-screening-2021.md, "How this
// clinic's EHR records the data"). Tests describe a patient in clinical terms and get a Bundle that goes through the
// same careGapFactsFromBundle → evaluateCareGap path as the CLI (and careGapFactsFromResources, as the worker).
import type { Bundle, CodeableConcept, Resource } from '@medplum/fhirtypes';
import type { CareGapFacts } from '../../rules/kinds/care-gap/index.ts';

export const SYSTEMS = {
  icd10: 'http://hl7.org/fhir/sid/icd-10-cm',
  cpt: 'http://www.ama-assn.org/go/cpt',
  hcpcs: 'urn:oid:2.16.840.1.113883.6.285',
  snomed: 'http://snomed.info/sct',
  loinc: 'http://loinc.org',
  rxnorm: 'http://www.nlm.nih.gov/research/umls/rxnorm',
  interpretation: 'http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation',
  clinicalStatus: 'http://terminology.hl7.org/CodeSystem/condition-clinical',
  verificationStatus: 'http://terminology.hl7.org/CodeSystem/condition-ver-status',
} as const;

export const PATIENT_ID = 'pat-cg-1';
let counter = 0;
const nextId = (prefix: string): string => `${prefix}-${++counter}`;
const subject = (patientId = PATIENT_ID) => ({ reference: `Patient/${patientId}` });
const concept = (system: string, code: string, display?: string): CodeableConcept => ({
  coding: [{ system, code, ...(display ? { display } : {}) }],
});

export interface PatientSpec {
  id?: string;
  /** `null`: no birth date recorded. */
  birthDate?: string | null;
  /** Default: a line and a city. `false`: none. */
  address?: false | { line?: string[]; city?: string; use?: string };
  /** Default: a phone. `false`: none. */
  phone?: false | { system?: string; value?: string };
}

export function aPatient(spec: PatientSpec = {}): Resource {
  const address = spec.address === undefined ? { line: ['12 Elm Street'], city: 'Springfield' } : spec.address;
  const phone = spec.phone === undefined ? { system: 'phone', value: '555-0100' } : spec.phone;
  return {
    resourceType: 'Patient',
    id: spec.id ?? PATIENT_ID,
    ...(spec.birthDate === null ? {} : { birthDate: spec.birthDate ?? '1966-03-10' }),
    ...(address ? { address: [{ ...address, postalCode: '01101' }] } : {}),
    ...(phone ? { telecom: [{ system: phone.system ?? 'phone', value: phone.value ?? '555-0100' }] } : {}),
  } as Resource;
}

export interface ConditionSpec {
  clinicalStatus?: 'active' | 'resolved' | 'inactive' | 'remission' | 'recurrence' | null;
  verificationStatus?: 'confirmed' | 'entered-in-error' | 'refuted' | 'unconfirmed';
  onset?: string;
  recorded?: string;
  id?: string;
  patientId?: string;
}

/** A problem-list Condition coded in ICD-10-CM (`C18.7`). */
export function aCondition(icd10: string, spec: ConditionSpec = {}): Resource {
  const clinical = spec.clinicalStatus === undefined ? 'active' : spec.clinicalStatus;
  return {
    resourceType: 'Condition',
    id: spec.id ?? nextId('cond'),
    subject: subject(spec.patientId),
    code: concept(SYSTEMS.icd10, icd10),
    ...(clinical ? { clinicalStatus: concept(SYSTEMS.clinicalStatus, clinical) } : {}),
    verificationStatus: concept(SYSTEMS.verificationStatus, spec.verificationStatus ?? 'confirmed'),
    ...(spec.onset ? { onsetDateTime: spec.onset } : {}),
    ...(spec.recorded ? { recordedDate: spec.recorded } : {}),
  };
}

export interface ProcedureSpec {
  system?: keyof typeof SYSTEMS;
  status?: 'completed' | 'not-done' | 'in-progress' | 'entered-in-error';
  /** `performedDateTime`. */
  date?: string;
  /** `performedPeriod.end` (instead of `date`). */
  periodEnd?: string;
  /** statusReason SNOMED 183944003 (procedure refused). */
  refused?: boolean;
  id?: string;
}

export function aProcedure(code: string, spec: ProcedureSpec = {}): Resource {
  return {
    resourceType: 'Procedure',
    id: spec.id ?? nextId('proc'),
    status: spec.status ?? 'completed',
    subject: subject(),
    code: concept(SYSTEMS[spec.system ?? 'cpt'], code),
    ...(spec.date ? { performedDateTime: spec.date } : {}),
    ...(spec.periodEnd ? { performedPeriod: { start: spec.periodEnd, end: spec.periodEnd } } : {}),
    ...(spec.refused ? { statusReason: concept(SYSTEMS.snomed, '183944003', 'Procedure refused') } : {}),
  };
}

/** A completed colonoscopy (CPT 45378 by default). */
export const aColonoscopy = (date: string, spec: ProcedureSpec = {}): Resource =>
  aProcedure('45378', { date, ...spec });
/** A completed flexible sigmoidoscopy (CPT 45330). */
export const aSigmoidoscopy = (date: string, spec: ProcedureSpec = {}): Resource =>
  aProcedure('45330', { date, ...spec });
/** A total colectomy (CPT 44150). */
export const aColectomy = (spec: ProcedureSpec = {}): Resource => aProcedure('44150', spec);
/** A refusal of screening recorded on `date` (Procedure not-done, statusReason 183944003, colonoscopy code). */
export const aDecline = (date: string, spec: ProcedureSpec & { code?: string } = {}): Resource =>
  aProcedure(spec.code ?? '45378', { status: 'not-done', date, refused: true, ...spec });

export interface StoolTestSpec {
  /** `null`: no result recorded. */
  result?: 'positive' | 'negative' | null;
  /** How the result is recorded: `interpretation` (POS / NEG) or `value` (SNOMED 10828004 / 260385009). */
  via?: 'interpretation' | 'interpretation-a-n' | 'value';
  status?: string;
  loinc?: string;
  id?: string;
}

/** A FIT/FOBT (LOINC 29771-3) or sDNA-FIT (77353-1) Observation with its result. */
export function aStoolTest(kind: 'fit' | 'sdna', date: string, spec: StoolTestSpec = {}): Resource {
  const result = spec.result === undefined ? 'negative' : spec.result;
  const via = spec.via ?? 'interpretation';
  const interp = via === 'interpretation' ? { positive: 'POS', negative: 'NEG' } : { positive: 'A', negative: 'N' };
  return {
    resourceType: 'Observation',
    id: spec.id ?? nextId('stool'),
    status: spec.status ?? 'final',
    subject: subject(),
    code: concept(SYSTEMS.loinc, spec.loinc ?? (kind === 'fit' ? '29771-3' : '77353-1')),
    effectiveDateTime: date,
    ...(result && via !== 'value' ? { interpretation: [concept(SYSTEMS.interpretation, interp[result])] } : {}),
    ...(result && via === 'value'
      ? { valueCodeableConcept: concept(SYSTEMS.snomed, result === 'positive' ? '10828004' : '260385009') }
      : {}),
  } as Resource;
}

/** A CT colonography (LOINC 60515-4) as an Observation or a DiagnosticReport. */
export function aCtColonography(
  date: string,
  spec: { as?: 'Observation' | 'DiagnosticReport'; status?: string; id?: string } = {},
): Resource {
  return {
    resourceType: spec.as ?? 'Observation',
    id: spec.id ?? nextId('ctc'),
    status: spec.status ?? 'final',
    subject: subject(),
    code: concept(SYSTEMS.loinc, '60515-4'),
    effectiveDateTime: date,
  } as Resource;
}

export interface EncounterSpec {
  type?: 'hospice' | 'palliative' | 'office';
  /** `hospitalization.dischargeDisposition` SNOMED 428361000124107 (discharge to home for hospice care). */
  dischargedToHospice?: boolean;
  status?: string;
  start: string;
}

export function anEncounter(spec: EncounterSpec): Resource {
  const type = { hospice: '385763009', palliative: '103735009', office: '390906007' }[spec.type ?? 'office'];
  return {
    resourceType: 'Encounter',
    id: nextId('enc'),
    status: spec.status ?? 'finished',
    class: { code: 'AMB' },
    subject: subject(),
    type: [concept(SYSTEMS.snomed, type)],
    period: { start: spec.start },
    ...(spec.dischargedToHospice
      ? { hospitalization: { dischargeDisposition: concept(SYSTEMS.snomed, '428361000124107') } }
      : {}),
  } as Resource;
}

/** An Observation with a LOINC code and a coded answer (hospice 45755-6 / palliative 71007-9 = LA33-6, housing). */
export function anAnswer(
  loinc: string,
  answer: { system: string; code: string },
  date: string,
  spec: { status?: string; id?: string } = {},
): Resource {
  return {
    resourceType: 'Observation',
    id: spec.id ?? nextId('obs'),
    status: spec.status ?? 'final',
    subject: subject(),
    code: concept(SYSTEMS.loinc, loinc),
    effectiveDateTime: date,
    valueCodeableConcept: concept(answer.system, answer.code),
  } as Resource;
}

export const YES = { system: SYSTEMS.loinc, code: 'LA33-6' };
/** Housing status (LOINC 71802-3): lives in a nursing home (SNOMED 160734000) or elsewhere (a house). */
export const aHousingObservation = (date: string, nursingHome: boolean, spec: { id?: string } = {}): Resource =>
  anAnswer('71802-3', { system: SYSTEMS.snomed, code: nursingHome ? '160734000' : '30212006' }, date, spec);

/** A MedicationRequest by RxNorm code and/or product text. */
export function aMedicationRequest(spec: {
  rxnorm?: string;
  text?: string;
  status?: string;
  authoredOn?: string;
}): Resource {
  return {
    resourceType: 'MedicationRequest',
    id: nextId('mr'),
    status: spec.status ?? 'active',
    intent: 'order',
    subject: subject(),
    authoredOn: spec.authoredOn ?? '2026-01-05',
    medicationCodeableConcept: {
      ...(spec.text ? { text: spec.text } : {}),
      ...(spec.rxnorm ? { coding: [{ system: SYSTEMS.rxnorm, code: spec.rxnorm }] } : {}),
    },
  } as Resource;
}

/** A screening ServiceRequest (FIT LOINC 29771-3 by default). */
export function aScreeningOrder(
  status: string,
  authoredOn: string | undefined,
  spec: { system?: keyof typeof SYSTEMS; code?: string; id?: string } = {},
): Resource {
  return {
    resourceType: 'ServiceRequest',
    id: spec.id ?? nextId('sr'),
    status,
    intent: 'order',
    subject: subject(),
    code: concept(SYSTEMS[spec.system ?? 'loinc'], spec.code ?? '29771-3'),
    ...(authoredOn ? { authoredOn } : {}),
  } as Resource;
}

/** A collection Bundle of the given resources (a patient first unless one is given). */
export function careGapBundle(...resources: Resource[]): Bundle {
  const list = resources.some((r) => r.resourceType === 'Patient') ? resources : [aPatient(), ...resources];
  return { resourceType: 'Bundle', type: 'collection', entry: list.map((resource) => ({ resource })) };
}

const noFinding = () => ({ present: false, lastDate: null, evidence: [] });

/**
 * Care-gap facts as extraction yields them, for tests that start after extraction (simulation, the registry, the
 * CLI): an average-risk, reachable patient with no exclusion, no order and no decline, whose last (and only) test is
 * a colonoscopy on `colonoscopy` (or none).
 */
export function careGapFacts(spec: {
  colonoscopy: string | null;
  asOf?: string;
  ageYears?: number;
  patientId?: string;
}): CareGapFacts {
  const t = spec.colonoscopy
    ? { resourceType: 'Procedure', id: `proc-${spec.colonoscopy}`, date: spec.colonoscopy }
    : null;
  return {
    asOf: spec.asOf ?? '2026-06-01',
    patient: {
      ageYears: spec.ageYears ?? 61,
      postalAddress: true,
      phone: true,
      evidence: { resourceType: 'Patient', id: spec.patientId ?? 'p' },
    },
    exclusions: {
      colorectalCancer: noFinding(),
      totalColectomy: noFinding(),
      hospice: noFinding(),
      palliativeCare: noFinding(),
      frailty: noFinding(),
      advancedIllness: noFinding(),
      dementiaMedication: noFinding(),
      housing: { status: null, date: null, evidence: null },
    },
    risk: { lowerGiSymptoms: noFinding(), inflammatoryBowelDisease: noFinding(), colonicPolypsHistory: noFinding() },
    tests: {
      lastPositiveFit: null,
      lastNegativeFit: null,
      lastPositiveSdna: null,
      lastNegativeSdna: null,
      lastCtColonography: null,
      lastSigmoidoscopy: null,
      lastColonoscopy: t,
      lastResult: t,
    },
    orders: { latestOpen: null, latestActive: null },
    declined: { last: null },
  };
}
