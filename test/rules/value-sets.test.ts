import { describe, expect, it } from 'vitest';
import conditionsJson from '../../rules/value-sets/conditions.json' with { type: 'json' };
import drugClassesJson from '../../rules/value-sets/drug-classes.json' with { type: 'json' };
import ingredientsJson from '../../rules/value-sets/ingredients.json' with { type: 'json' };
import labPanelsJson from '../../rules/value-sets/lab-panels.json' with { type: 'json' };
import officeVisitJson from '../../rules/value-sets/office-visit.json' with { type: 'json' };
import {
  CONDITIONS_VALUE_SET,
  ConditionsValueSetSchema,
  DRUG_CLASSES_VALUE_SET,
  DrugClassesValueSetSchema,
  INGREDIENTS_VALUE_SET,
  IngredientsValueSetSchema,
  LAB_PANELS_VALUE_SET,
  LabPanelsValueSetSchema,
  OFFICE_VISIT_VALUE_SET,
  OfficeVisitValueSetSchema,
  parseValueSet,
} from '../../rules/value-sets/index.ts';
import { classifyDrug, DRUG_CLASSES, type DoseForm, type DrugClass } from '../../rules/drugs/index.ts';
import { BUILTIN_PROTOCOLS } from '../../rules/kinds/refill/protocols/index.ts';
import { AppError } from '../../rules/errors.ts';
import { SYSTEMS } from '../../facts/refill/codes.ts';

/** Values that occur more than once. */
const duplicates = (values: readonly string[]): string[] => values.filter((v, i) => values.indexOf(v) !== i);

const ingredientNames = INGREDIENTS_VALUE_SET.ingredients.map((i) => i.name);
const FORMS: readonly DoseForm[] = [
  'inhalation',
  'nasal',
  'autoinjector',
  'ophthalmic',
  'topical',
  'injection',
  'oral',
];

/** The classes an ingredient has when given by `form`, read straight from drug-classes.json. */
function classesByData(name: string, form: DoseForm): Set<DrugClass> {
  return new Set(
    DRUG_CLASSES_VALUE_SET.classes
      .filter((c) => c.ingredients.includes(name) || (c.byForm?.[form] ?? []).includes(name))
      .map((c) => c.class),
  );
}

describe('value sets: files parse', () => {
  it.each([
    ['ingredients.json', IngredientsValueSetSchema, ingredientsJson, INGREDIENTS_VALUE_SET],
    ['drug-classes.json', DrugClassesValueSetSchema, drugClassesJson, DRUG_CLASSES_VALUE_SET],
    ['office-visit.json', OfficeVisitValueSetSchema, officeVisitJson, OFFICE_VISIT_VALUE_SET],
    ['lab-panels.json', LabPanelsValueSetSchema, labPanelsJson, LAB_PANELS_VALUE_SET],
    ['conditions.json', ConditionsValueSetSchema, conditionsJson, CONDITIONS_VALUE_SET],
  ] as const)('%s parses against its schema and is what the code loaded', (file, schema, raw, loaded) => {
    const result = schema.safeParse(raw);
    expect(result.error?.issues ?? []).toEqual([]);
    expect(loaded).toEqual(raw);
    expect(raw.valueSet).toBe(file.replace('.json', ''));
  });

  it('a broken file is a CONFIG_INVALID naming the file and the JSON path', () => {
    const broken = structuredClone(drugClassesJson) as { classes: { class: string }[] };
    broken.classes[3] = { ...broken.classes[3], class: 'ssris' };
    const parse = (): unknown => parseValueSet(DrugClassesValueSetSchema, broken, 'drug-classes.json');
    expect(parse).toThrow(AppError);
    expect(parse).toThrow(/^rules\/value-sets\/drug-classes\.json: \$\.classes\[3\]\.class: /);
  });

  it('every entry carries its source, and unknown fields are rejected', () => {
    const noSource = structuredClone(ingredientsJson) as { ingredients: Record<string, unknown>[] };
    delete noSource.ingredients[0]?.source;
    expect(IngredientsValueSetSchema.safeParse(noSource).error?.issues[0]?.path).toEqual(['ingredients', 0, 'source']);
    const extra = structuredClone(labPanelsJson) as { labs: { cbc: Record<string, unknown> } };
    extra.labs.cbc.loinc_codes = ['1-1'];
    expect(LabPanelsValueSetSchema.safeParse(extra).success).toBe(false);
  });
});

describe('value sets: ingredients and drug classes', () => {
  it('ingredient names, RxNorm codes and text aliases each identify one ingredient', () => {
    const { ingredients, brands, clinicalDrugs } = INGREDIENTS_VALUE_SET;
    expect(duplicates(ingredientNames)).toEqual([]);
    expect(duplicates(ingredients.flatMap((i) => i.rxnorm))).toEqual([]);
    expect(duplicates([...ingredients.flatMap((i) => i.aliases), ...brands.map((b) => b.alias)])).toEqual([]);
    const scdCodes = clinicalDrugs.map((d) => d.rxnorm);
    expect(duplicates(scdCodes)).toEqual([]);
    expect(scdCodes.filter((c) => ingredients.some((i) => i.rxnorm.includes(c)))).toEqual([]);
    for (const name of [...brands, ...clinicalDrugs].flatMap((b) => b.ingredients)) {
      expect(ingredientNames).toContain(name);
    }
  });

  it('drug-classes.json has exactly the classes of the protocol vocabulary, each once', () => {
    const classes = DRUG_CLASSES_VALUE_SET.classes.map((c) => c.class);
    expect(duplicates(classes)).toEqual([]);
    expect([...classes].sort()).toEqual([...DRUG_CLASSES].sort());
  });

  it('every class member is a known ingredient, listed once, and not both always and by route', () => {
    for (const c of DRUG_CLASSES_VALUE_SET.classes) {
      const byForm = Object.values(c.byForm ?? {}).flat();
      expect(duplicates(c.ingredients), c.class).toEqual([]);
      for (const name of [...c.ingredients, ...byForm]) expect(ingredientNames, c.class).toContain(name);
      expect(
        c.ingredients.filter((n) => byForm.includes(n)),
        c.class,
      ).toEqual([]);
    }
  });

  it('sibling classes a protocol tells apart never share an ingredient by the same route', () => {
    const siblings: readonly DrugClass[][] = [
      ['proton_pump_inhibitor', 'h2_blocker'],
      ['anticoagulant', 'antiplatelet'],
      ['ssri', 'snri', 'tricyclic_antidepressant'],
      ['thiazide', 'loop_diuretic'],
      ['ace_inhibitor', 'angiotensin_receptor_blocker'],
      ['short_acting_beta_agonist', 'long_acting_beta_agonist'],
      ['short_acting_muscarinic_antagonist', 'long_acting_muscarinic_antagonist'],
      ['inhaled_corticosteroid', 'nasal_corticosteroid'],
    ];
    const clashes: string[] = [];
    for (const name of ingredientNames) {
      for (const form of FORMS) {
        const classes = classesByData(name, form);
        for (const group of siblings) {
          const hit = group.filter((c) => classes.has(c));
          if (hit.length > 1) clashes.push(`${name} (${form}): ${hit.join(' + ')}`);
        }
      }
    }
    expect(clashes).toEqual([]);
  });

  it('a subclass implies its parent class on every route', () => {
    const parents: readonly [DrugClass, DrugClass][] = [
      ['thiazide', 'diuretic'],
      ['loop_diuretic', 'diuretic'],
      ['doac', 'anticoagulant'],
      ['ssri', 'antidepressant'],
      ['snri', 'antidepressant'],
      ['tricyclic_antidepressant', 'antidepressant'],
      ['insulin', 'antidiabetic'],
    ];
    const missing: string[] = [];
    for (const name of ingredientNames) {
      for (const form of FORMS) {
        const classes = classesByData(name, form);
        for (const [child, parent] of parents) {
          if (classes.has(child) && !classes.has(parent)) missing.push(`${name} (${form}): ${child} without ${parent}`);
        }
      }
    }
    expect(missing).toEqual([]);
  });

  it('the classifier gives every class to the ingredients the data lists, by route where the data says so', () => {
    const routeText: Record<DoseForm, string> = {
      inhalation: 'inhalation aerosol',
      nasal: 'nasal spray',
      autoinjector: 'auto-injector',
      ophthalmic: 'ophthalmic solution',
      topical: 'topical cream',
      injection: 'injection',
      oral: 'oral tablet',
    };
    let checked = 0;
    for (const c of DRUG_CLASSES_VALUE_SET.classes) {
      for (const name of c.ingredients) {
        expect(classifyDrug({ rxnormCodes: [], texts: [name] }).classes, `${name} → ${c.class}`).toContain(c.class);
        checked++;
      }
      for (const [form, names] of Object.entries(c.byForm ?? {}) as [DoseForm, string[]][]) {
        for (const name of names) {
          const text = `${name} ${routeText[form]}`;
          expect(classifyDrug({ rxnormCodes: [], texts: [text] }).classes, `${text} → ${c.class}`).toContain(c.class);
          checked++;
        }
      }
    }
    expect(checked).toBeGreaterThan(150);
  });

  it('every drug class and ingredient a built-in protocol names exists in the data', () => {
    const named = { classes: new Set<string>(), ingredients: new Set<string>() };
    const walk = (node: unknown): void => {
      if (Array.isArray(node)) return node.forEach(walk);
      if (!node || typeof node !== 'object') return;
      const o = node as Record<string, unknown>;
      if (o.fact === 'drug' && (o.path === '$.classes' || o.path === '$.ingredients')) {
        const values = Array.isArray(o.value) ? o.value : [o.value];
        for (const v of values) named[o.path === '$.classes' ? 'classes' : 'ingredients'].add(String(v));
      }
      Object.values(o).forEach(walk);
    };
    BUILTIN_PROTOCOLS.forEach(walk);
    expect(named.classes.size).toBeGreaterThan(10);
    expect(named.ingredients.size).toBeGreaterThan(2);
    const dataClasses = DRUG_CLASSES_VALUE_SET.classes.map((c) => c.class as string);
    expect([...named.classes].filter((c) => !dataClasses.includes(c))).toEqual([]);
    expect([...named.ingredients].filter((n) => !ingredientNames.includes(n))).toEqual([]);
    // A class a protocol relies on must have members, or its criteria could never apply.
    const empty = DRUG_CLASSES_VALUE_SET.classes.filter(
      (c) => named.classes.has(c.class) && c.ingredients.length === 0 && !c.byForm,
    );
    expect(empty.map((c) => c.class)).toEqual([]);
  });
});

describe('value sets: visits, labs and conditions', () => {
  it('a visit type code counts as one kind of visit only, in a code system the extraction reads', () => {
    const { pcpReturnVisit, ccnVisit } = OFFICE_VISIT_VALUE_SET.visits;
    const key = (t: { system: string; code: string }): string => `${t.system}|${t.code}`;
    const all = [...pcpReturnVisit.types, ...ccnVisit.types];
    expect(duplicates(all.map(key))).toEqual([]);
    for (const t of all) expect(Object.values(SYSTEMS)).toContain(t.system);
    expect(pcpReturnVisit.types.map(key)).toEqual([`${SYSTEMS.cpt}|99213`, `${SYSTEMS.snomed}|390906007`]);
    expect(ccnVisit.types.map(key)).toEqual([`${SYSTEMS.cpt}|99211`]);
  });

  it('a LOINC code makes one kind of lab, vital or drug level only', () => {
    const { labs, vitals, drugLevels } = LAB_PANELS_VALUE_SET;
    const codes = [
      ...Object.values(labs).flatMap((l) => l.loinc),
      ...Object.values(vitals).flatMap((v) => v.loinc),
      ...drugLevels.map((d) => d.loinc),
    ];
    expect(duplicates(codes)).toEqual([]);
    expect(labs.cbc.loinc).toContain('58410-2');
    expect(labs.cmp.loinc).toContain('24323-8');
    expect(labs.a1c.loinc).toContain('4548-4');
    for (const d of drugLevels) expect(ingredientNames).toContain(d.ingredient);
  });

  it('CMP members that are also single analytes use the same LOINC codes', () => {
    const memberCodes = (LAB_PANELS_VALUE_SET.labs.cmp.members ?? []).map((m) => m.split(' ')[0]);
    expect(memberCodes).toContain(LAB_PANELS_VALUE_SET.labs.potassium.loinc[0]);
    expect(memberCodes).toContain(LAB_PANELS_VALUE_SET.labs.creatinine.loinc[0]);
  });

  it('asthma is coded by SNOMED and ICD-10-CM J45', () => {
    expect(CONDITIONS_VALUE_SET.conditions.asthma.snomed).toEqual(['195967001']);
    expect(CONDITIONS_VALUE_SET.conditions.asthma.icd10Prefixes).toEqual(['J45']);
  });
});
