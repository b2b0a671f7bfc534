// Who the patient is, end to end: cases of both kinds made by their workflows on the real Temporal dev server from
// the sandbox EHR (SMART auth on), then viewed through the API, which reads the identity live from the same EHR with
// its own connector. The view is audited; the identity is never part of the case the workflow projected.
import type { Patient } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { careGapCaseId } from '../../activities/kinds/care-gap/triggers.ts';
import { subjectKey } from '../../connectors/subject-key.ts';
import { CARE_GAP_BUILTINS } from '../../rules/kinds/care-gap/index.ts';
import { refillCaseId } from '../../rules/kinds/refill/intake.ts';
import type { CareGapEvent, CareGapInput } from '../../workflows/care-gap-messages.ts';
import { refillEvent, startHarness, TEST_POLICY, type Harness } from '../helpers/harness.ts';

const CRC = 'crc-screening-2021';
const MR = { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'MR' }] };

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ patients: 6 });
  if (!(await h.store.protocols.getPublished(CRC))) {
    const builtin = CARE_GAP_BUILTINS.find((p) => p.id === CRC)!;
    await h.store.protocols.create({ id: CRC, title: builtin.title });
    const draft = await h.store.protocols.createDraft({ protocolId: CRC, definition: builtin, by: 'system' });
    await h.store.protocols.publish({ protocolId: CRC, version: draft.version, by: 'system' });
  }
});
afterAll(async () => {
  await h?.close();
});

const patientOf = (id: string) =>
  h.resources.find((r): r is Patient => r.resourceType === 'Patient' && r.id === id) ??
  (h.sandbox.repo.read('Patient', id) as Patient);
const nameOf = (p: Patient) => [...(p.name?.[0]?.given ?? []), p.name?.[0]?.family].join(' ');
const mrnOf = (p: Patient) => p.identifier?.find((i) => i.type?.coding?.some((c) => c.code === 'MR'))?.value;

/** Polls the projection directly (not through the API, whose views would read and cache the identity). */
async function queued(caseId: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const c = await h.store.cases.getCase(caseId);
    if (c?.status === 'queued') return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${caseId} was not queued`);
}

describe('patient identity through the real stack', () => {
  test('a refill case: the nurse sees the EHR’s name, birth date, sex and MRN; the view is audited', async () => {
    const s = h.scenarios[0]!;
    const res = await h.webhook(h.clinicId, refillEvent(s.medicationRequestId));
    expect(res.status).toBe(202);
    const caseId = refillCaseId(h.clinicId, s.medicationRequestId);
    await queued(caseId);
    const stored = await h.store.cases.getCase(caseId);
    expect(stored?.patientId).toBe(s.patientId);

    const view = await h.api(`/v1/cases/${caseId}`, { as: 'nurse' });
    expect(view.status).toBe(200);
    const p = patientOf(s.patientId);
    expect(((await view.json()) as { patient: unknown }).patient).toMatchObject({
      name: nameOf(p),
      birthDate: p.birthDate,
      sex: p.gender,
      mrn: mrnOf(p),
    });
    const requestId = view.headers.get('x-request-id')!;
    const { items } = await h.store.audit.listAudit({ caseId, action: 'case.viewed' });
    expect(items[0]).toMatchObject({
      actorId: 'nurse-1',
      actorRole: 'nurse',
      clinicId: h.clinicId,
      caseId,
      requestId,
      detail: { patientId: s.patientId, identity: 'shown' },
    });
    // The API's own search reached the EHR under the view's request id.
    expect(h.sandbox.requests.some((r) => r.requestId === requestId && r.path.endsWith('/Patient'))).toBe(true);
    // What the workflow projected carries the patient's id, never who they are.
    expect(JSON.stringify(await h.store.cases.getCase(caseId))).not.toContain(nameOf(p));
  });

  test('a care-gap case shows its patient too, in the case and in the outreach queue', async () => {
    const patientId = 'idn-cg-1';
    const birthDate = `${new Date().getUTCFullYear() - 55}-01-15`;
    h.sandbox.repo.update({
      resourceType: 'Patient',
      id: patientId,
      identifier: [{ type: MR, system: 'urn:test:mrn', value: 'MRN-CG-1' }],
      name: [{ use: 'official', given: ['Rosa'], family: 'Quintero' }],
      gender: 'female',
      birthDate,
      address: [{ line: ['1 Main St'], city: 'Springfield', postalCode: '12345' }],
      telecom: [{ system: 'phone', value: '555-0100' }],
    } satisfies Patient);
    const caseId = careGapCaseId(h.clinicId, CRC, subjectKey(h.config, h.clinicId, patientId));
    const input: CareGapInput = {
      caseId,
      clinicId: h.clinicId,
      protocolId: CRC,
      patientId,
      requestId: 'req-idn-cg-1',
      policy: TEST_POLICY,
    };
    const event: CareGapEvent = { type: 'panel.sweep', eventId: 'evt-idn-1', at: new Date().toISOString() };
    await h.deps.workflows.signalPatientCase!('careGap', input, event);
    await queued(caseId);

    const expected = { name: 'Rosa Quintero', birthDate, sex: 'female', mrn: 'MRN-CG-1' };
    const view = (await (await h.api(`/v1/cases/${caseId}`, { as: 'nurse' })).json()) as { patient: unknown };
    expect(view.patient).toMatchObject({ ...expected, age: expect.any(Number) as number });
    const list = (await (await h.api('/v1/queues/outreach/cases', { as: 'nurse' })).json()) as {
      items: { caseId: string; patient?: unknown }[];
    };
    expect(list.items.find((i) => i.caseId === caseId)?.patient).toMatchObject(expected);
  });

  test('when the EHR fails the Patient search, the case still renders, without the identity', async () => {
    const s = h.scenarios[1]!;
    await h.webhook(h.clinicId, refillEvent(s.medicationRequestId));
    const caseId = refillCaseId(h.clinicId, s.medicationRequestId);
    await queued(caseId);
    // Only the API's identity search fails (the worker has finished with this case).
    h.sandbox.injectFaults({ status: 503, count: 5, match: (r) => r.method === 'GET' && r.path.endsWith('/Patient') });
    try {
      const res = await h.api(`/v1/cases/${caseId}`, { as: 'nurse' });
      expect(res.status).toBe(200);
      const body = (await res.json()) as { patient: unknown; status: string };
      expect(body.status).toBe('queued');
      expect(body.patient).toEqual({ unavailable: true, reason: 'ehr_unavailable' });
      const { items } = await h.store.audit.listAudit({ caseId, action: 'case.viewed' });
      expect(items[0]?.detail).toMatchObject({ patientId: s.patientId, identity: 'ehr_unavailable' });
    } finally {
      h.sandbox.clearFaults();
    }
  });
});
