import { z } from 'zod';
import { dbBool, isoUtc, mapDbErrors, nowIso, parseInput, toDbBool } from './dialect.ts';
import type { Db } from './open.ts';

/** Stable ids that may appear in workflow ids, URLs and logs. */
/** A clinic or protocol id. */
export const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
export const IdSchema = z.string().regex(ID_PATTERN, 'letters, digits, . _ - (max 128)');

export const TimezoneSchema = z.string().refine((tz) => {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}, 'unknown IANA time zone');

function isJwkText(s: string): boolean {
  try {
    const v: unknown = JSON.parse(s);
    return typeof v === 'object' && v !== null && !Array.isArray(v) && 'kty' in v;
  } catch {
    return false;
  }
}
const JwkTextSchema = z.string().refine(isJwkText, 'must be a JWK as JSON text');
/** The private key: plain JWK JSON (demo, tests) or its encrypted form `enc:v1:<keyId>:<base64>` (secret-box.ts). */
const PrivateKeyTextSchema = z
  .string()
  .refine((s) => /^enc:v1:[A-Za-z0-9._-]{1,64}:[A-Za-z0-9+/]+={0,2}$/.test(s) || isJwkText(s), {
    message: 'must be a JWK as JSON text or enc:v1 ciphertext',
  });

/** What an admin (or the demo seed) writes for a clinic. */
export const ClinicInputSchema = z.strictObject({
  id: IdSchema,
  name: z.string().min(1).max(200),
  /** HMAC key for the clinic's webhooks; short secrets are refused. */
  webhookSecret: z.string().min(16),
  /** Absent: left as stored on replace (null on insert). */
  previousWebhookSecret: z.string().min(16).nullable().optional(),
  previousWebhookSecretExpiresAt: isoUtc.nullable().optional(),
  fhirBaseUrl: z.url(),
  fhirClientId: z.string().min(1),
  fhirPrivateKeyJwk: PrivateKeyTextSchema.nullable().default(null),
  /** The public half of the key; absent means null (a replaced key must not keep an old public key). */
  fhirPublicJwk: JwkTextSchema.nullable().default(null),
  fhirTokenUrl: z.url().nullable().default(null),
  protocolId: IdSchema,
  /** A published version of the protocol pinned for this clinic; absent: unchanged on replace (null on insert). */
  protocolVersion: z.number().int().positive().nullable().optional(),
  refillAutomationEnabled: z.boolean(),
  nurseSlaSeconds: z.number().int().positive(),
  timezone: TimezoneSchema,
});
export type ClinicInput = z.input<typeof ClinicInputSchema>;

export const ClinicSchema = z.object({
  id: z.string(),
  name: z.string(),
  webhookSecret: z.string(),
  previousWebhookSecret: z.string().nullable(),
  previousWebhookSecretExpiresAt: z.string().nullable(),
  fhirBaseUrl: z.string(),
  fhirClientId: z.string(),
  fhirPrivateKeyJwk: z.string().nullable(),
  fhirPublicJwk: z.string().nullable(),
  fhirTokenUrl: z.string().nullable(),
  protocolId: z.string(),
  /** Null: follow the protocol's live (globally published) version. */
  protocolVersion: z.number().int().nullable(),
  refillAutomationEnabled: dbBool,
  nurseSlaSeconds: z.number().int(),
  timezone: z.string(),
  createdAt: z.string(),
  updatedAt: z.string(),
});
/**
 * A clinic as stored. Holds secrets (webhookSecret, previousWebhookSecret, fhirPrivateKeyJwk): never log or return it
 * whole.
 */
export type Clinic = z.output<typeof ClinicSchema>;

/** What an admin may change after onboarding: settings, and the EHR connection (endpoint, client, key). */
export const ClinicSettingsPatchSchema = z.strictObject({
  name: z.string().min(1).max(200).optional(),
  timezone: TimezoneSchema.optional(),
  refillAutomationEnabled: z.boolean().optional(),
  nurseSlaSeconds: z.number().int().positive().optional(),
  protocolId: IdSchema.optional(),
  /** null: follow the protocol's live version. The caller checks it is a published version of the protocol. */
  protocolVersion: z.number().int().positive().nullable().optional(),
  fhirBaseUrl: z.url().optional(),
  fhirClientId: z.string().min(1).optional(),
  fhirTokenUrl: z.url().nullable().optional(),
  fhirPrivateKeyJwk: PrivateKeyTextSchema.nullable().optional(),
  fhirPublicJwk: JwkTextSchema.nullable().optional(),
});
export type ClinicSettingsPatch = z.input<typeof ClinicSettingsPatchSchema>;

export interface ClinicRepo {
  get(id: string): Promise<Clinic | null>;
  list(): Promise<Clinic[]>;
  /** Creates or replaces the clinic's settings; `createdAt` survives a replace. */
  upsert(input: ClinicInput): Promise<Clinic>;
  /** Creates a clinic; `CONFLICT` when the id is taken (onboarding never overwrites a clinic). */
  create(input: ClinicInput): Promise<Clinic>;
  /** Changes only the given fields (absent: unchanged; null: cleared); null for an unknown clinic. */
  updateSettings(id: string, patch: ClinicSettingsPatch): Promise<Clinic | null>;
  /**
   * Makes `webhookSecret` the secret and keeps the current one as the previous secret until `previousExpiresAt`, in
   * one UPDATE (two concurrent rotations cannot both keep the same old secret). Null for an unknown clinic.
   */
  rotateWebhookSecret(
    id: string,
    rotation: { webhookSecret: string; previousExpiresAt: string },
  ): Promise<Clinic | null>;
}

/** Clinic settings: webhook secret, FHIR endpoint and credentials, protocol, SLA. */
export function createClinicRepo({ kysely }: Db): ClinicRepo {
  return {
    async get(id) {
      const row = await kysely.selectFrom('clinics').selectAll().where('id', '=', id).executeTakeFirst();
      return row === undefined ? null : ClinicSchema.parse(row);
    },
    async list() {
      const rows = await kysely.selectFrom('clinics').selectAll().orderBy('id').execute();
      return rows.map((r) => ClinicSchema.parse(r));
    },
    async upsert(input) {
      const c = parseInput(ClinicInputSchema, input, 'clinic');
      const now = nowIso();
      const values = {
        ...withoutUndefined(c),
        refillAutomationEnabled: toDbBool(c.refillAutomationEnabled),
        updatedAt: now,
      };
      const row = await mapDbErrors('clinic', () =>
        kysely
          .insertInto('clinics')
          .values({ ...values, createdAt: now })
          .onConflict((oc) => oc.column('id').doUpdateSet(values))
          .returningAll()
          .executeTakeFirstOrThrow(),
      );
      return ClinicSchema.parse(row);
    },
    async create(input) {
      const c = parseInput(ClinicInputSchema, input, 'clinic');
      const now = nowIso();
      const row = await mapDbErrors('clinic', () =>
        kysely
          .insertInto('clinics')
          .values({
            ...withoutUndefined(c),
            refillAutomationEnabled: toDbBool(c.refillAutomationEnabled),
            createdAt: now,
            updatedAt: now,
          })
          .returningAll()
          .executeTakeFirstOrThrow(),
      );
      return ClinicSchema.parse(row);
    },
    async updateSettings(id, patch) {
      const p = parseInput(ClinicSettingsPatchSchema, patch, 'clinic settings');
      const row = await kysely
        .updateTable('clinics')
        .set({
          ...withoutUndefined({ ...p, refillAutomationEnabled: undefined }),
          ...(p.refillAutomationEnabled !== undefined
            ? { refillAutomationEnabled: toDbBool(p.refillAutomationEnabled) }
            : {}),
          updatedAt: nowIso(),
        })
        .where('id', '=', id)
        .returningAll()
        .executeTakeFirst();
      return row === undefined ? null : ClinicSchema.parse(row);
    },
    async rotateWebhookSecret(id, rotation) {
      const r = parseInput(
        z.strictObject({ webhookSecret: z.string().min(16), previousExpiresAt: isoUtc }),
        rotation,
        'webhook secret rotation',
      );
      const row = await kysely
        .updateTable('clinics')
        .set((eb) => ({
          previousWebhookSecret: eb.ref('webhookSecret'),
          previousWebhookSecretExpiresAt: r.previousExpiresAt,
          webhookSecret: r.webhookSecret,
          updatedAt: nowIso(),
        }))
        .where('id', '=', id)
        .returningAll()
        .executeTakeFirst();
      return row === undefined ? null : ClinicSchema.parse(row);
    },
  };
}

/** Drops keys whose value is undefined, so an UPDATE leaves those columns as they are. */
function withoutUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}
