// Golden cases for the standard chronic-care protocol, written from its criteria and the sources they cite. Each case
// is a FHIR scenario run end to end (bundle → record → facts → decision), so the table checks the new lab and vital
// extraction as much as the rules.
import { describe, expect, test } from 'vitest';
import { extractRefillFacts, patientRecordFromBundle } from '../../activities/facts/index.ts';
import { compileProtocol } from '../../rules/engine/compile.ts';
import { evaluateProtocol } from '../../rules/engine/index.ts';
import { classifyDrug } from '../../rules/drugs/classify.ts';
import { findBuiltinProtocol } from '../../rules/protocols/index.ts';
import { forEachCondition, type ProtocolDefinition, type TriageDecision } from '../../rules/index.ts';
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

const compiled = new Map([protocol, familyMedicine].map((p) => [p, compileProtocol(p)]));

/** Bundle → facts → decision with json-rules-engine; the compiled evaluator must give the identical decision. */
async function triage(scenario: ScenarioSpec, p: ProtocolDefinition = protocol): Promise<TriageDecision> {
  const record = patientRecordFromBundle(aRefillBundle(scenario));
  const facts = extractRefillFacts(record, { asOf: scenario.asOf ?? '2026-06-15' });
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

describe('standard-chronic-care v1 golden cases', () => {
  test('is built in and registered next to the reference protocol', () => {
    expect(protocol).toBeDefined();
    expect(protocol.id).toBe('standard-chronic-care');
    expect(familyMedicine).toBeDefined();
  });

  test.each(file.cases)('[$clause] $name', async ({ name, scenario, expected }) => {
    const decision = await triage(scenario as unknown as ScenarioSpec);
    decisions.set(name, decision);
    expect({
      disposition: decision.disposition,
      failedCriteria: decision.failedCriteria,
      approvedSupply: decision.approvedSupply,
      bridgeSupply: decision.bridgeSupply,
      routeTo: decision.routeTo,
      actions: decision.actions,
    }).toEqual({ ...DEFAULTS[expected.disposition], actions: [], ...expected });
    expect(decision.criteria.filter((c) => !c.passed).map((c) => c.id)).toEqual(decision.failedCriteria);
    expect(decision.protocol).toEqual({ id: 'standard-chronic-care', version: 1 });
    // Every placeholder was filled.
    for (const c of decision.criteria) expect(c.explanation).not.toMatch(/\{\{|\}\}/);
  });

  test('every criterion passes in at least one case and fails in at least one; every route and supply rule is used', () => {
    const all = [...decisions.values()].flatMap((d) => d.criteria);
    const { criteria, routes, supplies, bridges } = rules(protocol);
    for (const id of new Set(criteria.map((r) => r.id))) {
      expect(
        all.some((c) => c.id === id && c.passed),
        `${id} never passes`,
      ).toBe(true);
      expect(
        all.some((c) => c.id === id && !c.passed),
        `${id} never fails`,
      ).toBe(true);
    }
    for (const route of routes) expect(all.some((c) => c.id === route.id)).toBe(true);
    expect(all.some((c) => c.id === 'medication_not_in_protocol')).toBe(true);
    const given = [...decisions.values()].map((d) => JSON.stringify(d.approvedSupply ?? d.bridgeSupply));
    for (const s of [...supplies, ...bridges]) {
      expect(given, `${s.id} never decides a supply`).toContain(JSON.stringify(s.supply));
    }
    // Every category is exercised by a case whose drug falls in it.
    const reached = new Set(file.cases.map((c) => c.clause.split('-')[0]));
    for (const c of protocol.categories) expect(reached, c.id).toContain(c.clause.split('-')[0]);
  });

  test('every criterion, route, supply and bridge rule cites a source from the landscape document', () => {
    const { criteria, routes, supplies, bridges } = rules(protocol);
    // Criteria, routes and categories carry their citations in `source`; supply and bridge rules in the description.
    for (const r of [...criteria, ...routes, ...protocol.categories]) expect(r.source, r.id).toMatch(/\[S\d+\]/);
    for (const r of [...supplies, ...bridges]) expect(r.description, r.id).toMatch(/\[S\d+\]/);
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
    expect(paths).toContain('labs.lastPotassium.value');
    expect(paths).toContain('labs.lastEgfr.value');
    expect(paths).toContain('labs.lastTsh.value');
    expect(paths).toContain('vitals.lastBloodPressure.systolic');
    expect(paths).toContain('vitals.lastBloodPressure.diastolic');
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
