// Batch signing of the signature queue (issue 9 §3): the Updates the API sends one case of a batch, the refusal codes
// an item can get, and the checks of the case's own decision that the API's precheck and the workflow both make.
// Sandbox-safe: only @temporalio/workflow's message definitions and types.
import { defineUpdate } from '@temporalio/workflow';
import type { TriageDecision } from '../rules/kinds/refill/decision.ts';
import type { Actor } from '../rules/schema/case.ts';

/** Why one case of a batch was not signed. PHI-free codes; the console words them. */
export const BATCH_REFUSALS = [
  /** The case changed since the signer saw it (its version moved: a decision, a re-route, an undo). */
  'changed',
  /** The pended draft or the pharmacy's request in the EHR is no longer as it was pended (withdrawn, activated…). */
  'record_changed',
  /** A controlled substance: never signed in a batch, whatever the protocol said. */
  'controlled_substance',
  /** A protocol criterion did not pass: the case needs its own look. */
  'failed_criterion',
  /** The protocol never evaluated the case (automation off, EHR unreadable): nothing vouches for it. */
  'not_evaluated',
  /** Another user opened the case in the last minute: they may be deciding it now. */
  'opened_by_other',
  /** The case is not waiting in the signature queue (closed, elsewhere, or already decided). */
  'not_awaiting_signature',
  /** This signer may not sign the case (the clinic's signing policy). */
  'forbidden',
  /** No such case, or not in the caller's clinic. */
  'not_found',
  /** The workflow did not confirm in time: retry the batch with the same idempotency key. */
  'unavailable',
] as const;
export type BatchRefusal = (typeof BATCH_REFUSALS)[number];

/** One case of a batch, as the API sends it to the case's workflow. */
export interface BatchSignRequest {
  /** The Update id: derived from the batch's idempotency key and the case id, so a retried batch is deduplicated. */
  decisionId: string;
  /** The batch's id (a hash of its idempotency key): ties the timeline events of one batch together. */
  batchId: string;
  actor: Actor;
  at: string;
  /** The case's version (its projection's `seq`) as the signer saw it. */
  shownVersion: number;
  /** How long the signer may undo before the order is activated (a setting, recorded in history with the request). */
  undoWindowSeconds: number;
}

export type BatchSignAck =
  | { caseId: string; decisionId: string; result: 'signed'; activatesAt: string }
  | { caseId: string; decisionId: string; result: 'refused'; reason: BatchRefusal };

export interface UndoSignatureRequest {
  undoId: string;
  actor: Actor;
  at: string;
}

export interface UndoSignatureAck {
  caseId: string;
  undoId: string;
  result: 'undone';
}

/**
 * Signs one case of a batch. The validator refuses (typed FORBIDDEN/CONFLICT, never recorded) a role or state that
 * cannot sign at all; the handler then re-checks the case at sign time (its version, the EHR's draft and drug, its
 * criteria) and answers `signed` (the undo window starts) or `refused` with a reason.
 */
export const batchSignUpdate = defineUpdate<BatchSignAck, [BatchSignRequest]>('batchSign');

/** Undoes a batch signature inside its window: only its signer; the case goes back to the signature queue as it was. */
export const undoSignatureUpdate = defineUpdate<UndoSignatureAck, [UndoSignatureRequest]>('undoSignature');

/**
 * What the case's own triage decision says about batching it: a controlled substance, a failed criterion, or no
 * protocol evaluation at all each keep it out of a batch. The API's precheck and the workflow's handler ask this.
 */
export function decisionRefusal(decision: TriageDecision | null): BatchRefusal | null {
  if (decision === null) return 'not_evaluated';
  if (decision.drug.controlledSchedule !== null) return 'controlled_substance';
  if (decision.failedCriteria.length > 0 || decision.criteria.some((c) => !c.passed)) return 'failed_criterion';
  return null;
}
