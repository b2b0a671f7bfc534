import { z } from 'zod';

/**
 * Drug classes the classifier can assign. Protocols reference these names (`drug.classes`), so the schema can reject a
 * misspelt class in a rule. Add a class here before using it in a protocol; never rename one (recorded facts use it).
 */
export const DRUG_CLASSES = [
  'proton_pump_inhibitor',
  'h2_blocker',
  'anticoagulant',
  'antiplatelet',
  'anticonvulsant',
  'mood_stabilizer',
  'antipsychotic',
  'ssri',
  'snri',
  'antidepressant',
  'tricyclic_antidepressant',
  'nsaid',
  'xanthine_oxidase_inhibitor',
  'antigout',
  'vitamin_b12',
  'dmard',
  'herpes_antiviral',
  'asthma_inhaler',
  'inhaled_corticosteroid',
  'short_acting_beta_agonist',
  'long_acting_beta_agonist',
  'long_acting_muscarinic_antagonist',
  'short_acting_muscarinic_antagonist',
  'leukotriene_modifier',
  'bladder_antimuscarinic',
  'beta3_agonist',
  'antihistamine',
  'nasal_corticosteroid',
  'epinephrine_autoinjector',
  'antibiotic',
  'antidiabetic',
  'insulin',
  'statin',
  'ace_inhibitor',
  'angiotensin_receptor_blocker',
  'calcium_channel_blocker',
  'beta_blocker',
  'diuretic',
  'thyroid_hormone',
  'opioid',
  'benzodiazepine',
  'stimulant',
  'sedative_hypnotic',
  'gabapentinoid',
  'androgen',
  'barbiturate',
  'muscle_relaxant',
  'anorectic',
  'cannabinoid',
  'antidiarrheal',
  // standard-chronic-care v1 (subclasses: `diuretic` and `anticoagulant` stay on the same drugs)
  'thiazide',
  'loop_diuretic',
  'doac',
  'oral_contraceptive',
] as const;

export const DrugClassSchema = z.enum(DRUG_CLASSES);
export type DrugClass = z.infer<typeof DrugClassSchema>;

/** DEA schedules a refillable drug can carry (CI substances are never prescribed). */
export const ControlledScheduleSchema = z.enum(['CII', 'CIII', 'CIV', 'CV']);
export type ControlledSchedule = z.infer<typeof ControlledScheduleSchema>;

/** Dose forms the classifier tells apart, because some ingredients change class with the route (fluticasone). */
export const DoseFormSchema = z.enum([
  'inhalation',
  'nasal',
  'autoinjector',
  'ophthalmic',
  'topical',
  'injection',
  'oral',
]);
export type DoseForm = z.infer<typeof DoseFormSchema>;
