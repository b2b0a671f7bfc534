// Value sets: the clinical vocabularies as versioned data, parsed (and so validated) once at import.
// Node side only, like rules/kinds/refill/protocols/ (workflows/ take types only). A change here changes decisions: review it as code.
import { z } from 'zod';
import conditionsJson from './conditions.json' with { type: 'json' };
import drugClassesJson from './drug-classes.json' with { type: 'json' };
import ingredientsJson from './ingredients.json' with { type: 'json' };
import labPanelsJson from './lab-panels.json' with { type: 'json' };
import officeVisitJson from './office-visit.json' with { type: 'json' };
import { AppError, jsonPath } from '../errors.ts';
import { ControlledScheduleSchema, DoseFormSchema, DrugClassSchema } from '../drugs/vocabulary.ts';

const Text = z.string().min(1);
/** Where an entry comes from (a code system, a regulation, a protocol clause): required on every entry. */
const Source = Text;
const Header = {
  valueSet: Text,
  version: z.int().positive(),
  description: Text,
  source: Source,
};
const valueSetFile = <S extends z.ZodRawShape>(name: string, shape: S) =>
  z.strictObject({ ...Header, valueSet: z.literal(name), ...shape });

const RxNormCode = z.string().regex(/^\d+$/, 'an RxNorm code is digits');
const LoincCode = z.string().regex(/^\d{1,7}-\d$/, 'a LOINC code is digits, a hyphen and a check digit');

export const IngredientsValueSetSchema = valueSetFile('ingredients', {
  ingredients: z.array(
    z.strictObject({
      name: Text,
      rxnorm: z.array(RxNormCode),
      aliases: z.array(Text.refine((a) => a === a.toLowerCase(), 'aliases are lower case')).min(1),
      schedule: ControlledScheduleSchema.optional(),
      assumeForm: DoseFormSchema.optional(),
      source: Source,
    }),
  ),
  brands: z.array(
    z.strictObject({
      alias: Text.refine((a) => a === a.toLowerCase(), 'aliases are lower case'),
      ingredients: z.array(Text).min(1),
      form: DoseFormSchema.optional(),
      source: Source,
    }),
  ),
  clinicalDrugs: z.array(
    z.strictObject({
      rxnorm: RxNormCode,
      ingredients: z.array(Text).min(1),
      form: DoseFormSchema.optional(),
      source: Source,
    }),
  ),
});
export type IngredientsValueSet = z.infer<typeof IngredientsValueSetSchema>;

export const DrugClassesValueSetSchema = valueSetFile('drug-classes', {
  classes: z.array(
    z.strictObject({
      class: DrugClassSchema,
      ingredients: z.array(Text),
      byForm: z.partialRecord(DoseFormSchema, z.array(Text).min(1)).optional(),
      source: Source,
    }),
  ),
});
export type DrugClassesValueSet = z.infer<typeof DrugClassesValueSetSchema>;

const Coding = z.strictObject({ system: z.url(), code: Text, display: Text, source: Source });
const Visit = z.strictObject({
  description: Text,
  types: z.array(Coding).min(1),
  clinician: z.strictObject({ qualification: Text, role: Text, source: Source }),
});
export const OfficeVisitValueSetSchema = valueSetFile('office-visit', {
  visits: z.strictObject({ pcpReturnVisit: Visit, ccnVisit: Visit }),
});
export type OfficeVisitValueSet = z.infer<typeof OfficeVisitValueSetSchema>;

const Lab = z.strictObject({
  description: Text,
  loinc: z.array(LoincCode).min(1),
  members: z.array(Text).optional(),
  source: Source,
});
export const LabPanelsValueSetSchema = valueSetFile('lab-panels', {
  labs: z.strictObject({
    cbc: Lab,
    cmp: Lab,
    a1c: Lab,
    lipidPanel: Lab,
    urineMicroalbumin: Lab,
    potassium: Lab,
    creatinine: Lab,
    egfr: Lab,
    tsh: Lab,
    sodium: Lab,
    hcg: Lab,
  }),
  vitals: z.strictObject({ bloodPressurePanel: Lab, systolic: Lab, diastolic: Lab, bodyWeight: Lab }),
  socialHistory: z.strictObject({ smokingStatus: Lab }),
  drugLevels: z.array(z.strictObject({ loinc: LoincCode, ingredient: Text, source: Source })),
});
export type LabPanelsValueSet = z.infer<typeof LabPanelsValueSetSchema>;

const ConditionCodes = z.strictObject({
  description: Text,
  snomed: z.array(z.string().regex(/^\d+$/)).min(1),
  icd10Prefixes: z.array(z.string().regex(/^[A-Z][0-9A-Z.]*$/)).min(1),
  source: Source,
});
export const ConditionsValueSetSchema = valueSetFile('conditions', {
  conditions: z.strictObject({
    asthma: ConditionCodes,
    pregnancy: ConditionCodes,
    venous_thromboembolism: ConditionCodes,
    migraine_with_aura: ConditionCodes,
    hypertension: ConditionCodes,
  }),
});
export type ConditionsValueSet = z.infer<typeof ConditionsValueSetSchema>;

/**
 * Parses one value-set file, throwing `CONFIG_INVALID` with the JSON path of the first problem.
 *
 * Value sets are parsed at import, so a broken file stops the process at start instead of misclassifying mid-case.
 */
export function parseValueSet<T>(schema: z.ZodType<T>, data: unknown, file: string): T {
  const result = schema.safeParse(data);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  throw new AppError(
    'CONFIG_INVALID',
    `rules/value-sets/${file}: ${jsonPath(issue?.path ?? [])}: ${issue?.message ?? 'invalid'}`,
    { context: { file } },
  );
}

export const INGREDIENTS_VALUE_SET: IngredientsValueSet = parseValueSet(
  IngredientsValueSetSchema,
  ingredientsJson,
  'ingredients.json',
);
export const DRUG_CLASSES_VALUE_SET: DrugClassesValueSet = parseValueSet(
  DrugClassesValueSetSchema,
  drugClassesJson,
  'drug-classes.json',
);
export const OFFICE_VISIT_VALUE_SET: OfficeVisitValueSet = parseValueSet(
  OfficeVisitValueSetSchema,
  officeVisitJson,
  'office-visit.json',
);
export const LAB_PANELS_VALUE_SET: LabPanelsValueSet = parseValueSet(
  LabPanelsValueSetSchema,
  labPanelsJson,
  'lab-panels.json',
);
export const CONDITIONS_VALUE_SET: ConditionsValueSet = parseValueSet(
  ConditionsValueSetSchema,
  conditionsJson,
  'conditions.json',
);
