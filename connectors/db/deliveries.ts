import { z } from 'zod';
import { isoUtc, mapDbErrors, nowIso, parseInput } from './dialect.ts';
import type { Db } from './open.ts';

const DeliverySchema = z.strictObject({
  clinicId: z.string().min(1),
  /** The EHR's own id for the refill request (or event id): the dedupe key within a clinic. */
  ehrRequestId: z.string().min(1).max(256),
  caseId: z.string().min(1),
  requestId: z.string().min(1),
  receivedAt: isoUtc.optional(),
});
export type DeliveryInput = z.input<typeof DeliverySchema>;

export interface DeliveryRepo {
  /**
   * Records a webhook delivery, or finds the first one for the same `(clinicId, ehrRequestId)`. The returned
   * `caseId` is the first delivery's; exactly one caller ever sees `created: true`, also when deliveries race.
   */
  recordDelivery(input: DeliveryInput): Promise<{ caseId: string; created: boolean }>;
}

/** Durable webhook dedupe: a redelivered or concurrently delivered webhook maps to the same case. */
export function createDeliveryRepo({ kysely }: Db): DeliveryRepo {
  return {
    async recordDelivery(input) {
      const d = parseInput(DeliverySchema, input, 'webhook delivery');
      // INSERT … ON CONFLICT DO NOTHING is atomic on both dialects: the loser of a race inserts nothing
      // (PostgreSQL waits for the winner's commit), then reads the winner's row.
      const inserted = await mapDbErrors('webhook delivery', () =>
        kysely
          .insertInto('webhook_deliveries')
          .values({ ...d, receivedAt: d.receivedAt ?? nowIso() })
          .onConflict((oc) => oc.columns(['clinicId', 'ehrRequestId']).doNothing())
          .returning('caseId')
          .executeTakeFirst(),
      );
      if (inserted !== undefined) return { caseId: inserted.caseId, created: true };
      const existing = await kysely
        .selectFrom('webhook_deliveries')
        .select('caseId')
        .where('clinicId', '=', d.clinicId)
        .where('ehrRequestId', '=', d.ehrRequestId)
        .executeTakeFirstOrThrow();
      return { caseId: existing.caseId, created: false };
    },
  };
}
