// Order semantics and signing end to end (issue 9): the API's webhook → the real Temporal dev server → the worker →
// the sandbox EHR. An order nobody signed is a FHIR `draft`; it becomes `active` only when a signer signs it.
import type { MedicationRequest } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ORDER_IDENTIFIER_SYSTEM } from '../../activities/kinds/refill/ehr-writeback.ts';
import { refillEvent, startHarness, type Harness } from '../helpers/harness.ts';

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ patients: 60 });
});
afterAll(async () => {
  await h?.close();
});

const orderFor = (caseId: string): MedicationRequest | undefined =>
  h.sandbox.repo
    .search('MedicationRequest', new URLSearchParams({ identifier: `${ORDER_IDENTIFIER_SYSTEM}|${caseId}` }))
    .entry?.map((e) => e.resource as MedicationRequest)[0];
const proposal = (id: string) => h.sandbox.repo.read('MedicationRequest', id) as MedicationRequest;
async function start(medicationRequestId: string): Promise<string> {
  const res = await h.webhook(h.clinicId, refillEvent(medicationRequestId));
  expect(res.status, await res.clone().text()).toBe(202);
  return ((await res.json()) as { caseId: string }).caseId;
}
const decide = (caseId: string, as: 'nurse' | 'doctor', body: Record<string, unknown>) =>
  h.api(`/v1/cases/${caseId}/decision`, { method: 'POST', as, body: JSON.stringify(body) });

describe('draft becomes active only on signature (signing policy `doctor`)', () => {
  test('a nurse’s approval pends a draft and moves the case to the signature queue; the doctor’s signature activates it', async () => {
    const s = h.scenario((x) => x.scenario === 'warfarin-to-protime-nurse');
    const caseId = await start(s.medicationRequestId);
    await h.waitForCase(caseId, (c) => c.status === 'queued' && c.queue === 'nurse');
    expect(orderFor(caseId)).toBeUndefined();

    const r = await decide(caseId, 'nurse', { action: 'approve', note: 'INR in range' });
    expect(r.status, await r.clone().text()).toBe(200);
    const pended = await h.waitForCase(caseId, (c) => c.queue === 'signature');
    expect(pended.status).toBe('queued');
    expect(pended.reason).toBe('pended_for_signature');
    const draft = orderFor(caseId);
    expect(draft?.status).toBe('draft');
    expect(draft?.requester).toBeUndefined();
    expect(proposal(s.medicationRequestId).status).not.toBe('completed');

    // The nurse cannot sign her own draft; the doctor can.
    expect((await decide(caseId, 'nurse', { action: 'approve' })).status).toBe(403);
    expect(orderFor(caseId)?.status).toBe('draft');
    const signed = await decide(caseId, 'doctor', { action: 'approve' });
    expect(signed.status, await signed.clone().text()).toBe(200);
    const closed = await h.waitForCase(caseId, (c) => c.status === 'closed');
    expect(closed.outcome).toBe('approved');
    expect(closed.timeline.filter((e) => e.kind === 'ehr.write_failed')).toEqual([]);
    const order = orderFor(caseId);
    expect(order).toMatchObject({ id: draft?.id, status: 'active', requester: { reference: '#signer' } });
    expect(order?.requester?.display).toBe('doctor doctor-1');
    expect(proposal(s.medicationRequestId).status).toBe('completed');
  });

  test('a denial in the signature queue cancels the draft; the proposal is cancelled, never completed', async () => {
    const s = h.scenario((x) => x.scenario === 'ppi-rov-within-18mo');
    const caseId = await start(s.medicationRequestId);
    await h.waitForCase(caseId, (c) => c.status === 'queued' && c.queue === 'signature');
    expect(orderFor(caseId)?.status).toBe('draft');
    const r = await decide(caseId, 'doctor', { action: 'deny', note: 'Stopping this medicine' });
    expect(r.status, await r.clone().text()).toBe(200);
    await h.waitForCase(caseId, (c) => c.status === 'closed');
    expect(orderFor(caseId)?.status).toBe('cancelled');
    expect(proposal(s.medicationRequestId).status).toBe('cancelled');
  });
});
