import { randomBytes } from 'node:crypto';
import type { OpenAPIHono } from '@hono/zod-openapi';
import { createRoute, z } from '@hono/zod-openapi';
import { calculateJwkThumbprint, type JWK } from 'jose';
import type { AuditInput, Clinic } from '../../connectors/db/index.ts';
import { clinicPrivateKeyJwk } from '../../connectors/fhir/clinic-connectors.ts';
import { parseClientKey, publicJwkOf } from '../../connectors/fhir/client-key.ts';
import { checkFhirConnection, CONNECTION_STEPS, TEST_READ } from '../../connectors/fhir/connection-check.ts';
import { BATCH_MODES } from '../../connectors/fhir/connector.ts';
import { assertEgressUrl, egressPolicy, sameOrigin } from '../../connectors/fhir/egress.ts';
import { clinicKeyContext, createSecretBox, isEncryptedSecret, type SecretBox } from '../../connectors/secret-box.ts';
import { DEFAULT_SWEEP_CRON } from '../../connectors/db/clinics.ts';
import { AppError } from '../../rules/index.ts';
import { KIND_IDS } from '../../rules/kinds/index.ts';
import { KIND_APIS } from '../kinds/index.ts';
import type { ApiDeps } from '../deps.ts';
import type { ApiEnv, Principal } from '../env.ts';
import { errorResponses, openApiRouter } from '../errors.ts';
import { assertGlobalAdmin, clinicVisibleTo, requireRole, storeTokenLookup } from '../middleware/auth.ts';
import { Id, keywords, TimeZone } from '../schemas.ts';
import { syncSweepSchedule } from './sweeps.ts';

/** How long the previous webhook secret keeps verifying after a rotation, unless the admin says otherwise. */
export const DEFAULT_WEBHOOK_GRACE_SECONDS = 24 * 3600;
const MAX_GRACE_SECONDS = 30 * 24 * 3600;
/** Per HTTP request of a connection check; the whole check stays well under a proxy's timeout. */
const CHECK_TIMEOUT_MS = 5000;

const AnyHttpUrl = z
  .url({ protocol: /^https?$/ })
  .max(2000)
  .openapi({ example: 'https://ehr.example.org/fhir/R4' });

// A cron expression in five fields, each value within its field's bounds: the pattern is the whole check (the API
// accepts exactly what it declares). Values, `*`, `a-b`, each with an optional `/step`, comma-separated.
const cronField = (value: string) => {
  const item = `(?:\\*|${value}(?:-${value})?)(?:/[1-9][0-9]?)?`;
  return `${item}(?:,${item})*`;
};
const CRON_PATTERN = new RegExp(
  `^${[
    '[0-5]?[0-9]', // minute
    '(?:[01]?[0-9]|2[0-3])', // hour
    '(?:0?[1-9]|[12][0-9]|3[01])', // day of month
    '(?:0?[1-9]|1[0-2])', // month
    '[0-7]', // day of week (0 and 7: Sunday)
  ]
    .map(cronField)
    .join(' ')}$`,
);
const Cron = z
  .string()
  .max(100)
  .regex(CRON_PATTERN, 'a five-field cron expression (minute hour day-of-month month day-of-week), e.g. "0 6 * * 1"')
  .openapi({ example: DEFAULT_SWEEP_CRON });

const KindId = z.enum(KIND_IDS as [string, ...string[]]);

/**
 * Clinic fields from before kinds that clients rely on, each an alias of one kind's switch (`enabled` in
 * clinic_kinds), as the kinds declare them (api/kinds/<k>/: `clinicSwitchAliases`).
 */
const SWITCH_ALIASES: readonly { field: string; kind: string }[] = KIND_APIS.flatMap((k) =>
  (k.clinicSwitchAliases ?? []).map((field) => ({ field, kind: k.kind })),
);

/**
 * One schema field per alias, spread where these fields have always stood (the contract's property order). Typed
 * empty: handlers read them through `switchesOf`.
 */
function aliasFields(field: () => z.ZodType): Record<never, never> {
  return Object.fromEntries(SWITCH_ALIASES.map((a) => [a.field, field()]));
}

/** The kind switches a body sets through the aliases, with the JSON path of each. */
function switchesOf(body: object): { kind: string; enabled: boolean; path: string }[] {
  return SWITCH_ALIASES.flatMap(({ field, kind }) => {
    const v = (body as Record<string, unknown>)[field];
    return typeof v === 'boolean' ? [{ kind, enabled: v, path: `$.${field}` }] : [];
  });
}

/** One protocol kind as a clinic runs it. */
const KindSettingView = z
  .object({
    kind: z.string(),
    /** Whether the clinic runs this kind (the kind of the clinic's own protocolId always runs). */
    enabled: z.boolean(),
    /** The protocol it runs for this kind; null: none chosen yet. */
    protocolId: z.string().nullable(),
    /** The published version pinned for this clinic; null: the protocol's live version. */
    protocolVersion: z.number().int().nullable(),
    /** When the kind's panel sweep runs (cron, five fields; default weekly). */
    sweepCron: z.string(),
    /**
     * For the kind of the clinic's own protocolId (which always runs, so `enabled` here is always true): the clinic
     * field that switches its automation, e.g. `refillAutomationEnabled`; null when it has none. Null for every other
     * kind, whose `enabled` is its switch.
     */
    switchField: z.string().nullable(),
  })
  .openapi('ClinicKind');

/** Per-kind settings to change: absent fields stay as they are. */
const KindSettingBody = z
  .strictObject({
    kind: KindId,
    enabled: z.boolean().optional(),
    protocolId: Id.nullable().optional(),
    /** Pin a published version of the kind's protocol; null: its live version. A new protocolId clears the pin. */
    protocolVersion: z.number().int().min(1).max(1_000_000_000).nullable().optional(),
    /** null: the default cadence (weekly). */
    sweepCron: Cron.nullable().optional(),
  })
  .openapi('ClinicKindSettings');
const KindSettingsBody = z.array(KindSettingBody).min(1).max(KIND_IDS.length);

const FhirBatch = z.enum(BATCH_MODES).openapi('FhirBatchMode');

const ClinicView = z
  .object({
    id: z.string(),
    name: z.string(),
    fhirBaseUrl: z.string(),
    fhirClientId: z.string(),
    fhirTokenUrl: z.string().nullable(),
    /** Whether the worker reads the EHR in batch Bundles: auto (when advertised, else when a probe is answered). */
    fhirBatch: FhirBatch,
    fhirKey: z.object({
      set: z.boolean(),
      /** True when the stored key is ciphertext (keys entered through this API always are). */
      encryptedAtRest: z.boolean(),
      keyId: z.string().nullable(),
      /** RFC 7638 SHA-256 thumbprint of the public key. */
      thumbprint: z.string().nullable(),
      publicJwk: z.record(z.string(), z.unknown()).nullable(),
    }),
    webhookSecret: z.object({
      set: z.boolean(),
      /** Until when the secret before the last rotation is still accepted; null when it no longer is. */
      previousValidUntil: z.string().nullable(),
    }),
    protocolId: z.string(),
    /** The published version assigned to this clinic; null: the protocol's live version. */
    protocolVersion: z.number().int().nullable(),
    ...aliasFields(() => z.boolean()),
    nurseSlaSeconds: z.number().int(),
    timezone: z.string(),
    /** Every protocol kind, in the registry's order: whether the clinic runs it, with which protocol and cadence. */
    kinds: z.array(KindSettingView),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .openapi('Clinic');
type ClinicViewT = z.infer<typeof ClinicView>;

const CreateClinicBody = z
  .strictObject({
    id: Id,
    name: z.string().min(1).max(200),
    fhirBaseUrl: AnyHttpUrl,
    /** Token endpoint; absent ⇒ discovered from the EHR's .well-known/smart-configuration. */
    fhirTokenUrl: AnyHttpUrl.optional(),
    fhirClientId: z.string().min(1).max(200),
    /** Read the EHR in batch Bundles: auto (default: when advertised, else when a probe is answered), always, never. */
    fhirBatch: FhirBatch.default('auto'),
    /** SMART Backend Services private key: a JWK (object or JSON text) or PEM. Stored encrypted; never returned. */
    privateKey: z.union([z.string().min(1).max(20_000), z.record(z.string(), z.unknown())]).optional(),
    /** `kid` to sign with (must match the key registered with the EHR); default: the key's own, else its thumbprint. */
    keyId: z
      .string()
      .regex(/^[A-Za-z0-9._:-]{1,128}$/)
      .optional(),
    protocolId: Id,
    /** Off by default: a new clinic starts with every request going to a nurse until an admin switches it on. */
    ...aliasFields(() => z.boolean().default(false)),
    nurseSlaSeconds: z
      .number()
      .int()
      .min(60)
      .max(30 * 24 * 3600)
      .default(4 * 3600),
    timezone: TimeZone,
    /** Further protocol kinds to run (each kind at most once; the kind of protocolId always runs). */
    kinds: KindSettingsBody.optional(),
  })
  .refine((b) => b.keyId === undefined || b.privateKey !== undefined, {
    message: 'keyId needs a privateKey',
    path: ['keyId'],
  })
  .openapi('ClinicCreate', keywords({ dependentRequired: { keyId: ['privateKey'] } }));

const SettingsBody = z
  .strictObject({
    name: z.string().min(1).max(200).optional(),
    timezone: TimeZone.optional(),
    ...aliasFields(() => z.boolean().optional()),
    nurseSlaSeconds: z
      .number()
      .int()
      .min(60)
      .max(30 * 24 * 3600)
      .optional(),
    protocolId: Id.optional(),
    /**
     * Pin a published (or retired) version of the clinic's protocol; null: follow its live version. Changing
     * `protocolId` without this clears the pin.
     */
    protocolVersion: z.number().int().min(1).max(1_000_000_000).nullable().optional(),
    /** Per-kind settings to change (each kind at most once). */
    kinds: KindSettingsBody.optional(),
  })
  .refine((b) => Object.keys(b).length > 0, { message: 'nothing to change' })
  .openapi('ClinicSettings', { minProperties: 1 });

const ConnectionBody = z
  .strictObject({
    fhirBaseUrl: AnyHttpUrl.optional(),
    /** null: discover the token endpoint from the EHR again. */
    fhirTokenUrl: AnyHttpUrl.nullable().optional(),
    fhirClientId: z.string().min(1).max(200).optional(),
    /**
     * Read the EHR in batch Bundles: `auto` (when the CapabilityStatement advertises batch, else when one probe is
     * answered), `always` or `never` (an EHR whose batch misbehaves: the reads go out as parallel searches).
     */
    fhirBatch: FhirBatch.optional(),
    /** A new private key (JWK or PEM), stored encrypted; null removes the key (no access token is sent). */
    privateKey: z
      .union([z.string().min(1).max(20_000), z.record(z.string(), z.unknown())])
      .nullable()
      .optional(),
    keyId: z
      .string()
      .regex(/^[A-Za-z0-9._:-]{1,128}$/)
      .optional(),
  })
  .refine((b) => Object.keys(b).length > 0, { message: 'nothing to change' })
  .refine((b) => b.keyId === undefined || (b.privateKey !== undefined && b.privateKey !== null), {
    message: 'keyId needs a privateKey',
    path: ['keyId'],
  })
  .openapi(
    'ClinicEhrConnection',
    keywords({
      minProperties: 1,
      dependentSchemas: { keyId: { required: ['privateKey'], properties: { privateKey: { not: { type: 'null' } } } } },
    }),
  );

const RotateBody = z
  .strictObject({ graceSeconds: z.number().int().min(0).max(MAX_GRACE_SECONDS).optional() })
  .openapi('WebhookSecretRotation');

const ConnectionReportView = z
  .object({
    ok: z.boolean(),
    fhirVersion: z.string().nullable(),
    /** Whether the worker will read this EHR in batch Bundles: the clinic's setting applied to batchSupport. */
    batch: z.boolean(),
    /** The clinic's batch setting (fhirBatch). */
    batchSetting: FhirBatch,
    /** Whether the EHR batches, probed whatever the setting: advertised, answered a probe unadvertised, or not. */
    batchSupport: z.enum(['advertised', 'probed', 'none']),
    transaction: z.boolean(),
    conditionalCreateTypes: z.array(z.string()),
    smart: z.object({ configured: z.boolean(), tokenEndpoint: z.string().nullable(), tokenOk: z.boolean() }),
    /** The check step by step, in the order run: each passed, failed (with a fix in plain words) or was skipped. */
    steps: z.array(
      z
        .object({
          id: z.enum(CONNECTION_STEPS),
          title: z.string(),
          status: z.enum(['pass', 'fail', 'skipped']),
          /** What happened, in plain words. */
          detail: z.string(),
          /** What to do about a failure; null when the step passed or was skipped. */
          fix: z.string().nullable(),
        })
        .openapi('ConnectionCheckStep'),
    ),
    /** Every failure's detail, and notes (no key), as one list. */
    problems: z.array(z.string()),
  })
  .openapi('ConnectionReport');

const bearer = [{ bearer: [] }];
const IdParam = z.object({ id: Id.openapi({ example: 'demo-clinic' }) });
const json = <T extends z.ZodType>(schema: T, description: string) => ({
  description,
  content: { 'application/json': { schema } },
});

const listRoute = createRoute({
  method: 'get',
  path: '/v1/clinics',
  summary: 'Clinics (admin); never secrets',
  security: bearer,
  responses: { 200: json(z.object({ items: z.array(ClinicView) }), 'Clinics'), ...errorResponses(401, 403) },
});

const getRoute = createRoute({
  method: 'get',
  path: '/v1/clinics/{id}',
  summary: 'One clinic (admin): settings, key id and thumbprint, never secrets',
  security: bearer,
  request: { params: IdParam },
  responses: { 200: json(ClinicView, 'The clinic'), ...errorResponses(400, 401, 403, 404) },
});

const Created = z
  .object({
    clinic: ClinicView,
    /** Shown once: configure it in the EHR's webhook sender. It cannot be read again, only rotated. */
    webhookSecret: z.string(),
    /** The public key to register with the EHR for this client, when a key was given. */
    publicJwks: z.object({ keys: z.array(z.record(z.string(), z.unknown())) }).nullable(),
  })
  .openapi('ClinicCreated');

const createRouteDef = createRoute({
  method: 'post',
  path: '/v1/clinics',
  summary: 'Onboard a clinic (admin): EHR endpoint, SMART client, protocol; the webhook secret is shown once',
  security: bearer,
  request: { body: { content: { 'application/json': { schema: CreateClinicBody } }, required: true } },
  responses: {
    201: json(Created, 'Created'),
    ...errorResponses(400, 401, 403, 409, 422),
  },
});

const settingsRoute = createRoute({
  method: 'patch',
  path: '/v1/clinics/{id}/settings',
  summary: `Change ${[...KIND_APIS.flatMap((k) => k.clinicSwitchLabel ?? []), 'nurse SLA', 'protocol'].join(', ')} or the protocol kinds the clinic runs (admin)`,
  security: bearer,
  request: {
    params: IdParam,
    body: { content: { 'application/json': { schema: SettingsBody } }, required: true },
  },
  responses: { 200: json(ClinicView, 'Updated'), ...errorResponses(400, 401, 403, 404, 409, 422) },
});

const connectionRoute = createRoute({
  method: 'patch',
  path: '/v1/clinics/{id}/ehr-connection',
  summary:
    'Change the EHR endpoint, SMART client id, token URL, private key or batch setting (admin); a new key is stored encrypted',
  description: 'Workers pick the change up on their next FHIR call for the clinic (connectors are rebuilt per update).',
  security: bearer,
  request: {
    params: IdParam,
    body: { content: { 'application/json': { schema: ConnectionBody } }, required: true },
  },
  responses: {
    200: json(Created.omit({ webhookSecret: true }).openapi('ClinicEhrConnectionChanged'), 'Updated'),
    ...errorResponses(400, 401, 403, 404, 422),
  },
});

const rotateRoute = createRoute({
  method: 'post',
  path: '/v1/clinics/{id}/webhook-secret/rotate',
  summary: 'New webhook secret, shown once; the old one keeps verifying for graceSeconds (default 24 h)',
  description:
    'Rotating again within the grace period retires the oldest secret at once: only the current and the ' +
    'immediately previous secret are ever accepted.',
  security: bearer,
  request: {
    params: IdParam,
    body: { content: { 'application/json': { schema: RotateBody } }, required: false },
  },
  responses: {
    200: json(
      z.object({ webhookSecret: z.string(), previousValidUntil: z.string() }).openapi('WebhookSecretRotated'),
      'Rotated',
    ),
    ...errorResponses(400, 401, 403, 404),
  },
});

const checkRoute = createRoute({
  method: 'post',
  path: '/v1/clinics/{id}/connection-check',
  summary: 'Check the EHR connection step by step: CapabilityStatement, SMART discovery, token, one test read (admin)',
  description:
    'Each step passes, fails with a fix in plain words, or is skipped. The test read is `GET Patient?_summary=count`: ' +
    'a count, no patient record. Answers 200 with `ok: false` and the failed steps when the EHR is down or refuses; ' +
    'never 5xx for EHR faults. The CapabilityStatement step also finds whether the EHR batches (advertised, or by ' +
    'probing with an empty batch Bundle) and says what the clinic’s batch setting makes of it. Audited ' +
    '(`clinic.connection_checked`).',
  security: bearer,
  request: { params: IdParam },
  responses: { 200: json(ConnectionReportView, 'The report'), ...errorResponses(400, 401, 403, 404) },
});

/**
 * The audit actions that record an admin's change to a clinic's configuration (or a check of its connection): what
 * `GET /v1/clinics/{id}/changes` lists. Access to patient data is never among them.
 */
export const CLINIC_CHANGE_ACTIONS = [
  'clinic.created',
  'clinic.settings_changed',
  'clinic.ehr_connection_changed',
  'clinic.webhook_secret_rotated',
  'clinic.connection_checked',
  'signing_policy.updated',
  'protocol.published',
  'protocol.rolled_back',
  'value_set.loaded',
  'value_set.removed',
  'token.issued',
  'token.revoked',
] as const;

const ClinicChange = z
  .object({
    /** The audit entry's id (newest first). */
    id: z.number().int(),
    at: z.string(),
    /** Who: the person (token's userId) and the role they acted in. */
    actorId: z.string(),
    actorRole: z.string().nullable(),
    action: z.enum(CLINIC_CHANGE_ACTIONS),
    protocolId: z.string().nullable(),
    protocolVersion: z.number().int().nullable(),
    requestId: z.string().nullable(),
    /** What changed, as the change recorded it (e.g. `changes: { field: { from, to } }`); never a secret. */
    detail: z.record(z.string(), z.unknown()),
  })
  .openapi('ClinicChange');

const ChangesQuery = z.object({
  limit: z.coerce.number().int().min(1).max(100).default(25),
  /** `nextCursor` of the previous page. */
  cursor: z
    .string()
    .regex(/^[1-9][0-9]{0,14}$/, 'not a cursor from nextCursor')
    .optional(),
});

const changesRoute = createRoute({
  method: 'get',
  path: '/v1/clinics/{id}/changes',
  summary: 'Who changed the clinic’s configuration, what and when (admin): its admin audit entries, newest first',
  description:
    `The audit entries of the actions ${CLINIC_CHANGE_ACTIONS.map((a) => `\`${a}\``).join(', ')} for this ` +
    'clinic (a global publish, which moves every unpinned clinic, is not a change of one clinic). No patient data.',
  security: bearer,
  request: { params: IdParam, query: ChangesQuery },
  responses: {
    200: json(
      z.object({ items: z.array(ClinicChange), nextCursor: z.string().nullable() }).openapi('ClinicChanges'),
      'A page of changes',
    ),
    ...errorResponses(400, 401, 403, 404),
  },
});

/** A private key the schema admits but that is not a usable key (not PEM/JWK, too short, wrong curve) is 422. */
async function clientKey(privateKey: string | Record<string, unknown>, keyId: string | undefined) {
  try {
    return await parseClientKey(privateKey, keyId);
  } catch (err) {
    if (!(err instanceof AppError && err.code === 'INVALID_INPUT')) throw err;
    throw new AppError('UNPROCESSABLE', err.message, { issues: [...err.issues] });
  }
}

function newWebhookSecret(): string {
  return `whsec_${randomBytes(32).toString('base64url')}`;
}

/**
 * Clinic onboarding and settings for the role `admin`: list, read, create (SMART key stored encrypted, webhook secret
 * shown once), change settings, rotate the webhook secret with a grace period, check the EHR connection. Every change
 * is audited without secrets. A token bound to a clinic manages only that clinic and cannot create clinics.
 */
export function clinicRoutes(deps: ApiDeps): OpenAPIHono<ApiEnv> {
  const { store } = deps;
  const lookup = storeTokenLookup(store, deps.now);
  const app = openApiRouter();
  for (const path of ['/v1/clinics', '/v1/clinics/*']) {
    app.use(path, requireRole(lookup, 'admin'));
  }

  // Built on first use: a deployment without PAYLOAD_KEY still serves every route that handles no key.
  let box: SecretBox | undefined;
  const secrets = () => (box ??= createSecretBox(deps.config));

  const egress = egressPolicy(deps.config);

  /** An audit entry for a clinic change; the store writes it in the change's own transaction. */
  const auditEntry = (
    principal: Principal,
    requestId: string,
    action: string,
    clinicId: string,
    detail: object,
  ): AuditInput => ({
    at: deps.now().toISOString(),
    actorType: 'user',
    actorId: principal.userId,
    actorRole: principal.role,
    action,
    clinicId,
    requestId,
    detail: detail as Record<string, never>,
  });
  const audit = (...args: Parameters<typeof auditEntry>) => store.audit.appendAudit(auditEntry(...args));

  /**
   * EHR URLs an admin enters must pass the egress policy (no loopback, metadata or private addresses outside
   * development; https in production): 400 with the field's path, before anything is stored.
   */
  function assertEhrUrls(urls: { fhirBaseUrl?: string | null | undefined; fhirTokenUrl?: string | null | undefined }) {
    const issues: { path: string; message: string }[] = [];
    for (const field of ['fhirBaseUrl', 'fhirTokenUrl'] as const) {
      const url = urls[field];
      if (url === undefined || url === null) continue;
      try {
        assertEgressUrl(url, egress, field);
      } catch (err) {
        issues.push({ path: `$.${field}`, message: err instanceof AppError ? err.message : 'refused' });
      }
    }
    const first = issues[0];
    if (first) throw new AppError('INVALID_INPUT', `Invalid request at ${first.path}: ${first.message}`, { issues });
  }

  const visibleClinic = clinicVisibleTo(store);

  async function assertPublishedProtocol(protocolId: string): Promise<void> {
    if (!(await store.protocols.getPublished(protocolId))) {
      throw new AppError('UNPROCESSABLE', 'No published protocol with this id', {
        issues: [{ path: '$.protocolId', message: 'no published protocol with this id' }],
      });
    }
  }

  /** A clinic can be pinned only to a version that was published (immutable): 422 if absent, 409 for a draft. */
  async function assertAssignableVersion(protocolId: string, version: number): Promise<void> {
    const v = await store.protocols.getVersion(protocolId, version);
    if (!v) {
      throw new AppError('PROTOCOL_INVALID', 'No such version of the clinic’s protocol', {
        issues: [{ path: '$.protocolVersion', message: `protocol ${protocolId} has no version ${version}` }],
      });
    }
    if (v.status === 'draft') {
      throw new AppError('CONFLICT', 'A draft cannot be assigned to a clinic; publish it first', {
        context: { protocolId, version },
      });
    }
  }

  type KindSettings = z.infer<typeof KindSettingBody>;
  const unprocessable = (path: string, message: string) =>
    new AppError('UNPROCESSABLE', `Invalid request at ${path}: ${message}`, { issues: [{ path, message }] });

  /** The kind of the clinic's own protocolId (its kind settings live in the clinic row). */
  async function ownKind(protocolId: string): Promise<string | null> {
    return (await store.protocols.get(protocolId))?.kind ?? null;
  }

  /** Every kind as the clinic runs it, in the registry's order. */
  async function kindViews(clinic: Clinic): Promise<z.infer<typeof KindSettingView>[]> {
    const own = await ownKind(clinic.protocolId);
    const stored = new Map((await store.clinics.kinds(clinic.id)).map((k) => [k.kind, k]));
    return KIND_IDS.map((kind) => {
      const row = stored.get(kind);
      const sweepCron = row?.sweepCron ?? DEFAULT_SWEEP_CRON;
      return own === kind
        ? {
            kind,
            enabled: true,
            protocolId: clinic.protocolId,
            protocolVersion: clinic.protocolVersion,
            sweepCron,
            switchField: SWITCH_ALIASES.find((a) => a.kind === kind)?.field ?? null,
          }
        : {
            kind,
            enabled: row?.enabled ?? false,
            protocolId: row?.protocolId ?? null,
            protocolVersion: row?.protocolVersion ?? null,
            sweepCron,
            switchField: null,
          };
    });
  }

  /**
   * Checks per-kind settings against the protocols they name (422 with the JSON path; 409 for a draft version): each
   * kind once, the own kind's protocol changed through protocolId only, a protocol of the entry's kind, a version of
   * that protocol, and an enabled kind with a protocol.
   */
  async function checkKinds(clinicId: string | null, own: string | null, entries: readonly KindSettings[]) {
    const stored = new Map(clinicId ? (await store.clinics.kinds(clinicId)).map((k) => [k.kind, k]) : []);
    const seen = new Set<string>();
    for (const [i, k] of entries.entries()) {
      const at = `$.kinds[${i}]`;
      if (seen.has(k.kind)) throw unprocessable(`${at}.kind`, `kind ${k.kind} is given twice`);
      seen.add(k.kind);
      if (k.kind === own) {
        if (k.enabled === false || k.protocolId !== undefined || k.protocolVersion !== undefined) {
          throw unprocessable(
            `${at}.kind`,
            `the clinic's protocolId runs kind ${k.kind}: change protocolId / protocolVersion instead (only sweepCron here)`,
          );
        }
        continue;
      }
      const before = stored.get(k.kind);
      const protocolId = k.protocolId !== undefined ? k.protocolId : (before?.protocolId ?? null);
      if (k.protocolId !== undefined && k.protocolId !== null) {
        const p = await store.protocols.get(k.protocolId);
        if (!p || p.publishedVersion === null) {
          throw unprocessable(`${at}.protocolId`, 'no published protocol with this id');
        }
        if (p.kind !== k.kind) {
          throw unprocessable(`${at}.protocolId`, `protocol ${p.id} is of kind ${p.kind}, not ${k.kind}`);
        }
      }
      const protocolChanged = k.protocolId !== undefined && k.protocolId !== (before?.protocolId ?? null);
      const version =
        k.protocolVersion !== undefined
          ? k.protocolVersion
          : protocolChanged
            ? null
            : (before?.protocolVersion ?? null);
      if (version !== null) {
        if (protocolId === null) throw unprocessable(`${at}.protocolVersion`, 'a version needs a protocolId');
        const v = await store.protocols.getVersion(protocolId, version);
        if (!v) throw unprocessable(`${at}.protocolVersion`, `protocol ${protocolId} has no version ${version}`);
        if (v.status === 'draft') {
          throw new AppError('CONFLICT', 'A draft cannot be assigned to a clinic; publish it first', {
            context: { protocolId, version },
          });
        }
      }
      if ((k.enabled ?? before?.enabled ?? false) && protocolId === null) {
        throw unprocessable(`${at}.protocolId`, `kind ${k.kind} is enabled without a protocol: give its protocolId`);
      }
    }
  }

  /**
   * The per-kind settings to store: the body's `kinds` (for the clinic's own kind without `enabled`: that kind always
   * runs, and its stored `enabled` is its switch) and the switches set through aliases, merged per kind.
   *
   * @throws AppError `UNPROCESSABLE` when an alias and a `kinds` entry set the same kind's switch differently.
   */
  function kindsToStore(
    entries: readonly KindSettings[] | undefined,
    own: string | null,
    switches: readonly { kind: string; enabled: boolean; path: string }[],
  ): KindSettings[] | undefined {
    const merged = new Map<string, KindSettings>();
    for (const e of entries ?? []) {
      const { enabled: _enabled, ...rest } = e;
      merged.set(e.kind, e.kind === own ? rest : e);
    }
    for (const sw of switches) {
      const entry = merged.get(sw.kind);
      if (entry?.enabled !== undefined && entry.enabled !== sw.enabled) {
        throw unprocessable(sw.path, `kinds sets kind ${sw.kind} ${entry.enabled ? 'on' : 'off'}; give one of the two`);
      }
      merged.set(sw.kind, { ...entry, kind: sw.kind, enabled: sw.enabled });
    }
    return merged.size ? [...merged.values()] : undefined;
  }

  /** The aliased switches' values for a clinic, by field (a kind without a stored entry is off). */
  async function switchValues(clinic: Clinic): Promise<Record<string, boolean>> {
    const stored = new Map((await store.clinics.kinds(clinic.id)).map((k) => [k.kind, k.enabled]));
    return Object.fromEntries(SWITCH_ALIASES.map((a) => [a.field, stored.get(a.kind) ?? false]));
  }

  async function view(clinic: Clinic): Promise<ClinicViewT> {
    let publicJwk: JWK | null = null;
    if (clinic.fhirPublicJwk) publicJwk = JSON.parse(clinic.fhirPublicJwk) as JWK;
    else if (clinic.fhirPrivateKeyJwk && !isEncryptedSecret(clinic.fhirPrivateKeyJwk)) {
      publicJwk = (await publicJwkOf(clinic.fhirPrivateKeyJwk))?.publicJwk ?? null; // legacy plaintext rows
    }
    const { previousWebhookSecret: previous, previousWebhookSecretExpiresAt: until } = clinic;
    const previousValid = previous !== null && until !== null && Date.parse(until) > deps.now().getTime();
    return {
      id: clinic.id,
      name: clinic.name,
      fhirBaseUrl: clinic.fhirBaseUrl,
      fhirClientId: clinic.fhirClientId,
      fhirTokenUrl: clinic.fhirTokenUrl,
      fhirBatch: clinic.fhirBatch,
      fhirKey: {
        set: clinic.fhirPrivateKeyJwk !== null,
        encryptedAtRest: clinic.fhirPrivateKeyJwk !== null && isEncryptedSecret(clinic.fhirPrivateKeyJwk),
        keyId: typeof publicJwk?.kid === 'string' ? publicJwk.kid : null,
        thumbprint: publicJwk ? await calculateJwkThumbprint(publicJwk, 'sha256') : null,
        publicJwk: publicJwk,
      },
      webhookSecret: { set: clinic.webhookSecret.length > 0, previousValidUntil: previousValid ? until : null },
      protocolId: clinic.protocolId,
      protocolVersion: clinic.protocolVersion,
      ...(await switchValues(clinic)),
      nurseSlaSeconds: clinic.nurseSlaSeconds,
      timezone: clinic.timezone,
      kinds: await kindViews(clinic),
      createdAt: clinic.createdAt,
      updatedAt: clinic.updatedAt,
    };
  }

  app.openapi(listRoute, async (c) => {
    const principal = c.get('principal');
    const clinics = (await store.clinics.list()).filter(
      (x) => principal.clinicId === null || principal.clinicId === x.id,
    );
    return c.json({ items: await Promise.all(clinics.map(view)) }, 200);
  });

  app.openapi(getRoute, async (c) => {
    const clinic = await visibleClinic(c.get('principal'), c.req.valid('param').id);
    return c.json(await view(clinic), 200);
  });

  app.openapi(createRouteDef, async (c) => {
    const principal = c.get('principal');
    if (principal.clinicId !== null) {
      throw new AppError('FORBIDDEN', 'A token bound to one clinic cannot create clinics');
    }
    const body = c.req.valid('json');
    assertEhrUrls(body);
    await assertPublishedProtocol(body.protocolId);
    const own = await ownKind(body.protocolId);
    if (body.kinds) await checkKinds(null, own, body.kinds);
    const kinds = kindsToStore(body.kinds, own, switchesOf(body));
    const key = body.privateKey === undefined ? undefined : await clientKey(body.privateKey, body.keyId);
    const webhookSecret = newWebhookSecret();
    const clinic = await store.clinics.create(
      {
        id: body.id,
        name: body.name,
        webhookSecret,
        fhirBaseUrl: body.fhirBaseUrl,
        fhirClientId: body.fhirClientId,
        fhirTokenUrl: body.fhirTokenUrl ?? null,
        fhirBatch: body.fhirBatch,
        fhirPrivateKeyJwk: key ? secrets().encrypt(JSON.stringify(key.privateJwk), clinicKeyContext(body.id)) : null,
        fhirPublicJwk: key ? JSON.stringify(key.publicJwk) : null,
        protocolId: body.protocolId,
        nurseSlaSeconds: body.nurseSlaSeconds,
        timezone: body.timezone,
        ...(kinds && { kinds }),
      },
      auditEntry(principal, c.get('requestId'), 'clinic.created', body.id, {
        fhirBaseUrl: body.fhirBaseUrl,
        fhirTokenUrl: body.fhirTokenUrl ?? null,
        fhirClientId: body.fhirClientId,
        fhirBatch: body.fhirBatch,
        keyId: key?.kid ?? null,
        keyThumbprint: key?.thumbprint ?? null,
        protocolId: body.protocolId,
        ...Object.fromEntries(switchesOf(body).map((sw) => [sw.path.slice(2), sw.enabled])),
        nurseSlaSeconds: body.nurseSlaSeconds,
        timezone: body.timezone,
        ...(body.kinds && { kinds: body.kinds }),
      }),
    );
    await syncSweepSchedule(deps, clinic);
    return c.json(
      {
        clinic: await view(clinic),
        webhookSecret,
        publicJwks: key ? { keys: [key.publicJwk as Record<string, unknown>] } : null,
      },
      201,
    );
  });

  app.openapi(settingsRoute, async (c) => {
    const principal = c.get('principal');
    const before = await visibleClinic(principal, c.req.valid('param').id);
    const patch = c.req.valid('json');
    if (patch.protocolId !== undefined) {
      await assertPublishedProtocol(patch.protocolId);
      const [was, now] = [await ownKind(before.protocolId), await ownKind(patch.protocolId)];
      if (was !== null && now !== was) {
        throw unprocessable(
          '$.protocolId',
          `protocol ${patch.protocolId} is of kind ${now}; this clinic's protocolId runs kind ${was}`,
        );
      }
    }
    const own = await ownKind(patch.protocolId ?? before.protocolId);
    if (patch.kinds) await checkKinds(before.id, own, patch.kinds);
    const kindsBefore = patch.kinds ? (await kindViews(before)).map(({ switchField: _, ...k }) => k) : null;
    const switches = switchesOf(patch);
    const switchesBefore = switches.length ? await switchValues(before) : {};
    const kinds = kindsToStore(patch.kinds, own, switches);
    if (
      patch.protocolId !== undefined &&
      patch.protocolId !== before.protocolId &&
      patch.protocolVersion === undefined
    ) {
      patch.protocolVersion = null; // a pin belongs to the previous protocol
    }
    if (patch.protocolVersion !== undefined && patch.protocolVersion !== null) {
      await assertAssignableVersion(patch.protocolId ?? before.protocolId, patch.protocolVersion);
    }
    // The store takes the aliased switches as per-kind settings (`kinds`), never as clinic fields.
    const { name, timezone, nurseSlaSeconds, protocolId, protocolVersion } = patch;
    const storePatch = { name, timezone, nurseSlaSeconds, protocolId, protocolVersion, ...(kinds && { kinds }) };
    const after = await store.clinics.updateSettings(before.id, storePatch, (was, now) => {
      const changes: Record<string, { from: unknown; to: unknown }> = {};
      for (const k of ['name', 'timezone'] as const) {
        if (patch[k] !== undefined) changes[k] = { from: was[k], to: now[k] };
      }
      for (const sw of switches) changes[sw.path.slice(2)] = { from: switchesBefore[sw.path.slice(2)], to: sw.enabled };
      for (const k of ['nurseSlaSeconds', 'protocolId', 'protocolVersion'] as const) {
        if (patch[k] !== undefined) changes[k] = { from: was[k], to: now[k] };
      }
      if (patch.kinds) changes.kinds = { from: kindsBefore, to: patch.kinds };
      return auditEntry(principal, c.get('requestId'), 'clinic.settings_changed', now.id, { changes });
    });
    if (!after) throw new AppError('NOT_FOUND', 'No such clinic');
    await syncSweepSchedule(deps, after);
    return c.json(await view(after), 200);
  });

  app.openapi(connectionRoute, async (c) => {
    const principal = c.get('principal');
    // Where the worker sends the clinic's EHR token: a clinic admin must not be able to move it.
    assertGlobalAdmin(principal, 'change a clinic’s EHR connection');
    const before = await visibleClinic(principal, c.req.valid('param').id);
    const body = c.req.valid('json');
    assertEhrUrls(body);
    const newBase = body.fhirBaseUrl ?? before.fhirBaseUrl;
    const tokenUrl = body.fhirTokenUrl === undefined ? before.fhirTokenUrl : body.fhirTokenUrl;
    if (body.fhirTokenUrl === undefined && tokenUrl !== null && !sameOrigin(newBase, tokenUrl)) {
      // The token URL was pinned for the old base URL; moving only the base would pair a real token with a new host.
      throw new AppError(
        'INVALID_INPUT',
        'Invalid request at $.fhirTokenUrl: give the token URL again with a new base URL',
        {
          issues: [
            {
              path: '$.fhirTokenUrl',
              message:
                'the pinned token URL is on another origin than the new fhirBaseUrl: give it again, or null to discover',
            },
          ],
        },
      );
    }
    const key = body.privateKey ? await clientKey(body.privateKey, body.keyId) : undefined;
    const was = await view(before);
    const keyBefore = was.fhirKey.set ? { keyId: was.fhirKey.keyId, thumbprint: was.fhirKey.thumbprint } : null;
    const after = await store.clinics.updateSettings(
      before.id,
      {
        ...(body.fhirBaseUrl !== undefined ? { fhirBaseUrl: body.fhirBaseUrl } : {}),
        ...(body.fhirTokenUrl !== undefined ? { fhirTokenUrl: body.fhirTokenUrl } : {}),
        ...(body.fhirClientId !== undefined ? { fhirClientId: body.fhirClientId } : {}),
        ...(body.fhirBatch !== undefined ? { fhirBatch: body.fhirBatch } : {}),
        ...(key
          ? {
              fhirPrivateKeyJwk: secrets().encrypt(JSON.stringify(key.privateJwk), clinicKeyContext(before.id)),
              fhirPublicJwk: JSON.stringify(key.publicJwk),
            }
          : body.privateKey === null
            ? { fhirPrivateKeyJwk: null, fhirPublicJwk: null }
            : {}),
      },
      (old, now) => {
        const changes: Record<string, { from: unknown; to: unknown }> = {};
        for (const k of ['fhirBaseUrl', 'fhirTokenUrl', 'fhirClientId', 'fhirBatch'] as const) {
          if (body[k] !== undefined) changes[k] = { from: old[k], to: now[k] };
        }
        if (body.privateKey !== undefined) {
          // Key ids and thumbprints identify a key without revealing it.
          changes.key = { from: keyBefore, to: key ? { keyId: key.kid, thumbprint: key.thumbprint } : null };
        }
        return auditEntry(principal, c.get('requestId'), 'clinic.ehr_connection_changed', now.id, { changes });
      },
    );
    if (!after) throw new AppError('NOT_FOUND', 'No such clinic');
    const now = await view(after);
    return c.json({ clinic: now, publicJwks: key ? { keys: [key.publicJwk as Record<string, unknown>] } : null }, 200);
  });

  app.openapi(rotateRoute, async (c) => {
    const principal = c.get('principal');
    const clinic = await visibleClinic(principal, c.req.valid('param').id);
    // The body is optional: no body (or no content type) means the default grace period.
    const graceSeconds = c.req.valid('json')?.graceSeconds ?? DEFAULT_WEBHOOK_GRACE_SECONDS;
    const previousValidUntil = new Date(deps.now().getTime() + graceSeconds * 1000).toISOString();
    const webhookSecret = newWebhookSecret();
    const rotated = await store.clinics.rotateWebhookSecret(
      clinic.id,
      { webhookSecret, previousExpiresAt: previousValidUntil },
      auditEntry(principal, c.get('requestId'), 'clinic.webhook_secret_rotated', clinic.id, {
        graceSeconds,
        previousValidUntil,
      }),
    );
    if (!rotated) throw new AppError('NOT_FOUND', 'No such clinic');
    return c.json({ webhookSecret, previousValidUntil }, 200);
  });

  app.openapi(changesRoute, async (c) => {
    const clinic = await visibleClinic(c.get('principal'), c.req.valid('param').id);
    const { limit, cursor } = c.req.valid('query');
    const page = await store.audit.listAudit({
      clinicId: clinic.id,
      actions: CLINIC_CHANGE_ACTIONS,
      limit,
      ...(cursor !== undefined ? { cursor } : {}),
    });
    const items = page.items.map((e) => ({
      id: e.id,
      at: e.at,
      actorId: e.actorId,
      actorRole: e.actorRole,
      action: e.action as (typeof CLINIC_CHANGE_ACTIONS)[number],
      protocolId: e.protocolId,
      protocolVersion: e.protocolVersion,
      requestId: e.requestId,
      detail: e.detail,
    }));
    return c.json({ items, nextCursor: page.nextCursor }, 200);
  });

  app.openapi(checkRoute, async (c) => {
    const principal = c.get('principal');
    const clinic = await visibleClinic(principal, c.req.valid('param').id);
    const requestId = c.get('requestId');
    let privateKeyJwk: JWK | undefined;
    let keyError: string | undefined;
    if (clinic.fhirPrivateKeyJwk) {
      try {
        privateKeyJwk = clinicPrivateKeyJwk(clinic.id, clinic.fhirPrivateKeyJwk, secrets());
      } catch (err) {
        keyError = err instanceof AppError ? err.message : 'The stored client key cannot be read';
      }
    }
    const report = await checkFhirConnection({
      baseUrl: clinic.fhirBaseUrl,
      timeoutMs: CHECK_TIMEOUT_MS,
      egress,
      batch: clinic.fhirBatch,
      requestId: () => requestId,
      ...(keyError !== undefined ? { keyError } : {}),
      ...(privateKeyJwk
        ? {
            auth: {
              clientId: clinic.fhirClientId,
              privateKeyJwk,
              ...(clinic.fhirTokenUrl ? { tokenUrl: clinic.fhirTokenUrl } : {}),
            },
          }
        : {}),
    });
    // The test read is a count-only search (no patient record crosses): this row is the check's only audit.
    await audit(principal, requestId, 'clinic.connection_checked', clinic.id, {
      ok: report.ok,
      fhirVersion: report.fhirVersion,
      batchSetting: report.batchSetting,
      batchSupport: report.batchSupport,
      tokenOk: report.smart.tokenOk,
      problems: report.problems.length,
      steps: Object.fromEntries(report.steps.map((s) => [s.id, s.status])),
      testRead: `${TEST_READ.resourceType}?_summary=${TEST_READ.params._summary}`,
    });
    return c.json(report, 200);
  });

  return app;
}
