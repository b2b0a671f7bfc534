import type { Generated } from 'kysely';

// The kysely view of the app database. Column names are camelCase here and snake_case in SQL (CamelCasePlugin).
// Portable storage on both dialects: timestamps are ISO-8601 UTC TEXT (`toISOString()`, so they sort as text),
// booleans are INTEGER 0/1, JSON is TEXT parsed through zod on the way out (see ./codec.ts).

export type ProtocolVersionStatus = 'draft' | 'published' | 'retired';
export type CaseStatus = 'received' | 'triaging' | 'queued' | 'closed' | 'failed';
export type QueueName = 'signature' | 'nurse' | 'doctor' | 'outreach' | 'cosign';
export type ActorType = 'system' | 'user' | 'ehr' | 'protocol';
export type TokenRole = 'admin' | 'doctor' | 'nurse' | 'pharmacist' | 'pa' | 'privacy';

export interface ClinicsTable {
  id: string;
  name: string;
  webhookSecret: string;
  /** The secret before the last rotation, still accepted until `previousWebhookSecretExpiresAt`. */
  previousWebhookSecret: string | null;
  previousWebhookSecretExpiresAt: string | null;
  fhirBaseUrl: string;
  fhirClientId: string;
  /**
   * The SMART Backend Services private key: `enc:v1:<keyId>:<base64>` (AES-256-GCM, connectors/secret-box.ts) when
   * written through the API, or a plain JWK as JSON text (demo and tests).
   */
  fhirPrivateKeyJwk: string | null;
  /** Its public half as JWK JSON text (not secret): key id and thumbprint for display, JWKS for the EHR. */
  fhirPublicJwk: string | null;
  fhirTokenUrl: string | null;
  /**
   * Whether the worker reads the EHR in `batch` Bundles (migration 0019): `auto` (the default: when the EHR advertises
   * batch, else when it answers a probe), `always` or `never` (connectors/fhir/connector.ts `BatchMode`).
   */
  fhirBatch: Generated<'auto' | 'always' | 'never'>;
  protocolId: string;
  /** A published version of `protocolId` assigned to this clinic; null: the protocol's live version. */
  protocolVersion: number | null;
  nurseSlaSeconds: number;
  timezone: string;
  createdAt: string;
  updatedAt: string;
}

/**
 * A clinic's signing policy for one protocol (migration 0012; rules/lifecycle `SigningPolicy`): who signs a protocol
 * approval. No row: the `doctor` policy. `version` counts changes; a case pins the version it ran under.
 */
export interface SigningPoliciesTable {
  clinicId: string;
  protocolId: string;
  mode: 'doctor' | 'delegated' | 'standing_order';
  /** JSON array of roles (`delegated` only). */
  delegates: string;
  cosignDays: number;
  authorityReference: string | null;
  authorityDisplay: string | null;
  version: number;
  updatedAt: string;
  updatedBy: string;
}

export interface ProtocolsTable {
  id: string;
  title: string;
  /** The protocol kind (rules/kinds/), fixed at creation; every protocol of a kind's definition schema. */
  kind: Generated<string>;
  publishedVersion: number | null;
  /** Highest version number handed out; bumped with an UPDATE so concurrent drafts serialise on this row. */
  latestVersion: number;
  createdAt: string;
}

/**
 * A protocol kind a clinic runs besides the kind of its own `protocolId`: whether it is enabled, which protocol it
 * runs (null version: the live one) and the cron of its panel sweep (null: the default, weekly). For the kind of the
 * clinic's own `protocolId` (which always runs), `enabled` is that kind's switch (its automation: migration 0010).
 */
export interface ClinicKindsTable {
  clinicId: string;
  kind: string;
  enabled: number;
  protocolId: string | null;
  protocolVersion: number | null;
  sweepCron: string | null;
  updatedAt: string;
}

export interface ProtocolVersionsTable {
  protocolId: string;
  version: number;
  status: ProtocolVersionStatus;
  definition: string;
  note: string | null;
  createdBy: string;
  createdAt: string;
  updatedAt: string;
  /** When this version last went live (publish or rollback). */
  publishedAt: string | null;
  publishedBy: string | null;
}

export interface WebhookDeliveriesTable {
  clinicId: string;
  ehrRequestId: string;
  caseId: string;
  requestId: string;
  receivedAt: string;
}

export interface CasesTable {
  id: string;
  /** The protocol kind (`refill`, `care-gap`, …); rows from before kinds are refills. */
  kind: Generated<string>;
  clinicId: string;
  requestId: string;
  patientId: string | null;
  /** The refill request a refill case is about; null for a case about a patient. */
  medicationRequestId: string | null;
  drugName: string | null;
  status: CaseStatus;
  disposition: string | null;
  queue: QueueName | null;
  pool: string | null;
  /** Why the case reached its queue: protocol, automation_disabled, ehr_record_not_found, escalated_sla, … */
  reason: string | null;
  protocolId: string | null;
  protocolVersion: number | null;
  decision: string | null;
  outcome: string | null;
  slaDueAt: string | null;
  escalated: number;
  createdAt: string;
  updatedAt: string;
  closedAt: string | null;
  seq: number;
  /** The deciding clause of a kind that reports one (`CRC-10`). */
  clause: string | null;
  /** `routine` | `urgent`, for kinds that prioritise. */
  priority: string | null;
  /** YYYY-MM-DD: when a closed gap is next due (re-evaluated then). */
  nextDueDate: string | null;
  /** When the case's next timer fires (an outreach step, a re-evaluation, the end of a snooze). */
  dueAt: string | null;
}

export interface CaseEventsTable {
  caseId: string;
  seq: number;
  at: string;
  kind: string;
  actor: string;
  detail: string;
}

export interface AuditLogTable {
  /** int8 on PostgreSQL, which pg returns as a string; rows are coerced to number on read. */
  id: Generated<number | string>;
  at: string;
  actorType: ActorType;
  actorId: string;
  actorRole: string | null;
  action: string;
  clinicId: string | null;
  caseId: string | null;
  protocolId: string | null;
  protocolVersion: number | null;
  requestId: string | null;
  idempotencyKey: string | null;
  detail: string;
  /**
   * The hash chain (migration 0014, ./audit-chain.ts): the previous row of the same clinic's `hash` (the chain's
   * genesis hash for its first row), and this row's hash over that and its fields. Null only in rows written around
   * `insertAudit` (which `autopilot audit verify` reports as broken links).
   */
  prevHash: string | null;
  hash: string | null;
}

export interface ApiTokensTable {
  /** Public id (`tok_…`): what lists, audit rows and revocation name. Never the hash, never the token. */
  id: string;
  tokenHash: string;
  name: string;
  role: TokenRole;
  clinicId: string | null;
  userId: string;
  createdAt: string;
  revokedAt: string | null;
  /** Null: never expires (demo and test tokens only; issued tokens always expire). */
  expiresAt: string | null;
  /** Refreshed at most every few minutes, so a busy token does not write on every request. */
  lastUsedAt: string | null;
  /** Who issued it (user id, or `cli` / `system`); null for tokens from before issuing was recorded. */
  createdBy: string | null;
}

export interface FactsSnapshotsTable {
  caseId: string;
  clinicId: string;
  protocolId: string;
  recordedAt: string;
  facts: string;
  decision: string;
}

export interface RateLimitsTable {
  /** `<limiter>:<key>`, e.g. `ip:203.0.113.7` or `webhook-clinic:north`. */
  bucket: string;
  /** Hits in the window that ends at `resetAt`. */
  hits: number;
  resetAt: string;
}

/** A privacy officer's or admin's review of an access flag (the flag is computed; its id is stable). */
export interface AccessFlagReviewsTable {
  clinicId: string;
  flagId: string;
  kind: string;
  /** Free text by the reviewer: kept here, never in the audit log (which records only that there was one). */
  note: string;
  /** How many accesses the flag's evidence held when reviewed (more later: new evidence since). */
  evidenceTotal: number;
  reviewedAt: string;
  reviewedBy: string;
  reviewedRole: string;
}

/** A clinic's access-monitoring thresholds (rules/access/flags.ts AccessSettings as JSON); no row: the defaults. */
export interface AccessSettingsTable {
  clinicId: string;
  settings: string;
  version: number;
  updatedAt: string;
  updatedBy: string;
}

/**
 * Per clinic and FHIR Subscription (its reference as the EHR sends it): the highest notification event number seen
 * and when the notification that set it arrived (migration 0015, ./subscriptions.ts).
 */
export interface SubscriptionEventsTable {
  clinicId: string;
  subscription: string;
  /** The webhook's topic key (a kind's id, or `events`). */
  topic: string;
  highestEvent: number;
  lastEventAt: string;
  updatedAt: string;
}

/** A CDS Hooks client (an EHR calling our CDS services) of a clinic: its JWT issuer and keys (migration 0016). */
/** A CDS Hooks JWT's `jti` seen from `iss` (migration 0018): refused again until `expiresAt`, then deleted. */
export interface CdsJtisTable {
  iss: string;
  jti: string;
  /** When the token stops being acceptable anyway (its `exp`, at most `iat` + 5 minutes), ISO UTC. */
  expiresAt: string;
}

export interface CdsClientsTable {
  iss: string;
  clinicId: string;
  /** Where its JWKS is published (https); null: `jwks` holds the keys. */
  jwksUrl: string | null;
  /** An inline JWKS (JSON); null: `jwksUrl`. */
  jwks: string | null;
  createdAt: string;
}

/** A clinic's SMART App Launch client at its EHR (migration 0017): the EHR is the clinic's FHIR base (`iss`). */
export interface SmartClientsTable {
  clinicId: string;
  clientId: string;
  createdAt: string;
  updatedAt: string;
}

/** Which console user and role an EHR user (`fhirUser`, e.g. `Practitioner/123`) signs in as (migration 0017). */
export interface SmartUsersTable {
  clinicId: string;
  fhirUser: string;
  userId: string;
  role: TokenRole;
  createdAt: string;
  updatedAt: string;
}

/** A SMART launch under way (migration 0017): keyed by the sha256 of its `state`; single-use, short-lived. */
export interface SmartLaunchesTable {
  id: string;
  clinicId: string;
  clientId: string;
  redirectUri: string;
  tokenEndpoint: string;
  codeVerifier: string;
  mode: 'ehr' | 'standalone';
  createdAt: string;
  expiresAt: string;
}

/** A finished SMART sign-in waiting for the console to take its session (migration 0017): sha256 of the code. */
export interface SmartHandoffsTable {
  id: string;
  clinicId: string;
  userId: string;
  role: TokenRole;
  fhirUser: string;
  patientId: string | null;
  mode: 'ehr' | 'standalone';
  createdAt: string;
  expiresAt: string;
}

/** Every table of the app database, as kysely sees it. */
export interface Database {
  clinics: ClinicsTable;
  protocols: ProtocolsTable;
  clinic_kinds: ClinicKindsTable;
  signing_policies: SigningPoliciesTable;
  protocol_versions: ProtocolVersionsTable;
  webhook_deliveries: WebhookDeliveriesTable;
  cases: CasesTable;
  case_events: CaseEventsTable;
  audit_log: AuditLogTable;
  api_tokens: ApiTokensTable;
  facts_snapshots: FactsSnapshotsTable;
  rate_limits: RateLimitsTable;
  simulation_jobs: SimulationJobsTable;
  simulation_changed: SimulationChangedTable;
  value_set_expansions: ValueSetExpansionsTable;
  clinic_value_sets: ClinicValueSetsTable;
  sweep_schedule_syncs: SweepScheduleSyncsTable;
  analytics_daily: AnalyticsDailyTable;
  analytics_rollup_state: AnalyticsRollupStateTable;
  access_flag_reviews: AccessFlagReviewsTable;
  access_settings: AccessSettingsTable;
  subscription_events: SubscriptionEventsTable;
  cds_clients: CdsClientsTable;
  cds_jtis: CdsJtisTable;
  smart_clients: SmartClientsTable;
  smart_users: SmartUsersTable;
  smart_launches: SmartLaunchesTable;
  smart_handoffs: SmartHandoffsTable;
}

/**
 * The daily rollup of closed cases (migration 0013, connectors/db/analytics-rollup.ts): per clinic, clinic-local day of
 * receipt, metric (rules/analytics `RollupMetric`) and cell (a JSON array of the metric's keys), how many cases (`n`),
 * decisions (`m`) and, for turnaround, the histogram (`hist`). Kept in the transaction of every case step; rebuilt from `cases` when stale.
 */
export interface AnalyticsDailyTable {
  clinicId: string;
  day: string;
  metric: string;
  cell: string;
  protocolId: string | null;
  n: number | string;
  m: number | string;
  /** `turnaround` rows: the day's histogram as JSON text (turnaround seconds → closes); else null. */
  hist: string | null;
}

/** Which clinics' rollups are current: built in `timezone` under `definitions` (rules/analytics rollupDefinitions). */
export interface AnalyticsRollupStateTable {
  clinicId: string;
  timezone: string;
  definitions: string;
  builtAt: string;
}

/** Every value-set expansion a clinic loaded, by content hash; rows are never changed or removed. */
export interface ValueSetExpansionsTable {
  clinicId: string;
  valueSetId: string;
  /** SHA-256 (hex) of the canonical code list (sorted `system`, `code`, `display`). */
  hash: string;
  /** The ValueSet's `url|version` (or `ValueSet/{id}`, or its name). */
  source: string;
  codeCount: number;
  /** JSON: `[{ system, code, display? }]`, sorted. */
  codes: string;
  createdAt: string;
  createdBy: string;
}

/** The expansion in force per clinic and value set (no row: the kind's built-in set). */
export interface ClinicValueSetsTable {
  clinicId: string;
  valueSetId: string;
  hash: string;
  source: string;
  codeCount: number;
  updatedAt: string;
  updatedBy: string;
}

/** What a clinic's sweep Schedule was last synced to (a hash of its settings), written after a successful sync. */
export interface SweepScheduleSyncsTable {
  clinicId: string;
  hash: string;
  syncedAt: string;
}

/** An asynchronous protocol simulation (the `simulationJob` workflow of the same id): progress and running totals. */
export interface SimulationJobsTable {
  /** `sim_<uuid>`, also the workflow id. */
  id: string;
  requestedBy: string;
  requestedRole: string;
  clinicId: string;
  protocolId: string;
  protocolVersion: number;
  /** The protocol document as it was when the job started (a draft may change afterwards). */
  definition: string;
  rangeFrom: string | null;
  rangeBefore: string | null;
  caseLimit: number | null;
  status: 'running' | 'done' | 'failed';
  total: number | null;
  evaluated: number;
  skipped: number;
  /** Pages applied: the idempotency guard of a retried page. */
  pages: number;
  exhausted: number;
  cursorRecordedAt: string | null;
  cursorCaseId: string | null;
  /** JSON: disposition → count, recorded and re-evaluated. */
  countsBefore: string;
  countsAfter: string;
  changedTotal: number;
  changedStored: number;
  errorCode: string | null;
  errorMessage: string | null;
  requestId: string | null;
  createdAt: string;
  updatedAt: string;
  finishedAt: string | null;
}

/** The cases whose disposition a simulation job changed, in reading order (capped per job). */
export interface SimulationChangedTable {
  jobId: string;
  seq: number;
  /** JSON of a ChangedCase: ids, dispositions, criterion ids; no PHI. */
  detail: string;
}
