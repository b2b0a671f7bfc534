import { diffItems, type DiffItemKind, type Keyed, type ProtocolDiff } from '../../engine/diff.ts';
import type { JsonValue, ProtocolDefinition } from './protocol.ts';

const json = (v: unknown): JsonValue => v as JsonValue;

/** Splits a protocol into items keyed by kind + category + id; categories lose their rule lists (diffed as items). */
function items(p: ProtocolDefinition): Keyed[] {
  const out: Keyed[] = [];
  const add = (kind: DiffItemKind, id: string, value: unknown, category?: string): void => {
    out.push({
      key: `${kind}:${category ?? ''}:${id}`,
      id,
      kind,
      value: json(value),
      ...(category ? { category } : {}),
    });
  };
  for (const field of ['schemaVersion', 'title', 'description', 'source'] as const) add('protocol', field, p[field]);
  for (const [name, c] of Object.entries(p.conditions ?? {})) add('condition', name, c);
  for (const [name, o] of Object.entries(p.outcomes)) add('outcome', name, o);
  p.routes.forEach((r) => add('route', r.id, r));
  p.guards.forEach((r) => add('guard', r.id, r));
  p.categories.forEach(({ criteria, supply, actions, ...category }) => {
    add('category', category.id, category);
    criteria.forEach((r) => add('criterion', r.id, r, category.id));
    supply?.forEach((r) => add('supply', r.id, r, category.id));
    actions?.forEach((r) => add('action', r.action, r, category.id));
  });
  p.bridgeSupply.forEach((r) => add('bridgeSupply', r.id, r));
  return out;
}

/**
 * Compares two protocol versions item by item — routes, guards, categories, each category's criteria, supply and
 * action rules, bridge-supply rules, shared conditions, outcomes and metadata — matched by their stable ids, so an
 * admin sees "PPI criterion visit_within_18mo: $.when.all[0].value 18 → 12" rather than a text diff. The protocol's
 * `id` and `version` are not compared (every version has its own number). A change in the order of rules is not
 * reported.
 */
export function diffProtocols(before: ProtocolDefinition, after: ProtocolDefinition): ProtocolDiff {
  return diffItems(items(before), items(after));
}
