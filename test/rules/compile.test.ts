// The compiled evaluator must decide exactly what json-rules-engine decides. Property test: the synthetic clinic's
// real extracted facts (several seeds and asOf dates, month ends included) plus seeded mutations on the edges rules
// care about, against the reference protocol and against edited versions of it; every decision must deep-equal
// `evaluateProtocol`'s (criteria, explanations, evidence, supplies, actions — not just the disposition).
import { isDeepStrictEqual } from 'node:util';
import { beforeAll, describe, expect, test } from 'vitest';
import { compileProtocol } from '../../rules/kinds/refill/compile.ts';
import { evaluateProtocol } from '../../rules/kinds/refill/evaluate.ts';
import { AppError } from '../../rules/index.ts';
import { parseProtocol, type Condition, type ProtocolDefinition } from '../../rules/kinds/refill/protocol.ts';
import { type RefillFacts } from '../../rules/kinds/refill/facts.ts';
import { type TriageDecision } from '../../rules/kinds/refill/decision.ts';
import { findBuiltinProtocol } from '../../rules/kinds/refill/protocols/index.ts';
import { refillFactsCorpus, syntheticRefillFacts } from '../../sandbox/synthetic/facts-corpus.ts';

const reference = findBuiltinProtocol('family-medicine-2015') as ProtocolDefinition;

const CLINICS = [
  { seed: 11, asOf: '2026-06-15' },
  { seed: 12, asOf: '2026-08-31' },
  { seed: 13, asOf: '2028-02-29' },
  { seed: 14, asOf: '2026-03-31' },
  { seed: 15, asOf: '2025-12-31' },
];
const PATIENTS = 400;
const CASES = 21_000;

let base: RefillFacts[] = [];
let corpus: RefillFacts[] = [];
beforeAll(() => {
  base = CLINICS.flatMap((c) => syntheticRefillFacts({ ...c, patients: PATIENTS }));
  corpus = refillFactsCorpus(base, CASES, 20_151);
}, 120_000);

interface Mismatch {
  index: number;
  facts: RefillFacts;
  compiled: TriageDecision | string;
  reference: TriageDecision;
}

/** Runs both evaluators on every snapshot; returns the dispositions seen and the first mismatches. */
async function compare(protocol: ProtocolDefinition, cases: readonly RefillFacts[]) {
  const compiled = compileProtocol(protocol);
  const mismatches: Mismatch[] = [];
  const dispositions = new Map<string, number>();
  for (const [index, facts] of cases.entries()) {
    const expected = await evaluateProtocol(protocol, facts);
    let actual: TriageDecision | string;
    try {
      actual = compiled(facts);
    } catch (e) {
      actual = `threw: ${String(e)}`;
    }
    dispositions.set(expected.disposition, (dispositions.get(expected.disposition) ?? 0) + 1);
    if (!isDeepStrictEqual(actual, expected) && mismatches.length < 3)
      mismatches.push({ index, facts, compiled: actual, reference: expected });
  }
  return { mismatches, dispositions };
}

/** A copy of the protocol with every month count of every condition mapped through `f` (shared conditions too). */
function withWindows(p: ProtocolDefinition, f: (months: number) => number): ProtocolDefinition {
  const copy = structuredClone(p);
  const walk = (c: Condition): void => {
    if ('all' in c) c.all.forEach(walk);
    else if ('any' in c) c.any.forEach(walk);
    else if ('not' in c) walk(c.not);
    else if ('fact' in c && /MonthsAgo$|^withinMonths$/.test(c.operator)) c.value = f(c.value as number);
  };
  Object.values(copy.conditions ?? {}).forEach(walk);
  for (const r of [...copy.routes, ...copy.guards, ...copy.bridgeSupply]) walk(r.when);
  for (const cat of copy.categories) {
    walk(cat.when);
    for (const r of cat.criteria) {
      walk(r.when);
      if (r.appliesWhen) walk(r.appliesWhen);
    }
    cat.supply?.forEach((s) => walk(s.when));
    cat.actions?.forEach((a) => walk(a.when));
  }
  return parseProtocol(copy);
}

/**
 * A copy of the protocol on the day operators: `withinMonths N` → `withinDays 30·N`, `beforeMonthsAgo N` →
 * `beforeDaysAgo 30·N`, `afterDate` → `onOrAfterDate` (so both evaluators run the operators care gaps use).
 */
function withDayOperators(p: ProtocolDefinition): ProtocolDefinition {
  const copy = structuredClone(p);
  const walk = (c: Condition): void => {
    if ('all' in c) c.all.forEach(walk);
    else if ('any' in c) c.any.forEach(walk);
    else if ('not' in c) walk(c.not);
    else if ('fact' in c && c.operator === 'withinMonths')
      Object.assign(c, { operator: 'withinDays', value: 30 * (c.value as number) });
    else if ('fact' in c && c.operator === 'beforeMonthsAgo')
      Object.assign(c, { operator: 'beforeDaysAgo', value: 30 * (c.value as number) });
    else if ('fact' in c && c.operator === 'afterDate') c.operator = 'onOrAfterDate';
  };
  Object.values(copy.conditions ?? {}).forEach(walk);
  for (const r of [...copy.routes, ...copy.guards, ...copy.bridgeSupply]) walk(r.when);
  for (const cat of copy.categories) {
    walk(cat.when);
    for (const r of cat.criteria) {
      walk(r.when);
      if (r.appliesWhen) walk(r.appliesWhen);
    }
    cat.supply?.forEach((s) => walk(s.when));
    cat.actions?.forEach((a) => walk(a.when));
  }
  return parseProtocol(copy);
}

describe('compileProtocol gives the decisions json-rules-engine gives', () => {
  test('corpus: real extracted facts and mutations on the edges, every drug class, all dispositions', () => {
    expect(base.length).toBe(CLINICS.length * PATIENTS);
    expect(corpus.length).toBe(CASES);
    // The corpus reaches what it claims to: month-end asOf dates, controlled schedules, ages 17–19, A1c ≈ 7, nulls.
    const classes = new Set(corpus.flatMap((f) => f.drug.classes));
    expect(classes.size).toBeGreaterThanOrEqual(20);
    expect(corpus.some((f) => f.drug.controlledSchedule !== null)).toBe(true);
    expect(corpus.some((f) => f.asOf === '2028-02-29')).toBe(true);
    for (const age of [17, 18, 19]) expect(corpus.some((f) => f.patient.ageYears === age)).toBe(true);
    expect(corpus.some((f) => f.labs.lastA1c?.value === 7)).toBe(true);
    expect(corpus.some((f) => f.labs.lastA1c?.value === '7.0')).toBe(true);
    expect(corpus.some((f) => f.visits.lastPcpRov === null)).toBe(true);
  });

  test(`reference protocol: ${CASES.toLocaleString('en-US')} cases, identical decisions`, async () => {
    const { mismatches, dispositions } = await compare(reference, corpus);
    expect(mismatches).toEqual([]);
    // Not a vacuous comparison: every disposition occurs, each many times.
    for (const d of ['approve', 'needs_visit', 'nurse_review', 'doctor_review'])
      expect(dispositions.get(d) ?? 0).toBeGreaterThan(100);
  }, 120_000);

  const variants: [string, (p: ProtocolDefinition) => ProtocolDefinition][] = [
    ['every window one month longer', (p) => withWindows(p, (m) => m + 1)],
    ['every window one month shorter', (p) => withWindows(p, (m) => Math.max(1, m - 1))],
    ['every window doubled', (p) => withWindows(p, (m) => m * 2)],
    ['highest-precedence route removed', (p) => parseProtocol({ ...p, routes: p.routes.slice(1) })],
    ['no routes, no guards', (p) => parseProtocol({ ...p, routes: [], guards: [] })],
    [
      'first category removed, stopOnFail dropped',
      (p) =>
        parseProtocol({
          ...p,
          categories: p.categories.slice(1).map((c) => ({
            ...c,
            criteria: c.criteria.map(({ stopOnFail: _, ...r }) => r),
          })),
        }),
    ],
    ['bridge rules reversed', (p) => parseProtocol({ ...p, bridgeSupply: [...p.bridgeSupply].reverse() })],
    ['day operators (withinDays, beforeDaysAgo, onOrAfterDate)', withDayOperators],
  ];
  test.each(variants)('edited protocol (%s): identical decisions on 2,100 cases', async (_, edit) => {
    const edited = edit(reference);
    expect(edited).not.toEqual(reference);
    // Every 10th case: real extracted facts and mutations alike.
    const { mismatches } = await compare(
      edited,
      corpus.filter((_, i) => i % 10 === 3),
    );
    expect(mismatches).toEqual([]);
  });
});

test('explain: false gives the same decisions without explanation texts and evidence', () => {
  const full = compileProtocol(reference);
  const lean = compileProtocol(reference, { explain: false });
  for (const facts of corpus.filter((_, i) => i % 7 === 0)) {
    const expected = full(facts);
    const stripped = { ...expected, criteria: expected.criteria.map((c) => ({ ...c, explanation: '', evidence: [] })) };
    // Criteria whose evidence is not a fact read (not in protocol, bridge undetermined, controlled) keep it.
    const actual = lean(facts);
    expect({ ...actual, criteria: actual.criteria.map((c) => ({ ...c, explanation: '', evidence: [] })) }).toEqual(
      stripped,
    );
    expect(
      actual.criteria.every((c, i) => c.explanation === '' || c.explanation === expected.criteria[i]?.explanation),
    ).toBe(true);
  }
});

describe('compileProtocol refuses what it cannot evaluate safely', () => {
  test('an unknown fact path is a PROTOCOL_INVALID error with the JSON path', () => {
    const bad = structuredClone(reference);
    bad.routes[0]!.when = {
      all: [{ fact: 'visits', path: '$.lastPcpRov.constructor', operator: 'equal', value: null }],
    };
    const thrown = (() => {
      try {
        compileProtocol(bad);
      } catch (e) {
        return e;
      }
      return null;
    })();
    expect(thrown).toBeInstanceOf(AppError);
    expect((thrown as AppError).code).toBe('PROTOCOL_INVALID');
    expect((thrown as AppError).message).toContain('$.routes[0].when.all[0]');
  });

  test('an unknown or cyclic shared condition is refused', () => {
    const missing = structuredClone(reference);
    missing.routes[0]!.when = { condition: 'nowhere' };
    expect(() => compileProtocol(missing)).toThrow(/unknown shared condition "nowhere"/);
    const cyclic = structuredClone(reference);
    cyclic.conditions = { a: { condition: 'b' }, b: { all: [{ condition: 'a' }] } };
    cyclic.routes[0]!.when = { condition: 'a' };
    expect(() => compileProtocol(cyclic)).toThrow(/refers to itself/);
  });
});
