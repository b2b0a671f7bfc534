import { addDays, differenceInCalendarDays, subDays, subMonths, subYears } from 'date-fns';
import type { ConditionKey, DrugDef, DrugKey } from './catalog.ts';
import type { Rng } from './prng.ts';

export type Disposition = 'approve' | 'needs_visit' | 'nurse_review' | 'doctor_review';
export type LabKind = 'cbc' | 'cmp' | 'lipid' | 'a1c' | 'microalbumin' | 'level';
export type SupplyKind = 'retail30' | 'retail90' | 'mail90';

export interface VisitPlan {
  date: Date;
  /** Conditions addressed (Encounter.reasonCode). Default: the patient's chronic problems other than asthma. */
  reasons?: ConditionKey[];
}

/**
 * What a scenario decides about one patient's record. Everything the protocol looks at is explicit here, so the
 * expected disposition follows from the plan; the generator only adds background that cannot change it
 * (older history, other drugs, vitals, labs of kinds the scenario does not control).
 */
export interface PatientPlan {
  /** Age in whole years at asOf, and how many days past that birthday asOf is (0 = birthday today). */
  age: { years: number; daysPastBirthday: number };
  /** Earliest authoredOn of the requested ingredient. */
  therapyStart: Date;
  /** authoredOn of the prescription being renewed (≥ therapyStart). */
  currentOrder: Date;
  /** true: the earlier prescription was another strength (dose change); false: same product (earlier renewal). */
  doseChange: boolean;
  priorStatus: 'active' | 'stopped';
  pcpVisits: VisitPlan[];
  ccnVisits: Date[];
  /** Encounters that must not count: scheduled then cancelled. */
  cancelledVisits: Date[];
  /** Background PCP visits are generated only strictly before this date (history), never after it. */
  historyBefore: Date;
  /** Labs the scenario controls; any kind listed here or in `absentLabs` gets no background results. */
  labs: { kind: LabKind; date: Date; value?: number }[];
  absentLabs: LabKind[];
  /** An allergy to the requested ingredient, with its clinical status. */
  allergyToRequested?: 'active' | 'inactive' | 'resolved';
  /** Indication on the prescription (reasonCode): dental prophylaxis, a condition, or none. */
  indication: 'dental' | 'none' | ConditionKey;
  supply: SupplyKind;
  /** Prescriptions of the requested drug point to a Medication resource instead of an inline code. */
  useMedicationReference: boolean;
}

/** Date helpers bound to one patient's random stream and the data's "today". */
export interface PlanContext {
  rng: Rng;
  asOf: Date;
  /** asOf − N calendar months − extra days (date-fns subMonths: day clamped to the month's end). */
  ago(months: number, extraDays?: number): Date;
  /** A random date in [from, to], both inclusive. */
  between(from: Date, to: Date): Date;
  /** A random date safely inside the last N months (≥ 7 days from the window edge, ≥ 3 days before asOf). */
  within(months: number): Date;
  /** A random date safely outside the last N months (7 days past the edge up to `maxMonths` ago). */
  before(months: number, maxMonths?: number): Date;
}

/** Builds the date helpers for one patient. */
export function planContext(rng: Rng, asOf: Date): PlanContext {
  const between = (from: Date, to: Date): Date => addDays(from, rng.int(0, differenceInCalendarDays(to, from)));
  const ago = (months: number, extraDays = 0): Date => subDays(subMonths(asOf, months), extraDays);
  return {
    rng,
    asOf,
    ago,
    between,
    within: (months) => between(addDays(subMonths(asOf, months), 7), subDays(asOf, 3)),
    before: (months, maxMonths = months + 14) =>
      between(subMonths(asOf, maxMonths), subDays(subMonths(asOf, months), 7)),
  };
}

/** Birth date for an age in whole years at asOf. */
export function birthDateFor(asOf: Date, age: PatientPlan['age']): Date {
  return subDays(subYears(asOf, age.years), age.daysPastBirthday);
}

export interface ScenarioDef {
  /** Stable scenario name (kebab-case): what the test or demo is about. */
  name: string;
  drugs: readonly DrugKey[];
  /** Relative frequency in the population. */
  weight: number;
  /** What the protocol page's clauses imply (derived by hand from family-medicine-2015.md). */
  expected: Disposition;
  expectedFailed: readonly string[];
  /** Overrides of the default plan. */
  plan: (c: PlanContext, drug: DrugDef) => Partial<PatientPlan>;
}
