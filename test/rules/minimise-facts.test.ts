// PHI-minimised snapshots: minimiseFacts drops names and free text, and every protocol decides exactly as on the full
// facts (disposition, failed criteria, supplies, route, actions), over the synthetic corpus of extracted and mutated
// facts. The json-rules-engine evaluator checks a sample; the compiled one (proven identical in compile.test.ts)
// checks the whole corpus.
import { beforeAll, describe, expect, test } from 'vitest';
import { compileProtocol } from '../../rules/kinds/refill/compile.ts';
import { evaluateProtocol } from '../../rules/kinds/refill/evaluate.ts';
import { RefillFactsSchema, type RefillFacts } from '../../rules/kinds/refill/facts.ts';
import { type ProtocolDefinition } from '../../rules/kinds/refill/protocol.ts';
import { type TriageDecision } from '../../rules/kinds/refill/decision.ts';
import { findBuiltinProtocol } from '../../rules/kinds/refill/protocols/index.ts';
import { canonicalDrugLabel, minimiseFacts } from '../../rules/kinds/refill/minimise-facts.ts';
import { refillFactsCorpus, syntheticRefillFacts } from '../../sandbox/synthetic/facts-corpus.ts';

const PROTOCOLS = ['family-medicine-2015', 'standard-chronic-care'].map(
  (id) => findBuiltinProtocol(id) as ProtocolDefinition,
);

let corpus: RefillFacts[] = [];
beforeAll(() => {
  const base = [
    { seed: 21, asOf: '2026-06-15' },
    { seed: 22, asOf: '2028-02-29' },
  ].flatMap((c) => syntheticRefillFacts({ ...c, patients: 300 }));
  corpus = [...base, ...refillFactsCorpus(base, 10_000, 7_301)];
}, 120_000);

const verdict = (d: TriageDecision) => ({
  disposition: d.disposition,
  failedCriteria: d.failedCriteria,
  approvedSupply: d.approvedSupply,
  bridgeSupply: d.bridgeSupply,
  routeTo: d.routeTo,
  actions: d.actions,
});

/** Every string in a value, with its path. */
function strings(v: unknown, path = '$', out: [string, string][] = []): [string, string][] {
  if (typeof v === 'string') out.push([path, v]);
  else if (Array.isArray(v)) v.forEach((x, i) => strings(x, `${path}[${i}]`, out));
  else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) strings(x, `${path}.${k}`, out);
  return out;
}

describe('minimiseFacts', () => {
  test('drops every display and the product text; keeps a valid facts document', () => {
    const withText = corpus.filter((f) => strings(f).some(([p]) => p.endsWith('.display')));
    expect(withText.length).toBeGreaterThan(100); // not vacuous: the extractor does write displays
    for (const f of corpus) {
      const m = minimiseFacts(f);
      expect(RefillFactsSchema.safeParse(m).success).toBe(true);
      const texts = strings(m);
      expect(texts.filter(([p]) => p.endsWith('.display'))).toEqual([]);
      expect(m.drug.name).toBe(canonicalDrugLabel(f.drug));
      // What is left is codes, dates, ids, enums and measurements: no words with spaces except canonical ingredient names.
      for (const [p, s] of texts)
        if (p !== '$.drug.name' && !p.startsWith('$.drug.ingredients[')) expect(s, p).not.toMatch(/[a-z]\s+[a-z]/i);
    }
  });

  test('keeps what rules read: dates, numbers, codes, numeric evidence values', () => {
    const f = corpus.find((x) => x.labs.lastA1c && x.vitals.lastBloodPressure)!;
    const m = minimiseFacts(f);
    expect(m.labs.lastA1c?.value).toEqual(f.labs.lastA1c?.value);
    expect(m.labs.lastA1c?.date).toBe(f.labs.lastA1c?.date);
    expect(m.vitals.lastBloodPressure?.systolic).toBe(f.vitals.lastBloodPressure?.systolic);
    expect(m.drug.classes).toEqual(f.drug.classes);
    expect(m.drug.rxnormCodes).toEqual(f.drug.rxnormCodes);
    expect(minimiseFacts(m)).toEqual(m); // idempotent
    expect(m).not.toBe(f);
  });

  test.each(PROTOCOLS)(
    '$id decides the same on minimised facts (json-rules-engine, 2,000 cases)',
    async (p) => {
      const sample = corpus.filter((_, i) => i % 6 === 0).slice(0, 2000);
      const differ: number[] = [];
      for (const [i, f] of sample.entries()) {
        const [a, b] = [await evaluateProtocol(p, f), await evaluateProtocol(p, minimiseFacts(f))];
        if (JSON.stringify(verdict(a)) !== JSON.stringify(verdict(b))) differ.push(i);
      }
      expect(differ).toEqual([]);
    },
    120_000,
  );

  test.each(PROTOCOLS)(
    '$id decides the same on minimised facts (compiled, whole corpus)',
    (p) => {
      const decide = compileProtocol(p);
      const seen = new Set<string>();
      for (const f of corpus) {
        const a = decide(f);
        seen.add(a.disposition);
        expect(verdict(decide(minimiseFacts(f)))).toEqual(verdict(a));
      }
      expect(seen.size).toBeGreaterThanOrEqual(3);
    },
    120_000,
  );
});
