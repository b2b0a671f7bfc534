import type { Evidence } from '../../schema/evidence.ts';
import type { RefillFacts } from './facts.ts';

/** Evidence string values kept: numbers and blood-pressure pairs ("7.0", "<5", "128/82"), never words. */
const MEASUREMENT = /^[<>=≤≥]?\s*-?\d+(\.\d+)?(\s*\/\s*\d+(\.\d+)?)?$/;

/** The label a minimised snapshot carries instead of the product text: its canonical ingredients. */
export function canonicalDrugLabel(drug: Pick<RefillFacts['drug'], 'ingredients'>): string {
  return drug.ingredients.length ? [...drug.ingredients].sort().join(' / ') : 'drug not in the drug table';
}

function evidence<E extends Evidence>(e: E): E {
  const { display: _display, value, ...rest } = e;
  const keep =
    typeof value === 'number' || typeof value === 'boolean' || (typeof value === 'string' && MEASUREMENT.test(value));
  return (keep ? { ...rest, value } : rest) as E;
}
const maybe = <E extends Evidence>(e: E | null): E | null => (e ? evidence(e) : null);

/**
 * The facts with no names and no free text, for the snapshot stored with each case (issue 4 §6: simulation data is
 * PHI-minimised). Drops every evidence `display` (patient, pharmacy, allergy and product texts) and any evidence
 * `value` that is not a number, a boolean or a measurement, and replaces `drug.name` with the canonical ingredient
 * label. Every other field (dates, codes, classes, numbers, flags, resource ids) is kept as is, so a protocol decides
 * the same on the minimised facts: rules cannot test the dropped fields (`drug.name`, evidence `display`; see the schema).
 */
export function minimiseFacts(facts: RefillFacts): RefillFacts {
  const { drug, request, patient, therapy, priorPrescription, allergy, visits, labs, vitals } = facts;
  const bp = vitals.lastBloodPressure;
  return {
    asOf: facts.asOf,
    drug: { ...drug, name: canonicalDrugLabel(drug), evidence: evidence(drug.evidence) },
    request: { ...request, evidence: request.evidence.map(evidence) },
    patient: {
      ...patient,
      evidence: evidence(patient.evidence),
      weight: maybe(patient.weight),
      pregnancy: { ...patient.pregnancy, evidence: patient.pregnancy.evidence.map(evidence) },
      smoking: { ...patient.smoking, evidence: maybe(patient.smoking.evidence) },
      problems: { ...patient.problems, evidence: patient.problems.evidence.map(evidence) },
    },
    therapy: { ...therapy, evidence: maybe(therapy.evidence) },
    priorPrescription: { ...priorPrescription, evidence: maybe(priorPrescription.evidence) },
    allergy: { ...allergy, evidence: allergy.evidence.map(evidence) },
    visits: {
      lastPcpRov: maybe(visits.lastPcpRov),
      lastPcpRovForAsthma: maybe(visits.lastPcpRovForAsthma),
      lastCcnVisit: maybe(visits.lastCcnVisit),
    },
    labs: Object.fromEntries(Object.entries(labs).map(([k, v]) => [k, maybe(v)])) as RefillFacts['labs'],
    vitals: { lastBloodPressure: bp ? { ...bp, evidence: evidence(bp.evidence) } : null },
  };
}
