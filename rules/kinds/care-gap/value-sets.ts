// The care-gap kind's value sets: data files (one per set, every entry with its `source`), parsed at import, and
// the parser + merge of a clinic's full expansion (FHIR `ValueSet` JSON, e.g. a VSAC export) for one set.
import { z } from 'zod';
import { AppError, jsonPath } from '../../errors.ts';
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
// A clinic's full expansion of a value set (FHIR R4 `ValueSet`, as VSAC exports it)
// ---------------------------------------------------------------------------------------------------------------

interface Contains {
  system?: string;
  code?: string;
  display?: string;
  abstract?: boolean;
  contains?: Contains[];
}
const ContainsSchema: z.ZodType<Contains> = z.lazy(() =>
  z.looseObject({
    system: z.string().min(1).optional(),
    code: z.string().min(1).optional(),
    display: z.string().optional(),
    abstract: z.boolean().optional(),
    contains: z.array(ContainsSchema).optional(),
  }),
);
const FhirValueSetSchema = z.looseObject({
  resourceType: z.literal('ValueSet'),
  id: z.string().optional(),
  url: z.string().optional(),
  version: z.string().optional(),
  name: z.string().optional(),
  expansion: z.looseObject({ contains: z.array(ContainsSchema).optional() }).optional(),
  compose: z
    .looseObject({
      include: z.array(
        z.looseObject({
          system: z.string().min(1).optional(),
          version: z.string().optional(),
          concept: z.array(z.looseObject({ code: z.string().min(1), display: z.string().optional() })).optional(),
          filter: z.array(z.unknown()).optional(),
          valueSet: z.array(z.string()).optional(),
        }),
      ),
    })
    .optional(),
});

function invalid(path: PropertyKey[], message: string): never {
  const p = jsonPath(path);
  throw new AppError('INVALID_INPUT', `${p}: ${message}`, { issues: [{ path: p, message }] });
}

/**
 * Parses a clinic's full expansion of one value set (a FHIR R4 `ValueSet` resource, e.g. a VSAC export) and merges it
 * into the built-in set of that id: the result holds every built-in entry and every code of the expansion (exact
 * matches; duplicates dropped), each expansion entry with `source` naming the ValueSet (`url|version`). Codes are
 * read from `expansion.contains[]` (nested `contains` too, `abstract` entries skipped) and from
 * `compose.include[].concept[]` (with the include's `system`). An include made only of `filter` or `valueSet`
 * references cannot be expanded here and is refused, as is a document with no code at all: a clinic must load the
 * expansion, not the definition.
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
  if (!current) invalid([], `unknown value set "${valueSetId}" (known: ${Object.keys(base).join(', ')})`);
  const parsed = FhirValueSetSchema.safeParse(resource);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    invalid(issue?.path ?? [], issue?.message ?? 'not a FHIR ValueSet');
  }
  const vs = parsed.data;
  const name = vs.url ?? (vs.id ? `ValueSet/${vs.id}` : (vs.name ?? 'ValueSet'));
  const source = `${name}${vs.version ? `|${vs.version}` : ''} (loaded expansion)`;
  const loaded: ValueSetEntry[] = [];

  const walk = (list: Contains[], path: PropertyKey[]): void =>
    list.forEach((c, i) => {
      if (c.code !== undefined && !c.abstract) {
        if (!c.system) invalid([...path, i, 'system'], 'a code needs its system');
        loaded.push({ system: c.system, code: c.code, ...(c.display ? { display: c.display } : {}), source });
      }
      if (c.contains) walk(c.contains, [...path, i, 'contains']);
    });
  walk(vs.expansion?.contains ?? [], ['expansion', 'contains']);
  vs.compose?.include.forEach((inc, i) => {
    if (!inc.concept?.length) {
      if (inc.filter?.length || inc.valueSet?.length)
        invalid(['compose', 'include', i], 'a filter or valueSet include cannot be expanded here: load the expansion');
      return;
    }
    if (!inc.system) invalid(['compose', 'include', i, 'system'], 'an include with concepts needs its system');
    for (const c of inc.concept)
      loaded.push({ system: inc.system, code: c.code, ...(c.display ? { display: c.display } : {}), source });
  });
  if (loaded.length === 0) invalid([], 'the ValueSet holds no codes (expansion.contains or compose.include.concept)');

  const seen = new Set(
    current.entries.map(
      (e) => `${canonicalSystem(e.system)}|${e.match ?? 'exact'}|${normalCode(canonicalSystem(e.system), e.code)}`,
    ),
  );
  const added = loaded.filter((e) => {
    const key = `${canonicalSystem(e.system)}|exact|${normalCode(canonicalSystem(e.system), e.code)}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
  return { ...current, entries: [...current.entries, ...added] };
}
