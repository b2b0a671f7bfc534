// Golden cases for the standard chronic-care protocol, written from its criteria and the sources they cite. Each case
// is a FHIR scenario run end to end (bundle → record → facts → decision), so the table checks the new lab and vital
// extraction as much as the rules.
import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { extractRefillFacts, patientRecordFromBundle } from '../../facts/refill/index.ts';
import { compileProtocol } from '../../rules/kinds/refill/compile.ts';
import { evaluateProtocol } from '../../rules/kinds/refill/evaluate.ts';
import { classifyDrug } from '../../rules/drugs/classify.ts';
import { findBuiltinProtocol } from '../../rules/kinds/refill/protocols/index.ts';
import { forEachCondition, type ProtocolDefinition } from '../../rules/kinds/refill/protocol.ts';
import { type RefillFacts } from '../../rules/kinds/refill/facts.ts';
import { type TriageDecision } from '../../rules/kinds/refill/decision.ts';
import { aRefillBundle, type ScenarioSpec } from '../helpers/fhir-builders.ts';
import { loadGoldenCases } from '../helpers/golden.ts';

const file = loadGoldenCases('standard-chronic-care');

const DEFAULTS = {
  approve: { approvedSupply: { renewalMonths: 12 }, bridgeSupply: null, routeTo: null },
  needs_visit: { approvedSupply: null, bridgeSupply: { quantity: 30, refills: 1 }, routeTo: null },
  nurse_review: { approvedSupply: null, bridgeSupply: null, routeTo: null },
  doctor_review: { approvedSupply: null, bridgeSupply: null, routeTo: 'pcp_or_coverage' },
} as const;

const protocol = findBuiltinProtocol(file.protocol, file.version) as ProtocolDefinition;
const familyMedicine = findBuiltinProtocol('family-medicine-2015', 1) as ProtocolDefinition;
const decisions = new Map<string, TriageDecision>();
const factsByCase = new Map<string, RefillFacts>();

const compiled = new Map([protocol, familyMedicine].map((p) => [p, compileProtocol(p)]));

const factsOf = (scenario: ScenarioSpec): RefillFacts =>
  extractRefillFacts(patientRecordFromBundle(aRefillBundle(scenario)), { asOf: scenario.asOf ?? '2026-06-15' });

/** Bundle → facts → decision with json-rules-engine; the compiled evaluator must give the identical decision. */
async function triage(scenario: ScenarioSpec, p: ProtocolDefinition = protocol): Promise<TriageDecision> {
  const facts = factsOf(scenario);
  const decision = await evaluateProtocol(p, facts);
  expect(compiled.get(p)?.(facts)).toEqual(decision);
  return decision;
}

/** Every criterion, route, supply and bridge rule of the protocol, with where it sits. */
function rules(p: ProtocolDefinition) {
  return {
    criteria: [...p.guards, ...p.categories.flatMap((c) => c.criteria)],
    routes: p.routes,
    supplies: p.categories.flatMap((c) => c.supply ?? []),
    bridges: p.bridgeSupply,
  };
}

describe(`standard-chronic-care v${file.version} golden cases`, () => {
  test('is built in and registered next to the reference protocol', () => {
    expect(protocol).toBeDefined();
    expect(protocol.id).toBe('standard-chronic-care');
    expect(familyMedicine).toBeDefined();
  });

  test.each(file.cases)('[$clause] $name', async ({ name, scenario, expected }) => {
    const decision = await triage(scenario as unknown as ScenarioSpec);
    decisions.set(name, decision);
    factsByCase.set(name, factsOf(scenario as unknown as ScenarioSpec));
    expect({
      disposition: decision.disposition,
      failedCriteria: decision.failedCriteria,
      approvedSupply: decision.approvedSupply,
      bridgeSupply: decision.bridgeSupply,
      routeTo: decision.routeTo,
      actions: decision.actions,
    }).toEqual({ ...DEFAULTS[expected.disposition], actions: [], ...expected });
    expect(decision.criteria.filter((c) => !c.passed).map((c) => c.id)).toEqual(decision.failedCriteria);
    expect(decision.protocol).toEqual({ id: 'standard-chronic-care', version: file.version });
    // Every placeholder was filled.
    for (const c of decision.criteria) expect(c.explanation).not.toMatch(/\{\{|\}\}/);
  });

  test('every criterion instance (category + id) passes in at least one case and fails in at least one', () => {
    expect(decisions.size, 'the golden cases ran first').toBe(file.cases.length);
    // A criterion result names its clause: clause + id identifies the instance (ids are shared between categories).
    const instances = new Map<string, string>();
    for (const g of protocol.guards) instances.set(`${g.clause}/${g.id}`, `guard ${g.id}`);
    for (const c of protocol.categories)
      for (const r of c.criteria) {
        const key = `${r.clause}/${r.id}`;
        expect(instances.has(key), `${key} is not unique`).toBe(false);
        instances.set(key, `${c.id}/${r.id}`);
      }
    const results = [...decisions.values()].flatMap((d) => d.criteria);
    for (const [key, instance] of instances) {
      const seen = results.filter((r) => `${r.clause}/${r.id}` === key);
      expect(
        seen.some((r) => r.passed),
        `${instance} never passes`,
      ).toBe(true);
      expect(
        seen.some((r) => !r.passed),
        `${instance} never fails`,
      ).toBe(true);
    }
    for (const route of protocol.routes)
      expect(
        results.some((c) => c.id === route.id),
        route.id,
      ).toBe(true);
    expect(results.some((c) => c.id === 'medication_not_in_protocol')).toBe(true);
    // Every category is exercised by a case whose drug falls in it.
    const reached = new Set(file.cases.map((c) => c.clause.split('-')[0]));
    for (const c of protocol.categories) expect(reached, c.id).toContain(c.clause.split('-')[0]);
  });

  test('every supply and bridge rule decides the supply in at least one case, and every action is placed and not placed', () => {
    // A rule is used when giving it a supply no other rule gives changes some case's decision to that supply.
    const all = [...factsByCase.values()];
    const sentinel = (p: ProtocolDefinition) => all.map((f) => compileProtocol(p)(f));
    protocol.categories.forEach((c, i) =>
      (c.supply ?? []).forEach((s, j) => {
        const edited = structuredClone(protocol);
        const rule = edited.categories[i]?.supply?.[j];
        if (rule) rule.supply = { renewalMonths: 97 };
        const used = sentinel(edited).some((d) => JSON.stringify(d.approvedSupply) === '{"renewalMonths":97}');
        expect(used, `${c.id} supply ${s.id} never decides a supply`).toBe(true);
      }),
    );
    protocol.bridgeSupply.forEach((b, i) => {
      const edited = structuredClone(protocol);
      const rule = edited.bridgeSupply[i];
      if (rule) rule.supply = { quantity: 97, refills: 7 };
      const used = sentinel(edited).some((d) => d.bridgeSupply?.quantity === 97);
      expect(used, `bridge ${b.id} never decides a supply`).toBe(true);
    });
    const placed = [...decisions.values()].map((d) => d.actions);
    for (const a of protocol.categories.flatMap((c) => c.actions ?? [])) {
      expect(placed.some((list) => list.includes(a.action), `${a.action} never placed`)).toBe(true);
      expect(placed.some((list) => !list.includes(a.action), `${a.action} always placed`)).toBe(true);
    }
  });

  test('every criterion, route, supply and bridge rule cites a source from the landscape document', () => {
    const { criteria, routes, supplies, bridges } = rules(protocol);
    // Criteria, routes and categories carry their citations in `source`; supply and bridge rules in the description.
    for (const r of [...criteria, ...routes, ...protocol.categories]) expect(r.source, r.id).toMatch(/\[S\d+\]/);
    for (const r of [...supplies, ...bridges]) expect(r.description, r.id).toMatch(/\[S\d+\]/);
  });

  test('sources and citations point to the repository copy of the landscape (docs/domain/refill-landscape.md)', () => {
    const protocolText = readFileSync(
      new URL('../../rules/kinds/refill/protocols/standard-chronic-care.json', import.meta.url),
      'utf8',
    );
    const casesText = readFileSync(
      new URL('../fixtures/protocols/standard-chronic-care.cases.json', import.meta.url),
      'utf8',
    );
    for (const text of [protocolText, casesText]) {
      expect(text).not.toMatch(/\/work\/shared|(?<![\w/])shared\//);
    }
    expect(protocol.source).toContain('docs/domain/refill-landscape.md');
    const { criteria, routes } = rules(protocol);
    for (const r of [...criteria, ...routes, ...protocol.categories]) {
      if (/refill-landscape\.md/.test(r.source)) expect(r.source, r.id).toContain('docs/domain/refill-landscape.md');
    }
  });

  test('no category lets a controlled substance in, and the controlled route outranks every other route', () => {
    for (const c of protocol.categories) {
      expect((c.when as { all: unknown[] }).all[0], c.id).toEqual({ condition: 'notControlled' });
    }
    const top = [...protocol.routes].sort((a, b) => b.precedence - a.precedence)[0];
    expect(top?.id).toBe('controlled_substance_to_prescriber');
  });

  test('a scheduled drug that a category would otherwise cover is routed, and nothing else is checked', async () => {
    const record = patientRecordFromBundle(aRefillBundle({ drug: 'losartan', visits: [] }));
    const facts = extractRefillFacts(record, { asOf: '2026-06-15' });
    const uncontrolled = await evaluateProtocol(protocol, facts);
    expect(uncontrolled.failedCriteria).toContain('visit_within_12mo');
    const d = await evaluateProtocol(protocol, { ...facts, drug: { ...facts.drug, controlledSchedule: 'CIV' } });
    expect(d.disposition).toBe('doctor_review');
    expect(d.criteria.map((c) => c.id)).toEqual(['controlled_substance_to_prescriber']);
    expect(d.criteria[0]?.explanation).toBe(
      'Losartan potassium 50 mg tablet is a controlled substance (Schedule CIV): a prescriber decides every renewal, after a PDMP check (CS-1).',
    );
  });

  test('the new facts are what the rules read (no rule names a fact path outside the schema)', () => {
    const paths = new Set<string>();
    forEachCondition(protocol, (c) => {
      if ('fact' in c) paths.add(`${c.fact}${(c.path ?? '$').slice(1)}`);
    });
    for (const path of [
      'labs.lastPotassium.value',
      'labs.lastSodium.value',
      'labs.kidneyFunction.value',
      'labs.kidneyFunction.date',
      'labs.creatinineClearance.value',
      'labs.lastTsh.value',
      'labs.lastCbc.date',
      'vitals.lastBloodPressure.systolic',
      'vitals.lastBloodPressure.diastolic',
      'patient.pregnancy.pregnant',
      'patient.weight.value',
      'patient.smoking.status',
      'patient.problems.codes',
      'drug.strengthMg',
      'therapy.startDate',
    ])
      expect(paths, path).toContain(path);
    // Thresholds judge the current kidney function, never a reported eGFR that a newer creatinine may have superseded.
    expect(paths).not.toContain('labs.lastEgfr.value');
  });
});

describe('standard-chronic-care decisions carry their evidence', () => {
  const current = {
    visits: [{ kind: 'pcp' as const, date: '2026-01-10' }],
    bloodPressures: [{ date: '2026-01-10', systolic: 144, diastolic: 82 }],
    labs: [
      { kind: 'potassium' as const, date: '2026-05-01', value: 4.2 },
      { kind: 'egfr' as const, date: '2026-05-01', value: 42 },
    ],
  };

  test('a failed blood-pressure threshold cites the Observation and its reading', async () => {
    const d = await triage({ drug: 'losartan', ...current });
    const bp = d.criteria.find((c) => c.id === 'bp_below_140_90');
    expect(bp?.passed).toBe(false);
    expect(bp?.evidence).toEqual([
      {
        resourceType: 'Observation',
        id: 'bp-1',
        date: '2026-01-10',
        value: '144/82',
        display: 'Blood pressure: 144/82 mm[Hg]',
      },
    ]);
    expect(bp?.explanation).toBe(
      'Last blood pressure 144/82 (2026-01-10) is 140/90 or above: the patient needs a visit; bridge supply until then.',
    );
  });

  test('lab criteria cite the result with its value', async () => {
    const d = await triage({ drug: 'losartan', ...current });
    expect(d.criteria.find((c) => c.id === 'potassium_below_5_0')?.evidence).toEqual([
      expect.objectContaining({ resourceType: 'Observation', id: 'obs-1', date: '2026-05-01', value: 4.2 }),
    ]);
    const cadence = d.criteria.find((c) => c.id === 'renal_labs_at_egfr_cadence');
    expect(cadence?.passed).toBe(true);
    expect(cadence?.evidence.map((e) => e.id)).toEqual(['obs-2', 'obs-1']);
    expect(cadence?.explanation).toBe(
      'eGFR 42 (2026-05-01) with potassium on 2026-05-01: recent enough for this eGFR.',
    );
  });

  test('a missing lab says so', async () => {
    const d = await triage({ drug: 'levothyroxine', visits: current.visits });
    const tsh = d.criteria.find((c) => c.id === 'tsh_within_12mo');
    expect(tsh?.evidence).toEqual([]);
    expect(tsh?.explanation).toBe(
      'No TSH within 12 months (last: none on file): the patient needs labs; bridge supply until then.',
    );
    // The threshold does not judge a value that is not there.
    expect(d.criteria.some((c) => c.id === 'tsh_in_range')).toBe(false);
  });
});

describe('drug classes the protocol names', () => {
  test.each([
    ['Lisinopril 20 mg / hydrochlorothiazide 12.5 mg tablet', ['ace_inhibitor', 'diuretic', 'thiazide']],
    ['Valsartan 80 mg tablet', ['angiotensin_receptor_blocker']],
    ['Chlorthalidone 25 mg tablet', ['diuretic', 'thiazide']],
    ['Bumetanide 1 mg tablet', ['diuretic', 'loop_diuretic']],
    ['Eliquis 5 mg tablet', ['anticoagulant', 'doac']],
    ['Edoxaban 60 mg tablet', ['anticoagulant', 'doac']],
    ['Warfarin 5 mg tablet', ['anticoagulant']],
    ['Norethindrone 0.35 mg tablet', ['oral_contraceptive']],
    ['Drospirenone 3 mg / ethinyl estradiol 0.02 mg tablet', ['oral_contraceptive']],
    ['Ethinyl estradiol / norelgestromin transdermal patch', []],
    ['Norethindrone 0.35 mg tablet', ['oral_contraceptive']],
    // An unrecognised co-ingredient: no class, so no category takes it (→ unclear).
    ['Sacubitril 49 mg / valsartan 51 mg tablet', []],
    ['Sacubitril/valsartan 24/26 mg tablet', []],
    ['Entresto 97/103 tablet', []],
    ['Drospirenone 0.5 mg / estradiol 1 mg tablet', []],
    ['Angeliq tablet', []],
    ['Losartan potassium 50 mg and a new ingredient 10 mg tablet', []],
    // Units after a slash are no co-ingredient.
    ['Albuterol HFA 90 mcg/actuation inhaler', ['asthma_inhaler', 'short_acting_beta_agonist']],
  ])('%s → %j', (text, classes) => {
    expect(classifyDrug({ rxnormCodes: [], texts: [text] }).classes).toEqual(classes);
  });
});

describe('family-medicine-2015 is unchanged by the new drug classes and facts', () => {
  const everything: Omit<ScenarioSpec, 'drug'> = {
    visits: [{ kind: 'pcp', date: '2026-01-10' }],
    bloodPressures: [{ date: '2026-01-10', systolic: 120, diastolic: 70 }],
    labs: [
      { kind: 'potassium', date: '2026-05-01', value: 4.2 },
      { kind: 'egfr', date: '2026-05-01', value: 75 },
      { kind: 'tsh', date: '2026-05-01', value: 2 },
      { kind: 'lipid', date: '2026-05-01' },
    ],
  };
  test.each([
    'losartan',
    'lisinoprilHctz',
    'hydrochlorothiazide',
    'furosemide',
    'atorvastatin',
    'levothyroxine',
    'apixaban',
    'oralContraceptive',
    'norethindronePop',
    'sacubitrilValsartan',
    'rivaroxaban20',
  ] as const)('%s is still not in the reference protocol', async (drug) => {
    const d = await triage({ drug, ...everything }, familyMedicine);
    expect(d.disposition).toBe('doctor_review');
    expect(d.failedCriteria).toEqual(['medication_not_in_protocol']);
  });

  test('dabigatran (now also a DOAC) still follows AC-1 there', async () => {
    const d = await triage({ drug: 'dabigatran', ...everything }, familyMedicine);
    expect(d.disposition).toBe('approve');
    expect(d.criteria.map((c) => c.id)).toEqual([
      'active_allergy_to_requested_drug',
      'medication_not_active',
      'office_visit_within_12mo',
    ]);
  });
});
