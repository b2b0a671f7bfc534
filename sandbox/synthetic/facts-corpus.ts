// Refill facts in bulk, for simulation benchmarks and evaluator property tests: the facts the synthetic clinic's
// requests really yield (FHIR → extractRefillFacts), and deterministic mutations of them that sit on the edges rules
// care about (window edges and month-end clamping, missing data, A1c around thresholds, ages 17–19, every drug class,
// controlled schedules, pharmacy types and supply days).
import { addDays, format, lastDayOfMonth, parseISO } from 'date-fns';
import { extractRefillFacts, patientRecordFromBundle } from '../../facts/refill/index.ts';
import { monthsBefore } from '../../rules/engine/operators.ts';
import type { RefillFacts } from '../../rules/kinds/refill/facts.ts';
import { toPatientBundle } from './bundle.ts';
import { generateClinic, type GenerateOptions } from './generate.ts';
import { createRng, type Rng } from './prng.ts';

/**
 * The refill facts of every request of a generated clinic, extracted from each patient's FHIR bundle exactly as the
 * worker does, so simulations and property tests run on data shaped by the real extractor.
 */
export function syntheticRefillFacts(opts: GenerateOptions): RefillFacts[] {
  const clinic = generateClinic(opts);
  // toPatientBundle scans every resource; give it the patient's own resources plus the shared ones.
  const byPatient = new Map<string, typeof clinic.resources>();
  const shared: typeof clinic.resources = [];
  for (const r of clinic.resources) {
    const ref =
      (r as { subject?: { reference?: string } }).subject?.reference ??
      (r as { patient?: { reference?: string } }).patient?.reference ??
      (r.resourceType === 'Patient' ? `Patient/${r.id ?? ''}` : undefined) ??
      (r.resourceType === 'Appointment'
        ? r.participant.find((p) => p.actor?.reference?.startsWith('Patient/'))?.actor?.reference
        : undefined);
    if (!ref?.startsWith('Patient/')) {
      shared.push(r);
      continue;
    }
    let list = byPatient.get(ref);
    if (!list) byPatient.set(ref, (list = []));
    list.push(r);
  }
  return clinic.refillRequests.map((req) => {
    const own = byPatient.get(`Patient/${req.patientId}`) ?? [];
    const bundle = toPatientBundle([...own, ...shared], req.medicationRequestId);
    return extractRefillFacts(patientRecordFromBundle(bundle), { asOf: opts.asOf });
  });
}

/** Month counts the mutations put dates around (the windows protocols use, and their neighbours). */
export const EDGE_MONTHS = [1, 2, 3, 4, 5, 6, 7, 9, 11, 12, 13, 15, 18, 19, 24, 36] as const;

const day = (d: Date): string => format(d, 'yyyy-MM-dd');
const shiftDays = (iso: string, days: number): string => day(addDays(parseISO(iso), days));

type DatedSlot = ['visits', keyof RefillFacts['visits']] | ['labs', keyof RefillFacts['labs']];
const DATED_SLOTS: readonly DatedSlot[] = [
  ['visits', 'lastPcpRov'],
  ['visits', 'lastPcpRovForAsthma'],
  ['visits', 'lastCcnVisit'],
  ['labs', 'lastCbc'],
  ['labs', 'lastCmp'],
  ['labs', 'lastDrugLevel'],
  ['labs', 'lastA1c'],
  ['labs', 'lastLipidPanel'],
  ['labs', 'lastUrineMicroalbumin'],
];

/** A date on or next to a window edge: asOf − N months (clamped) ± 1 day, asOf, the day after, or none. */
function edgeDate(rng: Rng, asOf: string): string | null {
  const r = rng.next();
  if (r < 0.08) return null;
  if (r < 0.14) return asOf;
  if (r < 0.18) return shiftDays(asOf, 1);
  return shiftDays(monthsBefore(asOf, rng.pick(EDGE_MONTHS)), rng.pick([-1, 0, 0, 1]));
}

const A1C_VALUES = [6.4, 6.9, 6.99, 7, 7.01, 7.1, 7.9, 8, 8.1, 8.9, 9, 9.01, 9.1, 10.5, '7.0', '9'] as const;
const AGES = [null, 0, 5, 11, 12, 13, 17, 18, 19, 40, 64, 65, 66, 90] as const;
const SCHEDULES = [null, null, 'CII', 'CIII', 'CIV', 'CV'] as const;
const STATUSES = [null, 'active', 'active', 'on-hold', 'cancelled', 'completed', 'stopped', 'unknown'] as const;
const MONTH_ENDS = ['2026-01-31', '2026-02-28', '2026-03-31', '2026-04-30', '2026-08-31', '2026-12-31', '2028-02-29'];

const SUPPLY_DAYS = [null, 1, 28, 30, 31, 60, 84, 89, 90, 91, 100] as const;

/**
 * One deterministic mutation of a facts snapshot (1–4 edits drawn from `rng`): dates moved onto window edges,
 * `asOf` moved to a month end, labs and visits removed, A1c around 7 and 9 (numbers and numeric strings), ages
 * 17/18/19 and other thresholds, the drug swapped for another request's (`drugs`, so every class appears), controlled
 * schedules, PRN/U-500/antibiotic indication, pharmacy type, supply days, prescription status and allergy. The result
 * still satisfies RefillFactsSchema.
 */
export function mutateRefillFacts(facts: RefillFacts, rng: Rng, drugs: readonly RefillFacts['drug'][]): RefillFacts {
  const f = structuredClone(facts);
  const edits = rng.int(1, 4);
  for (let e = 0; e < edits; e++) {
    switch (rng.int(0, 9)) {
      case 0:
      case 1: {
        const [group, key] = rng.pick(DATED_SLOTS);
        const date = edgeDate(rng, f.asOf);
        const slots = f[group] as Record<string, RefillFacts['labs']['lastCbc']>;
        const kind = group === 'visits' ? 'Encounter' : 'Observation';
        slots[key] = date === null ? null : { ...(slots[key] ?? { resourceType: kind, id: `mut-${key}` }), date };
        break;
      }
      case 2:
        f.asOf = rng.chance(0.7) ? day(lastDayOfMonth(parseISO(f.asOf))) : rng.pick(MONTH_ENDS);
        break;
      case 3: {
        const date = edgeDate(rng, f.asOf);
        f.therapy = date === null ? { startDate: null, evidence: null } : { ...f.therapy, startDate: date };
        break;
      }
      case 4: {
        const value = rng.pick(A1C_VALUES);
        const date = edgeDate(rng, f.asOf) ?? f.asOf;
        f.labs.lastA1c = rng.chance(0.1) ? null : { resourceType: 'Observation', id: 'mut-a1c', date, value };
        break;
      }
      case 5:
        f.patient.ageYears = rng.pick(AGES);
        break;
      case 6: {
        const drug = structuredClone(rng.pick(drugs));
        if (rng.chance(0.2)) drug.controlledSchedule = rng.pick(SCHEDULES);
        if (rng.chance(0.2)) drug.prn = !drug.prn;
        if (rng.chance(0.05)) drug.u500 = !drug.u500;
        if (rng.chance(0.1)) drug.antibioticIndication = rng.pick([null, 'dental_prophylaxis', 'other'] as const);
        f.drug = drug;
        break;
      }
      case 7:
        f.request.pharmacyType = rng.pick([null, 'retail', 'mail-order'] as const);
        f.request.supplyDays = rng.pick(SUPPLY_DAYS);
        break;
      case 8:
        f.priorPrescription.status = rng.pick(STATUSES);
        break;
      default:
        f.allergy.activeToIngredient = !f.allergy.activeToIngredient;
        break;
    }
  }
  return f;
}

/**
 * `count` facts snapshots: the base snapshots in order, then deterministic mutations of them (seeded), cycling over
 * the base. Same inputs ⇒ same output.
 */
export function refillFactsCorpus(base: readonly RefillFacts[], count: number, seed: number): RefillFacts[] {
  if (base.length === 0) return [];
  const rng = createRng(seed);
  const drugs = base.map((f) => f.drug);
  const out: RefillFacts[] = base.slice(0, count);
  for (let i = out.length; i < count; i++)
    out.push(mutateRefillFacts(base[i % base.length] as RefillFacts, rng, drugs));
  return out;
}
