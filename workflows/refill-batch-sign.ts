import { ApplicationFailure, condition, setHandler } from '@temporalio/workflow';
import type { SignableRecord } from '../activities/kinds/refill/batch-sign.ts';
import type { TriageDecision } from '../rules/kinds/refill/decision.ts';
import { canDecide, type CaseStatus, type Queue, type SigningContext } from '../rules/lifecycle/index.ts';
import type { Actor, ClinicianDecision } from '../rules/schema/case.ts';
import {
  batchSignUpdate,
  decisionRefusal,
  undoSignatureUpdate,
  type BatchRefusal,
  type BatchSignAck,
  type BatchSignRequest,
  type UndoSignatureRequest,
} from './refill-batch-sign-messages.ts';

/** What batch signing needs from the refill workflow it runs in. */
export interface BatchSigningContext {
  caseId: string;
  /** The case as the workflow holds it now; `version` is its projection's `seq`. */
  view(): {
    status: CaseStatus;
    queue: Queue | null;
    version: number;
    decision: TriageDecision | null;
    decisionPending: boolean;
    /** The signing policy pinned at triage, with what it needs to know about the case (who may sign it). */
    signing?: SigningContext | null;
  };
  /** Re-reads the EHR's side of the case (an activity). */
  checkRecord(): Promise<SignableRecord>;
  /** Hands the accepted signature to the workflow's decision loop, as a clinician's approval. */
  accept(decision: ClinicianDecision): void;
  /** Projects a timeline event (with its own audit action). */
  project(event: string, detail: Record<string, unknown>, actor: Actor, audit: string): Promise<void>;
}

/** A request statuses that mean the pharmacy's request is no longer open for a signature. */
const CLOSED_PROPOSAL = new Set(['completed', 'cancelled', 'stopped', 'entered-in-error']);

const typed = (type: 'FORBIDDEN' | 'CONFLICT', message: string) =>
  ApplicationFailure.create({ type, message, nonRetryable: true });

/**
 * Batch signing inside one refill workflow: the `batchSign` and `undoSignature` Updates, and the undo window, a
 * durable timer between a batch signature and the order's activation. Until the timer fires the signer can undo; the
 * case then goes back to the signature queue untouched (the pended order stays a `draft`). When it fires, the
 * workflow's decision loop signs the order as for any approval. Replayed code: no I/O, time from the workflow clock.
 */
export function batchSigning(ctx: BatchSigningContext) {
  /** A batch signature accepted and not yet activated or undone. */
  let held: { request: BatchSignRequest; activatesAt: string } | null = null;
  /** A sign-time check in flight: no other decision may start meanwhile. */
  let checking = false;
  let undo: UndoSignatureRequest | null = null;

  const busy = () => checking || held !== null;

  setHandler(
    batchSignUpdate,
    async (request): Promise<BatchSignAck> => {
      const refuse = (reason: BatchRefusal): BatchSignAck => ({
        caseId: ctx.caseId,
        decisionId: request.decisionId,
        result: 'refused',
        reason,
      });
      if (request.shownVersion !== ctx.view().version) return refuse('changed');
      checking = true;
      let record: SignableRecord;
      try {
        record = await ctx.checkRecord();
      } catch {
        return refuse('unavailable');
      } finally {
        checking = false;
      }
      // Checked again after the EHR round trip: the case may not have moved meanwhile (busy() held decisions off).
      const now = ctx.view();
      if (request.shownVersion !== now.version || now.decisionPending) return refuse('changed');
      if (record.controlled) return refuse('controlled_substance');
      if (record.orderStatus !== 'draft' || CLOSED_PROPOSAL.has(record.proposalStatus ?? '')) {
        return refuse('record_changed');
      }
      const byDecision = decisionRefusal(now.decision);
      if (byDecision) return refuse(byDecision);
      const activatesAt = new Date(Date.now() + request.undoWindowSeconds * 1000).toISOString();
      held = { request, activatesAt };
      ctx.accept({ decisionId: request.decisionId, action: 'approve', actor: request.actor, at: request.at });
      return { caseId: ctx.caseId, decisionId: request.decisionId, result: 'signed', activatesAt };
    },
    {
      // The lifecycle's own answer to "may this role approve this case now" (the clinic's signing policy lives
      // there), plus: a batch signs only what waits in the signature queue.
      validator: (request: BatchSignRequest) => {
        const v = ctx.view();
        const check = canDecide(
          request.actor.role,
          { ...v, decisionPending: v.decisionPending || busy() },
          'approve',
          v.signing ?? undefined,
        );
        if (!check.ok) throw typed(check.code, check.message);
        if (v.queue !== 'signature') throw typed('CONFLICT', 'Only cases in the signature queue are signed in a batch');
      },
    },
  );

  setHandler(
    undoSignatureUpdate,
    (request) => {
      undo = request;
      return { caseId: ctx.caseId, undoId: request.undoId, result: 'undone' as const };
    },
    {
      validator: (request: UndoSignatureRequest) => {
        if (held === null) throw typed('CONFLICT', 'No batch signature of this case is waiting to go out');
        if (undo !== null) throw typed('CONFLICT', 'The signature was undone already');
        if (request.actor.userId !== held.request.actor.userId) {
          throw typed('FORBIDDEN', 'Only the signer can undo a signature');
        }
      },
    },
  );

  return {
    /** Whether a batch signature is being checked or waits in its window (other decisions must wait). */
    busy,
    /**
     * Runs the undo window of `decision` if it is a batch signature (else returns `'activate'` at once): a durable
     * timer of the request's length, cut short by an undo. `'undone'`: the case goes back to its queue as it was.
     */
    async undoWindow(decision: ClinicianDecision): Promise<'activate' | 'undone'> {
      if (held === null || held.request.decisionId !== decision.decisionId) return 'activate';
      const { request, activatesAt } = held;
      await ctx.project(
        'signature.held',
        { decisionId: request.decisionId, batchId: request.batchId, activatesAt },
        request.actor,
        'signature.held',
      );
      await condition(() => undo !== null, request.undoWindowSeconds * 1000);
      // An undo accepted in the same workflow task as the timer still wins: it was accepted inside the window.
      const undone = undo;
      held = null;
      undo = null;
      if (undone === null) return 'activate';
      await ctx.project(
        'signature.undone',
        { decisionId: request.decisionId, batchId: request.batchId, undoId: undone.undoId },
        undone.actor,
        'signature.undone',
      );
      return 'undone';
    },
  };
}
