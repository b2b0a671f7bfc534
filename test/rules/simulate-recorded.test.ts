// simulateRecorded is the one simulation over recorded cases (API and CLI): keyset pages newest first, evaluated as
// they arrive, with the same counts and changed cases as simulateCompiled (= simulateProtocol, test/rules/
// simulate-compiled.test.ts) over the whole range at once.
import { describe, expect, test } from 'vitest';
import { compileProtocol } from '../../rules/kinds/refill/compile.ts';
import { simulateCompiled } from '../../rules/kinds/refill/simulate-compiled.ts';
import type { RecordedCase } from '../../rules/kinds/refill/simulate.ts';
import { simulateRecorded } from '../../rules/kinds/refill/simulate-recorded.ts';
import { RECORDED_PAGE, type SnapshotSource, type StoredSnapshot } from '../../rules/engine/simulate-kind.ts';
import { parseProtocol, type ProtocolDefinition } from '../../rules/kinds/refill/protocol.ts';
import { findBuiltinProtocol } from '../../rules/kinds/refill/protocols/index.ts';
import { refillFactsCorpus, syntheticRefillFacts } from '../../sandbox/synthetic/facts-corpus.ts';

const v1 = findBuiltinProtocol('family-medicine-2015') as ProtocolDefinition;
// v2: no guards (allergy and inactive prescriptions no longer stop a renewal) and no highest-precedence route.
const v2 = parseProtocol({ ...v1, version: 2, guards: [], routes: v1.routes.slice(1) });

const facts = refillFactsCorpus(syntheticRefillFacts({ seed: 5, patients: 200, asOf: '2026-03-31' }), 12_000, 3);
const record = compileProtocol(v1);
/** Oldest first; distinct instants so the keyset order is the array order. */
const cases: RecordedCase[] = facts.map((f, i) => ({
  caseId: `c-${String(i).padStart(5, '0')}`,
  recordedAt: new Date(Date.UTC(2026, 0, 1) + i * 60_000).toISOString(),
  facts: f,
  decision: record(f),
}));

/** An in-memory snapshot store with the repository's contract: newest first, keyset `olderThan`, `limit`. */
function store(rows: readonly StoredSnapshot[]) {
  const calls: { limit: number; olderThan?: { recordedAt: string; caseId: string } }[] = [];
  const newestFirst = [...rows].sort((a, b) =>
    a.recordedAt === b.recordedAt ? b.caseId.localeCompare(a.caseId) : b.recordedAt.localeCompare(a.recordedAt),
  );
  const source: SnapshotSource = {
    list: ({ limit, olderThan }) => {
      calls.push({ limit, ...(olderThan && { olderThan }) });
      const after = olderThan
        ? newestFirst.filter(
            (r) =>
              r.recordedAt < olderThan.recordedAt ||
              (r.recordedAt === olderThan.recordedAt && r.caseId < olderThan.caseId),
          )
        : newestFirst;
      return Promise.resolve(after.slice(0, limit));
    },
  };
  return { source, calls };
}

const range = { clinicId: 'clinic-a', protocolId: v1.id };

describe('simulateRecorded', () => {
  test('pages through the whole range and reports what one evaluation of the whole range reports', async () => {
    const { source, calls } = store(cases);
    const pages: number[] = [];
    const r = await simulateRecorded(source, v2, range, { onPage: (p) => void pages.push(p.cases.length) });
    const expected = simulateCompiled(v2, [...cases].reverse());
    expect(expected.changed.length).toBeGreaterThan(10);
    expect(r).toEqual({ ...expected, skipped: 0, changedTotal: expected.changed.length });
    expect(pages).toEqual([RECORDED_PAGE, RECORDED_PAGE, cases.length - 2 * RECORDED_PAGE]);
    expect(calls.map((c) => c.olderThan?.caseId)).toEqual([undefined, 'c-07000', 'c-02000']);
  }, 60_000);

  test('`limit` takes the newest cases; unparsable snapshots count toward it and are reported as skipped', async () => {
    const broken: StoredSnapshot = {
      caseId: 'old-schema',
      recordedAt: '2026-12-31T00:00:00.000Z', // the newest
      facts: { a1cDays: 30 },
      decision: {},
    };
    const { source } = store([...cases, broken]);
    const r = await simulateRecorded(source, v2, { ...range, limit: 6_001 });
    const newest = cases.slice(-6_000).reverse();
    const expected = simulateCompiled(v2, newest);
    expect(r).toEqual({ ...expected, skipped: 1, changedTotal: expected.changed.length });
  }, 60_000);

  test('`maxChanged` caps the list, not the count', async () => {
    const { source } = store(cases.slice(0, 3_000));
    const all = await simulateRecorded(source, v2, range);
    const capped = await simulateRecorded(source, v2, range, { maxChanged: 3 });
    expect(all.changed.length).toBeGreaterThan(3);
    expect(capped.changed).toEqual(all.changed.slice(0, 3));
    expect(capped.changedTotal).toBe(all.changed.length);
  }, 60_000);

  test('a baseline replaces the recorded decisions: the same protocol as baseline changes nothing', async () => {
    const { source } = store(cases.slice(0, 3_000));
    expect((await simulateRecorded(source, v2, range)).changedTotal).toBeGreaterThan(0);
    const r = await simulateRecorded(source, v2, range, { baseline: v2 });
    expect(r.changedTotal).toBe(0);
    expect(r.before).toEqual(r.after);
  }, 60_000);
});
