import { sql } from 'kysely';
import { z } from 'zod';
import { isoUtc, mapDbErrors, nowIso, parseInput } from './dialect.ts';
import type { Db } from './open.ts';

/** What we know of one FHIR Subscription of a clinic: the highest event number seen, and when. */
export interface SubscriptionState {
  clinicId: string;
  subscription: string;
  topic: string;
  highestEvent: number;
  /** When the notification that last brought us up to date arrived: a catch-up queries changes since then. */
  lastEventAt: string;
}

const AdvanceSchema = z.strictObject({
  clinicId: z.string().min(1),
  subscription: z.string().min(1).max(1024),
  topic: z.string().min(1).max(64),
  highestEvent: z.number().int().nonnegative().max(2_147_483_647),
  at: isoUtc,
  /** A handshake: the Subscription (re)starts counting, so the stored number is replaced, not raised. */
  reset: z.boolean().default(false),
});

export interface SubscriptionRepo {
  get(clinicId: string, subscription: string): Promise<SubscriptionState | null>;
  /**
   * Records the highest event number a notification showed. Monotonic and safe under concurrent notifications: the
   * stored number only rises (unless `reset`), and `lastEventAt` moves only with a number at least as high as the
   * stored one.
   */
  advance(input: z.input<typeof AdvanceSchema>): Promise<void>;
}

export function createSubscriptionRepo({ kysely }: Db): SubscriptionRepo {
  return {
    async get(clinicId, subscription) {
      const row = await kysely
        .selectFrom('subscription_events')
        .select(['clinicId', 'subscription', 'topic', 'highestEvent', 'lastEventAt'])
        .where('clinicId', '=', clinicId)
        .where('subscription', '=', subscription)
        .executeTakeFirst();
      return row ? { ...row, highestEvent: Number(row.highestEvent) } : null;
    },
    async advance(input) {
      const a = parseInput(AdvanceSchema, input, 'subscription state');
      const values = {
        clinicId: a.clinicId,
        subscription: a.subscription,
        topic: a.topic,
        highestEvent: a.highestEvent,
        lastEventAt: a.at,
        updatedAt: nowIso(),
      };
      const current = sql.ref('subscription_events.highest_event');
      const raises = sql`excluded.highest_event >= ${current}`;
      await mapDbErrors('subscription state', () =>
        kysely
          .insertInto('subscription_events')
          .values(values)
          .onConflict((oc) =>
            oc.columns(['clinicId', 'subscription']).doUpdateSet(
              a.reset
                ? values
                : {
                    highestEvent: sql<number>`case when ${raises} then excluded.highest_event else ${current} end`,
                    lastEventAt: sql<string>`case when ${raises} then excluded.last_event_at else subscription_events.last_event_at end`,
                    updatedAt: values.updatedAt,
                  },
            ),
          )
          .execute(),
      );
    },
  };
}
