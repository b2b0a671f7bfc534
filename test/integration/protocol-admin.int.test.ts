// End to end through the real Temporal server and sandbox EHR: an admin drafts a change to the published
// family-medicine-2015 (PPI visit window 18 → 12 months) through the API, simulates it over the clinic's recorded
// cases and sees exactly the cases that change, publishes it for this clinic only, watches the next webhook use it
// while a case already in flight keeps the old version, then rolls back (a new version with the old content).
import { subMonths } from 'date-fns';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { ProtocolDefinition } from '../../rules/kinds/refill/protocol.ts';
import { refillEvent, startHarness, type Harness } from '../helpers/harness.ts';

const PROTOCOL = 'family-medicine-2015';
let h: Harness;
beforeAll(async () => {
  h = await startHarness({ patients: 120 });
});
afterAll(async () => {
  await h?.close();
});

async function start(medicationRequestId: string): Promise<string> {
  const res = await h.webhook(h.clinicId, refillEvent(medicationRequestId));
  expect(res.status, await res.clone().text()).toBe(202);
  return ((await res.json()) as { caseId: string }).caseId;
}
async function call(method: string, path: string, body?: unknown) {
  const res = await h.api(path, { method, as: 'admin', ...(body !== undefined && { body: JSON.stringify(body) }) });
  const text = await res.text();
  return { status: res.status, text, json: (text ? JSON.parse(text) : null) as Record<string, unknown> };
}
async function waitUntil(pred: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await pred()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('condition not reached');
}

describe('protocol administration, end to end', () => {
  test('draft 18 → 12 months, simulate, publish for one clinic, in-flight case keeps v1, roll back', async () => {
    // Several PPI requests are triaged with the published version 1, so the clinic has recorded cases.
    // (Seed 2015 with 120 patients has two of each scenario used below; one of each is kept for later.)
    const all = h.scenarios.filter((s) => s.scenario.startsWith('ppi-'));
    const laterChanged = all.filter((s) => s.scenario === 'ppi-rov-exactly-18mo-ago')[1]!;
    const laterApproved = all.filter((s) => s.scenario === 'ppi-rov-within-18mo')[1]!;
    const ppi = all.filter((s) => s !== laterChanged && s !== laterApproved);
    expect(ppi.some((s) => s.scenario === 'ppi-rov-exactly-18mo-ago')).toBe(true);
    const recorded: string[] = [];
    for (const s of ppi) recorded.push(await start(s.medicationRequestId));
    for (const id of recorded) await h.waitForCase(id, (c) => c.protocol !== null && c.status !== 'triaging');

    // The admin drafts from the published version and changes the PPI window.
    const created = await call('POST', `/v1/protocols/${PROTOCOL}/drafts`, { fromVersion: 1, note: 'PPI 12 months' });
    expect(created.status, created.text).toBe(201);
    const draft = created.json.version as number;
    const edited = created.json.definition as ProtocolDefinition;
    const criterion = edited.categories.find((c) => c.id === 'antacid_reflux')!.criteria[0]!;
    expect(criterion.id).toBe('visit_within_18mo');
    (criterion.when as { all: { value: number }[] }).all[0]!.value = 12;
    const put = await call('PUT', `/v1/protocols/${PROTOCOL}/versions/${draft}`, { definition: edited });
    expect(put.status, put.text).toBe(200);

    // Independent expectation from the recorded facts: an approved PPI case changes iff its last PCP visit is
    // older than 12 calendar months.
    const asOf = new Date().toISOString().slice(0, 10);
    const cutoff = subMonths(new Date(`${asOf}T00:00:00Z`), 12)
      .toISOString()
      .slice(0, 10);
    const snaps = await h.store.snapshots.list({ clinicId: h.clinicId, protocolId: PROTOCOL, limit: 100 });
    expect(snaps.map((s) => s.caseId).sort()).toEqual([...recorded].sort());
    const expected = snaps
      .filter((s) => {
        const d = s.decision as { disposition: string };
        const f = s.facts as { visits: { lastPcpRov: { date: string } | null } };
        return d.disposition === 'approve' && f.visits.lastPcpRov !== null && f.visits.lastPcpRov.date < cutoff;
      })
      .map((s) => s.caseId)
      .sort();
    expect(expected.length).toBeGreaterThan(0);

    const sim = await call('POST', `/v1/protocols/${PROTOCOL}/versions/${draft}/simulate`, {
      clinicId: h.clinicId,
      from: asOf,
      to: asOf,
    });
    expect(sim.status, sim.text).toBe(200);
    expect(sim.json.evaluated).toBe(recorded.length);
    const changed = sim.json.changed as {
      caseId: string;
      after: { disposition: string };
      criteria: { id: string }[];
    }[];
    expect(changed.map((c) => c.caseId).sort()).toEqual(expected);
    for (const c of changed) {
      expect(c.after.disposition).toBe('needs_visit');
      expect(c.criteria.map((x) => x.id)).toEqual(['visit_within_18mo']);
    }

    // A case starts and pins version 1, then waits while the EHR is down (in flight).
    const inFlight = h.scenarios.find((s) => s.scenario === 'antiviral-rov-within-18mo')!;
    h.sandbox.injectFaults({
      status: 503,
      count: 12,
      match: (r) => r.method === 'GET' && r.path.includes('MedicationRequest/'),
    });
    const first = await start(inFlight.medicationRequestId);
    await waitUntil(async () => (await h.store.audit.listAudit({ caseId: first, limit: 50 })).items.length > 0);
    await waitUntil(() => Promise.resolve(h.sandbox.requests.some((r) => r.status === 503)));

    // Published for this clinic only: the protocol's live version stays 1.
    const pub = await call('POST', `/v1/protocols/${PROTOCOL}/versions/${draft}/publish`, { clinicId: h.clinicId });
    expect(pub.status, pub.text).toBe(200);
    expect(pub.json).toMatchObject({ publishedVersion: draft, clinicId: h.clinicId, changed: true });
    expect((await h.store.protocols.get(PROTOCOL))?.publishedVersion).toBe(1);
    expect((await h.store.clinics.get(h.clinicId))?.protocolVersion).toBe(draft);

    h.sandbox.clearFaults();
    const c1 = await h.waitForCase(first, (c) => c.status === 'queued' || c.status === 'closed');
    expect(c1.protocol).toEqual({ id: PROTOCOL, version: 1 });

    // The next webhook uses the clinic's new version, and the tightened window decides it.
    // (Its last visit was exactly 18 months ago: approved by version 1, a visit needed by the draft.)
    const next = await start(laterChanged.medicationRequestId);
    const c2 = await h.waitForCase(next, (c) => c.protocol !== null && c.status !== 'triaging');
    expect(c2.protocol).toEqual({ id: PROTOCOL, version: draft });
    expect(c2.disposition).toBe('needs_visit');
    expect(c2.failedCriteria).toContain('visit_within_18mo');

    // Roll back for this clinic: a new version with version 1's content; the next case uses it and approves.
    const rb = await call('POST', `/v1/protocols/${PROTOCOL}/rollback`, { toVersion: 1, clinicId: h.clinicId });
    expect(rb.status, rb.text).toBe(200);
    const rolled = rb.json.publishedVersion as number;
    expect(rolled).toBe(draft + 1);
    expect(rb.json).toMatchObject({ previousVersion: draft, clinicId: h.clinicId });
    const v = await call('GET', `/v1/protocols/${PROTOCOL}/versions/${rolled}`);
    expect(v.json).toMatchObject({ status: 'published', note: 'Rollback of v1' });
    const again = await start(laterApproved.medicationRequestId);
    const c3 = await h.waitForCase(again, (c) => c.protocol !== null && c.status !== 'triaging');
    expect(c3.protocol).toEqual({ id: PROTOCOL, version: rolled });
    expect(c3.disposition).toBe('approve');
  }, 120_000);
});
