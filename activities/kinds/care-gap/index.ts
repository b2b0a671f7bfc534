// The care-gap kind's I/O: pin the protocol, read the patient's context over FHIR, evaluate (with a facts snapshot),
// write back (drafts, outreach, the Task, what a clinician records). Each read and write leaves an audit row.
import { careGapFactsFromResources } from '../../../facts/care-gap/index.ts';
import {
  careGapKind,
  careGapValueSetsWith,
  CareGapFactsSchema,
  evaluateCareGap,
  parseCareGapProtocol,
  type CareGapDecision,
  type CareGapOutreach,
} from '../../../rules/kinds/care-gap/index.ts';
import { AppError } from '../../../rules/index.ts';
import type { ScreeningTest } from '../../../workflows/care-gap-messages.ts';
import { guard } from '../../errors.ts';
import type { ActivityDeps } from '../../index.ts';
import { fetchCareGapResources } from './patient-context.ts';
import {
  pendOrder,
  recordDecline,
  recordDoneElsewhere,
  sendOutreach,
  setOrderStatus,
  syncCareGapTask,
  type CareGapOrder,
  type OutreachStep,
  type SyncCareGapTaskInput,
} from './writeback.ts';

interface CaseRef {
  caseId: string;
  clinicId: string;
  requestId: string;
}

/**
 * Pins the care-gap protocol version this clinic runs (called once per gap episode; recorded in history, so a later
 * publish never changes an open episode): the clinic's kind assignment when it names this protocol (its pinned
 * version, else the live one), else the protocol's live version. Returns the version's outreach sequence.
 *
 * @throws AppError `NOT_FOUND` (no published version), `PROTOCOL_INVALID` (the stored version is not a care-gap
 * protocol that validates): not retried.
 */
async function pin(
  { store }: Pick<ActivityDeps, 'store'>,
  input: { clinicId: string; protocolId: string },
): Promise<{ protocol: { id: string; version: number }; outreach: CareGapOutreach }> {
  const assigned = await store.clinics.protocolForKind(input.clinicId, 'care-gap');
  const version =
    assigned?.protocolId === input.protocolId && assigned.version !== null
      ? await store.protocols.getVersion(input.protocolId, assigned.version)
      : await store.protocols.getPublished(input.protocolId);
  if (!version || version.status === 'draft') {
    throw new AppError('NOT_FOUND', 'The care-gap protocol has no published version for this clinic', {
      context: { clinicId: input.clinicId, protocolId: input.protocolId },
    });
  }
  const definition = parse(version.definition, version.protocolId, version.version);
  return { protocol: { id: version.protocolId, version: version.version }, outreach: definition.outreach };
}

function parse(stored: unknown, id: string, version: number) {
  try {
    return parseCareGapProtocol({ ...(stored as object), id, version });
  } catch (cause) {
    throw new AppError('PROTOCOL_INVALID', 'Stored protocol version is not a valid care-gap protocol', {
      cause,
      context: { protocolId: id, version },
    });
  }
}

/**
 * Reads what a care-gap evaluation may look at for one patient (`careGapReads`) in one batch Bundle where the EHR
 * offers batch (else the same searches in parallel), following further pages, and reduces it to facts. Read-only,
 * safe to retry. One audit row per read (ids and counts, never content).
 *
 * @throws AppError `EHR_NOT_FOUND` when the patient does not exist (not retried), `EHR_UNAVAILABLE` (retried).
 */
async function gather(
  { store, fhir, logger }: ActivityDeps,
  input: CaseRef & { patientId: string; asOf: string },
): Promise<{ facts: unknown; roundTrips: number; valueSets: Record<string, string> }> {
  // The clinic's loaded expansions in force now extend the built-in sets; the hashes used are returned, so the
  // workflow's history (and the case's timeline and audit) say which codes this evaluation counted.
  const loaded = await store.valueSets.current(input.clinicId, careGapKind.valueSets ?? []);
  const sets = careGapValueSetsWith(
    loaded.map((l) => ({ valueSetId: l.valueSetId, expansion: { source: l.source, codes: l.codes } })),
  );
  const valueSets = Object.fromEntries(loaded.map((l) => [l.valueSetId, l.hash]));
  return fhir.withRequestId(input.requestId, async () => {
    const { resources, roundTrips } = await fetchCareGapResources(await fhir.forClinic(input.clinicId), {
      patientId: input.patientId,
      valueSets: sets,
    });
    const facts = careGapFactsFromResources(resources, input.patientId, input.asOf, { valueSets: sets });
    const resourceCounts: Record<string, number> = {};
    for (const r of resources) resourceCounts[r.resourceType] = (resourceCounts[r.resourceType] ?? 0) + 1;
    await store.audit.appendAudit({
      actorType: 'system',
      actorId: 'worker',
      action: 'patient_context.read',
      clinicId: input.clinicId,
      caseId: input.caseId,
      requestId: input.requestId,
      detail: {
        patientId: input.patientId,
        kind: 'care-gap',
        roundTrips,
        resourceCounts,
        ...(loaded.length ? { valueSets } : {}),
      },
    });
    logger.info(
      { caseId: input.caseId, roundTrips, resources: resources.length, expansions: loaded.length },
      'care-gap context read',
    );
    return { facts, roundTrips, valueSets };
  });
}

/**
 * Evaluates the pinned care-gap protocol version over the facts, records the facts snapshot (for simulating protocol
 * changes) and audits the decision. Deterministic for the same version and facts.
 *
 * @throws AppError `NOT_FOUND` / `PROTOCOL_INVALID` (not retried).
 */
async function evaluate(
  { store }: Pick<ActivityDeps, 'store'>,
  input: CaseRef & {
    protocol: { id: string; version: number };
    facts: unknown;
    seq: number;
    /** The clinic's value-set expansions the facts were read with (id → hash); absent or empty: built-ins only. */
    valueSets?: Record<string, string>;
  },
): Promise<CareGapDecision> {
  const version = await store.protocols.getVersion(input.protocol.id, input.protocol.version);
  if (!version) {
    throw new AppError('NOT_FOUND', 'Pinned protocol version not found', { context: input.protocol });
  }
  const definition = parse(version.definition, input.protocol.id, input.protocol.version);
  const facts = CareGapFactsSchema.parse(input.facts);
  const decision = await evaluateCareGap(definition, facts);
  // The facts are PHI-minimised by construction (dates, codes and resource ids; no names, addresses or free text).
  await store.snapshots.put({
    caseId: input.caseId,
    clinicId: input.clinicId,
    protocolId: input.protocol.id,
    facts: JSON.parse(JSON.stringify(facts)) as never,
    decision: JSON.parse(JSON.stringify(decision)) as never,
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
    idempotencyKey: `${input.caseId}:${input.seq}:protocol.evaluated`,
    detail: {
      disposition: decision.disposition,
      clause: decision.clause,
      routeTo: decision.routeTo,
      ...(input.valueSets && Object.keys(input.valueSets).length ? { valueSets: input.valueSets } : {}),
    },
  });
  return decision;
}

/** One care-gap write-back; `episode` numbers the gap episode (identifiers are per case and episode). */
export type CareGapWriteInput = CaseRef & { patientId: string; episode: number; at: string } & (
    | { op: 'pend_order'; order: CareGapOrder; reasonReferences?: string[] }
    | { op: 'set_order_status'; order: CareGapOrder; status: 'active' | 'revoked' | 'completed'; by: string }
    | { op: 'outreach'; step: OutreachStep; orderId: string | null }
    | { op: 'record_decline'; date: string; by: string }
    | { op: 'record_done_elsewhere'; date: string; test: ScreeningTest; by: string }
  );

/**
 * Runs one write-back against the clinic's EHR and audits it (`ehr.write_back`, keyed so a retried activity writes
 * one row). Returns the id of the resource written (or found), `null` when there was nothing to change.
 */
async function write(
  { store, fhir }: ActivityDeps,
  input: CareGapWriteInput,
): Promise<{ resourceId: string | null; status: string | null }> {
  return fhir.withRequestId(input.requestId, async () => {
    const ehr = await fhir.forClinic(input.clinicId);
    let result: { resourceId: string | null; status: string | null; detail: Record<string, string | boolean | null> };
    let key: string;
    switch (input.op) {
      case 'pend_order': {
        const r = await pendOrder(ehr, input);
        result = { resourceId: r.orderId, status: r.status, detail: { order: input.order, created: r.created } };
        key = `pend_${input.order}`;
        break;
      }
      case 'set_order_status': {
        const r = await setOrderStatus(ehr, { ...input, note: `${input.status} (${input.by}).` });
        result = { resourceId: r.orderId, status: r.status, detail: { order: input.order, status: input.status } };
        key = `${input.order}_${input.status}`;
        break;
      }
      case 'outreach': {
        const r = await sendOutreach(ehr, input);
        result = {
          resourceId: r.communicationRequestId,
          status: 'active',
          detail: { step: input.step, created: r.created },
        };
        key = `outreach_${input.step}`;
        break;
      }
      case 'record_decline': {
        const r = await recordDecline(ehr, input);
        result = { resourceId: r.resourceId, status: 'not-done', detail: { created: r.created } };
        key = 'record_decline';
        break;
      }
      case 'record_done_elsewhere': {
        const r = await recordDoneElsewhere(ehr, input);
        result = {
          resourceId: r.resourceId,
          status: 'recorded',
          detail: { test: input.test, date: input.date, created: r.created },
        };
        key = `done_elsewhere_${input.test}_${input.date}`;
        break;
      }
    }
    await store.audit.appendAudit({
      actorType: 'system',
      actorId: 'worker',
      action: 'ehr.write_back',
      clinicId: input.clinicId,
      caseId: input.caseId,
      requestId: input.requestId,
      idempotencyKey: `${input.caseId}:${input.episode}:write_back:${key}`,
      detail: { op: input.op, episode: input.episode, resourceId: result.resourceId, ...result.detail },
    });
    return { resourceId: result.resourceId, status: result.status };
  });
}

/**
 * Where a case's projection stands (its last step's `seq`), for a workflow run that starts without carried state: a
 * care gap whose earlier workflow ended (terminated, or failed) continues its timeline instead of rewriting it.
 */
async function progress({ store }: Pick<ActivityDeps, 'store'>, input: { caseId: string }): Promise<{ seq: number }> {
  const row = await store.cases.getCase(input.caseId);
  return { seq: row?.seq ?? 0 };
}

/** The care-gap activities, by registered name (renaming one breaks running workflows: add, don't rename). */
export function careGapActivities(deps: ActivityDeps) {
  const now = deps.now ?? (() => new Date());
  return {
    careGapProgress: guard((input: { caseId: string }) => progress(deps, input)),
    careGapPin: guard((input: { clinicId: string; protocolId: string }) => pin(deps, input)),
    careGapGather: guard((input: CaseRef & { patientId: string; asOf: string }) => gather(deps, input)),
    careGapEvaluate: guard((input: Parameters<typeof evaluate>[1]) => evaluate(deps, input)),
    careGapWrite: guard((input: CareGapWriteInput) => write(deps, input)),
    careGapSyncTask: guard((input: CaseRef & SyncCareGapTaskInput) =>
      deps.fhir.withRequestId(input.requestId, async () => {
        const result = await syncCareGapTask(await deps.fhir.forClinic(input.clinicId), input, now());
        await deps.store.audit.appendAudit({
          actorType: 'system',
          actorId: 'worker',
          action: 'ehr.task_synced',
          clinicId: input.clinicId,
          caseId: input.caseId,
          requestId: input.requestId,
          idempotencyKey: `${input.caseId}:task:${input.businessStatus}:${input.status}:${input.queue ?? 'none'}`,
          detail: {
            taskId: result.taskId,
            businessStatus: input.businessStatus,
            status: input.status,
            queue: input.queue,
          },
        });
        return result;
      }),
    ),
  };
}
