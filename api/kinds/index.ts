// The API's registry of protocol kinds: each kind's own HTTP triggers, workflow messages and legacy clinic fields
// (api/kinds/<k>/). The one API file that names kinds, as rules/kinds/index.ts is for the kinds themselves; api/app.ts
// mounts what it lists, the workflow gateway and the clinic routes ask it.
import { careGapApi } from './care-gap/index.ts';
import { refillApi } from './refill/index.ts';
import type { KindApi } from './types.ts';

export type { DecisionAck, KindApi } from './types.ts';

/** Every kind's API part, in the kind registry's order. */
export const KIND_APIS: readonly KindApi[] = [refillApi, careGapApi];
