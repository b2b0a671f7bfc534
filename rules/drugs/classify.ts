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

/** Finds ingredient names in text; a longer match wins over a shorter one inside it ("insulin glargine" over "insulin"). */
function matchAliases(text: string): { ingredients: string[]; forms: DoseForm[] } {
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
  const classes = [...new Set(entries.flatMap((e) => classesOf(e, form)))].sort();
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
