import { subMonths } from 'date-fns';
import type { DrugDef, DrugKey } from './catalog.ts';
import type { LabKind, PatientPlan, PlanContext, ScenarioDef } from './plan.ts';

/**
 * The refill scenarios of the synthetic clinic and what the reference protocol (family-medicine-2015.md) implies for
 * each. Every scenario makes exactly one thing decide the outcome and keeps every other criterion of the drug's class
 * passing, so `expectedFailed` is the complete list of criterion ids the clauses fail. Window edges use the page's
 * date rule (inclusive, date-fns `subMonths`): `c.ago(18)` is on the edge (passes), `c.ago(18, 1)` is one day past.
 *
 * Weights give roughly 59% approve, 21% needs_visit, 3% nurse_review, 17% doctor_review.
 */

const PPI: DrugKey[] = ['omeprazole', 'pantoprazole', 'famotidine'];
const WITH_LEVEL: DrugKey[] = ['levetiracetam', 'lamotrigine', 'valproate', 'carbamazepine', 'phenytoin'];
const NO_LEVEL: DrugKey[] = ['quetiapine', 'aripiprazole', 'lithium'];
const ANTIDEPRESSANTS: DrugKey[] = [
  'sertraline',
  'fluoxetine',
  'citalopram',
  'escitalopram',
  'duloxetine',
  'venlafaxine',
  'mirtazapine',
  'bupropion',
];
const ANTIVIRALS: DrugKey[] = ['acyclovir', 'valacyclovir'];
const ARTHRITIS: DrugKey[] = ['ibuprofen', 'naproxen', 'meloxicam', 'allopurinol', 'b12'];
const CONTROLLERS: DrugKey[] = ['fluticasoneInhaler', 'budesonideInhaler'];
const BLADDER: DrugKey[] = ['oxybutynin', 'solifenacin', 'tolterodine'];
const SEASONAL: DrugKey[] = ['fluticasoneNasal', 'cetirizine', 'loratadine'];
const DIABETES: DrugKey[] = ['metformin', 'glipizide', 'glargine'];
const OUTSIDE: DrugKey[] = ['lisinopril', 'atorvastatin', 'levothyroxine', 'amlodipine'];
const CONTROLLED: DrugKey[] = ['alprazolam', 'oxycodone', 'zolpidem'];
/** Visit-only classes, for the catch-all scenarios (allergy, stopped prescription). */
const VISIT_ONLY: DrugKey[] = ['omeprazole', 'meloxicam', 'valacyclovir', 'oxybutynin', 'allopurinol'];

/** A PCP return office visit comfortably inside the last 12 months (passes every ROV window of the page). */
const recentRov = (c: PlanContext): Partial<PatientPlan> => ({ pcpVisits: [{ date: c.within(12) }] });

/** CBC, CMP and (for the listed drugs) a drug level inside 12 months: NEU-1's labs all pass. */
const neuroLabs = (c: PlanContext, drug: DrugDef, omit: LabKind[] = []): Partial<PatientPlan> => {
  const kinds: LabKind[] = drug.level ? ['cbc', 'cmp', 'level'] : ['cbc', 'cmp'];
  const drawn = c.within(12);
  return {
    labs: kinds.filter((k) => !omit.includes(k)).map((kind) => ({ kind, date: drawn })),
    absentLabs: drug.level ? omit : [...omit, 'level'],
  };
};

/** Last A1c at `date` with `value`, plus an older one, so "the last" result is the one that counts. */
const a1cHistory = (c: PlanContext, value: number, date = c.within(6)): Partial<PatientPlan> => {
  const older = c.rng.decimal(6.1, 8.9, 1);
  return {
    labs: [
      { kind: 'a1c', date: subMonths(date, c.rng.int(3, 6)), value: older === 7 ? 7.1 : older },
      { kind: 'a1c', date, value },
    ],
  };
};
const a1cAbove7 = (c: PlanContext) => c.rng.decimal(7.2, 9.6, 1);
const a1cBelow7 = (c: PlanContext) => c.rng.decimal(5.6, 6.9, 1);

const S = (def: ScenarioDef): ScenarioDef => def;

export const SCENARIOS: readonly ScenarioDef[] = [
  // PPI-1 / H2: ROV within 18 months.
  S({
    name: 'ppi-rov-within-18mo',
    drugs: PPI,
    weight: 10,
    expected: 'approve',
    expectedFailed: [],
    plan: (c) => ({ pcpVisits: [{ date: c.within(18) }] }),
  }),
  S({
    name: 'ppi-rov-exactly-18mo-ago',
    drugs: PPI,
    weight: 1,
    expected: 'approve',
    expectedFailed: [],
    plan: (c) => ({ pcpVisits: [{ date: c.ago(18) }] }),
  }),
  S({
    name: 'ppi-rov-18mo-plus-1-day-ago',
    drugs: PPI,
    weight: 1,
    expected: 'needs_visit',
    expectedFailed: ['visit_within_18mo'],
    plan: (c) => ({ pcpVisits: [{ date: c.ago(18, 1) }] }),
  }),
  S({
    name: 'ppi-no-rov-within-18mo',
    drugs: PPI,
    weight: 3,
    expected: 'needs_visit',
    expectedFailed: ['visit_within_18mo'],
    plan: (c) => ({ pcpVisits: [{ date: c.before(18, 34) }] }),
  }),
  S({
    name: 'ppi-only-nurse-visit-within-18mo',
    drugs: PPI,
    weight: 1,
    expected: 'needs_visit',
    expectedFailed: ['visit_within_18mo'],
    plan: (c) => ({ pcpVisits: [{ date: c.before(18, 30) }], ccnVisits: [c.within(6)] }),
  }),
  S({
    name: 'ppi-cancelled-visit-within-18mo',
    drugs: PPI,
    weight: 1,
    expected: 'needs_visit',
    expectedFailed: ['visit_within_18mo'],
    plan: (c) => ({ pcpVisits: [{ date: c.before(18, 30) }], cancelledVisits: [c.within(12)] }),
  }),
  S({
    name: 'ppi-recent-dose-change',
    drugs: PPI,
    weight: 2,
    expected: 'approve',
    expectedFailed: [],
    plan: (c) => {
      const changed = c.within(3);
      return { doseChange: true, currentOrder: changed, pcpVisits: [{ date: changed }] };
    },
  }),

  // AC-1 dabigatran: office visit within 12 months.
  S({
    name: 'dabigatran-visit-within-12mo',
    drugs: ['dabigatran'],
    weight: 3,
    expected: 'approve',
    expectedFailed: [],
    plan: recentRov,
  }),
  S({
    name: 'dabigatran-visit-exactly-12mo-ago',
    drugs: ['dabigatran'],
    weight: 1,
    expected: 'approve',
    expectedFailed: [],
    plan: (c) => ({ pcpVisits: [{ date: c.ago(12) }] }),
  }),
  S({
    name: 'dabigatran-visit-12mo-plus-1-day-ago',
    drugs: ['dabigatran'],
    weight: 1,
    expected: 'needs_visit',
    expectedFailed: ['office_visit_within_12mo'],
    plan: (c) => ({ pcpVisits: [{ date: c.ago(12, 1) }] }),
  }),
  S({
    name: 'dabigatran-no-visit-within-12mo',
    drugs: ['dabigatran'],
    weight: 1,
    expected: 'needs_visit',
    expectedFailed: ['office_visit_within_12mo'],
    plan: (c) => ({ pcpVisits: [{ date: c.before(12, 30) }] }),
  }),

  // AC-2 / AC-3: routing before any visit check.
  S({
    name: 'clopidogrel-task-to-provider',
    drugs: ['clopidogrel'],
    weight: 3,
    expected: 'doctor_review',
    expectedFailed: ['clopidogrel_provider_each_time'],
    plan: recentRov,
  }),
  S({
    name: 'clopidogrel-no-recent-visit',
    drugs: ['clopidogrel'],
    weight: 1,
    expected: 'doctor_review',
    expectedFailed: ['clopidogrel_provider_each_time'],
    plan: (c) => ({ pcpVisits: [{ date: c.before(18, 30) }] }),
  }),
  S({
    name: 'warfarin-to-protime-nurse',
    drugs: ['warfarin'],
    weight: 3,
    expected: 'nurse_review',
    expectedFailed: ['warfarin_to_protime_nurse'],
    plan: recentRov,
  }),
  S({
    name: 'warfarin-no-recent-visit',
    drugs: ['warfarin'],
    weight: 1,
    expected: 'nurse_review',
    expectedFailed: ['warfarin_to_protime_nurse'],
    plan: (c) => ({ pcpVisits: [{ date: c.before(18, 30) }] }),
  }),

  // NEU-1: ROV + CBC + CMP within 12 months, + a yearly level for the five listed drugs.
  S({
    name: 'anticonvulsant-visit-labs-and-level-current',
    drugs: WITH_LEVEL,
    weight: 5,
    expected: 'approve',
    expectedFailed: [],
    plan: (c, d) => ({ ...recentRov(c), ...neuroLabs(c, d) }),
  }),
  S({
    name: 'anticonvulsant-labs-exactly-12mo-ago',
    drugs: WITH_LEVEL,
    weight: 1,
    expected: 'approve',
    expectedFailed: [],
    plan: (c) => ({
      ...recentRov(c),
      labs: (['cbc', 'cmp', 'level'] as const).map((kind) => ({ kind, date: c.ago(12) })),
    }),
  }),
  S({
    name: 'anticonvulsant-level-older-than-12mo',
    drugs: WITH_LEVEL,
    weight: 1,
    expected: 'needs_visit',
    expectedFailed: ['drug_level_within_12mo'],
    plan: (c, d) => {
      const base = neuroLabs(c, d, ['level']);
      return {
        ...recentRov(c),
        labs: [...(base.labs ?? []), { kind: 'level', date: c.before(12, 20) }],
        absentLabs: [],
      };
    },
  }),
  S({
    name: 'anticonvulsant-level-never-drawn',
    drugs: WITH_LEVEL,
    weight: 1,
    expected: 'needs_visit',
    expectedFailed: ['drug_level_within_12mo'],
    plan: (c, d) => ({ ...recentRov(c), ...neuroLabs(c, d, ['level']) }),
  }),
  S({
    name: 'anticonvulsant-cbc-cmp-older-than-12mo',
    drugs: WITH_LEVEL,
    weight: 1,
    expected: 'needs_visit',
    expectedFailed: ['cbc_within_12mo', 'cmp_within_12mo'],
    plan: (c) => {
      const old = c.before(12, 22);
      return {
        ...recentRov(c),
        labs: [
          { kind: 'cbc', date: old },
          { kind: 'cmp', date: old },
          { kind: 'level', date: c.within(12) },
        ],
      };
    },
  }),
  S({
    name: 'antipsychotic-or-bipolar-no-level-required',
    drugs: NO_LEVEL,
    weight: 3,
    expected: 'approve',
    expectedFailed: [],
    plan: (c, d) => ({ ...recentRov(c), ...neuroLabs(c, d) }),
  }),
  S({
    name: 'antipsychotic-or-bipolar-no-cbc-on-file',
    drugs: NO_LEVEL,
    weight: 1,
    expected: 'needs_visit',
    expectedFailed: ['cbc_within_12mo'],
    plan: (c, d) => ({ ...recentRov(c), ...neuroLabs(c, d, ['cbc']) }),
  }),
  S({
    name: 'neuro-psych-no-visit-within-12mo',
    drugs: [...WITH_LEVEL, ...NO_LEVEL],
    weight: 1,
    expected: 'needs_visit',
    expectedFailed: ['visit_within_12mo'],
    plan: (c, d) => ({ pcpVisits: [{ date: c.before(12, 24) }], ...neuroLabs(c, d) }),
  }),

  // AD-1..3 antidepressants.
  S({
    name: 'antidepressant-stable-rov-within-12mo',
    drugs: ANTIDEPRESSANTS,
    weight: 8,
    expected: 'approve',
    expectedFailed: [],
    plan: recentRov,
  }),
  S({
    name: 'antidepressant-no-rov-within-12mo',
    drugs: ANTIDEPRESSANTS,
    weight: 2,
    expected: 'needs_visit',
    expectedFailed: ['visit_within_12mo'],
    plan: (c) => ({ pcpVisits: [{ date: c.before(12, 26) }] }),
  }),
  S({
    name: 'antidepressant-started-within-6mo',
    drugs: ANTIDEPRESSANTS,
    weight: 2,
    expected: 'needs_visit',
    expectedFailed: ['no_refill_within_6mo_of_start'],
    plan: (c) => {
      const start = c.within(6);
      return { therapyStart: start, currentOrder: start, doseChange: false, pcpVisits: [{ date: start }] };
    },
  }),
  S({
    name: 'antidepressant-started-exactly-6mo-ago',
    drugs: ANTIDEPRESSANTS,
    weight: 1,
    expected: 'needs_visit',
    expectedFailed: ['no_refill_within_6mo_of_start'],
    plan: (c) => ({
      therapyStart: c.ago(6),
      currentOrder: c.ago(6),
      doseChange: false,
      pcpVisits: [{ date: c.ago(6) }],
    }),
  }),
  S({
    name: 'antidepressant-started-6mo-plus-1-day-ago',
    drugs: ANTIDEPRESSANTS,
    weight: 1,
    expected: 'approve',
    expectedFailed: [],
    plan: (c) => ({
      therapyStart: c.ago(6, 1),
      currentOrder: c.ago(6, 1),
      doseChange: false,
      pcpVisits: [{ date: c.ago(6, 1) }],
    }),
  }),
  S({
    name: 'antidepressant-recent-dose-change',
    drugs: ANTIDEPRESSANTS,
    weight: 2,
    expected: 'approve',
    expectedFailed: [],
    plan: (c) => {
      const changed = c.within(3);
      return {
        therapyStart: c.before(12, 40),
        doseChange: true,
        currentOrder: changed,
        pcpVisits: [{ date: changed }],
      };
    },
  }),
  S({
    name: 'antidepressant-age-16',
    drugs: ANTIDEPRESSANTS,
    weight: 1,
    expected: 'doctor_review',
    expectedFailed: ['age_over_18'],
    plan: (c) => ({
      age: { years: 16, daysPastBirthday: c.rng.int(1, 300) },
      therapyStart: c.before(12, 30),
      ...recentRov(c),
    }),
  }),
  S({
    name: 'antidepressant-age-18-birthday-today',
    drugs: ANTIDEPRESSANTS,
    weight: 1,
    expected: 'doctor_review',
    expectedFailed: ['age_over_18'],
    plan: (c) => ({ age: { years: 18, daysPastBirthday: 0 }, therapyStart: c.before(12, 30), ...recentRov(c) }),
  }),
  S({
    name: 'antidepressant-age-19-birthday-today',
    drugs: ANTIDEPRESSANTS,
    weight: 1,
    expected: 'approve',
    expectedFailed: [],
    plan: (c) => ({ age: { years: 19, daysPastBirthday: 0 }, therapyStart: c.before(12, 30), ...recentRov(c) }),
  }),

  // AV-1, ART-1: ROV within 18 months.
  S({
    name: 'antiviral-rov-within-18mo',
    drugs: ANTIVIRALS,
    weight: 3,
    expected: 'approve',
    expectedFailed: [],
    plan: (c) => ({ pcpVisits: [{ date: c.within(18) }] }),
  }),
  S({
    name: 'antiviral-no-rov-within-18mo',
    drugs: ANTIVIRALS,
    weight: 1,
    expected: 'needs_visit',
    expectedFailed: ['visit_within_18mo'],
    plan: (c) => ({ pcpVisits: [{ date: c.before(18, 34) }] }),
  }),
  S({
    name: 'arthritis-nsaid-allopurinol-b12-rov-within-18mo',
    drugs: ARTHRITIS,
    weight: 6,
    expected: 'approve',
    expectedFailed: [],
    plan: (c) => ({ pcpVisits: [{ date: c.within(18) }] }),
  }),
  S({
    name: 'arthritis-nsaid-allopurinol-b12-no-rov-within-18mo',
    drugs: ARTHRITIS,
    weight: 2,
    expected: 'needs_visit',
    expectedFailed: ['visit_within_18mo'],
    plan: (c) => ({ pcpVisits: [{ date: c.before(18, 34) }] }),
  }),

  // AS-1 routine inhalers need an asthma-addressed ROV within 12 months; AS-2 PRN inhalers get #1 + 2 refills.
  S({
    name: 'asthma-controller-asthma-visit-within-12mo',
    drugs: CONTROLLERS,
    weight: 4,
    expected: 'approve',
    expectedFailed: [],
    plan: (c) => ({ pcpVisits: [{ date: c.within(12), reasons: ['asthma'] }] }),
  }),
  S({
    name: 'asthma-controller-recent-visit-not-for-asthma',
    drugs: CONTROLLERS,
    weight: 1,
    expected: 'needs_visit',
    expectedFailed: ['visit_within_12mo_for_asthma'],
    plan: (c) => ({
      pcpVisits: [
        { date: c.before(12, 24), reasons: ['asthma'] },
        { date: c.within(12), reasons: ['sinusitis'] },
      ],
    }),
  }),
  S({
    name: 'asthma-controller-no-visit-within-12mo',
    drugs: CONTROLLERS,
    weight: 1,
    expected: 'needs_visit',
    expectedFailed: ['visit_within_12mo_for_asthma'],
    plan: (c) => ({ pcpVisits: [{ date: c.before(12, 24), reasons: ['asthma'] }] }),
  }),
  S({
    name: 'asthma-rescue-inhaler-prn',
    drugs: ['albuterol'],
    weight: 3,
    expected: 'approve',
    expectedFailed: [],
    plan: (c) => ({ pcpVisits: [{ date: c.within(12), reasons: ['asthma'] }] }),
  }),
  // AS-2 sets a supply and no visit criterion, so a PRN inhaler is approved even without a recent asthma visit.
  S({
    name: 'asthma-rescue-inhaler-prn-no-recent-visit',
    drugs: ['albuterol'],
    weight: 1,
    expected: 'approve',
    expectedFailed: [],
    plan: (c) => ({ pcpVisits: [{ date: c.before(12, 24), reasons: ['asthma'] }] }),
  }),

  // BL-1: ROV within 1 year.
  S({
    name: 'bladder-rov-within-12mo',
    drugs: BLADDER,
    weight: 3,
    expected: 'approve',
    expectedFailed: [],
    plan: recentRov,
  }),
  S({
    name: 'bladder-no-rov-within-12mo',
    drugs: BLADDER,
    weight: 1,
    expected: 'needs_visit',
    expectedFailed: ['visit_within_12mo'],
    plan: (c) => ({ pcpVisits: [{ date: c.before(12, 26) }] }),
  }),

  // AL-1: renew as needed, no visit needed; antibiotics only with a dental-prophylaxis indication.
  S({
    name: 'seasonal-allergy-renew-as-needed',
    drugs: SEASONAL,
    weight: 3,
    expected: 'approve',
    expectedFailed: [],
    plan: (c) => ({ pcpVisits: [{ date: c.before(12, 30) }] }),
  }),
  S({
    name: 'epipen-renew-as-needed',
    drugs: ['epinephrine'],
    weight: 2,
    expected: 'approve',
    expectedFailed: [],
    plan: (c) => ({ pcpVisits: [{ date: c.between(c.ago(30), c.ago(0, 10)) }] }),
  }),
  S({
    name: 'dental-prophylaxis-antibiotic',
    drugs: ['amoxicillin', 'clindamycin'],
    weight: 1,
    expected: 'approve',
    expectedFailed: [],
    plan: (c) => ({ ...recentRov(c), indication: 'dental' }),
  }),
  S({
    name: 'antibiotic-without-dental-indication',
    drugs: ['amoxicillin'],
    weight: 1,
    expected: 'doctor_review',
    expectedFailed: ['medication_not_in_protocol'],
    plan: (c) => ({ ...recentRov(c), indication: c.rng.chance(0.5) ? 'sinusitis' : 'none' }),
  }),

  // DM-1..4 diabetes.
  S({
    name: 'diabetes-pcp-visit-a1c-above-7',
    drugs: DIABETES,
    weight: 4,
    expected: 'approve',
    expectedFailed: [],
    plan: (c) => ({ ...recentRov(c), ...a1cHistory(c, a1cAbove7(c)) }),
  }),
  S({
    name: 'diabetes-pcp-visit-a1c-below-7',
    drugs: DIABETES,
    weight: 4,
    expected: 'approve',
    expectedFailed: [],
    plan: (c) => ({ ...recentRov(c), ...a1cHistory(c, a1cBelow7(c)) }),
  }),
  S({
    name: 'diabetes-a1c-exactly-7',
    drugs: DIABETES,
    weight: 1,
    expected: 'doctor_review',
    expectedFailed: ['a1c_order_cadence_undefined'],
    plan: (c) => ({ ...recentRov(c), ...a1cHistory(c, 7.0) }),
  }),
  S({
    name: 'diabetes-a1c-never-drawn',
    drugs: DIABETES,
    weight: 1,
    expected: 'approve',
    expectedFailed: [],
    plan: (c) => ({ ...recentRov(c), absentLabs: ['a1c'] }),
  }),
  S({
    name: 'diabetes-ccn-visit-within-6mo-no-pcp-within-12mo',
    drugs: DIABETES,
    weight: 2,
    expected: 'approve',
    expectedFailed: [],
    plan: (c) => ({
      pcpVisits: [{ date: c.before(12, 24) }],
      ccnVisits: [c.within(6)],
      ...a1cHistory(c, a1cBelow7(c)),
    }),
  }),
  S({
    name: 'diabetes-ccn-visit-exactly-6mo-ago',
    drugs: DIABETES,
    weight: 1,
    expected: 'approve',
    expectedFailed: [],
    plan: (c) => ({ pcpVisits: [{ date: c.before(12, 24) }], ccnVisits: [c.ago(6)], ...a1cHistory(c, a1cAbove7(c)) }),
  }),
  S({
    name: 'diabetes-ccn-visit-older-than-6mo-no-pcp-within-12mo',
    drugs: DIABETES,
    weight: 1,
    expected: 'needs_visit',
    expectedFailed: ['pcp_visit_12mo_or_ccn_visit_6mo'],
    plan: (c) => ({
      pcpVisits: [{ date: c.before(12, 24) }],
      ccnVisits: [c.between(c.ago(10), c.ago(6, 1))],
      ...a1cHistory(c, a1cAbove7(c)),
    }),
  }),
  S({
    name: 'diabetes-pcp-visit-12mo-plus-1-day-ago',
    drugs: DIABETES,
    weight: 1,
    expected: 'needs_visit',
    expectedFailed: ['pcp_visit_12mo_or_ccn_visit_6mo'],
    plan: (c) => ({ pcpVisits: [{ date: c.ago(12, 1) }], ...a1cHistory(c, a1cBelow7(c)) }),
  }),
  S({
    name: 'diabetes-no-visit',
    drugs: DIABETES,
    weight: 1,
    expected: 'needs_visit',
    expectedFailed: ['pcp_visit_12mo_or_ccn_visit_6mo'],
    plan: (c) => ({ pcpVisits: [{ date: c.before(12, 30) }], ...a1cHistory(c, a1cAbove7(c), c.before(6, 11)) }),
  }),
  S({
    name: 'insulin-u500-to-endocrinology',
    drugs: ['u500'],
    weight: 1,
    expected: 'doctor_review',
    expectedFailed: ['u500_to_endocrinology'],
    plan: (c) => ({ ...recentRov(c), ...a1cHistory(c, a1cAbove7(c)) }),
  }),

  // G-1 catch-alls.
  S({
    name: 'not-in-protocol-chronic-medication',
    drugs: OUTSIDE,
    weight: 8,
    expected: 'doctor_review',
    expectedFailed: ['medication_not_in_protocol'],
    plan: recentRov,
  }),
  S({
    name: 'controlled-substance',
    drugs: CONTROLLED,
    weight: 3,
    expected: 'doctor_review',
    expectedFailed: ['medication_not_in_protocol'],
    plan: recentRov,
  }),
  S({
    name: 'active-allergy-to-requested-drug',
    drugs: VISIT_ONLY,
    weight: 1,
    expected: 'doctor_review',
    expectedFailed: ['active_allergy_to_requested_drug'],
    plan: (c) => ({ ...recentRov(c), allergyToRequested: 'active' }),
  }),
  S({
    name: 'inactive-allergy-to-requested-drug',
    drugs: VISIT_ONLY,
    weight: 1,
    expected: 'approve',
    expectedFailed: [],
    plan: (c) => ({ ...recentRov(c), allergyToRequested: c.rng.chance(0.5) ? 'inactive' : 'resolved' }),
  }),
  S({
    name: 'prior-prescription-stopped',
    drugs: VISIT_ONLY,
    weight: 1,
    expected: 'doctor_review',
    expectedFailed: ['medication_not_active'],
    plan: (c) => ({ ...recentRov(c), priorStatus: 'stopped' }),
  }),
];
