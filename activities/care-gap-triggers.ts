// What starts care-gap cases: an event's focus resolved to its patient, and signal-with-start of the patient's case
// per care-gap protocol the clinic runs. Shared by the event intake (workflows/event-intake.ts) and the panel sweep.
import type { Client } from '@temporalio/client';
import type { ResourceType } from '@medplum/fhirtypes';
import type { Clinic, Store } from '../connectors/db/index.ts';
import type { ClinicFhir } from '../connectors/fhir/clinic-connectors.ts';
import type { SubjectKeyer } from '../connectors/subject-key.ts';
import { AppError } from '../rules/index.ts';
import type { ActivityPolicy } from '../workflows/activity-policy.ts';
import type { careGap, CareGapEvent, CareGapInput } from '../workflows/care-gap.ts';
import { careGapCaseId } from '../workflows/task-queues.ts';

/** What the trigger activities need beyond the store and the EHR: a Temporal client to signal-with-start cases. */
export interface TriggerDeps {
  client: Client;
  /** The task queue the care-gap workflows run on (the worker's own). */
  taskQueue: string;
  subjectKey: SubjectKeyer;
  /** Activity policy passed into the cases started (tests); production uses the defaults. */
  policy?: ActivityPolicy;
}

/** A kind that reacts to events, as the clinic runs it. */
export interface EventKind {
  kind: 'care-gap';
  protocolId: string;
}

/**
 * The event-triggered kinds a clinic runs, with the protocol of each. Until the clinic's per-kind settings exist
 * (kinds-engine, migration 0008), care gaps run for every clinic with the built-in `crc-screening-2021`: this is the
 * one function to change when they land.
 */
export function enabledEventKinds(clinic: Pick<Clinic, 'id'>): EventKind[] {
  void clinic;
  return [{ kind: 'care-gap', protocolId: 'crc-screening-2021' }];
}

const PATIENT_REF = /^(?:.*\/)?Patient\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[A-Za-z0-9\-.]{1,64})?$/;

/** The patient a focus resource is about: `subject` (Observation, DiagnosticReport, Procedure) or a participant. */
export function patientOfFocus(resource: Record<string, unknown>): string | null {
  const refs: unknown[] = [(resource.subject as { reference?: unknown } | undefined)?.reference];
  if (resource.resourceType === 'Appointment' && Array.isArray(resource.participant)) {
    for (const p of resource.participant as { actor?: { reference?: unknown } }[]) refs.push(p?.actor?.reference);
  }
  for (const ref of refs) {
    const m = typeof ref === 'string' ? PATIENT_REF.exec(ref) : null;
    if (m) return m[1]!;
  }
  return null;
}

/**
 * Reads an event's focus resource from the clinic's EHR and returns its patient's id (null when it names none).
 * Read-only, safe to retry; audited (the resource's id and whether a patient was found, never content).
 *
 * @throws AppError `EHR_NOT_FOUND` (not retried) when the EHR has no such resource; `EHR_UNAVAILABLE` (retried).
 */
export async function resolveEventPatient(
  { store, fhir }: { store: Store; fhir: ClinicFhir },
  input: { intakeId: string; clinicId: string; requestId: string; resource: string },
): Promise<{ patientId: string | null }> {
  const [type, id] = input.resource.split('/') as [ResourceType, string];
  return fhir.withRequestId(input.requestId, async () => {
    const connector = await fhir.forClinic(input.clinicId);
    const focus = (await connector.read(type, id)) as unknown as Record<string, unknown>;
    const patientId = patientOfFocus(focus);
    await store.audit.appendAudit({
      actorType: 'system',
      actorId: 'worker',
      action: 'ehr.event_focus_read',
      clinicId: input.clinicId,
      requestId: input.requestId,
      idempotencyKey: `${input.intakeId}:focus_read`,
      detail: { intakeId: input.intakeId, resource: input.resource, patientFound: patientId !== null },
    });
    return { patientId };
  });
}

export interface StartCareGapCasesInput {
  clinicId: string;
  requestId: string;
  patientIds: string[];
  event: CareGapEvent;
  /** Signal-with-starts in flight at once (default 8). */
  concurrency?: number;
  /** Return the case ids (the event intake answers with them); a sweep page needs only the count. */
  ids: boolean;
}

/** Runs `fn` over `items`, at most `limit` at a time. */
async function pool<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let i = 0;
  const lanes = Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, async () => {
    while (i < items.length) await fn(items[i++]!);
  });
  await Promise.all(lanes);
}

/**
 * Delivers `event` to the care-gap case of each patient, for every care-gap protocol the clinic runs: signal-with-start
 * (case id `cg_{clinicId}_{protocolId}_{subjectKey}`), so a patient never has two cases per protocol and a running
 * case re-evaluates. Retrying is safe: the case handles an event id once.
 *
 * @throws AppError `NOT_FOUND` (not retried) for an unknown clinic; `CONFIG_INVALID` when the worker has no client.
 */
export async function startCareGapCases(
  { store, triggers }: { store: Store; triggers: TriggerDeps | undefined },
  input: StartCareGapCasesInput,
): Promise<{ cases: number; caseIds: string[] }> {
  if (!triggers) throw new AppError('CONFIG_INVALID', 'This worker has no Temporal client for starting cases');
  const clinic = await store.clinics.get(input.clinicId);
  if (!clinic) throw new AppError('NOT_FOUND', 'Unknown clinic', { context: { clinicId: input.clinicId } });
  const starts: CareGapInput[] = [];
  for (const patientId of input.patientIds) {
    const key = triggers.subjectKey(clinic.id, patientId);
    for (const { protocolId } of enabledEventKinds(clinic)) {
      starts.push({
        caseId: careGapCaseId(clinic.id, protocolId, key),
        clinicId: clinic.id,
        protocolId,
        patientId,
        requestId: input.requestId,
        ...(triggers.policy ? { policy: triggers.policy } : {}),
      });
    }
  }
  await pool(starts, input.concurrency ?? 8, async (start) => {
    await triggers.client.workflow.signalWithStart<typeof careGap, [CareGapEvent]>('careGap', {
      taskQueue: triggers.taskQueue,
      workflowId: start.caseId,
      args: [start],
      signal: 'careGapEvent',
      signalArgs: [input.event],
      searchAttributes: { ClinicId: [start.clinicId], ProtocolId: [start.protocolId] },
    });
  });
  return { cases: starts.length, caseIds: input.ids ? starts.map((s) => s.caseId) : [] };
}
