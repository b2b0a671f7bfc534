import type { MedicationRequest } from '@medplum/fhirtypes';
import type { ClinicFhir } from '../../../connectors/fhir/clinic-connectors.ts';
import type { Logger } from '../../../connectors/logger.ts';
import type { AuditInput, Store } from '../../../connectors/db/index.ts';
import { LRUCache } from 'lru-cache';
import { compileProtocol, type CompiledProtocol } from '../../../rules/kinds/refill/compile.ts';
import { AppError } from '../../../rules/index.ts';
import type { RefillFacts } from '../../../rules/kinds/refill/facts.ts';
import { minimiseFacts } from '../../../rules/kinds/refill/minimise-facts.ts';
import { parseProtocol } from '../../../rules/kinds/refill/protocol.ts';
import type { TriageDecision } from '../../../rules/kinds/refill/decision.ts';
import type { SigningPolicy } from '../../../rules/lifecycle/index.ts';
import { extractRefillFacts } from '../../../facts/refill/index.ts';
import { fetchPatientRecord } from './patient-context.ts';
import { projectCase, type ProjectCaseInput } from './case-projection.ts';

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
  // The protocol row names its published version: no need to read (and validate) the version's whole definition.
  const protocol = await store.protocols.get(clinic.protocolId);
  if (!protocol || protocol.publishedVersion === null) {
    throw new AppError('NOT_FOUND', 'The clinic’s protocol has no published version', {
      context: { clinicId: input.clinicId, protocolId: clinic.protocolId },
    });
  }
  return { id: protocol.id, version: protocol.publishedVersion };
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

/**
 * The protocol version and the clinic's signing policy for a new case, pinned in one step (one local activity): see
 * {@link pinProtocol} and {@link pinSigningPolicy}.
 *
 * @throws AppError `NOT_FOUND` as pinProtocol.
 */
export async function pinTriage(
  deps: Pick<TriageDeps, 'store'>,
  input: { clinicId: string },
): Promise<{ protocol: { id: string; version: number }; policy: SigningPolicy }> {
  const protocol = await pinProtocol(deps, input);
  return { protocol, policy: await pinSigningPolicy(deps, { clinicId: input.clinicId, protocolId: protocol.id }) };
}

/** The case shown triaging (its projection step), then its protocol version and signing policy pinned. */
export async function beginTriage(
  deps: Pick<TriageDeps, 'store'>,
  input: { projection: ProjectCaseInput; clinicId: string },
): Promise<{ protocol: { id: string; version: number }; policy: SigningPolicy }> {
  await projectCase(deps, input.projection);
  return pinTriage(deps, { clinicId: input.clinicId });
}

export interface GatherPatientFactsInput {
  caseId: string;
  clinicId: string;
  requestId: string;
  medicationRequestId: string;
  /** YYYY-MM-DD: the protocol's "today". */
  asOf: string;
  /** The patient the intake named (FHIR id): one round trip when the request's subject is that patient. */
  patientId?: string;
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
  deps: TriageDeps,
  input: GatherPatientFactsInput,
): Promise<GatherPatientFactsResult> {
  const { audit, ...read } = await readPatientFacts(deps, input);
  await deps.store.audit.appendAudit(audit);
  return read;
}

/**
 * The refill requests (proposals) triages just read, by clinic and id: the protocol approval's order, written moments
 * later by this worker (enterFirstQueue), starts from the same read instead of reading the request again. Short-lived
 * and bounded; the order's update of the proposal is version-aware (If-Match), so one changed since is read again.
 */
const RECENT_PROPOSALS = new LRUCache<string, MedicationRequest>({ max: 1000, ttl: 60_000 });
const proposalKey = (clinicId: string, id: string) => `${clinicId}|${id}`;

/** The proposal a triage in this worker read within the last minute, if any (taken: each read serves one order). */
export function takeRecentProposal(clinicId: string, medicationRequestId: string): MedicationRequest | undefined {
  const key = proposalKey(clinicId, medicationRequestId);
  const proposal = RECENT_PROPOSALS.get(key);
  RECENT_PROPOSALS.delete(key);
  return proposal;
}

/** {@link gatherPatientFacts}, leaving the read's audit row to the caller (to write with what follows the read). */
async function readPatientFacts(
  { fhir, logger }: Pick<TriageDeps, 'fhir' | 'logger'>,
  input: GatherPatientFactsInput,
): Promise<GatherPatientFactsResult & { audit: AuditInput }> {
  return fhir.withRequestId(input.requestId, async () => {
    const connector = await fhir.forClinic(input.clinicId);
    const { record, roundTrips, resourceCounts } = await fetchPatientRecord(connector, {
      medicationRequestId: input.medicationRequestId,
      asOf: input.asOf,
      ...(input.patientId !== undefined ? { patientId: input.patientId } : {}),
    });
    if (record.request.id === input.medicationRequestId) {
      RECENT_PROPOSALS.set(proposalKey(input.clinicId, input.medicationRequestId), record.request);
    }
    const facts = extractRefillFacts(record, { asOf: input.asOf });
    const patientId = record.patient.id ?? 'unknown';
    const audit: AuditInput = {
      actorType: 'system',
      actorId: 'worker',
      action: 'patient_context.read',
      clinicId: input.clinicId,
      caseId: input.caseId,
      requestId: input.requestId,
      detail: { patientId, medicationRequestId: input.medicationRequestId, roundTrips, resourceCounts },
    };
    logger.info(
      { caseId: input.caseId, roundTrips, resources: Object.values(resourceCounts).reduce((a, b) => a + b, 0) },
      'patient context read',
    );
    return { facts, patientId, drugName: facts.drug.name, roundTrips, audit };
  });
}

/**
 * Published protocol versions, compiled: a version's definition never changes once it leaves draft, so a worker
 * compiles each one once. Bounded (a clinic runs one or two versions at a time; a fleet, a few dozen).
 */
const COMPILED = new LRUCache<string, CompiledProtocol>({ max: 256 });

/**
 * The pinned version as plain functions (`compileProtocol`): proven to decide exactly as json-rules-engine's
 * `evaluateProtocol`, the reference semantics (test/rules/compile.test.ts), at a fraction of the cost.
 *
 * @throws AppError `NOT_FOUND` / `PROTOCOL_INVALID` (not retried).
 */
async function compiledProtocol(store: Store, protocol: { id: string; version: number }): Promise<CompiledProtocol> {
  const key = `${protocol.id}@${protocol.version}`;
  const cached = COMPILED.get(key);
  if (cached) return cached;
  const version = await store.protocols.getVersion(protocol.id, protocol.version);
  if (!version) {
    throw new AppError('NOT_FOUND', 'Pinned protocol version not found', {
      context: { protocolId: protocol.id, version: protocol.version },
    });
  }
  let compiled: CompiledProtocol;
  try {
    const definition = parseProtocol({ ...(version.definition as object), id: protocol.id, version: protocol.version });
    compiled = compileProtocol(definition);
  } catch (cause) {
    throw new AppError('PROTOCOL_INVALID', 'Stored protocol version does not validate', {
      cause,
      context: { protocolId: protocol.id, version: protocol.version },
    });
  }
  if (version.status !== 'draft') COMPILED.set(key, compiled);
  return compiled;
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
  const decision = (await compiledProtocol(store, input.protocol))(input.facts);
  await recordEvaluation(store, input, decision, []);
  return decision;
}

/**
 * The evaluation's record: the facts snapshot, then the `protocol.evaluated` audit row after `before` (audit rows of
 * the same step, e.g. the read the facts came from), in one transaction.
 */
async function recordEvaluation(
  store: Store,
  input: Parameters<typeof evaluateProtocol>[1],
  decision: TriageDecision,
  before: AuditInput[],
): Promise<void> {
  await store.snapshots.put(
    {
      caseId: input.caseId,
      clinicId: input.clinicId,
      protocolId: input.protocol.id,
      facts: minimiseFacts(input.facts), // PHI-minimised: no names, no free text (decisions proven unchanged)
      decision,
    },
    [
      ...before,
      {
        actorType: 'protocol',
        actorId: `${input.protocol.id}@${input.protocol.version}`,
        action: 'protocol.evaluated',
        clinicId: input.clinicId,
        caseId: input.caseId,
        protocolId: input.protocol.id,
        protocolVersion: input.protocol.version,
        requestId: input.requestId,
        idempotencyKey: `${input.caseId}:protocol.evaluated`,
        detail: {
          disposition: decision.disposition,
          failedCriteria: decision.failedCriteria,
          routeTo: decision.routeTo,
        },
      },
    ],
  );
}

export interface TriageRequestInput extends GatherPatientFactsInput {
  protocol: { id: string; version: number };
}

export interface TriageRequestResult {
  decision: TriageDecision;
  patientId: string;
  drugName: string;
  roundTrips: number;
}

/**
 * The EHR read and the evaluation in one activity: the facts stay in the worker (recorded as the case's snapshot)
 * instead of travelling through workflow history twice. The decision is what the workflow records. A retry reads and
 * evaluates again: nothing has been written to the EHR yet, and the snapshot and audit rows are idempotent.
 *
 * @throws as {@link gatherPatientFacts} and {@link evaluateProtocol}.
 */
export async function triageRequest(deps: TriageDeps, input: TriageRequestInput): Promise<TriageRequestResult> {
  const { protocol, ...read } = input;
  const { facts, patientId, drugName, roundTrips, audit } = await readPatientFacts(deps, read);
  const evaluation = { caseId: input.caseId, clinicId: input.clinicId, requestId: input.requestId, protocol, facts };
  let decision: TriageDecision;
  try {
    decision = (await compiledProtocol(deps.store, protocol))(facts);
  } catch (err) {
    await deps.store.audit.appendAudit(audit); // the record was read, whether or not the protocol could run
    throw err;
  }
  // The read's and the evaluation's audit rows in one transaction.
  await recordEvaluation(deps.store, evaluation, decision, [audit]);
  return { decision, patientId, drugName, roundTrips };
}
