import { AppError } from '../errors.ts';
import { DRUG_CLASSES_VALUE_SET, INGREDIENTS_VALUE_SET } from '../value-sets/index.ts';
import type { ControlledSchedule, DoseForm, DrugClass } from './vocabulary.ts';

/**
 * One ingredient the classifier knows. `rxnorm` holds RxNorm ingredient (IN) codes; `aliases` are generic and brand
 * names matched case-insensitively on word boundaries in the product text. `byForm` adds classes that depend on the
 * route (fluticasone is an asthma inhaler when inhaled, an allergy spray when nasal); `assumeForm` is the route used
 * when the text does not say (albuterol is almost always inhaled). `schedule` is the federal DEA schedule.
 */
export interface IngredientEntry {
  readonly name: string;
  readonly rxnorm: readonly string[];
  readonly aliases: readonly string[];
  readonly classes: readonly DrugClass[];
  readonly byForm?: Partial<Record<DoseForm, readonly DrugClass[]>>;
  readonly assumeForm?: DoseForm;
  readonly schedule?: ControlledSchedule;
}

/** Brand names that stand for a combination, or that imply a route the generic name does not (Flonase is nasal). */
export interface BrandEntry {
  readonly alias: string;
  readonly ingredients: readonly string[];
  readonly form?: DoseForm;
}

const KNOWN = new Set(INGREDIENTS_VALUE_SET.ingredients.map((i) => i.name));
const checkKnown = (names: readonly string[], where: string): void => {
  const unknown = names.filter((n) => !KNOWN.has(n));
  if (unknown.length) {
    throw new AppError('CONFIG_INVALID', `rules/value-sets: ${where} names unknown ingredients: ${unknown.join(', ')}`);
  }
};

/** Class memberships by ingredient, inverted from drug-classes.json (class order as in that file). */
const CLASSES_OF = new Map<string, DrugClass[]>();
const BY_FORM_OF = new Map<string, Partial<Record<DoseForm, DrugClass[]>>>();
for (const entry of DRUG_CLASSES_VALUE_SET.classes) {
  checkKnown(entry.ingredients, `drug-classes.json class ${entry.class}`);
  for (const name of entry.ingredients) CLASSES_OF.set(name, [...(CLASSES_OF.get(name) ?? []), entry.class]);
  for (const [form, names] of Object.entries(entry.byForm ?? {}) as [DoseForm, string[]][]) {
    checkKnown(names, `drug-classes.json class ${entry.class} byForm.${form}`);
    for (const name of names) {
      const forms = BY_FORM_OF.get(name) ?? {};
      forms[form] = [...(forms[form] ?? []), entry.class];
      BY_FORM_OF.set(name, forms);
    }
  }
}

/**
 * The ingredient table, built from `rules/value-sets/ingredients.json` (codes, names, schedules) and
 * `drug-classes.json` (class membership). Codes are RxNorm IN concepts; where a code was not certain it was left out and
 * the ingredient is matched by name only (a wrong code is worse than none). Schedules are federal (21 CFR 1308); state
 * schedules (gabapentin in some states) are not modelled.
 */
export const INGREDIENTS: readonly IngredientEntry[] = INGREDIENTS_VALUE_SET.ingredients.map((i) => {
  const byForm = BY_FORM_OF.get(i.name);
  return {
    name: i.name,
    rxnorm: i.rxnorm,
    aliases: i.aliases,
    classes: CLASSES_OF.get(i.name) ?? [],
    ...(byForm ? { byForm } : {}),
    ...(i.assumeForm ? { assumeForm: i.assumeForm } : {}),
    ...(i.schedule ? { schedule: i.schedule } : {}),
  };
});

/** Brand names standing for combinations or implying a route, from `rules/value-sets/ingredients.json`. */
export const BRANDS: readonly BrandEntry[] = INGREDIENTS_VALUE_SET.brands.map((b) => {
  checkKnown(b.ingredients, `ingredients.json brand ${b.alias}`);
  return { alias: b.alias, ingredients: b.ingredients, ...(b.form ? { form: b.form } : {}) };
});

/**
 * Common clinical drug (SCD) codes, mapped to their ingredients (and route), from `rules/value-sets/ingredients.json`.
 * Only codes that were checked are listed; anything else coded as an SCD is classified from its display text, which
 * RxNorm spells out ("sertraline 50 MG Oral Tablet").
 */
export const CLINICAL_DRUGS: Readonly<Record<string, { ingredients: readonly string[]; form?: DoseForm }>> =
  Object.fromEntries(
    INGREDIENTS_VALUE_SET.clinicalDrugs.map((d) => {
      checkKnown(d.ingredients, `ingredients.json clinical drug ${d.rxnorm}`);
      return [d.rxnorm, { ingredients: d.ingredients, ...(d.form ? { form: d.form } : {}) }];
    }),
  );
