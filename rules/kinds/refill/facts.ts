import { z } from 'zod';
import { INGREDIENT_NAMES } from '../../drugs/classify.ts';
import { ControlledScheduleSchema, DoseFormSchema, DrugClassSchema } from '../../drugs/vocabulary.ts';
import { DatedEvidenceSchema, EvidenceSchema, IsoDateSchema } from '../../schema/evidence.ts';
import { createFactPathResolver, type FactPathResolver } from '../../schema/fact-paths.ts';

/**
 * A blood pressure reading: the two numbers a rule compares, and the Observation they came from (its `value` is
 * "systolic/diastolic"). Kept outside the evidence so the evidence stays a plain Evidence.
 */
export const BloodPressureSchema = z.strictObject({
  date: IsoDateSchema,
  systolic: z.number(),
  diastolic: z.number(),
  evidence: DatedEvidenceSchema,
});
export type BloodPressure = z.infer<typeof BloodPressureSchema>;

/** Administrative sex as the EHR records it (`Patient.gender`). */
export const SexSchema = z.enum(['female', 'male', 'other', 'unknown']);

/** Smoking status (LOINC 72166-2), read from its SNOMED answer: never, former or current. */
export const SmokingStatusSchema = z.enum(['never', 'former', 'current']);

/**
 * Problems on the active problem list that some protocol rule must see (`rules/value-sets/conditions.json`): a venous
 * thromboembolism, migraine with aura, hypertension (US MEC category 3/4 for combined hormonal contraception).
 */
export const ProblemSchema = z.enum(['venous_thromboembolism', 'migraine_with_aura', 'hypertension']);
export type Problem = z.infer<typeof ProblemSchema>;

export const IngredientNameSchema = z.enum(INGREDIENT_NAMES as [string, ...string[]]);

export const PharmacyTypeSchema = z.enum(['retail', 'mail-order']);
export type PharmacyType = z.infer<typeof PharmacyTypeSchema>;

/** FHIR MedicationRequest.status values. */
export const PrescriptionStatusSchema = z.enum([
  'active',
  'on-hold',
  'cancelled',
  'completed',
  'entered-in-error',
  'stopped',
  'draft',
  'unknown',
]);

/**
 * The facts about one refill request: the only data a protocol rule can see. Protocol-independent (any protocol can
 * be simulated against recorded facts), plain JSON (it crosses Temporal and is stored per case), and `null` wherever
 * the record may lack the data. Each top-level key is a json-rules-engine fact; rules reach inside with `path`
 * (`{ "fact": "visits", "path": "$.lastPcpRov.date" }`).
 */
export const RefillFactsSchema = z.strictObject({
  /** The day the request is triaged; every window is measured back from here. */
  asOf: IsoDateSchema,
  drug: z.strictObject({
    /** The product as the request names it (`medicationCodeableConcept.text` or the first coding display). */
    name: z.string(),
    rxnormCodes: z.array(z.string()),
    /** Canonical ingredient names from the drug table; empty when the drug is not in the table. */
    ingredients: z.array(IngredientNameSchema),
    classes: z.array(DrugClassSchema),
    form: DoseFormSchema.nullable(),
    controlledSchedule: ControlledScheduleSchema.nullable(),
    /** `dosageInstruction.asNeededBoolean` (or an as-needed reason) on the request or the prescription renewed. */
    prn: z.boolean(),
    /** U-500 (concentrated regular) insulin. */
    u500: z.boolean(),
    /** For antibiotics: what `reasonCode` says; `null` when no indication is recorded or the drug is no antibiotic. */
    antibioticIndication: z.enum(['dental_prophylaxis', 'other']).nullable(),
    /** The refill request (MedicationRequest, intent proposal). */
    evidence: EvidenceSchema,
    /**
     * Strength per unit in mg of a single-ingredient product, read from the product text or the SCD display
     * ("Apixaban 5 mg tablet" → 5); `null` for a combination, a strength in other units, or texts that disagree.
     */
    strengthMg: z.number().positive().nullable().default(null),
  }),
  request: z.strictObject({
    pharmacyType: PharmacyTypeSchema.nullable(),
    /** Days of supply asked for (`dispenseRequest.expectedSupplyDuration`, else the prescription's). */
    supplyDays: z.number().int().positive().nullable(),
    quantity: z.number().nonnegative().nullable(),
    refills: z.number().int().nonnegative().nullable(),
    /** The request, the requesting pharmacy, and the prescription the supply days came from. */
    evidence: z.array(EvidenceSchema),
  }),
  patient: z.strictObject({
    /** Whole years at `asOf`; `null` without a birth date. */
    ageYears: z.number().int().nonnegative().nullable(),
    evidence: EvidenceSchema,
    // Added for standard-chronic-care v2; each defaults so facts recorded before them still parse.
    /** `Patient.gender`; `null` when not recorded. */
    sex: SexSchema.nullable().default(null),
    /** Last body weight (LOINC 29463-7, `value` in kg), final, on or before asOf. */
    weight: DatedEvidenceSchema.nullable().default(null),
    /**
     * Current pregnancy: an active Condition (ICD-10-CM Z33.* / O09.*, SNOMED 77386006) or a positive hCG (2106-3,
     * 2118-8) within 9 months with no later negative. `pregnant` is `null` in facts recorded before it was read.
     */
    pregnancy: z
      .strictObject({ pregnant: z.boolean().nullable(), evidence: z.array(EvidenceSchema) })
      .default({ pregnant: null, evidence: [] }),
    /** Last smoking status (LOINC 72166-2, social-history); `status` `null` when none on file or its answer is unknown. */
    smoking: z
      .strictObject({ status: SmokingStatusSchema.nullable(), evidence: DatedEvidenceSchema.nullable() })
      .default({ status: null, evidence: null }),
    /** Active problems a rule must see (see `ProblemSchema`), with their Conditions. */
    problems: z
      .strictObject({ codes: z.array(ProblemSchema), evidence: z.array(EvidenceSchema) })
      .default({ codes: [], evidence: [] }),
  }),
  therapy: z.strictObject({
    /** Earliest `authoredOn` of any prescription of the same ingredient (a dose change is not a new start). */
    startDate: IsoDateSchema.nullable(),
    evidence: EvidenceSchema.nullable(),
  }),
  priorPrescription: z.strictObject({
    /** Status of the prescription being renewed; `null` when the record does not hold it. */
    status: PrescriptionStatusSchema.nullable(),
    evidence: EvidenceSchema.nullable(),
  }),
  allergy: z.strictObject({
    /** An active AllergyIntolerance to one of the requested ingredients. */
    activeToIngredient: z.boolean(),
    evidence: z.array(EvidenceSchema),
  }),
  visits: z.strictObject({
    /** Last finished ambulatory return office visit (CPT 99213 / SNOMED 390906007) with a PCP. */
    lastPcpRov: DatedEvidenceSchema.nullable(),
    /** Last such visit at which asthma was addressed (reason or diagnosis). */
    lastPcpRovForAsthma: DatedEvidenceSchema.nullable(),
    /** Last finished visit (CPT 99211) with the Collaborative Care Nurse. */
    lastCcnVisit: DatedEvidenceSchema.nullable(),
  }),
  labs: z.strictObject({
    lastCbc: DatedEvidenceSchema.nullable(),
    lastCmp: DatedEvidenceSchema.nullable(),
    /** Last drug level of one of the requested ingredients (`value` = result). */
    lastDrugLevel: DatedEvidenceSchema.nullable(),
    /** Last hemoglobin A1c with a numeric result (`value`, in %). */
    lastA1c: DatedEvidenceSchema.nullable(),
    lastLipidPanel: DatedEvidenceSchema.nullable(),
    lastUrineMicroalbumin: DatedEvidenceSchema.nullable(),
    // Added for standard-chronic-care. Each defaults to null so facts recorded before they existed still parse.
    // Each is the newest final result that has a value: a number, or the reported text (`>60`, `<15`) kept as the
    // `value` string, so a threshold never passes on an older number while a newer text result exists.
    /** Last serum/plasma potassium (`value` mmol/L; LOINC 2823-3, 6298-4). */
    lastPotassium: DatedEvidenceSchema.nullable().default(null),
    /** Last serum/plasma creatinine (`value` mg/dL; LOINC 2160-0). */
    lastCreatinine: DatedEvidenceSchema.nullable().default(null),
    /** Last reported eGFR (`value` mL/min/1.73 m²; LOINC 33914-3, 48642-3, 62238-1, 98979-8). */
    lastEgfr: DatedEvidenceSchema.nullable().default(null),
    /** Last TSH (`value` mIU/L; LOINC 3016-3, 11580-8). */
    lastTsh: DatedEvidenceSchema.nullable().default(null),
    // Added for standard-chronic-care v2.
    /** Last sodium (`value`, mmol/L; LOINC 2951-2); a text result keeps its text as `value`. */
    lastSodium: DatedEvidenceSchema.nullable().default(null),
    /**
     * The current kidney function as an eGFR (mL/min/1.73 m²): the newest of a reported eGFR and an eGFR computed by
     * CKD-EPI 2021 from a creatinine, age and sex (same day: a numeric report, then the computed value, then a text
     * report). A newer result is never passed over for an older number: when the newest is text (`>60`) or a
     * creatinine that cannot be converted (no age or sex), `value` is that text or absent, and no threshold passes.
     */
    kidneyFunction: DatedEvidenceSchema.nullable().default(null),
    /**
     * Creatinine clearance by Cockcroft–Gault (mL/min; actual body weight) from the newest creatinine, with age, sex
     * and the last weight (how recent it must be is a protocol rule); `value` absent when one of them is missing.
     */
    creatinineClearance: DatedEvidenceSchema.nullable().default(null),
  }),
  /** Vital signs (vital-signs category). Defaults so facts recorded before it existed still parse. */
  vitals: z
    .strictObject({
      /** Last blood pressure (panel 85354-9 with systolic 8480-6 and diastolic 8462-4 components), mm[Hg]. */
      lastBloodPressure: BloodPressureSchema.nullable().default(null),
    })
    .default({ lastBloodPressure: null }),
});
export type RefillFacts = z.infer<typeof RefillFactsSchema>;

/** The names a rule may use as `fact`. */
export const FactNameSchema = RefillFactsSchema.keyof();
export type FactName = z.infer<typeof FactNameSchema>;

/** Resolves `fact` + `path` against RefillFactsSchema (the refill kind's facts). */
export const resolveFactPath: FactPathResolver = createFactPathResolver(RefillFactsSchema);
