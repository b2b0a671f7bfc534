// A clinician's note is free text, so PHI: it must reach the EHR (the write-back, and the Task for an escalation) and
// nowhere in the app database that cannot be purged. The audit log is append-only (database triggers); the timeline
// and the case view only learn that a note was given.
import type { MedicationRequest, Task } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { TASK_IDENTIFIER_SYSTEM } from '../../activities/kinds/refill/ehr-writeback.ts';
import { refillEvent, startHarness, type Harness } from '../helpers/harness.ts';

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ patients: 60, clinic: { nurseSlaSeconds: 3600 } });
});
afterAll(async () => {
  await h?.close();
});

const NURSE_NOTE = 'Escalating: Mrs Wilhelmina Zanzibar-Quist reports dizziness (note-7f3a)';
const DOCTOR_NOTE = 'Denied: Wilhelmina Zanzibar-Quist must stop warfarin first (note-9c1e)';

async function decide(caseId: string, as: 'nurse' | 'doctor', body: Record<string, unknown>) {
  const r = await h.api(`/v1/cases/${caseId}/decision`, { method: 'POST', as, body: JSON.stringify(body) });
  expect(r.status, await r.clone().text()).toBe(200);
}

describe('a decision note', () => {
  test('reaches the EHR and never an audit row, the timeline or the case view', async () => {
    // A warfarin refill goes to the nurse queue; the nurse escalates with a note, the doctor denies with another.
    const s = h.scenario((x) => x.scenario === 'warfarin-to-protime-nurse');
    const res = await h.webhook(h.clinicId, refillEvent(s.medicationRequestId));
    const { caseId } = (await res.json()) as { caseId: string };
    await h.waitForCase(caseId, (c) => c.status === 'queued' && c.queue === 'nurse');
    await decide(caseId, 'nurse', { action: 'escalate', note: NURSE_NOTE });
    await h.waitForCase(caseId, (c) => c.queue === 'doctor');
    await decide(caseId, 'doctor', { action: 'deny', note: DOCTOR_NOTE });
    const closed = await h.waitForCase(caseId, (c) => c.status === 'closed');
    expect(closed.outcome).toBe('denied');

    // The EHR has both: the escalation note on the queue Task, the denial note on the refill request.
    const proposal = h.sandbox.repo.read('MedicationRequest', s.medicationRequestId) as MedicationRequest;
    expect(proposal.note?.map((n) => n.text).join('\n')).toContain(DOCTOR_NOTE);
    const task = h.sandbox.repo
      .search('Task', new URLSearchParams({ identifier: `${TASK_IDENTIFIER_SYSTEM}|${caseId}` }))
      .entry?.map((e) => e.resource as Task)[0];
    expect(task?.note?.map((n) => n.text)).toContain(NURSE_NOTE);

    // Every column of every audit row, and of the timeline, as stored.
    const { kysely } = h.deps.db;
    const audit = JSON.stringify(await kysely.selectFrom('audit_log').selectAll().execute());
    const events = JSON.stringify(await kysely.selectFrom('case_events').selectAll().execute());
    const cases = JSON.stringify(await kysely.selectFrom('cases').selectAll().execute());
    for (const stored of [audit, events, cases, JSON.stringify(closed)]) {
      expect(stored).not.toContain('note-7f3a');
      expect(stored).not.toContain('note-9c1e');
      expect(stored).not.toContain('Zanzibar');
    }
    // …while the decisions themselves are audited and the timeline says a note was given.
    const rows = await h.store.audit.listAudit({ limit: 500 });
    const decided = rows.items.filter((e) => e.caseId === caseId && e.action === 'decision.recorded');
    expect(decided.reverse().map((e) => e.detail)).toEqual([
      // listAudit is newest first
      expect.objectContaining({ action: 'escalate', noteProvided: true }),
      expect.objectContaining({ action: 'deny', noteProvided: true }),
    ]);
    const received = closed.timeline.filter((e) => e.kind === 'decision.received').map((e) => e.detail);
    expect(received).toEqual([
      expect.objectContaining({ action: 'escalate', noteProvided: true }),
      expect.objectContaining({ action: 'deny', noteProvided: true }),
    ]);
  });
});
