import type { Queue } from '../rules/schema/case.ts';

/**
 * The role that works each queue, as the SNOMED CT code a mirrored `Task`'s `performerType` carries (every kind's
 * write-backs use the same table).
 */
export const QUEUE_PERFORMER: Record<Queue, { code: string; display: string }> = {
  signature: { code: '158965000', display: 'Medical practitioner' },
  doctor: { code: '158965000', display: 'Medical practitioner' },
  nurse: { code: '224535009', display: 'Registered nurse' },
  outreach: { code: '224535009', display: 'Registered nurse' },
  cosign: { code: '158965000', display: 'Medical practitioner' },
};
