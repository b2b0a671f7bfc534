// What starts cases about a patient: an event's focus resolved to its patient, and each patient-level kind the clinic
// runs starting (or signalling) the patient's case. Shared by the event intake (workflows/event-intake.ts) and the
// panel sweep; the kind-specific part (which workflow, which case id) is each kind's starter, listed by the registry
// activities/kinds/index.ts.
import type { ResourceType } from '@medplum/fhirtypes';
import type { Client } from '@temporalio/client';
import type { Store } from '../connectors/db/index.ts';
import type { ClinicFhir } from '../connectors/fhir/clinic-connectors.ts';
import type { SubjectKeyer } from '../connectors/subject-key.ts';
import { kindById } from '../rules/kinds/index.ts';
import { AppError } from '../rules/index.ts';
import type { ActivityPolicy } from '../workflows/activity-policy.ts';
import type { PatientCaseEvent } from '../workflows/event-intake.ts';
import { PATIENT_CASE_STARTERS } from './kinds/index.ts';

/** What the trigger activities need beyond the store and the EHR: a Temporal client to signal-with-start cases. */
export interface TriggerDeps {
  client: Client;
  /** The task queue the cases' workflows run on (the worker's own). */
  taskQueue: string;
  subjectKey: SubjectKeyer;
  /** Activity policy passed into the cases started (tests); production uses the defaults. */
  policy?: ActivityPolicy;
}

/** A kind's way to start (or signal) the case of a patient for one of its protocols. */
export interface PatientCaseStarter {
  kind: string;
  /** Signal-with-starts the case of each patient (never two per patient and protocol); returns the case ids. */
  start(
    triggers: TriggerDeps,
    input: {
      clinicId: string;
      protocolId: string;
      requestId: string;
      patientIds: readonly string[];
      event: PatientCaseEvent;
      concurrency: number;
    },
  ): Promise<string[]>;
}

const PATIENT_REF = /^(?:.*\/)?Patient\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[A-Za-z0-9\-.]{1,64})?$/;

/** The patient a focus resource is about: `subject` (Observation, DiagnosticReport, Procedure, Encounter) or an
 * Appointment's patient participant. */
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

export interface StartPatientCasesInput {
  clinicId: string;
  requestId: string;
  patientIds: string[];
  event: PatientCaseEvent;
  /** Signal-with-starts in flight at once (default 8). */
  concurrency?: number;
  /** Return the case ids (the event intake answers with them); a sweep page needs only the count. */
  ids: boolean;
}

/**
 * Delivers `event` to the case of each patient, for every patient-level kind the clinic runs whose declared triggers
 * include the event's type (with the protocol the clinic runs for it: `store.clinics.protocolForKind`). Retrying is
 * safe: a case handles an event id once.
 *
 * @throws AppError `NOT_FOUND` (not retried) for an unknown clinic; `CONFIG_INVALID` when the worker has no client.
 */
export async function startPatientCases(
  { store, triggers }: { store: Store; triggers: TriggerDeps | undefined },
  input: StartPatientCasesInput,
): Promise<{ cases: number; caseIds: string[] }> {
  if (!triggers) throw new AppError('CONFIG_INVALID', 'This worker has no Temporal client for starting cases');
  const clinic = await store.clinics.get(input.clinicId);
  if (!clinic) throw new AppError('NOT_FOUND', 'Unknown clinic', { context: { clinicId: input.clinicId } });
  const caseIds: string[] = [];
  for (const starter of PATIENT_CASE_STARTERS) {
    if (!kindById(starter.kind)?.triggers.includes(input.event.type)) continue;
    const assignment = await store.clinics.protocolForKind(clinic.id, starter.kind);
    if (!assignment) continue;
    caseIds.push(
      ...(await starter.start(triggers, {
        clinicId: clinic.id,
        protocolId: assignment.protocolId,
        requestId: input.requestId,
        patientIds: input.patientIds,
        event: input.event,
        concurrency: input.concurrency ?? 8,
      })),
    );
  }
  return { cases: caseIds.length, caseIds: input.ids ? caseIds : [] };
}
