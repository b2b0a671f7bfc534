import type {
  CodeableConcept,
  Condition,
  DiagnosticReport,
  Encounter,
  Medication,
  MedicationRequest,
  Observation,
  Patient,
  Procedure,
  Reference,
  Resource,
  ServiceRequest,
} from '@medplum/fhirtypes';
import { differenceInYears, parseISO } from 'date-fns';
import { CareGapFactsSchema, type CareGapFacts, type Finding } from '../../rules/kinds/care-gap/facts.ts';
import {
  CARE_GAP_VALUE_SETS,
  valueSetMatcher,
  type CareGapValueSetId,
  type CareGapValueSets,
} from '../../rules/kinds/care-gap/value-sets.ts';
import { IsoDateSchema, type DatedEvidence, type Evidence } from '../../rules/index.ts';
import { codings, dateOf, keyOf, refKey, texts } from '../fhir.ts';

/** A FHIR R4 resource as read from the EHR (or a bundle entry). */
export type FhirResource = Resource;

export interface CareGapExtractOptions {
  /**
   * Value sets to use instead of the built-in ones, by id (a clinic's loaded expansions, see
   * `loadValueSetExpansion`); the others stay built in.
   */
  valueSets?: Partial<CareGapValueSets>;
}

/** Statuses under which an Observation or DiagnosticReport is a result (the reference protocol's stool tests). */
const RESULT_STATUSES = ['final', 'amended', 'corrected'];
/** A record that was never true, or never happened. */
const VOID_STATUSES = ['entered-in-error', 'cancelled'];
/** FHIR's `active` clinical status and its two specialisations. */
const ACTIVE_CLINICAL = ['active', 'recurrence', 'relapse'];

const ageAt = (birthDate: string, asOf: string): number => differenceInYears(parseISO(asOf), parseISO(birthDate));

const onOrBefore = (date: string | undefined, asOf: string): boolean => date === undefined || date <= asOf;

function emptyFinding(): Finding {
  return { present: false, lastDate: null, evidence: [] };
}

function addTo(f: Finding, e: Evidence): void {
  f.present = true;
  f.evidence.push(e);
  if (e.date && (f.lastDate === null || e.date > f.lastDate)) f.lastDate = e.date;
}

/** The later of two dated pieces of evidence (`null` counts as none). */
function later(a: DatedEvidence | null, b: DatedEvidence): DatedEvidence {
  return a === null || b.date > a.date ? b : a;
}

function evidence(r: Resource, date: string | undefined, extra: Partial<Evidence> = {}): Evidence {
  return { resourceType: r.resourceType, id: r.id ?? '', ...(date ? { date } : {}), ...extra };
}

/**
 * Reduces one patient's FHIR resources to the care-gap facts, per docs/protocols/crc-screening-2021.md "How this
 * clinic's EHR records the data":
 * - Conditions: `entered-in-error` / `refuted` never count; date `onsetDateTime`, else `recordedDate`. Colorectal
 *   cancer, palliative care (Z51.5) and advanced illness count in any clinical status; frailty, symptoms, IBD and
 *   polyps only when active (FHIR `active`, `recurrence`, `relapse`).
 * - Procedures: `completed` (date `performedDateTime`, else `performedPeriod.end`); a refusal is `not-done` with
 *   statusReason SNOMED 183944003 and a colonoscopy or FIT code.
 * - Stool tests and CT colonography: `final`/`amended`/`corrected`, date `effectiveDateTime`; a stool test is
 *   positive (interpretation POS/A, value SNOMED 10828004) or negative (NEG/N, SNOMED 260385009), positive winning
 *   if both are recorded; with neither it counts for nothing.
 * - Hospice, palliative care: Encounters `finished`/`in-progress` (date `period.start`), Observations answered yes.
 * - Dementia medications: an `active` MedicationRequest by RxNorm ingredient code or the ingredient's name in the
 *   product text (inline or via `medicationReference`).
 * - Housing: the latest dated housing-status Observation wins.
 * - Reachable: an address (not `use: old`) with a line and a city; a phone (`telecom.system` phone with a value).
 * Anything dated after `asOf` is ignored, as is anything that refers to another patient. Undated records count only
 * for "ever" facts (a colectomy, a cancer, an active problem), never inside a window.
 */
export function careGapFactsFromResources(
  resources: readonly FhirResource[],
  patientId: string,
  asOf: string,
  opts: CareGapExtractOptions = {},
): CareGapFacts {
  const sets = { ...CARE_GAP_VALUE_SETS, ...opts.valueSets } as CareGapValueSets;
  const inSet = (id: CareGapValueSetId, concepts: (CodeableConcept | undefined)[] | CodeableConcept | undefined) => {
    const m = valueSetMatcher(sets[id]);
    return codings(concepts).some((c) => m.has(c.system, c.code));
  };
  const firstCode = (id: CareGapValueSetId, concept: CodeableConcept | undefined): string | undefined => {
    const m = valueSetMatcher(sets[id]);
    return codings(concept).find((c) => m.has(c.system, c.code))?.code;
  };
  const patientKey = `Patient/${patientId}`;
  const mine = resources.filter((r) => {
    for (const field of ['subject', 'patient'] as const) {
      const key = refKey((r as unknown as Record<string, unknown>)[field] as Reference | undefined);
      if (key?.startsWith('Patient/') && key !== patientKey) return false;
    }
    return true;
  });
  const ofType = <T extends Resource>(type: T['resourceType']): T[] =>
    mine.filter((r): r is T => r.resourceType === type);

  // Patient: birth date, reachability.
  const patient = ofType<Patient>('Patient').find((p) => p.id === patientId);
  // A full, real calendar date on or before asOf; anything else (partial, impossible, future) is not a known birth date.
  const birthDate =
    patient?.birthDate && IsoDateSchema.safeParse(patient.birthDate).success && patient.birthDate <= asOf
      ? patient.birthDate
      : null;
  const current = <T extends { use?: string }>(list: T[] | undefined): T[] =>
    (list ?? []).filter((x) => x.use !== 'old');
  const postalAddress = current(patient?.address).some(
    (a) => (a.line ?? []).some((l) => l.trim() !== '') && (a.city ?? '').trim() !== '',
  );
  const phone = current(patient?.telecom).some((t) => t.system === 'phone' && (t.value ?? '').trim() !== '');

  const exclusions = {
    colorectalCancer: emptyFinding(),
    totalColectomy: emptyFinding(),
    hospice: emptyFinding(),
    palliativeCare: emptyFinding(),
    frailty: emptyFinding(),
    advancedIllness: emptyFinding(),
    dementiaMedication: emptyFinding(),
    housing: { status: null, date: null, evidence: null } as CareGapFacts['exclusions']['housing'],
  };
  const risk = {
    lowerGiSymptoms: emptyFinding(),
    inflammatoryBowelDisease: emptyFinding(),
    colonicPolypsHistory: emptyFinding(),
  };

  // Conditions.
  for (const c of ofType<Condition>('Condition')) {
    const verification = codings(c.verificationStatus).map((x) => x.code);
    if (verification.includes('entered-in-error') || verification.includes('refuted')) continue;
    const date = dateOf(c.onsetDateTime) ?? dateOf(c.recordedDate);
    if (!onOrBefore(date, asOf)) continue;
    const active = codings(c.clinicalStatus).some((x) => x.code !== undefined && ACTIVE_CLINICAL.includes(x.code));
    const any: [CareGapValueSetId, Finding][] = [
      ['colorectal-cancer', exclusions.colorectalCancer],
      ['palliative-care', exclusions.palliativeCare],
      ['advanced-illness', exclusions.advancedIllness],
    ];
    const activeOnly: [CareGapValueSetId, Finding][] = [
      ['frailty', exclusions.frailty],
      ['lower-gi-symptoms', risk.lowerGiSymptoms],
      ['inflammatory-bowel-disease', risk.inflammatoryBowelDisease],
      ['colonic-polyps-history', risk.colonicPolypsHistory],
    ];
    for (const [id, finding] of [...any, ...(active ? activeOnly : [])]) {
      const code = firstCode(id, c.code);
      if (code) addTo(finding, evidence(c, date, { value: code, display: sets[id].title }));
    }
  }

  // Procedures: tests, colectomy, refusals.
  const tests: CareGapFacts['tests'] = {
    lastPositiveFit: null,
    lastNegativeFit: null,
    lastPositiveSdna: null,
    lastNegativeSdna: null,
    lastCtColonography: null,
    lastSigmoidoscopy: null,
    lastColonoscopy: null,
    lastResult: null,
  };
  let lastDeclined: DatedEvidence | null = null;
  for (const p of ofType<Procedure>('Procedure')) {
    if (p.status === 'completed') {
      const date = dateOf(p.performedDateTime) ?? dateOf(p.performedPeriod?.end);
      if (!onOrBefore(date, asOf)) continue;
      if (inSet('total-colectomy', p.code))
        addTo(exclusions.totalColectomy, evidence(p, date, { display: sets['total-colectomy'].title }));
      if (!date) continue;
      if (inSet('colonoscopy', p.code))
        tests.lastColonoscopy = later(tests.lastColonoscopy, { ...evidence(p, date), date, display: 'Colonoscopy' });
      if (inSet('flexible-sigmoidoscopy', p.code))
        tests.lastSigmoidoscopy = later(tests.lastSigmoidoscopy, {
          ...evidence(p, date),
          date,
          display: 'Flexible sigmoidoscopy',
        });
    } else if (p.status === 'not-done') {
      const date = dateOf(p.performedDateTime);
      if (!date || date > asOf) continue;
      if (!inSet('screening-refused', p.statusReason)) continue;
      if (!inSet('colonoscopy', p.code) && !inSet('fit-fobt', p.code)) continue;
      lastDeclined = later(lastDeclined, { ...evidence(p, date), date, display: 'Screening declined' });
    }
  }

  // Observations: stool tests, CT colonography, hospice / palliative answers, housing.
  const yes = (o: Observation): boolean => inSet('answer-yes', o.valueCodeableConcept);
  for (const o of ofType<Observation>('Observation')) {
    if (VOID_STATUSES.includes(o.status)) continue;
    const date = dateOf(o.effectiveDateTime);
    if (!date || date > asOf) continue;
    const isResult = RESULT_STATUSES.includes(o.status);
    if (isResult && (inSet('fit-fobt', o.code) || inSet('sdna-fit', o.code))) {
      const positive =
        inSet('stool-result-positive', o.interpretation) || inSet('stool-result-positive', o.valueCodeableConcept);
      const negative =
        inSet('stool-result-negative', o.interpretation) || inSet('stool-result-negative', o.valueCodeableConcept);
      if (!positive && !negative) continue;
      const sdna = inSet('sdna-fit', o.code);
      const e: DatedEvidence = {
        ...evidence(o, date),
        date,
        value: positive ? 'positive' : 'negative',
        display: sdna ? 'sDNA-FIT' : 'FIT / FOBT',
      };
      if (sdna && positive) tests.lastPositiveSdna = later(tests.lastPositiveSdna, e);
      else if (sdna) tests.lastNegativeSdna = later(tests.lastNegativeSdna, e);
      else if (positive) tests.lastPositiveFit = later(tests.lastPositiveFit, e);
      else tests.lastNegativeFit = later(tests.lastNegativeFit, e);
    }
    if (isResult && inSet('ct-colonography', o.code))
      tests.lastCtColonography = later(tests.lastCtColonography, {
        ...evidence(o, date),
        date,
        display: 'CT colonography',
      });
    if (inSet('hospice', o.code) && yes(o))
      addTo(exclusions.hospice, evidence(o, date, { display: sets.hospice.title }));
    if (inSet('palliative-care', o.code) && yes(o))
      addTo(exclusions.palliativeCare, evidence(o, date, { display: sets['palliative-care'].title }));
    if (inSet('housing-status', o.code) && (exclusions.housing.date === null || date > exclusions.housing.date)) {
      const nursingHome = inSet('housing-nursing-home', o.valueCodeableConcept);
      exclusions.housing = {
        status: nursingHome ? 'nursing_home' : 'other',
        date,
        evidence: evidence(o, date, { display: nursingHome ? 'Lives in a nursing home' : 'Housing status' }),
      };
    }
  }
  for (const d of ofType<DiagnosticReport>('DiagnosticReport')) {
    const date = dateOf(d.effectiveDateTime);
    if (!date || date > asOf || !RESULT_STATUSES.includes(d.status)) continue;
    if (inSet('ct-colonography', d.code))
      tests.lastCtColonography = later(tests.lastCtColonography, {
        ...evidence(d, date),
        date,
        display: 'CT colonography',
      });
  }
  for (const t of [
    tests.lastPositiveFit,
    tests.lastNegativeFit,
    tests.lastPositiveSdna,
    tests.lastNegativeSdna,
    tests.lastCtColonography,
    tests.lastSigmoidoscopy,
    tests.lastColonoscopy,
  ])
    if (t) tests.lastResult = later(tests.lastResult, t);

  // Encounters: hospice and palliative care.
  for (const e of ofType<Encounter>('Encounter')) {
    if (e.status !== 'finished' && e.status !== 'in-progress') continue;
    const date = dateOf(e.period?.start);
    if (!date || date > asOf) continue;
    if (inSet('hospice', e.type) || inSet('hospice', e.hospitalization?.dischargeDisposition))
      addTo(exclusions.hospice, evidence(e, date, { display: sets.hospice.title }));
    if (inSet('palliative-care', e.type))
      addTo(exclusions.palliativeCare, evidence(e, date, { display: sets['palliative-care'].title }));
  }

  // Dementia medications: active MedicationRequests by RxNorm ingredient code or ingredient name in the text.
  const medications = ofType<Medication>('Medication');
  const dementia = sets['dementia-medications'];
  const dementiaMatcher = valueSetMatcher(dementia);
  const names = dementia.entries.flatMap((e) =>
    e.display ? [new RegExp(`\\b${e.display.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\b`, 'i')] : [],
  );
  for (const mr of ofType<MedicationRequest>('MedicationRequest')) {
    if (mr.status !== 'active') continue;
    const date = dateOf(mr.authoredOn);
    if (!onOrBefore(date, asOf)) continue;
    const med = medications.find((m) => keyOf(m) === refKey(mr.medicationReference));
    const concepts = [
      mr.medicationCodeableConcept,
      med?.code,
      ...(med?.ingredient ?? []).map((i) => i.itemCodeableConcept),
      mr.medicationReference?.display ? { text: mr.medicationReference.display } : undefined,
    ];
    const byCode = codings(concepts).some((c) => dementiaMatcher.has(c.system, c.code));
    const byText = texts(concepts).some((t) => names.some((n) => n.test(t)));
    if (byCode || byText) addTo(exclusions.dementiaMedication, evidence(mr, date, { display: 'Dementia medication' }));
  }

  // Screening orders.
  let latestOpen: DatedEvidence | null = null;
  let latestActive: DatedEvidence | null = null;
  for (const sr of ofType<ServiceRequest>('ServiceRequest')) {
    const date = dateOf(sr.authoredOn);
    if (!date || date > asOf) continue;
    const qualifying = (
      ['fit-fobt', 'sdna-fit', 'ct-colonography', 'colonoscopy', 'flexible-sigmoidoscopy'] as const
    ).some((id) => inSet(id, sr.code));
    if (!qualifying) continue;
    const e: DatedEvidence = { ...evidence(sr, date), date, value: sr.status, display: 'Screening order' };
    if (['draft', 'active', 'on-hold'].includes(sr.status)) latestOpen = later(latestOpen, e);
    if (['active', 'on-hold'].includes(sr.status)) latestActive = later(latestActive, e);
  }

  return CareGapFactsSchema.parse({
    asOf,
    patient: {
      ageYears: birthDate ? ageAt(birthDate, asOf) : null,
      postalAddress,
      phone,
      evidence: { resourceType: 'Patient', id: patientId },
    },
    exclusions,
    risk,
    tests,
    orders: { latestOpen, latestActive },
    declined: { last: lastDeclined },
  });
}
