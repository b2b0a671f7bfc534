// Safety property of the standard library (issue 13): whatever else the record says, a request with a failing safety
// fact (pregnancy, an unknown dose, kidney function below the threshold or unreadable, a controlled substance) is never
// approved, by the compiled evaluator and by json-rules-engine alike. Snapshots start from a request each category
// approves and are then scrambled at random (seeded), so every other criterion is passing or failing in any mix.
import { format, parseISO, subDays } from 'date-fns';
import { describe, expect, test } from 'vitest';
import { extractRefillFacts, patientRecordFromBundle } from '../../facts/refill/index.ts';
import { compileProtocol } from '../../rules/kinds/refill/compile.ts';
import { evaluateProtocol } from '../../rules/kinds/refill/evaluate.ts';
import { findBuiltinProtocol } from '../../rules/kinds/refill/protocols/index.ts';
import { minimiseFacts } from '../../rules/kinds/refill/minimise-facts.ts';
import { type DatedEvidence } from '../../rules/index.ts';
import { RefillFactsSchema, type RefillFacts } from '../../rules/kinds/refill/facts.ts';
import { type ProtocolDefinition } from '../../rules/kinds/refill/protocol.ts';
import { createRng, type Rng } from '../../sandbox/synthetic/prng.ts';
import { aRefillBundle, type ScenarioSpec } from '../helpers/fhir-builders.ts';

const protocol = findBuiltinProtocol('standard-chronic-care') as ProtocolDefinition;
const compiled = compileProtocol(protocol);
const AS_OF = '2026-06-15';
const SAMPLES = 120;

const visit = [{ kind: 'pcp' as const, date: '2026-01-10' }];
const bp = [{ date: '2026-01-10', systolic: 124, diastolic: 76 }];
const diureticLabs: ScenarioSpec['labs'] = [
  { kind: 'potassium', date: '2026-04-01', value: 4.2 },
  { kind: 'sodium', date: '2026-04-01', value: 140 },
  { kind: 'creatinine', date: '2026-04-01', value: 1.0 },
  { kind: 'egfr', date: '2026-04-01', value: 75 },
];
const doac = (drug: ScenarioSpec['drug']): ScenarioSpec => ({
  drug,
  sex: 'male',
  visits: visit,
  weights: [{ date: '2026-05-01', kg: 80 }],
  labs: [
    { kind: 'creatinine', date: '2026-05-01', value: 1.0 },
    { kind: 'egfr', date: '2026-05-01', value: 75 },
    { kind: 'cbc', date: '2026-05-01' },
  ],
});
const woman: Partial<ScenarioSpec> = { sex: 'female', birthDate: '1996-03-01', visits: visit, bloodPressures: bp };

type Safety = 'controlled' | 'pregnancy' | 'unknown_dose' | 'renal';

/** A request each category approves, and the safety facts its category must never approve through. */
const BASES: { category: string; scenario: ScenarioSpec; safety: Safety[] }[] = [
  {
    category: 'ace_inhibitor_arb',
    scenario: { drug: 'losartan', visits: visit, bloodPressures: bp, labs: diureticLabs },
    safety: ['controlled', 'pregnancy', 'renal'],
  },
  {
    category: 'ace_inhibitor_arb + thiazide',
    scenario: { drug: 'lisinoprilHctz', visits: visit, bloodPressures: bp, labs: diureticLabs },
    safety: ['controlled', 'pregnancy', 'renal'],
  },
  {
    category: 'thiazide',
    scenario: { drug: 'hydrochlorothiazide', visits: visit, labs: diureticLabs },
    safety: ['controlled', 'renal'],
  },
  {
    category: 'loop_diuretic',
    scenario: { drug: 'furosemide', visits: visit, labs: diureticLabs },
    safety: ['controlled', 'renal'],
  },
  {
    category: 'doac (apixaban)',
    scenario: doac('apixaban'),
    safety: ['controlled', 'pregnancy', 'unknown_dose', 'renal'],
  },
  {
    category: 'doac (rivaroxaban)',
    scenario: doac('rivaroxaban20'),
    safety: ['controlled', 'pregnancy', 'unknown_dose', 'renal'],
  },
  {
    category: 'doac (dabigatran)',
    scenario: doac('dabigatran'),
    safety: ['controlled', 'pregnancy', 'unknown_dose', 'renal'],
  },
  {
    category: 'doac (edoxaban)',
    scenario: doac('edoxaban60'),
    safety: ['controlled', 'pregnancy', 'unknown_dose', 'renal'],
  },
  {
    category: 'statin',
    scenario: { drug: 'atorvastatin', visits: visit, labs: [{ kind: 'lipid', date: '2026-05-01' }] },
    safety: ['controlled', 'pregnancy'],
  },
  {
    category: 'thyroid_hormone',
    scenario: { drug: 'levothyroxine', visits: visit, labs: [{ kind: 'tsh', date: '2026-05-01', value: 2.1 }] },
    safety: ['controlled', 'pregnancy'],
  },
  {
    category: 'combined_oral_contraceptive',
    scenario: { drug: 'oralContraceptive', ...woman },
    safety: ['controlled'],
  },
  {
    category: 'progestin_only_pill',
    scenario: { drug: 'norethindronePop', ...woman },
    safety: ['controlled', 'unknown_dose'],
  },
];

const daysAgo = (rng: Rng, max: number): string => format(subDays(parseISO(AS_OF), rng.int(0, max)), 'yyyy-MM-dd');
const obs = (rng: Rng, id: string, value?: number | string): DatedEvidence => ({
  resourceType: 'Observation',
  id,
  date: daysAgo(rng, 600),
  ...(value !== undefined ? { value } : {}),
});
const maybe = <T>(rng: Rng, make: () => T): T | null => (rng.chance(0.15) ? null : make());
/** A number, sometimes a text result the lab reported, sometimes no value at all. */
const result = (rng: Rng, min: number, max: number): number | string | undefined =>
  rng.chance(0.1)
    ? rng.pick(['>60', '<15', '>90', 'hemolysed'])
    : rng.chance(0.05)
      ? undefined
      : rng.decimal(min, max, 1);

/** Scrambles what the criteria read (each field with probability 0.3), never the drug's identity. */
function scramble(base: RefillFacts, rng: Rng): RefillFacts {
  const f = structuredClone(base);
  const any = (): boolean => rng.chance(0.3);
  if (any())
    f.visits.lastPcpRov = maybe(rng, () => ({ resourceType: 'Encounter', id: 'enc-x', date: daysAgo(rng, 600) }));
  if (any())
    f.vitals.lastBloodPressure = maybe(rng, () => {
      const date = daysAgo(rng, 600);
      const systolic = rng.int(70, 210);
      const diastolic = rng.int(40, 130);
      return {
        date,
        systolic,
        diastolic,
        evidence: { resourceType: 'Observation', id: 'bp-x', date, value: `${systolic}/${diastolic}` },
      };
    });
  if (any()) f.labs.lastPotassium = maybe(rng, () => obs(rng, 'k', result(rng, 2.5, 6.5)));
  if (any()) f.labs.lastSodium = maybe(rng, () => obs(rng, 'na', result(rng, 120, 150)));
  if (any()) f.labs.lastTsh = maybe(rng, () => obs(rng, 'tsh', result(rng, 0.01, 12)));
  if (any()) f.labs.lastCbc = maybe(rng, () => obs(rng, 'cbc'));
  if (any()) f.labs.lastLipidPanel = maybe(rng, () => obs(rng, 'lipid'));
  if (any()) f.labs.kidneyFunction = maybe(rng, () => obs(rng, 'kf', result(rng, 5, 130)));
  if (any())
    f.labs.creatinineClearance = maybe(rng, () =>
      obs(rng, 'crcl', rng.chance(0.1) ? undefined : rng.decimal(10, 200, 1)),
    );
  if (any()) f.patient.ageYears = rng.chance(0.05) ? null : rng.int(12, 95);
  if (any()) f.patient.sex = rng.pick(['female', 'male', 'other', null] as const);
  if (any()) f.patient.weight = maybe(rng, () => obs(rng, 'w', rng.decimal(40, 130, 1)));
  if (any()) f.patient.pregnancy = { pregnant: rng.chance(0.1), evidence: [] };
  if (any())
    f.patient.smoking = rng.chance(0.3)
      ? { status: null, evidence: null }
      : { status: rng.pick(['never', 'former', 'current'] as const), evidence: obs(rng, 'smk') };
  if (any())
    f.patient.problems = {
      codes: rng
        .shuffle(['venous_thromboembolism', 'migraine_with_aura', 'hypertension'] as const)
        .slice(0, rng.int(0, 1)),
      evidence: [],
    };
  if (any()) f.therapy.startDate = rng.chance(0.1) ? null : daysAgo(rng, 2000);
  if (any()) f.drug.strengthMg = rng.pick([null, 2.5, 5, 10, 15, 20, 30, 60, 75, 110, 150]);
  return RefillFactsSchema.parse(f);
}

/** Makes one safety fact fail, as the record would show it. */
function breakSafety(f: RefillFacts, safety: Safety, rng: Rng): RefillFacts {
  const out = structuredClone(f);
  switch (safety) {
    case 'controlled':
      out.drug.controlledSchedule = rng.pick(['CII', 'CIII', 'CIV', 'CV'] as const);
      break;
    case 'pregnancy':
      out.patient.pregnancy = { pregnant: true, evidence: [{ resourceType: 'Condition', id: 'preg' }] };
      break;
    case 'unknown_dose':
      out.drug.strengthMg = null;
      break;
    case 'renal': {
      const doac = out.drug.classes.includes('doac');
      const pick = rng.int(0, doac ? 3 : 1);
      if (pick === 0) out.labs.kidneyFunction = obs(rng, 'kf', rng.decimal(0, doac ? 49.9 : 29.9, 1));
      else if (pick === 1) out.labs.kidneyFunction = obs(rng, 'kf', rng.pick(['<15', '<30']));
      else if (pick === 2) out.labs.creatinineClearance = obs(rng, 'crcl', rng.decimal(0, 50, 1));
      else out.labs.creatinineClearance = obs(rng, 'crcl');
      break;
    }
  }
  return out;
}

describe('standard-chronic-care never approves through a failing safety fact', () => {
  test.each(BASES)(
    '$category: the unscrambled request is approved (the property is not vacuous)',
    async ({ scenario }) => {
      const facts = extractRefillFacts(patientRecordFromBundle(aRefillBundle(scenario)), { asOf: AS_OF });
      expect((await evaluateProtocol(protocol, facts)).disposition).toBe('approve');
    },
  );

  test.each(BASES.flatMap((b) => b.safety.map((safety) => ({ ...b, safety }))))(
    '$category, $safety: never approve (compiled and json-rules-engine, full and minimised facts)',
    async ({ scenario, safety }) => {
      const base = extractRefillFacts(patientRecordFromBundle(aRefillBundle(scenario)), { asOf: AS_OF });
      const rng = createRng(0x5afe ^ scenario.drug.length ^ safety.length);
      let approvedBeforeBreaking = 0;
      for (let i = 0; i < SAMPLES; i++) {
        const scrambled = i === 0 ? base : scramble(base, rng);
        if (i > 0 && compiled(scrambled).disposition === 'approve') approvedBeforeBreaking++;
        const facts = breakSafety(scrambled, safety, rng);
        const byEngine = await evaluateProtocol(protocol, facts);
        expect(compiled(facts)).toEqual(byEngine);
        expect(byEngine.disposition, JSON.stringify(facts)).not.toBe('approve');
        expect(compiled(minimiseFacts(facts)).disposition).not.toBe('approve');
      }
      // The scrambling reaches approvals, so the safety fact is what stops them.
      expect(approvedBeforeBreaking).toBeGreaterThan(0);
    },
  );
});
