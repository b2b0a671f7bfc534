import {
  ScheduleAlreadyRunning,
  ScheduleNotFoundError,
  WorkflowFailedError,
  WorkflowNotFoundError,
  type Client,
  type ScheduleOptionsAction,
  type ScheduleSpec,
} from '@temporalio/client';
import { DEFAULT_SWEEP_CRON } from '../connectors/db/clinics.ts';
import { AppError } from '../rules/index.ts';
import { unavailable } from './temporal-errors.ts';
import type { ActivityPolicy } from '../workflows/activity-policy.ts';
import { eventIntake, type EventIntakeInput, type EventIntakeResult } from '../workflows/event-intake.ts';
import { subscriptionCatchUp, type SubscriptionCatchUpInput } from '../workflows/subscription-catch-up.ts';
import {
  panelSweep,
  panelSweepProgressQuery,
  type PanelSweepInput,
  type PanelSweepProgress,
} from '../workflows/panel-sweep.ts';

/** The care-gap triggers as the API sees them: event intakes and per-clinic panel sweeps (a Temporal Schedule each). */
export interface TriggerGateway {
  /**
   * Starts (or finds) the intake of an event (workflow id = `input.intakeId`) and waits at most `waitMs` for its
   * result. Null: still running (the EHR is slow); the intake goes on and a redelivery will find its result.
   * `failed`: the intake gave up (a redelivery runs it again).
   */
  startEventIntake(
    input: EventIntakeInput,
    opts: { waitMs: number },
  ): Promise<EventIntakeResult | { status: 'failed' } | null>;
  /**
   * An intake's outcome: its result once done, `pending` while it runs, `failed` when it gave up (a redelivery runs
   * it again), null for an unknown intake.
   */
  getEventIntake(intakeId: string): Promise<EventIntakeResult | { status: 'pending' | 'failed' } | null>;
  /**
   * Starts (or finds) a Subscription catch-up (workflow id = `input.catchUpId`); it runs on, durably. A catch-up that
   * already completed under this id is not run again.
   */
  startSubscriptionCatchUp(input: SubscriptionCatchUpInput): Promise<void>;
  /** Creates or updates the clinic's sweep Schedule (idempotent). */
  ensureSweepSchedule(clinic: SweepScheduleClinic): Promise<void>;
  /**
   * Starts a sweep by hand, through the clinic's Schedule (so the Schedule's overlap policy covers hand starts too).
   * Two callers in the same instant may both get the one run the Schedule started; the route's audit row claims it
   * for one of them (api/routes/sweeps.ts).
   *
   * @throws AppError `CONFLICT` while a sweep of the clinic runs.
   */
  startSweep(clinic: SweepScheduleClinic): Promise<{ sweepId: string }>;
  /** A sweep's progress; null for an unknown sweep. */
  getSweep(clinicId: string, sweepId: string): Promise<PanelSweepProgress | null>;
}

/** What a clinic's sweep Schedule depends on. */
export interface SweepScheduleClinic {
  id: string;
  timezone: string;
  /**
   * The sweep cadence (five-field cron, in the clinic's time zone) of the patient-level kinds the clinic runs; null:
   * it runs none, and the Schedule is paused (hand starts still work).
   */
  sweepCron: string | null;
}

/** The Schedule id of a clinic's sweep; the sweeps it starts are `ps_{clinicId}-{start time}`. */
export const sweepScheduleId = (clinicId: string): string => `ps_${clinicId}`;

/**
 * Whether `sweepId` is a run of `clinicId`'s Schedule: exactly `ps_{clinicId}-{YYYY-MM-DDTHH:MM:SSZ}` (a prefix test
 * would let clinic `a` read the sweeps of clinic `a-b`).
 */
export function isSweepOf(clinicId: string, sweepId: string): boolean {
  const prefix = `${sweepScheduleId(clinicId)}-`;
  return sweepId.startsWith(prefix) && /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/.test(sweepId.slice(prefix.length));
}

/** The Schedule's times: the clinic's cron in its time zone (weekly by default: Monday 06:00). */
function sweepSpec(clinic: SweepScheduleClinic): ScheduleSpec {
  return { cronExpressions: [clinic.sweepCron ?? DEFAULT_SWEEP_CRON], timezone: clinic.timezone };
}

/** How long a hand start waits for the Schedule to report the run it started. */
const TRIGGER_WAIT_MS = 5_000;

export function createTriggerGateway(
  client: Client,
  opts: {
    taskQueue: string;
    policy?: ActivityPolicy;
    /** Paging and concurrency of the sweeps the Schedules start (tests shrink them); defaults in panel-sweep.ts. */
    sweep?: Pick<PanelSweepInput, 'pageSize' | 'concurrency' | 'pagesPerRun'>;
  },
): TriggerGateway {
  const action = (clinicId: string): ScheduleOptionsAction => ({
    type: 'startWorkflow',
    workflowType: panelSweep,
    workflowId: sweepScheduleId(clinicId),
    taskQueue: opts.taskQueue,
    args: [{ clinicId, ...opts.sweep, ...(opts.policy ? { policy: opts.policy } : {}) }],
    searchAttributes: { ClinicId: [clinicId] },
  });
  const policies = { overlap: 'SKIP', catchupWindow: '1 hour' } as const;

  async function ensureSweepSchedule(clinic: SweepScheduleClinic): Promise<void> {
    const spec = sweepSpec(clinic);
    const paused = clinic.sweepCron === null;
    const deadline = () => Date.now() + 5_000;
    try {
      await client.withDeadline(deadline(), () =>
        client.schedule.create({
          scheduleId: sweepScheduleId(clinic.id),
          spec,
          action: action(clinic.id),
          policies,
          state: { paused, note: paused ? 'no scheduled sweeps for this clinic' : 'panel sweep' },
        }),
      );
    } catch (err) {
      if (!(err instanceof ScheduleAlreadyRunning)) return unavailable(err);
      await client.withDeadline(deadline(), () =>
        client.schedule.getHandle(sweepScheduleId(clinic.id)).update((prev) => ({
          ...prev,
          spec,
          action: action(clinic.id),
          policies: { ...prev.policies, ...policies },
          state: { ...prev.state, paused },
        })),
      );
    }
  }

  /**
   * Starts a clinic's workflow under its deterministic id, once: a start that finds it running joins it, and a
   * redelivery after a failed run (the EHR kept failing) runs it again, while a completed one is left alone.
   *
   * @throws AppError `TEMPORAL_UNAVAILABLE` when Temporal does not answer.
   */
  async function startOnce<A extends { clinicId: string }>(
    workflow: (input: A) => Promise<unknown>,
    workflowId: string,
    input: A,
  ): Promise<void> {
    try {
      await client.withDeadline(Date.now() + 5_000, () =>
        client.workflow.start(workflow, {
          taskQueue: opts.taskQueue,
          workflowId,
          args: [input],
          workflowIdConflictPolicy: 'USE_EXISTING',
          workflowIdReusePolicy: 'ALLOW_DUPLICATE_FAILED_ONLY',
          searchAttributes: { ClinicId: [input.clinicId] },
        }),
      );
    } catch (err) {
      if (!(err instanceof Error && err.name === 'WorkflowExecutionAlreadyStartedError')) return unavailable(err);
    }
  }

  return {
    async startEventIntake(input, { waitMs }) {
      await startOnce(eventIntake, input.intakeId, input);
      const handle = client.workflow.getHandle<typeof eventIntake>(input.intakeId);
      if (waitMs <= 0) return null;
      // The intake runs now; waiting for its result is a courtesy. Whatever ends the wait early (our deadline, a
      // dropped stream, a server too busy to long-poll) the true answer is "pending": the intake goes on and a
      // redelivery or the intake link reads its result. Only an intake that gave up is answered as such.
      try {
        return await client.withDeadline(Date.now() + waitMs, () => handle.result());
      } catch (err) {
        return err instanceof WorkflowFailedError ? { status: 'failed' } : null;
      }
    },

    async startSubscriptionCatchUp(input) {
      await startOnce(subscriptionCatchUp, input.catchUpId, input);
    },

    async getEventIntake(intakeId) {
      const handle = client.workflow.getHandle<typeof eventIntake>(intakeId);
      try {
        const d = await handle.describe();
        if (d.status.name === 'COMPLETED') return await handle.result();
        return { status: d.status.name === 'RUNNING' ? 'pending' : 'failed' };
      } catch (err) {
        if (err instanceof WorkflowNotFoundError) return null;
        return unavailable(err);
      }
    },

    ensureSweepSchedule,

    async startSweep(clinic) {
      const handle = client.schedule.getHandle(sweepScheduleId(clinic.id));
      let before;
      try {
        before = await handle.describe();
      } catch (err) {
        if (!(err instanceof ScheduleNotFoundError)) return unavailable(err);
        await ensureSweepSchedule(clinic);
        before = await handle.describe();
      }
      const running = before.info.runningActions[0];
      if (running) {
        throw new AppError('CONFLICT', 'A sweep of this clinic is running', {
          context: { sweepId: running.workflow.workflowId },
        });
      }
      const known = new Set(before.info.recentActions.map((a) => a.action.workflow.workflowId));
      // A Schedule names each run by its id and the second it is scheduled for: a start in the second of a run that
      // already finished (a small clinic's sweep takes well under a second) would get that run's workflow id, and this
      // start would never see a run of its own (the contract fuzzer met it: 503 after the whole wait, the Schedule's
      // recent actions holding the same id twice). Trigger in the next second instead.
      const latest = Math.max(0, ...before.info.recentActions.map((a) => a.scheduledAt.getTime()));
      if (Math.floor(latest / 1000) >= Math.floor(Date.now() / 1000)) {
        await new Promise((r) => setTimeout(r, 1000 - (Date.now() % 1000) + 10));
      }
      // SKIP: should a scheduled run have started since the check above, the Schedule drops this trigger.
      await handle.trigger('SKIP');
      for (const deadline = Date.now() + TRIGGER_WAIT_MS; Date.now() < deadline;) {
        const now = await handle.describe();
        const started = now.info.recentActions.find((a) => !known.has(a.action.workflow.workflowId));
        if (started) return { sweepId: started.action.workflow.workflowId };
        if (now.info.numActionsSkippedOverlap > before.info.numActionsSkippedOverlap) {
          const other = now.info.runningActions[0]?.workflow.workflowId;
          throw new AppError('CONFLICT', 'A sweep of this clinic is running', {
            context: other ? { sweepId: other } : {},
          });
        }
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new AppError('TEMPORAL_UNAVAILABLE', 'The sweep Schedule did not start the sweep in time; retry', {
        retryable: true,
      });
    },

    async getSweep(clinicId, sweepId) {
      if (!isSweepOf(clinicId, sweepId)) return null;
      const handle = client.workflow.getHandle<typeof panelSweep>(sweepId);
      try {
        const d = await handle.describe();
        if (d.status.name === 'COMPLETED') return await handle.result();
        return await handle.query(panelSweepProgressQuery);
      } catch (err) {
        if (err instanceof WorkflowNotFoundError) return null;
        return unavailable(err);
      }
    },
  };
}
