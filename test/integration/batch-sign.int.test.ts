// Batch signing end to end (issue 9 §3): the API → the real Temporal dev server → the worker → the sandbox EHR. Each
// case of a batch is re-checked at sign time and answered on its own; a signed case waits out a durable undo window
// before its draft order is activated.
import type { MedicationRequest } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ORDER_IDENTIFIER_SYSTEM } from '../../activities/kinds/refill/ehr-writeback.ts';
import type { CaseRecord } from '../../connectors/db/index.ts';
import { refillEvent, startHarness, type Harness } from '../helpers/harness.ts';

const UNDO_SECONDS = 3;
const DOCTOR_2 = 'doctor-two-token-0123456789abcdef';

interface BatchBody {
  batchId: string;
  undoWindowSeconds: number;
  counts: { signed: number; refused: number };
  items: { caseId: string; result: 'signed' | 'refused'; reason: string | null; activatesAt: string | null }[];
}

function orderFor(h: Harness, caseId: string): MedicationRequest | undefined {
  return h.sandbox.repo
    .search('MedicationRequest', new URLSearchParams({ identifier: `${ORDER_IDENTIFIER_SYSTEM}|${caseId}` }))
    .entry?.map((e) => e.resource as MedicationRequest)[0];
}

async function start(h: Harness, medicationRequestId: string): Promise<string> {
  const res = await h.webhook(h.clinicId, refillEvent(medicationRequestId));
  expect(res.status, await res.clone().text()).toBe(202);
  return ((await res.json()) as { caseId: string }).caseId;
}

/** Polls the projection directly: reading a case through the API would audit a view (and block batching it). */
async function waitFor(h: Harness, caseId: string, until: (c: CaseRecord) => boolean, ms = 30_000) {
  const deadline = Date.now() + ms;
  let last: CaseRecord | null = null;
  while (Date.now() < deadline) {
    last = await h.store.cases.getCase(caseId);
    if (last && until(last)) return last;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`case ${caseId} did not get there; last: ${last?.status} ${last?.queue} ${last?.reason}`);
}

const inSignatureQueue = (c: CaseRecord) => c.status === 'queued' && c.queue === 'signature';

async function batchSign(
  h: Harness,
  items: { caseId: string; shownVersion: number }[],
  key: string,
  token?: string,
): Promise<{ status: number; body: BatchBody }> {
  const res = await h.api('/v1/queues/signature/batch-sign', {
    method: 'POST',
    ...(token ? { headers: { authorization: `Bearer ${token}` } } : { as: 'doctor' as const }),
    body: JSON.stringify({ items, idempotencyKey: key }),
  });
  return { status: res.status, body: (await res.json()) as BatchBody };
}

const shown = async (h: Harness, caseId: string) => ({
  caseId,
  shownVersion: (await h.store.cases.getCase(caseId))!.seq,
});

const timelineOf = (h: Harness, caseId: string) => h.store.cases.listCaseEvents(caseId);

describe('batch signing (automation on)', () => {
  let h: Harness;
  let approvable: string[];
  beforeAll(async () => {
    h = await startHarness({
      patients: 80,
      env: { BATCH_SIGN_UNDO_SECONDS: String(UNDO_SECONDS), BATCH_SIGN_MAX_ITEMS: '5' },
    });
    await h.store.tokens.createToken({
      name: 'doctor 2',
      role: 'doctor',
      userId: 'doctor-2',
      clinicId: null,
      token: DOCTOR_2,
    });
    // Distinct patients' approvable requests (the protocol approves them: every criterion passed).
    const byPatient = new Map<string, string>();
    for (const s of h.scenarios) {
      if (s.expectedDisposition === 'approve' && !byPatient.has(s.patientId))
        byPatient.set(s.patientId, s.medicationRequestId);
    }
    approvable = [...byPatient.values()];
    expect(approvable.length).toBeGreaterThanOrEqual(6);
  });
  afterAll(async () => {
    await h?.close();
  });

  test('a changed case is refused with its reason, the rest signed; after the window the orders are active; a retried batch signs nothing twice', async () => {
    const [a, b, c] = await Promise.all(approvable.slice(0, 3).map((mr) => start(h, mr)));
    for (const id of [a!, b!, c!]) await waitFor(h, id, inSignatureQueue);
    for (const id of [a!, b!, c!]) expect(orderFor(h, id)?.status).toBe('draft');
    const seen = await Promise.all([a!, b!, c!].map((id) => shown(h, id)));

    // Case A changes after it was shown: signed alone and undone (its version moves, its draft stays a draft).
    const alone = await batchSign(h, [seen[0]!], 'changes-a-0001');
    expect(alone.body.items[0]).toMatchObject({ result: 'signed' });
    const undo = await h.api(`/v1/cases/${a}/undo-signature`, { method: 'POST', as: 'doctor', body: '{}' });
    expect(undo.status, await undo.clone().text()).toBe(200);
    await waitFor(h, a!, (x) => x.seq > seen[0]!.shownVersion + 2);

    const first = await batchSign(h, seen, 'batch-key-0001');
    expect(first.status, JSON.stringify(first.body)).toBe(200);
    expect(first.body.undoWindowSeconds).toBe(UNDO_SECONDS);
    expect(first.body.counts).toEqual({ signed: 2, refused: 1 });
    expect(first.body.items.map((i) => [i.caseId, i.result, i.reason])).toEqual([
      [a, 'refused', 'changed'],
      [b, 'signed', null],
      [c, 'signed', null],
    ]);
    // Inside the window nothing has gone out: the drafts are drafts.
    expect(orderFor(h, b!)?.status).toBe('draft');
    expect(orderFor(h, c!)?.status).toBe('draft');

    // The same batch again, inside the window: the same answers, from the same Updates.
    const retried = await batchSign(h, seen, 'batch-key-0001');
    expect(retried.body.items.map((i) => [i.caseId, i.result, i.reason])).toEqual(
      first.body.items.map((i) => [i.caseId, i.result, i.reason]),
    );

    for (const id of [b!, c!]) {
      const closed = await waitFor(h, id, (x) => x.status === 'closed');
      expect(closed.outcome).toBe('approved');
      const order = orderFor(h, id);
      expect(order?.status).toBe('active');
      expect(order?.requester?.display).toBe('doctor doctor-1');
    }
    const activatedAt = Date.parse(first.body.items[1]!.activatesAt!);
    expect(activatedAt).toBeGreaterThan(Date.now() - 30_000);
    expect(orderFor(h, a!)?.status).toBe('draft');
    expect((await h.store.cases.getCase(a!))?.status).toBe('queued');

    // And again once the cases are closed (their workflows finished): answered from their timelines.
    const late = await batchSign(h, seen, 'batch-key-0001');
    expect(late.body.items.map((i) => [i.caseId, i.result])).toEqual([
      [a, 'refused'],
      [b, 'signed'],
      [c, 'signed'],
    ]);
    for (const id of [b!, c!]) {
      const events = await timelineOf(h, id);
      expect(events.filter((e) => e.kind === 'decision.received')).toHaveLength(1);
      expect(events.filter((e) => e.kind === 'signature.held')).toHaveLength(1);
      const signedNotes = (orderFor(h, id)?.note ?? []).filter((n) => n.text?.startsWith('Signed ('));
      expect(signedNotes).toHaveLength(1);
      const writes = await h.store.audit.listAudit({ caseId: id, action: 'ehr.write_back' });
      expect(writes.items.filter((w) => w.detail.kind === 'sign_order')).toHaveLength(1);
    }
  });

  test('undo inside the window: only the signer may; the draft stays a draft and the case is back in the queue', async () => {
    const d = await start(h, approvable[3]!);
    await waitFor(h, d, inSignatureQueue);
    const res = await batchSign(h, [await shown(h, d)], 'undo-batch-0001');
    expect(res.body.items[0]).toMatchObject({ caseId: d, result: 'signed' });

    const other = await h.api(`/v1/cases/${d}/undo-signature`, {
      method: 'POST',
      headers: { authorization: `Bearer ${DOCTOR_2}` },
      body: '{}',
    });
    expect(other.status).toBe(403);
    const undo = await h.api(`/v1/cases/${d}/undo-signature`, { method: 'POST', as: 'doctor', body: '{}' });
    expect(undo.status, await undo.clone().text()).toBe(200);

    // Well past the window: nothing went out.
    await new Promise((r) => setTimeout(r, (UNDO_SECONDS + 1.5) * 1000));
    const back = await h.store.cases.getCase(d);
    expect(back).toMatchObject({ status: 'queued', queue: 'signature', outcome: null });
    expect(orderFor(h, d)?.status).toBe('draft');
    const kinds = (await timelineOf(h, d)).map((e) => e.kind);
    expect(kinds).toContain('signature.undone');
    expect(kinds).not.toContain('case.closed');
    const audit = await h.store.audit.listAudit({ caseId: d, action: 'signature.undone' });
    expect(audit.items).toHaveLength(1);
    // A second undo finds no signature waiting.
    expect((await h.api(`/v1/cases/${d}/undo-signature`, { method: 'POST', as: 'doctor', body: '{}' })).status).toBe(
      409,
    );
    // Back in the queue means signable again, one by one as before.
    const single = await h.api(`/v1/cases/${d}/decision`, {
      method: 'POST',
      as: 'doctor',
      body: JSON.stringify({ action: 'approve' }),
    });
    expect(single.status, await single.clone().text()).toBe(200);
    await waitFor(h, d, (x) => x.status === 'closed');
    expect(orderFor(h, d)?.status).toBe('active');
    // An undo whose id happens to equal that decision's is an undo, not a redelivery of the decision: refused as one
    // (the case is closed), never answered with the decision's acknowledgement.
    const { decisionId } = (await single.json()) as { decisionId: string };
    const clash = await h.api(`/v1/cases/${d}/undo-signature`, {
      method: 'POST',
      as: 'doctor',
      body: JSON.stringify({ undoId: decisionId }),
    });
    expect(clash.status, await clash.clone().text()).toBe(409);
  });

  test('a case another user opened in the last minute is refused; a failed criterion is refused; the cap and the signing policy hold', async () => {
    const e = await start(h, approvable[4]!);
    await waitFor(h, e, inSignatureQueue);
    const opened = await h.api(`/v1/cases/${e}`, { headers: { authorization: `Bearer ${DOCTOR_2}` } });
    expect(opened.status).toBe(200);

    // A nurse's approval of a nurse-review case pends a draft with failed criteria into the signature queue.
    const w = h.scenario((x) => x.scenario === 'warfarin-to-protime-nurse');
    const f = await start(h, w.medicationRequestId);
    await waitFor(h, f, (x) => x.status === 'queued' && x.queue === 'nurse');
    const nurse = await h.api(`/v1/cases/${f}/decision`, {
      method: 'POST',
      as: 'nurse',
      body: JSON.stringify({ action: 'approve' }),
    });
    expect(nurse.status).toBe(200);
    await waitFor(h, f, inSignatureQueue);

    const res = await batchSign(h, [await shown(h, e), await shown(h, f)], 'opened-batch-0001');
    expect(res.body.items.map((i) => [i.caseId, i.result, i.reason])).toEqual([
      [e, 'refused', 'opened_by_other'],
      [f, 'refused', 'failed_criterion'],
    ]);
    expect(orderFor(h, e)?.status).toBe('draft');
    expect(orderFor(h, f)?.status).toBe('draft');

    // The signer's own look does not count.
    const mine = await h.api(`/v1/cases/${e}`, { as: 'doctor' });
    expect(mine.status).toBe(200);
    const capped = await batchSign(
      h,
      Array.from({ length: 6 }, (_, i) => ({ caseId: `rf_${h.clinicId}_mr-x${i}`, shownVersion: 1 })),
      'capped-batch-0001',
    );
    expect(capped.status).toBe(400);
    expect(JSON.stringify(capped.body)).toContain('$.items');
    // A nurse may sign only where the clinic's signing policy delegates to nurses (here: doctors sign), so each case
    // is refused to her; an admin never signs.
    const byNurse = await h.api('/v1/queues/signature/batch-sign', {
      method: 'POST',
      as: 'nurse',
      body: JSON.stringify({ items: [await shown(h, e)], idempotencyKey: 'nurse-batch-0001' }),
    });
    expect(byNurse.status).toBe(200);
    expect(((await byNurse.json()) as BatchBody).items[0]).toMatchObject({ result: 'refused', reason: 'forbidden' });
    const byAdmin = await h.api('/v1/queues/signature/batch-sign', {
      method: 'POST',
      as: 'admin',
      body: JSON.stringify({ items: [await shown(h, e)], idempotencyKey: 'admin-batch-0001' }),
    });
    expect(byAdmin.status).toBe(403);
    expect(orderFor(h, e)?.status).toBe('draft');
  });
});

describe('batch signing never takes a controlled substance', () => {
  let h: Harness;
  beforeAll(async () => {
    // Automation off: nothing is evaluated, so only the sign-time check of the EHR's own record can see the drug.
    h = await startHarness({ patients: 80, clinic: { refillAutomationEnabled: false } });
  });
  afterAll(async () => {
    await h?.close();
  });

  test('a controlled substance a nurse pended is refused at sign time; an unevaluated case too', async () => {
    const controlled = h.scenario((x) => x.scenario === 'controlled-substance');
    const plain = h.scenario((x) => x.expectedDisposition === 'approve' && x.patientId !== controlled.patientId);
    const ids: string[] = [];
    for (const s of [controlled, plain]) {
      const id = await start(h, s.medicationRequestId);
      await waitFor(h, id, (x) => x.status === 'queued' && x.queue === 'nurse');
      const r = await h.api(`/v1/cases/${id}/decision`, {
        method: 'POST',
        as: 'nurse',
        body: JSON.stringify({ action: 'approve' }),
      });
      expect(r.status).toBe(200);
      await waitFor(h, id, inSignatureQueue);
      expect(orderFor(h, id)?.status).toBe('draft');
      ids.push(id);
    }
    const res = await batchSign(h, await Promise.all(ids.map((id) => shown(h, id))), 'controlled-batch-0001');
    expect(res.status).toBe(200);
    expect(res.body.items.map((i) => [i.caseId, i.result, i.reason])).toEqual([
      [ids[0], 'refused', 'controlled_substance'],
      [ids[1], 'refused', 'not_evaluated'],
    ]);
    for (const id of ids) expect(orderFor(h, id)?.status).toBe('draft');
  });
});
