import { ActivityFailure, ApplicationFailure, proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities/index.ts';
import { DEFAULT_ACTIVITY_POLICY, activityOptions, type ActivityPolicy } from './activity-policy.ts';

/** What touched a patient's case (the signal payload of every patient-level kind). Ids and references only. */
export interface PatientCaseEvent {
  type: 'appointment.booked' | 'result.available' | 'panel.sweep' | 'timer';
  /** The EHR's event id (or the sweep's id): redeliveries carry the same id and are handled once. */
  eventId: string;
  resource?: `${'Observation' | 'DiagnosticReport' | 'Procedure' | 'Appointment'}/${string}`;
  /** When the event happened (ISO instant). */
  at: string;
}

/** An event the events webhook accepted: a booked visit or an arriving result (never a sweep or a timer). */
export type CareEvent = Omit<PatientCaseEvent, 'type' | 'resource'> & {
  type: Extract<PatientCaseEvent['type'], 'appointment.booked' | 'result.available'>;
  resource: NonNullable<PatientCaseEvent['resource']>;
};

export interface EventIntakeInput {
  /** The workflow id: `ev_{clinicId}_{hash of the event id}` (api/event-body.ts `eventIntakeId`). */
  intakeId: string;
  clinicId: string;
  /** The webhook's request id; travels into FHIR calls (X-Request-Id) and audit rows. */
  requestId: string;
  event: CareEvent;
  policy?: ActivityPolicy;
}

/**
 * `cases`: every case the event touched (started or signalled); `no_patient`: the focus names no patient;
 * `not_found`: the EHR does not have the focus resource; `no_kind`: no kind the clinic runs reacts to events.
 */
type EventIntakeStatus = 'cases' | 'no_patient' | 'not_found' | 'no_kind';

export interface EventIntakeResult {
  intakeId: string;
  eventId: string;
  status: EventIntakeStatus;
  caseIds: string[];
}

function failureType(err: unknown): string | undefined {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  return cause instanceof ApplicationFailure ? (cause.type ?? undefined) : undefined;
}

/**
 * The intake of one care event (started by the events webhook, one per clinic and event id): reads the focus resource
 * to find the patient (the API does no FHIR I/O), then signal-with-starts the patient's case of every kind the clinic
 * runs that the event triggers. Short-lived; its result (the case ids) answers the webhook and its redeliveries.
 */
export async function eventIntake(input: EventIntakeInput): Promise<EventIntakeResult> {
  const p = input.policy ?? DEFAULT_ACTIVITY_POLICY;
  const ehr = proxyActivities<Activities>(activityOptions(p.ehr, ['EHR_NOT_FOUND', 'NOT_FOUND', 'INVALID_INPUT']));
  const local = proxyActivities<Activities>(activityOptions(p.local, ['NOT_FOUND', 'INVALID_INPUT', 'CONFIG_INVALID']));
  const { intakeId, clinicId, requestId, event } = input;
  let patientId: string | null;
  try {
    ({ patientId } = await ehr.resolveEventPatient({ intakeId, clinicId, requestId, resource: event.resource }));
  } catch (err) {
    if (failureType(err) === 'EHR_NOT_FOUND')
      return { intakeId, eventId: event.eventId, status: 'not_found', caseIds: [] };
    throw err;
  }
  if (patientId === null) return { intakeId, eventId: event.eventId, status: 'no_patient', caseIds: [] };
  const { caseIds } = await local.startPatientCases({ clinicId, requestId, patientIds: [patientId], event, ids: true });
  return { intakeId, eventId: event.eventId, status: caseIds.length > 0 ? 'cases' : 'no_kind', caseIds };
}
