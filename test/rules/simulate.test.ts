// Simulation compares a protocol version with the decisions recorded at the time, case by case.
import { describe, expect, test } from 'vitest';
import { criteriaFlips, simulateProtocol, type RecordedCase } from '../../rules/kinds/refill/simulate.ts';
import { evaluateProtocol } from '../../rules/kinds/refill/evaluate.ts';
import type { ProtocolDefinition } from '../../rules/kinds/refill/protocol.ts';
import type { TriageDecision } from '../../rules/kinds/refill/decision.ts';
import { findBuiltinProtocol } from '../../rules/kinds/refill/protocols/index.ts';
import { extractRefillFacts, patientRecordFromBundle } from '../../facts/refill/index.ts';
import { aRefillBundle } from '../helpers/fhir-builders.ts';

const v1 = findBuiltinProtocol('family-medicine-2015')!;

function withPpiWindow(months: number): ProtocolDefinition {
  const p = structuredClone(v1);
  const crit = p.categories.find((c) => c.id === 'antacid_reflux')!.criteria[0]!;
  (crit.when as { all: { value: number }[] }).all[0]!.value = months;
  return p;
}

const decision = (over: Partial<TriageDecision>): TriageDecision => ({
  disposition: 'approve',
  failedCriteria: [],
  criteria: [],
  approvedSupply: null,
  bridgeSupply: null,
  routeTo: null,
  actions: [],
  protocol: { id: 'p', version: 1 },
  drug: { name: 'x', ingredients: [], classes: [], controlledSchedule: null },
  ...over,
});
const crit = (id: string, passed: boolean) => ({ id, clause: 'X-1', passed, explanation: 'e', evidence: [] });

describe('criteriaFlips', () => {
  test('lists criteria whose result changed, null where a criterion was not evaluated', () => {
    const before = decision({ criteria: [crit('a', true), crit('b', true), crit('c', false)] });
    const after = decision({ criteria: [crit('a', true), crit('b', false), crit('d', true)] });
    expect(criteriaFlips(before, after)).toEqual([
      { id: 'b', clause: 'X-1', before: true, after: false },
      { id: 'c', clause: 'X-1', before: false, after: null },
      { id: 'd', clause: 'X-1', before: null, after: true },
    ]);
  });
});

describe('simulateProtocol', () => {
  test('a PPI patient last seen 14 months ago: approved under 18 months, needs a visit under 12', async () => {
    const facts = (lastVisit: string) =>
      extractRefillFacts(
        patientRecordFromBundle(aRefillBundle({ drug: 'omeprazole', visits: [{ kind: 'pcp', date: lastVisit }] })),
        { asOf: '2026-06-15' },
      );
    const cases: RecordedCase[] = [];
    for (const [caseId, date] of [
      ['old', '2025-04-15'],
      ['recent', '2026-01-10'],
    ] as const) {
      const f = facts(date);
      cases.push({ caseId, recordedAt: '2026-06-15T10:00:00Z', facts: f, decision: await evaluateProtocol(v1, f) });
    }
    expect(cases.map((c) => c.decision.disposition)).toEqual(['approve', 'approve']);

    const same = await simulateProtocol(v1, cases);
    expect(same.changed).toEqual([]);
    expect(same.before).toEqual(same.after);

    const report = await simulateProtocol(withPpiWindow(12), cases);
    expect(report.evaluated).toBe(2);
    expect(report.before).toEqual({
      counts: { approve: 2, needs_visit: 0, nurse_review: 0, doctor_review: 0 },
      automationRate: 1,
    });
    expect(report.after).toEqual({
      counts: { approve: 1, needs_visit: 1, nurse_review: 0, doctor_review: 0 },
      automationRate: 0.5,
    });
    expect(report.changed).toEqual([
      {
        caseId: 'old',
        recordedAt: '2026-06-15T10:00:00Z',
        before: { disposition: 'approve', protocolVersion: 1, failedCriteria: [] },
        after: { disposition: 'needs_visit', failedCriteria: ['visit_within_18mo'] },
        criteria: [{ id: 'visit_within_18mo', clause: 'PPI-1', before: true, after: false }],
      },
    ]);
  });

  test('no cases: rates are null, not NaN', async () => {
    const r = await simulateProtocol(v1, []);
    expect(r.before.automationRate).toBeNull();
    expect(r.after.automationRate).toBeNull();
  });
});
