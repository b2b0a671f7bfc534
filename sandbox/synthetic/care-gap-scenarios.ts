import { addDays, subDays, subYears } from 'date-fns';
import { CRC_CODES as X, type CareGapRecord, type CareGapScenarioDef } from './care-gap.ts';

/**
 * The care-gap scenarios of the synthetic clinic: every clause CRC-0..CRC-17 of crc-screening-2021.md decides for at
 * least one, and the traps around each clause (a test one day past its window, a resolved symptom, a cancer entered in
 * error, an order older than 90 days) fall through to the clause the document's order implies. Each scenario writes
 * exactly what decides; everything else about the patient (45–75, average risk, reachable) points to CRC-17.
 * Window edges use the page's date rule (inclusive, date-fns `subMonths`): `c.ago(12)` is on the edge (inside),
 * `c.ago(12, 1)` is one day past.
 */

const any =
  (r: CareGapRecord) =>
  <T>(items: readonly T[]): T =>
    r.rng.pick(items);
const ageOver66 = (r: CareGapRecord) => r.age(r.rng.int(66, 75));

/** Short-hands for the common scenario shapes. */
const due = (name: string, weight: number, build: (r: CareGapRecord) => void): CareGapScenarioDef => ({
  name,
  weight,
  expectedClause: 'CRC-17',
  expectedDisposition: 'outreach',
  expectedReasons: ['screening_due'],
  build,
});
const excluded = (
  name: string,
  clause: string,
  reason: string,
  build: (r: CareGapRecord) => void,
  weight = 1,
): CareGapScenarioDef => ({
  name,
  weight,
  expectedClause: clause,
  expectedDisposition: 'not_applicable',
  expectedReasons: [reason],
  build,
});
const closed = (name: string, weight: number, build: (r: CareGapRecord) => void): CareGapScenarioDef => ({
  name,
  weight,
  expectedClause: 'CRC-10',
  expectedDisposition: 'gap_closed',
  expectedReasons: ['screening_up_to_date'],
  build,
});

export const CARE_GAP_SCENARIOS: readonly CareGapScenarioDef[] = [
  // --- CRC-0 / CRC-1: birth date and population
  {
    name: 'crc-birth-date-missing',
    weight: 1,
    expectedClause: 'CRC-0',
    expectedDisposition: 'nurse_review',
    expectedReasons: ['birth_date_missing'],
    build: (r) => {
      r.birthDate = null;
    },
  },
  excluded('crc-age-under-45', 'CRC-1', 'age_under_45', (r) => r.age(r.rng.int(25, 43))),
  excluded('crc-age-44-45th-birthday-tomorrow', 'CRC-1', 'age_under_45', (r) =>
    r.born(addDays(subYears(r.c.asOf, 45), 1)),
  ),
  excluded('crc-age-86-on-birthday', 'CRC-1', 'age_over_85', (r) => r.born(subYears(r.c.asOf, 86))),
  due('crc-age-45-on-birthday-due', 1, (r) => r.born(subYears(r.c.asOf, 45))),

  // --- CRC-2..CRC-7: exclusions
  excluded('crc-colorectal-cancer-active', 'CRC-2', 'colorectal_cancer', (r) =>
    r.condition(any(r)(X.colorectalCancer), r.c.before(6, 60)),
  ),
  excluded('crc-colorectal-cancer-resolved', 'CRC-2', 'colorectal_cancer', (r) =>
    r.condition(any(r)(X.colorectalCancer), r.c.before(60, 180), { status: 'resolved' }),
  ),
  due('crc-cancer-entered-in-error-due', 1, (r) =>
    r.condition(any(r)(X.colorectalCancer), r.c.within(24), { verification: 'entered-in-error' }),
  ),
  excluded('crc-total-colectomy', 'CRC-3', 'total_colectomy', (r) =>
    r.procedure(any(r)(X.totalColectomy), r.c.before(24, 200)),
  ),
  excluded('crc-hospice-encounter', 'CRC-4', 'hospice', (r) =>
    r.encounter(r.c.within(12), { type: X.hospiceEncounter, status: any(r)(['finished', 'in-progress'] as const) }),
  ),
  excluded('crc-hospice-discharge', 'CRC-4', 'hospice', (r) =>
    r.encounter(r.c.within(12), { discharge: any(r)(X.hospiceDischarge) }),
  ),
  excluded('crc-hospice-assessment', 'CRC-4', 'hospice', (r) => r.answer(X.hospiceAssessment, X.yes, r.c.within(12))),
  excluded('crc-hospice-exactly-12-months-ago', 'CRC-4', 'hospice', (r) =>
    r.encounter(r.c.ago(12), { type: X.hospiceEncounter }),
  ),
  due('crc-hospice-12-months-and-a-day-ago-due', 1, (r) => r.encounter(r.c.ago(12, 1), { type: X.hospiceEncounter })),
  excluded('crc-palliative-condition', 'CRC-5', 'palliative_care', (r) =>
    r.condition(X.palliativeCondition, r.c.within(12), { status: any(r)(['active', 'resolved'] as const) }),
  ),
  excluded('crc-palliative-encounter', 'CRC-5', 'palliative_care', (r) =>
    r.encounter(r.c.within(12), { type: X.palliativeEncounter }),
  ),
  excluded('crc-palliative-assessment', 'CRC-5', 'palliative_care', (r) =>
    r.answer(X.palliativeAssessment, X.yes, r.c.within(12)),
  ),
  excluded('crc-frailty-and-advanced-illness-66-plus', 'CRC-6', 'frailty_and_advanced_illness', (r) => {
    ageOver66(r);
    r.condition(any(r)(X.frailty), r.c.within(12));
    r.condition(any(r)(X.advancedIllness), r.c.within(24));
  }),
  excluded('crc-frailty-and-dementia-medication-66-plus', 'CRC-6', 'frailty_and_dementia_medication', (r) => {
    ageOver66(r);
    r.condition(any(r)(X.frailty), r.c.within(12));
    r.medication(any(r)(X.dementiaMedication), r.c.within(12));
  }),
  due('crc-frailty-and-advanced-illness-age-65-due', 1, (r) => {
    r.age(65);
    r.condition(any(r)(X.frailty), r.c.within(12));
    r.condition(any(r)(X.advancedIllness), r.c.within(24));
  }),
  due('crc-frailty-resolved-and-dementia-medication-due', 1, (r) => {
    ageOver66(r);
    r.condition(any(r)(X.frailty), r.c.within(12), { status: 'resolved' });
    r.medication(any(r)(X.dementiaMedication), r.c.within(12));
  }),
  excluded('crc-nursing-home-66-plus', 'CRC-7', 'nursing_home', (r) => {
    r.age(r.rng.int(66, 85));
    r.answer(X.housing, X.livesAlone, r.c.before(24, 48));
    r.answer(X.housing, X.nursingHome, r.c.within(12));
  }),
  due('crc-nursing-home-earlier-lives-alone-now-due', 1, (r) => {
    ageOver66(r);
    r.answer(X.housing, X.nursingHome, r.c.before(24, 48));
    r.answer(X.housing, X.livesAlone, r.c.within(12));
  }),

  // --- CRC-8: positive stool test without a colonoscopy on or after it
  {
    name: 'crc-positive-fit-without-colonoscopy',
    weight: 2,
    expectedClause: 'CRC-8',
    expectedDisposition: 'doctor_review',
    expectedReasons: ['positive_stool_test_without_colonoscopy'],
    build: (r) => {
      r.stoolTest(any(r)(X.fit), r.c.within(12), 'positive');
    },
  },
  {
    name: 'crc-positive-sdna-without-colonoscopy',
    weight: 1,
    expectedClause: 'CRC-8',
    expectedDisposition: 'doctor_review',
    expectedReasons: ['positive_stool_test_without_colonoscopy'],
    build: (r) => {
      r.stoolTest(any(r)(X.sdna), r.c.between(r.c.ago(35), r.c.ago(13)), 'positive');
    },
  },
  {
    name: 'crc-positive-fit-after-old-colonoscopy',
    weight: 1,
    expectedClause: 'CRC-8',
    expectedDisposition: 'doctor_review',
    expectedReasons: ['positive_stool_test_without_colonoscopy'],
    build: (r) => {
      r.procedure(any(r)(X.colonoscopy), r.c.before(24, 100));
      r.stoolTest(any(r)(X.fit), r.c.within(12), 'positive');
    },
  },
  closed('crc-positive-fit-then-colonoscopy', 1, (r) => {
    const fit = r.c.before(5, 11);
    r.stoolTest(any(r)(X.fit), fit, 'positive');
    r.procedure(any(r)(X.colonoscopy), addDays(fit, r.rng.int(14, 60)));
  }),
  closed('crc-positive-fit-colonoscopy-same-day', 1, (r) => {
    const fit = r.c.within(12);
    r.stoolTest(any(r)(X.fit), fit, 'positive');
    r.procedure(any(r)(X.colonoscopy), fit);
  }),
  due('crc-positive-fit-older-than-12-months-due', 1, (r) => {
    r.stoolTest(any(r)(X.fit), r.c.ago(12, 1), 'positive');
  }),

  // --- CRC-9: symptoms within 90 days
  {
    name: 'crc-lower-gi-symptoms',
    weight: 1,
    expectedClause: 'CRC-9',
    expectedDisposition: 'doctor_review',
    expectedReasons: ['lower_gi_symptoms'],
    build: (r) => {
      r.condition(any(r)(X.symptoms), r.c.between(subDays(r.c.asOf, 85), subDays(r.c.asOf, 2)));
    },
  },
  {
    name: 'crc-symptoms-despite-recent-colonoscopy',
    weight: 1,
    expectedClause: 'CRC-9',
    expectedDisposition: 'doctor_review',
    expectedReasons: ['lower_gi_symptoms'],
    build: (r) => {
      r.procedure(any(r)(X.colonoscopy), r.c.within(48));
      r.condition(any(r)(X.symptoms), subDays(r.c.asOf, 90));
    },
  },
  due('crc-symptom-resolved-due', 1, (r) =>
    r.condition(any(r)(X.symptoms), subDays(r.c.asOf, 30), { status: 'resolved' }),
  ),
  due('crc-symptom-91-days-ago-due', 1, (r) => r.condition(any(r)(X.symptoms), subDays(r.c.asOf, 91))),

  // --- CRC-10: up to date
  closed('crc-negative-fit-up-to-date', 6, (r) => {
    r.stoolTest(any(r)(X.fit), r.c.within(12), 'negative', any(r)(['final', 'amended', 'corrected'] as const));
  }),
  closed('crc-negative-fit-exactly-12-months-ago', 1, (r) => {
    r.stoolTest(any(r)(X.fit), r.c.ago(12), 'negative');
  }),
  due('crc-negative-fit-12-months-and-a-day-ago-due', 1, (r) => {
    r.stoolTest(any(r)(X.fit), r.c.ago(12, 1), 'negative');
  }),
  closed('crc-negative-sdna-up-to-date', 2, (r) => {
    r.stoolTest(any(r)(X.sdna), r.c.within(36), 'negative');
  }),
  due('crc-negative-sdna-36-months-and-a-day-ago-due', 1, (r) => {
    r.stoolTest(any(r)(X.sdna), r.c.ago(36, 1), 'negative');
  }),
  closed('crc-ct-colonography-observation', 1, (r) => {
    r.stoolTest(any(r)(X.ctColonography), r.c.within(60), any(r)(['none', 'negative'] as const));
  }),
  closed('crc-ct-colonography-report', 1, (r) => {
    r.ctReport(any(r)(X.ctColonography), r.c.within(60));
  }),
  closed('crc-sigmoidoscopy-up-to-date', 2, (r) => {
    r.procedure(any(r)(X.sigmoidoscopy), r.c.within(60), { period: r.rng.chance(0.3) });
  }),
  due('crc-sigmoidoscopy-60-months-and-a-day-ago-due', 1, (r) => {
    r.procedure(any(r)(X.sigmoidoscopy), r.c.ago(60, 1));
  }),
  closed('crc-colonoscopy-up-to-date', 10, (r) => {
    r.procedure(any(r)(X.colonoscopy), r.c.within(120), { period: r.rng.chance(0.3) });
  }),
  closed('crc-colonoscopy-exactly-120-months-ago', 1, (r) => {
    r.procedure(any(r)(X.colonoscopy), r.c.ago(120));
  }),
  due('crc-colonoscopy-120-months-and-a-day-ago-due', 1, (r) => {
    r.procedure(any(r)(X.colonoscopy), r.c.ago(120, 1));
  }),
  due('crc-fit-without-result-due', 1, (r) => {
    r.stoolTest(any(r)(X.fit), r.c.within(12), 'none');
  }),
  closed('crc-ibd-with-recent-colonoscopy', 1, (r) => {
    r.condition(any(r)(X.ibd), r.c.before(36, 120));
    r.procedure(any(r)(X.colonoscopy), r.c.within(36));
  }),
  closed('crc-age-80-with-recent-colonoscopy', 1, (r) => {
    r.age(r.rng.int(76, 85));
    r.procedure(any(r)(X.colonoscopy), r.c.within(100));
  }),

  // --- CRC-11: not average risk
  {
    name: 'crc-inflammatory-bowel-disease',
    weight: 1,
    expectedClause: 'CRC-11',
    expectedDisposition: 'doctor_review',
    expectedReasons: ['inflammatory_bowel_disease'],
    build: (r) => {
      r.condition(any(r)(X.ibd), r.c.before(12, 120));
    },
  },
  {
    name: 'crc-colonic-polyps-history',
    weight: 1,
    expectedClause: 'CRC-11',
    expectedDisposition: 'doctor_review',
    expectedReasons: ['colonic_polyps_history'],
    build: (r) => {
      r.condition(any(r)(X.polyps), r.c.before(24, 180));
      r.procedure(any(r)(X.colonoscopy), r.c.before(121, 180));
    },
  },
  due('crc-ibd-resolved-due', 1, (r) => r.condition(any(r)(X.ibd), r.c.before(24, 120), { status: 'resolved' })),

  // --- CRC-12: 76–85 and due
  {
    name: 'crc-age-76-to-85-due',
    weight: 2,
    expectedClause: 'CRC-12',
    expectedDisposition: 'doctor_review',
    expectedReasons: ['age_76_to_85_shared_decision'],
    build: (r) => r.age(r.rng.int(76, 84)),
  },
  {
    name: 'crc-age-85-86th-birthday-tomorrow',
    weight: 1,
    expectedClause: 'CRC-12',
    expectedDisposition: 'doctor_review',
    expectedReasons: ['age_76_to_85_shared_decision'],
    build: (r) => r.born(addDays(subYears(r.c.asOf, 86), 1)),
  },
  due('crc-age-75-due', 1, (r) => r.age(75)),

  // --- CRC-13 / CRC-14: orders
  {
    name: 'crc-fit-ordered-recently',
    weight: 2,
    expectedClause: 'CRC-13',
    expectedDisposition: 'suppressed',
    expectedReasons: ['screening_already_ordered'],
    build: (r) => {
      r.order(
        any(r)(X.fit),
        r.c.between(subDays(r.c.asOf, 88), subDays(r.c.asOf, 1)),
        any(r)(['draft', 'active', 'on-hold'] as const),
      );
    },
  },
  {
    name: 'crc-colonoscopy-ordered-90-days-ago',
    weight: 1,
    expectedClause: 'CRC-13',
    expectedDisposition: 'suppressed',
    expectedReasons: ['screening_already_ordered'],
    build: (r) => {
      r.order(any(r)(X.colonoscopy), subDays(r.c.asOf, 90), 'active');
    },
  },
  {
    name: 'crc-order-without-result',
    weight: 2,
    expectedClause: 'CRC-14',
    expectedDisposition: 'nurse_review',
    expectedReasons: ['screening_order_without_result'],
    build: (r) => {
      r.stoolTest(any(r)(X.fit), r.c.before(14, 30), 'negative');
      r.order(
        any(r)([...X.fit, ...X.sdna, ...X.colonoscopy]),
        r.c.between(r.c.ago(12), subDays(r.c.asOf, 91)),
        any(r)(['active', 'on-hold'] as const),
      );
    },
  },
  due('crc-completed-old-order-due', 1, (r) => {
    r.order(any(r)(X.fit), r.c.between(r.c.ago(12), subDays(r.c.asOf, 91)), 'completed');
  }),

  // --- CRC-15: declined
  {
    name: 'crc-screening-declined',
    weight: 1,
    expectedClause: 'CRC-15',
    expectedDisposition: 'suppressed',
    expectedReasons: ['screening_declined'],
    build: (r) => {
      r.declined(any(r)([...X.colonoscopy, ...X.fit]), r.c.within(12));
    },
  },
  due('crc-declined-12-months-and-a-day-ago-due', 1, (r) => {
    r.declined(any(r)(X.colonoscopy), r.c.ago(12, 1));
  }),

  // --- CRC-16: not reachable
  {
    name: 'crc-not-reachable',
    weight: 1,
    expectedClause: 'CRC-16',
    expectedDisposition: 'nurse_review',
    expectedReasons: ['not_reachable'],
    build: (r) => {
      r.reach = 'none';
    },
  },
  {
    name: 'crc-address-without-street-and-no-phone',
    weight: 1,
    expectedClause: 'CRC-16',
    expectedDisposition: 'nurse_review',
    expectedReasons: ['not_reachable'],
    build: (r) => {
      r.reach = 'address-without-line';
    },
  },
  due('crc-reachable-by-phone-only', 1, (r) => {
    r.reach = 'phone-only';
  }),
  due('crc-reachable-by-mail-only', 1, (r) => {
    r.reach = 'mail-only';
  }),

  // --- CRC-17: due, average risk, reachable
  due('crc-screening-due', 20, () => undefined),
  due('crc-screening-due-never-screened-60s', 4, (r) => r.age(r.rng.int(60, 65))),
];
