import type { AuditInput, CaseProjection, Store } from '../connectors/db/index.ts';
import { countCaseStep } from '../connectors/telemetry/metrics.ts';
import type { Actor } from '../rules/schema/case.ts';

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

export interface RecordCaseStepInput {
  caseId: string;
  /** The protocol kind (set when the case row is created). */
  kind: string;
  clinicId: string;
  requestId: string;
  /** Monotonic per case: a stale or repeated step is a no-op. */
  seq: number;
  /** Workflow time of the step. */
  at: string;
  /** Timeline event kind (rules/lifecycle CASE_EVENTS, or a kind's own: outreach.letter_sent, …). */
  event: string;
  actor: Actor | null;
  /** PHI-free: ids, codes, dates of tests (a `note` is dropped: see {@link phiFree}). */
  detail: Record<string, unknown>;
  /** The case's projection after the step (identity fields aside). */
  projection: Omit<CaseProjection, 'id' | 'kind' | 'clinicId' | 'requestId' | 'at'>;
  /** The audit action the lifecycle step records (StepResult.audit), or null. */
  audit: string | null;
  protocol: { id: string; version: number } | null;
  /** Audit rows of what came with the step (its EHR writes), written before the step's own, in its transaction. */
  auditsBefore?: readonly AuditInput[];
}

const json = (v: unknown) => JSON.parse(JSON.stringify(v)) as Record<string, never>;

/**
 * Records one lifecycle step of a case of any kind: the projection that serves the queues and the case view, the
 * timeline event and the audit row, in ONE transaction (connectors/db CaseRepo.recordStep). Idempotent: the
 * projection is monotonic by `seq`, the event is keyed by (case, seq) and the audit row by (case, seq, action), so a
 * retried activity never writes twice and a failed one leaves nothing half-written.
 */
export async function recordCaseStep(
  { store }: { store: Store },
  input: RecordCaseStepInput,
): Promise<{ applied: boolean }> {
  const detail = phiFree(input.detail);
  const actor = input.actor ? input.actor.userId : 'system';
  const p = input.projection;
  const { applied } = await store.cases.recordStep({
    projection: {
      ...p,
      id: input.caseId,
      kind: input.kind,
      clinicId: input.clinicId,
      requestId: input.requestId,
      at: input.at,
    },
    seq: input.seq,
    event: {
      at: input.at,
      kind: input.event,
      actor,
      detail: json({ ...detail, ...(input.actor ? { role: input.actor.role } : {}) }),
    },
    audit: input.audit
      ? {
          at: input.at,
          actorType: input.actor ? 'user' : 'system',
          actorId: actor,
          actorRole: input.actor?.role ?? null,
          action: input.audit,
          clinicId: input.clinicId,
          caseId: input.caseId,
          protocolId: input.protocol?.id ?? null,
          protocolVersion: input.protocol?.version ?? null,
          requestId: input.requestId,
          idempotencyKey: `${input.caseId}:${input.seq}:${input.audit}`,
          detail: json({
            ...detail,
            queue: p.queue ?? null,
            pool: p.pool ?? null,
            disposition: p.disposition ?? null,
            outcome: p.outcome ?? null,
          }),
        }
      : null,
    ...(input.auditsBefore?.length ? { auditsBefore: input.auditsBefore } : {}),
  });
  if (applied) countCaseStep({ ...input, ...p }); // routings and escalations (connectors/telemetry/metrics.ts)
  return { applied };
}
