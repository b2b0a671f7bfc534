import type { ClinicFhir } from '../../../connectors/fhir/clinic-connectors.ts';
import type { Logger } from '../../../connectors/logger.ts';
import type { Store } from '../../../connectors/db/index.ts';
import { evaluateProtocol as evaluate } from '../../../rules/kinds/refill/evaluate.ts';
import { AppError } from '../../../rules/index.ts';
import type { RefillFacts } from '../../../rules/kinds/refill/facts.ts';
import { minimiseFacts } from '../../../rules/kinds/refill/minimise-facts.ts';
import { parseProtocol } from '../../../rules/kinds/refill/protocol.ts';
import type { TriageDecision } from '../../../rules/kinds/refill/decision.ts';
import type { SigningPolicy } from '../../../rules/lifecycle/index.ts';
import { extractRefillFacts } from '../../../facts/refill/index.ts';
import { fetchPatientRecord } from './patient-context.ts';

export interface TriageDeps {
  store: Store;
  fhir: ClinicFhir;
  logger: Logger;
}

/**
 * Resolves the protocol version for a new case: the version assigned to the clinic (`clinics.protocolVersion`), else
 * the protocol's live version. Called once per case; the result is recorded in workflow history, so a later publish
 * never changes a case already running.
 *
 * @throws AppError `NOT_FOUND` (not retried) for an unknown clinic, a protocol with no published version, or an
 * assigned version that does not exist or was never published.
 */
export async function pinProtocol({ store }: Pick<TriageDeps, 'store'>, input: { clinicId: string }) {
  const clinic = await store.clinics.get(input.clinicId);
  if (!clinic) throw new AppError('NOT_FOUND', 'Unknown clinic', { context: { clinicId: input.clinicId } });
  if (clinic.protocolVersion !== null) {
    const assigned = await store.protocols.getVersion(clinic.protocolId, clinic.protocolVersion);
    if (!assigned || assigned.status === 'draft') {
      throw new AppError('NOT_FOUND', 'The clinic’s assigned protocol version is not a published version', {
        context: { clinicId: input.clinicId, protocolId: clinic.protocolId, version: clinic.protocolVersion },
      });
    }
    return { id: assigned.protocolId, version: assigned.version };
  }
  const published = await store.protocols.getPublished(clinic.protocolId);
  if (!published) {
    throw new AppError('NOT_FOUND', 'The clinic’s protocol has no published version', {
      context: { clinicId: input.clinicId, protocolId: clinic.protocolId },
    });
  }
  return { id: published.protocolId, version: published.version };
}

/**
 * The clinic's signing policy for the case's protocol (the `doctor` default when none was set), pinned once per case
 * like the protocol version: the result is recorded in workflow history, so a later change never changes who may sign
 * a case already running, and the write-backs name the version that applied.
 */
export async function pinSigningPolicy(
  { store }: Pick<TriageDeps, 'store'>,
  input: { clinicId: string; protocolId: string },
): Promise<SigningPolicy> {
  const p = await store.signingPolicies.get(input.clinicId, input.protocolId);
  return {
    mode: p.mode,
    delegates: p.delegates,
    cosignDays: p.cosignDays,
    authority: p.authority,
    protocolId: p.protocolId,
    version: p.version,
  };
}

export interface GatherPatientFactsInput {
  caseId: string;
  clinicId: string;
  requestId: string;
  medicationRequestId: string;
  /** YYYY-MM-DD: the protocol's "today". */
  asOf: string;
}

export interface GatherPatientFactsResult {
  facts: RefillFacts;
  patientId: string;
  drugName: string;
  roundTrips: number;
}

/**
 * Reads the patient's context from the clinic's EHR and reduces it to facts (the only data rules can see). Read-only,
 * safe to retry. Every read leaves an audit record (ids and counts, never content).
 *
 * @throws AppError `EHR_NOT_FOUND` (not retried), `EHR_UNAVAILABLE` (retried).
 */
export async function gatherPatientFacts(
  { store, fhir, logger }: TriageDeps,
  input: GatherPatientFactsInput,
): Promise<GatherPatientFactsResult> {
  return fhir.withRequestId(input.requestId, async () => {
    const connector = await fhir.forClinic(input.clinicId);
    const { record, roundTrips, resourceCounts } = await fetchPatientRecord(connector, {
      medicationRequestId: input.medicationRequestId,
      asOf: input.asOf,
    });
    const facts = extractRefillFacts(record, { asOf: input.asOf });
    const patientId = record.patient.id ?? 'unknown';
    await store.audit.appendAudit({
      actorType: 'system',
      actorId: 'worker',
      action: 'patient_context.read',
      clinicId: input.clinicId,
      caseId: input.caseId,
      requestId: input.requestId,
      detail: { patientId, medicationRequestId: input.medicationRequestId, roundTrips, resourceCounts },
    });
    logger.info(
      { caseId: input.caseId, roundTrips, resources: Object.values(resourceCounts).reduce((a, b) => a + b, 0) },
      'patient context read',
    );
    return { facts, patientId, drugName: facts.drug.name, roundTrips };
  });
}

/**
 * Evaluates the pinned protocol version against the facts, records the facts snapshot (for simulating protocol
 * changes against real requests) and audits the decision. Deterministic for the same version and facts.
 *
 * @throws AppError `NOT_FOUND` / `PROTOCOL_INVALID` (not retried).
 */
export async function evaluateProtocol(
  { store }: Pick<TriageDeps, 'store'>,
  input: {
    caseId: string;
    clinicId: string;
    requestId: string;
    protocol: { id: string; version: number };
    facts: RefillFacts;
  },
): Promise<TriageDecision> {
  const version = await store.protocols.getVersion(input.protocol.id, input.protocol.version);
  if (!version) {
    throw new AppError('NOT_FOUND', 'Pinned protocol version not found', {
      context: { protocolId: input.protocol.id, version: input.protocol.version },
    });
  }
  let definition;
  try {
    definition = parseProtocol({
      ...(version.definition as object),
      id: input.protocol.id,
      version: input.protocol.version,
    });
  } catch (cause) {
    throw new AppError('PROTOCOL_INVALID', 'Stored protocol version does not validate', {
      cause,
      context: { protocolId: input.protocol.id, version: input.protocol.version },
    });
  }
  const decision = await evaluate(definition, input.facts);
  await store.snapshots.put({
    caseId: input.caseId,
    clinicId: input.clinicId,
    protocolId: input.protocol.id,
    facts: minimiseFacts(input.facts), // PHI-minimised: no names, no free text (decisions proven unchanged)
    decision,
  });
  await store.audit.appendAudit({
    actorType: 'protocol',
    actorId: `${input.protocol.id}@${input.protocol.version}`,
    action: 'protocol.evaluated',
    clinicId: input.clinicId,
    caseId: input.caseId,
    protocolId: input.protocol.id,
    protocolVersion: input.protocol.version,
    requestId: input.requestId,
    idempotencyKey: `${input.caseId}:protocol.evaluated`,
    detail: { disposition: decision.disposition, failedCriteria: decision.failedCriteria, routeTo: decision.routeTo },
  });
  return decision;
}
