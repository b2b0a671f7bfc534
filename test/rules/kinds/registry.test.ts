/* eslint-disable @typescript-eslint/no-unsafe-assignment -- JSON answers and protocol documents edited on purpose, read untyped */
// The kinds registry and the engine's dispatch by kind: which kind a definition is, validation with JSON paths,
// the generic diff, and the recorded-case simulation through a kind's evaluate/summarize.
import { describe, expect, test } from 'vitest';
import { simulateKindRecorded, type SnapshotSource } from '../../../rules/engine/simulate-kind.ts';
import { CARE_GAP_BUILTINS, type CareGapFacts } from '../../../rules/kinds/care-gap/index.ts';
import {
  BUILTIN_DEFINITIONS,
  DEFAULT_KIND,
  diffByKind,
  kindById,
  kindOf,
  KINDS,
  parseAnyProtocol,
  validateAnyProtocol,
} from '../../../rules/kinds/index.ts';
import { BUILTIN_PROTOCOLS } from '../../../rules/kinds/refill/protocols/index.ts';

const crc = structuredClone(CARE_GAP_BUILTINS[0]!) as unknown as Record<string, unknown> & {
  clauses: Record<string, unknown>[];
};
const refillDoc = structuredClone(BUILTIN_PROTOCOLS[0]!) as unknown as Record<string, unknown>;

const none = { present: false, lastDate: null, evidence: [] };

/** A 60-year-old, average risk, reachable, whose last colonoscopy was on `colonoscopy` (or never). */
function facts(asOf: string, colonoscopy: string | null): CareGapFacts {
  const test = colonoscopy ? { resourceType: 'Procedure', id: `proc-${colonoscopy}`, date: colonoscopy } : null;
  return {
    asOf,
    patient: {
      ageYears: 60,
      postalAddress: true,
      phone: true,
      evidence: { resourceType: 'Patient', id: 'p1' },
    },
    exclusions: {
      colorectalCancer: none,
      totalColectomy: none,
      hospice: none,
      palliativeCare: none,
      frailty: none,
      advancedIllness: none,
      dementiaMedication: none,
      housing: { status: null, date: null, evidence: null },
    },
    risk: { lowerGiSymptoms: none, inflammatoryBowelDisease: none, colonicPolypsHistory: none },
    tests: {
      lastPositiveFit: null,
      lastNegativeFit: null,
      lastPositiveSdna: null,
      lastNegativeSdna: null,
      lastCtColonography: null,
      lastSigmoidoscopy: null,
      lastColonoscopy: test,
      lastResult: test,
    },
    orders: { latestOpen: null, latestActive: null },
    declined: { last: null },
  };
}

describe('the kinds registry', () => {
  test('lists refill first (the kind of a definition without `kind`) and care-gap', () => {
    expect(KINDS.map((k) => k.id)).toEqual(['refill', 'care-gap']);
    expect(DEFAULT_KIND.id).toBe('refill');
    expect(kindById('care-gap')?.workflowType).toBe('careGap');
    expect(kindById('nope')).toBeUndefined();
  });

  test('kindOf: no kind and "refill" are refill, "care-gap" is care-gap, anything else is no kind', () => {
    expect(kindOf(refillDoc)?.id).toBe('refill');
    expect(kindOf({ ...refillDoc, kind: 'refill' })?.id).toBe('refill');
    expect(kindOf(crc)?.id).toBe('care-gap');
    expect(kindOf({ ...crc, kind: 'vaccines' })).toBeNull();
    expect(kindOf([])).toBeNull();
    expect(kindOf('x')).toBeNull();
  });

  test('every built-in of every kind validates with its kind', () => {
    for (const { kind, definition } of BUILTIN_DEFINITIONS) {
      expect(validateAnyProtocol(definition), definition.id).toEqual([]);
      expect(parseAnyProtocol(definition).kind.id).toBe(kind);
    }
    expect(BUILTIN_DEFINITIONS.map((b) => b.definition.id)).toContain('crc-screening-2021');
  });

  test('a refill document may say "kind": "refill" (the strict refill schema still applies)', () => {
    expect(validateAnyProtocol({ ...refillDoc, kind: 'refill' })).toEqual([]);
    expect(validateAnyProtocol({ ...refillDoc, kind: 'refill', extra: 1 })).toEqual([
      expect.objectContaining({ path: '$' }),
    ]);
  });

  test('an unknown kind, a kind other than the protocol’s, and a broken clause are issues with JSON paths', () => {
    expect(validateAnyProtocol({ ...crc, kind: 'vaccines' })).toEqual([
      { path: '$.kind', message: expect.stringContaining('unknown protocol kind "vaccines"') },
    ]);
    expect(validateAnyProtocol(crc, 'refill')).toEqual([
      { path: '$.kind', message: expect.stringContaining("a protocol's kind is fixed at creation") },
    ]);
    expect(validateAnyProtocol(refillDoc, 'care-gap')).toEqual([expect.objectContaining({ path: '$.kind' })]);
    const broken = structuredClone(crc);
    broken.clauses[3]!.when = { all: [{ fact: 'tests', path: '$.lastMri.date', operator: 'withinMonths', value: 12 }] };
    const issues = validateAnyProtocol(broken);
    expect(issues.length).toBeGreaterThan(0);
    expect(issues[0]!.path).toMatch(/^\$\.clauses\[3\]\.when/);
    expect(() => parseAnyProtocol(broken)).toThrow(/protocol is invalid: \$\.clauses\[3\]/);
    expect(validateAnyProtocol(42)).toEqual([{ path: '$', message: expect.any(String) }]);
  });

  test('a document nested too deep is one issue at $, for every kind', () => {
    let deep: unknown = 1;
    for (let i = 0; i < 200; i++) deep = { all: [deep] };
    expect(validateAnyProtocol({ ...crc, description: deep })).toEqual([
      { path: '$', message: expect.stringContaining('nested deeper') },
    ]);
  });
});

describe('diff by kind', () => {
  test('a care-gap protocol is diffed clause by clause (generic diff), refill with its own', () => {
    const after = structuredClone(crc);
    const c10 = after.clauses.find((c) => c.id === 'CRC-10')!;
    (c10.when as { any: { value: number }[] }).any[4]!.value = 96;
    after.clauses = after.clauses.filter((c) => c.id !== 'CRC-16');
    after.title = 'Colorectal screening (edited)';
    const diff = diffByKind(kindById('care-gap')!, crc, after);
    expect(diff.counts).toEqual({ added: 0, removed: 1, changed: 2 });
    expect(diff.changes).toContainEqual({
      kind: 'item',
      collection: 'clauses',
      id: 'CRC-10',
      change: 'changed',
      fields: [{ path: '$.when.any[4].value', before: 120, after: 96 }],
    });
    expect(diff.changes).toContainEqual(expect.objectContaining({ id: 'CRC-16', change: 'removed' }));
    expect(diff.changes).toContainEqual(expect.objectContaining({ kind: 'protocol', id: 'title', change: 'changed' }));
    expect(diffByKind(kindById('care-gap')!, crc, structuredClone(crc)).changes).toEqual([]);

    const refillAfter = structuredClone(refillDoc);
    refillAfter.title = 'Edited';
    expect(diffByKind(DEFAULT_KIND, refillDoc, refillAfter).changes).toEqual([
      expect.objectContaining({ kind: 'protocol', id: 'title' }),
    ]);
  });
});

describe('simulation over recorded care-gap cases', () => {
  const kind = kindById('care-gap')!;
  const asOf = '2026-06-01';
  // Colonoscopies 5, 9 and 11 years ago, and none.
  const recorded = [
    { caseId: 'cg-a', colonoscopy: '2021-05-01' },
    { caseId: 'cg-b', colonoscopy: '2017-03-01' },
    { caseId: 'cg-c', colonoscopy: '2015-01-01' },
    { caseId: 'cg-d', colonoscopy: null },
  ];

  async function snapshots(): Promise<SnapshotSource & { pages: number }> {
    const rows = await Promise.all(
      recorded.map(async (r, i) => {
        const f = facts(asOf, r.colonoscopy);
        return {
          caseId: r.caseId,
          recordedAt: `2026-06-01T00:00:0${i}.000Z`,
          facts: f,
          decision: await kind.evaluate(crc, f),
        };
      }),
    );
    rows.push({
      caseId: 'cg-old',
      recordedAt: '2026-05-01T00:00:00.000Z',
      facts: { old: true } as unknown as CareGapFacts,
      decision: {} as Awaited<ReturnType<typeof kind.evaluate>>,
    });
    const source = {
      pages: 0,
      list: (q: { limit: number }) => {
        source.pages += 1;
        return Promise.resolve(rows.slice(0, q.limit));
      },
    };
    return source;
  }

  test('the recorded decisions replayed with the same version: nothing changes', async () => {
    const r = await simulateKindRecorded(kind, await snapshots(), crc, { clinicId: 'c', protocolId: crc.id as string });
    expect(r.evaluated).toBe(4);
    expect(r.skipped).toBe(1);
    expect(r.changedTotal).toBe(0);
    expect(r.before.counts).toEqual(r.after.counts);
    expect(r.before.counts.gap_closed).toBe(2);
    expect(r.before.counts.outreach).toBe(2);
    // Gap closed needs no clinician; outreach does (a tracking item).
    expect(r.before.automationRate).toBe(0.5);
  });

  test('a shorter colonoscopy window: the cases that flip, with the clauses that flipped', async () => {
    const draft = structuredClone(crc);
    const c10 = draft.clauses.find((c) => c.id === 'CRC-10')!;
    (c10.when as { any: { value: number }[] }).any[4]!.value = 96; // 8 years instead of 10
    const r = await simulateKindRecorded(kind, await snapshots(), draft, {
      clinicId: 'c',
      protocolId: crc.id as string,
    });
    expect(r.changedTotal).toBe(1);
    expect(r.changed).toEqual([
      {
        caseId: 'cg-b',
        recordedAt: expect.any(String),
        before: expect.objectContaining({ disposition: 'gap_closed', clause: 'CRC-10', protocolVersion: 1 }),
        after: expect.objectContaining({ disposition: 'outreach', clause: 'CRC-17' }),
        criteria: expect.arrayContaining([
          { id: 'CRC-10', clause: 'CRC-10', before: true, after: false },
          expect.objectContaining({ id: 'CRC-17', after: true }),
        ]),
      },
    ]);
    expect(r.after.counts.outreach).toBe(3);
    expect(r.after.counts.gap_closed).toBe(1);
  });

  test('maxChanged keeps the list short but every change is counted', async () => {
    const draft = structuredClone(crc);
    const c10 = draft.clauses.find((c) => c.id === 'CRC-10')!;
    (c10.when as { any: { value: number }[] }).any[4]!.value = 12;
    const r = await simulateKindRecorded(
      kind,
      await snapshots(),
      draft,
      { clinicId: 'c', protocolId: 'crc' },
      { maxChanged: 1 },
    );
    expect(r.changedTotal).toBe(2);
    expect(r.changed).toHaveLength(1);
  });
});
