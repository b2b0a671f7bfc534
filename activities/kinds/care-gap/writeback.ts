// What a care gap writes to the EHR: a draft FIT order, the outreach CommunicationRequests, the Task mirroring the
// work item, a draft GI referral after a positive stool test, and what a clinician records (a decline, a test done
// elsewhere). Every write is an identifier-keyed conditional create (or an update of the resource it found by that
// identifier), so a retried activity finds its own earlier write instead of writing twice. Nothing is made active by
// the protocol alone: orders are drafts until a doctor signs.
import type {
  CommunicationRequest,
  Observation,
  Patient,
  Procedure,
  Reference,
  ServiceRequest,
  Task,
} from '@medplum/fhirtypes';
import type { FhirConnector } from '../../../connectors/fhir/connector.ts';
import type { Queue } from '../../../rules/schema/case.ts';
import { QUEUE_PERFORMER } from '../../queue-performer.ts';
import type { ScreeningTest } from '../../../workflows/care-gap-messages.ts';

/** Identifier systems of what a care gap writes; values are derived from the case id (and the gap episode). */
export const CARE_GAP_ORDER_SYSTEM = 'urn:ehr-autopilot:care-gap-order';
export const CARE_GAP_COMMUNICATION_SYSTEM = 'urn:ehr-autopilot:care-gap-communication';
export const CARE_GAP_TASK_SYSTEM = 'urn:ehr-autopilot:care-gap-task';
export const CARE_GAP_RECORD_SYSTEM = 'urn:ehr-autopilot:care-gap-record';
const TASK_CODE_SYSTEM = 'urn:ehr-autopilot:task-code';

const LOINC = 'http://loinc.org';
const SNOMED = 'http://snomed.info/sct';
const ICD10CM = 'http://hl7.org/fhir/sid/icd-10-cm';

/** Which order of a gap episode: the FIT kit, or the referral to gastroenterology after a positive stool test. */
export type CareGapOrder = 'fit' | 'gi_referral';
/** The outreach steps, each one CommunicationRequest (category reminder) about the patient. */
export type OutreachStep = 'letter' | 'kit_mailed' | 'reminder';

const ORDER_CODE: Record<CareGapOrder, ServiceRequest['code']> = {
  fit: {
    coding: [
      {
        system: LOINC,
        code: '29771-3',
        display: 'Hemoglobin.gastrointestinal.lower [Presence] in Stool by Immunoassay',
      },
    ],
    text: 'FIT kit (fecal immunochemical test)',
  },
  gi_referral: {
    coding: [{ system: SNOMED, code: '306182006', display: 'Referral to gastroenterology service' }],
    text: 'Referral to gastroenterology',
  },
};

const STEP_TEXT: Record<OutreachStep, string> = {
  letter: 'Colorectal cancer screening is due. A stool test kit (FIT) will be mailed to you once it is ordered.',
  kit_mailed: 'Your colorectal cancer screening kit (FIT) has been mailed. Please return it as instructed.',
  reminder: 'Reminder: please complete and return your colorectal cancer screening kit (FIT).',
};

const patientRef = (patientId: string): Reference<Patient> => ({ reference: `Patient/${patientId}` });
const orderKey = (caseId: string, episode: number, order: CareGapOrder) => `${caseId}:${episode}:${order}`;

async function findByIdentifier<T extends ServiceRequest | Task>(
  fhir: FhirConnector,
  type: T['resourceType'],
  system: string,
  value: string,
): Promise<T | undefined> {
  const { matches } = await fhir.search(type, { identifier: `${system}|${value}` });
  return matches[0] as T | undefined;
}

export interface PendOrderInput {
  caseId: string;
  episode: number;
  patientId: string;
  order: CareGapOrder;
  /** FHIR references of what the order is for (the positive stool test of a GI referral). */
  reasonReferences?: string[];
  at: string;
}

/**
 * Pends a care-gap order as a `draft` ServiceRequest (`intent: order`): the FIT kit (LOINC 29771-3, reason ICD-10-CM
 * Z12.11 "encounter for screening for malignant neoplasm of colon") or the GI referral (SNOMED 306182006). It becomes
 * `active` only when a doctor signs ({@link setOrderStatus}).
 */
export async function pendOrder(
  fhir: FhirConnector,
  input: PendOrderInput,
): Promise<{ orderId: string; status: string; created: boolean }> {
  const value = orderKey(input.caseId, input.episode, input.order);
  const order: ServiceRequest = {
    resourceType: 'ServiceRequest',
    identifier: [{ system: CARE_GAP_ORDER_SYSTEM, value }],
    status: 'draft',
    intent: 'order',
    code: ORDER_CODE[input.order],
    subject: patientRef(input.patientId),
    authoredOn: input.at,
    ...(input.order === 'fit'
      ? {
          reasonCode: [
            {
              coding: [
                { system: ICD10CM, code: 'Z12.11', display: 'Encounter for screening for malignant neoplasm of colon' },
              ],
            },
          ],
        }
      : {}),
    ...(input.reasonReferences?.length
      ? { reasonReference: input.reasonReferences.map((reference) => ({ reference })) }
      : {}),
    note: [{ text: 'Pended by the colorectal screening protocol; awaiting a signature.', time: input.at }],
  };
  const { resource, created } = await fhir.create(order, {
    ifNoneExist: { identifier: `${CARE_GAP_ORDER_SYSTEM}|${value}` },
  });
  return { orderId: resource.id!, status: resource.status, created };
}

/**
 * Moves a pended order on: `active` (signed by a doctor), `revoked` (the outreach was cancelled before a result) or
 * `completed` (its result arrived). A missing order is no error (nothing was pended); a repeat is a no-op.
 */
export async function setOrderStatus(
  fhir: FhirConnector,
  input: {
    caseId: string;
    episode: number;
    order: CareGapOrder;
    status: 'active' | 'revoked' | 'completed';
    note: string;
    at: string;
  },
): Promise<{ orderId: string | null; status: string | null }> {
  const found = await findByIdentifier<ServiceRequest>(
    fhir,
    'ServiceRequest',
    CARE_GAP_ORDER_SYSTEM,
    orderKey(input.caseId, input.episode, input.order),
  );
  if (!found) return { orderId: null, status: null };
  // Only forward: a completed or revoked order is never re-activated, an active one never goes back to draft.
  const terminal = found.status === 'completed' || found.status === 'revoked' || found.status === 'entered-in-error';
  if (terminal || found.status === input.status) return { orderId: found.id!, status: found.status };
  const updated = await fhir.update({
    ...found,
    status: input.status,
    note: [...(found.note ?? []), { text: input.note, time: input.at }],
  });
  return { orderId: updated.id!, status: updated.status };
}

/** One outreach step as a CommunicationRequest (category reminder) about the patient and the FIT order. */
export async function sendOutreach(
  fhir: FhirConnector,
  input: { caseId: string; episode: number; patientId: string; step: OutreachStep; orderId: string | null; at: string },
): Promise<{ communicationRequestId: string; created: boolean }> {
  const value = `${input.caseId}:${input.episode}:${input.step}`;
  const request: CommunicationRequest = {
    resourceType: 'CommunicationRequest',
    identifier: [{ system: CARE_GAP_COMMUNICATION_SYSTEM, value }],
    status: 'active',
    category: [
      {
        coding: [{ system: 'http://terminology.hl7.org/CodeSystem/communication-category', code: 'reminder' }],
      },
    ],
    subject: patientRef(input.patientId),
    ...(input.orderId ? { about: [{ reference: `ServiceRequest/${input.orderId}` }] } : {}),
    medium: [
      {
        coding: [
          { system: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationMode', code: 'MAILWRIT', display: 'mail' },
        ],
      },
    ],
    payload: [{ contentString: STEP_TEXT[input.step] }],
    authoredOn: input.at,
    occurrenceDateTime: input.at,
  };
  const { resource, created } = await fhir.create(request, {
    ifNoneExist: { identifier: `${CARE_GAP_COMMUNICATION_SYSTEM}|${value}` },
  });
  return { communicationRequestId: resource.id!, created };
}

export interface SyncCareGapTaskInput {
  caseId: string;
  patientId: string;
  queue: Queue | null;
  pool: string | null;
  priority: 'routine' | 'urgent';
  /** The stage: `outreach`, `nurse-review`, `doctor-review`, `kit-not-returned-call`, `gap-closed`, … */
  businessStatus: string;
  status: 'requested' | 'completed' | 'cancelled';
  /** The order the item is about (the FIT order, the GI referral), when there is one. */
  focusOrderId: string | null;
  /**
   * No Task is expected yet (the case mirrors no open item): it is created conditionally at once instead of searched
   * for first; a Task found there after all (an earlier attempt's, a closed item's) is brought up to date as usual.
   */
  first?: boolean;
}

/**
 * Mirrors the case's work item as one FHIR `Task` per case (code "colorectal screening gap", for the patient, focus
 * the order when there is one, performerType the queue's role with the pool as text, businessStatus the stage),
 * created conditionally on an identifier derived from the case id and updated in place afterwards.
 */
export async function syncCareGapTask(
  fhir: FhirConnector,
  input: SyncCareGapTaskInput,
  now: Date,
): Promise<{ taskId: string }> {
  const identifier = `${CARE_GAP_TASK_SYSTEM}|${input.caseId}`;
  const existing = input.first
    ? undefined
    : await findByIdentifier<Task>(fhir, 'Task', CARE_GAP_TASK_SYSTEM, input.caseId);
  const performer = input.queue ? QUEUE_PERFORMER[input.queue] : undefined;
  const task: Task = {
    ...(existing ?? {}),
    resourceType: 'Task',
    identifier: [{ system: CARE_GAP_TASK_SYSTEM, value: input.caseId }],
    status: input.status,
    intent: 'order',
    priority: input.priority,
    code: {
      coding: [{ system: TASK_CODE_SYSTEM, code: 'care-gap-crc', display: 'colorectal screening gap' }],
      text: 'colorectal screening gap',
    },
    for: patientRef(input.patientId),
    ...(input.focusOrderId ? { focus: { reference: `ServiceRequest/${input.focusOrderId}` } } : {}),
    authoredOn: existing?.authoredOn ?? now.toISOString(),
    lastModified: now.toISOString(),
    businessStatus: { text: input.businessStatus },
    ...(performer
      ? {
          performerType: [
            {
              coding: [{ system: SNOMED, code: performer.code, display: performer.display }],
              text: input.pool ?? `${input.queue} queue`,
            },
          ],
        }
      : {}),
  };
  if (existing) {
    if (existing.status === task.status && existing.businessStatus?.text === input.businessStatus) {
      return { taskId: existing.id! };
    }
    const updated = await fhir.update(task);
    return { taskId: updated.id! };
  }
  const { resource, created } = await fhir.create(task, { ifNoneExist: { identifier } });
  if (input.first && !created) return syncCareGapTask(fhir, { ...input, first: false }, now);
  if (resource.status !== task.status || resource.businessStatus?.text !== input.businessStatus) {
    // Our own earlier attempt created it between the search and the create: update it in place.
    const updated = await fhir.update({ ...task, id: resource.id });
    return { taskId: updated.id! };
  }
  return { taskId: resource.id! };
}

/**
 * Records that the patient declined screening, as the protocol reads it (CRC-15): a `Procedure` with status
 * `not-done`, the FIT code, statusReason SNOMED 183944003 (procedure refused), dated when the refusal was recorded.
 */
export async function recordDecline(
  fhir: FhirConnector,
  input: { caseId: string; episode: number; patientId: string; date: string; by: string },
): Promise<{ resourceId: string; created: boolean }> {
  const value = `${input.caseId}:${input.episode}:declined`;
  const procedure: Procedure = {
    resourceType: 'Procedure',
    identifier: [{ system: CARE_GAP_RECORD_SYSTEM, value }],
    status: 'not-done',
    statusReason: { coding: [{ system: SNOMED, code: '183944003', display: 'Procedure refused' }] },
    code: { coding: [{ system: LOINC, code: '29771-3' }], text: 'Colorectal cancer screening (FIT)' },
    subject: patientRef(input.patientId),
    performedDateTime: input.date,
    note: [{ text: `Patient declined colorectal cancer screening (recorded by ${input.by}).` }],
  };
  const { resource, created } = await fhir.create(procedure, {
    ifNoneExist: { identifier: `${CARE_GAP_RECORD_SYSTEM}|${value}` },
  });
  return { resourceId: `Procedure/${resource.id!}`, created };
}

/**
 * Records a qualifying test done elsewhere, as the protocol reads it (CRC-10): a completed `Procedure` (colonoscopy,
 * flexible sigmoidoscopy) or a final `Observation` (CT colonography; a stool test with a negative result, which is
 * what a clinician asserts by recording it as done), dated on the test's date.
 */
export async function recordDoneElsewhere(
  fhir: FhirConnector,
  input: { caseId: string; episode: number; patientId: string; date: string; test: ScreeningTest; by: string },
): Promise<{ resourceId: string; created: boolean }> {
  const value = `${input.caseId}:${input.episode}:done-elsewhere:${input.test}:${input.date}`;
  const identifier = [{ system: CARE_GAP_RECORD_SYSTEM, value }];
  const note = [{ text: `Done elsewhere; recorded by ${input.by}.` }];
  const ifNoneExist = { identifier: `${CARE_GAP_RECORD_SYSTEM}|${value}` };
  if (input.test === 'colonoscopy' || input.test === 'flexible_sigmoidoscopy') {
    const code =
      input.test === 'colonoscopy'
        ? { system: SNOMED, code: '73761001', display: 'Colonoscopy' }
        : { system: SNOMED, code: '44441009', display: 'Flexible sigmoidoscopy' };
    const procedure: Procedure = {
      resourceType: 'Procedure',
      identifier,
      status: 'completed',
      code: { coding: [code] },
      subject: patientRef(input.patientId),
      performedDateTime: input.date,
      note,
    };
    const { resource, created } = await fhir.create(procedure, { ifNoneExist });
    return { resourceId: `Procedure/${resource.id!}`, created };
  }
  const loinc = { fit: '29771-3', sdna_fit: '77353-1', ct_colonography: '60515-4' }[input.test];
  const stool = input.test !== 'ct_colonography';
  const observation: Observation = {
    resourceType: 'Observation',
    identifier,
    status: 'final',
    code: { coding: [{ system: LOINC, code: loinc }] },
    subject: patientRef(input.patientId),
    effectiveDateTime: input.date,
    ...(stool
      ? {
          valueCodeableConcept: { coding: [{ system: SNOMED, code: '260385009', display: 'Negative' }] },
          interpretation: [
            { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation', code: 'NEG' }] },
          ],
        }
      : {}),
    note,
  };
  const { resource, created } = await fhir.create(observation, { ifNoneExist });
  return { resourceId: `Observation/${resource.id!}`, created };
}
