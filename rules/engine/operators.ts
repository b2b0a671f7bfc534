import { addMonths, format, parseISO, subDays, subMonths } from 'date-fns';
import { Operator } from 'json-rules-engine';

const edges = new Map<string, string>();

/**
 * `asOf − months` as a calendar date, with the day clamped to the end of the month (2026-08-31 − 6 months =
 * 2026-02-28), which is what date-fns `subMonths` does. Both dates are calendar dates: parsed and formatted in the
 * same (local) zone, so the result does not depend on the machine's time zone. Memoised (a simulation asks for the
 * same few edges hundreds of thousands of times).
 */
export function monthsBefore(asOf: string, months: number): string {
  const key = `${asOf}|${months}`;
  let edge = edges.get(key);
  if (edge === undefined) {
    edge = format(subMonths(parseISO(asOf), months), 'yyyy-MM-dd');
    if (edges.size > 50_000) edges.clear();
    edges.set(key, edge);
  }
  return edge;
}

/** `date + months` as a calendar date, day clamped to the end of the month (2026-01-31 + 1 month = 2026-02-28). */
export function monthsAfter(date: string, months: number): string {
  return format(addMonths(parseISO(date.slice(0, 10)), months), 'yyyy-MM-dd');
}

/** `asOf − days` as a calendar date (memoised like `monthsBefore`). */
export function daysBefore(asOf: string, days: number): string {
  const key = `${asOf}|d${days}`;
  let edge = edges.get(key);
  if (edge === undefined) {
    edge = format(subDays(parseISO(asOf), days), 'yyyy-MM-dd');
    if (edges.size > 50_000) edges.clear();
    edges.set(key, edge);
  }
  return edge;
}

const isDate = (v: unknown): v is string => typeof v === 'string' && /^\d{4}-\d{2}-\d{2}/.test(v);
const isMonths = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v > 0;

/** The custom operators' names, as protocol conditions use them. */
export type CustomOperatorName =
  | 'withinMonths'
  | 'onOrBeforeMonthsAgo'
  | 'beforeMonthsAgo'
  | 'afterDate'
  | 'onOrAfterDate'
  | 'withinDays'
  | 'beforeDaysAgo'
  | 'containsAny';

/**
 * The custom operators as plain predicates `(factValue, ruleValue) => boolean`, bound to the day of evaluation. The
 * one implementation both evaluators use: json-rules-engine wraps them (`createOperators`), the compiled evaluator
 * calls them directly. A missing date (no visit, no lab on file) never satisfies any of them: missing data never
 * counts as passing.
 */
export function customOperatorPredicates(
  asOf: string,
): Record<CustomOperatorName, (fact: unknown, value: unknown) => boolean> {
  const day = asOf.slice(0, 10);
  return {
    // "Within N months": asOf − N months ≤ date ≤ asOf (a future-dated event does not count).
    withinMonths: (fact, months) => {
      if (!isDate(fact) || !isMonths(months)) return false;
      const d = fact.slice(0, 10);
      return d >= monthsBefore(day, months) && d <= day;
    },
    // "Due": the last one is dated on or before asOf − N months.
    onOrBeforeMonthsAgo: (fact, months) => {
      if (!isDate(fact) || !isMonths(months)) return false;
      return fact.slice(0, 10) <= monthsBefore(day, months);
    },
    // Outside the window: strictly before asOf − N months (AD-2 passes when therapy started before the window).
    beforeMonthsAgo: (fact, months) => {
      if (!isDate(fact) || !isMonths(months)) return false;
      return fact.slice(0, 10) < monthsBefore(day, months);
    },
    // Strictly after another date (a lab drawn after the therapy started); either missing → false.
    afterDate: (fact, other) => isDate(fact) && isDate(other) && fact.slice(0, 10) > other.slice(0, 10),
    // On or after another date (a colonoscopy on or after a positive stool test); either missing → false.
    onOrAfterDate: (fact, other) => isDate(fact) && isDate(other) && fact.slice(0, 10) >= other.slice(0, 10),
    // "Within N days": asOf − N days ≤ date ≤ asOf (a future-dated event does not count).
    withinDays: (fact, days) => {
      if (!isDate(fact) || !isMonths(days)) return false;
      const d = fact.slice(0, 10);
      return d >= daysBefore(day, days) && d <= day;
    },
    // "More than N days ago": strictly before asOf − N days.
    beforeDaysAgo: (fact, days) => {
      if (!isDate(fact) || !isMonths(days)) return false;
      return fact.slice(0, 10) < daysBefore(day, days);
    },
    containsAny: (fact, values) => {
      if (!Array.isArray(fact) || !Array.isArray(values)) return false;
      return values.some((v) => fact.includes(v));
    },
  };
}

/**
 * The custom operators for json-rules-engine, bound to the day of evaluation (json-rules-engine operators see only
 * the fact value and the rule's value, so `asOf` is closed over).
 */
export function createOperators(asOf: string): Operator[] {
  return Object.entries(customOperatorPredicates(asOf)).map(([name, fn]) => new Operator(name, fn));
}
