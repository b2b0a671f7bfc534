// The golden FHIR cases of crc-screening-2021 (test/helpers/care-gap-golden.ts) run through the CLI's and worker's
// path (careGapFactsFromBundle → evaluateCareGap), and the evidence each decision cites.
import type { Resource } from '@medplum/fhirtypes';
import { describe, expect, test } from 'vitest';
import { careGapFactsFromBundle } from '../../../facts/care-gap/index.ts';
import { CARE_GAP_BUILTINS, evaluateCareGap, type CareGapDecision } from '../../../rules/kinds/care-gap/index.ts';
import { aColonoscopy, aCondition, aPatient, aStoolTest, careGapBundle } from '../../helpers/care-gap-builders.ts';
import { CARE_GAP_GOLDEN as CASES, CARE_GAP_GOLDEN_AS_OF as AS_OF, turning } from '../../helpers/care-gap-golden.ts';

const protocol = CARE_GAP_BUILTINS.find((p) => p.id === 'crc-screening-2021')!;

async function decide(resources: Resource[], asOf = AS_OF): Promise<CareGapDecision> {
  return evaluateCareGap(protocol, careGapFactsFromBundle(careGapBundle(...resources), { asOf }));
}

describe('crc-screening-2021 golden cases', () => {
  test.each(CASES)('%s', async (_name, resources, want) => {
    const d = await decide(resources);
    expect({ disposition: d.disposition, clause: d.clause, reasons: d.reasons.map((r) => r.id) }).toEqual({
      disposition: want.disposition,
      clause: want.clause,
      reasons: want.reasons,
    });
    expect(d.priority).toBe(want.priority ?? (want.clause === 'CRC-8' ? 'urgent' : 'routine'));
    if (want.routeTo !== undefined) expect(d.routeTo).toBe(want.routeTo);
    expect(d.nextDueDate).toBe(want.nextDueDate ?? null);
    if (want.actions !== undefined) expect(d.actions).toEqual(want.actions);
    expect(d.protocol).toEqual({ id: 'crc-screening-2021', version: 1 });
    // Every clause is reported in order: failed before the deciding one, passed at it, not reached after.
    const at = d.clauses.findIndex((c) => c.id === d.clause);
    expect(d.clauses.map((c) => c.id)).toEqual(protocol.clauses.map((c) => c.id));
    expect(d.clauses.map((c) => c.passed)).toEqual(d.clauses.map((_, i) => (i < at ? false : i === at ? true : null)));
  });

  test('every clause decides at least one golden case', async () => {
    const decided = new Set<string>();
    for (const [, resources] of CASES) decided.add((await decide(resources)).clause);
    expect([...decided].sort()).toEqual(protocol.clauses.map((c) => c.id).sort());
  });
});

describe('evidence', () => {
  test('CRC-10 cites the test that closed the gap, and CRC-8 the positive FIT', async () => {
    const closed = await decide([
      aColonoscopy('2020-01-10', { id: 'colo-1' }),
      aStoolTest('fit', '2024-01-01', { id: 'fit-old' }),
    ]);
    expect(closed.reasons[0]?.evidence).toEqual([
      { resourceType: 'Procedure', id: 'colo-1', date: '2020-01-10', display: 'Colonoscopy' },
    ]);
    const clause10 = closed.clauses.find((c) => c.id === 'CRC-10');
    expect(clause10?.evidence.map((e) => e.id)).toEqual(['colo-1']);

    const positive = await decide([aStoolTest('fit', '2026-02-01', { result: 'positive', id: 'fit-pos' })]);
    expect(positive.reasons[0]?.evidence).toContainEqual({
      resourceType: 'Observation',
      id: 'fit-pos',
      date: '2026-02-01',
      value: 'positive',
      display: 'FIT / FOBT',
    });
  });

  test('a failed clause shows what kept it from holding (the test that is out of its window)', async () => {
    const d = await decide([aColonoscopy('2015-01-01', { id: 'colo-old' })]);
    expect(d.clause).toBe('CRC-17');
    expect(d.clauses.find((c) => c.id === 'CRC-10')?.evidence.map((e) => e.id)).toEqual(['colo-old']);
  });

  test('CRC-6 cites the frailty and the advanced illness', async () => {
    const d = await decide([
      aPatient({ birthDate: turning(70) }),
      aCondition('R54', { onset: '2026-01-01', id: 'frail' }),
      aCondition('J43.9', { onset: '2025-01-01', id: 'copd' }),
    ]);
    expect(d.reasons).toEqual([
      {
        id: 'frailty_and_advanced_illness',
        evidence: [
          { resourceType: 'Condition', id: 'copd', date: '2025-01-01', value: 'J43.9', display: 'Advanced illness' },
          { resourceType: 'Condition', id: 'frail', date: '2026-01-01', value: 'R54', display: 'Frailty' },
        ],
      },
    ]);
  });
});
