import { z } from 'zod';
import {
  CASE_OUTCOMES,
  CASE_STATUSES,
  CLINICIAN_ACTIONS,
  QUEUES,
  ROLES,
  ROUTE_REASONS,
  type CaseOutcome,
  type CaseStatus,
  type Queue,
  type Role,
  type RouteReason,
} from '../lifecycle/index.ts';

// The vocabularies and the rules over them live in rules/lifecycle/ (zod-free, so the workflow sandbox can run them);
// these are their schemas.
export { QUEUE_ROLES } from '../lifecycle/index.ts';
export type { CaseOutcome, CaseStatus, Queue, Role, RouteReason };

/** Who may do what: bearer tokens carry exactly one role. */
export const RoleSchema = z.enum(ROLES);
export const QueueSchema = z.enum(QUEUES);
export const CaseStatusSchema = z.enum(CASE_STATUSES);
/** What a clinician can do with a case. Denial is a clinician's act, never a protocol's. */
export const ClinicianActionSchema = z.enum(CLINICIAN_ACTIONS);
/** The final outcome of a case, as written back to the EHR. */
export const CaseOutcomeSchema = z.enum(CASE_OUTCOMES);

export const ActorSchema = z.strictObject({
  userId: z.string().min(1).max(200),
  role: RoleSchema,
});
export type Actor = z.infer<typeof ActorSchema>;

/** A clinician's decision as it travels into the workflow (a Temporal Update). `decisionId` is the Update id. */
export const ClinicianDecisionSchema = z.strictObject({
  decisionId: z.string().min(8).max(100),
  action: ClinicianActionSchema,
  note: z.string().max(2000).optional(),
  actor: ActorSchema,
  at: z.iso.datetime(),
});
export type ClinicianDecision = z.infer<typeof ClinicianDecisionSchema>;

/** Why a case reached a human without (or beyond) a protocol decision. PHI-free codes. */
export const RouteReasonSchema = z.enum(ROUTE_REASONS);
