import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { publicUrl } from '../../connectors/config.ts';
import type { Clinic } from '../../connectors/db/index.ts';
import { AppError } from '../../rules/index.ts';
import type { ApiDeps } from '../deps.ts';
import type { ApiEnv } from '../env.ts';
import { errorResponses, openApiRouter } from '../errors.ts';
import { clinicVisibleTo, requireRole, storeTokenLookup } from '../middleware/auth.ts';
import { Id } from '../schemas.ts';
import { KINDS } from '../../rules/kinds/index.ts';
import { isSweepOf, type SweepScheduleClinic, type TriggerGateway } from '../trigger-gateway.ts';
import { EventAcceptedSchema, intakeLink } from './events.ts';
import { caseLinks } from './links.ts';

/** `ps_{clinicId}-{start time}`: the id the clinic's sweep Schedule gives each run. */
const SweepId = z
  .string()
  .regex(/^ps_[A-Za-z0-9][A-Za-z0-9._-]{0,127}-\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/, 'not a sweep id')
  .openapi({ example: 'ps_demo-2026-12-06T02:00:00Z' });
const IntakeId = z
  .string()
  .regex(/^ev_[A-Za-z0-9][A-Za-z0-9._-]{0,127}_[0-9a-f]{32}$/, 'not an intake id')
  .openapi({ example: 'ev_demo_0123456789abcdef0123456789abcdef' });

const SweepProgressSchema = z
  .object({
    sweepId: z.string(),
    clinicId: z.string(),
    status: z.enum(['running', 'done']),
    asOf: z.string(),
    since: z.string().nullable(),
    pages: z.number().int(),
    encounters: z.number().int(),
    patients: z.number().int(),
    cases: z.number().int(),
    startedAt: z.string(),
    finishedAt: z.string().nullable(),
    runs: z.number().int(),
  })
  .openapi('SweepProgress');

const SweepStartedSchema = z
  .object({ sweepId: z.string(), status: z.literal('running'), links: z.object({ self: z.string() }) })
  .openapi('SweepStarted');

const clinicParam = z.object({ clinicId: Id });

/** An intake as an admin reads it: the webhook's answer, without the event id while it is still pending. */
const EventIntakeSchema = EventAcceptedSchema.extend({ eventId: z.string().nullable() }).openapi('EventIntake');

const startRoute = createRoute({
  method: 'post',
  path: '/v1/clinics/{clinicId}/sweeps',
  summary: 'Start a panel sweep of the clinic by hand (admin)',
  description:
    'Runs the clinic’s sweep Schedule now (the weekly run is the same workflow): every patient with a finished ' +
    'Encounter in the last 24 months gets their case of each patient-level kind the clinic runs started or ' +
    're-evaluated. One sweep per clinic at a time: 409 while one runs. Audited.',
  security: [{ bearer: [] }],
  request: { params: clinicParam },
  responses: {
    202: { description: 'Started', content: { 'application/json': { schema: SweepStartedSchema } } },
    ...errorResponses(400, 401, 403, 404, 409, 503),
  },
});

const getRoute = createRoute({
  method: 'get',
  path: '/v1/clinics/{clinicId}/sweeps/{sweepId}',
  summary: 'Progress of a panel sweep (admin)',
  security: [{ bearer: [] }],
  request: { params: z.object({ clinicId: Id, sweepId: SweepId }) },
  responses: {
    200: { description: 'Progress', content: { 'application/json': { schema: SweepProgressSchema } } },
    ...errorResponses(400, 401, 403, 404, 503),
  },
});

const intakeRoute = createRoute({
  method: 'get',
  path: '/v1/clinics/{clinicId}/events/{intakeId}',
  summary: 'Outcome of an events-webhook intake (admin): the cases an event touched',
  security: [{ bearer: [] }],
  request: { params: z.object({ clinicId: Id, intakeId: IntakeId }) },
  responses: {
    200: { description: 'The intake', content: { 'application/json': { schema: EventIntakeSchema } } },
    ...errorResponses(400, 401, 403, 404, 503),
  },
});

/** The trigger part of the gateway, or 503 when this server has none. */
function triggersOf(deps: ApiDeps): TriggerGateway {
  const w = deps.workflows;
  if (!w.startSweep || !w.getSweep || !w.getEventIntake || !w.ensureSweepSchedule) {
    throw new AppError('TEMPORAL_UNAVAILABLE', 'Sweeps are not available on this server', { retryable: true });
  }
  return w as TriggerGateway;
}

/**
 * The sweep Schedule's settings of a clinic: the cadence of the first patient-level kind it runs that sweeps (a kind
 * whose triggers include `panel.sweep`, with the protocol `protocolForKind` assigns); null when it runs none.
 */
async function sweepScheduleOf(store: Pick<ApiDeps['store'], 'clinics'>, clinic: Clinic): Promise<SweepScheduleClinic> {
  for (const kind of KINDS.filter((k) => k.triggers.includes('panel.sweep'))) {
    const assignment = await store.clinics.protocolForKind(clinic.id, kind.id);
    if (assignment) return { id: clinic.id, timezone: clinic.timezone, sweepCron: assignment.sweepCron };
  }
  return { id: clinic.id, timezone: clinic.timezone, sweepCron: null };
}

/**
 * Creates or updates the clinic's sweep Schedule; a failure is logged, never fails the caller (clinic create and
 * update, API start): the next call, or a hand start, creates it.
 */
export async function syncSweepSchedule(
  deps: Pick<ApiDeps, 'workflows' | 'logger' | 'store'>,
  clinic: Clinic,
): Promise<void> {
  try {
    if (deps.workflows.ensureSweepSchedule) {
      await deps.workflows.ensureSweepSchedule(await sweepScheduleOf(deps.store, clinic));
    }
  } catch (err) {
    deps.logger.warn(
      { clinicId: clinic.id, err: { message: err instanceof Error ? err.message : 'unknown' } },
      'sweep schedule not synced',
    );
  }
}

/**
 * Panel sweeps by hand and their progress, and the outcome of an event intake: role `admin`; a token bound to a
 * clinic sees only its clinic. Starting a sweep is audited (`sweep.started`).
 */
export function sweepRoutes(deps: ApiDeps): OpenAPIHono<ApiEnv> {
  const { store } = deps;
  const app = openApiRouter();
  const admin = requireRole(storeTokenLookup(store, deps.now), 'admin');
  app.use('/v1/clinics/:clinicId/sweeps', admin);
  app.use('/v1/clinics/:clinicId/sweeps/*', admin);
  app.use('/v1/clinics/:clinicId/events/*', admin);

  const visibleClinic = clinicVisibleTo(store);
  const sweepLink = (clinicId: string, sweepId: string) =>
    `${publicUrl(deps.config)}/v1/clinics/${encodeURIComponent(clinicId)}/sweeps/${encodeURIComponent(sweepId)}`;

  app.openapi(startRoute, async (c) => {
    const principal = c.get('principal');
    const clinic = await visibleClinic(principal, c.req.valid('param').clinicId);
    const { sweepId } = await triggersOf(deps).startSweep(await sweepScheduleOf(store, clinic));
    // The start's audit row is its claim: two hand starts in the same instant can both see the one run the Schedule
    // started (the other trigger was skipped); the row's idempotency key lets exactly one of them own it.
    const { created } = await store.audit.appendAudit({
      at: deps.now().toISOString(),
      actorType: 'user',
      actorId: principal.userId,
      actorRole: principal.role,
      action: 'sweep.started',
      clinicId: clinic.id,
      requestId: c.get('requestId'),
      idempotencyKey: `${sweepId}:started`,
      detail: { sweepId },
    });
    if (!created) throw new AppError('CONFLICT', 'A sweep of this clinic is running', { context: { sweepId } });
    return c.json({ sweepId, status: 'running' as const, links: { self: sweepLink(clinic.id, sweepId) } }, 202);
  });

  app.openapi(getRoute, async (c) => {
    const { clinicId, sweepId } = c.req.valid('param');
    const clinic = await visibleClinic(c.get('principal'), clinicId);
    // The gateway checks this too; the route does not rely on it.
    const progress = isSweepOf(clinic.id, sweepId) ? await triggersOf(deps).getSweep(clinic.id, sweepId) : null;
    if (!progress) throw new AppError('NOT_FOUND', 'No such sweep');
    return c.json(progress, 200);
  });

  app.openapi(intakeRoute, async (c) => {
    const { clinicId, intakeId } = c.req.valid('param');
    const clinic = await visibleClinic(c.get('principal'), clinicId);
    if (!intakeId.startsWith(`ev_${clinic.id}_`)) throw new AppError('NOT_FOUND', 'No such intake');
    const intake = await triggersOf(deps).getEventIntake(intakeId);
    if (!intake) throw new AppError('NOT_FOUND', 'No such intake');
    const done = 'caseIds' in intake ? intake : null;
    const caseIds = done?.caseIds ?? [];
    return c.json(
      {
        eventId: done?.eventId ?? null,
        intakeId,
        status: intake.status,
        caseIds,
        links: {
          intake: intakeLink(deps, clinic.id, intakeId),
          cases: caseIds.map((id) => caseLinks(deps.config, id).self),
        },
      },
      200,
    );
  });
  return app;
}
