/**
 * Workflow id (= case id) of a refill request: a business key of the clinic and the EHR's id of the refill request,
 * so a redelivered webhook finds the same case. `_` cannot occur in a FHIR id or a clinic id, so the key is
 * unambiguous and URL-safe. Ids only: never names or MRNs (workflow ids are not encrypted).
 */
export function refillCaseId(clinicId: string, medicationRequestId: string): string {
  return `rf_${clinicId}_${medicationRequestId}`;
}

/**
 * Workflow id (= case id) of a care gap: one per patient per protocol at a clinic. `subjectKey` is the opaque key of
 * the patient (connectors/subject-key.ts), never the patient's id: workflow ids are not encrypted.
 */
export function careGapCaseId(clinicId: string, protocolId: string, subjectKey: string): string {
  return `cg_${clinicId}_${protocolId}_${subjectKey}`;
}
