// simulateCompiled is the drop-in for simulateProtocol (json-rules-engine): the same report on the same cases.
import { describe, expect, test } from 'vitest';
import { compileProtocol } from '../../rules/kinds/refill/compile.ts';
import { simulateCompiled } from '../../rules/kinds/refill/simulate-compiled.ts';
import { simulateProtocol, type RecordedCase } from '../../rules/kinds/refill/simulate.ts';
import { parseProtocol, type ProtocolDefinition } from '../../rules/kinds/refill/protocol.ts';
import { findBuiltinProtocol } from '../../rules/kinds/refill/protocols/index.ts';
import { refillFactsCorpus, syntheticRefillFacts } from '../../sandbox/synthetic/facts-corpus.ts';

const v1 = findBuiltinProtocol('family-medicine-2015') as ProtocolDefinition;

describe('simulateCompiled', () => {
  test('reports what simulateProtocol reports: counts, automation rate, changed cases and their criteria', async () => {
    const facts = refillFactsCorpus(syntheticRefillFacts({ seed: 5, patients: 200, asOf: '2026-03-31' }), 1_500, 3);
    const record = compileProtocol(v1);
    const cases: RecordedCase[] = facts.map((f, i) => ({
      caseId: `c-${i}`,
      recordedAt: f.asOf,
      facts: f,
      decision: record(f),
    }));
    // v2: no guards (allergy and inactive prescriptions no longer stop a renewal) and no highest-precedence route.
    const v2 = parseProtocol({ ...v1, version: 2, guards: [], routes: v1.routes.slice(1) });
    const expected = await simulateProtocol(v2, cases);
    expect(expected.changed.length).toBeGreaterThan(10);
    expect(simulateCompiled(v2, cases)).toEqual(expected);
    expect(
      simulateCompiled(
        v2,
        cases.map((c) => JSON.stringify(c)),
      ),
    ).toEqual(expected);
    expect(simulateCompiled(v1, cases).changed).toEqual([]);
  }, 60_000);
});
