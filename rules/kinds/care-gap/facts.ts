import { z } from 'zod';
import { DatedEvidenceSchema, EvidenceSchema, IsoDateSchema } from '../../schema/evidence.ts';

/**
 * Something the record holds or not (a problem, an exclusion): whether any counting resource is on file, the latest
 * date among them (`null` when none, or none is dated), and each resource as evidence. "Ever" clauses test `present`;
 * "within N months" clauses test `lastDate` (an undated resource never falls inside a window).
 */
export const FindingSchema = z.strictObject({
  present: z.boolean(),
  lastDate: IsoDateSchema.nullable(),
  evidence: z.array(EvidenceSchema),
});
export type Finding = z.infer<typeof FindingSchema>;

/** A screening order (ServiceRequest): `date` = `authoredOn`, `value` = its status. */
export const ScreeningOrderSchema = DatedEvidenceSchema;

/** The last `Observation` LOINC 71802-3 (housing status), read from its SNOMED answer. */
export const HousingSchema = z.strictObject({
  /** `nursing_home` when the answer is SNOMED 160734000 (lives in a nursing home); `other` for any other answer. */
  status: z.enum(['nursing_home', 'other']).nullable(),
  date: IsoDateSchema.nullable(),
  evidence: EvidenceSchema.nullable(),
});

/**
 * The facts about one patient that a care-gap protocol (colorectal-cancer screening) can see. Plain JSON, dates not
 * "within N months" booleans (windows belong to the protocol), each with the FHIR resources it came from. Resources
 * dated after `asOf`, and resources `entered-in-error` or `refuted`, are not read at all. Each top-level key is a
 * json-rules-engine fact (`{ "fact": "tests", "path": "$.lastColonoscopy.date" }`). See
 * `facts/care-gap/` for how the clinic's FHIR becomes these facts.
 */
export const CareGapFactsSchema = z.strictObject({
  /** The day of evaluation; every window is measured back from here. */
  asOf: IsoDateSchema,
  patient: z.strictObject({
    /**
     * Whole years at `asOf`; `null` when `Patient.birthDate` is missing or partial (the age boundaries cannot be
     * decided). The birth date itself is not a fact: no rule needs more than the age, and facts are stored per case.
     */
    ageYears: z.number().int().nonnegative().nullable(),
    /** A postal address with a line and a city (reachable by mail). */
    postalAddress: z.boolean(),
    /** A `telecom` with `system: phone` and a value (reachable by phone). */
    phone: z.boolean(),
    evidence: EvidenceSchema,
  }),
  /** Exclusions (CRC-2..CRC-7). */
  exclusions: z.strictObject({
    /** Colorectal cancer on the problem list, any clinical status. */
    colorectalCancer: FindingSchema,
    /** Total colectomy, a completed Procedure. */
    totalColectomy: FindingSchema,
    /** Hospice: an Encounter of hospice care or discharged to hospice, or an Observation 45755-6 = yes. */
    hospice: FindingSchema,
    /** Palliative care: a Condition Z51.5 (any status), an Encounter of palliative care, an Observation 71007-9 = yes. */
    palliativeCare: FindingSchema,
    /** Frailty: an active Condition (R54, R26.81, Z74.01, Z99.3). */
    frailty: FindingSchema,
    /** Advanced illness: a Condition of the advanced-illness value set (any clinical status). */
    advancedIllness: FindingSchema,
    /** An active MedicationRequest for a dementia medication (`lastDate` = latest `authoredOn`). */
    dementiaMedication: FindingSchema,
    /** The latest housing-status observation. */
    housing: HousingSchema,
  }),
  /** Risk and symptoms (CRC-9, CRC-11): active problems only. */
  risk: z.strictObject({
    /** Rectal bleeding, melena, iron-deficiency anaemia, occult blood in stool. */
    lowerGiSymptoms: FindingSchema,
    /** Crohn's disease or ulcerative colitis. */
    inflammatoryBowelDisease: FindingSchema,
    /** Personal history of colonic polyps. */
    colonicPolypsHistory: FindingSchema,
  }),
  /**
   * The latest qualifying test of each kind on or before `asOf`. A stool test counts only with a result (positive or
   * negative, see the reference protocol); `value` says which. CT colonography counts when done (Observation or
   * DiagnosticReport final/amended/corrected), endoscopies when completed.
   */
  tests: z.strictObject({
    lastPositiveFit: DatedEvidenceSchema.nullable(),
    lastNegativeFit: DatedEvidenceSchema.nullable(),
    lastPositiveSdna: DatedEvidenceSchema.nullable(),
    lastNegativeSdna: DatedEvidenceSchema.nullable(),
    lastCtColonography: DatedEvidenceSchema.nullable(),
    lastSigmoidoscopy: DatedEvidenceSchema.nullable(),
    lastColonoscopy: DatedEvidenceSchema.nullable(),
    /** The latest of all of the above (any qualifying result), for "an order without a result" (CRC-14). */
    lastResult: DatedEvidenceSchema.nullable(),
  }),
  /** Screening orders (ServiceRequest for a qualifying test), by latest `authoredOn`. */
  orders: z.strictObject({
    /** The latest with status `draft`, `active` or `on-hold` (CRC-13). */
    latestOpen: ScreeningOrderSchema.nullable(),
    /** The latest with status `active` or `on-hold` (CRC-14). */
    latestActive: ScreeningOrderSchema.nullable(),
  }),
  /** The latest recorded refusal of screening (Procedure not-done, statusReason 183944003), dated when recorded. */
  declined: z.strictObject({ last: DatedEvidenceSchema.nullable() }),
});
export type CareGapFacts = z.infer<typeof CareGapFactsSchema>;

/** The names a care-gap rule may use as `fact`. */
export const CareGapFactNameSchema = CareGapFactsSchema.keyof();
export type CareGapFactName = z.infer<typeof CareGapFactNameSchema>;
