import { format } from 'date-fns';
import type { CodeableConcept, Coding, Observation, Patient, Quantity, Reference, Resource } from '@medplum/fhirtypes';
import {
  CONDITIONS,
  ICD10,
  LOINC,
  RXNORM,
  SNOMED,
  UCUM,
  type ConditionKey,
  type DrugDef,
  type DrugProduct,
} from './catalog.ts';

/** Small FHIR shape helpers shared by the generator; pure functions, no randomness. */

/** The local calendar date as YYYY-MM-DD (every generator date is a local-midnight Date). */
export const day = (d: Date): string => format(d, 'yyyy-MM-dd');

/** A UTC dateTime on the given calendar day; times stay within 07:00–20:59Z so the date part is the clinic's day. */
export const at = (d: Date, hour: number, minute: number): string =>
  `${day(d)}T${String(hour).padStart(2, '0')}:${String(minute).padStart(2, '0')}:00Z`;

/** A typed literal reference `Type/id`. */
export const ref = <T extends Resource>(type: T['resourceType'], id: string, display?: string): Reference<T> =>
  display === undefined ? { reference: `${type}/${id}` } : { reference: `${type}/${id}`, display };

/** A measured quantity in UCUM. */
export const quantity = (value: number, unit: string): Quantity => ({ value, unit, system: UCUM, code: unit });

/** A dispensed count ("60 tablet", "1 inhaler"): a free-text unit, not UCUM. */
export const count = (value: number, unit: string): Quantity => ({ value, unit });

/** A LOINC coding. */
export const loinc = (code: string, display: string): Coding => ({ system: LOINC, code, display });

/** A one-coding category list (Observation/MedicationRequest/Condition categories). */
export const category = (system: string, code: string, display: string): CodeableConcept[] => [
  { coding: [{ system, code, display }] },
];

export const LAB_CATEGORY = category(
  'http://terminology.hl7.org/CodeSystem/observation-category',
  'laboratory',
  'Laboratory',
);
export const VITALS_CATEGORY = category(
  'http://terminology.hl7.org/CodeSystem/observation-category',
  'vital-signs',
  'Vital Signs',
);
export const COMMUNITY = category(
  'http://terminology.hl7.org/CodeSystem/medicationrequest-category',
  'community',
  'Community',
);

/** SNOMED CT (where checked) + ICD-10-CM coding of a problem. */
export function conditionCode(key: ConditionKey): CodeableConcept {
  const c = CONDITIONS[key];
  const coding: Coding[] = [];
  if (c.snomed) coding.push({ system: SNOMED, code: c.snomed, display: c.snomedDisplay });
  coding.push({ system: ICD10, code: c.icd10, display: c.icd10Display });
  return { coding, text: c.snomedDisplay ?? c.icd10Display };
}

/** The drug as prescribed: the clinical drug (SCD) when the product has one, else the ingredient (IN) + product text. */
export function medicationCode(drug: DrugDef, product: DrugProduct): CodeableConcept {
  const coding = product.scd
    ? { system: RXNORM, code: product.scd.code, display: product.scd.display }
    : { system: RXNORM, code: drug.rxnorm, display: drug.ingredient };
  return { coding: [coding], text: product.text };
}

/** `fluticasoneInhaler` → `fluticasone-inhaler`, for ids. */
export const kebab = (s: string): string => s.replace(/[A-Z]/g, (m) => `-${m.toLowerCase()}`);

/** Id of the shared Medication resource for a drug product. */
export const medicationId = (drug: DrugDef, productIndex: number): string =>
  `med-${kebab(drug.key)}-${productIndex + 1}`;

/** A final laboratory result with a UCUM quantity. */
export function labResult(
  id: string,
  subject: Reference<Patient>,
  code: CodeableConcept,
  effective: string,
  value?: Quantity,
): Observation {
  return {
    resourceType: 'Observation',
    id,
    status: 'final',
    category: LAB_CATEGORY,
    code,
    subject,
    effectiveDateTime: effective,
    issued: effective.replace(/T\d\d:/, 'T21:'),
    ...(value ? { valueQuantity: value } : {}),
  };
}
