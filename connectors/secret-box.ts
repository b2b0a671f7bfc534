// Secrets at rest in the app database (a clinic's SMART private key and webhook secrets): AES-256-GCM under a data key derived with HKDF
// from the deployment's PAYLOAD_KEY ring, so one key to manage encrypts both Temporal payloads and stored secrets, yet
// the two uses never share a key.
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { AppError } from '../rules/index.ts';
import { payloadKeysFrom } from './codec.ts';
import type { Config } from './config.ts';

/** Prefix of every value this box produced: `enc:v1:<keyId>:<base64 of IV || ciphertext || tag>`. */
export const SECRET_PREFIX = 'enc:v1:';
/** HKDF `info`: the label that makes the data key differ from the payload key it is derived from. */
const HKDF_INFO = 'clinic-secrets';
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** Encrypts and decrypts small secrets for storage; `context` (e.g. clinic id + field) is bound as AAD. */
export interface SecretBox {
  /** Ciphertext as `enc:v1:<keyId>:<base64>`, under the current key. */
  encrypt(plaintext: string, context: string): string;
  /** The plaintext of a value {@link encrypt} produced with the same `context`. */
  decrypt(stored: string, context: string): string;
}

/** True for a value in the box's stored form (as opposed to legacy plaintext). */
export function isEncryptedSecret(value: string): boolean {
  return value.startsWith(SECRET_PREFIX);
}

/**
 * The secret box for this deployment: one HKDF-SHA256 data key per PAYLOAD_KEY ring entry (info `clinic-secrets`),
 * writing with the current key id and reading with any configured one, so PAYLOAD_KEY rotation keeps old rows readable.
 * Why: private keys in a database dump must be useless without the deployment's key.
 *
 * @throws AppError `CONFIG_INVALID` when PAYLOAD_KEY is unset or malformed (see payloadKeysFrom); from `decrypt`,
 * `CONFIG_INVALID` for an unknown key id, a malformed value or a failed authentication (wrong key, context or tamper).
 */
export function createSecretBox(
  config: Pick<Config, 'PAYLOAD_KEY' | 'PAYLOAD_KEY_ID' | 'PAYLOAD_OLD_KEYS'>,
): SecretBox {
  const ring = payloadKeysFrom(config);
  const dataKeys = new Map<string, Buffer>();
  for (const [id, key] of ring.keys) {
    dataKeys.set(id, Buffer.from(hkdfSync('sha256', key, Buffer.alloc(0), HKDF_INFO, 32)));
  }
  const currentKey = dataKeys.get(ring.currentKeyId)!;
  return {
    encrypt(plaintext, context) {
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', currentKey, iv, { authTagLength: TAG_BYTES });
      cipher.setAAD(Buffer.from(context, 'utf8'));
      const sealed = Buffer.concat([iv, cipher.update(plaintext, 'utf8'), cipher.final(), cipher.getAuthTag()]);
      return `${SECRET_PREFIX}${ring.currentKeyId}:${sealed.toString('base64')}`;
    },
    decrypt(stored, context) {
      const m = /^enc:v1:([A-Za-z0-9._-]{1,64}):([A-Za-z0-9+/]+={0,2})$/.exec(stored);
      if (!m) throw new AppError('CONFIG_INVALID', 'Stored secret is not in the enc:v1 format');
      const key = dataKeys.get(m[1]!);
      if (!key) {
        throw new AppError('CONFIG_INVALID', 'Stored secret was encrypted with a key that is not configured', {
          context: { keyId: m[1]! },
        });
      }
      const sealed = Buffer.from(m[2]!, 'base64');
      if (sealed.length < IV_BYTES + TAG_BYTES) throw new AppError('CONFIG_INVALID', 'Stored secret is truncated');
      const decipher = createDecipheriv('aes-256-gcm', key, sealed.subarray(0, IV_BYTES), {
        authTagLength: TAG_BYTES,
      });
      decipher.setAAD(Buffer.from(context, 'utf8'));
      decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
      try {
        return Buffer.concat([
          decipher.update(sealed.subarray(IV_BYTES, sealed.length - TAG_BYTES)),
          decipher.final(),
        ]).toString('utf8');
      } catch (cause) {
        throw new AppError('CONFIG_INVALID', 'Stored secret failed authentication (wrong key, context or tampered)', {
          cause,
          context: { keyId: m[1]! },
        });
      }
    },
  };
}

/** The AAD context of a clinic's SMART private key: a ciphertext copied to another clinic's row will not decrypt. */
export function clinicKeyContext(clinicId: string): string {
  return `clinic:${clinicId}:fhirPrivateKeyJwk`;
}

/**
 * The AAD context of a clinic's webhook secrets (the current and the previous one share it, so a rotation moves the
 * ciphertext as is): a secret copied to another clinic's row will not decrypt.
 */
export function clinicWebhookSecretContext(clinicId: string): string {
  return `clinic:${clinicId}:webhookSecret`;
}
