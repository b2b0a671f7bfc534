import { randomBytes } from 'node:crypto';
import { defaultPayloadConverter, METADATA_ENCODING_KEY } from '@temporalio/common';
import type { Payload } from '@temporalio/common';
import { describe, expect, test } from 'vitest';
import { AppError } from '../../rules/index.ts';
import {
  createPayloadCodec,
  ENCRYPTED_ENCODING,
  METADATA_ENCRYPTION_KEY_ID,
  payloadKeysFrom,
} from '../../connectors/codec.ts';

const KEY_1 = randomBytes(32).toString('base64');
const KEY_2 = randomBytes(32).toString('base64');
const NAME = 'Zebulon Quixote-Marsh';

const text = (bytes: Uint8Array | null | undefined): string => Buffer.from(bytes ?? new Uint8Array()).toString('utf8');
const jsonPayload = (value: unknown): Payload => defaultPayloadConverter.toPayload(value);

describe('the AES-256-GCM payload codec', () => {
  const codec = createPayloadCodec({ PAYLOAD_KEY: KEY_1, PAYLOAD_KEY_ID: 'k1', PAYLOAD_OLD_KEYS: undefined });

  test('round-trips a payload, metadata included, and stores only ciphertext', async () => {
    const original = jsonPayload({ patient: NAME, dose: '10 mg' });
    const [encoded] = await codec.encode([original]);
    expect(text(encoded?.metadata?.[METADATA_ENCODING_KEY])).toBe(ENCRYPTED_ENCODING);
    expect(text(encoded?.metadata?.[METADATA_ENCRYPTION_KEY_ID])).toBe('k1');
    expect(text(encoded?.data)).not.toContain('Zebulon');
    expect(text(encoded?.data)).not.toContain('json/plain'); // the inner metadata is encrypted too

    const [decoded] = await codec.decode([encoded!]);
    expect(defaultPayloadConverter.fromPayload(decoded!)).toEqual({ patient: NAME, dose: '10 mg' });
    expect(text(decoded?.metadata?.[METADATA_ENCODING_KEY])).toBe('json/plain');
  });

  test('uses a fresh IV for every payload', async () => {
    const [a, b] = await codec.encode([jsonPayload(NAME), jsonPayload(NAME)]);
    expect(Buffer.from(a!.data!).equals(Buffer.from(b!.data!))).toBe(false);
    expect(Buffer.from(a!.data!.subarray(0, 12)).equals(Buffer.from(b!.data!.subarray(0, 12)))).toBe(false);
  });

  test('rejects a tampered ciphertext, IV or tag', async () => {
    const [encoded] = await codec.encode([jsonPayload(NAME)]);
    const length = encoded!.data!.length;
    for (const index of [0, 20, length - 1]) {
      const data = Uint8Array.from(encoded!.data!);
      data[index] = data[index]! ^ 0x01;
      await expect(codec.decode([{ ...encoded!, data }])).rejects.toThrow(/failed authentication with key "k1"/);
    }
  });

  test('rejects a payload truncated below IV + tag', async () => {
    const [encoded] = await codec.encode([jsonPayload(NAME)]);
    await expect(codec.decode([{ ...encoded!, data: encoded!.data!.subarray(0, 20) }])).rejects.toThrow(/truncated/);
  });

  test('names an unknown key id instead of failing obscurely', async () => {
    const other = createPayloadCodec({ PAYLOAD_KEY: KEY_2, PAYLOAD_KEY_ID: 'k9', PAYLOAD_OLD_KEYS: undefined });
    const [encoded] = await other.encode([jsonPayload(NAME)]);
    await expect(codec.decode([encoded!])).rejects.toThrow(/key id "k9", which is not configured/);
  });

  test('the right key id with the wrong key material fails authentication', async () => {
    const impostor = createPayloadCodec({ PAYLOAD_KEY: KEY_2, PAYLOAD_KEY_ID: 'k1', PAYLOAD_OLD_KEYS: undefined });
    const [encoded] = await impostor.encode([jsonPayload(NAME)]);
    await expect(codec.decode([encoded!])).rejects.toThrow(/failed authentication/);
  });

  test('after rotation, old payloads still decrypt and new ones use the new key', async () => {
    const [old] = await codec.encode([jsonPayload(NAME)]);
    const rotated = createPayloadCodec({ PAYLOAD_KEY: KEY_2, PAYLOAD_KEY_ID: 'k2', PAYLOAD_OLD_KEYS: `k1:${KEY_1}` });
    const [decoded] = await rotated.decode([old!]);
    expect(defaultPayloadConverter.fromPayload(decoded!)).toBe(NAME);

    const [fresh] = await rotated.encode([jsonPayload(NAME)]);
    expect(text(fresh?.metadata?.[METADATA_ENCRYPTION_KEY_ID])).toBe('k2');
    await expect(codec.decode([fresh!])).rejects.toThrow(/key id "k2"/); // the old-key-only codec cannot read it
  });

  test('refuses a payload that is not encrypted, naming its encoding and none of its content', async () => {
    // Plaintext would be a write by something without the key (a forged Update, a stray client): never decoded.
    const fresh = createPayloadCodec({ PAYLOAD_KEY: KEY_1, PAYLOAD_KEY_ID: 'k1', PAYLOAD_OLD_KEYS: undefined });
    const plain = jsonPayload({ patient: NAME });
    const error = await fresh.decode([plain]).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toMatch(/Refusing an unencrypted payload \(encoding "json\/plain"\)/);
    expect((error as Error).message).not.toContain('Zebulon');
    // No metadata at all, and an encoding that is itself text an attacker chose: refused, the encoding not echoed.
    await expect(fresh.decode([{ data: plain.data! }])).rejects.toThrow(/encoding none/);
    const odd = { metadata: { [METADATA_ENCODING_KEY]: Buffer.from(`json/${NAME}`) }, data: plain.data! };
    await expect(fresh.decode([odd])).rejects.toThrow(/encoding unprintable/);
    expect(fresh.refusedPlaintext).toBe(3);
    // One plaintext payload among encrypted ones fails the whole batch.
    const [ok] = await fresh.encode([jsonPayload(1)]);
    await expect(fresh.decode([ok!, plain])).rejects.toThrow(/unencrypted/);
  });

  test('an encrypted-marked payload without a key id is refused', async () => {
    const [encoded] = await codec.encode([jsonPayload(NAME)]);
    const metadata = { [METADATA_ENCODING_KEY]: encoded!.metadata![METADATA_ENCODING_KEY]! };
    await expect(codec.decode([{ metadata, data: encoded!.data! }])).rejects.toThrow(/no encryption-key-id/);
  });
});

describe('payload key configuration', () => {
  test('a missing PAYLOAD_KEY is a CONFIG_INVALID error', () => {
    const attempt = () =>
      payloadKeysFrom({ PAYLOAD_KEY: undefined, PAYLOAD_KEY_ID: 'k1', PAYLOAD_OLD_KEYS: undefined });
    expect(attempt).toThrow(AppError);
    expect(attempt).toThrow(/PAYLOAD_KEY is required/);
  });

  test('a malformed PAYLOAD_OLD_KEYS entry is refused without echoing key material', () => {
    const short = Buffer.alloc(16, 1).toString('base64');
    let error: unknown;
    try {
      payloadKeysFrom({ PAYLOAD_KEY: KEY_1, PAYLOAD_KEY_ID: 'k2', PAYLOAD_OLD_KEYS: `k0:${KEY_2}, k1:${short}` });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(AppError);
    expect((error as AppError).code).toBe('CONFIG_INVALID');
    expect((error as AppError).message).toMatch(/entry 2/);
    expect((error as AppError).message).not.toContain(short);
    expect(() => payloadKeysFrom({ PAYLOAD_KEY: KEY_1, PAYLOAD_KEY_ID: 'k2', PAYLOAD_OLD_KEYS: KEY_2 })).toThrow(
      /entry 1/,
    );
  });

  test('several old keys are all kept for decryption', () => {
    const ring = payloadKeysFrom({
      PAYLOAD_KEY: KEY_1,
      PAYLOAD_KEY_ID: 'k3',
      PAYLOAD_OLD_KEYS: `k1:${KEY_2},k2:${KEY_2}`,
    });
    expect(ring.currentKeyId).toBe('k3');
    expect([...ring.keys.keys()].sort()).toEqual(['k1', 'k2', 'k3']);
  });
});
