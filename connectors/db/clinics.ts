import type { Kysely } from 'kysely';
import { z } from 'zod';
import { BATCH_MODES } from '../fhir/connector.ts';
import { clinicWebhookSecretContext, isEncryptedSecret, type SecretBox } from '../secret-box.ts';
import { keepRollupCurrent } from './analytics-rollup.ts';
import { insertAudit, type AuditInput } from './audit.ts';
import { dbBool, isoUtc, mapDbErrors, needsRowLock, nowIso, parseInput, toDbBool } from './dialect.ts';
import type { Db } from './open.ts';
import type { Database } from './schema.ts';

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

/** The panel sweep's default cadence: weekly, Mondays 06:00 (in the Schedule's time zone). */
export const DEFAULT_SWEEP_CRON = '0 6 * * 1';

const CRON_FIELDS: readonly [number, number][] = [
  [0, 59], // minute
  [0, 23], // hour
  [1, 31], // day of month
  [1, 12], // month
  [0, 7], // day of week (0 and 7: Sunday)
];

/** A five-field cron expression (numbers, `*`, ranges, lists, steps), each value within its field's bounds. */
function isCron(text: string): boolean {
  const fields = text.trim().split(/\s+/);
  if (fields.length !== CRON_FIELDS.length) return false;
  return fields.every((field, i) => {
    const [min, max] = CRON_FIELDS[i]!;
    return field.split(',').every((part) => {
      const m = /^(\*|(\d{1,2})(?:-(\d{1,2}))?)(?:\/(\d{1,2}))?$/.exec(part);
      if (!m) return false;
      const [, , lo, hi, step] = m;
      const inRange = (v: string | undefined) => v === undefined || (Number(v) >= min && Number(v) <= max);
      if (!inRange(lo) || !inRange(hi)) return false;
      if (lo !== undefined && hi !== undefined && Number(lo) > Number(hi)) return false;
      return step === undefined || Number(step) >= 1;
    });
  });
}
export const CronSchema = z
  .string()
  .max(100)
  .refine(isCron, 'a five-field cron expression (minute hour day-of-month month day-of-week), e.g. "0 6 * * 1"');

/** A protocol kind a clinic runs besides the kind of its own protocolId (absent fields: unchanged, or the default). */
export const ClinicKindInputSchema = z.strictObject({
  kind: z.string().min(1).max(64),
  enabled: z.boolean().optional(),
  protocolId: IdSchema.nullable().optional(),
  /** A published version of `protocolId` pinned for this clinic; null: the live version. */
  protocolVersion: z.number().int().positive().nullable().optional(),
  /** The kind's panel sweep cadence; null: `DEFAULT_SWEEP_CRON`. */
  sweepCron: CronSchema.nullable().optional(),
});
export type ClinicKindInput = z.input<typeof ClinicKindInputSchema>;

export const ClinicKindSchema = z.object({
  kind: z.string(),
  enabled: dbBool,
  protocolId: z.string().nullable(),
  protocolVersion: z.number().int().nullable(),
  sweepCron: z.string().nullable(),
  updatedAt: z.string(),
});
/** A kind's settings as stored for one clinic. */
export type ClinicKind = z.output<typeof ClinicKindSchema>;

/** Which protocol a clinic runs for one kind: the answer the worker, the triggers and the API share. */
export interface KindAssignment {
  clinicId: string;
  kind: string;
  protocolId: string;
  /** The version pinned for this clinic; null: it follows the protocol's live version. */
  pinnedVersion: number | null;
  /** The version to run now: the pin, else the live version (null: nothing published yet). */
  version: number | null;
  /** The kind's panel sweep cadence (cron, five fields). */
  sweepCron: string;
}

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
  /** Whether the worker reads in batch Bundles; absent: `auto` on insert, unchanged on replace. */
  fhirBatch: z.enum(BATCH_MODES).optional(),
  protocolId: IdSchema,
  /** A published version of the protocol pinned for this clinic; absent: unchanged on replace (null on insert). */
  protocolVersion: z.number().int().positive().nullable().optional(),
  nurseSlaSeconds: z.number().int().positive(),
  timezone: TimezoneSchema,
  /**
   * Per-kind settings (stored in clinic_kinds, in the same transaction as the clinic): further kinds this clinic runs,
   * and for the kind of its own protocolId the kind's switch (`enabled`, e.g. whether its automation is on).
   */
  kinds: z.array(ClinicKindInputSchema).max(32).optional(),
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
  fhirBatch: z.enum(BATCH_MODES),
  protocolId: z.string(),
  /** Null: follow the protocol's live (globally published) version. */
  protocolVersion: z.number().int().nullable(),
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
  nurseSlaSeconds: z.number().int().positive().optional(),
  protocolId: IdSchema.optional(),
  /** null: follow the protocol's live version. The caller checks it is a published version of the protocol. */
  protocolVersion: z.number().int().positive().nullable().optional(),
  fhirBaseUrl: z.url().optional(),
  fhirClientId: z.string().min(1).optional(),
  fhirTokenUrl: z.url().nullable().optional(),
  fhirPrivateKeyJwk: PrivateKeyTextSchema.nullable().optional(),
  fhirPublicJwk: JwkTextSchema.nullable().optional(),
  fhirBatch: z.enum(BATCH_MODES).optional(),
  /** Per-kind settings to change, merged field by field into what is stored. */
  kinds: z.array(ClinicKindInputSchema).max(32).optional(),
});
export type ClinicSettingsPatch = z.input<typeof ClinicSettingsPatchSchema>;

export interface ClinicRepo {
  get(id: string): Promise<Clinic | null>;
  /**
   * The clinic's `updatedAt`, which every settings change moves (null for an unknown clinic): a one-column read that
   * tells a holder of the clinic's settings (the worker's FHIR connectors) whether they are still current.
   */
  version(id: string): Promise<string | null>;
  list(): Promise<Clinic[]>;
  /** How many clinics exist (a doctor or nurse token bound to none is refused once there are several). */
  count(): Promise<number>;
  /** Creates or replaces the clinic's settings; `createdAt` survives a replace. */
  upsert(input: ClinicInput): Promise<Clinic>;
  /**
   * Creates a clinic; `CONFLICT` when the id is taken (onboarding never overwrites a clinic). With `audit`, the entry
   * commits in the same transaction: no clinic without its audit row, no audit row for a clinic that was not made.
   */
  create(input: ClinicInput, audit?: AuditInput): Promise<Clinic>;
  /**
   * Changes only the given fields (absent: unchanged; null: cleared); null for an unknown clinic. `audit` builds the
   * entry from the row before and after, written in the same transaction (null: no entry).
   */
  updateSettings(
    id: string,
    patch: ClinicSettingsPatch,
    audit?: (before: Clinic, after: Clinic) => AuditInput | null,
  ): Promise<Clinic | null>;
  /**
   * Makes `webhookSecret` the secret and keeps the current one as the previous secret until `previousExpiresAt`, in
   * one UPDATE (two concurrent rotations cannot both keep the same old secret). Null for an unknown clinic. With
   * `audit`, the entry commits with the rotation.
   */
  rotateWebhookSecret(
    id: string,
    rotation: { webhookSecret: string; previousExpiresAt: string },
    audit?: AuditInput,
  ): Promise<Clinic | null>;
  /** The per-kind settings stored for a clinic (kinds besides the one of its own protocolId), by kind id. */
  kinds(clinicId: string): Promise<ClinicKind[]>;
  /**
   * Which protocol the clinic runs for `kind`, and which version: its own `protocolId` when that protocol is of this
   * kind (as every clinic ran before kinds), else its enabled clinic_kinds entry. Null: the clinic does not run it.
   */
  protocolForKind(clinicId: string, kind: string): Promise<KindAssignment | null>;
  /** Every clinic that runs `kind`, with its assignment (for the kind's schedules). */
  listRunning(kind: string): Promise<KindAssignment[]>;
}

/**
 * Clinic settings: webhook secret, FHIR endpoint and credentials, protocol, SLA. With the database's secret box, the
 * webhook secrets (current and previous) are stored as `enc:v1:` ciphertext bound to the clinic (AAD
 * `clinic:<id>:webhookSecret`, so a value copied to another clinic's row does not decrypt) and returned decrypted.
 */
export function createClinicRepo({ kysely, dialect, secrets }: Db): ClinicRepo {
  const lock = needsRowLock(dialect);

  /** A stored row as a Clinic, webhook secrets decrypted when the box is there. */
  function fromRow(row: unknown): Clinic {
    const c = ClinicSchema.parse(row);
    if (!secrets) return c;
    const open = (v: string | null) =>
      v !== null && isEncryptedSecret(v) ? secrets.decrypt(v, clinicWebhookSecretContext(c.id)) : v;
    return { ...c, webhookSecret: open(c.webhookSecret)!, previousWebhookSecret: open(c.previousWebhookSecret) };
  }

  /** A webhook secret as it is stored: ciphertext when the box is there. */
  function seal<T extends string | null | undefined>(clinicId: string, v: T): T {
    if (!secrets || v === null || v === undefined || isEncryptedSecret(v)) return v;
    return secrets.encrypt(v, clinicWebhookSecretContext(clinicId)) as T;
  }

  /** Merges per-kind settings into clinic_kinds inside an open transaction. */
  async function writeKinds(trx: Kysely<Database>, clinicId: string, kinds: readonly ClinicKindInput[]) {
    const now = nowIso();
    for (const k of kinds) {
      const current = await trx
        .selectFrom('clinic_kinds')
        .selectAll()
        .where('clinicId', '=', clinicId)
        .where('kind', '=', k.kind)
        .executeTakeFirst();
      // A pin belongs to its protocol: a new protocolId without a version follows the new protocol's live version.
      const protocolChanged = k.protocolId !== undefined && k.protocolId !== (current?.protocolId ?? null);
      const row = {
        enabled: toDbBool(k.enabled ?? (current ? current.enabled === 1 : false)),
        protocolId: k.protocolId !== undefined ? k.protocolId : (current?.protocolId ?? null),
        protocolVersion:
          k.protocolVersion !== undefined
            ? k.protocolVersion
            : protocolChanged
              ? null
              : (current?.protocolVersion ?? null),
        sweepCron: k.sweepCron !== undefined ? k.sweepCron : (current?.sweepCron ?? null),
        updatedAt: now,
      };
      if (current) {
        await trx
          .updateTable('clinic_kinds')
          .set(row)
          .where('clinicId', '=', clinicId)
          .where('kind', '=', k.kind)
          .execute();
      } else {
        await trx
          .insertInto('clinic_kinds')
          .values({ clinicId, kind: k.kind, ...row })
          .execute();
      }
    }
  }

  async function assignment(clinicId: string, kind: string): Promise<KindAssignment | null> {
    const own = await kysely
      .selectFrom('clinics')
      .innerJoin('protocols', 'protocols.id', 'clinics.protocolId')
      .select(['clinics.protocolId', 'clinics.protocolVersion', 'protocols.kind', 'protocols.publishedVersion'])
      .where('clinics.id', '=', clinicId)
      .executeTakeFirst();
    const entry = await kysely
      .selectFrom('clinic_kinds')
      .innerJoin('protocols', 'protocols.id', 'clinic_kinds.protocolId')
      .select([
        'clinic_kinds.protocolId',
        'clinic_kinds.protocolVersion',
        'clinic_kinds.enabled',
        'clinic_kinds.sweepCron',
        'protocols.kind as protocolKind',
        'protocols.publishedVersion',
      ])
      .where('clinic_kinds.clinicId', '=', clinicId)
      .where('clinic_kinds.kind', '=', kind)
      .executeTakeFirst();
    const sweepCron = entry?.sweepCron ?? DEFAULT_SWEEP_CRON;
    if (own && own.kind === kind) {
      return {
        clinicId,
        kind,
        protocolId: own.protocolId,
        pinnedVersion: own.protocolVersion,
        version: own.protocolVersion ?? own.publishedVersion,
        sweepCron,
      };
    }
    if (!entry || entry.enabled !== 1 || entry.protocolId === null || entry.protocolKind !== kind) return null;
    return {
      clinicId,
      kind,
      protocolId: entry.protocolId,
      pinnedVersion: entry.protocolVersion,
      version: entry.protocolVersion ?? entry.publishedVersion,
      sweepCron,
    };
  }

  async function read(trx: Kysely<Database>, id: string) {
    const row = await trx
      .selectFrom('clinics')
      .selectAll()
      .where('id', '=', id)
      .$if(lock, (q) => q.forUpdate())
      .executeTakeFirst();
    return row === undefined ? null : fromRow(row);
  }

  return {
    async get(id) {
      const row = await kysely.selectFrom('clinics').selectAll().where('id', '=', id).executeTakeFirst();
      return row === undefined ? null : fromRow(row);
    },
    async version(id) {
      const row = await kysely.selectFrom('clinics').select('updatedAt').where('id', '=', id).executeTakeFirst();
      return row === undefined ? null : z.string().parse(row.updatedAt);
    },
    async list() {
      const rows = await kysely.selectFrom('clinics').selectAll().orderBy('id').execute();
      return rows.map(fromRow);
    },
    async count() {
      const { n } = await kysely
        .selectFrom('clinics')
        .select((eb) => eb.fn.countAll().as('n'))
        .executeTakeFirstOrThrow();
      return Number(n);
    },
    async upsert(input) {
      const { kinds, ...c } = parseInput(ClinicInputSchema, input, 'clinic');
      const now = nowIso();
      const values = {
        ...withoutUndefined(c),
        webhookSecret: seal(c.id, c.webhookSecret),
        previousWebhookSecret: seal(c.id, c.previousWebhookSecret),
        updatedAt: now,
      };
      const row = await mapDbErrors('clinic', () =>
        kysely.transaction().execute(async (trx) => {
          const upserted = await trx
            .insertInto('clinics')
            .values({ ...withoutUndefined(values), createdAt: now })
            .onConflict((oc) => oc.column('id').doUpdateSet(withoutUndefined(values)))
            .returningAll()
            .executeTakeFirstOrThrow();
          if (kinds) await writeKinds(trx, c.id, kinds);
          await keepRollupCurrent(trx, dialect, c.id);
          return upserted;
        }),
      );
      return fromRow(row);
    },
    async create(input, audit) {
      const { kinds, ...c } = parseInput(ClinicInputSchema, input, 'clinic');
      const now = nowIso();
      const row = await mapDbErrors('clinic', () =>
        kysely.transaction().execute(async (trx) => {
          const inserted = await trx
            .insertInto('clinics')
            .values(
              withoutUndefined({
                ...c,
                webhookSecret: seal(c.id, c.webhookSecret),
                previousWebhookSecret: seal(c.id, c.previousWebhookSecret),
                createdAt: now,
                updatedAt: now,
              }),
            )
            .returningAll()
            .executeTakeFirstOrThrow();
          if (kinds) await writeKinds(trx, c.id, kinds);
          await keepRollupCurrent(trx, dialect, c.id);
          if (audit) await insertAudit(trx, audit);
          return inserted;
        }),
      );
      return fromRow(row);
    },
    async updateSettings(id, patch, audit) {
      const { kinds, ...p } = parseInput(ClinicSettingsPatchSchema, patch, 'clinic settings');
      return kysely.transaction().execute(async (trx) => {
        const before = await read(trx, id);
        if (!before) return null;
        if (kinds) await writeKinds(trx, id, kinds);
        const row = await trx
          .updateTable('clinics')
          .set({ ...withoutUndefined(p), updatedAt: nowIso() })
          .where('id', '=', id)
          .returningAll()
          .executeTakeFirstOrThrow();
        // A new time zone moves every case's local day: the analytics rollup is rebuilt in this transaction.
        await keepRollupCurrent(trx, dialect, id);
        const after = fromRow(row);
        const entry = audit?.(before, after);
        if (entry) await insertAudit(trx, entry);
        return after;
      });
    },
    async rotateWebhookSecret(id, rotation, audit) {
      const r = parseInput(
        z.strictObject({ webhookSecret: z.string().min(16), previousExpiresAt: isoUtc }),
        rotation,
        'webhook secret rotation',
      );
      return kysely.transaction().execute(async (trx) => {
        const row = await trx
          .updateTable('clinics')
          .set((eb) => ({
            // Ciphertext moves as is: both fields share the clinic's webhook-secret context.
            previousWebhookSecret: eb.ref('webhookSecret'),
            previousWebhookSecretExpiresAt: r.previousExpiresAt,
            webhookSecret: seal(id, r.webhookSecret),
            updatedAt: nowIso(),
          }))
          .where('id', '=', id)
          .returningAll()
          .executeTakeFirst();
        if (row === undefined) return null;
        if (audit) await insertAudit(trx, audit);
        return fromRow(row);
      });
    },
    async kinds(clinicId) {
      const rows = await kysely
        .selectFrom('clinic_kinds')
        .select(['kind', 'enabled', 'protocolId', 'protocolVersion', 'sweepCron', 'updatedAt'])
        .where('clinicId', '=', clinicId)
        .orderBy('kind')
        .execute();
      return rows.map((r) => ClinicKindSchema.parse(r));
    },
    protocolForKind: assignment,
    async listRunning(kind) {
      const own = await kysely
        .selectFrom('clinics')
        .innerJoin('protocols', 'protocols.id', 'clinics.protocolId')
        .select('clinics.id')
        .where('protocols.kind', '=', kind)
        .execute();
      const entries = await kysely
        .selectFrom('clinic_kinds')
        .select('clinicId as id')
        .where('kind', '=', kind)
        .where('enabled', '=', 1)
        .execute();
      const ids = [...new Set([...own, ...entries].map((r) => r.id))].sort();
      const found = await Promise.all(ids.map((id) => assignment(id, kind)));
      return found.filter((a): a is KindAssignment => a !== null);
    },
  };
}

/**
 * Encrypts every webhook secret (current and previous) still stored in plain text, e.g. by a version before secrets
 * were encrypted. Idempotent, and safe from several processes at once: each UPDATE applies only if the row still
 * holds the plaintext it read.
 */
export async function sealPlaintextClinicSecrets(kysely: Kysely<Database>, secrets: SecretBox): Promise<number> {
  const rows = await kysely
    .selectFrom('clinics')
    .select(['id', 'webhookSecret', 'previousWebhookSecret'])
    .where((eb) =>
      eb.or([
        eb('webhookSecret', 'not like', 'enc:v1:%'),
        eb.and([eb('previousWebhookSecret', 'is not', null), eb('previousWebhookSecret', 'not like', 'enc:v1:%')]),
      ]),
    )
    .execute();
  let sealed = 0;
  for (const row of rows) {
    const context = clinicWebhookSecretContext(row.id);
    for (const field of ['webhookSecret', 'previousWebhookSecret'] as const) {
      const value = row[field];
      if (value === null || isEncryptedSecret(value)) continue;
      const result = await kysely
        .updateTable('clinics')
        .set({ [field]: secrets.encrypt(value, context) })
        .where('id', '=', row.id)
        .where(field, '=', value)
        .executeTakeFirst();
      sealed += Number(result.numUpdatedRows);
    }
  }
  return sealed;
}

/** Drops keys whose value is undefined, so an UPDATE leaves those columns as they are. */
function withoutUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}
