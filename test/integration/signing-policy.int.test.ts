// Signing policies end to end (issue 9 §1): the admin API sets the clinic's policy for its protocol → the webhook →
// the real Temporal dev server → the worker (which pins the policy at triage) → the sandbox EHR. Each policy, the
// delegates it refuses (403 from the API, and the workflow's Update validator when called past the API), controlled
// substances never delegated nor activated at once, and what each write-back records.
import type { Extension, MedicationRequest, PractitionerRole } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ORDER_IDENTIFIER_SYSTEM, SIGNING_EXTENSION_URL } from '../../activities/kinds/refill/ehr-writeback.ts';
import { AppError } from '../../rules/index.ts';
import { refillKind } from '../../rules/kinds/refill/index.ts';
import type { Role } from '../../rules/lifecycle/index.ts';
import type { RefillScenario } from '../../sandbox/synthetic/index.ts';
import { refillEvent, startHarness, type Harness, type TOKENS } from '../helpers/harness.ts';

const PROTOCOL = 'family-medicine-2015';
const AUTHORITY = { reference: 'Practitioner/dr-lopez', display: 'Dr. Ana Lopez, medical director' };

let h: Harness;
let fresh: (pred: (s: RefillScenario) => boolean) => RefillScenario;
beforeAll(async () => {
  // 100 synthetic patients: enough protocol approvals for every test, and two controlled-substance requests.
  h = await startHarness({ patients: 100 });
  const used = new Set<string>();
  fresh = (pred) => {
    const s = h.scenarios.find((x) => !used.has(x.medicationRequestId) && pred(x));
    if (!s) throw new Error('no unused synthetic scenario matches');
    used.add(s.medicationRequestId);
    return s;
  };
});
afterAll(async () => {
  await h?.close();
});

const approved = (s: RefillScenario) => s.expectedDisposition === 'approve';
const orderFor = (caseId: string): MedicationRequest | undefined =>
  h.sandbox.repo
    .search('MedicationRequest', new URLSearchParams({ identifier: `${ORDER_IDENTIFIER_SYSTEM}|${caseId}` }))
    .entry?.map((e) => e.resource as MedicationRequest)[0];
const proposal = (id: string) => h.sandbox.repo.read('MedicationRequest', id) as MedicationRequest;
/** The order's signing acts, as `capacity role policyMode vN protocol` lines. */
const signings = (order: MedicationRequest | undefined): string[] =>
  (order?.extension ?? [])
    .filter((e) => e.url === SIGNING_EXTENSION_URL)
    .map((e) => {
      const v = (url: string): Extension | undefined => e.extension?.find((x) => x.url === url);
      return [
        v('capacity')?.valueCode,
        v('role')?.valueCode,
        v('policyMode')?.valueCode,
        `v${v('policyVersion')?.valueInteger}`,
        v('protocol')?.valueString?.split('|')[0],
      ].join(' ');
    });
const roleCodes = (order: MedicationRequest | undefined, id: string): string[] =>
  ((order?.contained ?? []).find((c) => c.id === id) as PractitionerRole | undefined)?.code?.[0]?.coding?.map(
    (c) => c.code ?? '',
  ) ?? [];

async function setPolicy(body: Record<string, unknown>): Promise<number> {
  const r = await h.api(`/v1/clinics/${h.clinicId}/signing-policy/${PROTOCOL}`, {
    method: 'PUT',
    as: 'admin',
    body: JSON.stringify(body),
  });
  expect(r.status, await r.clone().text()).toBe(200);
  return ((await r.json()) as { version: number }).version;
}
async function start(s: RefillScenario): Promise<string> {
  const res = await h.webhook(h.clinicId, refillEvent(s.medicationRequestId));
  expect(res.status, await res.clone().text()).toBe(202);
  return ((await res.json()) as { caseId: string }).caseId;
}
const decide = (caseId: string, as: keyof typeof TOKENS, action: string) =>
  h.api(`/v1/cases/${caseId}/decision`, { method: 'POST', as, body: JSON.stringify({ action }) });
/** An Update sent straight to the workflow, past the API's precheck: the validator's answer. */
async function updateDirectly(caseId: string, role: Role, action: 'approve' | 'deny'): Promise<string> {
  try {
    await h.deps.workflows.submitDecision(caseId, refillKind.workflowType, {
      decisionId: `direct-${role}-${Math.random().toString(36).slice(2, 12)}`,
      action,
      actor: { userId: `${role}-1`, role },
      at: new Date().toISOString(),
    });
    return 'accepted';
  } catch (err) {
    if (err instanceof AppError) return err.code;
    throw err;
  }
}
const writeBacks = async (caseId: string) =>
  (await h.store.audit.listAudit({ caseId, action: 'ehr.write_back' })).items;

describe('`delegated`: the delegates the policy names sign protocol approvals', () => {
  test('a pharmacist signs as performer under the authority; a nurse the policy does not name is refused (API and Update)', async () => {
    const version = await setPolicy({ mode: 'delegated', delegates: ['pharmacist', 'pa'], authority: AUTHORITY });
    const s = fresh(approved);
    const caseId = await start(s);
    await h.waitForCase(caseId, (c) => c.status === 'queued' && c.queue === 'signature');
    expect(orderFor(caseId)?.status).toBe('draft');

    const nurse = await decide(caseId, 'nurse', 'approve');
    expect(nurse.status).toBe(403);
    expect(((await nurse.json()) as { error: { message: string } }).error.message).toMatch(/signing policy/);
    expect(await updateDirectly(caseId, 'nurse', 'approve')).toBe('FORBIDDEN');
    expect(orderFor(caseId)?.status).toBe('draft');

    // The policy changes after triage: this case keeps the version it pinned.
    await setPolicy({ mode: 'doctor' });
    const r = await decide(caseId, 'pharmacist', 'approve');
    expect(r.status, await r.clone().text()).toBe(200);
    const closed = await h.waitForCase(caseId, (c) => c.status === 'closed');
    expect(closed.outcome).toBe('approved');
    const order = orderFor(caseId);
    expect(order?.status).toBe('active');
    expect(order?.performer).toEqual({ reference: '#signer', display: 'pharmacist pharmacist-1' });
    expect(order?.requester).toEqual(AUTHORITY);
    expect(roleCodes(order, 'signer')).toEqual(['46255001', 'pharmacist']);
    expect(signings(order)).toEqual([`performer pharmacist delegated v${version} ${PROTOCOL}`]);
    expect(proposal(s.medicationRequestId).status).toBe('completed');
    // The audit rows say who signed, in which role and capacity, under which policy and protocol version.
    const sign = (await writeBacks(caseId)).find((a) => a.detail.kind === 'sign_order');
    expect(sign).toMatchObject({ actorId: 'pharmacist-1', actorRole: 'pharmacist', protocolId: PROTOCOL });
    expect(sign?.detail).toMatchObject({ signedAs: 'performer', policyMode: 'delegated', policyVersion: version });
    const decision = closed.timeline.find((e) => e.kind === 'decision.received');
    expect(decision?.detail).toMatchObject({ signedAs: 'performer', policyMode: 'delegated', role: 'pharmacist' });

    // A case triaged under the new `doctor` version: the pharmacist is refused.
    const next = await start(fresh(approved));
    await h.waitForCase(next, (c) => c.status === 'queued' && c.queue === 'signature');
    expect((await decide(next, 'pharmacist', 'approve')).status).toBe(403);
    expect(await updateDirectly(next, 'pharmacist', 'approve')).toBe('FORBIDDEN');
    expect(await updateDirectly(next, 'pa', 'approve')).toBe('FORBIDDEN');
    expect((await decide(next, 'doctor', 'approve')).status).toBe(200);
    await h.waitForCase(next, (c) => c.status === 'closed');
    expect(orderFor(next)?.requester?.display).toBe('doctor doctor-1');
  });

  test('a PA the policy names signs as requester (a prescriber), with its own role code', async () => {
    await setPolicy({ mode: 'delegated', delegates: ['pa'], authority: AUTHORITY });
    const caseId = await start(fresh(approved));
    await h.waitForCase(caseId, (c) => c.status === 'queued' && c.queue === 'signature');
    expect((await decide(caseId, 'pharmacist', 'approve')).status).toBe(403);
    expect((await decide(caseId, 'pa', 'approve')).status).toBe(200);
    await h.waitForCase(caseId, (c) => c.status === 'closed');
    const order = orderFor(caseId);
    expect(order).toMatchObject({ status: 'active', requester: { reference: '#signer', display: 'pa pa-1' } });
    expect(order?.performer).toBeUndefined();
    expect(roleCodes(order, 'signer')).toEqual(['449161006']);
  });

  test('a draft a nurse pended (the protocol did not approve it) is not delegated: a doctor signs it', async () => {
    await setPolicy({ mode: 'delegated', delegates: ['nurse', 'pharmacist'], authority: AUTHORITY });
    const s = fresh((x) => x.scenario === 'warfarin-to-protime-nurse');
    const caseId = await start(s);
    await h.waitForCase(caseId, (c) => c.status === 'queued' && c.queue === 'nurse');
    // In the nurse queue a pharmacist works like a nurse: its approval of a case the protocol did not approve signs
    // nothing, it pends a draft.
    expect((await decide(caseId, 'pharmacist', 'approve')).status).toBe(200);
    await h.waitForCase(caseId, (c) => c.queue === 'signature' && c.reason === 'pended_for_signature');
    expect(orderFor(caseId)?.status).toBe('draft');
    expect((await decide(caseId, 'nurse', 'approve')).status).toBe(403);
    expect(await updateDirectly(caseId, 'pharmacist', 'approve')).toBe('FORBIDDEN');
    expect((await decide(caseId, 'doctor', 'approve')).status).toBe(200);
    await h.waitForCase(caseId, (c) => c.status === 'closed');
    expect(orderFor(caseId)).toMatchObject({ status: 'active', requester: { display: 'doctor doctor-1' } });
  });
});

describe('`standing_order`: active at once, co-signed by a doctor later', () => {
  test('the order is active with the authority as requester; the case waits in the cosign queue for a doctor', async () => {
    const version = await setPolicy({ mode: 'standing_order', cosignDays: 5, authority: AUTHORITY });
    const s = fresh(approved);
    const before = Date.now();
    const caseId = await start(s);
    const queued = await h.waitForCase(caseId, (c) => c.status === 'queued' && c.queue === 'cosign');
    expect(queued.reason).toBe('standing_order');
    const due = Date.parse(queued.slaDueAt as string);
    expect(due - before).toBeGreaterThan(5 * 86_400_000 - 60_000);
    expect(due - before).toBeLessThan(5 * 86_400_000 + 60_000);
    const order = orderFor(caseId);
    expect(order).toMatchObject({ status: 'active', requester: AUTHORITY });
    expect(signings(order)).toEqual([`standing-order protocol standing_order v${version} ${PROTOCOL}`]);
    expect(proposal(s.medicationRequestId).status).toBe('completed');
    const activation = (await writeBacks(caseId)).find((a) => a.detail.kind === 'standing_order');
    expect(activation).toMatchObject({ actorType: 'protocol', protocolId: PROTOCOL });
    expect(activation?.detail).toMatchObject({ policyMode: 'standing_order', policyVersion: version });
    const queues = await h.api('/v1/queues/cosign/cases', { as: 'doctor' });
    expect(((await queues.json()) as { items: { caseId: string }[] }).items.map((i) => i.caseId)).toContain(caseId);

    // Co-signing is a physician's: a nurse and a PA are refused, at the API and at the Update.
    expect((await decide(caseId, 'nurse', 'approve')).status).toBe(403);
    expect((await decide(caseId, 'pa', 'approve')).status).toBe(403);
    expect(await updateDirectly(caseId, 'pa', 'approve')).toBe('FORBIDDEN');
    expect((await decide(caseId, 'doctor', 'approve')).status).toBe(200);
    const closed = await h.waitForCase(caseId, (c) => c.status === 'closed');
    expect(closed.outcome).toBe('approved');
    const cosigned = orderFor(caseId);
    expect(cosigned?.status).toBe('active');
    expect(roleCodes(cosigned, 'cosigner')).toEqual(['158965000', 'doctor']);
    expect(signings(cosigned)).toEqual([
      `standing-order protocol standing_order v${version} ${PROTOCOL}`,
      `cosigner doctor standing_order v${version} ${PROTOCOL}`,
    ]);
    expect(cosigned?.note?.some((n) => n.text?.startsWith('Co-signed (doctor doctor-1'))).toBe(true);
  });

  test('a doctor who does not co-sign stops the active order', async () => {
    await setPolicy({ mode: 'standing_order', authority: AUTHORITY });
    const caseId = await start(fresh(approved));
    await h.waitForCase(caseId, (c) => c.status === 'queued' && c.queue === 'cosign');
    expect((await decide(caseId, 'doctor', 'deny')).status).toBe(200);
    await h.waitForCase(caseId, (c) => c.status === 'closed' && c.outcome === 'denied');
    expect(orderFor(caseId)?.status).toBe('stopped');
  });
});

describe('controlled substances: never delegated, never activated at once', () => {
  test('under a standing order a controlled request goes to the doctor queue and no order is written', async () => {
    await setPolicy({ mode: 'standing_order', authority: AUTHORITY });
    const caseId = await start(fresh((x) => x.scenario === 'controlled-substance'));
    const queued = await h.waitForCase(caseId, (c) => c.status === 'queued');
    expect(queued.queue).toBe('doctor');
    expect(orderFor(caseId)).toBeUndefined();
  });

  test('under a delegation naming every role, only a doctor signs a controlled drug', async () => {
    await setPolicy({ mode: 'delegated', delegates: ['nurse', 'pharmacist', 'pa'], authority: AUTHORITY });
    const caseId = await start(fresh((x) => x.scenario === 'controlled-substance'));
    await h.waitForCase(caseId, (c) => c.status === 'queued' && c.queue === 'doctor');
    // A PA works the doctor queue, but its approval of a controlled drug signs nothing: a draft for a doctor.
    expect((await decide(caseId, 'pa', 'approve')).status).toBe(200);
    await h.waitForCase(caseId, (c) => c.queue === 'signature');
    expect(orderFor(caseId)?.status).toBe('draft');
    for (const role of ['pharmacist', 'nurse', 'pa'] as const) {
      expect((await decide(caseId, role, 'approve')).status, role).toBe(403);
      expect(await updateDirectly(caseId, role, 'approve'), role).toBe('FORBIDDEN');
    }
    expect(orderFor(caseId)?.status).toBe('draft');
    expect((await decide(caseId, 'doctor', 'approve')).status).toBe(200);
    await h.waitForCase(caseId, (c) => c.status === 'closed');
    expect(orderFor(caseId)).toMatchObject({ status: 'active', requester: { display: 'doctor doctor-1' } });
  });
});
