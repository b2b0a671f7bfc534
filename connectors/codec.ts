// Temporal payload encryption (cf. samples-typescript `encryption/`): history, the UI and the dev server's SQLite file
// only ever see ciphertext. Node's own crypto; the wire layout is IV || ciphertext || tag, as WebCrypto's AES-GCM emits.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import proto from '@temporalio/proto';
import { fileURLToPath } from 'node:url';
import { METADATA_ENCODING_KEY, ValueError } from '@temporalio/common';
import type { DataConverter, Payload, PayloadCodec } from '@temporalio/common';
import { AppError } from '../rules/index.ts';
import type { Config } from './config.ts';
import { codecFailures } from './telemetry/metrics.ts';

/** Metadata `encoding` of a payload this codec produced. */
export const ENCRYPTED_ENCODING = 'binary/encrypted';
/** Metadata key naming the key that encrypted a payload, so rotated keys still decrypt old history. */
export const METADATA_ENCRYPTION_KEY_ID = 'encryption-key-id';

const CIPHER = 'aes-256-gcm';
const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const { Payload: PayloadProto } = proto.temporal.api.common.v1;

export interface PayloadKeys {
  /** Id written into new payloads. */
  currentKeyId: string;
  /** Every key that may decrypt, the current one included. */
  keys: ReadonlyMap<string, Buffer>;
}

/** AES-256-GCM codec: encrypts the whole serialized payload (metadata included) under the current key. */
export class EncryptionCodec implements PayloadCodec {
  /** Unencrypted payloads refused by `decode` since start (the error names the encoding only, never the content). */
  refusedPlaintext = 0;
  private readonly currentKey: Buffer;
  private readonly currentKeyIdBytes: Uint8Array;

  constructor(private readonly payloadKeys: PayloadKeys) {
    const key = payloadKeys.keys.get(payloadKeys.currentKeyId);
    if (!key) throw new ValueError(`Payload key "${payloadKeys.currentKeyId}" is not among the configured keys`);
    for (const [id, k] of payloadKeys.keys) {
      if (k.length !== KEY_BYTES) throw new ValueError(`Payload key "${id}" must be ${KEY_BYTES} bytes`);
    }
    this.currentKey = key;
    this.currentKeyIdBytes = Buffer.from(payloadKeys.currentKeyId, 'utf8');
  }

  encode(payloads: Payload[]): Promise<Payload[]> {
    return Promise.resolve(
      payloads.map((payload) => ({
        metadata: {
          [METADATA_ENCODING_KEY]: Buffer.from(ENCRYPTED_ENCODING, 'utf8'),
          [METADATA_ENCRYPTION_KEY_ID]: this.currentKeyIdBytes,
        },
        data: encrypt(PayloadProto.encodeDelimited(payload).finish(), this.currentKey),
      })),
    );
  }

  decode(payloads: Payload[]): Promise<Payload[]> {
    // Promise.resolve(map) would throw synchronously; keep failures as rejections, as the SDK expects.
    return Promise.resolve().then(() => payloads.map((payload) => this.decodeOne(payload)));
  }

  private decodeOne(payload: Payload): Payload {
    const encoding = payload.metadata?.[METADATA_ENCODING_KEY];
    // Refused, not passed through: AES-GCM is also what authenticates a payload, so a plaintext one was written by a
    // client without the key (`temporal workflow update --input …`, a stray script) and could carry a forged decision.
    // Nothing of ours is plaintext: every client and worker has had this codec since the first commit (no history
    // predates it), and the SDK never runs search attributes or headers through codecs.
    if (!encoding || utf8(encoding) !== ENCRYPTED_ENCODING) {
      const name = encoding ? utf8(encoding) : '';
      // The encoding is writer-chosen text too: named only when it looks like one.
      const shown = !encoding ? 'none' : /^[\w./-]{1,40}$/.test(name) ? `"${name}"` : 'unprintable';
      this.refusedPlaintext += 1;
      throw refusal(
        'plaintext',
        new ValueError(
          `Refusing an unencrypted payload (encoding ${shown}): every payload must be written with this ` +
            "deployment's payload codec",
        ),
      );
    }
    if (!payload.data) throw refusal('malformed', new ValueError('Encrypted payload has no data'));
    const keyIdBytes = payload.metadata?.[METADATA_ENCRYPTION_KEY_ID];
    if (!keyIdBytes)
      throw refusal('malformed', new ValueError(`Encrypted payload has no ${METADATA_ENCRYPTION_KEY_ID}`));
    const keyId = utf8(keyIdBytes);
    const key = this.payloadKeys.keys.get(keyId);
    if (!key) {
      throw refusal(
        'unknown_key',
        new ValueError(
          `Payload was encrypted with key id "${keyId}", which is not configured (current: "${this.payloadKeys.currentKeyId}"; ` +
            'add the retired key to PAYLOAD_OLD_KEYS as "id:base64")',
        ),
      );
    }
    return PayloadProto.decodeDelimited(decrypt(payload.data, key, keyId));
  }
}

/** Counts a refused payload by reason (autopilot_payload_codec_failures_total), then hands the error back to throw. */
function refusal(reason: 'plaintext' | 'malformed' | 'unknown_key' | 'unauthenticated', err: ValueError): ValueError {
  codecFailures.inc({ reason });
  return err;
}

function utf8(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
}

function encrypt(plaintext: Uint8Array, key: Buffer): Uint8Array {
  const iv = randomBytes(IV_BYTES); // random 96-bit IV per payload: never reused under one key in practice
  const cipher = createCipheriv(CIPHER, key, iv, { authTagLength: TAG_BYTES });
  return Buffer.concat([iv, cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
}

function decrypt(data: Uint8Array, key: Buffer, keyId: string): Uint8Array {
  if (data.byteLength < IV_BYTES + TAG_BYTES)
    throw refusal('malformed', new ValueError('Encrypted payload is truncated'));
  const bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const decipher = createDecipheriv(CIPHER, key, bytes.subarray(0, IV_BYTES), { authTagLength: TAG_BYTES });
  decipher.setAuthTag(bytes.subarray(bytes.length - TAG_BYTES));
  try {
    return Buffer.concat([decipher.update(bytes.subarray(IV_BYTES, bytes.length - TAG_BYTES)), decipher.final()]);
  } catch (err) {
    throw refusal(
      'unauthenticated',
      new ValueError(`Encrypted payload failed authentication with key "${keyId}" (tampered or wrong key)`, err),
    );
  }
}

/**
 * Reads PAYLOAD_KEY / PAYLOAD_KEY_ID / PAYLOAD_OLD_KEYS into a key ring.
 * Why: one place decides what a valid key is, so the API, the worker and the tests cannot disagree.
 * @throws AppError `CONFIG_INVALID` when PAYLOAD_KEY is unset or PAYLOAD_OLD_KEYS is malformed (never echoes keys).
 */
export function payloadKeysFrom(
  config: Pick<Config, 'PAYLOAD_KEY' | 'PAYLOAD_KEY_ID' | 'PAYLOAD_OLD_KEYS'>,
): PayloadKeys {
  if (!config.PAYLOAD_KEY) {
    throw new AppError(
      'CONFIG_INVALID',
      'PAYLOAD_KEY is required to encrypt Temporal payloads (`npm start` generates one)',
    );
  }
  const keys = new Map<string, Buffer>();
  for (const entry of (config.PAYLOAD_OLD_KEYS ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const sep = entry.indexOf(':');
    const id = sep > 0 ? entry.slice(0, sep) : '';
    const key = Buffer.from(sep > 0 ? entry.slice(sep + 1) : '', 'base64');
    if (!/^[A-Za-z0-9._-]{1,64}$/.test(id) || key.length !== KEY_BYTES) {
      throw new AppError(
        'CONFIG_INVALID',
        `PAYLOAD_OLD_KEYS: entry ${keys.size + 1} must be "id:base64 of ${KEY_BYTES} bytes"`,
      );
    }
    keys.set(id, key);
  }
  keys.set(config.PAYLOAD_KEY_ID, Buffer.from(config.PAYLOAD_KEY, 'base64')); // the current key wins an id clash
  return { currentKeyId: config.PAYLOAD_KEY_ID, keys };
}

/**
 * The AES-256-GCM payload codec for this deployment's keys.
 * Why: workflow inputs and results carry patient context; Temporal must store only ciphertext.
 * @throws AppError `CONFIG_INVALID` (see {@link payloadKeysFrom}).
 */
export function createPayloadCodec(
  config: Pick<Config, 'PAYLOAD_KEY' | 'PAYLOAD_KEY_ID' | 'PAYLOAD_OLD_KEYS'>,
): EncryptionCodec {
  return new EncryptionCodec(payloadKeysFrom(config));
}

/**
 * Module exporting `failureConverter` = `new DefaultFailureConverter({ encodeCommonAttributes: true })`.
 * The SDK takes failure converters only by path (it bundles them into the workflow sandbox too), so a production
 * `bundleWorkflowCode` call must pass this as `failureConverterPath` as well.
 */
export const FAILURE_CONVERTER_PATH = fileURLToPath(new URL('./failure-converter.js', import.meta.url));

/** What {@link dataConverterFor} returns: a DataConverter whose codecs and failure converter are always set. */
export type EncryptingDataConverter = DataConverter & { payloadCodecs: PayloadCodec[]; failureConverterPath: string };

/**
 * Data converter for clients and workers: the codec, plus failure messages and stack traces moved into the
 * (encrypted) encoded attributes. Why: a failure message can name a patient as easily as an input can.
 * @throws AppError `CONFIG_INVALID` (see {@link payloadKeysFrom}).
 */
export function dataConverterFor(
  config: Pick<Config, 'PAYLOAD_KEY' | 'PAYLOAD_KEY_ID' | 'PAYLOAD_OLD_KEYS'>,
): EncryptingDataConverter {
  return { payloadCodecs: [createPayloadCodec(config)], failureConverterPath: FAILURE_CONVERTER_PATH };
}
