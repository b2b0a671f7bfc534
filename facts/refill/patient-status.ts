import type { Condition, Observation, Patient } from '@medplum/fhirtypes';
import { format, parseISO, subMonths } from 'date-fns';
import type { DatedEvidence, Evidence } from '../../rules/index.ts';
import type { Problem, RefillFacts } from '../../rules/kinds/refill/facts.ts';
import { LAB_CODES, PROBLEM_CODES, SMOKING_STATUS_LOINC, SYSTEMS, VITAL_CODES } from './codes.ts';
import { codings, dateOf, hasCode, texts } from '../fhir.ts';

type PatientFacts = RefillFacts['patient'];

const FINAL = ['final', 'amended', 'corrected'];
const SNOMED_POSITIVE = '10828004';
const SNOMED_NEGATIVE = '260385009';

/** SNOMED CT answers of LOINC 72166-2 (US Core smoking status value set), by what they say. */
const SMOKING: Readonly<Record<string, 'never' | 'former' | 'current'>> = {
  '266919005': 'never',
  '8517006': 'former',
  '77176002': 'current',
  '449868002': 'current',
  '428041000124106': 'current',
  '428061000124105': 'current',
  '428071000124103': 'current',
  '65568007': 'current',
};

const observedOn = (o: Observation): string | undefined =>
  dateOf(o.effectiveDateTime ?? o.effectivePeriod?.start ?? o.effectiveInstant ?? o.issued);

/** Final observations with the given LOINC codes on or before `asOf`, newest first. */
function observations(all: readonly Observation[], loinc: readonly string[], asOf: string) {
  return all
    .flatMap((o) => {
      const date = observedOn(o);
      return o.id && date && date <= asOf && FINAL.includes(o.status) && hasCode(o.code, SYSTEMS.loinc, loinc)
        ? [{ o, date, id: o.id }]
        : [];
    })
    .sort((a, b) => b.date.localeCompare(a.date));
}

function sexOf(p: Patient): PatientFacts['sex'] {
  const g = p.gender;
  return g === 'female' || g === 'male' || g === 'other' || g === 'unknown' ? g : null;
}

/** The last body weight in kg (29463-7; kg, g or lb), with its Observation. */
function weightOf(all: readonly Observation[], asOf: string): DatedEvidence | null {
  for (const { o, date, id } of observations(all, VITAL_CODES.bodyWeight, asOf)) {
    const q = o.valueQuantity;
    if (typeof q?.value !== 'number' || q.value <= 0) continue;
    const unit = (q.code ?? q.unit ?? 'kg').toLowerCase();
    const kg =
      unit === 'kg'
        ? q.value
        : unit === 'g'
          ? q.value / 1000
          : unit === '[lb_av]' || unit === 'lb' || unit === 'lbs'
            ? q.value * 0.45359237
            : undefined;
    if (kg === undefined) continue;
    const value = Math.round(kg * 10) / 10;
    return { resourceType: 'Observation', id, date, value, display: `Body weight: ${value} kg` };
  }
  return null;
}

const isRefuted = (c: Condition): boolean =>
  codings(c.verificationStatus).some((x) => x.code === 'refuted' || x.code === 'entered-in-error');

/** Active: not refuted, clinical status active (or none recorded: nobody closed it), recorded by `asOf`. */
function isActive(c: Condition, asOf: string): boolean {
  if (isRefuted(c)) return false;
  const recorded = dateOf(c.recordedDate ?? c.onsetDateTime);
  if (recorded && recorded > asOf) return false;
  const abated = dateOf(c.abatementDateTime);
  if (abated && abated <= asOf) return false;
  const status = codings(c.clinicalStatus).map((x) => x.code);
  return status.length === 0 || status.some((s) => s === 'active' || s === 'recurrence' || s === 'relapse');
}

function matches(c: Condition, codes: { snomed: readonly string[]; icd10Prefixes: readonly string[] }): boolean {
  return codings(c.code).some(
    (x) =>
      (x.system === SYSTEMS.snomed && x.code !== undefined && codes.snomed.includes(x.code)) ||
      (x.system === SYSTEMS.icd10 && x.code !== undefined && codes.icd10Prefixes.some((p) => x.code?.startsWith(p))),
  );
}

function conditionEvidence(c: Condition): Evidence {
  const date = dateOf(c.recordedDate ?? c.onsetDateTime);
  const label = texts(c.code)[0];
  return {
    resourceType: 'Condition',
    id: c.id ?? 'unknown',
    ...(date ? { date } : {}),
    ...(label ? { display: label } : {}),
  };
}

/**
 * Current pregnancy: an active pregnancy Condition, or a positive hCG within 9 months of `asOf` with no negative hCG
 * after it. Missing data reads as "no pregnancy on record" (`false`): the EHR is the only source a protocol has.
 */
function pregnancyOf(
  conditions: readonly Condition[],
  all: readonly Observation[],
  asOf: string,
): PatientFacts['pregnancy'] {
  const evidence: Evidence[] = conditions
    .filter((c) => c.id && isActive(c, asOf) && matches(c, PROBLEM_CODES.pregnancy))
    .map(conditionEvidence);
  const since = format(subMonths(parseISO(asOf), 9), 'yyyy-MM-dd');
  const tests = observations(all, LAB_CODES.hcg, asOf);
  const result = (o: Observation) =>
    hasCode(o.valueCodeableConcept, SYSTEMS.snomed, [SNOMED_POSITIVE])
      ? 'positive'
      : hasCode(o.valueCodeableConcept, SYSTEMS.snomed, [SNOMED_NEGATIVE])
        ? 'negative'
        : undefined;
  const latest = tests.find((t) => result(t.o) !== undefined);
  if (latest && result(latest.o) === 'positive' && latest.date >= since) {
    evidence.push({ resourceType: 'Observation', id: latest.id, date: latest.date, display: 'hCG: positive' });
  }
  return { pregnant: evidence.length > 0, evidence };
}

function smokingOf(all: readonly Observation[], asOf: string): PatientFacts['smoking'] {
  const last = observations(all, SMOKING_STATUS_LOINC, asOf)[0];
  if (!last) return { status: null, evidence: null };
  const code = codings(last.o.valueCodeableConcept).find((c) => c.system === SYSTEMS.snomed && c.code)?.code;
  const status = code ? (SMOKING[code] ?? null) : null;
  const label = texts(last.o.valueCodeableConcept)[0];
  return {
    status,
    evidence: {
      resourceType: 'Observation',
      id: last.id,
      date: last.date,
      ...(label ? { display: `Smoking status: ${label}` } : {}),
    },
  };
}

/** Problems on the list a rule must see. A venous thromboembolism counts even when resolved (a history is enough). */
function problemsOf(conditions: readonly Condition[], asOf: string): PatientFacts['problems'] {
  const codes: Problem[] = [];
  const evidence: Evidence[] = [];
  for (const problem of ['venous_thromboembolism', 'migraine_with_aura', 'hypertension'] as const) {
    const found = conditions.filter(
      (c) =>
        c.id &&
        matches(c, PROBLEM_CODES[problem]) &&
        (problem === 'venous_thromboembolism'
          ? !isRefuted(c) && (dateOf(c.recordedDate ?? c.onsetDateTime) ?? '') <= asOf
          : isActive(c, asOf)),
    );
    if (found.length === 0) continue;
    codes.push(problem);
    evidence.push(...found.map(conditionEvidence));
  }
  return { codes, evidence };
}

/**
 * What the record says about the patient beyond age: sex, last weight, pregnancy, smoking status and the problems
 * some rule must see (`RefillFacts.patient`). Pure; every date is judged as of `asOf`.
 */
export function extractPatientStatus(
  patient: Patient,
  conditions: readonly Condition[],
  observationsOnFile: readonly Observation[],
  asOf: string,
): Pick<PatientFacts, 'sex' | 'weight' | 'pregnancy' | 'smoking' | 'problems'> {
  return {
    sex: sexOf(patient),
    weight: weightOf(observationsOnFile, asOf),
    pregnancy: pregnancyOf(conditions, observationsOnFile, asOf),
    smoking: smokingOf(observationsOnFile, asOf),
    problems: problemsOf(conditions, asOf),
  };
}
