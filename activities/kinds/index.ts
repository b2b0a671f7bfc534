// The activities of every protocol kind, merged into the worker's registry (activities/index.ts). A new kind adds its
// factory to this list; no other worker file changes.
import type { ActivityDeps } from '../index.ts';
import { careGapActivities } from './care-gap/index.ts';
import { careGapCaseStarter } from './care-gap/triggers.ts';
import { refillActivities } from './refill/index.ts';
import { refillSubscriptionTopic } from './refill/subscription.ts';

const KIND_ACTIVITIES = [refillActivities, careGapActivities] as const;

/** Each patient-level kind's case starter, for the event intake and the panel sweep (activities/triggers.ts). */
export const PATIENT_CASE_STARTERS = [careGapCaseStarter] as const;

/** Each kind's webhook Subscription topic, for the catch-up after a lost notification (activities/subscription-catch-up.ts). */
export const SUBSCRIPTION_TOPICS = [refillSubscriptionTopic] as const;

type UnionToIntersection<U> = (U extends unknown ? (x: U) => void : never) extends (x: infer I) => void ? I : never;
export type KindActivities = UnionToIntersection<ReturnType<(typeof KIND_ACTIVITIES)[number]>>;

/** Every kind's activities, by registered name. */
export function createKindActivities(deps: ActivityDeps): KindActivities {
  return Object.assign({}, ...KIND_ACTIVITIES.map((factory) => factory(deps))) as KindActivities;
}
