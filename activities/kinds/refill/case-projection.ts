import type { AuditInput, Store } from '../../../connectors/db/index.ts';
import { DEFAULT_KIND } from '../../../rules/kinds/index.ts';
import { auditActionOf } from '../../../rules/lifecycle/index.ts';
import type { Actor } from '../../../rules/schema/case.ts';
import type { CaseState } from '../../../workflows/refill-triage-messages.ts';
import { recordCaseStep } from '../../case-projection.ts';

export interface ProjectCaseInput {
  caseId: string;
  clinicId: string;
  requestId: string;
  medicationRequestId: string;
  patientId: string | null;
  drugName: string | null;
  /** Monotonic per case: a stale or repeated projection is a no-op. */
  seq: number;
  /** Workflow time of the step. */
  at: string;
  /** Timeline event kind: case.triaging, case.queued, decision.received, case.closed. */
  event: string;
  actor: Actor | null;
  /** PHI-free: ids, codes, the clinician's action (a `note` is dropped: see {@link phiFree}). */
  detail: Record<string, unknown>;
  state: CaseState & { slaDueAt: string | null };
  /** The audit action of a step the lifecycle does not know (batch signing's hold and undo); else the lifecycle's. */
  audit?: string;
}

/**
 * Projects a step of the default kind's workflow (refill triage: its activity, by its registered name): the same one-transaction
 * writer as {@link recordCaseStep}, with the audit action the lifecycle gives the step (after `auditsBefore`: the rows of
 * the EHR writes the step came with).
 */
export async function projectCase(
  deps: { store: Store },
  input: ProjectCaseInput,
  auditsBefore?: readonly AuditInput[],
): Promise<{ applied: boolean }> {
  const { state } = input;
  const closed = state.status === 'closed';
  return recordCaseStep(deps, {
    caseId: input.caseId,
    kind: DEFAULT_KIND.id,
    clinicId: input.clinicId,
    requestId: input.requestId,
    seq: input.seq,
    at: input.at,
    event: input.event,
    actor: input.actor,
    detail: input.detail,
    projection: {
      patientId: input.patientId,
      medicationRequestId: input.medicationRequestId,
      status: state.status,
      drugName: input.drugName,
      disposition: state.decision?.disposition ?? null,
      queue: state.queue,
      pool: state.pool,
      reason: state.reason,
      protocolId: state.protocol?.id ?? null,
      protocolVersion: state.protocol?.version ?? null,
      decision: state.decision ?? null,
      outcome: state.outcome,
      slaDueAt: closed ? null : state.slaDueAt,
      escalated: state.escalated,
      closedAt: closed ? input.at : null,
    },
    audit: input.audit ?? auditActionOf(input.event, state.reason),
    protocol: state.protocol,
    ...(auditsBefore ? { auditsBefore } : {}),
  });
}
