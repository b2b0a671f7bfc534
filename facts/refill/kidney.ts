import type { Observation } from '@medplum/fhirtypes';
import type { DatedEvidence } from '../../rules/index.ts';
import type { RefillFacts } from '../../rules/kinds/refill/facts.ts';

type Sex = RefillFacts['patient']['sex'];

const round1 = (n: number): number => Math.round(n * 10) / 10;

/** A creatinine in mg/dL: a number in mg/dL (or no unit, as this clinic records it) or µmol/L; else `undefined`. */
export function creatinineMgDl(o: Observation | undefined): number | undefined {
  const q = o?.valueQuantity;
  if (typeof q?.value !== 'number' || q.value <= 0) return undefined;
  const unit = (q.code ?? q.unit ?? 'mg/dL').replace(/\s/g, '').toLowerCase();
  if (unit === 'mg/dl') return q.value;
  if (unit === 'umol/l' || unit === 'µmol/l' || unit === 'μmol/l') return q.value / 88.42;
  return undefined;
}

/**
 * eGFR by the race-free CKD-EPI 2021 creatinine equation (Inker et al., N Engl J Med 2021;385:1737–49), mL/min/1.73 m²,
 * rounded to a whole number as labs report it. Adults only (the equation is not validated below 18); `undefined`
 * without a female or male sex.
 */
export function ckdEpi2021(creatinine: number, ageYears: number | null, sex: Sex): number | undefined {
  if (ageYears === null || ageYears < 18 || (sex !== 'female' && sex !== 'male')) return undefined;
  const female = sex === 'female';
  const kappa = female ? 0.7 : 0.9;
  const alpha = female ? -0.241 : -0.302;
  const ratio = creatinine / kappa;
  const egfr =
    142 * Math.min(ratio, 1) ** alpha * Math.max(ratio, 1) ** -1.2 * 0.9938 ** ageYears * (female ? 1.012 : 1);
  return Math.round(egfr);
}

/**
 * Creatinine clearance by Cockcroft–Gault (Nephron 1976;16:31–41) with actual body weight, mL/min, one decimal: the
 * measure DOAC labels dose by. `undefined` without an adult age, a female or male sex, or a weight.
 */
export function cockcroftGault(
  creatinine: number,
  ageYears: number | null,
  sex: Sex,
  weightKg: number | undefined,
): number | undefined {
  if (ageYears === null || ageYears < 18 || weightKg === undefined || (sex !== 'female' && sex !== 'male'))
    return undefined;
  return round1(((140 - ageYears) * weightKg * (sex === 'female' ? 0.85 : 1)) / (72 * creatinine));
}

/**
 * The current kidney function as an eGFR, judged on the newest result only. Candidates: the last reported eGFR
 * (number or text) and the last creatinine converted by CKD-EPI 2021. The newer one wins; on the same day a numeric
 * report, then the computed value, then a text report. A creatinine newer than every eGFR that cannot be converted
 * (no age or sex, an unknown unit, a text result) is still the current result: it is returned without a `value`, so
 * no threshold passes and an older eGFR never stands in for it.
 */
export function kidneyFunction(
  lastEgfr: DatedEvidence | null,
  lastCreatinine: DatedEvidence | null,
  creatinineObservation: Observation | undefined,
  ageYears: number | null,
  sex: Sex,
): DatedEvidence | null {
  const computed = (): DatedEvidence | null => {
    if (!lastCreatinine) return null;
    const mgDl = creatinineMgDl(creatinineObservation);
    const egfr = mgDl === undefined ? undefined : ckdEpi2021(mgDl, ageYears, sex);
    return {
      resourceType: 'Observation',
      id: lastCreatinine.id,
      date: lastCreatinine.date,
      ...(egfr !== undefined ? { value: egfr } : {}),
      display:
        egfr !== undefined
          ? `eGFR ${egfr} mL/min/1.73 m² (CKD-EPI 2021 from creatinine ${round1(mgDl as number)} mg/dL)`
          : 'Creatinine that could not be converted to an eGFR (age, sex or a numeric result missing)',
    };
  };
  if (!lastEgfr) return computed();
  if (!lastCreatinine || lastCreatinine.date < lastEgfr.date) return lastEgfr;
  if (lastCreatinine.date > lastEgfr.date) return computed();
  // Same day: a numeric report, then the computed value, then the text report.
  if (typeof lastEgfr.value === 'number') return lastEgfr;
  const c = computed();
  return c && typeof c.value === 'number' ? c : lastEgfr;
}

/** Cockcroft–Gault creatinine clearance from the last creatinine; `null` without one, no `value` when not computable. */
export function creatinineClearance(
  lastCreatinine: DatedEvidence | null,
  creatinineObservation: Observation | undefined,
  ageYears: number | null,
  sex: Sex,
  weight: DatedEvidence | null,
): DatedEvidence | null {
  if (!lastCreatinine) return null;
  const mgDl = creatinineMgDl(creatinineObservation);
  const weightKg = typeof weight?.value === 'number' ? weight.value : undefined;
  const crcl = mgDl === undefined ? undefined : cockcroftGault(mgDl, ageYears, sex, weightKg);
  return {
    resourceType: 'Observation',
    id: lastCreatinine.id,
    date: lastCreatinine.date,
    ...(crcl !== undefined ? { value: crcl } : {}),
    display:
      crcl !== undefined
        ? `Creatinine clearance ${crcl} mL/min (Cockcroft–Gault, creatinine ${round1(mgDl as number)} mg/dL, ${weightKg} kg)`
        : 'Creatinine clearance not computable (age, sex, weight or a numeric creatinine missing)',
  };
}
