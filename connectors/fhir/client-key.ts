// A clinic's SMART Backend Services signing key as an admin supplies it (JWK JSON or PKCS#8/SEC1/PKCS#1 PEM), reduced
// to the private JWK we store (encrypted) and the public JWK the EHR registers.
import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { calculateJwkThumbprint, type JWK } from 'jose';
import { AppError } from '../../rules/index.ts';

/** A parsed client key: what to store, what to show, what to register with the EHR. */
export interface ClientKey {
  /** Private JWK with `kid`, `alg`, `use`: the secret (store only encrypted). */
  privateJwk: JWK;
  /** Public half, same `kid`/`alg`: for the EHR's JWKS registration and for display. */
  publicJwk: JWK;
  kid: string;
  alg: 'RS384' | 'ES384';
  /** RFC 7638 SHA-256 thumbprint of the public key (base64url). */
  thumbprint: string;
}

function invalid(message: string): AppError {
  // Never echo key material: the message names the problem only.
  return new AppError('INVALID_INPUT', `Invalid privateKey: ${message}`, {
    issues: [{ path: '$.privateKey', message }],
  });
}

function keyObjectOf(input: string | Record<string, unknown>): KeyObject {
  try {
    if (typeof input !== 'string') return createPrivateKey({ key: input as never, format: 'jwk' });
    const text = input.trim();
    if (text.startsWith('{')) return createPrivateKey({ key: JSON.parse(text) as never, format: 'jwk' });
    if (text.startsWith('-----BEGIN')) return createPrivateKey({ key: text, format: 'pem' });
  } catch {
    throw invalid('not a readable private key (JWK JSON or PEM)');
  }
  throw invalid('expected a private JWK (JSON) or a PEM private key');
}

/**
 * Parses and checks a SMART Backend Services private key: RSA (≥ 2048 bits, RS384) or EC P-384 (ES384), the
 * algorithms SMART requires EHRs to accept. `kid` is the given one, else the key's own, else its thumbprint.
 * Why: a key the token request cannot use should fail at onboarding, not at the first refill.
 *
 * @throws AppError `INVALID_INPUT` (path `$.privateKey`) for an unreadable, public-only or unsupported key.
 */
export async function parseClientKey(input: string | Record<string, unknown>, keyId?: string): Promise<ClientKey> {
  const key = keyObjectOf(input);
  if (key.type !== 'private') throw invalid('a public key was given; the private key is needed');
  let alg: ClientKey['alg'];
  if (key.asymmetricKeyType === 'rsa') {
    if ((key.asymmetricKeyDetails?.modulusLength ?? 0) < 2048) throw invalid('RSA keys need at least 2048 bits');
    alg = 'RS384';
  } else if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'secp384r1') {
    alg = 'ES384';
  } else {
    throw invalid('use an RSA (RS384) or EC P-384 (ES384) key');
  }
  const given = typeof input === 'string' && input.trim().startsWith('{') ? safeJson(input) : input;
  const ownKid = typeof given === 'object' && given !== null && typeof given.kid === 'string' ? given.kid : undefined;
  const bare = createPublicKey(key).export({ format: 'jwk' }) as JWK;
  const thumbprint = await calculateJwkThumbprint(bare, 'sha256');
  const kid = keyId ?? ownKid ?? thumbprint;
  const meta = { kid, alg, use: 'sig' };
  return {
    privateJwk: { ...(key.export({ format: 'jwk' }) as JWK), ...meta },
    publicJwk: { ...bare, ...meta },
    kid,
    alg,
    thumbprint,
  };
}

function safeJson(text: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(text);
    return typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** The public JWK of a stored plaintext private JWK (legacy/demo rows), or null when it is not one. */
export async function publicJwkOf(privateJwkText: string): Promise<ClientKey | null> {
  try {
    return await parseClientKey(privateJwkText);
  } catch {
    return null;
  }
}
