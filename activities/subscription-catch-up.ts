// The Subscription catch-up's I/O (workflows/subscription-catch-up.ts): one page of a topic's resources changed since
// an instant, and the start of each through the topic's own deduplicated path. What a topic queries and starts is its
// owner's (a kind's, or the engine's events webhook's), listed by the registry activities/kinds/index.ts.
import { createHash } from 'node:crypto';
import type { Resource, ResourceType } from '@medplum/fhirtypes';
import type { Store } from '../connectors/db/index.ts';
import type { ClinicFhir } from '../connectors/fhir/clinic-connectors.ts';
import type { FhirSearchParams } from '../connectors/fhir/connector.ts';
import { AppError } from '../rules/index.ts';
import type { TopicReference } from '../workflows/subscription-catch-up.ts';
import type { TriggerDeps } from './triggers.ts';

/** A webhook's Subscription topic, as the catch-up sees it: what to query, and how a found resource starts. */
export interface SubscriptionTopic {
  /** The key a webhook names its topic by (a kind's id, or `events`). */
  topic: string;
  /** The searches for the topic's resources changed after `since` (an ISO instant), run one after the other. */
  searches(since: string): { type: ResourceType; params: FhirSearchParams }[];
  /**
   * What a resource a search found starts as (null: nothing, e.g. an Appointment no longer booked). Default: its
   * `<Type>/<id>/_history/<versionId>` (`<Type>/<id>` without a version).
   */
  found?(resource: Resource, catchUpId: string): TopicReference | null;
  /**
   * Starts (or finds) the case of each reference (`<Type>/<id>`, possibly with a base or a version; a reference of
   * another type is skipped) the way a notification about it would: the same dedupe keys, the same case ids (for the
   * events topic, the intake ids). `batch`: `given` for a batched notification's further events, else the page.
   * Returns the case ids touched.
   */
  start(
    deps: TopicStartDeps,
    input: { catchUpId: string; clinicId: string; requestId: string; references: TopicReference[]; batch: string },
  ): Promise<string[]>;
}

export interface TopicStartDeps {
  store: Store;
  fhir: ClinicFhir;
  triggers: TriggerDeps;
  now: () => Date;
}

/** Resources per search page. */
const PAGE_SIZE = 100;

export interface TopicChangesPageInput {
  catchUpId: string;
  clinicId: string;
  topic: string;
  requestId: string;
  since: string;
  /** Opaque: where the previous page left off (`{search index}:{next link}`); null: the first page. */
  next: string | null;
}

function topicOf(topics: readonly SubscriptionTopic[], topic: string): SubscriptionTopic {
  const t = topics.find((x) => x.topic === topic);
  if (!t) throw new AppError('INVALID_INPUT', 'Unknown Subscription topic', { context: { topic } });
  return t;
}

/** A found resource as a reference with its version, when the EHR gives one. */
function defaultFound(r: Resource): string {
  const v = r.meta?.versionId;
  return v ? `${r.resourceType}/${r.id!}/_history/${v}` : `${r.resourceType}/${r.id!}`;
}

const hash = (text: string): string => createHash('sha256').update(text).digest('hex').slice(0, 32);

/**
 * One page of the topic's resources changed since `since` (`_lastUpdated=gt…`), as references. Read-only, safe to
 * retry (the page is named by the EHR's own `next` link). Audited per page with counts only.
 */
export async function topicChangesPage(
  { store, fhir, topics }: { store: Store; fhir: ClinicFhir; topics: readonly SubscriptionTopic[] },
  input: TopicChangesPageInput,
): Promise<{ references: TopicReference[]; next: string | null }> {
  const topic = topicOf(topics, input.topic);
  const searches = topic.searches(input.since);
  const at = input.next === null ? 0 : Number(input.next.slice(0, input.next.indexOf(':')));
  const link = input.next === null ? '' : input.next.slice(input.next.indexOf(':') + 1);
  const search = searches[at];
  if (!search) return { references: [], next: null };
  return fhir.withRequestId(input.requestId, async () => {
    const connector = await fhir.forClinic(input.clinicId);
    const page = await connector.searchPage(
      search.type,
      link === '' ? { params: { ...search.params, _count: PAGE_SIZE } } : { next: link },
    );
    const references = page.matches.flatMap((r) => {
      if (!r.id) return [];
      const found = topic.found ? topic.found(r, input.catchUpId) : defaultFound(r);
      return found === null ? [] : [found];
    });
    await store.audit.appendAudit({
      actorType: 'system',
      actorId: 'worker',
      action: 'ehr.subscription_catch_up_page',
      clinicId: input.clinicId,
      requestId: input.requestId,
      idempotencyKey: `${input.catchUpId}:page:${hash(input.next ?? '')}`,
      detail: { catchUpId: input.catchUpId, resourceType: search.type, found: references.length },
    });
    const next = page.next !== null ? `${at}:${page.next}` : at + 1 < searches.length ? `${at + 1}:` : null;
    return { references, next };
  });
}

/**
 * Starts what a catch-up found (or the further events of a batched notification) through the topic's own path, and
 * audits it: the catch-up's id, the references and the case ids (ids only). Safe to retry: the topic's start is
 * deduplicated by the same keys a notification uses.
 */
export async function startTopicResources(
  deps: { store: Store; fhir: ClinicFhir; triggers: TriggerDeps | undefined; topics: readonly SubscriptionTopic[] },
  input: {
    catchUpId: string;
    clinicId: string;
    topic: string;
    requestId: string;
    references: TopicReference[];
    batch: string;
  },
  now: () => Date = () => new Date(),
): Promise<{ cases: number; caseIds: string[] }> {
  const { triggers } = deps;
  if (!triggers) throw new AppError('CONFIG_INVALID', 'This worker has no Temporal client for starting cases');
  const topic = topicOf(deps.topics, input.topic);
  const caseIds = await topic.start(
    { store: deps.store, fhir: deps.fhir, triggers, now },
    {
      catchUpId: input.catchUpId,
      clinicId: input.clinicId,
      requestId: input.requestId,
      references: input.references,
      batch: input.batch,
    },
  );
  await deps.store.audit.appendAudit({
    actorType: 'system',
    actorId: 'worker',
    action: 'subscription.catch_up_started',
    clinicId: input.clinicId,
    requestId: input.requestId,
    idempotencyKey: `${input.catchUpId}:start:${input.batch}`,
    detail: { catchUpId: input.catchUpId, topic: input.topic, references: input.references, caseIds },
  });
  return { cases: caseIds.length, caseIds };
}
