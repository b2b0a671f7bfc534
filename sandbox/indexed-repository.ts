import { randomUUID } from 'node:crypto';
import {
  badRequest,
  convertToSearchableReferences,
  convertToSearchableTokens,
  convertToSearchableUris,
  evalFhirPathTyped,
  isResourceType,
  multipleMatches,
  Operator,
  OperationOutcomeError,
  toTypedValue,
  typedValueToString,
  type TypedValue,
  type WithId,
} from '@medplum/core';
import type { Address, Bundle, BundleEntry, BundleLink, HumanName, Resource } from '@medplum/fhirtypes';
import { loadFhirDefinitions } from './fhir-definitions.ts';
import {
  compiledParams,
  DEFAULT_PAGE_SIZE,
  normaliseReference,
  normaliseText,
  parseSearch,
  TEXT_TOKEN_SYSTEM,
  toDateRange,
  type CompiledParam,
  type CompiledParamTable,
  type DateRange,
  type IncludeSpec,
  type ParsedFilter,
  type ParsedSearch,
  type SearchQuery,
} from './search-query.ts';

/** What one resource holds for one search parameter, computed once when the resource is written. */
interface SlotValues {
  readonly present: boolean;
  /** reference/uri: normalised values; token: index keys (`v:code`, `s:system|code`, `n:code`, `S:system`). */
  readonly keys: readonly string[];
  /** token: normalised display/text; string: normalised parts (family, given, line, city…). */
  readonly text: readonly string[];
  /** string: the parts as written, for `:exact`. */
  readonly raw: readonly string[];
  readonly ranges: readonly DateRange[];
  /** The value `_sort` compares: a code, a reference, normalised text, or a range start (ms). */
  readonly sortKey: string | number | undefined;
  readonly sortKeyDesc: string | number | undefined;
}

interface IndexedEntry {
  readonly resource: WithId<Resource>;
  /** Position of first creation: the default result order, and the tie-break after `_sort`. */
  readonly seq: number;
  /** By parameter slot; undefined for a parameter not indexed yet (see `activate`). */
  readonly values: (SlotValues | undefined)[];
}

interface TypeStore {
  readonly table: CompiledParamTable;
  readonly entries: Map<string, IndexedEntry>;
  /** Per parameter slot, for reference/token/uri parameters: key → ids of the resources holding it. */
  readonly hashes: (Map<string, Set<string>> | undefined)[];
  /** Per slot: whether its values are computed (at write time from then on). */
  readonly active: boolean[];
}

/** A search's results before they are framed as a Bundle. */
export interface SearchResult {
  readonly matches: readonly WithId<Resource>[];
  readonly included: readonly WithId<Resource>[];
  readonly total: number;
  readonly parsed: ParsedSearch;
}

export interface WriteOptions {
  /** Keep the id the resource carries (bulk load, update-as-create); otherwise the server assigns one. */
  assignedId?: boolean;
  /** Keep `meta.lastUpdated` when the resource carries one (bulk load of a seeded data set). */
  keepLastUpdated?: boolean;
}

const ID_PATTERN = /^[A-Za-z0-9\-.]{1,64}$/;
const RELATIVE_REFERENCE = /^([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})$/;
const EMPTY: SlotValues = {
  present: false,
  keys: [],
  text: [],
  raw: [],
  ranges: [],
  sortKey: undefined,
  sortKeyDesc: undefined,
};
const MAX_INCLUDE_ROUNDS = 4;

/**
 * Parameters indexed from the first write: the ones the connector and the demo search by. Every other supported
 * parameter is indexed on its first use (one pass over that type), then kept up to date at write time like these.
 * Why: R4 defines 20–45 parameters per type; computing all of them for 35,000 resources would triple load time.
 */
export const PRECOMPUTED_PARAMS: ReadonlySet<string> = new Set([
  '_id',
  '_lastUpdated',
  'patient',
  'subject',
  'encounter',
  'medication',
  'requester',
  'focus',
  'actor',
  'practitioner',
  'participant',
  'performer',
  'general-practitioner',
  'based-on',
  'code',
  'status',
  'category',
  'clinical-status',
  'verification-status',
  'intent',
  'identifier',
  'date',
  'authoredon',
  'birthdate',
  'onset-date',
  'recorded-date',
  'name',
  'family',
  'given',
  'gender',
]);
const collator = new Intl.Collator('en');

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

function unique(values: Iterable<string>): string[] {
  return [...new Set(values)];
}

function stringParts(typed: TypedValue[]): string[] {
  const parts: string[] = [];
  for (const tv of typed) {
    if (tv.type === 'HumanName') {
      const n = tv.value as HumanName;
      parts.push(...[n.text, n.family, ...(n.given ?? []), ...(n.prefix ?? []), ...(n.suffix ?? [])].filter(isText));
    } else if (tv.type === 'Address') {
      const a = tv.value as Address;
      parts.push(...[a.text, ...(a.line ?? []), a.city, a.district, a.state, a.postalCode, a.country].filter(isText));
    }
    const whole = typedValueToString(tv);
    if (whole) parts.push(whole);
  }
  return unique(parts);
}

function valuesOf(
  param: CompiledParam,
  resource: WithId<Resource>,
  root: TypedValue[],
  present: Set<string> = presentElements(resource),
): SlotValues {
  return param.roots && !param.roots.some((r) => present.has(r)) ? EMPTY : extract(param, resource, root);
}

function addKeys(store: TypeStore, param: CompiledParam, entry: IndexedEntry): void {
  const hash = store.hashes[param.slot];
  if (!hash) return;
  for (const key of entry.values[param.slot]?.keys ?? []) {
    let ids = hash.get(key);
    if (!ids) hash.set(key, (ids = new Set()));
    ids.add(entry.resource.id);
  }
}

/** Top-level element names of a resource, choice elements under their base name too (`valueQuantity` → `value`). */
function presentElements(resource: Resource): Set<string> {
  const names = new Set<string>();
  for (const key of Object.keys(resource)) {
    names.add(key);
    const choice = /^([a-z][a-z0-9]*)[A-Z]/.exec(key);
    if (choice?.[1]) names.add(choice[1]);
  }
  return names;
}

function isText(v: string | undefined): v is string {
  return typeof v === 'string' && v.length > 0;
}

function dateRanges(typed: TypedValue[]): DateRange[] {
  const ranges: DateRange[] = [];
  for (const { value } of typed) {
    if (typeof value === 'string') {
      const range = toDateRange(value);
      if (range) ranges.push(range);
    } else if (value && typeof value === 'object' && ('start' in value || 'end' in value)) {
      const { start, end } = value as { start?: string; end?: string };
      const from = start ? toDateRange(start)?.start : undefined;
      const to = end ? toDateRange(end)?.end : undefined;
      ranges.push({ start: from ?? -Infinity, end: to ?? Infinity });
    }
  }
  return ranges;
}

function extract(param: CompiledParam, resource: WithId<Resource>, root: TypedValue[]): SlotValues {
  if (param.kind === 'id') {
    return { ...EMPTY, present: true, keys: [resource.id], sortKey: resource.id, sortKeyDesc: resource.id };
  }
  const typed = param.atom ? evalFhirPathTyped(param.atom, root) : [];
  if (typed.length === 0) return EMPTY;
  switch (param.kind) {
    case 'reference': {
      const keys = unique(convertToSearchableReferences(typed).map(normaliseReference));
      return { ...EMPTY, present: keys.length > 0, keys, sortKey: keys[0], sortKeyDesc: keys[0] };
    }
    case 'uri': {
      const keys = convertToSearchableUris(typed);
      return { ...EMPTY, present: keys.length > 0, keys, sortKey: keys[0], sortKeyDesc: keys[0] };
    }
    case 'token': {
      const keys: string[] = [];
      const text: string[] = [];
      let sortKey: string | undefined;
      for (const { system, value } of convertToSearchableTokens(typed, { textSearchSystem: TEXT_TOKEN_SYSTEM })) {
        if (system === TEXT_TOKEN_SYSTEM) {
          if (value) text.push(normaliseText(value));
          continue;
        }
        const s = system?.toLowerCase();
        const v = value?.toLowerCase();
        sortKey ??= value;
        if (v) keys.push(`v:${v}`, s ? `s:${s}|${v}` : `n:${v}`);
        if (s) keys.push(`S:${s}`);
      }
      return {
        ...EMPTY,
        present: keys.length + text.length > 0,
        keys: unique(keys),
        text,
        sortKey,
        sortKeyDesc: sortKey,
      };
    }
    case 'string': {
      const raw = stringParts(typed);
      const text = raw.map(normaliseText);
      return { ...EMPTY, present: raw.length > 0, raw, text, sortKey: text[0], sortKeyDesc: text[0] };
    }
    case 'date': {
      const ranges = dateRanges(typed);
      if (ranges.length === 0) return EMPTY;
      const starts = ranges.map((r) => r.start);
      return { ...EMPTY, present: true, ranges, sortKey: Math.min(...starts), sortKeyDesc: Math.max(...starts) };
    }
  }
}

type DateComparison = (value: DateRange, query: DateRange) => boolean;

/** Medplum's date comparison (`matchesDateValue`), on instants instead of ISO strings; `ne` is negated by the caller. */
const DATE_COMPARISONS: Partial<Record<Operator, DateComparison>> = {
  [Operator.EQUALS]: (v, q) => v.start < q.end && v.end > q.start,
  [Operator.NOT_EQUALS]: (v, q) => v.start < q.end && v.end > q.start,
  [Operator.APPROXIMATELY]: (v, q) => v.start < q.end && v.end > q.start,
  [Operator.LESS_THAN]: (v, q) => v.start < q.start,
  [Operator.GREATER_THAN]: (v, q) => v.end > q.end,
  [Operator.LESS_THAN_OR_EQUALS]: (v, q) => v.start <= q.end,
  [Operator.GREATER_THAN_OR_EQUALS]: (v, q) => v.end >= q.start,
  [Operator.STARTS_AFTER]: (v, q) => v.start > q.end,
  [Operator.ENDS_BEFORE]: (v, q) => v.end < q.start,
};

function wordStartsWith(text: string, query: string): boolean {
  return text.startsWith(query) || text.includes(` ${query}`);
}

function matchesFilter(entry: IndexedEntry, filter: ParsedFilter): boolean {
  const v = entry.values[filter.param.slot] ?? EMPTY;
  if (filter.operator === Operator.MISSING) return filter.missing === !v.present;
  const { values } = filter;
  switch (filter.param.kind) {
    case 'id': {
      const hit = values.includes(entry.resource.id);
      return filter.operator === Operator.NOT ? !hit : hit;
    }
    case 'reference':
    case 'uri':
      return v.keys.some((k) => values.includes(k));
    case 'token': {
      if (filter.operator === Operator.TEXT) return v.text.some((t) => values.some((q) => wordStartsWith(t, q)));
      const hit = v.keys.some((k) => values.includes(k));
      return filter.operator === Operator.NOT ? !hit : hit;
    }
    case 'string':
      if (filter.operator === Operator.EXACT) return v.raw.some((s) => values.includes(s));
      if (filter.operator === Operator.CONTAINS) return v.text.some((s) => values.some((q) => s.includes(q)));
      return v.text.some((s) => values.some((q) => wordStartsWith(s, q)));
    case 'date': {
      // As in Medplum: `ne` is "no value overlaps", so a resource without the element matches it.
      const compare = DATE_COMPARISONS[filter.operator];
      const hit = !!compare && v.ranges.some((r) => filter.ranges.some((q) => compare(r, q)));
      return filter.operator === Operator.NOT_EQUALS ? !hit : hit;
    }
  }
}

/** Filters a hash lookup can answer exactly: the candidate set is the union of the keys' id sets. */
function isIndexable(filter: ParsedFilter): boolean {
  const { kind } = filter.param;
  return filter.operator === Operator.EQUALS && kind !== 'date' && kind !== 'string';
}

function compareKeys(a: string | number | undefined, b: string | number | undefined, descending: boolean): number {
  // Resources without a value sort last in both directions.
  if (a === undefined || b === undefined) return a === b ? 0 : a === undefined ? 1 : -1;
  const order = typeof a === 'number' && typeof b === 'number' ? a - b : collator.compare(String(a), String(b));
  return descending ? -order : order;
}

/**
 * An in-memory FHIR R4 store with write-time search indexes.
 *
 * Why: Medplum's `MemoryRepository` scans every resource and re-parses FHIRPath on every search (50 ms–5 s at 1,000
 * patients); here each resource's search-parameter values are computed once when it is written, with expressions
 * parsed once per type, and reference/token/uri/_id criteria are hash lookups. Matching semantics follow Medplum's
 * `matchesSearchRequest` (see the differential test) except where noted in `search-query.ts`.
 * Stored resources are deep-frozen and returned without copying: clone before changing one.
 */
export class IndexedRepository {
  private readonly stores = new Map<string, TypeStore>();
  private seq = 0;

  constructor() {
    loadFhirDefinitions();
  }

  /** Reads a resource by type and id; undefined when there is none. */
  read(resourceType: string, id: string): WithId<Resource> | undefined {
    return this.stores.get(resourceType)?.entries.get(id)?.resource;
  }

  /** Reads a relative reference (`Patient/123`); undefined when it does not resolve here. */
  readReference(reference: string): WithId<Resource> | undefined {
    const m = RELATIVE_REFERENCE.exec(reference);
    return m ? this.read(m[1] ?? '', m[2] ?? '') : undefined;
  }

  /**
   * Creates a resource: a new server id (unless `assignedId`), `meta.versionId` 1 and `meta.lastUpdated` now.
   * @throws OperationOutcomeError 400 when the body is not a resource of a known type or the id is malformed.
   */
  create<T extends Resource>(resource: T, options: WriteOptions = {}): WithId<T> {
    const type = this.checkResource(resource);
    const id = options.assignedId && resource.id ? resource.id : randomUUID();
    const existing = this.stores.get(type)?.entries.get(id);
    return this.write(resource, id, existing ? Number(existing.resource.meta?.versionId ?? '0') + 1 : 1, options);
  }

  /**
   * Updates (or, for a new id, creates) a resource with the id it carries, bumping `meta.versionId`.
   * @returns the stored resource, and whether it was created.
   * @throws OperationOutcomeError 400 on a malformed body or a missing id.
   */
  update<T extends Resource>(resource: T, options: Omit<WriteOptions, 'assignedId'> = {}) {
    const type = this.checkResource(resource);
    if (!resource.id) throw new OperationOutcomeError(badRequest('Missing resource id', `${type}.id`));
    const existing = this.stores.get(type)?.entries.get(resource.id);
    const version = existing ? Number(existing.resource.meta?.versionId ?? '0') + 1 : 1;
    return {
      resource: this.write(resource, resource.id, Number.isFinite(version) ? version : 1, options),
      created: !existing,
    };
  }

  /**
   * FHIR conditional create: returns the single resource matching `ifNoneExist` if there is one, creates otherwise.
   * @throws OperationOutcomeError 412 when the criteria match more than one resource; 400 on bad criteria.
   */
  conditionalCreate<T extends Resource>(
    resource: T,
    ifNoneExist: SearchQuery,
  ): { resource: WithId<T>; created: boolean } {
    const type = this.checkResource(resource);
    const { matches } = this.execute(parseSearch(type, ifNoneExist), { unpaged: true });
    if (matches.length > 1) throw new OperationOutcomeError(multipleMatches);
    const [existing] = matches;
    if (existing) return { resource: existing as WithId<T>, created: false };
    return { resource: this.create(resource), created: true };
  }

  /** Deletes a resource; false when there was none. */
  delete(resourceType: string, id: string): boolean {
    const store = this.stores.get(resourceType);
    const entry = store?.entries.get(id);
    if (!store || !entry) return false;
    this.unindex(store, entry);
    store.entries.delete(id);
    return true;
  }

  /** Number of stored resources, by type. */
  counts(): Record<string, number> {
    return Object.fromEntries([...this.stores].map(([type, store]) => [type, store.entries.size]));
  }

  /**
   * Runs a FHIR search and frames it as a `searchset` Bundle (`total`, `entry.search.mode` match/include, and paging
   * links when `baseUrl` is given).
   * @throws OperationOutcomeError 400 for unsupported parameters or malformed values.
   */
  search(resourceType: string, query: SearchQuery = {}, options: { baseUrl?: string } = {}): Bundle {
    const parsed = parseSearch(resourceType, query);
    const result = this.execute(parsed);
    return toSearchBundle(result, options.baseUrl);
  }

  /** Runs a parsed search: index lookups, then matching on precomputed values, sort, page and includes. */
  execute(parsed: ParsedSearch, options: { unpaged?: boolean } = {}): SearchResult {
    const store = this.stores.get(parsed.resourceType);
    if (!store) return { matches: [], included: [], total: 0, parsed };
    for (const { param } of [...parsed.filters, ...parsed.sort]) this.activate(store, param);
    for (const spec of [...parsed.include, ...parsed.revinclude])
      this.activate(this.storeFor(spec.resourceType), spec.param);

    const rest = [...parsed.filters];
    let candidates: IndexedEntry[];
    // Pick the most selective hash-answerable criterion by its estimated size; only its ids are materialised.
    let smallest: { f: ParsedFilter; size: number } | undefined;
    for (const f of parsed.filters) {
      if (!isIndexable(f)) continue;
      const size = this.estimate(store, f);
      if (!smallest || size < smallest.size) smallest = { f, size };
    }
    if (smallest) {
      rest.splice(rest.indexOf(smallest.f), 1);
      candidates = [];
      for (const id of this.lookup(store, smallest.f)) {
        const entry = store.entries.get(id);
        if (entry) candidates.push(entry);
      }
      candidates.sort((a, b) => a.seq - b.seq);
    } else {
      candidates = [...store.entries.values()];
    }

    let matched = rest.length === 0 ? candidates : candidates.filter((e) => rest.every((f) => matchesFilter(e, f)));
    if (parsed.sort.length > 0) {
      const rules = parsed.sort;
      matched = [...matched].sort((a, b) => {
        for (const { param, descending } of rules) {
          const va = a.values[param.slot] ?? EMPTY;
          const vb = b.values[param.slot] ?? EMPTY;
          const c = compareKeys(
            descending ? va.sortKeyDesc : va.sortKey,
            descending ? vb.sortKeyDesc : vb.sortKey,
            descending,
          );
          if (c !== 0) return c;
        }
        return a.seq - b.seq;
      });
    }

    const total = matched.length;
    const count = options.unpaged ? undefined : parsed.summaryCount ? 0 : (parsed.count ?? DEFAULT_PAGE_SIZE);
    const page =
      count === undefined ? matched.slice(parsed.offset) : matched.slice(parsed.offset, parsed.offset + count);
    const included = this.includes(page, parsed.include, parsed.revinclude);
    return { matches: page.map((e) => e.resource), included, total, parsed };
  }

  private estimate(store: TypeStore, filter: ParsedFilter): number {
    if (filter.param.kind === 'id') return filter.values.length;
    const hash = store.hashes[filter.param.slot];
    return filter.values.reduce((n, key) => n + (hash?.get(key)?.size ?? 0), 0);
  }

  private lookup(store: TypeStore, filter: ParsedFilter): Set<string> {
    if (filter.param.kind === 'id') return new Set(filter.values.filter((id) => store.entries.has(id)));
    const hash = store.hashes[filter.param.slot];
    const ids = new Set<string>();
    if (!hash) return ids;
    if (filter.values.length === 1) return hash.get(filter.values[0] ?? '') ?? ids;
    for (const key of filter.values) for (const id of hash.get(key) ?? []) ids.add(id);
    return ids;
  }

  private includes(
    page: readonly IndexedEntry[],
    include: readonly IncludeSpec[],
    revinclude: readonly IncludeSpec[],
  ): WithId<Resource>[] {
    if (include.length === 0 && revinclude.length === 0) return [];
    const seen = new Set(page.map((e) => `${e.resource.resourceType}/${e.resource.id}`));
    const out: IndexedEntry[] = [];
    let frontier: readonly IndexedEntry[] = page;
    for (let round = 0; round < MAX_INCLUDE_ROUNDS && frontier.length > 0; round++) {
      const next: IndexedEntry[] = [];
      const add = (entry: IndexedEntry | undefined): void => {
        if (!entry) return;
        const key = `${entry.resource.resourceType}/${entry.resource.id}`;
        if (seen.has(key)) return;
        seen.add(key);
        next.push(entry);
      };
      for (const entry of frontier) {
        const type = entry.resource.resourceType;
        for (const spec of include) {
          if (spec.resourceType !== type || (round > 0 && !spec.iterate)) continue;
          for (const ref of entry.values[spec.param.slot]?.keys ?? []) {
            const m = RELATIVE_REFERENCE.exec(ref);
            if (!m || (spec.targetType && m[1] !== spec.targetType)) continue;
            add(this.stores.get(m[1] ?? '')?.entries.get(m[2] ?? ''));
          }
        }
        for (const spec of revinclude) {
          if (round > 0 && !spec.iterate) continue;
          if (spec.targetType && spec.targetType !== type) continue;
          const source = this.stores.get(spec.resourceType);
          for (const id of source?.hashes[spec.param.slot]?.get(`${type}/${entry.resource.id}`) ?? []) {
            add(source?.entries.get(id));
          }
        }
      }
      out.push(...next);
      frontier = next;
    }
    return out.map((e) => e.resource);
  }

  private checkResource(resource: Resource): string {
    if (!resource || typeof resource !== 'object' || Array.isArray(resource)) {
      throw new OperationOutcomeError(badRequest('Resource must be a JSON object'));
    }
    const type = resource.resourceType as string | undefined;
    if (typeof type !== 'string' || !isResourceType(type)) {
      throw new OperationOutcomeError(badRequest(`Unknown resourceType ${String(type).slice(0, 64)}`, 'resourceType'));
    }
    if (resource.id !== undefined && (typeof resource.id !== 'string' || !ID_PATTERN.test(resource.id))) {
      throw new OperationOutcomeError(badRequest('Invalid resource id', `${type}.id`));
    }
    return type;
  }

  private storeFor(resourceType: string): TypeStore {
    let store = this.stores.get(resourceType);
    if (!store) {
      const table = compiledParams(resourceType);
      const hashes = table.list.map((p) =>
        p.kind === 'reference' || p.kind === 'token' || p.kind === 'uri' ? new Map<string, Set<string>>() : undefined,
      );
      const active = table.list.map((p) => PRECOMPUTED_PARAMS.has(p.code));
      store = { table, entries: new Map(), hashes, active };
      this.stores.set(resourceType, store);
    }
    return store;
  }

  private write<T extends Resource>(resource: T, id: string, version: number, options: WriteOptions): WithId<T> {
    const store = this.storeFor(resource.resourceType);
    const copy = structuredClone(resource) as WithId<T>;
    copy.id = id;
    const lastUpdated =
      options.keepLastUpdated && copy.meta?.lastUpdated ? copy.meta.lastUpdated : new Date().toISOString();
    copy.meta = { ...copy.meta, versionId: String(version), lastUpdated };
    deepFreeze(copy);

    const root = [toTypedValue(copy)];
    const present = presentElements(copy);
    const values = store.table.list.map((param) =>
      store.active[param.slot] ? valuesOf(param, copy, root, present) : undefined,
    );
    const previous = store.entries.get(id);
    if (previous) this.unindex(store, previous);
    const entry: IndexedEntry = { resource: copy, seq: previous?.seq ?? this.seq++, values };
    store.entries.set(id, entry);
    for (const param of store.table.list) addKeys(store, param, entry);
    return copy;
  }

  /** Starts indexing a parameter of a type: one pass over the stored resources, then at every write. */
  private activate(store: TypeStore, param: CompiledParam): void {
    if (store.active[param.slot]) return;
    for (const entry of store.entries.values()) {
      entry.values[param.slot] = valuesOf(param, entry.resource, [toTypedValue(entry.resource)]);
      addKeys(store, param, entry);
    }
    store.active[param.slot] = true;
  }

  private unindex(store: TypeStore, entry: IndexedEntry): void {
    for (const param of store.table.list) {
      const hash = store.hashes[param.slot];
      if (!hash) continue;
      for (const key of entry.values[param.slot]?.keys ?? []) {
        const ids = hash.get(key);
        ids?.delete(entry.resource.id);
        if (ids?.size === 0) hash.delete(key);
      }
    }
  }
}

/** Frames a search result as a FHIR `searchset` Bundle; links are absolute when `baseUrl` is known. */
export function toSearchBundle(result: SearchResult, baseUrl?: string): Bundle {
  const { parsed, total } = result;
  const fullUrl = (r: WithId<Resource>): { fullUrl?: string } =>
    baseUrl ? { fullUrl: `${baseUrl}/${r.resourceType}/${r.id}` } : {};
  const entry: BundleEntry[] = [
    ...result.matches.map((resource) => ({ ...fullUrl(resource), resource, search: { mode: 'match' as const } })),
    ...result.included.map((resource) => ({ ...fullUrl(resource), resource, search: { mode: 'include' as const } })),
  ];
  const bundle: Bundle = { resourceType: 'Bundle', type: 'searchset', total };
  if (baseUrl) bundle.link = pageLinks(baseUrl, parsed, total);
  if (entry.length > 0) bundle.entry = entry;
  return bundle;
}

function pageLinks(baseUrl: string, parsed: ParsedSearch, total: number): BundleLink[] {
  const count = parsed.summaryCount ? 0 : (parsed.count ?? DEFAULT_PAGE_SIZE);
  const url = (offset: number): string => {
    const params = new URLSearchParams(parsed.pairs.map(([k, v]) => [k, v]));
    params.set('_count', String(count));
    if (offset > 0) params.set('_offset', String(offset));
    return `${baseUrl}/${parsed.resourceType}?${params.toString()}`;
  };
  const links: BundleLink[] = [{ relation: 'self', url: url(parsed.offset) }];
  if (count > 0 && parsed.offset + count < total) links.push({ relation: 'next', url: url(parsed.offset + count) });
  if (count > 0 && parsed.offset > 0) {
    links.push({ relation: 'previous', url: url(Math.max(0, parsed.offset - count)) });
  }
  return links;
}

/**
 * Bulk-loads resources with the ids (and `meta.lastUpdated`) they carry, replacing any stored with the same id.
 * Why: a seeded data set references its resources by id, so the ids must survive loading.
 * @returns how many resources were loaded, by type.
 */
export function loadResources(repo: IndexedRepository, resources: readonly Resource[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const resource of resources) {
    if (resource.id) repo.update(resource, { keepLastUpdated: true });
    else repo.create(resource, { keepLastUpdated: true });
    counts[resource.resourceType] = (counts[resource.resourceType] ?? 0) + 1;
  }
  return counts;
}
