// The queue gauges, computed when Prometheus scrapes: ONE grouped query over the waiting cases (served by the
// (clinicId, queue, status, createdAt) index), cached for a few seconds so that several scrapers (or replicas'
// scrapes of one database) do not each run it.
import type { Db } from '../db/index.ts';
import { idLabel, queueDepth, queueOldestAge, queueOverdue } from './metrics.ts';

export interface QueueStat {
  clinicId: string;
  queue: string;
  depth: number;
  /** ISO time the oldest waiting case was created (its request arrived). */
  oldestCreatedAt: string;
  overdue: number;
}

/** Waiting cases per clinic and queue: how many, the oldest's creation time, how many are past their SLA due time. */
export async function readQueueStats(db: Db, now: Date): Promise<QueueStat[]> {
  const at = now.toISOString();
  const rows = await db.kysely
    .selectFrom('cases')
    .select((eb) => [
      'clinicId',
      'queue',
      eb.fn.countAll<number | string>().as('depth'),
      eb.fn.min('createdAt').as('oldest'),
      eb.fn.sum<number | string | null>(eb.case().when('slaDueAt', '<', at).then(1).else(0).end()).as('overdue'),
    ])
    .where('status', '=', 'queued')
    .where('queue', 'is not', null)
    .groupBy(['clinicId', 'queue'])
    .execute();
  return rows.map((r) => ({
    clinicId: r.clinicId,
    queue: r.queue ?? 'none',
    depth: Number(r.depth),
    oldestCreatedAt: r.oldest,
    overdue: Number(r.overdue ?? 0),
  }));
}

/**
 * Refreshes the queue gauges from the database at most every `ttlMs`. A queue that emptied since the last refresh is
 * set to 0 (not dropped), so a graph goes to zero instead of stopping.
 */
export function queueGaugeRefresher(db: Db, now: () => Date, ttlMs = 5000): () => Promise<void> {
  let fresh = 0;
  let inflight: Promise<void> | undefined;
  const seen = new Set<string>();
  async function refresh(): Promise<void> {
    const at = now();
    const stats = await readQueueStats(db, at);
    const present = new Set<string>();
    for (const s of stats) {
      const labels = { clinic: idLabel(s.clinicId), queue: idLabel(s.queue) };
      const key = `${labels.clinic}\u0000${labels.queue}`;
      present.add(key);
      seen.add(key);
      queueDepth.set(labels, s.depth);
      queueOverdue.set(labels, s.overdue);
      queueOldestAge.set(labels, Math.max(0, (at.getTime() - Date.parse(s.oldestCreatedAt)) / 1000));
    }
    for (const key of seen) {
      if (present.has(key)) continue;
      const [clinic = '', queue = ''] = key.split('\u0000');
      queueDepth.set({ clinic, queue }, 0);
      queueOverdue.set({ clinic, queue }, 0);
      queueOldestAge.set({ clinic, queue }, 0);
    }
    fresh = Date.now() + ttlMs;
  }
  return () => {
    if (Date.now() < fresh) return Promise.resolve();
    inflight ??= refresh().finally(() => (inflight = undefined));
    return inflight;
  };
}
