/* eslint-disable @typescript-eslint/no-explicit-any, @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-assignment, @typescript-eslint/no-unsafe-call -- these tests break protocol documents on purpose, which a typed view would not allow */
// validateProtocol: every problem is a JSON path and a sentence (the API answers 422 with them, the CLI prints them,
// the worker refuses the version). Shape, vocabulary, reachability, empty and overlapping categories, nesting depth,
// and a seeded fuzz run that must never throw.
import { describe, expect, test } from 'vitest';
import { AppError, type ProtocolIssue } from '../../rules/index.ts';
import { parseProtocol, validateProtocol, type ProtocolDefinition } from '../../rules/kinds/refill/protocol.ts';
import { findBuiltinProtocol } from '../../rules/kinds/refill/protocols/index.ts';
import { MAX_PROTOCOL_DEPTH } from '../../rules/schema/protocol.ts';
import { createRng, type Rng } from '../../sandbox/synthetic/prng.ts';

const fm = findBuiltinProtocol('family-medicine-2015') as ProtocolDefinition;
const scc = findBuiltinProtocol('standard-chronic-care') as ProtocolDefinition;
/** A mutable deep copy typed loosely, as an admin's edited document is. */
const edit = (p: ProtocolDefinition): any => structuredClone(p);
const at = (issues: ProtocolIssue[], path: string): string[] =>
  issues.filter((i) => i.path === path).map((i) => i.message);

describe('built-in protocols', () => {
  test.each([fm, scc])('$id is valid and cites a source on every route, guard, category and criterion', (p) => {
    expect(validateProtocol(p)).toEqual([]);
    const rules = [...p.routes, ...p.guards, ...p.categories, ...p.categories.flatMap((c) => c.criteria)];
    for (const r of rules) expect(r.source.length, r.id).toBeGreaterThan(10);
  });

  test("a decision's criteria carry the source of the rule that produced them", async () => {
    const { evaluateProtocol } = await import('../../rules/kinds/refill/evaluate.ts');
    const { compileProtocol } = await import('../../rules/kinds/refill/compile.ts');
    const { syntheticRefillFacts } = await import('../../sandbox/synthetic/facts-corpus.ts');
    const facts = syntheticRefillFacts({ seed: 3, asOf: '2026-06-15', patients: 40 });
    // A criterion id shared by two categories (visit_within_18mo: PPI-1 and ART-1) is reported once, from the first.
    const sources = new Map<string, string[]>();
    for (const r of [...fm.routes, ...fm.guards, ...fm.categories.flatMap((c) => c.criteria)])
      sources.set(r.id, [...(sources.get(r.id) ?? []), r.source]);
    let checked = 0;
    for (const f of facts) {
      const d = await evaluateProtocol(fm, f);
      expect(compileProtocol(fm)(f)).toEqual(d);
      for (const c of d.criteria) {
        if (sources.has(c.id)) expect(sources.get(c.id), c.id).toContain(c.source);
        else expect(c.source, c.id).toBeUndefined();
        if (c.source) checked++;
      }
    }
    expect(checked).toBeGreaterThan(20);
  });

  test('family-medicine-2015 cites the guideline and the clause', () => {
    expect(fm.categories[0]?.criteria[0]?.source).toBe('Family Medicine – Renewal Guidelines (Jan 2015), PPI-1');
  });

  test('standard-chronic-care moved its [S#] citations into source', () => {
    const loop2 = scc.categories.find((c) => c.id === 'loop_diuretic')?.criteria[1];
    expect(loop2?.source).toMatch(/LOOP-2: \[S8\]$/);
    expect(loop2?.description).not.toMatch(/\[S\d+\]/);
  });
});

describe('shape and vocabulary', () => {
  test("afterDate compares with another fact's date, named by fact and path", () => {
    const p = edit(fm);
    const condition = p.categories[0].criteria[0].when.all[0];
    condition.operator = 'afterDate';
    condition.value = { fact: 'therapy', path: '$.startDate' };
    expect(validateProtocol(p)).toEqual([]);
    condition.value = { fact: 'therapy', path: '$.evidence' };
    expect(at(validateProtocol(p), '$.categories[0].criteria[0].when.all[0].value')).toEqual([
      'value does not fit visits.lastPcpRov.date with "afterDate" at $.path: not a date',
    ]);
    condition.value = '2026-01-01';
    expect(at(validateProtocol(p), '$.categories[0].criteria[0].when.all[0].value').length).toBe(1);
  });

  test('source is required on a criterion', () => {
    const p = edit(fm);
    delete p.categories[0].criteria[0].source;
    expect(at(validateProtocol(p), '$.categories[0].criteria[0].source').length).toBe(1);
  });

  test('an unknown fact is named at its path', () => {
    const p = edit(fm);
    p.categories[0].criteria[0].when.all[0].fact = 'insurance';
    const issues = validateProtocol(p);
    expect(issues.some((i) => i.path === '$.categories[0].criteria[0].when.all[0].fact')).toBe(true);
  });

  test('an unknown field of a known fact is named at its path', () => {
    const p = edit(fm);
    p.categories[0].criteria[0].when.all[0].path = '$.lastPcpVisit.date';
    expect(at(validateProtocol(p), '$.categories[0].criteria[0].when.all[0].path')).toEqual([
      'fact "visits" has no field "lastPcpVisit" at $',
    ]);
  });

  test('an operator that does not fit the fact type is refused with a sentence', () => {
    const p = edit(fm);
    p.categories[0].criteria[0].when.all[0] = {
      fact: 'patient',
      path: '$.ageYears',
      operator: 'withinMonths',
      value: 3,
    };
    expect(at(validateProtocol(p), '$.categories[0].criteria[0].when.all[0].operator')).toEqual([
      'operator "withinMonths" needs a date fact, but patient.ageYears is number',
    ]);
  });

  test('a rule may not test free text (snapshots do not keep it)', () => {
    const p = edit(fm);
    p.categories[0].criteria[0].when.all[0] = { fact: 'drug', path: '$.name', operator: 'equal', value: 'Prilosec' };
    expect(at(validateProtocol(p), '$.categories[0].criteria[0].when.all[0].path')[0]).toMatch(/free text/);
    const q = edit(fm);
    q.guards[0].when.all[0] = { fact: 'drug', path: '$.evidence.display', operator: 'equal', value: 'x' };
    expect(at(validateProtocol(q), '$.guards[0].when.all[0].path')[0]).toMatch(/free text/);
  });
});

describe('unreachable rules', () => {
  test('contradictory equals on the same path make a category unreachable', () => {
    const p = edit(fm);
    p.categories[0].when.all.push({ fact: 'drug', path: '$.controlledSchedule', operator: 'equal', value: 'CII' });
    expect(at(validateProtocol(p), '$.categories[0].when')).toEqual([
      'category "antacid_reflux" can never be true: drug.controlledSchedule equal null and drug.controlledSchedule equal "CII": a value cannot equal both',
    ]);
  });

  test("a criterion whose appliesWhen contradicts its category's when never applies", () => {
    const p = edit(fm);
    // asthma_routine_inhaler requires prn = false.
    const ci = p.categories.findIndex((c: { id: string }) => c.id === 'asthma_routine_inhaler');
    p.categories[ci].criteria[0].appliesWhen = {
      all: [{ fact: 'drug', path: '$.prn', operator: 'equal', value: true }],
    };
    const messages = at(validateProtocol(p), `$.categories[${ci}].criteria[0].appliesWhen`);
    expect(messages).toHaveLength(1);
    expect(messages[0]).toMatch(/can never be true: drug\.prn equal false and drug\.prn equal true/);
  });

  test('a criterion that can never pass is reported on its when', () => {
    const p = edit(fm);
    p.categories[0].criteria[0].when.all.push({
      fact: 'visits',
      path: '$.lastPcpRov.date',
      operator: 'onOrBeforeMonthsAgo',
      value: 24,
    });
    expect(at(validateProtocol(p), '$.categories[0].criteria[0].when')[0]).toMatch(
      /could never pass.*withinMonths 18 and .*onOrBeforeMonthsAgo 24: no date is both that recent and that old/,
    );
  });

  test('numeric bounds with no number between them', () => {
    const p = edit(fm);
    p.routes[0].when.all.push(
      { fact: 'patient', path: '$.ageYears', operator: 'lessThan', value: 18 },
      { fact: 'patient', path: '$.ageYears', operator: 'greaterThanInclusive', value: 18 },
    );
    expect(at(validateProtocol(p), '$.routes[0].when')[0]).toMatch(/route "u500_to_endocrinology" can never be true/);
  });

  test('a route shadowed by a higher-precedence route with a weaker condition', () => {
    const p = edit(fm);
    p.routes.push({
      ...p.routes[2],
      id: 'warfarin_adults_to_nurse',
      precedence: 50,
      when: {
        all: [...p.routes[2].when.all, { fact: 'patient', path: '$.ageYears', operator: 'greaterThan', value: 17 }],
      },
    });
    expect(at(validateProtocol(p), '$.routes[3].when')).toEqual([
      'route "warfarin_adults_to_nurse" is unreachable: route "warfarin_to_protime_nurse" (precedence 100) has an identical or weaker condition and is taken first',
    ]);
  });

  test('an identical route at the same precedence later in the document is shadowed; a stronger one is not', () => {
    const p = edit(fm);
    p.routes.push({ ...p.routes[1], id: 'clopidogrel_again' });
    expect(at(validateProtocol(p), '$.routes[3].when')[0]).toMatch(
      /clopidogrel_again.*unreachable.*clopidogrel_provider_each_time/,
    );
    const q = edit(fm);
    q.routes.push({
      ...q.routes[2],
      id: 'warfarin_adults_first',
      precedence: 150,
      when: {
        all: [...q.routes[2].when.all, { fact: 'patient', path: '$.ageYears', operator: 'greaterThan', value: 17 }],
      },
    });
    expect(validateProtocol(q)).toEqual([]);
  });

  test('a category whose selectors admit no drug in the drug table', () => {
    const p = edit(fm);
    p.categories[0].when.all.push({ fact: 'drug', path: '$.ingredients', operator: 'contains', value: 'atorvastatin' });
    expect(at(validateProtocol(p), '$.categories[0].when')).toEqual([
      'category "antacid_reflux" is unreachable: no drug in the drug table has the classes and ingredients it requires',
    ]);
  });

  test('opaque any/not branches are not guessed at (no false alarm)', () => {
    const p = edit(fm);
    p.categories[0].when.all.push({
      any: [
        { fact: 'drug', path: '$.controlledSchedule', operator: 'equal', value: 'CII' },
        { fact: 'drug', path: '$.prn', operator: 'equal', value: true },
      ],
    });
    expect(validateProtocol(p)).toEqual([]);
  });
});

describe('categories', () => {
  test('a category with no criteria must say it approves without them', () => {
    const p = edit(scc);
    p.categories[4].criteria = [];
    expect(at(validateProtocol(p), '$.categories[4].criteria')[0]).toMatch(
      /category "statin" has no criteria.*"approvesWithoutCriteria": true/,
    );
    p.categories[4].approvesWithoutCriteria = true;
    expect(validateProtocol(p)).toEqual([]);
  });

  test('approvesWithoutCriteria on a category that has criteria is a contradiction', () => {
    const p = edit(scc);
    p.categories[4].approvesWithoutCriteria = true;
    expect(at(validateProtocol(p), '$.categories[4].approvesWithoutCriteria')).toHaveLength(1);
  });

  test('a duplicated category overlaps (same drugs)', () => {
    const p = edit(scc);
    p.categories.push({ ...p.categories[4], id: 'statin_copy' });
    expect(at(validateProtocol(p), `$.categories[${p.categories.length - 1}].when`)[0]).toMatch(
      /categories "statin" and "statin_copy" select exactly the same drugs \(e\.g\. \w+statin\)/,
    );
  });

  test('two categories admitting the same drug with different supplies overlap', () => {
    const p = edit(scc);
    const statin = p.categories[4];
    p.categories.push({
      ...statin,
      id: 'lipid_and_thyroid',
      when: {
        all: [{ fact: 'drug', path: '$.classes', operator: 'containsAny', value: ['statin', 'thyroid_hormone'] }],
      },
      supply: [
        {
          id: 'three_months',
          clause: 'LIP-9',
          description: 'Three months for everyone.',
          when: statin.when,
          supply: { renewalMonths: 3 },
        },
      ],
    });
    const last = p.categories.length - 1;
    const messages = validateProtocol(p)
      .filter((i) => i.path === `$.categories[${last}].when`)
      .map((i) => i.message);
    expect(
      messages.some((m) => /"statin" and "lipid_and_thyroid" both match .* but give different supplies/.test(m)),
    ).toBe(true);
    expect(messages.some((m) => /"thyroid_hormone" and "lipid_and_thyroid"/.test(m))).toBe(true);
  });

  test('categories split by a condition that cannot hold together do not overlap (routine vs PRN inhalers)', () => {
    // family-medicine-2015 already has both; a combination drug matching two categories through different
    // ingredients is likewise not an overlap (naproxen/esomeprazole: arthritis and antacid).
    expect(fm.categories.filter((c) => c.id.startsWith('asthma_'))).toHaveLength(2);
    expect(validateProtocol(fm)).toEqual([]);
  });

  test('inhaled vs nasal fluticasone: different dose forms do not overlap', () => {
    const p = edit(fm);
    const ai = p.categories.findIndex((c: { id: string }) => c.id === 'asthma_prn_inhaler');
    p.categories[ai].supply = [{ ...p.categories[ai].supply[0], supply: { quantity: 2, refills: 2 } }];
    expect(validateProtocol(p)).toEqual([]);
  });
});

describe('nesting depth', () => {
  const deep = (n: number): unknown => {
    let c: unknown = { fact: 'drug', path: '$.prn', operator: 'equal', value: true };
    for (let i = 0; i < n; i++) c = { not: c };
    return c;
  };

  test('a 5,000-deep document is invalid, not a stack overflow', () => {
    const p = edit(fm);
    p.categories[0].when = deep(5000);
    expect(validateProtocol(p)).toEqual([{ path: '$', message: `nested deeper than ${MAX_PROTOCOL_DEPTH} levels` }]);
    expect(() => parseProtocol(p)).toThrow(AppError);
  });

  test('a reasonably nested condition is still accepted', () => {
    const p = edit(fm);
    p.categories[0].when = { all: [p.categories[0].when, { not: { not: deep(0) } }] };
    p.categories[0].when.all[1] = {
      not: { not: { all: [{ fact: 'drug', path: '$.prn', operator: 'equal', value: false }] } },
    };
    expect(validateProtocol(p)).toEqual([]);
  });
});

describe('fuzz: mutated documents never throw and every issue has a path', () => {
  const JUNK = (rng: Rng): unknown =>
    rng.pick<() => unknown>([
      () => null,
      () => rng.int(-5, 1000),
      () => '',
      () => 'x'.repeat(rng.int(1, 30)),
      () => [],
      () => ({}),
      () => true,
      () => ({ all: [] }),
      () => ({ fact: 'constructor', path: '$.__proto__', operator: 'equal', value: 1 }),
      () => ({ condition: 'toString' }),
      () => rng.pick(['withinMonths', 'contains', '$.lastPcpRov.date', 'drug', 'NaN', '__proto__']),
    ])();

  /** Replaces, deletes, duplicates or junk-fills a random node of the document. */
  function mutate(doc: unknown, rng: Rng): unknown {
    const copy = structuredClone(doc);
    const times = rng.int(1, 4);
    for (let t = 0; t < times; t++) {
      const nodes: [Record<string, unknown> | unknown[], string | number][] = [];
      const walk = (v: unknown): void => {
        if (Array.isArray(v))
          v.forEach((x, i) => {
            nodes.push([v, i]);
            walk(x);
          });
        else if (v && typeof v === 'object')
          for (const [k, x] of Object.entries(v)) {
            nodes.push([v as Record<string, unknown>, k]);
            walk(x);
          }
      };
      walk(copy);
      if (!nodes.length) break;
      const [parent, key] = rng.pick(nodes);
      const op = rng.int(0, 3);
      const get = (): unknown => (parent as Record<string | number, unknown>)[key];
      const set = (v: unknown): void => void ((parent as Record<string | number, unknown>)[key] = v);
      if (op === 0) set(JUNK(rng));
      else if (op === 1 && !Array.isArray(parent)) delete parent[key as string];
      else if (op === 2 && Array.isArray(parent)) parent.push(structuredClone(get()));
      else {
        const [otherParent, otherKey] = rng.pick(nodes);
        set(structuredClone((otherParent as Record<string | number, unknown>)[otherKey]));
      }
    }
    return copy;
  }

  test('3,000 seeded mutations of the built-in protocols', () => {
    const rng = createRng(4_2026);
    let invalid = 0;
    let unreachableOrOverlap = 0;
    for (let i = 0; i < 3000; i++) {
      const doc = mutate(i % 2 ? fm : scc, rng);
      let issues: ProtocolIssue[] = [];
      expect(() => (issues = validateProtocol(doc))).not.toThrow();
      expect(Array.isArray(issues)).toBe(true);
      for (const issue of issues) {
        expect(issue.path).toMatch(/^\$/);
        expect(issue.message.length).toBeGreaterThan(3);
      }
      if (issues.length) invalid++;
      if (
        issues.some((x) =>
          /never be true|unreachable|overlap|same drugs|different supplies|no criteria/.test(x.message),
        )
      )
        unreachableOrOverlap++;
      // parseProtocol agrees with validateProtocol and throws only AppError.
      if (issues.length && i % 10 === 0) expect(() => parseProtocol(doc)).toThrow(AppError);
    }
    // Not vacuous: most mutations break the document, and the semantic checks are exercised.
    expect(invalid).toBeGreaterThan(2000);
    expect(unreachableOrOverlap).toBeGreaterThan(0);
  }, 120_000);

  test('non-object inputs', () => {
    for (const doc of [null, undefined, 0, 'protocol', [], [fm], { ...fm, categories: null }])
      expect(validateProtocol(doc).length).toBeGreaterThan(0);
  });
});
