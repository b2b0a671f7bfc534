import { defineQuery, defineUpdate } from '@temporalio/workflow';
import type { CaseOutcome, CaseStatus, ClinicianDecision, Queue, RouteReason } from '../rules/schema/case.ts';
import type { TriageDecision } from '../rules/kinds/refill/decision.ts';
import type { SigningContext } from '../rules/lifecycle/index.ts';

/** What the workflow knows about its case right now (served to the API when the projection is not enough). */
export interface CaseState {
  caseId: string;
  status: CaseStatus;
  queue: Queue | null;
  pool: string | null;
  reason: RouteReason | null;
  protocol: { id: string; version: number } | null;
  decision: TriageDecision | null;
  escalated: boolean;
  outcome: CaseOutcome | null;
  decidedBy: ClinicianDecision['actor'] | 'protocol' | null;
  /**
   * The clinic's signing policy for the case's protocol, pinned at triage, with what the signing rules know about the
   * case (controlled drug, protocol approval). Absent in workflows started before signing policies (`doctor` policy).
   */
  signing?: SigningContext | null;
}

export interface DecisionAck {
  caseId: string;
  decisionId: string;
  action: ClinicianDecision['action'];
  queue: Queue | null;
}

/**
 * A clinician decides a case. The validator rejects a wrong role, a case not awaiting a decision and a second
 * decision; a rejected Update is never recorded. The Update id is the client's `decisionId`, so a retried request is
 * deduplicated by Temporal. Rejection messages start with a code (`FORBIDDEN:`/`CONFLICT:`) the API maps to a status.
 */
export const submitDecisionUpdate = defineUpdate<DecisionAck, [ClinicianDecision]>('submitDecision');
export const getCaseStateQuery = defineQuery<CaseState>('getCaseState');
