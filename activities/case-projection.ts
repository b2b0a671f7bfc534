import type { Store } from '../connectors/db/index.ts';
import { auditActionOf } from '../rules/lifecycle/index.ts';
import type { Actor } from '../rules/schema/case.ts';
import type { CaseState } from '../workflows/messages.ts';

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
}

/**
 * The detail without free text. A clinician's note belongs in the EHR write-back (and the encrypted workflow history);
 * the timeline and the append-only audit log, which can never be purged, keep only whether there was one. Workflows
 * started before the note left the projection input still send `note`: it is dropped here too.
 */
function phiFree(detail: Record<string, unknown>): Record<string, unknown> {
  const { note, ...rest } = detail;
  if (note === undefined) return rest;
  return { ...rest, noteProvided: typeof note === 'string' && note.trim() !== '' };
}

/**
 * Projects a case into the app database, which serves the queues and the case view (Temporal visibility is eventually
 * consistent and unencrypted). Idempotent: the projection is monotonic by `seq`, the timeline row and the audit row
 * are keyed by (case, seq), so a retried activity never writes twice.
 */
export async function projectCase({ store }: { store: Store }, input: ProjectCaseInput): Promise<{ applied: boolean }> {
  const { state } = input;
  const detail = phiFree(input.detail);
  const closed = state.status === 'closed';
  const { applied } = await store.cases.upsertCaseProjection(
    {
      id: input.caseId,
      clinicId: input.clinicId,
      requestId: input.requestId,
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
      at: input.at,
    },
    input.seq,
  );
  const actor = input.actor ? input.actor.userId : 'system';
  await store.cases.appendCaseEvent({
    caseId: input.caseId,
    seq: input.seq,
    at: input.at,
    kind: input.event,
    actor,
    detail: JSON.parse(JSON.stringify({ ...detail, ...(input.actor ? { role: input.actor.role } : {}) })) as Record<
      string,
      never
    >,
  });
  const action = auditActionOf(input.event, state.reason);
  if (action) {
    await store.audit.appendAudit({
      at: input.at,
      actorType: input.actor ? 'user' : 'system',
      actorId: actor,
      actorRole: input.actor?.role ?? null,
      action,
      clinicId: input.clinicId,
      caseId: input.caseId,
      protocolId: state.protocol?.id ?? null,
      protocolVersion: state.protocol?.version ?? null,
      requestId: input.requestId,
      idempotencyKey: `${input.caseId}:${input.seq}:${action}`,
      detail: JSON.parse(
        JSON.stringify({
          ...detail,
          queue: state.queue,
          pool: state.pool,
          disposition: state.decision?.disposition ?? null,
          outcome: state.outcome,
        }),
      ) as Record<string, never>,
    });
  }
  return { applied };
}
