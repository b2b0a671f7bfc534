import type { JsonValue } from '../schema/protocol.ts';

/**
 * Canonical JSON: object keys sorted, no whitespace, `undefined` members dropped. Two documents with the same content
 * serialise to the same string whatever their key order, so it is what content hashes and equality are taken over.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : canonicalJson(v))).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

/** What part of a protocol a change is about. Criteria, supply and action rules belong to a category. */
export type DiffItemKind =
  | 'protocol'
  | 'condition'
  | 'outcome'
  | 'route'
  | 'guard'
  | 'category'
  | 'criterion'
  | 'supply'
  | 'action'
  | 'bridgeSupply'
  | 'item';

/** One changed leaf inside an item, at a JSON path relative to the item (`$.when.all[0].value`). */
export interface FieldChange {
  path: string;
  /** Absent: the field was added. */
  before?: JsonValue;
  /** Absent: the field was removed. */
  after?: JsonValue;
}

export interface ItemChange {
  kind: DiffItemKind;
  /** The item's stable id: rule id, category id, shared-condition name, outcome name, or a metadata field. */
  id: string;
  /** The category a criterion, supply or action rule belongs to. */
  category?: string;
  /** For an `item` (generic diff): the list it sits in (`clauses`). */
  collection?: string;
  change: 'added' | 'removed' | 'changed';
  /** The whole item, for a removed one. */
  before?: JsonValue;
  /** The whole item, for an added one. */
  after?: JsonValue;
  /** For a changed item: every leaf that differs. */
  fields?: FieldChange[];
}

export interface ProtocolDiff {
  changes: ItemChange[];
  counts: { added: number; removed: number; changed: number };
}

/** One item of a protocol, keyed for matching across versions (a kind's diff splits its protocol into these). */
export type Keyed = {
  key: string;
  id: string;
  category?: string;
  collection?: string;
  kind: DiffItemKind;
  value: JsonValue;
};

const json = (v: unknown): JsonValue => v as JsonValue;

function isObject(v: JsonValue | undefined): v is { [key: string]: JsonValue } {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Every leaf where `a` and `b` differ, with its path; a type change (object → string) is one change at that path. */
export function leafChanges(a: JsonValue | undefined, b: JsonValue | undefined, path = '$'): FieldChange[] {
  if (isObject(a) && isObject(b)) {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
    return keys.flatMap((k) => leafChanges(a[k], b[k], `${path}.${k}`));
  }
  if (Array.isArray(a) && Array.isArray(b)) {
    const n = Math.max(a.length, b.length);
    return Array.from({ length: n }, (_, i) => leafChanges(a[i], b[i], `${path}[${i}]`)).flat();
  }
  if (a !== undefined && b !== undefined && canonicalJson(a) === canonicalJson(b)) return [];
  if (a === undefined && b === undefined) return [];
  return [{ path, ...(a !== undefined ? { before: a } : {}), ...(b !== undefined ? { after: b } : {}) }];
}

/** Items with an `id`: what a list is made of for the generic diff to match by id. */
function isIdList(v: unknown): v is { id: string }[] {
  return (
    Array.isArray(v) &&
    v.length > 0 &&
    v.every((x) => typeof x === 'object' && x !== null && typeof (x as { id?: unknown }).id === 'string') &&
    new Set(v.map((x: { id: string }) => x.id)).size === v.length
  );
}

/** Splits any protocol document into items: each top-level list of id'd objects by id, every other field whole. */
function genericItems(p: unknown): Keyed[] {
  if (typeof p !== 'object' || p === null || Array.isArray(p)) return [];
  const out: Keyed[] = [];
  for (const [field, value] of Object.entries(p as Record<string, unknown>)) {
    if (field === 'id' || field === 'version' || value === undefined) continue;
    if (isIdList(value)) {
      for (const item of value) {
        out.push({ key: `item:${field}:${item.id}`, id: item.id, kind: 'item', collection: field, value: json(item) });
      }
    } else {
      out.push({ key: `protocol::${field}`, id: field, kind: 'protocol', value: json(value) });
    }
  }
  return out;
}

/**
 * The diff for a protocol kind that brings none of its own: every top-level list whose entries carry unique ids
 * (a care-gap protocol's `clauses`) is compared entry by entry, matched by id; every other top-level field (title,
 * windows, value sets) as one item. `id` and `version` are not compared; the order of entries is not reported.
 */
export function diffDefinitions(before: unknown, after: unknown): ProtocolDiff {
  return diffItems(genericItems(before), genericItems(after));
}

/** Matches two versions' items by key: added, removed, and changed (with the leaf changes). */
export function diffItems(a: Keyed[], b: Keyed[]): ProtocolDiff {
  const bByKey = new Map(b.map((i) => [i.key, i]));
  const aKeys = new Set(a.map((i) => i.key));
  const head = (i: Keyed) => ({
    kind: i.kind,
    id: i.id,
    ...(i.category ? { category: i.category } : {}),
    ...(i.collection ? { collection: i.collection } : {}),
  });
  const changes: ItemChange[] = [];
  for (const old of a) {
    const now = bByKey.get(old.key);
    if (!now) {
      changes.push({ ...head(old), change: 'removed', before: old.value });
      continue;
    }
    const fields = leafChanges(old.value, now.value);
    if (fields.length) changes.push({ ...head(old), change: 'changed', fields });
  }
  for (const added of b) {
    if (!aKeys.has(added.key)) changes.push({ ...head(added), change: 'added', after: added.value });
  }
  const count = (c: ItemChange['change']) => changes.filter((x) => x.change === c).length;
  return { changes, counts: { added: count('added'), removed: count('removed'), changed: count('changed') } };
}
