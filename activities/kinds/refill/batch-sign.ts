import type { Medication, MedicationRequest } from '@medplum/fhirtypes';
import type { FhirConnector } from '../../../connectors/fhir/connector.ts';
import { identifyDrug } from '../../../facts/refill/medication.ts';
import { AppError } from '../../../rules/index.ts';
import { ORDER_IDENTIFIER_SYSTEM } from './ehr-writeback.ts';

export interface CheckSignableInput {
  caseId: string;
  clinicId: string;
  requestId: string;
  medicationRequestId: string;
}

/** What the EHR says right now about a case about to be signed in a batch (PHI-free: statuses and a flag). */
export interface SignableRecord {
  /** The drug of the pharmacy's request, classified now: a controlled substance is never signed in a batch. */
  controlled: boolean;
  /** The pended order's status (`draft` when it waits for a signature), or null when there is none. */
  orderStatus: string | null;
  proposalStatus: string | null;
}

/**
 * Re-reads, at sign time, what a batch signature would act on: the pharmacy's request (and the Medication it refers
 * to) and the pended order. The drug is classified again from the EHR's own coding, so a controlled substance is
 * caught even on a case the protocol never evaluated (automation off, then a nurse's approval pended it).
 */
export async function checkSignable(fhir: FhirConnector, input: CheckSignableInput): Promise<SignableRecord> {
  const proposal = await fhir.read('MedicationRequest', input.medicationRequestId);
  const medications: Medication[] = [];
  const ref = proposal.medicationReference?.reference;
  if (ref?.startsWith('Medication/')) {
    const med = await fhir.read('Medication', ref.slice('Medication/'.length)).catch((err: unknown) => {
      // A Medication the EHR no longer has: the request's own text is still classified (and `display`, if any).
      if (err instanceof AppError && err.code === 'EHR_NOT_FOUND') return undefined;
      throw err;
    });
    if (med) medications.push(med);
  }
  const drug = identifyDrug(proposal, medications);
  const { matches } = await fhir.search('MedicationRequest', {
    identifier: `${ORDER_IDENTIFIER_SYSTEM}|${input.caseId}`,
  });
  const order: MedicationRequest | undefined = matches[0];
  return {
    controlled: drug.controlledSchedule !== null,
    orderStatus: order?.status ?? null,
    proposalStatus: proposal.status ?? null,
  };
}
