// The fast simulation (compiled evaluator, optional worker threads) must report exactly what the json-rules-engine
// simulation in rules/engine/simulate.ts reports, whether cases arrive as objects or as stored JSON text, on one
// thread or several.
import { beforeAll, describe, expect, test } from 'vitest';
import { simulateProtocolFast } from '../../activities/kinds/refill/simulation.ts';
import { compileProtocol } from '../../rules/kinds/refill/compile.ts';
import { simulateProtocol, type RecordedCase } from '../../rules/kinds/refill/simulate.ts';
import { parseProtocol, type ProtocolDefinition } from '../../rules/kinds/refill/protocol.ts';
import { findBuiltinProtocol } from '../../rules/kinds/refill/protocols/index.ts';
import { refillFactsCorpus, syntheticRefillFacts } from '../../sandbox/synthetic/facts-corpus.ts';

const v1 = findBuiltinProtocol('family-medicine-2015') as ProtocolDefinition;

/** v2: the PPI visit window (18 months in v1) set to `months`. */
function ppiWindow(months: number): ProtocolDefinition {
  const p = structuredClone(v1);
  const crit = p.categories.find((c) => c.id === 'antacid_reflux')?.criteria[0];
  if (!crit || !('all' in crit.when)) throw new Error('fixture: PPI criterion not found');
  (crit.when.all[0] as { value: number }).value = months;
  return parseProtocol({ ...p, version: 2 });
}

let cases: RecordedCase[] = [];
beforeAll(() => {
  const facts = refillFactsCorpus(syntheticRefillFacts({ seed: 77, patients: 300, asOf: '2026-08-31' }), 3_000, 7);
  const record = compileProtocol(v1);
  cases = facts.map((f, i) => ({ caseId: `case-${i}`, recordedAt: f.asOf, facts: f, decision: record(f) }));
}, 60_000);

describe('simulateProtocolFast', () => {
  test('one thread: the same report as the json-rules-engine simulation, with changed cases', async () => {
    const v2 = ppiWindow(6);
    const expected = await simulateProtocol(v2, cases);
    const actual = await simulateProtocolFast(v2, cases, { workers: 0 });
    expect(actual).toEqual(expected);
    expect(actual.changed.length).toBeGreaterThan(0);
    // Only the PPI window changed, so every changed case changed because of it.
    for (const c of actual.changed) expect(c.criteria.map((f) => f.id)).toContain('visit_within_18mo');
  }, 60_000);

  test('worker threads, objects or stored JSON text: the same report, progress up to the total', async () => {
    const v2 = ppiWindow(3);
    const expected = await simulateProtocolFast(v2, cases, { workers: 0 });
    const progress: number[] = [];
    const viaWorkers = await simulateProtocolFast(v2, cases, {
      workers: 2,
      chunkSize: 250,
      onProgress: (done, total) => {
        expect(total).toBe(cases.length);
        progress.push(done);
      },
    });
    expect(viaWorkers).toEqual(expected);
    expect(progress.at(-1)).toBe(cases.length);
    expect(progress).toEqual([...progress].sort((a, b) => a - b));
    const texts = cases.map((c) => JSON.stringify(c));
    expect(await simulateProtocolFast(v2, texts, { workers: 1, chunkSize: 400 })).toEqual(expected);
  }, 60_000);

  test('no cases: an empty report', async () => {
    const report = await simulateProtocolFast(v1, []);
    expect(report.evaluated).toBe(0);
    expect(report.after.automationRate).toBeNull();
    expect(report.changed).toEqual([]);
  });
});
