export { classifyDrug, INGREDIENT_NAMES, type DrugClassification, type DrugDescription } from './classify.ts';
export { BRANDS, CLINICAL_DRUGS, INGREDIENTS, type BrandEntry, type IngredientEntry } from './table.ts';
export {
  ControlledScheduleSchema,
  DoseFormSchema,
  DRUG_CLASSES,
  DrugClassSchema,
  type ControlledSchedule,
  type DoseForm,
  type DrugClass,
} from './vocabulary.ts';
