import { randomUUID } from 'node:crypto';
import type { OpenAPIHono } from '@hono/zod-openapi';
import { createRoute, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import type { CaseRecord } from '../../connectors/db/index.ts';
import { AppError } from '../../rules/index.ts';
import { kindById } from '../../rules/kinds/index.ts';
import {
  QUEUE_ROLES,
  SIGNING_DELEGATES,
  canDecide,
  roleDecides,
  type SigningContext,
} from '../../rules/lifecycle/index.ts';
import { ClinicianActionSchema, QueueSchema } from '../../rules/schema/case.ts';
import type { ApiDeps } from '../deps.ts';
import type { ApiEnv, Principal } from '../env.ts';
import { errorResponse, errorResponses, openApiRouter } from '../errors.ts';
import { PatientIdentityView, readIdentities } from '../patient-identity.ts';
import { requireRole, storeTokenLookup } from '../middleware/auth.ts';
import { callerRequestIdOf } from '../middleware/request-id.ts';
import { CaseId, Id } from '../schemas.ts';
import { caseLinks } from './links.ts';

const Evidence = z.object({
  resourceType: z.string(),
  id: z.string(),
  date: z.string().optional(),
  value: z.union([z.string(), z.number(), z.boolean()]).optional(),
  display: z.string().optional(),
});

const CriterionView = z
  .object({
    id: z.string(),
    clause: z.string(),
    passed: z.boolean(),
    explanation: z.string(),
    evidence: z.array(Evidence),
  })
  .openapi('Criterion');

/** A reason of a kind that reports them (a care gap's `screening_due`), with its evidence. */
const ReasonView = z.object({ id: z.string(), evidence: z.array(Evidence) }).openapi('CaseReason');

/** Every clause of a kind's protocol in order, passed / failed / not reached (null), with its evidence. */
const ClauseView = z
  .object({
    id: z.string(),
    title: z.string(),
    source: z.string(),
    passed: z.boolean().nullable(),
    evidence: z.array(Evidence),
  })
  .openapi('CaseClause');

const CaseView = z
  .object({
    caseId: z.string(),
    /** The protocol kind: `refill`, `care-gap`, … */
    kind: z.string(),
    clinicId: z.string(),
    status: z.string(),
    disposition: z.string().nullable(),
    queue: z.string().nullable(),
    pool: z.string().nullable(),
    reason: z.string().nullable(),
    outcome: z.string().nullable(),
    escalated: z.boolean(),
    slaDueAt: z.string().nullable(),
    drugName: z.string().nullable(),
    /** The refill request of a refill case; null for a case about a patient (a care gap). */
    medicationRequestId: z.string().nullable(),
    patientId: z.string().nullable(),
    /** Who the patient is, read live from the EHR for this response (never stored); absent when the case has none. */
    patient: PatientIdentityView.optional(),
    /** The deciding clause of a kind that reports one (`CRC-17`); null otherwise. */
    clause: z.string().nullable(),
    priority: z.enum(['routine', 'urgent']).nullable(),
    /** A closed gap's next due date (YYYY-MM-DD), when the protocol re-evaluates it. */
    nextDueDate: z.string().nullable(),
    /** When the case's next timer fires (an outreach step, a re-evaluation, the end of a snooze). */
    dueAt: z.string().nullable(),
    reasons: z.array(ReasonView),
    protocol: z.object({ id: z.string(), version: z.number() }).nullable(),
    failedCriteria: z.array(z.string()),
    criteria: z.array(CriterionView),
    clauses: z.array(ClauseView),
    approvedSupply: z.unknown().nullable(),
    bridgeSupply: z.unknown().nullable(),
    routeTo: z.string().nullable(),
    actions: z.array(z.string()),
    createdAt: z.string(),
    updatedAt: z.string(),
    closedAt: z.string().nullable(),
    /** Moves with every step of the case: what a signer saw (`shownVersion` of POST /v1/queues/signature/batch-sign). */
    version: z.number().int(),
    timeline: z.array(
      z.object({
        seq: z.number(),
        at: z.string(),
        kind: z.string(),
        actor: z.string(),
        detail: z.record(z.string(), z.unknown()),
      }),
    ),
    links: z.object({ self: z.string(), timeline: z.string() }),
  })
  .openapi('Case');

const CaseSummary = CaseView.omit({ timeline: true, criteria: true, clauses: true }).openapi('CaseSummary');

interface DecisionShape {
  reasons?: z.infer<typeof ReasonView>[];
  clauses?: z.infer<typeof ClauseView>[];
  failedCriteria?: string[];
  criteria?: z.infer<typeof CriterionView>[];
  approvedSupply?: unknown;
  bridgeSupply?: unknown;
  routeTo?: string | null;
  actions?: string[];
}

function summary(deps: ApiDeps, r: CaseRecord): z.infer<typeof CaseSummary> {
  const d = (r.decision ?? {}) as DecisionShape;
  return {
    caseId: r.id,
    kind: r.kind,
    clinicId: r.clinicId,
    status: r.status,
    disposition: r.disposition,
    queue: r.queue,
    pool: r.pool,
    reason: r.reason,
    outcome: r.outcome,
    escalated: r.escalated,
    slaDueAt: r.slaDueAt,
    drugName: r.drugName,
    medicationRequestId: r.medicationRequestId,
    patientId: r.patientId,
    clause: r.clause,
    priority: r.priority === 'routine' || r.priority === 'urgent' ? r.priority : null,
    nextDueDate: r.nextDueDate,
    dueAt: r.dueAt,
    reasons: d.reasons ?? [],
    protocol: r.protocolId && r.protocolVersion ? { id: r.protocolId, version: r.protocolVersion } : null,
    failedCriteria: d.failedCriteria ?? [],
    approvedSupply: d.approvedSupply ?? null,
    bridgeSupply: d.bridgeSupply ?? null,
    routeTo: d.routeTo ?? null,
    actions: d.actions ?? [],
    createdAt: r.createdAt,
    updatedAt: r.updatedAt,
    closedAt: r.closedAt,
    version: r.seq,
    links: caseLinks(deps.config, r.id),
  };
}

/** A token bound to a clinic sees only that clinic's cases; others look like they do not exist. */
async function visibleCase(deps: ApiDeps, principal: Principal, caseId: string): Promise<CaseRecord> {
  const r = await deps.store.cases.getCase(caseId);
  if (!r || (principal.clinicId !== null && principal.clinicId !== r.clinicId)) {
    throw new AppError('NOT_FOUND', 'No such case');
  }
  return r;
}

const bearer = [{ bearer: [] }];
const CaseParams = z.object({ caseId: CaseId });
/** Client-chosen id of a decision: a retry with the same id is deduplicated. */
const DecisionId = z.string().regex(/^[A-Za-z0-9_-]{8,100}$/, '8–100 of A-Z a-z 0-9 _ -');

const getCaseRoute = createRoute({
  method: 'get',
  path: '/v1/cases/{caseId}',
  summary: 'A case: status, disposition, queue, protocol, every criterion with its evidence, timeline',
  security: bearer,
  request: { params: CaseParams },
  responses: {
    200: { description: 'The case', content: { 'application/json': { schema: CaseView } } },
    ...errorResponses(400, 401, 403, 404),
  },
});

const QueueQuery = z.object({
  pool: z.string().max(100).optional(),
  clinicId: Id.optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
  /** `nextCursor` of the previous page (opaque; connectors/db/cases.ts). */
  cursor: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,400}\.[A-Za-z0-9_-]{1,400}$/, 'not a cursor from nextCursor')
    .optional(),
});

const listQueueRoute = createRoute({
  method: 'get',
  path: '/v1/queues/{queue}/cases',
  summary: 'Open cases of a queue, oldest first (keyset pagination)',
  security: bearer,
  request: { params: z.object({ queue: QueueSchema }), query: QueueQuery },
  responses: {
    200: {
      description: 'One page',
      content: {
        'application/json': {
          schema: z.object({
            queue: QueueSchema,
            items: z.array(CaseSummary),
            nextCursor: z.string().nullable(),
            counts: z.record(z.string(), z.number()),
          }),
        },
      },
    },
    ...errorResponses(400, 401, 403),
  },
});

const patientCasesRoute = createRoute({
  method: 'get',
  path: '/v1/cases',
  summary: 'A patient’s cases at one clinic: open ones first, then newest first (the console’s patient view)',
  description:
    'The patient is named by their FHIR id at the clinic’s EHR (as a SMART launch gives it). A token bound to no ' +
    'clinic must name the clinic. Audited as a read of patient data (`patient.cases_listed`).',
  security: bearer,
  request: {
    query: z.object({
      patientId: z
        .string()
        .regex(/^[A-Za-z0-9\-.]{1,64}$/, 'a FHIR id')
        .openapi({ example: 'pat-0001' }),
      clinicId: Id.optional(),
      limit: z.coerce.number().int().min(1).max(200).default(50),
    }),
  },
  responses: {
    200: {
      description: 'The patient’s cases (at most `limit`; `more` says whether there are others)',
      content: {
        'application/json': {
          schema: z.object({ patientId: z.string(), items: z.array(CaseSummary), more: z.boolean() }),
        },
      },
    },
    ...errorResponses(400, 401, 403),
    422: errorResponse(422, 'UNPROCESSABLE: a token bound to no clinic names no clinic (`$.clinicId`)'),
  },
});

export const DecisionBodySchema = z
  .strictObject({
    action: ClinicianActionSchema,
    note: z.string().max(2000).optional(),
    /** Client-chosen id of this decision (UUID); a retry with the same id is deduplicated. Or send Idempotency-Key. */
    decisionId: DecisionId.optional(),
  })
  .openapi('DecisionRequest');

const decisionRoute = createRoute({
  method: 'post',
  path: '/v1/cases/{caseId}/decision',
  summary: 'A clinician decides a case (approve | deny | needs_visit | escalate)',
  description:
    'Answers 200 only once the decision is durable in the workflow (Temporal Update accepted); 503 otherwise — ' +
    'retry with the same decisionId. 403 for a role the queue does not allow (in the signature queue: a delegate the ' +
    'clinic’s signing policy does not let sign this order), 409 for a closed or already-decided case.',
  security: bearer,
  request: {
    params: CaseParams,
    headers: z.object({ 'idempotency-key': DecisionId.optional() }),
    body: { content: { 'application/json': { schema: DecisionBodySchema } }, required: true },
  },
  responses: {
    200: {
      description: 'Accepted and durable',
      content: {
        'application/json': {
          schema: z.object({
            caseId: z.string(),
            decisionId: z.string(),
            action: ClinicianActionSchema,
            status: z.literal('accepted'),
          }),
        },
      },
    },
    ...errorResponses(400, 401, 403, 404, 409, 503),
  },
});

const auditRoute = createRoute({
  method: 'get',
  path: '/v1/cases/{caseId}/audit',
  summary: 'The audit trail of a case (admin)',
  security: bearer,
  request: { params: CaseParams },
  responses: {
    200: {
      description: 'Audit entries, newest first',
      content: { 'application/json': { schema: z.object({ items: z.array(z.record(z.string(), z.unknown())) }) } },
    },
    ...errorResponses(400, 401, 403, 404),
  },
});

/** Cases, queues and decisions. Identity and role come from the bearer token, never from the body. */
export function caseRoutes(deps: ApiDeps): OpenAPIHono<ApiEnv> {
  const lookup = storeTokenLookup(deps.store);
  const app = openApiRouter();
  app.use('/v1/cases/*', requireRole(lookup)); // Hono's `/*` matches `/v1/cases` itself too
  app.use('/v1/queues/*', requireRole(lookup));

  // Reads of patient data by a person are audited (HIPAA §164.312(b), ONC 170.315(d)(2)): one row per request,
  // written before the data leaves, so a read that could not be recorded is not served.
  const audited = (
    c: Context<ApiEnv>,
    entry: {
      action: string;
      clinicId: string | null;
      caseId?: string;
      detail: Record<string, string | number | string[]>;
    },
  ) => {
    const principal = c.get('principal');
    return deps.store.audit.appendAudit({
      at: deps.now().toISOString(),
      actorType: 'user',
      actorId: principal.userId,
      actorRole: principal.role,
      action: entry.action,
      clinicId: entry.clinicId,
      caseId: entry.caseId ?? null,
      requestId: c.get('requestId'),
      detail: { ...entry.detail, ...callerRequestIdOf(c) },
    });
  };

  /** The patient identities of `cases`, read live from their clinics' EHRs (api/patient-identity.ts). */
  const identities = (c: Context<ApiEnv>, cases: readonly CaseRecord[]) =>
    readIdentities(deps.patientIdentity, cases, {
      requestId: c.get('requestId'),
      logger: c.get('logger'),
      today: deps.now().toISOString().slice(0, 10),
    });

  app.openapi(getCaseRoute, async (c) => {
    const r = await visibleCase(deps, c.get('principal'), c.req.valid('param').caseId);
    const [events, identityOf] = await Promise.all([deps.store.cases.listCaseEvents(r.id), identities(c, [r])]);
    const patient = identityOf(r.clinicId, r.patientId);
    // The patient's id (an identifier, not their identity), whether their identity was shown or why not, and the
    // queue the case was in (access monitoring flags views outside the queues the viewer's role works).
    await audited(c, {
      action: 'case.viewed',
      clinicId: r.clinicId,
      caseId: r.id,
      detail: {
        ...(r.patientId ? { patientId: r.patientId } : {}),
        ...(r.queue ? { queue: r.queue } : {}),
        ...(patient ? { identity: 'unavailable' in patient ? patient.reason : 'shown' } : {}),
      },
    });
    const d = (r.decision ?? {}) as DecisionShape;
    return c.json(
      {
        ...summary(deps, r),
        ...(patient ? { patient } : {}),
        criteria: d.criteria ?? [],
        clauses: d.clauses ?? [],
        timeline: events.map((e) => ({ seq: e.seq, at: e.at, kind: e.kind, actor: e.actor, detail: e.detail })),
      },
      200,
    );
  });

  app.openapi(listQueueRoute, async (c) => {
    const { queue } = c.req.valid('param');
    const q = c.req.valid('query');
    const principal = c.get('principal');
    const clinicId = principal.clinicId ?? q.clinicId;
    const [page, counts] = await Promise.all([
      deps.store.cases.listQueue({
        queue,
        limit: q.limit,
        ...(clinicId ? { clinicId } : {}),
        ...(q.pool ? { pool: q.pool } : {}),
        ...(q.cursor ? { cursor: q.cursor } : {}),
      }),
      deps.store.cases.countQueues(clinicId ? { clinicId } : {}),
    ]);
    // One EHR search per clinic and page (the page size is bounded): the rows' patients' identities.
    const identityOf = await identities(c, page.items);
    const items = page.items.map((r) => {
      const patient = identityOf(r.clinicId, r.patientId);
      return { ...summary(deps, r), ...(patient ? { patient } : {}) };
    });
    // Which cases and patients were shown, by id only: the summaries themselves (identity, drug) stay out of the
    // audit log. `patientIds[i]` is the patient of `caseIds[i]` ('' for a case without one). One row per clinic of the
    // page (a token bound to no clinic lists every clinic's cases, and each clinic's privacy officer reads its own).
    const clinics = clinicId ? [clinicId] : [...new Set(page.items.map((r) => r.clinicId))];
    for (const rowClinic of clinics.length ? clinics : [null]) {
      const shown = items.filter((i) => rowClinic === null || i.clinicId === rowClinic);
      await audited(c, {
        action: 'queue.listed',
        clinicId: rowClinic,
        detail: {
          queue,
          ...(q.pool ? { pool: q.pool } : {}),
          count: shown.length,
          caseIds: shown.map((r) => r.caseId),
          patientIds: shown.map((r) => r.patientId ?? ''),
          identitiesShown: shown.filter((i) => i.patient && !('unavailable' in i.patient)).length,
        },
      });
    }
    return c.json({ queue, items, nextCursor: page.nextCursor, counts }, 200);
  });

  app.openapi(patientCasesRoute, async (c) => {
    const q = c.req.valid('query');
    const principal = c.get('principal');
    const clinicId = principal.clinicId ?? q.clinicId;
    if (clinicId === undefined) {
      throw new AppError('UNPROCESSABLE', 'A token bound to no clinic must name the clinic (clinicId)', {
        issues: [{ path: '$.clinicId', message: 'required for a token bound to no clinic' }],
      });
    }
    const page = await deps.store.cases.listByPatient({ clinicId, patientId: q.patientId, limit: q.limit });
    const identityOf = await identities(c, page.items);
    const items = page.items.map((r) => {
      const patient = identityOf(r.clinicId, r.patientId);
      return { ...summary(deps, r), ...(patient ? { patient } : {}) };
    });
    // The patient and the cases shown, by id only, as the queue lists are audited.
    await audited(c, {
      action: 'patient.cases_listed',
      clinicId,
      detail: {
        patientId: q.patientId,
        count: items.length,
        caseIds: items.map((i) => i.caseId),
        patientIds: items.map(() => q.patientId),
        identitiesShown: items.filter((i) => i.patient && !('unavailable' in i.patient)).length,
      },
    });
    return c.json({ patientId: q.patientId, items, more: page.more }, 200);
  });

  app.openapi(decisionRoute, async (c) => {
    const principal = c.get('principal');
    // A role that never decides is refused before the case is looked up (so it learns nothing about it).
    const decides = roleDecides(principal.role);
    if (!decides.ok) throw new AppError(decides.code, decides.message);
    const r = await visibleCase(deps, principal, c.req.valid('param').caseId);
    const body = c.req.valid('json');
    const idem = c.req.valid('header')['idempotency-key'];
    const decisionId = body.decisionId ?? idem ?? randomUUID();
    // The workflow's Update validator asks the same function; this precheck answers from the projection without a
    // round trip. Only the validator knows whether a decision is already pending.
    // The case's kind says which workflow takes the decision (the gateway asks the kind for its Update).
    const kind = kindById(r.kind);
    if (!kind) throw new AppError('CONFLICT', 'This case takes no decisions');
    // A delegate in the signature queue may sign only as the case's pinned signing policy says: that context lives in
    // the workflow (pinned at triage), so it is asked for; nobody else needs it.
    const delegate =
      r.queue === 'signature' &&
      !QUEUE_ROLES.signature.includes(principal.role) &&
      SIGNING_DELEGATES.includes(principal.role);
    const signing = delegate
      ? ((await deps.workflows.getCaseState<{ signing?: SigningContext }>(r.id, kind.workflowType))?.signing ??
        undefined)
      : undefined;
    const check = canDecide(principal.role, { status: r.status, queue: r.queue }, body.action, signing);
    if (!check.ok) throw new AppError(check.code, check.message);
    const ack = await deps.workflows.submitDecision(r.id, kind.workflowType, {
      decisionId,
      action: body.action,
      ...(body.note !== undefined ? { note: body.note } : {}),
      actor: { userId: principal.userId, role: principal.role },
      at: deps.now().toISOString(),
    });
    return c.json(
      { caseId: ack.caseId, decisionId: ack.decisionId, action: ack.action, status: 'accepted' as const },
      200,
    );
  });

  app.openapi(auditRoute, async (c) => {
    const principal = c.get('principal');
    if (principal.role !== 'admin') throw new AppError('FORBIDDEN', 'The audit trail needs the role admin');
    const r = await visibleCase(deps, principal, c.req.valid('param').caseId);
    // The trail names the case, its patient's request and who touched it: reading it is a read by a person too.
    await audited(c, { action: 'case.audit_viewed', clinicId: r.clinicId, caseId: r.id, detail: {} });
    const { items } = await deps.store.audit.listAudit({ caseId: r.id, limit: 500 });
    return c.json({ items: items }, 200);
  });
  return app;
}
