/**
 * The operators a protocol condition may use, with what they accept. The implementations of the custom ones live in
 * `rules/engine/operators.ts`; this table is what the schema checks a rule against, and what an editor can list.
 *
 * - `accepts`: the kind of fact value the operator works on (`date` = an ISO date fact such as `$.lastCbc.date`).
 * - `value`: what the rule's `value` must be: the fact's own type (`leaf`), a list of those (`leafList`), an element
 *   of an array fact (`element`), a list of elements (`elementList`), a number of calendar months (`months`), a number
 *   of days (`days`), or a reference to another fact's date (`dateFact`: `{ "fact": "therapy", "path": "$.startDate" }`).
 */
export const OPERATOR_SPECS = {
  equal: { accepts: 'any', value: 'leaf', description: 'fact equals value' },
  notEqual: { accepts: 'any', value: 'leaf', description: 'fact differs from value (a missing fact differs)' },
  lessThan: { accepts: 'number', value: 'leaf', description: 'fact < value' },
  lessThanInclusive: { accepts: 'number', value: 'leaf', description: 'fact ≤ value' },
  greaterThan: { accepts: 'number', value: 'leaf', description: 'fact > value' },
  greaterThanInclusive: { accepts: 'number', value: 'leaf', description: 'fact ≥ value' },
  in: { accepts: 'scalar', value: 'leafList', description: 'fact is one of the values' },
  notIn: { accepts: 'scalar', value: 'leafList', description: 'fact is none of the values' },
  contains: { accepts: 'array', value: 'element', description: 'the list fact contains value' },
  doesNotContain: { accepts: 'array', value: 'element', description: 'the list fact does not contain value' },
  containsAny: {
    accepts: 'array',
    value: 'elementList',
    description: 'the list fact contains at least one of the values',
  },
  withinMonths: {
    accepts: 'date',
    value: 'months',
    description:
      'date ≥ asOf − N calendar months (inclusive, day clamped to month end) and not after asOf; missing → false',
  },
  onOrBeforeMonthsAgo: {
    accepts: 'date',
    value: 'months',
    description: 'date ≤ asOf − N calendar months ("due"); missing → false (test missing with `equal null`)',
  },
  beforeMonthsAgo: {
    accepts: 'date',
    value: 'months',
    description: 'date < asOf − N calendar months (outside the window); missing → false',
  },
  afterDate: {
    accepts: 'date',
    value: 'dateFact',
    description:
      'date > the date another fact holds (value `{ "fact": …, "path": … }`, e.g. therapy.startDate); either missing → false',
  },
  onOrAfterDate: {
    accepts: 'date',
    value: 'dateFact',
    description:
      'date ≥ the date another fact holds (a colonoscopy on or after a positive stool test); either missing → false',
  },
  withinDays: {
    accepts: 'date',
    value: 'days',
    description: 'date ≥ asOf − N days (inclusive) and not after asOf; missing → false',
  },
  beforeDaysAgo: {
    accepts: 'date',
    value: 'days',
    description: 'date < asOf − N days ("more than N days ago", the complement of withinDays); missing → false',
  },
} as const satisfies Record<
  string,
  {
    accepts: 'any' | 'number' | 'scalar' | 'array' | 'date';
    value: 'leaf' | 'leafList' | 'element' | 'elementList' | 'months' | 'days' | 'dateFact';
    description: string;
  }
>;

export type OperatorName = keyof typeof OPERATOR_SPECS;
export const OPERATOR_NAMES = Object.keys(OPERATOR_SPECS) as [OperatorName, ...OperatorName[]];
