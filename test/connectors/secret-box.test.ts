// Secrets at rest: the clinic-secrets box round-trips, binds its context, refuses tampering, and survives a
// PAYLOAD_KEY rotation when the old key is kept in PAYLOAD_OLD_KEYS.
import { createDecipheriv, randomBytes } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import { createSecretBox, isEncryptedSecret } from '../../connectors/secret-box.ts';

const k1 = randomBytes(32).toString('base64');
const k2 = randomBytes(32).toString('base64');
const box1 = createSecretBox({ PAYLOAD_KEY: k1, PAYLOAD_KEY_ID: 'k1', PAYLOAD_OLD_KEYS: undefined });

describe('secret box', () => {
  test('encrypts to enc:v1:<keyId>:<base64> with a fresh IV each time, and decrypts back', () => {
    const a = box1.encrypt('{"kty":"EC","d":"secret"}', 'clinic:a:fhirPrivateKeyJwk');
    const b = box1.encrypt('{"kty":"EC","d":"secret"}', 'clinic:a:fhirPrivateKeyJwk');
    expect(a).toMatch(/^enc:v1:k1:[A-Za-z0-9+/]+=*$/);
    expect(a).not.toBe(b);
    expect(isEncryptedSecret(a)).toBe(true);
    expect(isEncryptedSecret('{"kty":"EC"}')).toBe(false);
    expect(box1.decrypt(a, 'clinic:a:fhirPrivateKeyJwk')).toBe('{"kty":"EC","d":"secret"}');
  });

  test('the data key is derived, not the payload key itself', () => {
    const sealed = Buffer.from(box1.encrypt('hello', 'ctx').split(':')[3]!, 'base64');
    const decipher = createDecipheriv('aes-256-gcm', Buffer.from(k1, 'base64'), sealed.subarray(0, 12));
    decipher.setAAD(Buffer.from('ctx'));
    decipher.setAuthTag(sealed.subarray(sealed.length - 16));
    decipher.update(sealed.subarray(12, sealed.length - 16));
    expect(() => decipher.final()).toThrow();
  });

  test('a different context, a flipped byte or an unknown key id fail with CONFIG_INVALID', () => {
    const stored = box1.encrypt('secret', 'clinic:a:fhirPrivateKeyJwk');
    expect(() => box1.decrypt(stored, 'clinic:b:fhirPrivateKeyJwk')).toThrow(/authentication/);
    const bytes = Buffer.from(stored.split(':')[3]!, 'base64');
    bytes[14] = bytes[14]! ^ 1;
    expect(() => box1.decrypt(`enc:v1:k1:${bytes.toString('base64')}`, 'clinic:a:fhirPrivateKeyJwk')).toThrow(
      /authentication/,
    );
    expect(() => box1.decrypt(stored.replace('enc:v1:k1:', 'enc:v1:k9:'), 'clinic:a:fhirPrivateKeyJwk')).toThrow(
      expect.objectContaining({ code: 'CONFIG_INVALID' }) as Error,
    );
    expect(() => box1.decrypt('enc:v1:k1:@@', 'x')).toThrow(/format/);
  });

  test('after a PAYLOAD_KEY rotation, old rows still decrypt and new rows use the new key id', () => {
    const old = box1.encrypt('secret', 'ctx');
    const box2 = createSecretBox({ PAYLOAD_KEY: k2, PAYLOAD_KEY_ID: 'k2', PAYLOAD_OLD_KEYS: `k1:${k1}` });
    expect(box2.decrypt(old, 'ctx')).toBe('secret');
    expect(box2.encrypt('secret', 'ctx')).toMatch(/^enc:v1:k2:/);
    const withoutOld = createSecretBox({ PAYLOAD_KEY: k2, PAYLOAD_KEY_ID: 'k2', PAYLOAD_OLD_KEYS: undefined });
    expect(() => withoutOld.decrypt(old, 'ctx')).toThrow(/not configured/);
  });

  test('without PAYLOAD_KEY there is no box', () => {
    expect(() =>
      createSecretBox({ PAYLOAD_KEY: undefined, PAYLOAD_KEY_ID: 'k1', PAYLOAD_OLD_KEYS: undefined }),
    ).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }) as Error);
  });
});
