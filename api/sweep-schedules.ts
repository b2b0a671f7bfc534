// Keeping every clinic's sweep Schedule in step with its settings without N Temporal RPCs per API start: each
// successful sync records a hash of what was sent (app database, `sweep_schedule_syncs`), a failed one forgets it,
// and a start syncs only the clinics whose desired Schedule hashes differently from the last sync.
import { createHash } from 'node:crypto';
import type { ApiDeps } from './deps.ts';
import { syncSweepSchedule } from './routes/sweeps.ts';
import type { SweepScheduleClinic } from './trigger-gateway.ts';
import type { WorkflowGateway } from './workflow-gateway.ts';

/**
 * The shape of the Schedule trigger-gateway.ts sends besides the clinic's settings (action, arguments, policies).
 * Bump it when that changes: every Schedule is then synced again at the next start.
 */
export const SWEEP_SCHEDULE_SHAPE = 1;
/** Schedules synced at once at start. */
const START_CONCURRENCY = 8;

/** A hash of everything a clinic's Schedule is made from. */
export function sweepScheduleHash(clinic: SweepScheduleClinic, taskQueue: string): string {
  const desired = [SWEEP_SCHEDULE_SHAPE, taskQueue, clinic.id, clinic.timezone, clinic.sweepCron];
  return createHash('sha256').update(JSON.stringify(desired)).digest('hex');
}

/**
 * The gateway, with `ensureSweepSchedule` recording the hash of each successful sync and forgetting it on a failed
 * one, whoever calls it (clinic create and update, a hand start that finds no Schedule, the start below).
 */
export function recordingSweepSyncs(
  gateway: WorkflowGateway,
  store: ApiDeps['store'],
  taskQueue: string,
): WorkflowGateway {
  const ensure = gateway.ensureSweepSchedule?.bind(gateway);
  if (!ensure) return gateway;
  return {
    ...gateway,
    async ensureSweepSchedule(clinic) {
      try {
        await ensure(clinic);
      } catch (err) {
        await store.sweepSyncs.remove(clinic.id);
        throw err;
      }
      await store.sweepSyncs.put(clinic.id, sweepScheduleHash(clinic, taskQueue));
    },
  };
}

/**
 * At API start: brings every clinic's sweep Schedule up to date, calling Temporal only for the clinics whose desired
 * Schedule differs from the last successful sync (new clinics, changed settings, a failed or unrecorded sync, a new
 * task queue or SWEEP_SCHEDULE_SHAPE), at most START_CONCURRENCY at once. `workflows` should be the recording
 * gateway. A failure is logged per clinic (syncSweepSchedule) and tried again at the next start.
 */
export async function syncSweepSchedulesAtStart(
  deps: Pick<ApiDeps, 'store' | 'workflows' | 'logger'>,
  taskQueue: string,
): Promise<{ clinics: number; synced: number }> {
  const ensure = deps.workflows.ensureSweepSchedule?.bind(deps.workflows);
  const clinics = await deps.store.clinics.list();
  if (!ensure) return { clinics: clinics.length, synced: 0 };
  const last = await deps.store.sweepSyncs.all();
  let synced = 0;
  const workflows: WorkflowGateway = {
    ...deps.workflows,
    async ensureSweepSchedule(clinic) {
      if (last.get(clinic.id) === sweepScheduleHash(clinic, taskQueue)) return;
      synced += 1;
      await ensure(clinic);
    },
  };
  const queue = [...clinics];
  const worker = async () => {
    for (let clinic = queue.shift(); clinic; clinic = queue.shift())
      await syncSweepSchedule({ ...deps, workflows }, clinic);
  };
  await Promise.all(Array.from({ length: Math.min(START_CONCURRENCY, queue.length) }, worker));
  deps.logger.info({ clinics: clinics.length, synced }, 'sweep schedules checked');
  return { clinics: clinics.length, synced };
}
