// Batch signing of the signature queue (issue 9 §3): `POST /v1/queues/signature/batch-sign` signs up to BATCH_SIGN_MAX_ITEMS
// cases at once, re-checking each one at sign time, and `POST /v1/cases/{caseId}/undo-signature` undoes one inside
// its window. Each case is signed by its own workflow (a Temporal Update whose id derives from the batch's
// idempotency key and the case id), so a retried batch signs nothing twice.
import { createHash, randomUUID } from 'node:crypto';
import type { OpenAPIHono } from '@hono/zod-openapi';
import { createRoute, z } from '@hono/zod-openapi';
import type { CaseRecord } from '../../../connectors/db/index.ts';
import { AppError } from '../../../rules/index.ts';
import type { TriageDecision } from '../../../rules/kinds/refill/decision.ts';
import { refillKind } from '../../../rules/kinds/refill/index.ts';
import {
  QUEUE_ROLES,
  SIGNING_DELEGATES,
  canDecide,
  roleDecides,
  type SigningContext,
} from '../../../rules/lifecycle/index.ts';
import {
  BATCH_REFUSALS,
  batchSignUpdate,
  decisionRefusal,
  undoSignatureUpdate,
  type BatchRefusal,
  type BatchSignAck,
} from '../../../workflows/refill-batch-sign-messages.ts';
import type { ApiDeps } from '../../deps.ts';
import type { ApiEnv, Principal } from '../../env.ts';
import { errorResponses, openApiRouter } from '../../errors.ts';
import { requireRole, storeTokenLookup } from '../../middleware/auth.ts';
import { callerRequestIdOf } from '../../middleware/request-id.ts';
import { CaseId } from '../../schemas.ts';

/** A case opened by someone else this recently may be being decided by them: never in a batch. */
const OPENED_WINDOW_MS = 60_000;
/** Cases of one batch signed at once: bounded, so one batch cannot flood Temporal or the EHR. */
const PARALLEL = 8;

const Key = z.string().regex(/^[A-Za-z0-9_-]{8,100}$/, '8–100 of A-Z a-z 0-9 _ -');

/** The body, with the configured cap (BATCH_SIGN_MAX_ITEMS, default 50) in the schema: above it, 400 at `$.items`. */
const batchSignBody = (maxItems: number) =>
  z
    .strictObject({
      /** A case listed twice is signed once; both entries get its answer. */
      items: z
        .array(
          z.strictObject({
            caseId: CaseId,
            /** The case's `version` as the signer saw it (GET /v1/queues/signature/cases). */
            shownVersion: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
          }),
        )
        .min(1)
        .max(maxItems),
      /** Client-chosen id of this batch: a retry with the same key signs nothing twice. */
      idempotencyKey: Key,
    })
    .openapi('BatchSignRequest');

const ItemResult = z
  .object({
    caseId: z.string(),
    result: z.enum(['signed', 'refused']),
    /** Why a case was refused (null when signed). */
    reason: z.enum(BATCH_REFUSALS).nullable(),
    /** When a signed case's order goes out, unless its signer undoes the signature before then. */
    activatesAt: z.string().nullable(),
  })
  .openapi('BatchSignItemResult');

const batchSignRoute = (maxItems: number) =>
  createRoute({
    method: 'post',
    path: '/v1/queues/signature/batch-sign',
    summary: 'Sign many signature-queue cases at once; each is re-checked at sign time and answered on its own',
    description:
      'Per case: `signed` (the order goes out after the undo window) or `refused` with a reason: `changed` (its ' +
      'version moved since it was shown), `record_changed` (the pended draft or request changed in the EHR), ' +
      '`controlled_substance`, `failed_criterion`, `not_evaluated`, `opened_by_other` (another user opened it in the ' +
      'last minute), `not_awaiting_signature`, `forbidden`, `not_found`, `unavailable` (retry with the same key). ' +
      'A retry with the same idempotency key is deduplicated. 400 above the batch cap (BATCH_SIGN_MAX_ITEMS).',
    security: [{ bearer: [] }],
    request: {
      body: { content: { 'application/json': { schema: batchSignBody(maxItems) } }, required: true },
    },
    responses: {
      200: {
        description: 'Every case answered',
        content: {
          'application/json': {
            schema: z.object({
              batchId: z.string(),
              undoWindowSeconds: z.number().int(),
              counts: z.object({ signed: z.number().int(), refused: z.number().int() }),
              items: z.array(ItemResult),
            }),
          },
        },
      },
      ...errorResponses(400, 401, 403),
    },
  });

const undoRoute = createRoute({
  method: 'post',
  path: '/v1/cases/{caseId}/undo-signature',
  summary: 'Undo a batch signature inside its window: the case goes back to the signature queue, its draft untouched',
  description: '403 for anyone but the signer; 409 when no batch signature of the case waits to go out.',
  security: [{ bearer: [] }],
  request: {
    params: z.object({ caseId: CaseId }),
    body: {
      content: { 'application/json': { schema: z.strictObject({ undoId: Key.optional() }).openapi('UndoRequest') } },
      required: false,
    },
  },
  responses: {
    200: {
      description: 'Undone and durable',
      content: {
        'application/json': {
          schema: z.object({ caseId: z.string(), undoId: z.string(), result: z.literal('undone') }),
        },
      },
    },
    ...errorResponses(400, 401, 403, 404, 409, 503),
  },
});

/** A PHI-free id from the batch's key: the batch id, and each case's Update id (key + case). */
const digest = (...parts: string[]) => createHash('sha256').update(parts.join('\n')).digest('base64url').slice(0, 32);

async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

type Result = z.infer<typeof ItemResult>;
const refused = (caseId: string, reason: BatchRefusal): Result => ({
  caseId,
  result: 'refused',
  reason,
  activatesAt: null,
});

/** The refill kind's batch signing routes. Identity and role from the bearer token, never the body. */
export function batchSignRoutes(deps: ApiDeps): OpenAPIHono<ApiEnv> {
  const app = openApiRouter();
  const auth = requireRole(storeTokenLookup(deps.store));
  app.use('/v1/queues/signature/batch-sign', auth);
  app.use('/v1/cases/:caseId/undo-signature', auth);

  const visible = (principal: Principal, r: CaseRecord | null): r is CaseRecord =>
    r !== null && (principal.clinicId === null || principal.clinicId === r.clinicId);

  app.openapi(batchSignRoute(deps.config.BATCH_SIGN_MAX_ITEMS), async (c) => {
    const principal = c.get('principal');
    const body = c.req.valid('json');
    const key = body.idempotencyKey;
    // Who may batch sign is who may sign in the signature queue under the clinic's signing policy: doctors, and the
    // delegates a `delegated` policy names (judged per case below, as the policy is pinned per case). Anyone else is
    // refused before any case is looked up.
    const decides = roleDecides(principal.role);
    if (!decides.ok) throw new AppError(decides.code, decides.message);
    const delegate = !QUEUE_ROLES.signature.includes(principal.role) && SIGNING_DELEGATES.includes(principal.role);
    if (!QUEUE_ROLES.signature.includes(principal.role) && !delegate) {
      throw new AppError(
        'FORBIDDEN',
        `The signature queue needs a ${QUEUE_ROLES.signature.join(' or ')} or a delegate`,
      );
    }

    const batchId = `b_${digest(principal.userId, key)}`;
    const undoWindowSeconds = deps.config.BATCH_SIGN_UNDO_SECONDS;
    const at = deps.now();
    // Who else opened these cases in the last minute, from the API's own `case.viewed` audit rows.
    const viewers = await deps.store.audit.recentActors({
      caseIds: body.items.map((i) => i.caseId),
      action: 'case.viewed',
      since: new Date(at.getTime() - OPENED_WINDOW_MS).toISOString(),
    });
    const openedByOther = new Set(viewers.filter((v) => v.actorId !== principal.userId).map((v) => v.caseId));

    const signOne = async (item: { caseId: string; shownVersion: number }): Promise<Result> => {
      const r = await deps.store.cases.getCase(item.caseId);
      if (!visible(principal, r)) return refused(item.caseId, 'not_found');
      const decisionId = `bs_${digest(principal.userId, key, r.id)}`;
      // A retried batch: this case's signature from the first try is on its timeline already (and its workflow may
      // have finished), so it is answered from there rather than judged again.
      const held = (await deps.store.cases.listCaseEvents(r.id)).find(
        (e) => e.kind === 'signature.held' && e.detail.decisionId === decisionId,
      );
      if (held) {
        const activatesAt = typeof held.detail.activatesAt === 'string' ? held.detail.activatesAt : null;
        return { caseId: r.id, result: 'signed', reason: null, activatesAt };
      }
      // A delegate's right to sign lives in the case's pinned signing policy (in the workflow), as for single signs.
      const signing =
        delegate && r.queue === 'signature'
          ? ((await deps.workflows.getCaseState<{ signing?: SigningContext }>(r.id, refillKind.workflowType))
              ?.signing ?? undefined)
          : undefined;
      const check = canDecide(principal.role, { status: r.status, queue: r.queue }, 'approve', signing);
      if (!check.ok) return refused(r.id, check.code === 'FORBIDDEN' ? 'forbidden' : 'not_awaiting_signature');
      if (r.queue !== 'signature') return refused(r.id, 'not_awaiting_signature');
      if (r.seq !== item.shownVersion) return refused(r.id, 'changed');
      // A case the protocol never evaluated goes on to the workflow, which classifies its drug from the EHR.
      const byDecision = decisionRefusal(r.decision as TriageDecision | null);
      if (byDecision !== null && byDecision !== 'not_evaluated') return refused(r.id, byDecision);
      if (openedByOther.has(r.id)) return refused(r.id, 'opened_by_other');
      if (!deps.workflows.runUpdate) throw new AppError('CONFLICT', 'Batch signing is not available');
      let ack: BatchSignAck;
      try {
        ack = await deps.workflows.runUpdate(
          r.id,
          batchSignUpdate,
          {
            decisionId,
            batchId,
            actor: { userId: principal.userId, role: principal.role },
            at: at.toISOString(),
            shownVersion: item.shownVersion,
            undoWindowSeconds,
          },
          decisionId,
        );
      } catch (err) {
        if (!(err instanceof AppError)) throw err;
        if (err.code === 'FORBIDDEN') return refused(r.id, 'forbidden');
        if (err.code === 'TEMPORAL_UNAVAILABLE') return refused(r.id, 'unavailable');
        return refused(r.id, 'not_awaiting_signature');
      }
      return ack.result === 'signed'
        ? { caseId: r.id, result: 'signed', reason: null, activatesAt: ack.activatesAt }
        : refused(r.id, ack.reason);
    };

    // A case listed twice is signed once (the first entry's version); every entry gets its case's answer.
    const unique = [...new Map(body.items.toReversed().map((i) => [i.caseId, i])).values()];
    const answers = new Map((await mapLimit(unique, PARALLEL, signOne)).map((r) => [r.caseId, r]));
    const items = body.items.map((i) => answers.get(i.caseId) ?? refused(i.caseId, 'not_found'));
    const counts = {
      signed: items.filter((i) => i.result === 'signed').length,
      refused: items.filter((i) => i.result === 'refused').length,
    };
    // One row for the batch (ids and codes only); each case's signature is audited by its own workflow.
    await deps.store.audit.appendAudit({
      at: at.toISOString(),
      actorType: 'user',
      actorId: principal.userId,
      actorRole: principal.role,
      action: 'case.batch_sign',
      clinicId: principal.clinicId,
      requestId: c.get('requestId'),
      detail: {
        batchId,
        ...counts,
        signedCaseIds: items.filter((i) => i.result === 'signed').map((i) => i.caseId),
        refusedCaseIds: items.filter((i) => i.result === 'refused').map((i) => `${i.caseId}:${i.reason}`),
        ...callerRequestIdOf(c),
      },
    });
    return c.json({ batchId, undoWindowSeconds, counts, items }, 200);
  });

  app.openapi(undoRoute, async (c) => {
    const principal = c.get('principal');
    const decides = roleDecides(principal.role);
    if (!decides.ok) throw new AppError(decides.code, decides.message);
    const r = await deps.store.cases.getCase(c.req.valid('param').caseId);
    if (!visible(principal, r)) throw new AppError('NOT_FOUND', 'No such case');
    if (!deps.workflows.runUpdate) throw new AppError('CONFLICT', 'Batch signing is not available');
    const undoId = (c.req.valid('json') as { undoId?: string } | undefined)?.undoId ?? randomUUID();
    const ack = await deps.workflows.runUpdate(
      r.id,
      undoSignatureUpdate,
      { undoId, actor: { userId: principal.userId, role: principal.role }, at: deps.now().toISOString() },
      // Update ids are one space per workflow, shared with decisions (keyed by decisionId): an undo's id of its own, or
      // an undoId equal to an earlier decisionId would be answered with that decision's acknowledgement.
      `undo:${undoId}`,
    );
    return c.json({ caseId: ack.caseId, undoId: ack.undoId, result: 'undone' as const }, 200);
  });
  return app;
}
