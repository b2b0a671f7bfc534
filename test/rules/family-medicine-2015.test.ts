// Golden cases for the reference protocol, written from its clauses. Each case is a FHIR scenario run end to end
// (bundle → record → facts → decision), so the table checks the FHIR encoding as much as the rules.
import { describe, expect, test } from 'vitest';
import { extractRefillFacts, patientRecordFromBundle } from '../../facts/refill/index.ts';
import { evaluateProtocol } from '../../rules/kinds/refill/evaluate.ts';
import { findBuiltinProtocol } from '../../rules/kinds/refill/protocols/index.ts';
import type { ProtocolDefinition } from '../../rules/kinds/refill/protocol.ts';
import type { TriageDecision } from '../../rules/kinds/refill/decision.ts';
import { aRefillBundle, type ScenarioSpec } from '../helpers/fhir-builders.ts';
import { loadGoldenCases } from '../helpers/golden.ts';

const file = loadGoldenCases('family-medicine-2015');

const DEFAULTS = {
  approve: { approvedSupply: { renewalMonths: 12 }, bridgeSupply: null, routeTo: null },
  needs_visit: { approvedSupply: null, bridgeSupply: { quantity: 30, refills: 1 }, routeTo: null },
  nurse_review: { approvedSupply: null, bridgeSupply: null, routeTo: 'protime_nurse_pool' },
  doctor_review: { approvedSupply: null, bridgeSupply: null, routeTo: 'pcp_or_coverage' },
} as const;

const protocol = findBuiltinProtocol(file.protocol, file.version) as ProtocolDefinition;
const decisions = new Map<string, TriageDecision>();

async function triage(scenario: ScenarioSpec): Promise<TriageDecision> {
  const record = patientRecordFromBundle(aRefillBundle(scenario));
  return evaluateProtocol(protocol, extractRefillFacts(record, { asOf: scenario.asOf ?? '2026-06-15' }));
}

describe('family-medicine-2015 v1 golden cases', () => {
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
    // The protocol never denies, and every reported failure is a criterion the decision lists.
    expect(decision.criteria.filter((c) => !c.passed).map((c) => c.id)).toEqual(decision.failedCriteria);
    expect(decision.protocol).toEqual({ id: 'family-medicine-2015', version: 1 });
  });

  test('every criterion of the protocol passes in at least one case and fails in at least one', () => {
    const all = [...decisions.values()].flatMap((d) => d.criteria);
    const ids = [
      ...protocol.guards.map((g) => g.id),
      ...protocol.categories.flatMap((c) => c.criteria.map((r) => r.id)),
    ];
    for (const id of new Set(ids)) {
      expect(
        all.some((c) => c.id === id && c.passed),
        `${id} never passes`,
      ).toBe(true);
      expect(
        all.some((c) => c.id === id && !c.passed),
        `${id} never fails`,
      ).toBe(true);
    }
    for (const route of protocol.routes) {
      expect(
        all.some((c) => c.id === route.id),
        `${route.id} never fires`,
      ).toBe(true);
    }
    expect(all.some((c) => c.id === 'medication_not_in_protocol')).toBe(true);
  });
});

describe('decisions carry their evidence', () => {
  test('a passed visit criterion names the encounter and its date, in words a nurse reads', async () => {
    const d = await triage({ drug: 'omeprazole', visits: [{ kind: 'pcp', date: '2026-03-01' }] });
    const visit = d.criteria.find((c) => c.id === 'visit_within_18mo');
    expect(visit?.evidence).toEqual([
      { resourceType: 'Encounter', id: 'enc-1', date: '2026-03-01', display: 'Office visit with the PCP' },
    ]);
    expect(visit?.explanation).toBe('Last PCP office visit 2026-03-01 is within 18 months.');
  });

  test('a failed lab criterion says what is missing', async () => {
    const d = await triage({ drug: 'quetiapine', visits: [{ kind: 'pcp', date: '2026-01-10' }] });
    const cbc = d.criteria.find((c) => c.id === 'cbc_within_12mo');
    expect(cbc?.evidence).toEqual([]);
    expect(cbc?.explanation).toContain('last: none on file');
  });

  test('an A1c of exactly 7.0 shows the observation and its value', async () => {
    const d = await triage({
      drug: 'metformin',
      visits: [{ kind: 'pcp', date: '2026-04-15' }],
      labs: [{ kind: 'a1c', date: '2026-05-01', value: 7 }],
    });
    const a1c = d.criteria.find((c) => c.id === 'a1c_order_cadence_undefined');
    expect(a1c?.evidence[0]).toMatchObject({ resourceType: 'Observation', id: 'obs-1', date: '2026-05-01', value: 7 });
    expect(a1c?.explanation).toContain('exactly 7 on 2026-05-01');
  });

  test('the allergy criterion cites the AllergyIntolerance', async () => {
    const d = await triage({
      drug: 'omeprazole',
      visits: [{ kind: 'pcp', date: '2026-03-01' }],
      allergies: [{ drug: 'omeprazole', status: 'active' }],
    });
    expect(d.criteria.find((c) => c.id === 'active_allergy_to_requested_drug')?.evidence).toEqual([
      { resourceType: 'AllergyIntolerance', id: 'allergy-1', display: 'omeprazole' },
    ]);
  });

  test('the decision names the drug as classified', async () => {
    const d = await triage({ drug: 'oxycodone' });
    expect(d.drug).toEqual({
      name: 'Oxycodone HCl 5 mg tablet',
      ingredients: ['oxycodone'],
      classes: ['opioid'],
      controlledSchedule: 'CII',
    });
  });
});
