// The care-gap kind's value sets: data files (one per set, every entry with its `source`), parsed at import, and
// the parser + merge of a clinic's full expansion (FHIR `ValueSet` JSON, e.g. a VSAC export) for one set.
import { z } from 'zod';
import { AppError, jsonPath } from '../../errors.ts';
import { parseValueSetExpansion, type ParsedExpansion } from '../../value-set-expansion.ts';
import advancedIllness from './value-sets/advanced-illness.json' with { type: 'json' };
import answerYes from './value-sets/answer-yes.json' with { type: 'json' };
import colonicPolypsHistory from './value-sets/colonic-polyps-history.json' with { type: 'json' };
import colonoscopy from './value-sets/colonoscopy.json' with { type: 'json' };
import colorectalCancer from './value-sets/colorectal-cancer.json' with { type: 'json' };
import ctColonography from './value-sets/ct-colonography.json' with { type: 'json' };
import dementiaMedications from './value-sets/dementia-medications.json' with { type: 'json' };
import fitFobt from './value-sets/fit-fobt.json' with { type: 'json' };
import flexibleSigmoidoscopy from './value-sets/flexible-sigmoidoscopy.json' with { type: 'json' };
import frailty from './value-sets/frailty.json' with { type: 'json' };
import hospice from './value-sets/hospice.json' with { type: 'json' };
import housingNursingHome from './value-sets/housing-nursing-home.json' with { type: 'json' };
import housingStatus from './value-sets/housing-status.json' with { type: 'json' };
import inflammatoryBowelDisease from './value-sets/inflammatory-bowel-disease.json' with { type: 'json' };
import lowerGiSymptoms from './value-sets/lower-gi-symptoms.json' with { type: 'json' };
import palliativeCare from './value-sets/palliative-care.json' with { type: 'json' };
import screeningRefused from './value-sets/screening-refused.json' with { type: 'json' };
import sdnaFit from './value-sets/sdna-fit.json' with { type: 'json' };
import stoolResultNegative from './value-sets/stool-result-negative.json' with { type: 'json' };
import stoolResultPositive from './value-sets/stool-result-positive.json' with { type: 'json' };
import totalColectomy from './value-sets/total-colectomy.json' with { type: 'json' };

const Text = z.string().min(1);

/** The code systems of this clinic's FHIR, and the OIDs / URIs value-set exports also use for them. */
export const CODE_SYSTEMS = {
  icd10cm: 'http://hl7.org/fhir/sid/icd-10-cm',
  cpt: 'http://www.ama-assn.org/go/cpt',
  hcpcs: 'urn:oid:2.16.840.1.113883.6.285',
  snomed: 'http://snomed.info/sct',
  loinc: 'http://loinc.org',
  rxnorm: 'http://www.nlm.nih.gov/research/umls/rxnorm',
  v3Interpretation: 'http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation',
} as const;

/** Other names of the same code systems (VSAC exports use the CMS HCPCS URI; some EHRs send OIDs). */
const SYSTEM_ALIASES: Readonly<Record<string, string>> = {
  'urn:oid:2.16.840.1.113883.6.90': CODE_SYSTEMS.icd10cm,
  'urn:oid:2.16.840.1.113883.6.12': CODE_SYSTEMS.cpt,
  'http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets': CODE_SYSTEMS.hcpcs,
  'urn:oid:2.16.840.1.113883.6.96': CODE_SYSTEMS.snomed,
  'urn:oid:2.16.840.1.113883.6.1': CODE_SYSTEMS.loinc,
  'urn:oid:2.16.840.1.113883.6.88': CODE_SYSTEMS.rxnorm,
  'http://hl7.org/fhir/v3/ObservationInterpretation': CODE_SYSTEMS.v3Interpretation,
};
const canonicalSystem = (system: string): string => SYSTEM_ALIASES[system] ?? system;

/** ICD-10-CM compares without the dot and in upper case (`C18.7`, `C187`); other systems compare as written. */
const normalCode = (system: string, code: string): string =>
  system === CODE_SYSTEMS.icd10cm ? code.replace(/\./g, '').toUpperCase() : code;

export const ValueSetEntrySchema = z.strictObject({
  system: Text,
  code: Text,
  /** `prefix`: the code and every code under it (ICD-10-CM `C18.*` is `C18` + prefix). Default `exact`. */
  match: z.enum(['exact', 'prefix']).optional(),
  display: Text.optional(),
  /** Where the entry comes from (the protocol document's code list, or the loaded expansion): required. */
  source: Text,
});
export type ValueSetEntry = z.infer<typeof ValueSetEntrySchema>;

export const CareGapValueSetSchema = z.strictObject({
  valueSet: z.string().regex(/^[a-z0-9]+(-[a-z0-9]+)*$/, 'use kebab-case'),
  version: z.number().int().positive(),
  title: Text,
  description: Text,
  source: Text,
  entries: z.array(ValueSetEntrySchema).min(1),
});
export type CareGapValueSet = z.infer<typeof CareGapValueSetSchema>;

const BUILT_IN = {
  'advanced-illness': advancedIllness,
  'answer-yes': answerYes,
  'colonic-polyps-history': colonicPolypsHistory,
  colonoscopy,
  'colorectal-cancer': colorectalCancer,
  'ct-colonography': ctColonography,
  'dementia-medications': dementiaMedications,
  'fit-fobt': fitFobt,
  'flexible-sigmoidoscopy': flexibleSigmoidoscopy,
  frailty,
  hospice,
  'housing-nursing-home': housingNursingHome,
  'housing-status': housingStatus,
  'inflammatory-bowel-disease': inflammatoryBowelDisease,
  'lower-gi-symptoms': lowerGiSymptoms,
  'palliative-care': palliativeCare,
  'screening-refused': screeningRefused,
  'sdna-fit': sdnaFit,
  'stool-result-negative': stoolResultNegative,
  'stool-result-positive': stoolResultPositive,
  'total-colectomy': totalColectomy,
} as const;
export type CareGapValueSetId = keyof typeof BUILT_IN;
export type CareGapValueSets = Readonly<Record<CareGapValueSetId, CareGapValueSet>>;

function parseValueSetFile(id: string, json: unknown): CareGapValueSet {
  const result = CareGapValueSetSchema.safeParse(json);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new AppError('CONFIG_INVALID', `value set ${id}: ${jsonPath(issue?.path ?? [])}: ${issue?.message ?? ''}`);
  }
  if (result.data.valueSet !== id)
    throw new AppError('CONFIG_INVALID', `value set file ${id} names ${result.data.valueSet}`);
  return result.data;
}

/** The built-in value sets (the code lists of docs/protocols/crc-screening-2021.md), validated at import. */
export const CARE_GAP_VALUE_SETS: CareGapValueSets = Object.fromEntries(
  Object.entries(BUILT_IN).map(([id, json]) => [id, parseValueSetFile(id, json)]),
) as unknown as CareGapValueSets;

/** A compiled value set: does a coding belong to it? */
export interface ValueSetMatcher {
  has(system: string | undefined, code: string | undefined): boolean;
}

const compiled = new WeakMap<CareGapValueSet, ValueSetMatcher>();

/** Compiles a value set for lookups (memoised per value-set object). */
export function valueSetMatcher(vs: CareGapValueSet): ValueSetMatcher {
  const done = compiled.get(vs);
  if (done) return done;
  const exact = new Set<string>();
  const prefixes: { system: string; code: string }[] = [];
  for (const e of vs.entries) {
    const system = canonicalSystem(e.system);
    const code = normalCode(system, e.code);
    if (e.match === 'prefix') prefixes.push({ system, code });
    else exact.add(`${system}|${code}`);
  }
  const matcher: ValueSetMatcher = {
    has(rawSystem, rawCode) {
      if (!rawSystem || !rawCode) return false;
      const system = canonicalSystem(rawSystem);
      const code = normalCode(system, rawCode.trim());
      return exact.has(`${system}|${code}`) || prefixes.some((p) => p.system === system && code.startsWith(p.code));
    },
  };
  compiled.set(vs, matcher);
  return matcher;
}

// ---------------------------------------------------------------------------------------------------------------
// A clinic's full expansion of a value set (FHIR R4 `ValueSet`, as VSAC exports it; parsed by the engine)
// ---------------------------------------------------------------------------------------------------------------

/** The ids of this kind's value sets: the ones a clinic may load an expansion for (`careGapKind.valueSets`). */
export const CARE_GAP_VALUE_SET_IDS: readonly CareGapValueSetId[] = Object.keys(BUILT_IN) as CareGapValueSetId[];

/**
 * A clinic's expansion **extends** the built-in set of the same id: the result holds every built-in entry (the
 * protocol document's code lists, ICD-10-CM prefixes and the clinic EHR's own codes included) and every code of the
 * expansion not already there (exact matches), each with `source` naming the ValueSet (`url|version`). Extending, not
 * replacing: an export that lacks a code the protocol lists (a prefix, a local code) must not silently stop an
 * exclusion or a test from counting.
 */
export function mergeExpansion(current: CareGapValueSet, expansion: ParsedExpansion): CareGapValueSet {
  const source = `${expansion.source} (loaded expansion)`;
  const key = (system: string, match: string, code: string) =>
    `${canonicalSystem(system)}|${match}|${normalCode(canonicalSystem(system), code)}`;
  const seen = new Set(current.entries.map((e) => key(e.system, e.match ?? 'exact', e.code)));
  const added: ValueSetEntry[] = [];
  for (const c of expansion.codes) {
    const k = key(c.system, 'exact', c.code);
    if (seen.has(k)) continue;
    seen.add(k);
    added.push({ system: c.system, code: c.code, ...(c.display ? { display: c.display } : {}), source });
  }
  return { ...current, entries: [...current.entries, ...added] };
}

/** The value sets of one evaluation: the built-in ones, each extended by the clinic's loaded expansion of its id. */
export function careGapValueSetsWith(
  expansions: readonly { valueSetId: string; expansion: ParsedExpansion }[],
): CareGapValueSets {
  const sets: Record<string, CareGapValueSet> = { ...CARE_GAP_VALUE_SETS };
  for (const { valueSetId, expansion } of expansions) {
    const current = Object.hasOwn(sets, valueSetId) ? sets[valueSetId] : undefined;
    if (current) sets[valueSetId] = mergeExpansion(current, expansion);
  }
  return sets as unknown as CareGapValueSets;
}

/**
 * Parses a clinic's full expansion of one value set (a FHIR R4 `ValueSet` resource, e.g. a VSAC export; the fields
 * read are `parseValueSetExpansion`'s) and merges it into the built-in set of that id (`mergeExpansion`).
 *
 * @throws AppError `INVALID_INPUT` with the JSON path of the problem (unknown value set id, not a ValueSet, a code
 *   without a system, nothing to load).
 */
export function loadValueSetExpansion(
  valueSetId: string,
  resource: unknown,
  base: Readonly<Record<string, CareGapValueSet>> = CARE_GAP_VALUE_SETS,
): CareGapValueSet {
  const current = Object.hasOwn(base, valueSetId) ? base[valueSetId] : undefined;
  if (!current) {
    const message = `unknown value set "${valueSetId}" (known: ${Object.keys(base).join(', ')})`;
    throw new AppError('INVALID_INPUT', `$: ${message}`, { issues: [{ path: '$', message }] });
  }
  return mergeExpansion(current, parseValueSetExpansion(resource));
}
