import { BRANDS, CLINICAL_DRUGS, INGREDIENTS, type IngredientEntry } from './table.ts';
import type { ControlledSchedule, DoseForm, DrugClass } from './vocabulary.ts';

/** What the classifier reads about one drug: RxNorm codes and any free text (coding displays, `text`). */
export interface DrugDescription {
  rxnormCodes: readonly string[];
  texts: readonly string[];
}

/** What the classifier concludes. Empty `ingredients` means the drug is not in the table. */
export interface DrugClassification {
  ingredients: string[];
  classes: DrugClass[];
  controlledSchedule: ControlledSchedule | null;
  form: DoseForm | null;
  u500: boolean;
}

const BY_NAME = new Map(INGREDIENTS.map((i) => [i.name, i]));
const BY_CODE = new Map(INGREDIENTS.flatMap((i) => i.rxnorm.map((code) => [code, i] as const)));
const SCHEDULE_RANK: Record<ControlledSchedule, number> = { CII: 2, CIII: 3, CIV: 4, CV: 5 };

interface Alias {
  pattern: RegExp;
  ingredients: readonly string[];
  form?: DoseForm;
}

const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
// Word boundaries that also hold next to hyphens and digits ("auvi-q", "b-12").
const wordPattern = (alias: string): RegExp => new RegExp(`(?<![a-z0-9])${escape(alias)}(?![a-z0-9])`, 'gi');

const ALIASES: readonly Alias[] = [
  ...INGREDIENTS.flatMap((i) => i.aliases.map((a) => ({ pattern: wordPattern(a), ingredients: [i.name] }))),
  ...BRANDS.map((b) => ({
    pattern: wordPattern(b.alias),
    ingredients: b.ingredients,
    ...(b.form ? { form: b.form } : {}),
  })),
];

const FORM_PATTERNS: readonly [DoseForm, RegExp][] = [
  ['autoinjector', /auto-?injector|epipen|auvi-?q|adrenaclick|symjepi/i],
  ['nasal', /\bnasal\b|nose spray/i],
  [
    'inhalation',
    /inhal|\bhfa\b|diskus|respimat|ellipta|handihaler|metered dose|\bmdi\b|nebuli[sz]|\bactuat\b|aerosol/i,
  ],
  ['ophthalmic', /ophthalmic|eye drop/i],
  ['injection', /inject|\bpen\b|syringe|\bvial\b|subcutaneous/i],
  ['topical', /topical|cream|ointment|\bgel\b|transdermal|patch/i],
  ['oral', /\boral\b|tablet|capsule|\btab\b|\bcap\b|suspension|elixir|syrup/i],
];

/**
 * Product texts already matched: a clinic's refills name the same few hundred products over and over, and matching
 * every alias pattern against a text is the costliest step of extracting a request's facts. Bounded; copies out.
 */
const MATCHED = new Map<string, { ingredients: readonly string[]; forms: readonly DoseForm[] }>();
const MATCHED_MAX = 5000;

/** Finds ingredient names in text; a longer match wins over a shorter one inside it ("insulin glargine" over "insulin"). */
function matchAliases(text: string): { ingredients: string[]; forms: DoseForm[] } {
  let found = MATCHED.get(text);
  if (!found) {
    found = matchAliasesNow(text);
    if (MATCHED.size >= MATCHED_MAX) MATCHED.delete(MATCHED.keys().next().value!);
    MATCHED.set(text, found);
  }
  return { ingredients: [...found.ingredients], forms: [...found.forms] };
}

function matchAliasesNow(text: string): { ingredients: string[]; forms: DoseForm[] } {
  const hits: { start: number; end: number; alias: Alias }[] = [];
  for (const alias of ALIASES) {
    for (const m of text.matchAll(alias.pattern)) hits.push({ start: m.index, end: m.index + m[0].length, alias });
  }
  hits.sort((a, b) => b.end - b.start - (a.end - a.start) || a.start - b.start);
  const taken: { start: number; end: number }[] = [];
  const ingredients: string[] = [];
  const forms: DoseForm[] = [];
  for (const hit of hits) {
    if (taken.some((t) => hit.start < t.end && t.start < hit.end)) continue;
    taken.push(hit);
    ingredients.push(...hit.alias.ingredients);
    if (hit.alias.form) forms.push(hit.alias.form);
  }
  return { ingredients, forms };
}

// Words of a product text that name no ingredient: units, dose forms, release, salts, packaging.
const NOT_AN_INGREDIENT = new Set(
  (
    'mg mcg ug µg g gm ml l unit units unt iu meq mmol actuat actuation actuations dose doses hr h day daily weekly ' +
    'tablet tablets tab tabs capsule capsules cap caps oral film coated chewable disintegrating odt sublingual buccal ' +
    'extended delayed release er xr xl sr dr ir la cr solution suspension syrup elixir liquid drops injection ' +
    'injectable pen vial syringe patch transdermal cream gel ointment topical spray nasal inhaler inhalation hfa ' +
    'metered powder dry kit pack ring vaginal ophthalmic sodium potassium calcium magnesium hydrochloride hcl ' +
    'etexilate succinate tartrate maleate besylate mesylate acetate fumarate citrate sulfate mesilate free base and ' +
    'with of per in the a an or each'
  ).split(' '),
);
const UNIT_AFTER_SLASH = /^\s*(\d|mg\b|mcg\b|ml\b|l\b|g\b|actuat|dose|day|hr\b|h\b|kg\b|spray|vial|unit|unt\b|iu\b)/i;

/**
 * The parts of a combination product's text: split at " / " or "/" between names (not "mg/mL", "24/26 mg",
 * "mcg/actuation"), at " and ", " with " and "+". One part for a single-ingredient text.
 */
function combinationParts(text: string): string[] {
  const parts: string[] = [];
  let start = 0;
  for (const m of text.matchAll(/\/|\+|\s(?:and|with)\s/gi)) {
    if (m[0] === '/' && UNIT_AFTER_SLASH.test(text.slice(m.index + 1))) continue;
    parts.push(text.slice(start, m.index));
    start = m.index + m[0].length;
  }
  parts.push(text.slice(start));
  return parts;
}

/** Whether a combination names a part the table does not know ("sacubitril 49 mg / valsartan 51 mg"). */
function hasUnknownPart(text: string): boolean {
  const parts = combinationParts(text);
  if (parts.length < 2) return false;
  return parts.some((part) => {
    if (matchAliases(part).ingredients.length > 0) return false;
    const words = part.toLowerCase().match(/[a-z][a-z-]*[a-z]/g) ?? [];
    return words.some((w) => w.length >= 3 && !NOT_AN_INGREDIENT.has(w));
  });
}

/**
 * The strength in mg per unit of a single-ingredient product, from its texts ("Apixaban 5 mg tablet", the SCD display
 * "apixaban 5 MG Oral Tablet"): `null` for a combination, a concentration ("mg/mL"), no mg strength, or texts that
 * disagree. Dose checks read it; an unknown strength is never read as the usual one.
 */
export function strengthMg(texts: readonly string[], ingredients: readonly string[]): number | null {
  if (ingredients.length !== 1) return null;
  const found = new Set<number>();
  for (const text of texts) {
    for (const m of text.matchAll(/(\d+(?:\.\d+)?)\s*mg\b(\s*\/)?/gi)) {
      if (m[2]) return null;
      found.add(Number(m[1]));
    }
  }
  const [only] = [...found];
  return found.size === 1 && only !== undefined && only > 0 ? only : null;
}

function detectForm(texts: readonly string[], hinted: readonly DoseForm[]): DoseForm | null {
  if (hinted[0]) return hinted[0];
  const joined = texts.join(' ');
  return FORM_PATTERNS.find(([, re]) => re.test(joined))?.[0] ?? null;
}

function classesOf(entry: IngredientEntry, form: DoseForm | null): DrugClass[] {
  const route = form ?? entry.assumeForm ?? null;
  return [...entry.classes, ...((route && entry.byForm?.[route]) ?? [])];
}

/**
 * Classifies a drug by RxNorm code and, as a fallback and a cross-check, by ingredient names in its text.
 *
 * Code and text results are united rather than one overriding the other: if a code and its text disagree, the drug
 * carries both ingredients, so a controlled ingredient named anywhere still makes the drug controlled.
 *
 * A combination with a part the classifier does not recognise (a co-ingredient missing from the table, or one the
 * table lists without a class, such as sacubitril or estradiol) gets **no classes**: it must not fall silently into the
 * class of its known part (sacubitril/valsartan is no plain ARB, estradiol/drospirenone HRT no contraceptive). Its
 * ingredients and controlled schedule stay, so a controlled part is still seen; protocols find it in no category.
 */
export function classifyDrug(drug: DrugDescription): DrugClassification {
  const names = new Set<string>();
  const hintedForms: DoseForm[] = [];
  for (const code of drug.rxnormCodes) {
    const scd = CLINICAL_DRUGS[code];
    if (scd) {
      scd.ingredients.forEach((n) => names.add(n));
      if (scd.form) hintedForms.push(scd.form);
    }
    const entry = BY_CODE.get(code);
    if (entry) names.add(entry.name);
  }
  for (const text of drug.texts) {
    const found = matchAliases(text);
    found.ingredients.forEach((n) => names.add(n));
    hintedForms.push(...found.forms);
  }
  // "insulin" alone is only a placeholder when nothing more specific was found.
  if (names.size > 1) names.delete('insulin');

  const form = detectForm(drug.texts, hintedForms);
  const entries = [...names].sort().flatMap((n) => BY_NAME.get(n) ?? []);
  const unrecognised =
    (entries.length > 1 && entries.some((e) => classesOf(e, form).length === 0)) || drug.texts.some(hasUnknownPart);
  const classes = unrecognised ? [] : [...new Set(entries.flatMap((e) => classesOf(e, form)))].sort();
  const schedules = entries.flatMap((e) => (e.schedule ? [e.schedule] : []));
  schedules.sort((a, b) => SCHEDULE_RANK[a] - SCHEDULE_RANK[b]);
  const joined = drug.texts.join(' ');
  const u500 =
    entries.some((e) => e.classes.includes('insulin')) && /\bU-?500\b|500\s*(UNT|units?|U)\s*\/\s*ML/i.test(joined);

  return {
    ingredients: entries.map((e) => e.name),
    classes,
    controlledSchedule: schedules[0] ?? null,
    form,
    u500,
  };
}

/** The canonical ingredient names the classifier can produce; protocols may reference only these. */
export const INGREDIENT_NAMES: readonly string[] = INGREDIENTS.map((i) => i.name);
