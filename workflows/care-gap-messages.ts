// Messages of the care-gap workflow (`careGap`), shared with the API (events webhook, panel sweep, clinician actions).
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { KindActionRule } from '../rules/lifecycle/index.ts';
import type { Actor } from '../rules/schema/case.ts';
import type { ActivityPolicy } from './activity-policy.ts';

/** What touched a patient's care gap. Ids and references only: the workflow reads the EHR itself. */
export interface CareGapEvent {
  type: 'appointment.booked' | 'result.available' | 'panel.sweep' | 'timer';
  /** The EHR's event id (or the sweep's run id): redeliveries carry the same id and are handled once. */
  eventId: string;
  /** The focus of the event, when it has one. */
  resource?: `${'Observation' | 'DiagnosticReport' | 'Procedure' | 'Appointment'}/${string}`;
  /** When the event happened (ISO instant). */
  at: string;
}

export interface CareGapInput {
  /** The workflow id: `cg_{clinicId}_{protocolId}_{subjectKey}` (activities/kinds/care-gap/triggers.ts `careGapCaseId`). */
  caseId: string;
  clinicId: string;
  /** The care-gap protocol the clinic runs for this kind; the version is pinned per gap episode by the workflow. */
  protocolId: string;
  /** FHIR id of the patient (in the encrypted input only, never in the workflow id). */
  patientId: string;
  /** Request id of the first trigger; travels into FHIR calls (X-Request-Id) and audit rows. */
  requestId: string;
  /** The protocol's "today" (YYYY-MM-DD) for every evaluation (tests); default: the workflow's date. */
  asOf?: string;
  /** Overrides of activity timeouts and retries (tests); defaults in activity-policy.ts. */
  policy?: ActivityPolicy;
  /**
   * Length of one protocol "day" of the outreach sequence in seconds (default 86 400). Tests shorten it; the day
   * counts themselves always come from the protocol's `outreach` section.
   */
  daySeconds?: number;
  /** Continue-as-new after this many handled events or timers (default 500), so history stays bounded. */
  maxStepsPerRun?: number;
  /** State carried over continue-as-new; absent on the first run. */
  carried?: unknown;
}

/** The clinician actions on a care gap (rules/lifecycle `CARE_GAP_ACTIONS`). */
export type CareGapActionId = 'sign_order' | 'record_decline' | 'done_elsewhere' | 'snooze' | 'escalate';

/**
 * Who may take each care-gap action, on items of which queues, and what it does to the case (rules/lifecycle
 * `canTakeAction` judges it: the workflow's Update validator and the API's precheck read this one table).
 * - `sign_order`: a doctor signs the pended draft (the FIT order on an outreach item, which mails the kit; the GI
 *   referral of a positive stool test; elsewhere it orders a FIT kit and starts the outreach);
 * - `record_decline`: the patient declined screening (recorded in the EHR as a refused procedure; the gap is
 *   suppressed for 12 months by CRC-15);
 * - `done_elsewhere`: a qualifying test was done elsewhere (recorded in the EHR; closes the gap by CRC-10);
 * - `snooze`: the item leaves its queue until a date, then the protocol re-evaluates it;
 * - `escalate`: an outreach item goes to the nurse queue, a nurse item to the doctor queue.
 */
export const CARE_GAP_ACTIONS: readonly KindActionRule<CareGapActionId>[] = [
  {
    id: 'sign_order',
    label: 'Signing the order',
    roles: ['doctor'],
    queues: ['outreach', 'doctor'],
    effect: { type: 'stay' },
  },
  {
    id: 'record_decline',
    label: 'Recording a decline',
    roles: ['nurse', 'doctor'],
    queues: ['outreach', 'nurse', 'doctor'],
    effect: { type: 'close', outcome: 'declined' },
  },
  {
    id: 'done_elsewhere',
    label: 'Recording a test done elsewhere',
    roles: ['nurse', 'doctor'],
    queues: ['outreach', 'nurse', 'doctor'],
    effect: { type: 'close', outcome: 'done_elsewhere' },
  },
  {
    id: 'snooze',
    label: 'Snoozing',
    roles: ['nurse', 'doctor'],
    queues: ['outreach', 'nurse', 'doctor'],
    effect: { type: 'defer' },
  },
  {
    id: 'escalate',
    label: 'Escalating',
    roles: ['nurse'],
    queues: ['outreach', 'nurse'],
    effect: { type: 'move', to: { outreach: 'nurse', nurse: 'doctor' }, reason: 'escalated_by_nurse' },
  },
];

/** The qualifying tests a "done elsewhere" can name (crc-screening-2021, qualifying tests table). */
export type ScreeningTest = 'fit' | 'sdna_fit' | 'ct_colonography' | 'flexible_sigmoidoscopy' | 'colonoscopy';

/** A clinician's action on a care gap, as it travels into the workflow (a Temporal Update; `actionId` is its id). */
export interface CareGapActionRequest {
  actionId: string;
  action: CareGapActionId;
  /** `done_elsewhere`: when the test was done (YYYY-MM-DD) and which test. */
  date?: string;
  test?: ScreeningTest;
  /** `snooze`: until when (YYYY-MM-DD). */
  until?: string;
  note?: string;
  actor: Actor;
  at: string;
}

export interface CareGapActionAck {
  caseId: string;
  actionId: string;
  action: CareGapActionId;
}

/** Something happened to the patient's care gap; signal-with-start creates the case if it does not exist. */
export const careGapEventSignal = defineSignal<[CareGapEvent]>('careGapEvent');
/** A clinician acts on the care gap; the validator refuses (typed FORBIDDEN / CONFLICT) what the lifecycle forbids. */
export const careGapActionUpdate = defineUpdate<CareGapActionAck, [CareGapActionRequest]>('careGapAction');
/** The workflow's view of the case (status, queue, disposition, outreach step). */
export const getCareGapStateQuery = defineQuery<unknown>('getCareGapState');
