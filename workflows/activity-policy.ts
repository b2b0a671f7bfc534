/**
 * Activity timeouts and retry policies, in one place. Workflows take them from their input (recorded in history) so
 * tests can shorten them; production runs on these defaults.
 */
export interface ActivityPolicy {
  /** FHIR reads and writes: the EHR may be slow or down for a while. */
  ehr: { startToCloseTimeout: string; initialInterval: string; maximumInterval: string; maximumAttempts: number };
  /** FHIR write-backs: a decision already made must reach the EHR eventually, so these retry without limit. */
  ehrWrite: { startToCloseTimeout: string; initialInterval: string; maximumInterval: string; maximumAttempts: number };
  /** Our own database and rule evaluation. */
  local: { startToCloseTimeout: string; initialInterval: string; maximumInterval: string; maximumAttempts: number };
  /**
   * An EHR call's first try, in the worker that runs the case (a local activity): a bounded few attempts, after which
   * the call goes to {@link ehr} / {@link ehrWrite} as a durable activity. Optional: cases started before it, and
   * callers that leave it out, take the default.
   */
  ehrFirstTry?: {
    startToCloseTimeout: string;
    initialInterval: string;
    maximumInterval: string;
    maximumAttempts: number;
  };
}

export const DEFAULT_ACTIVITY_POLICY: Required<ActivityPolicy> = {
  ehr: {
    startToCloseTimeout: '30 seconds',
    initialInterval: '2 seconds',
    maximumInterval: '2 minutes',
    maximumAttempts: 12,
  },
  ehrWrite: {
    startToCloseTimeout: '30 seconds',
    initialInterval: '2 seconds',
    maximumInterval: '5 minutes',
    maximumAttempts: 0,
  },
  local: {
    startToCloseTimeout: '15 seconds',
    initialInterval: '1 second',
    maximumInterval: '30 seconds',
    maximumAttempts: 0,
  },
  // Two quick tries within the workflow task: a healthy EHR answers in well under a second. A slow or failing one
  // costs at most ~20 s here before the durable activity takes over with the full retry policy above.
  ehrFirstTry: {
    startToCloseTimeout: '10 seconds',
    initialInterval: '200 milliseconds',
    maximumInterval: '1 second',
    maximumAttempts: 2,
  },
};

/**
 * Activity options from one of the policy's entries: its timeout (or `startToCloseTimeout`) and retries, with the
 * failure types a retry cannot mend. `maximumAttempts` 0 means unlimited (Temporal's default when unset).
 */
export function activityOptions(
  p: ActivityPolicy['ehr'],
  nonRetryableErrorTypes: string[],
  startToCloseTimeout: string = p.startToCloseTimeout,
) {
  return {
    startToCloseTimeout,
    retry: {
      initialInterval: p.initialInterval,
      maximumInterval: p.maximumInterval,
      ...(p.maximumAttempts > 0 ? { maximumAttempts: p.maximumAttempts } : {}),
      nonRetryableErrorTypes,
    },
  };
}
