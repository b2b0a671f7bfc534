import { continueAsNew, proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities/index.ts';
import { DEFAULT_ACTIVITY_POLICY, activityOptions, type ActivityPolicy } from './activity-policy.ts';

/**
 * What a catch-up starts: a focus reference (`<Type>/<id>`, possibly with a base or a version), or, for a topic whose
 * events carry ids of their own (the events webhook's), the reference with the event id a notification of it gets.
 */
export type TopicReference = string | { reference: string; eventId: string };

export interface SubscriptionCatchUpInput {
  /** The workflow id: `sc_{clinicId}_{hash}` (api/subscription-tracking.ts `catchUpId`): ids only. */
  catchUpId: string;
  clinicId: string;
  /** Which webhook's topic (the registry of activities/kinds/index.ts `SUBSCRIPTION_TOPICS`): what to query and start. */
  topic: string;
  /** The notification's request id; travels into FHIR calls (X-Request-Id) and audit rows. */
  requestId: string;
  /**
   * Focus references to start as they are (the further events of a batched notification); the first event of a
   * notification goes through the webhook's own path.
   */
  references: TopicReference[];
  /**
   * The topic's resources changed after this instant are queried and started (a gap in the event numbers, or an
   * `empty` notification); null: no query.
   */
  since: string | null;
  /** Search pages per workflow run before continuing as new; default 20. */
  pagesPerRun?: number;
  policy?: ActivityPolicy;
  /** Carried over continue-as-new: the next page's link and the counts so far. */
  carried?: { next: string; found: number; cases: number; pages: number };
}

export interface SubscriptionCatchUpResult {
  catchUpId: string;
  /** Resources the query found (and the references given), and the cases their starts touched. */
  found: number;
  cases: number;
  pages: number;
}

/**
 * The catch-up of one clinic's Subscription after a lost notification (started by the webhook that saw the gap, with
 * a deterministic id, before it records the new event number: no gap is forgotten). Queries the topic's resources
 * changed since the last notification seen, page by page, and starts each through the same deduplicated path a
 * notification takes (a case already started by a notification, or by a redelivery later, is the same case).
 */
export async function subscriptionCatchUp(input: SubscriptionCatchUpInput): Promise<SubscriptionCatchUpResult> {
  const p = input.policy ?? DEFAULT_ACTIVITY_POLICY;
  const ehr = proxyActivities<Activities>(activityOptions(p.ehr, ['NOT_FOUND', 'INVALID_INPUT', 'CONFIG_INVALID']));
  const local = proxyActivities<Activities>(
    activityOptions(p.local, ['NOT_FOUND', 'INVALID_INPUT', 'CONFIG_INVALID'], '2 minutes'),
  );
  const { catchUpId, clinicId, topic, requestId } = input;
  let found = input.carried?.found ?? 0;
  let cases = input.carried?.cases ?? 0;
  let pages = input.carried?.pages ?? 0;
  if (!input.carried && input.references.length > 0) {
    const r = await local.startTopicResources({
      catchUpId,
      clinicId,
      topic,
      requestId,
      references: input.references,
      batch: 'given',
    });
    found += input.references.length;
    cases += r.cases;
  }
  if (input.since === null) return { catchUpId, found, cases, pages };
  let next: string | null = input.carried?.next ?? null;
  for (let run = 0; ; run += 1) {
    if (next !== null && run >= (input.pagesPerRun ?? 20)) {
      return continueAsNew<typeof subscriptionCatchUp>({ ...input, carried: { next, found, cases, pages } });
    }
    const page = await ehr.topicChangesPage({ catchUpId, clinicId, topic, requestId, since: input.since, next });
    pages += 1;
    found += page.references.length;
    if (page.references.length > 0) {
      const r = await local.startTopicResources({
        catchUpId,
        clinicId,
        topic,
        requestId,
        references: page.references,
        batch: `page-${pages}`,
      });
      cases += r.cases;
    }
    next = page.next;
    if (next === null) break;
  }
  return { catchUpId, found, cases, pages };
}
