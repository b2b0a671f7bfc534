import type { Observation } from '@medplum/fhirtypes';
import type { DatedEvidence } from '../../rules/index.ts';
import { classifyDrug } from '../../rules/drugs/classify.ts';
import { DRUG_LEVEL_LOINC, LAB_CODES, SYSTEMS } from './codes.ts';
import { codings, dateOf, hasCode } from '../fhir.ts';

export interface LabFacts {
  lastCbc: DatedEvidence | null;
  lastCmp: DatedEvidence | null;
  lastDrugLevel: DatedEvidence | null;
  lastA1c: DatedEvidence | null;
  lastLipidPanel: DatedEvidence | null;
  lastUrineMicroalbumin: DatedEvidence | null;
  lastPotassium: DatedEvidence | null;
  lastCreatinine: DatedEvidence | null;
  lastEgfr: DatedEvidence | null;
  lastTsh: DatedEvidence | null;
  lastSodium: DatedEvidence | null;
}

/**
 * Single analytes a rule compares to a threshold. Each counts with a value: a number, or the text the lab reported
 * (`>60`, `<15`), kept as the evidence `value` so that no threshold passes on it and no older number stands in for it.
 */
const VALUED_ANALYTES = [
  ['lastPotassium', LAB_CODES.potassium],
  ['lastCreatinine', LAB_CODES.creatinine],
  ['lastEgfr', LAB_CODES.egfr],
  ['lastTsh', LAB_CODES.tsh],
  ['lastSodium', LAB_CODES.sodium],
] as const;

const FINAL = ['final', 'amended', 'corrected'];

export function isFinalLab(o: Observation): boolean {
  return FINAL.includes(o.status) && hasCode(o.category, SYSTEMS.observationCategory, ['laboratory']);
}

export function dateOfObservation(o: Observation): string | undefined {
  return dateOf(o.effectiveDateTime ?? o.effectivePeriod?.start ?? o.effectiveInstant ?? o.issued);
}

/** The ingredients a drug-level observation measures: `urn:family-clinic:lab#<drug>-level`, or a known LOINC. */
function levelIngredients(o: Observation): string[] {
  const found: string[] = [];
  for (const c of codings(o.code)) {
    const token =
      c.system === SYSTEMS.clinicLab
        ? c.code
        : c.system?.startsWith(`${SYSTEMS.clinicLab}#`)
          ? c.system.slice(SYSTEMS.clinicLab.length + 1)
          : undefined;
    const m = token?.match(/^(.+)-level$/);
    if (m?.[1]) found.push(...classifyDrug({ rxnormCodes: [], texts: [m[1].replace(/[-_]/g, ' ')] }).ingredients);
    const loinc = c.system === SYSTEMS.loinc && c.code ? DRUG_LEVEL_LOINC[c.code] : undefined;
    if (loinc) found.push(loinc);
  }
  return found;
}

/** A result reported as text (`valueString` `>60`), trimmed; `undefined` when blank or absent. */
export function textValue(o: Observation): string | undefined {
  const text = typeof o.valueString === 'string' ? o.valueString.trim() : '';
  return text ? text : undefined;
}

function toEvidence(o: Observation, date: string, withText = false): DatedEvidence {
  const q = o.valueQuantity;
  const label = o.code.text ?? codings(o.code)[0]?.display;
  const text = withText && typeof q?.value !== 'number' ? textValue(o) : undefined;
  return {
    resourceType: 'Observation',
    id: o.id as string,
    date,
    ...(typeof q?.value === 'number' ? { value: q.value } : text !== undefined ? { value: text } : {}),
    ...(label
      ? {
          display:
            typeof q?.value === 'number'
              ? `${label}: ${q.value}${q.unit ? ` ${q.unit}` : ''}`
              : text !== undefined
                ? `${label}: ${text}`
                : label,
        }
      : {}),
  };
}

/**
 * The last final laboratory result of each kind on or before `asOf`, found by LOINC (panels by panel code), plus the
 * last drug level of one of the requested ingredients. An A1c counts only with a numeric value; a potassium,
 * creatinine, eGFR, TSH or sodium with a value, a number or the reported text: a panel (CMP) without its member
 * results says nothing about potassium, and a newer `>60` is not passed over for an older number.
 */
export function extractLabs(
  observations: readonly Observation[],
  ingredients: readonly string[],
  asOf: string,
): LabFacts {
  const best: Partial<Record<keyof LabFacts, DatedEvidence>> = {};
  const keep = (kind: keyof LabFacts, e: DatedEvidence): void => {
    const current = best[kind];
    if (!current || e.date > current.date) best[kind] = e;
  };
  for (const o of observations) {
    const date = dateOfObservation(o);
    if (!o.id || !date || date > asOf || !isFinalLab(o)) continue;
    const e = toEvidence(o, date);
    if (hasCode(o.code, SYSTEMS.loinc, LAB_CODES.cbc)) keep('lastCbc', e);
    if (hasCode(o.code, SYSTEMS.loinc, LAB_CODES.cmp)) keep('lastCmp', e);
    if (hasCode(o.code, SYSTEMS.loinc, LAB_CODES.lipidPanel)) keep('lastLipidPanel', e);
    if (hasCode(o.code, SYSTEMS.loinc, LAB_CODES.urineMicroalbumin)) keep('lastUrineMicroalbumin', e);
    if (hasCode(o.code, SYSTEMS.loinc, LAB_CODES.a1c) && typeof e.value === 'number') keep('lastA1c', e);
    if (levelIngredients(o).some((i) => ingredients.includes(i))) keep('lastDrugLevel', e);
    for (const [kind, codes] of VALUED_ANALYTES) {
      if (!hasCode(o.code, SYSTEMS.loinc, codes)) continue;
      const valued = toEvidence(o, date, true);
      if (valued.value !== undefined) keep(kind, valued);
    }
  }
  return {
    lastCbc: best.lastCbc ?? null,
    lastCmp: best.lastCmp ?? null,
    lastDrugLevel: best.lastDrugLevel ?? null,
    lastA1c: best.lastA1c ?? null,
    lastLipidPanel: best.lastLipidPanel ?? null,
    lastUrineMicroalbumin: best.lastUrineMicroalbumin ?? null,
    lastPotassium: best.lastPotassium ?? null,
    lastCreatinine: best.lastCreatinine ?? null,
    lastEgfr: best.lastEgfr ?? null,
    lastTsh: best.lastTsh ?? null,
    lastSodium: best.lastSodium ?? null,
  };
}
