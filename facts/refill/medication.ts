import type { CodeableConcept, Medication, MedicationRequest } from '@medplum/fhirtypes';
import { classifyDrug, strengthMg, type DrugClassification } from '../../rules/drugs/classify.ts';
import { SYSTEMS } from './codes.ts';
import { codings, keyOf, refKey, texts } from '../fhir.ts';

/** A medication as a request names it, with the classifier's verdict. */
export interface IdentifiedDrug extends DrugClassification {
  name: string;
  rxnormCodes: string[];
  /** Strength in mg of a single-ingredient product (see `strengthMg`). */
  strengthMg: number | null;
}

function conceptOf(mr: MedicationRequest, medications: readonly Medication[]): CodeableConcept[] {
  if (mr.medicationCodeableConcept) return [mr.medicationCodeableConcept];
  const key = refKey(mr.medicationReference);
  const med = medications.find((m) => keyOf(m) === key);
  if (!med) return mr.medicationReference?.display ? [{ text: mr.medicationReference.display }] : [];
  return [med.code, ...(med.ingredient ?? []).map((i) => i.itemCodeableConcept)].filter(
    (c): c is CodeableConcept => c !== undefined,
  );
}

/**
 * Identifies the drug of a MedicationRequest (inline code or `medicationReference` → Medication) by RxNorm code, and
 * by ingredient name in its text and coding displays.
 */
export function identifyDrug(mr: MedicationRequest, medications: readonly Medication[]): IdentifiedDrug {
  const concepts = conceptOf(mr, medications);
  const rxnormCodes = [
    ...new Set(codings(concepts).flatMap((c) => (c.system === SYSTEMS.rxnorm && c.code ? [c.code] : []))),
  ];
  const allTexts = texts(concepts);
  const name = concepts[0]?.text ?? allTexts[0] ?? 'unnamed medication';
  const classified = classifyDrug({ rxnormCodes, texts: allTexts });
  return { name, rxnormCodes, ...classified, strengthMg: strengthMg(allTexts, classified.ingredients) };
}

/** Whether two drugs share an ingredient (or, for drugs outside the table, an RxNorm code or the same name). */
export function sameIngredient(a: IdentifiedDrug, b: IdentifiedDrug): boolean {
  if (a.ingredients.length > 0 || b.ingredients.length > 0) return a.ingredients.some((i) => b.ingredients.includes(i));
  if (a.rxnormCodes.some((c) => b.rxnormCodes.includes(c))) return true;
  return a.name.trim().toLowerCase() === b.name.trim().toLowerCase();
}
