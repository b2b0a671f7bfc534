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
}

export const DEFAULT_ACTIVITY_POLICY: ActivityPolicy = {
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
