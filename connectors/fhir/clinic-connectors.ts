import { AsyncLocalStorage } from 'node:async_hooks';
import type { JWK } from 'jose';
import { AppError } from '../../rules/index.ts';
import type { Store } from '../db/index.ts';
import { clinicKeyContext, isEncryptedSecret, type SecretBox } from '../secret-box.ts';
import { createFhirConnector, type FhirConnector } from './connector.ts';
import type { EgressPolicy } from './egress.ts';

/** The FHIR connector of each clinic's EHR, built from the clinic's settings and kept (it caches token and capabilities). */
export interface ClinicFhir {
  /** A connector session for `clinicId` whose calls carry `requestId` as X-Request-Id. */
  forClinic(clinicId: string): Promise<FhirConnector>;
  /** Runs `fn` with `requestId` as the current request id of every FHIR call made inside it. */
  withRequestId<T>(requestId: string, fn: () => Promise<T>): Promise<T>;
}

/**
 * The clinic's SMART private key as a JWK: decrypted when stored as `enc:v1:` ciphertext (keys entered through the
 * API), parsed as is when stored as plain JWK JSON (the demo seed and tests).
 *
 * @throws AppError `CONFIG_INVALID` for an encrypted key without a secret box, a failed decryption, or not a JWK.
 */
export function clinicPrivateKeyJwk(clinicId: string, stored: string, secrets: SecretBox | undefined): JWK {
  let text = stored;
  if (isEncryptedSecret(stored)) {
    if (!secrets) {
      throw new AppError('CONFIG_INVALID', 'The clinic’s FHIR client key is encrypted and no key is configured', {
        context: { clinicId },
      });
    }
    text = secrets.decrypt(stored, clinicKeyContext(clinicId));
  }
  try {
    return JSON.parse(text) as JWK;
  } catch (cause) {
    throw new AppError('CONFIG_INVALID', 'The clinic’s FHIR client key is not a JWK', { cause, context: { clinicId } });
  }
}

/**
 * Builds connectors lazily per clinic and rebuilds one when the clinic's settings change (its `updatedAt` moves).
 * `secrets` decrypts keys stored encrypted (connectors/secret-box.ts); plain JWK rows work without it. `egress` limits
 * where the clinic's (admin-entered, so untrusted) URLs may lead: see egress.ts.
 *
 * @throws AppError `NOT_FOUND` for an unknown clinic, `CONFIG_INVALID` for a stored key that is not a JWK or does
 * not decrypt, `EHR_REJECTED` for a base URL the egress policy refuses.
 */
export function createClinicFhir(
  store: Pick<Store, 'clinics'>,
  opts: { timeoutMs: number; secrets?: SecretBox; egress: EgressPolicy },
): ClinicFhir {
  const requestIds = new AsyncLocalStorage<string>();
  const cache = new Map<string, { version: string; connector: FhirConnector }>();
  return {
    async forClinic(clinicId) {
      // Every EHR call asks: the settings' version (one column) tells whether the kept connector is current.
      const version = await store.clinics.version(clinicId);
      if (version === null) throw new AppError('NOT_FOUND', 'Unknown clinic', { context: { clinicId } });
      let entry = cache.get(clinicId);
      if (!entry || entry.version !== version) {
        const clinic = await store.clinics.get(clinicId);
        if (!clinic) throw new AppError('NOT_FOUND', 'Unknown clinic', { context: { clinicId } });
        const privateKeyJwk = clinic.fhirPrivateKeyJwk
          ? clinicPrivateKeyJwk(clinicId, clinic.fhirPrivateKeyJwk, opts.secrets)
          : undefined;
        entry = {
          version: clinic.updatedAt,
          connector: createFhirConnector({
            baseUrl: clinic.fhirBaseUrl,
            timeoutMs: opts.timeoutMs,
            egress: opts.egress,
            batch: clinic.fhirBatch,
            requestId: () => requestIds.getStore(),
            ...(privateKeyJwk
              ? {
                  auth: {
                    clientId: clinic.fhirClientId,
                    privateKeyJwk,
                    ...(clinic.fhirTokenUrl ? { tokenUrl: clinic.fhirTokenUrl } : {}),
                  },
                }
              : {}),
          }),
        };
        cache.set(clinicId, entry);
      }
      return entry.connector.session();
    },
    withRequestId: (requestId, fn) => requestIds.run(requestId, fn),
  };
}
