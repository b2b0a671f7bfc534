import { z } from 'zod';

/** Who may do what: bearer tokens carry exactly one role. */
export const RoleSchema = z.enum(['admin', 'doctor', 'nurse']);
export type Role = z.infer<typeof RoleSchema>;

/**
 * The work queues clinics run: `signature` holds refills approved by protocol and pended for one-click signing by a
 * doctor; `nurse` and `doctor` hold cases a human must triage.
 */
export const QueueSchema = z.enum(['signature', 'nurse', 'doctor']);
export type Queue = z.infer<typeof QueueSchema>;

/** Named pools a protocol routes to, and the queue each belongs to. */
export const POOL_QUEUE: Readonly<Record<string, Queue>> = {
  protime_nurse_pool: 'nurse',
  endocrinology: 'doctor',
  pcp_or_coverage: 'doctor',
};

/** Which roles may decide a case sitting in a queue. Admins configure; they do not practise. */
export const QUEUE_ROLES: Readonly<Record<Queue, readonly Role[]>> = {
  signature: ['doctor'],
  nurse: ['nurse', 'doctor'],
  doctor: ['doctor'],
};

export const CaseStatusSchema = z.enum(['received', 'triaging', 'queued', 'closed', 'failed']);
export type CaseStatus = z.infer<typeof CaseStatusSchema>;

/** What a clinician can do with a case. Denial is a clinician's act, never a protocol's. */
export const ClinicianActionSchema = z.enum(['approve', 'deny', 'needs_visit', 'escalate']);
export type ClinicianAction = z.infer<typeof ClinicianActionSchema>;

/** The final outcome of a case, as written back to the EHR. */
export const CaseOutcomeSchema = z.enum(['approved', 'denied', 'needs_visit']);
export type CaseOutcome = z.infer<typeof CaseOutcomeSchema>;

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
export const RouteReasonSchema = z.enum([
  'protocol',
  'automation_disabled',
  'ehr_record_not_found',
  'escalated_sla',
  'escalated_by_nurse',
  'ehr_unavailable',
  'protocol_unavailable',
]);
export type RouteReason = z.infer<typeof RouteReasonSchema>;
