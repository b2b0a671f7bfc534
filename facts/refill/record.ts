import type {
  AllergyIntolerance,
  Appointment,
  Condition,
  Encounter,
  Medication,
  MedicationRequest,
  Observation,
  Organization,
  Patient,
  Practitioner,
} from '@medplum/fhirtypes';

/**
 * Everything the refill protocol may look at for one refill request, as read from the EHR: plain FHIR R4 resources,
 * grouped by type. Produced by the FHIR reads in `activities/kinds/refill/patient-context.ts` (worker) and by
 * `patientRecordFromBundle()` (CLI); reduced to facts by `extractRefillFacts()`. Never logged: it is PHI.
 */
export interface PatientRecord {
  /** The refill request: MedicationRequest, status draft, intent proposal. */
  request: MedicationRequest;
  /** The prescription being renewed (`request.priorPrescription`), when the EHR has it. */
  priorPrescription?: MedicationRequest;
  patient: Patient;
  /** Every MedicationRequest of the patient (orders and proposals), for therapy start and dose-change history. */
  medicationRequests: MedicationRequest[];
  /** Medication resources referenced by medicationReference (via `_include=MedicationRequest:medication`). */
  medications: Medication[];
  encounters: Encounter[];
  observations: Observation[];
  conditions: Condition[];
  allergies: AllergyIntolerance[];
  appointments: Appointment[];
  /** Practitioners referenced by encounters/the patient (to tell the PCP from the Collaborative Care Nurse). */
  practitioners: Practitioner[];
  /** The requesting pharmacy (`request.requester`) and any other organizations read. */
  organizations: Organization[];
}
