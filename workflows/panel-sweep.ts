import { continueAsNew, defineQuery, proxyActivities, setHandler, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities/index.ts';
import { DEFAULT_ACTIVITY_POLICY, activityOptions, type ActivityPolicy } from './activity-policy.ts';

/** What a sweep has done so far; served by the `panelSweepProgress` query and returned as the result. */
export interface PanelSweepProgress {
  /** The workflow id (`ps_{clinicId}-{start time}`, set by the Schedule): ids only. */
  sweepId: string;
  clinicId: string;
  status: 'running' | 'done';
  /** The protocol's "today" (YYYY-MM-DD) and the start of the 24-month attribution window. */
  asOf: string;
  since: string | null;
  /** Encounter search pages read, and the finished encounters on them. */
  pages: number;
  encounters: number;
  /** Distinct attributed patients found so far. */
  patients: number;
  /** Cases started or signalled (one per patient per care-gap protocol the clinic runs). */
  cases: number;
  startedAt: string;
  finishedAt: string | null;
  /** Workflow runs so far (continue-as-new keeps each run's history short). */
  runs: number;
}

export interface PanelSweepInput {
  clinicId: string;
  /** The protocol's "today" (YYYY-MM-DD); default: the day the sweep started (UTC). */
  asOf?: string;
  /** Encounters per search page (`_count`); default 100. */
  pageSize?: number;
  /** Cases started at once per page; default 8. */
  concurrency?: number;
  /** Pages per workflow run before continuing as new; default 40. */
  pagesPerRun?: number;
  policy?: ActivityPolicy;
  /**
   * State carried over continue-as-new; absent on the first run. Constant in size whatever the panel: the cursor, the
   * opaque key of the last patient handled (the pages come sorted by patient) and the progress.
   */
  carried?: { next: string | null; lastKey: string | null; progress: PanelSweepProgress };
}

export const panelSweepProgressQuery = defineQuery<PanelSweepProgress>('panelSweepProgress');

/**
 * The weekly panel sweep of one clinic (a Temporal Schedule per clinic starts it; overlap policy SKIP): pages through
 * the clinic's finished Encounters of the last 24 months (the attributed panel), and signal-with-starts the care-gap
 * case of each distinct patient (event `panel.sweep`, the sweep id as event id, so a case handles one sweep once).
 * Progress is a query; big panels continue as new every `pagesPerRun` pages, carrying the cursor and the key of the
 * last patient handled (an opaque hash, in the encrypted input). The pages come sorted by patient, so a patient seen
 * twice is the last of one page and the first of the next: the state stays the same size for 100 or 1,000,000
 * patients. (Should an EHR ignore the sort, a patient on two pages gets the sweep's event twice, which its case
 * handles once: the event id is the sweep id; only the `patients` count would then be high.)
 */
export async function panelSweep(input: PanelSweepInput): Promise<PanelSweepProgress> {
  const p = input.policy ?? DEFAULT_ACTIVITY_POLICY;
  const ehr = proxyActivities<Activities>(activityOptions(p.ehr, ['NOT_FOUND', 'INVALID_INPUT', 'CONFIG_INVALID']));
  const local = proxyActivities<Activities>(
    activityOptions(p.local, ['NOT_FOUND', 'INVALID_INPUT', 'CONFIG_INVALID'], '2 minutes'),
  );
  const sweepId = workflowInfo().workflowId;
  const startedAt = new Date().toISOString(); // workflow time: deterministic
  const progress: PanelSweepProgress = input.carried
    ? { ...input.carried.progress, runs: input.carried.progress.runs + 1 }
    : {
        sweepId,
        clinicId: input.clinicId,
        status: 'running',
        asOf: input.asOf ?? startedAt.slice(0, 10),
        since: null,
        pages: 0,
        encounters: 0,
        patients: 0,
        cases: 0,
        startedAt,
        finishedAt: null,
        runs: 1,
      };
  setHandler(panelSweepProgressQuery, () => progress);
  let lastKey = input.carried?.lastKey ?? null;
  let next = input.carried?.next ?? null;
  const requestId = sweepId;
  const event = { type: 'panel.sweep' as const, eventId: sweepId, at: progress.startedAt };

  for (let pagesThisRun = 0; ; pagesThisRun += 1) {
    if (pagesThisRun >= (input.pagesPerRun ?? 40) || workflowInfo().continueAsNewSuggested) {
      return continueAsNew<typeof panelSweep>({ ...input, carried: { next, lastKey, progress } });
    }
    const page = await ehr.panelPage({
      clinicId: input.clinicId,
      sweepId,
      requestId,
      asOf: progress.asOf,
      next,
      pageSize: input.pageSize ?? 100,
    });
    progress.since = page.since;
    progress.pages += 1;
    progress.encounters += page.encounters;
    const fresh = page.patients[0]?.key === lastKey ? page.patients.slice(1) : page.patients;
    lastKey = page.patients.at(-1)?.key ?? lastKey;
    progress.patients += fresh.length;
    if (fresh.length > 0) {
      const r = await local.startPatientCases({
        clinicId: input.clinicId,
        requestId,
        patientIds: fresh.map((pt) => pt.id),
        event,
        concurrency: input.concurrency ?? 8,
        ids: false,
      });
      progress.cases += r.cases;
    }
    next = page.next;
    if (next === null) break;
  }
  progress.status = 'done';
  progress.finishedAt = new Date().toISOString();
  return progress;
}
