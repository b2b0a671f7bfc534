// The golden FHIR cases of crc-screening-2021 (docs/protocols/crc-screening-2021.md): at least one per clause and one
// per window edge (the exact boundary and one day past), built as FHIR, with the decision each must get as of
// CARE_GAP_GOLDEN_AS_OF. Run through the CLI's and worker's path in test/rules/care-gap/crc-screening-2021.test.ts,
// and through HAPI FHIR and the sandbox EHR in test/peer/care-gap-golden.peer.test.ts.
import type { Resource } from '@medplum/fhirtypes';
import type { CareGapDecision } from '../../rules/kinds/care-gap/index.ts';
import {
  aColectomy,
  aColonoscopy,
  aCondition,
  aCtColonography,
  aDecline,
  aHousingObservation,
  aMedicationRequest,
  anAnswer,
  anEncounter,
  aPatient,
  aProcedure,
  aScreeningOrder,
  aSigmoidoscopy,
  aStoolTest,
  YES,
} from './care-gap-builders.ts';

/** The day every golden case is decided on. */
export const CARE_GAP_GOLDEN_AS_OF = '2026-06-15';

/** Born on `asOf`'s month and day, `years` years earlier: that many years old today, a birthday. */
export const turning = (years: number): string => `${2026 - years}-06-15`;
/** One day short of `years`. */
const dayShortOf = (years: number): string => `${2026 - years}-06-16`;

export interface CareGapExpected {
  disposition: CareGapDecision['disposition'];
  clause: string;
  reasons: string[];
  priority?: 'routine' | 'urgent';
  routeTo?: string | null;
  nextDueDate?: string | null;
  actions?: string[];
}

const OUTREACH: CareGapExpected = {
  disposition: 'outreach',
  clause: 'CRC-17',
  reasons: ['screening_due'],
  routeTo: null,
  actions: ['pend_fit_order', 'mail_fit_outreach'],
};
const CLOSED = (nextDueDate: string): CareGapExpected => ({
  disposition: 'gap_closed',
  clause: 'CRC-10',
  reasons: ['screening_up_to_date'],
  routeTo: null,
  nextDueDate,
  actions: [],
});
const EXCLUDED = (clause: string, reason: string): CareGapExpected => ({
  disposition: 'not_applicable',
  clause,
  reasons: [reason],
  routeTo: null,
  actions: [],
});

export const CARE_GAP_GOLDEN: [string, Resource[], CareGapExpected][] = [
  // CRC-0
  [
    'CRC-0 no birth date',
    [aPatient({ birthDate: null })],
    {
      disposition: 'nurse_review',
      clause: 'CRC-0',
      reasons: ['birth_date_missing'],
      routeTo: null,
      actions: [],
    },
  ],
  [
    'CRC-0 a partial birth date (year only) is not a known birth date',
    [aPatient({ birthDate: '1966' })],
    {
      disposition: 'nurse_review',
      clause: 'CRC-0',
      reasons: ['birth_date_missing'],
    },
  ],
  // CRC-1 and the age birthdays
  ['CRC-1 age 44 (one day short of 45)', [aPatient({ birthDate: dayShortOf(45) })], EXCLUDED('CRC-1', 'age_under_45')],
  ['age 45 on the birthday is in the population', [aPatient({ birthDate: turning(45) })], OUTREACH],
  [
    'age 85 on the birthday is in the population (CRC-12)',
    [aPatient({ birthDate: turning(85) })],
    {
      disposition: 'doctor_review',
      clause: 'CRC-12',
      reasons: ['age_76_to_85_shared_decision'],
      routeTo: 'pcp_or_coverage',
    },
  ],
  ['CRC-1 age 86 on the birthday', [aPatient({ birthDate: turning(86) })], EXCLUDED('CRC-1', 'age_over_85')],
  [
    'age 85 one day short of 86',
    [aPatient({ birthDate: dayShortOf(86) })],
    {
      disposition: 'doctor_review',
      clause: 'CRC-12',
      reasons: ['age_76_to_85_shared_decision'],
    },
  ],
  // CRC-2
  [
    'CRC-2 colorectal cancer, resolved, still counts',
    [aCondition('C18.7', { clinicalStatus: 'resolved', onset: '2010-01-01' })],
    EXCLUDED('CRC-2', 'colorectal_cancer'),
  ],
  ['CRC-2 rectal cancer C20 without any date', [aCondition('C20')], EXCLUDED('CRC-2', 'colorectal_cancer')],
  [
    'CRC-2 a cancer entered in error never counts',
    [aCondition('C18.7', { verificationStatus: 'entered-in-error' })],
    OUTREACH,
  ],
  ['CRC-2 a refuted cancer never counts', [aCondition('C19', { verificationStatus: 'refuted' })], OUTREACH],
  // CRC-3
  ['CRC-3 total colectomy, ever (undated)', [aColectomy()], EXCLUDED('CRC-3', 'total_colectomy')],
  [
    'CRC-3 total colectomy by SNOMED, 20 years ago',
    [aProcedure('26390003', { system: 'snomed', date: '2006-01-01' })],
    EXCLUDED('CRC-3', 'total_colectomy'),
  ],
  // CRC-4 (12 months: 2025-06-15 is inside, 2025-06-14 is not)
  [
    'CRC-4 hospice encounter exactly 12 months ago',
    [anEncounter({ type: 'hospice', start: '2025-06-15' })],
    EXCLUDED('CRC-4', 'hospice'),
  ],
  [
    'CRC-4 hospice encounter 12 months and a day ago',
    [anEncounter({ type: 'hospice', start: '2025-06-14' })],
    OUTREACH,
  ],
  [
    'CRC-4 discharged to hospice',
    [anEncounter({ dischargedToHospice: true, start: '2026-02-01' })],
    EXCLUDED('CRC-4', 'hospice'),
  ],
  ['CRC-4 hospice observation answered yes', [anAnswer('45755-6', YES, '2026-01-01')], EXCLUDED('CRC-4', 'hospice')],
  // CRC-5
  [
    'CRC-5 palliative care Z51.5, resolved, within 12 months',
    [aCondition('Z51.5', { clinicalStatus: 'resolved', onset: '2025-06-15' })],
    EXCLUDED('CRC-5', 'palliative_care'),
  ],
  ['CRC-5 palliative care Z51.5 12 months and a day ago', [aCondition('Z51.5', { onset: '2025-06-14' })], OUTREACH],
  [
    'CRC-5 palliative care encounter',
    [anEncounter({ type: 'palliative', start: '2026-05-01' })],
    EXCLUDED('CRC-5', 'palliative_care'),
  ],
  [
    'CRC-5 palliative care observation answered yes',
    [anAnswer('71007-9', YES, '2026-05-01')],
    EXCLUDED('CRC-5', 'palliative_care'),
  ],
  // CRC-6 (66 on the birthday; frailty 12 months; advanced illness 24 months: 2024-06-15 in, 2024-06-14 out)
  [
    'CRC-6 66, frailty, advanced illness exactly 24 months ago',
    [
      aPatient({ birthDate: turning(66) }),
      aCondition('R54', { onset: '2025-06-15' }),
      aCondition('I50.9', { onset: '2024-06-15' }),
    ],
    EXCLUDED('CRC-6', 'frailty_and_advanced_illness'),
  ],
  [
    'CRC-6 advanced illness 24 months and a day ago does not count',
    [
      aPatient({ birthDate: turning(66) }),
      aCondition('R54', { onset: '2026-01-01' }),
      aCondition('I50.9', { onset: '2024-06-14' }),
    ],
    OUTREACH,
  ],
  [
    'CRC-6 frailty 12 months and a day ago does not count',
    [
      aPatient({ birthDate: turning(66) }),
      aCondition('R54', { onset: '2025-06-14' }),
      aCondition('G30.9', { onset: '2026-01-01' }),
    ],
    OUTREACH,
  ],
  [
    'CRC-6 65 (a day short of 66) is not excluded',
    [
      aPatient({ birthDate: dayShortOf(66) }),
      aCondition('R54', { onset: '2026-01-01' }),
      aCondition('G30.9', { onset: '2026-01-01' }),
    ],
    OUTREACH,
  ],
  [
    'CRC-6 frailty and donepezil (RxNorm ingredient)',
    [
      aPatient({ birthDate: turning(70) }),
      aCondition('Z74.01', { recorded: '2026-03-01' }),
      aMedicationRequest({ rxnorm: '135447' }),
    ],
    EXCLUDED('CRC-6', 'frailty_and_dementia_medication'),
  ],
  [
    'CRC-6 frailty and memantine by product text',
    [
      aPatient({ birthDate: turning(70) }),
      aCondition('R26.81', { onset: '2026-03-01' }),
      aMedicationRequest({ text: 'Memantine 10 mg tablet' }),
    ],
    EXCLUDED('CRC-6', 'frailty_and_dementia_medication'),
  ],
  [
    'CRC-6 a resolved frailty does not count',
    [
      aPatient({ birthDate: turning(70) }),
      aCondition('R54', { clinicalStatus: 'resolved', onset: '2026-03-01' }),
      aMedicationRequest({ rxnorm: '135447' }),
    ],
    OUTREACH,
  ],
  [
    'CRC-6 a stopped dementia medication does not count',
    [
      aPatient({ birthDate: turning(70) }),
      aCondition('R54', { onset: '2026-03-01' }),
      aMedicationRequest({ rxnorm: '4637', status: 'stopped' }),
    ],
    OUTREACH,
  ],
  // CRC-7
  [
    'CRC-7 66 and living in a nursing home',
    [aPatient({ birthDate: turning(66) }), aHousingObservation('2026-01-01', true)],
    EXCLUDED('CRC-7', 'nursing_home'),
  ],
  [
    'CRC-7 the latest housing observation wins (moved home since)',
    [
      aPatient({ birthDate: turning(66) }),
      aHousingObservation('2025-01-01', true),
      aHousingObservation('2026-01-01', false),
    ],
    OUTREACH,
  ],
  [
    'CRC-7 65 in a nursing home is not excluded',
    [aPatient({ birthDate: dayShortOf(66) }), aHousingObservation('2026-01-01', true)],
    OUTREACH,
  ],
  // CRC-8 (FIT 12 months, sDNA-FIT 36 months)
  [
    'CRC-8 positive FIT exactly 12 months ago, no colonoscopy',
    [aStoolTest('fit', '2025-06-15', { result: 'positive' })],
    {
      disposition: 'doctor_review',
      clause: 'CRC-8',
      reasons: ['positive_stool_test_without_colonoscopy'],
      priority: 'urgent',
      routeTo: 'gi_followup',
      nextDueDate: null,
      actions: ['pend_gi_referral'],
    },
  ],
  [
    'CRC-8 positive FIT 12 months and a day ago is out of the window',
    [aStoolTest('fit', '2025-06-14', { result: 'positive' })],
    OUTREACH,
  ],
  [
    'CRC-8 positive FIT by value (SNOMED 10828004), colonoscopy before it',
    [aColonoscopy('2020-01-10'), aStoolTest('fit', '2026-03-01', { result: 'positive', via: 'value' })],
    {
      disposition: 'doctor_review',
      clause: 'CRC-8',
      reasons: ['positive_stool_test_without_colonoscopy'],
      priority: 'urgent',
    },
  ],
  [
    'CRC-8 a colonoscopy on the day of the positive FIT follows it up (→ CRC-10)',
    [aStoolTest('fit', '2026-03-01', { result: 'positive', via: 'interpretation-a-n' }), aColonoscopy('2026-03-01')],
    CLOSED('2036-03-01'),
  ],
  [
    'CRC-8 positive sDNA-FIT exactly 36 months ago',
    [aStoolTest('sdna', '2023-06-15', { result: 'positive' })],
    {
      disposition: 'doctor_review',
      clause: 'CRC-8',
      reasons: ['positive_stool_test_without_colonoscopy'],
      priority: 'urgent',
      routeTo: 'gi_followup',
    },
  ],
  [
    'CRC-8 positive sDNA-FIT 36 months and a day ago',
    [aStoolTest('sdna', '2023-06-14', { result: 'positive' })],
    OUTREACH,
  ],
  [
    'CRC-8 comes before up to date: a negative FIT after the positive one does not clear it',
    [aStoolTest('fit', '2025-09-01', { result: 'positive' }), aStoolTest('fit', '2026-01-01', { result: 'negative' })],
    {
      disposition: 'doctor_review',
      clause: 'CRC-8',
      reasons: ['positive_stool_test_without_colonoscopy'],
    },
  ],
  // CRC-9 (90 days: 2026-03-17 in, 2026-03-16 out)
  [
    'CRC-9 rectal bleeding exactly 90 days ago',
    [aCondition('K62.5', { onset: '2026-03-17' })],
    {
      disposition: 'doctor_review',
      clause: 'CRC-9',
      reasons: ['lower_gi_symptoms'],
      priority: 'routine',
      routeTo: 'pcp_or_coverage',
      actions: [],
    },
  ],
  ['CRC-9 rectal bleeding 91 days ago', [aCondition('K62.5', { onset: '2026-03-16' })], OUTREACH],
  [
    'CRC-9 comes before up to date (iron-deficiency anaemia, recent colonoscopy)',
    [aColonoscopy('2024-01-01'), aCondition('D50.9', { recorded: '2026-06-01' })],
    {
      disposition: 'doctor_review',
      clause: 'CRC-9',
      reasons: ['lower_gi_symptoms'],
    },
  ],
  [
    'CRC-9 a resolved symptom does not count',
    [aCondition('K92.1', { clinicalStatus: 'resolved', onset: '2026-06-01' })],
    OUTREACH,
  ],
  // CRC-10 windows
  ['CRC-10 negative FIT exactly 12 months ago', [aStoolTest('fit', '2025-06-15')], CLOSED('2026-06-15')],
  ['CRC-10 negative FIT 12 months and a day ago', [aStoolTest('fit', '2025-06-14')], OUTREACH],
  ['CRC-10 negative sDNA-FIT exactly 36 months ago', [aStoolTest('sdna', '2023-06-15')], CLOSED('2026-06-15')],
  ['CRC-10 negative sDNA-FIT 36 months and a day ago', [aStoolTest('sdna', '2023-06-14')], OUTREACH],
  ['CRC-10 CT colonography exactly 60 months ago', [aCtColonography('2021-06-15')], CLOSED('2026-06-15')],
  ['CRC-10 CT colonography 60 months and a day ago', [aCtColonography('2021-06-14')], OUTREACH],
  [
    'CRC-10 CT colonography as a DiagnosticReport',
    [aCtColonography('2024-02-01', { as: 'DiagnosticReport' })],
    CLOSED('2029-02-01'),
  ],
  ['CRC-10 sigmoidoscopy exactly 60 months ago', [aSigmoidoscopy('2021-06-15')], CLOSED('2026-06-15')],
  ['CRC-10 sigmoidoscopy 60 months and a day ago', [aSigmoidoscopy('2021-06-14')], OUTREACH],
  ['CRC-10 colonoscopy exactly 120 months ago', [aColonoscopy('2016-06-15')], CLOSED('2026-06-15')],
  ['CRC-10 colonoscopy 120 months and a day ago', [aColonoscopy('2016-06-14')], OUTREACH],
  [
    'CRC-10 colonoscopy by HCPCS G0121, dated by performedPeriod.end',
    [aProcedure('G0121', { system: 'hcpcs', periodEnd: '2019-05-20' })],
    CLOSED('2029-05-20'),
  ],
  [
    'CRC-10 nextDueDate is the latest over every test (colonoscopy + 10 y beats FIT + 1 y)',
    [aColonoscopy('2020-01-10'), aStoolTest('fit', '2026-01-01')],
    CLOSED('2030-01-10'),
  ],
  [
    'CRC-10 nextDueDate clamps the day (sDNA-FIT on 29 Feb 2024 + 36 months)',
    [aStoolTest('sdna', '2024-02-29')],
    CLOSED('2027-02-28'),
  ],
  [
    'CRC-10 a stool test without a result counts for nothing',
    [aStoolTest('fit', '2026-01-01', { result: null })],
    OUTREACH,
  ],
  [
    'CRC-10 a preliminary FIT counts for nothing',
    [aStoolTest('fit', '2026-01-01', { status: 'preliminary' })],
    OUTREACH,
  ],
  [
    'CRC-10 a colonoscopy not completed counts for nothing',
    [aColonoscopy('2024-01-01', { status: 'in-progress' })],
    OUTREACH,
  ],
  [
    'CRC-10 comes before risk and age routing (IBD and a colonoscopy 3 years ago)',
    [aCondition('K50.90'), aColonoscopy('2023-06-01')],
    CLOSED('2033-06-01'),
  ],
  // CRC-11
  [
    "CRC-11 active Crohn's disease",
    [aCondition('K50.90', { onset: '2015-01-01' })],
    {
      disposition: 'doctor_review',
      clause: 'CRC-11',
      reasons: ['inflammatory_bowel_disease'],
      routeTo: 'pcp_or_coverage',
      actions: [],
    },
  ],
  [
    'CRC-11 personal history of colonic polyps (Z86.0101)',
    [aCondition('Z86.0101')],
    {
      disposition: 'doctor_review',
      clause: 'CRC-11',
      reasons: ['colonic_polyps_history'],
      routeTo: 'pcp_or_coverage',
    },
  ],
  [
    'CRC-11 both',
    [aCondition('K51.90'), aCondition('Z86.010')],
    {
      disposition: 'doctor_review',
      clause: 'CRC-11',
      reasons: ['inflammatory_bowel_disease', 'colonic_polyps_history'],
    },
  ],
  [
    'CRC-11 resolved ulcerative colitis does not count',
    [aCondition('K51.90', { clinicalStatus: 'resolved' })],
    OUTREACH,
  ],
  // CRC-12 (76 on the birthday; 75 a day short)
  [
    'CRC-12 76 on the birthday, due',
    [aPatient({ birthDate: turning(76) })],
    {
      disposition: 'doctor_review',
      clause: 'CRC-12',
      reasons: ['age_76_to_85_shared_decision'],
      routeTo: 'pcp_or_coverage',
      priority: 'routine',
      actions: [],
    },
  ],
  ['CRC-12 75 (a day short of 76) is average-risk outreach', [aPatient({ birthDate: dayShortOf(76) })], OUTREACH],
  // CRC-13 (90 days: 2026-03-17 in, 2026-03-16 out)
  [
    'CRC-13 a draft FIT order authored exactly 90 days ago',
    [aScreeningOrder('draft', '2026-03-17')],
    {
      disposition: 'suppressed',
      clause: 'CRC-13',
      reasons: ['screening_already_ordered'],
      routeTo: null,
      actions: [],
    },
  ],
  [
    'CRC-13 an on-hold colonoscopy order authored yesterday',
    [aScreeningOrder('on-hold', '2026-06-14', { system: 'cpt', code: '45378' })],
    {
      disposition: 'suppressed',
      clause: 'CRC-13',
      reasons: ['screening_already_ordered'],
    },
  ],
  [
    'CRC-13 a draft order 91 days old neither suppresses nor counts as unresulted',
    [aScreeningOrder('draft', '2026-03-16')],
    OUTREACH,
  ],
  ['CRC-13 a completed order does not suppress', [aScreeningOrder('completed', '2026-06-01')], OUTREACH],
  // CRC-14
  [
    'CRC-14 an active FIT order 91 days old without a result',
    [aScreeningOrder('active', '2026-03-16')],
    {
      disposition: 'nurse_review',
      clause: 'CRC-14',
      reasons: ['screening_order_without_result'],
      routeTo: 'screening_outreach',
      actions: [],
    },
  ],
  [
    'CRC-14 an active order exactly 90 days old is still "already ordered" (CRC-13)',
    [aScreeningOrder('active', '2026-03-17')],
    { disposition: 'suppressed', clause: 'CRC-13', reasons: ['screening_already_ordered'] },
  ],
  [
    'CRC-14 a result on or after the order date answers it',
    [aScreeningOrder('active', '2016-01-01', { system: 'cpt', code: '45378' }), aColonoscopy('2016-01-01')],
    OUTREACH,
  ],
  [
    'CRC-14 a result before the order does not answer it',
    [aColonoscopy('2015-12-31'), aScreeningOrder('active', '2016-01-01', { system: 'cpt', code: '45378' })],
    {
      disposition: 'nurse_review',
      clause: 'CRC-14',
      reasons: ['screening_order_without_result'],
    },
  ],
  // CRC-15 (12 months)
  [
    'CRC-15 declined exactly 12 months ago',
    [aDecline('2025-06-15')],
    {
      disposition: 'suppressed',
      clause: 'CRC-15',
      reasons: ['screening_declined'],
      routeTo: null,
      actions: [],
    },
  ],
  ['CRC-15 declined 12 months and a day ago', [aDecline('2025-06-14')], OUTREACH],
  [
    'CRC-15 a FIT declined (LOINC code)',
    [aDecline('2026-01-01', { system: 'loinc', code: '29771-3' })],
    {
      disposition: 'suppressed',
      clause: 'CRC-15',
      reasons: ['screening_declined'],
    },
  ],
  [
    'CRC-15 not-done without the refusal reason is no decline',
    [aProcedure('45378', { status: 'not-done', date: '2026-01-01' })],
    OUTREACH,
  ],
  // CRC-16
  [
    'CRC-16 no address line and no phone',
    [aPatient({ address: { city: 'Springfield' }, phone: false })],
    {
      disposition: 'nurse_review',
      clause: 'CRC-16',
      reasons: ['not_reachable'],
      routeTo: 'screening_outreach',
      actions: [],
    },
  ],
  [
    'CRC-16 no address at all, a fax only',
    [aPatient({ address: false, phone: { system: 'fax' } })],
    {
      disposition: 'nurse_review',
      clause: 'CRC-16',
      reasons: ['not_reachable'],
    },
  ],
  ['CRC-16 an address with a line and a city is enough', [aPatient({ phone: false })], OUTREACH],
  ['CRC-16 a phone is enough', [aPatient({ address: false })], OUTREACH],
  // CRC-17
  ['CRC-17 60, average risk, due, reachable', [aPatient()], OUTREACH],
];
