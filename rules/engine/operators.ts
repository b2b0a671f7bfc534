import { format, parseISO, subMonths } from 'date-fns';
import { Operator } from 'json-rules-engine';

/**
 * `asOf − months` as a calendar date, with the day clamped to the end of the month (2026-08-31 − 6 months =
 * 2026-02-28), which is what date-fns `subMonths` does. Both dates are calendar dates: parsed and formatted in the
 * same (local) zone, so the result does not depend on the machine's time zone.
 */
export function monthsBefore(asOf: string, months: number): string {
  return format(subMonths(parseISO(asOf), months), 'yyyy-MM-dd');
}

const isDate = (v: unknown): v is string => typeof v === 'string' && /^\d{4}-\d{2}-\d{2}/.test(v);
const isMonths = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v > 0;

/**
 * The custom operators, bound to the day of evaluation (json-rules-engine operators see only the fact value and the
 * rule's value, so `asOf` is closed over). A missing date (no visit, no lab on file) never satisfies any of them:
 * missing data never counts as passing.
 */
export function createOperators(asOf: string): Operator[] {
  const day = asOf.slice(0, 10);
  return [
    // "Within N months": asOf − N months ≤ date ≤ asOf (a future-dated event does not count).
    new Operator('withinMonths', (fact: unknown, months: unknown) => {
      if (!isDate(fact) || !isMonths(months)) return false;
      const d = fact.slice(0, 10);
      return d >= monthsBefore(day, months) && d <= day;
    }),
    // "Due": the last one is dated on or before asOf − N months.
    new Operator('onOrBeforeMonthsAgo', (fact: unknown, months: unknown) => {
      if (!isDate(fact) || !isMonths(months)) return false;
      return fact.slice(0, 10) <= monthsBefore(day, months);
    }),
    // Outside the window: strictly before asOf − N months (AD-2 passes when therapy started before the window).
    new Operator('beforeMonthsAgo', (fact: unknown, months: unknown) => {
      if (!isDate(fact) || !isMonths(months)) return false;
      return fact.slice(0, 10) < monthsBefore(day, months);
    }),
    new Operator('containsAny', (fact: unknown, values: unknown) => {
      if (!Array.isArray(fact) || !Array.isArray(values)) return false;
      return values.some((v) => fact.includes(v));
    }),
  ];
}
