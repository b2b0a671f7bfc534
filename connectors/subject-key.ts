// Opaque, stable subject keys: a case about a *patient* (a care gap) needs a workflow id per patient, and workflow ids
// are stored unencrypted by Temporal (and shown in its UI), so they must not carry the patient's id.
import { createHmac, hkdfSync } from 'node:crypto';
import { AppError } from '../rules/index.ts';
import type { Config } from './config.ts';

/** HKDF `info`: makes the subject-id key differ from the payload key it is derived from. */
const HKDF_INFO = 'ehr-autopilot subject ids';

/** Computes the subject key of a patient at a clinic (see {@link subjectKey}). */
export type SubjectKeyer = (clinicId: string, patientId: string) => string;

/**
 * The subject keyer of this deployment: `subjectKey(clinicId, patientId)` = the first 32 hex digits of
 * HMAC-SHA256(K, `{clinicId}\n{patientId}`), where K is derived with HKDF-SHA256 from PAYLOAD_KEY (info
 * `ehr-autopilot subject ids`). Deterministic, so every API replica, the sweep and the worker name the same patient's
 * case alike; one-way, so the id in Temporal reveals nothing without the key. Rotating PAYLOAD_KEY changes every key
 * (a patient's next event then opens a new case): keep the old key as PAYLOAD_KEY while cases run.
 *
 * @throws AppError `CONFIG_INVALID` when PAYLOAD_KEY is unset.
 */
export function subjectKeyer(config: Pick<Config, 'PAYLOAD_KEY'>): SubjectKeyer {
  if (!config.PAYLOAD_KEY) {
    throw new AppError('CONFIG_INVALID', 'PAYLOAD_KEY is required to derive subject ids (`npm start` generates one)');
  }
  const key = Buffer.from(
    hkdfSync('sha256', Buffer.from(config.PAYLOAD_KEY, 'base64'), Buffer.alloc(0), HKDF_INFO, 32),
  );
  return (clinicId, patientId) =>
    createHmac('sha256', key).update(`${clinicId}\n${patientId}`).digest('hex').slice(0, 32);
}

/** One-shot form of {@link subjectKeyer} (derives the key each call; prefer the keyer in loops). */
export function subjectKey(config: Pick<Config, 'PAYLOAD_KEY'>, clinicId: string, patientId: string): string {
  return subjectKeyer(config)(clinicId, patientId);
}
