import { describe, expect, test } from 'vitest';
import type { Operator } from 'json-rules-engine';
import { createOperators, monthsBefore } from '../../rules/engine/index.ts';

const op = (asOf: string, name: string): ((fact: unknown, value: unknown) => boolean) => {
  const found = createOperators(asOf).find((o) => o.name === name) as
    (Operator & { evaluate: (a: unknown, b: unknown) => boolean }) | undefined;
  if (!found) throw new Error(`no operator ${name}`);
  return (a, b) => found.evaluate(a, b);
};

describe('monthsBefore', () => {
  test('clamps the day to the end of a shorter month', () => {
    expect(monthsBefore('2026-08-31', 6)).toBe('2026-02-28');
    expect(monthsBefore('2028-08-31', 6)).toBe('2028-02-29');
    expect(monthsBefore('2026-03-31', 1)).toBe('2026-02-28');
  });
  test('crosses years', () => {
    expect(monthsBefore('2026-06-15', 18)).toBe('2024-12-15');
    expect(monthsBefore('2026-01-10', 12)).toBe('2025-01-10');
  });
});

describe('withinMonths', () => {
  const within = op('2026-08-31', 'withinMonths');
  test('is inclusive at the clamped edge', () => {
    expect(within('2026-02-28', 6)).toBe(true);
    expect(within('2026-02-27', 6)).toBe(false);
  });
  test('accepts dateTimes by their date and rejects dates after asOf', () => {
    expect(within('2026-08-31T23:00:00-05:00', 6)).toBe(true);
    expect(within('2026-09-01', 6)).toBe(false);
  });
  test('missing data never passes', () => {
    expect(within(null, 6)).toBe(false);
    expect(within(undefined, 6)).toBe(false);
    expect(within('not a date', 6)).toBe(false);
    expect(within('2026-05-01', 0)).toBe(false);
  });
});

describe('onOrBeforeMonthsAgo ("due")', () => {
  const due = op('2026-06-15', 'onOrBeforeMonthsAgo');
  test('due exactly at the cadence, not a day later', () => {
    expect(due('2026-03-15', 3)).toBe(true);
    expect(due('2026-03-16', 3)).toBe(false);
    expect(due('2020-01-01', 3)).toBe(true);
  });
  test('a missing date is not "due" by this operator (protocols test missing with `equal null`)', () => {
    expect(due(undefined, 3)).toBe(false);
  });
});

describe('beforeMonthsAgo', () => {
  const before = op('2026-06-15', 'beforeMonthsAgo');
  test('strictly before the window', () => {
    expect(before('2025-12-14', 6)).toBe(true);
    expect(before('2025-12-15', 6)).toBe(false);
    expect(before(null, 6)).toBe(false);
  });
});

describe('containsAny', () => {
  const any = op('2026-06-15', 'containsAny');
  test('true when the list fact holds one of the values', () => {
    expect(any(['ssri', 'antidepressant'], ['snri', 'ssri'])).toBe(true);
    expect(any(['nsaid'], ['ssri'])).toBe(false);
    expect(any('ssri', ['ssri'])).toBe(false);
    expect(any([], ['ssri'])).toBe(false);
  });
});

describe('afterDate (a lab drawn after the therapy started)', () => {
  const after = op('2026-06-15', 'afterDate');
  test('strictly after: the day of the start is a baseline, not a recheck', () => {
    expect(after('2026-03-02', '2026-03-01')).toBe(true);
    expect(after('2026-03-01', '2026-03-01')).toBe(false);
    expect(after('2026-02-28', '2026-03-01')).toBe(false);
    expect(after('2026-03-01T08:00:00-05:00', '2026-02-28')).toBe(true);
  });
  test('either date missing never passes', () => {
    expect(after(null, '2026-03-01')).toBe(false);
    expect(after('2026-03-02', null)).toBe(false);
    expect(after(undefined, undefined)).toBe(false);
  });
});

describe('day and fact-date operators (care gaps: CRC-8, CRC-9, CRC-13, CRC-14)', () => {
  test('withinDays is inclusive at asOf − N days and rejects dates after asOf', () => {
    const within = op('2026-06-15', 'withinDays');
    expect(within('2026-03-17', 90)).toBe(true);
    expect(within('2026-03-16', 90)).toBe(false);
    expect(within('2026-06-15T08:00:00Z', 90)).toBe(true);
    expect(within('2026-06-16', 90)).toBe(false);
    expect(within(null, 90)).toBe(false);
  });
  test('beforeDaysAgo is the complement of withinDays for past dates ("more than 90 days ago")', () => {
    const before = op('2026-06-15', 'beforeDaysAgo');
    expect(before('2026-03-16', 90)).toBe(true);
    expect(before('2026-03-17', 90)).toBe(false);
    expect(before(undefined, 90)).toBe(false);
  });
  test('onOrAfterDate includes the same day; either date missing → false', () => {
    const onOrAfter = op('2026-06-15', 'onOrAfterDate');
    expect(onOrAfter('2026-03-01', '2026-03-01')).toBe(true);
    expect(onOrAfter('2026-03-02', '2026-03-01')).toBe(true);
    expect(onOrAfter('2026-02-28', '2026-03-01')).toBe(false);
    expect(onOrAfter(null, '2026-03-01')).toBe(false);
    expect(onOrAfter('2026-03-01', null)).toBe(false);
  });
});
