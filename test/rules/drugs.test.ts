import { describe, expect, test } from 'vitest';
import { classifyDrug } from '../../rules/drugs/index.ts';

const byText = (text: string) => classifyDrug({ rxnormCodes: [], texts: [text] });

describe('classifyDrug', () => {
  test('by RxNorm ingredient code', () => {
    expect(classifyDrug({ rxnormCodes: ['7646'], texts: [] })).toMatchObject({
      ingredients: ['omeprazole'],
      classes: ['proton_pump_inhibitor'],
      controlledSchedule: null,
    });
  });

  test('by clinical drug (SCD) code', () => {
    expect(classifyDrug({ rxnormCodes: ['861007'], texts: [] }).ingredients).toEqual(['metformin']);
  });

  test('by ingredient or brand name in text, case-insensitive, on word boundaries', () => {
    expect(byText('ZOLOFT 50 mg tablet').ingredients).toEqual(['sertraline']);
    expect(byText('Divalproex sodium 500 mg DR tablet').ingredients).toEqual(['valproate']);
    expect(byText('Prozacs and more').ingredients).toEqual([]); // "prozac" inside a longer word is no match
  });

  test('the route decides what fluticasone is', () => {
    expect(byText('Fluticasone propionate 50 mcg/actuation nasal spray').classes).toEqual(['nasal_corticosteroid']);
    expect(byText('Fluticasone propionate HFA 110 mcg/actuation inhaler').classes).toEqual([
      'asthma_inhaler',
      'inhaled_corticosteroid',
    ]);
    expect(byText('Flonase').classes).toEqual(['nasal_corticosteroid']);
    expect(byText('fluticasone').classes).toEqual([]); // route unknown: no class, so no category
  });

  test('combination brands carry every ingredient', () => {
    expect(byText('Advair Diskus 250/50').ingredients).toEqual(['fluticasone', 'salmeterol']);
  });

  test('an EpiPen is an epinephrine auto-injector; epinephrine vials are not', () => {
    expect(byText('EpiPen (epinephrine) 0.3 mg auto-injector').classes).toEqual(['epinephrine_autoinjector']);
    expect(byText('epinephrine 1 mg/mL injection vial').classes).toEqual([]);
  });

  test('U-500 insulin is flagged', () => {
    expect(byText('Humulin R U-500 (insulin regular human 500 units/mL) KwikPen')).toMatchObject({
      ingredients: ['insulin regular'],
      u500: true,
    });
    expect(byText('Insulin glargine 100 units/mL pen').u500).toBe(false);
  });

  test.each([
    ['Oxycodone HCl 5 mg tablet', 'CII'],
    ['Adderall XR 20 mg', 'CII'],
    ['Tramadol 50 mg tablet', 'CIV'],
    ['Alprazolam 0.5 mg', 'CIV'],
    ['Zolpidem 10 mg', 'CIV'],
    ['Pregabalin 75 mg capsule', 'CV'],
    ['Testosterone cypionate 200 mg/mL', 'CIII'],
    ['Buprenorphine/naloxone film', 'CIII'],
  ])('%s is controlled (%s)', (text, schedule) => {
    expect(byText(text).controlledSchedule).toBe(schedule);
  });

  test('gabapentin is not federally controlled', () => {
    expect(byText('Gabapentin 300 mg capsule').controlledSchedule).toBeNull();
  });

  test('a code and a text that disagree are united, so a controlled ingredient is never lost', () => {
    const d = classifyDrug({ rxnormCodes: ['7646'], texts: ['oxycodone 5 mg'] });
    expect(d.ingredients).toEqual(['omeprazole', 'oxycodone']);
    expect(d.controlledSchedule).toBe('CII');
  });

  test('an unknown drug has no ingredients and no classes', () => {
    expect(classifyDrug({ rxnormCodes: ['999999'], texts: ['Mystery tonic'] })).toMatchObject({
      ingredients: [],
      classes: [],
      controlledSchedule: null,
    });
  });
});
