// Protocol diffs as an admin reads them: items matched by stable id, with the before/after of every changed leaf.
import { describe, expect, test } from 'vitest';
import { canonicalJson, leafChanges } from '../../rules/engine/diff.ts';
import { diffProtocols } from '../../rules/kinds/refill/diff.ts';
import type { ProtocolDefinition } from '../../rules/kinds/refill/protocol.ts';
import { findBuiltinProtocol } from '../../rules/kinds/refill/protocols/index.ts';

const v1 = findBuiltinProtocol('family-medicine-2015')!;
const copy = (): ProtocolDefinition => structuredClone(v1);

describe('canonicalJson', () => {
  test('sorts keys at every level and drops undefined members, so key order never changes a hash', () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: undefined } })).toBe(
      '{"a":{"d":[3,{"y":2,"z":1}]},"b":1}',
    );
    expect(canonicalJson(Object.fromEntries(Object.entries(v1).reverse()))).toBe(canonicalJson(v1));
    expect(canonicalJson('é"\n')).toBe(JSON.stringify('é"\n'));
  });
});

describe('diffProtocols', () => {
  test('the same document has no changes, and a new version number is not a change', () => {
    expect(diffProtocols(v1, { ...copy(), version: 7 })).toEqual({
      changes: [],
      counts: { added: 0, removed: 0, changed: 0 },
    });
  });

  test('a changed window is one criterion change, in its category, with the value before and after', () => {
    const v2 = copy();
    const crit = v2.categories.find((c) => c.id === 'arthritis')!.criteria[0]!;
    (crit.when as { all: { value: number }[] }).all[0]!.value = 24;
    expect(diffProtocols(v1, v2).changes).toEqual([
      {
        kind: 'criterion',
        category: 'arthritis',
        id: 'visit_within_18mo',
        change: 'changed',
        fields: [{ path: '$.when.all[0].value', before: 18, after: 24 }],
      },
    ]);
  });

  test('added and removed criteria and routes are reported whole; a category edit does not list its criteria', () => {
    const v2 = copy();
    const route = v2.routes.shift()!;
    const bladder = v2.categories.find((c) => c.id === 'bladder')!;
    const added = { ...bladder.criteria[0]!, id: 'bladder_scan_within_24mo' };
    bladder.criteria.push(added);
    bladder.title = 'Bladder (overactive)';
    v2.routes.push({ ...route, id: 'u500_to_endocrine_nurse', routeTo: 'endocrine_nurse' });
    const { changes, counts } = diffProtocols(v1, v2);
    expect(counts).toEqual({ added: 2, removed: 1, changed: 1 });
    expect(changes).toContainEqual({ kind: 'route', id: route.id, change: 'removed', before: route });
    expect(changes).toContainEqual(
      expect.objectContaining({ kind: 'route', id: 'u500_to_endocrine_nurse', change: 'added' }),
    );
    expect(changes).toContainEqual({
      kind: 'criterion',
      category: 'bladder',
      id: added.id,
      change: 'added',
      after: added,
    });
    expect(changes).toContainEqual({
      kind: 'category',
      id: 'bladder',
      change: 'changed',
      fields: [
        {
          path: '$.title',
          before: v1.categories.find((c) => c.id === 'bladder')!.title,
          after: 'Bladder (overactive)',
        },
      ],
    });
  });

  test('a criterion id shared by two categories is told apart by its category', () => {
    const v2 = copy();
    v2.categories = v2.categories.filter((c) => c.id !== 'herpes_antiviral');
    const { changes } = diffProtocols(v1, v2);
    expect(changes.map((c) => `${c.kind}:${c.category ?? ''}:${c.id}:${c.change}`).sort()).toEqual([
      'category::herpes_antiviral:removed',
      'criterion:herpes_antiviral:visit_within_18mo:removed',
    ]);
  });
});

describe('leafChanges', () => {
  test('reports added, removed and retyped leaves at their paths', () => {
    expect(leafChanges({ a: 1, b: [1, 2], c: { d: 'x' } }, { a: 1, b: [1], c: 'x', e: null })).toEqual([
      { path: '$.b[1]', before: 2 },
      { path: '$.c', before: { d: 'x' }, after: 'x' },
      { path: '$.e', after: null },
    ]);
  });
});
