import type { Db } from './open.ts';
import { nowIso } from './dialect.ts';

/** What each clinic's sweep Schedule was last synced to: a hash of the settings the API sent to Temporal. */
export interface SweepSyncRepo {
  /** Every clinic's last synced hash (one query). */
  all(): Promise<Map<string, string>>;
  /** Records a successful sync. */
  put(clinicId: string, hash: string): Promise<void>;
  /** Forgets a clinic's sync (a failed one): the next API start syncs it again. */
  remove(clinicId: string): Promise<void>;
}

export function createSweepSyncRepo({ kysely }: Db): SweepSyncRepo {
  return {
    async all() {
      const rows = await kysely.selectFrom('sweep_schedule_syncs').select(['clinicId', 'hash']).execute();
      return new Map(rows.map((r) => [r.clinicId, r.hash]));
    },
    async put(clinicId, hash) {
      const values = { clinicId, hash, syncedAt: nowIso() };
      await kysely
        .insertInto('sweep_schedule_syncs')
        .values(values)
        .onConflict((oc) => oc.column('clinicId').doUpdateSet(values))
        .execute();
    },
    async remove(clinicId) {
      await kysely.deleteFrom('sweep_schedule_syncs').where('clinicId', '=', clinicId).execute();
    },
  };
}
