// Facts-snapshot listing bounds (recordedAt from/before) and keyset paging, on both dialects: the CLI's
// `protocols simulate --clinic --from --to` reads every page through these.
import { afterAll, beforeAll, describe, expect, inject, test } from 'vitest';
import { createStore, type Store } from '../../connectors/db/index.ts';
import { AppError } from '../../rules/index.ts';
import { openTestDatabase, type TestDatabase } from '../helpers/db.ts';

const postgresUrl = inject('postgresUrl');
const dialects = [
  { dialect: 'sqlite' as const, adminUrl: undefined, skip: false },
  { dialect: 'postgres' as const, adminUrl: postgresUrl, skip: postgresUrl === undefined },
];

describe.each(dialects)('snapshot listing on $dialect', ({ dialect, adminUrl, skip }) => {
  let t: TestDatabase;
  let store: Store;
  const q = { clinicId: 'c1', protocolId: 'fm' };

  beforeAll(async () => {
    if (skip) return;
    t = await openTestDatabase(dialect, adminUrl);
    store = createStore(t.db);
    const put = (caseId: string, recordedAt: string, protocolId = 'fm') =>
      store.snapshots.put({ caseId, clinicId: 'c1', protocolId, recordedAt, facts: {}, decision: {} });
    await put('a', '2026-01-31T23:59:59.999Z');
    await put('b', '2026-02-01T00:00:00.000Z');
    // Three at the same instant: paging must split ties by caseId without losing or repeating one.
    await put('c1', '2026-02-15T10:00:00.000Z');
    await put('c2', '2026-02-15T10:00:00.000Z');
    await put('c3', '2026-02-15T10:00:00.000Z');
    await put('d', '2026-02-28T23:59:59.999Z');
    await put('e', '2026-03-01T00:00:00.000Z');
    await put('x', '2026-02-10T00:00:00.000Z', 'other');
  });
  afterAll(async () => {
    await t?.cleanup();
  });

  test.skipIf(skip)('a snapshot and the audit rows it comes with are written together, or neither is', async () => {
    const audit = (action: string, over: Record<string, unknown> = {}) => ({
      actorType: 'system' as const,
      actorId: 'worker',
      action,
      clinicId: null,
      caseId: 'with-audit',
      idempotencyKey: `with-audit:${action}`,
      ...over,
    });
    const snapshot = { caseId: 'with-audit', clinicId: 'c1', protocolId: 'audited', facts: {}, decision: {} };
    // The second row is invalid: nothing of the call stays.
    await expect(
      store.snapshots.put(snapshot, [
        audit('patient_context.read'),
        audit('protocol.evaluated', { actorType: 'robot' }),
      ]),
    ).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    expect(await store.snapshots.list({ clinicId: 'c1', protocolId: 'audited' })).toEqual([]);
    expect((await store.audit.listAudit({ caseId: 'with-audit' })).items).toEqual([]);
    await store.snapshots.put(snapshot, [audit('patient_context.read'), audit('protocol.evaluated')]);
    expect(await store.snapshots.list({ clinicId: 'c1', protocolId: 'audited' })).toHaveLength(1);
    expect((await store.audit.listAudit({ caseId: 'with-audit' })).items.map((a) => a.action).reverse()).toEqual([
      'patient_context.read',
      'protocol.evaluated',
    ]);
  });

  test.skipIf(skip)('from is inclusive, before exclusive; newest first', async () => {
    const rows = await store.snapshots.list({
      ...q,
      from: '2026-02-01T00:00:00.000Z',
      before: '2026-03-01T00:00:00.000Z',
    });
    expect(rows.map((r) => r.caseId)).toEqual(['d', 'c3', 'c2', 'c1', 'b']);
    expect((await store.snapshots.list(q)).map((r) => r.caseId)).toEqual(['e', 'd', 'c3', 'c2', 'c1', 'b', 'a']);
  });

  test.skipIf(skip)('olderThan pages through every row exactly once, ties included', async () => {
    const seen: string[] = [];
    let olderThan: { recordedAt: string; caseId: string } | undefined;
    for (let pages = 0; pages < 10; pages++) {
      const page = await store.snapshots.list({ ...q, limit: 2, ...(olderThan ? { olderThan } : {}) });
      seen.push(...page.map((r) => r.caseId));
      const last = page.at(-1);
      if (page.length < 2 || !last) break;
      olderThan = { recordedAt: last.recordedAt, caseId: last.caseId };
    }
    expect(seen).toEqual(['e', 'd', 'c3', 'c2', 'c1', 'b', 'a']);
  });

  test.skipIf(skip)('a malformed bound is INVALID_INPUT', async () => {
    const err: unknown = await store.snapshots.list({ ...q, from: 'yesterday' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).code).toBe('INVALID_INPUT');
  });
});
