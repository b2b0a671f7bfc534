// A realistic mix of cases for the outcome-analytics tests, written through the real store functions the workflows
// call (activities/case-projection.ts: projectCase for refills, recordCaseStep for a care gap), so projections,
// timelines and decision audit rows are exactly what production writes.
import { recordCaseStep } from '../../activities/case-projection.ts';
import { projectCase } from '../../activities/kinds/refill/case-projection.ts';
import type { Store } from '../../connectors/db/index.ts';
import { routeDisposition } from '../../rules/lifecycle/index.ts';
import type { Disposition, TriageDecision } from '../../rules/kinds/refill/decision.ts';
import type { CaseState } from '../../workflows/refill-triage-messages.ts';

export const PROTOCOL = { id: 'family-medicine-2015', version: 1 };

type Role = 'nurse' | 'doctor';
export type RefillStep = { escalate: 'sla' } | { role: Role; action: 'approve' | 'deny' | 'needs_visit' | 'escalate' };

export interface RefillSpec {
  id: string;
  /** Receipt time (ISO). */
  at: string;
  /** Null: automation off (no protocol decision, the nurse queue). */
  disposition: Disposition | null;
  failed?: string[];
  steps?: RefillStep[];
  protocol?: { id: string; version: number };
  slaSeconds?: number;
}

function decisionOf(disposition: Disposition, failed: string[], protocol: { id: string; version: number }) {
  return {
    disposition,
    failedCriteria: failed,
    criteria: failed.map((id) => ({ id, clause: 'X-1', passed: false, explanation: 'test', evidence: [] })),
    approvedSupply: null,
    bridgeSupply: null,
    routeTo: null,
    actions: [],
    protocol,
    drug: { name: 'lisinopril 10 mg', ingredients: ['lisinopril'], classes: [], controlledSchedule: null },
  } as unknown as TriageDecision;
}

const OUTCOME = { approve: 'approved', deny: 'denied', needs_visit: 'needs_visit' } as const;

/** Records a refill case's life as the refill workflow does: triage, route, escalations, decisions, close. */
export async function recordRefill(store: Store, clinicId: string, spec: RefillSpec): Promise<void> {
  const protocol = spec.protocol ?? PROTOCOL;
  const state: CaseState = {
    caseId: spec.id,
    status: 'received',
    queue: null,
    pool: null,
    reason: null,
    protocol: null,
    decision: null,
    escalated: false,
    outcome: null,
    decidedBy: null,
  };
  let seq = 0;
  let t = Date.parse(spec.at);
  let slaDueAt: string | null = null;
  const project = async (
    event: string,
    detail: Record<string, unknown>,
    actor: { userId: string; role: Role } | null,
  ) => {
    seq += 1;
    await projectCase(
      { store },
      {
        caseId: spec.id,
        clinicId,
        requestId: `req-${spec.id}`,
        medicationRequestId: `mr-${spec.id}`,
        patientId: `pat-${spec.id}`,
        drugName: 'lisinopril 10 mg',
        seq,
        at: new Date(t).toISOString(),
        event,
        actor,
        detail,
        state: { ...state, slaDueAt },
      },
    );
    t += 60_000;
  };
  state.status = 'triaging';
  await project('case.triaging', {}, null);
  state.status = 'queued';
  if (spec.disposition === null) {
    Object.assign(state, { queue: 'nurse', reason: 'automation_disabled' });
  } else {
    state.protocol = protocol;
    state.decision = decisionOf(spec.disposition, spec.failed ?? [], protocol);
    Object.assign(state, { ...routeDisposition(spec.disposition, null), reason: 'protocol' });
  }
  slaDueAt = state.queue === 'nurse' ? new Date(t + (spec.slaSeconds ?? 3600) * 1000).toISOString() : null;
  await project('case.queued', { queue: state.queue }, null);
  for (const step of spec.steps ?? []) {
    if ('escalate' in step) {
      Object.assign(state, { queue: 'doctor', escalated: true, reason: 'escalated_sla', pool: null });
      slaDueAt = null;
      await project('case.queued', { queue: 'doctor' }, null);
      continue;
    }
    const actor = { userId: `${step.role}@test.example`, role: step.role };
    await project('decision.received', { action: step.action, decisionId: `d-${spec.id}-${seq}` }, actor);
    if (step.action === 'escalate') {
      Object.assign(state, { queue: 'doctor', escalated: true, reason: 'escalated_by_nurse', pool: null });
      slaDueAt = null;
      await project('case.queued', { queue: 'doctor' }, null);
      continue;
    }
    state.status = 'closed';
    state.outcome = OUTCOME[step.action];
    state.decidedBy = actor;
    await project('case.closed', { outcome: state.outcome }, actor);
    return;
  }
}

/** A care gap through the generic step writer: routed by the protocol (deciding clause), optionally signed by a doctor. */
export async function recordCareGap(
  store: Store,
  clinicId: string,
  spec: {
    id: string;
    at: string;
    disposition: string;
    queue: 'outreach' | 'doctor' | null;
    clause: string;
    doctorSigns?: boolean;
  },
): Promise<void> {
  const protocol = { id: 'crc-screening-2021', version: 1 };
  let t = Date.parse(spec.at);
  let seq = 0;
  const closes = spec.queue === null;
  const step = async (
    event: string,
    projection: Parameters<typeof recordCaseStep>[1]['projection'],
    audit: string | null,
    actor: { userId: string; role: Role } | null = null,
  ) => {
    seq += 1;
    await recordCaseStep(
      { store },
      {
        caseId: spec.id,
        kind: 'care-gap',
        clinicId,
        requestId: `req-${spec.id}`,
        seq,
        at: new Date(t).toISOString(),
        event,
        actor,
        detail: {},
        projection,
        audit,
        protocol,
      },
    );
    t += 60_000;
  };
  const base = { patientId: `pat-${spec.id}`, medicationRequestId: null, protocolId: protocol.id, protocolVersion: 1 };
  await step('case.triaging', { ...base, status: 'triaging' }, null);
  await step(
    closes ? 'case.closed' : 'case.queued',
    {
      ...base,
      status: closes ? 'closed' : 'queued',
      disposition: spec.disposition,
      queue: spec.queue,
      reason: 'protocol',
      clause: spec.clause,
      outcome: closes ? spec.disposition : null,
      closedAt: closes ? new Date(t).toISOString() : null,
    },
    closes ? 'case.closed' : 'case.routed',
  );
  if (spec.doctorSigns) {
    await step(
      'decision.received',
      { ...base, status: 'queued', disposition: spec.disposition, queue: spec.queue, clause: spec.clause },
      'decision.recorded',
      { userId: 'doctor@test.example', role: 'doctor' },
    );
  }
}

/**
 * A deterministic mix over `days` local days starting at `firstDayUtc` (the clinic's first local midnight, as UTC):
 * per day, refills approved per protocol (signed, denied as an override, or still waiting), sent to a visit (one
 * approved: an override), nurse and doctor reviews, an SLA breach, a nurse escalation, automation-off cases, and
 * care gaps (closed by data, in outreach, one signed by a doctor).
 */
export function analyticsMix(
  firstDayUtc: string,
  days: number,
): { refills: RefillSpec[]; gaps: Parameters<typeof recordCareGap>[2][] } {
  const refills: RefillSpec[] = [];
  const gaps: Parameters<typeof recordCareGap>[2][] = [];
  for (let d = 0; d < days; d++) {
    const day = Date.parse(firstDayUtc) + d * 86_400_000;
    const at = (i: number) => new Date(day + 3_600_000 + i * 600_000).toISOString(); // 01:00 local + 10 min each
    let i = 0;
    const add = (s: Omit<RefillSpec, 'id' | 'at'>) => refills.push({ id: `rf_t_${d}-${i}`, at: at(i++), ...s });
    for (let k = 0; k < 4; k++) add({ disposition: 'approve', steps: [{ role: 'doctor', action: 'approve' }] });
    add({ disposition: 'approve', steps: [{ role: 'doctor', action: 'deny' }] }); // override
    add({ disposition: 'approve' }); // waiting for a signature
    add({
      disposition: 'needs_visit',
      failed: ['visit_within_12mo'],
      steps: [{ role: 'nurse', action: 'needs_visit' }],
    });
    add({ disposition: 'needs_visit', failed: ['visit_within_12mo'], steps: [{ role: 'nurse', action: 'approve' }] }); // override
    add({
      disposition: 'nurse_review',
      failed: ['lab_k_within_12mo', 'bp_controlled'],
      steps: [{ role: 'nurse', action: 'approve' }],
    });
    add({
      disposition: 'nurse_review',
      failed: ['bp_controlled'],
      steps: [{ escalate: 'sla' }, { role: 'doctor', action: 'approve' }],
    });
    add({
      disposition: 'nurse_review',
      failed: ['lab_k_within_12mo'],
      steps: [
        { role: 'nurse', action: 'escalate' },
        { role: 'doctor', action: 'needs_visit' },
      ],
    });
    add({ disposition: 'nurse_review', failed: ['bp_controlled'], slaSeconds: 20 * 365 * 86_400 }); // open, within its SLA
    add({ disposition: 'nurse_review', failed: ['bp_controlled'], slaSeconds: 1 }); // open, past its SLA
    add({
      disposition: 'doctor_review',
      failed: ['controlled_substance'],
      steps: [{ role: 'doctor', action: 'deny' }],
    });
    add({ disposition: 'doctor_review', failed: ['controlled_substance'] }); // open with a doctor
    add({ disposition: null, steps: [{ role: 'nurse', action: 'approve' }] }); // automation off
    gaps.push({ id: `cg_t_${d}-0`, at: at(i++), disposition: 'gap_closed', queue: null, clause: 'CRC-6' });
    gaps.push({ id: `cg_t_${d}-1`, at: at(i++), disposition: 'outreach', queue: 'outreach', clause: 'CRC-17' });
    gaps.push({
      id: `cg_t_${d}-2`,
      at: at(i++),
      disposition: 'doctor_review',
      queue: 'doctor',
      clause: 'CRC-10',
      doctorSigns: d % 2 === 0,
    });
  }
  return { refills, gaps };
}

export async function recordMix(store: Store, clinicId: string, mix: ReturnType<typeof analyticsMix>): Promise<void> {
  for (const r of mix.refills) await recordRefill(store, clinicId, r);
  for (const g of mix.gaps) await recordCareGap(store, clinicId, g);
}
