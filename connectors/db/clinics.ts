import { z } from 'zod';
import { dbBool, mapDbErrors, nowIso, parseInput, toDbBool } from './dialect.ts';
import type { Db } from './open.ts';

/** Stable ids that may appear in workflow ids, URLs and logs. */
export const IdSchema = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, 'letters, digits, . _ - (max 128)');

const TimezoneSchema = z.string().refine((tz) => {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}, 'unknown IANA time zone');

const JwkTextSchema = z.string().refine((s) => {
  try {
    const v: unknown = JSON.parse(s);
    return typeof v === 'object' && v !== null && !Array.isArray(v) && 'kty' in v;
  } catch {
    return false;
  }
}, 'must be a JWK as JSON text');

/** What an admin (or the demo seed) writes for a clinic. */
export const ClinicInputSchema = z.strictObject({
  id: IdSchema,
  name: z.string().min(1).max(200),
  /** HMAC key for the clinic's webhooks; short secrets are refused. */
  webhookSecret: z.string().min(16),
  fhirBaseUrl: z.url(),
  fhirClientId: z.string().min(1),
  fhirPrivateKeyJwk: JwkTextSchema.nullable().default(null),
  fhirTokenUrl: z.url().nullable().default(null),
  protocolId: IdSchema,
  refillAutomationEnabled: z.boolean(),
  nurseSlaSeconds: z.number().int().positive(),
  timezone: TimezoneSchema,
});
export type ClinicInput = z.input<typeof ClinicInputSchema>;

export const ClinicSchema = z.object({
  id: z.string(),
  name: z.string(),
  webhookSecret: z.string(),
  fhirBaseUrl: z.string(),
  fhirClientId: z.string(),
  fhirPrivateKeyJwk: z.string().nullable(),
  fhirTokenUrl: z.string().nullable(),
  protocolId: z.string(),
  refillAutomationEnabled: dbBool,
  nurseSlaSeconds: z.number().int(),
  timezone: z.string(),
  createdAt: z.string(),
  updatedAt: z.string(),
});
/** A clinic as stored. Holds secrets (webhookSecret, fhirPrivateKeyJwk): never log or return it whole. */
export type Clinic = z.output<typeof ClinicSchema>;

export interface ClinicRepo {
  get(id: string): Promise<Clinic | null>;
  list(): Promise<Clinic[]>;
  /** Creates or replaces the clinic's settings; `createdAt` survives a replace. */
  upsert(input: ClinicInput): Promise<Clinic>;
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
      const values = { ...c, refillAutomationEnabled: toDbBool(c.refillAutomationEnabled), updatedAt: now };
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
  };
}
