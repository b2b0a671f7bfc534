// Public surface of the app database: open it, build the store, and the row/input types callers need.
export { openDatabase, type Db, type OpenDatabaseOptions } from './open.ts';
export { createStore, type Store } from './store.ts';
export type { Database, ActorType, CaseStatus, ProtocolVersionStatus, QueueName, TokenRole } from './schema.ts';
export type { DialectName } from './dialect.ts';
export {
  ACCESS_CURSOR_PATTERN,
  type AccessLogQuery,
  type AccessRepo,
  type FlagReview,
  type StoredAccessSettings,
} from './access.ts';
export type { AnalyticsQuery, AnalyticsRepo } from './analytics.ts';
export type { AuditEntry, AuditInput, AuditRepo, ListAuditOptions } from './audit.ts';
export type { CaseEvent, CaseEventInput, CaseProjection, CaseRecord, CaseRepo, ListQueueOptions } from './cases.ts';
export type { Clinic, ClinicInput, ClinicKind, ClinicRepo, KindAssignment } from './clinics.ts';
export type { DeliveryInput, DeliveryRepo } from './deliveries.ts';
export type { ChangeActor, ProtocolRecord, ProtocolRepo, ProtocolVersionRecord, PublishResult } from './protocols.ts';
export type {
  CreateSimulationJobInput,
  SimulationJobRecord,
  SimulationJobRepo,
  SimulationPageUpdate,
} from './simulations.ts';
export type { CdsClient, CdsClientRepo } from './cds-clients.ts';
export { FHIR_USER_PATTERN, FhirUserSchema, SmartRoleSchema } from './smart.ts';
export type { LaunchMode, SmartClient, SmartHandoff, SmartLaunch, SmartRepo, SmartUser } from './smart.ts';
export type { SubscriptionRepo, SubscriptionState } from './subscriptions.ts';
export type { SweepSyncRepo } from './sweep-syncs.ts';
export {
  MAX_COSIGN_DAYS,
  signingPolicyIssues,
  type PolicyChange,
  type SigningPolicyInput,
  type SigningPolicyRepo,
  type StoredSigningPolicy,
} from './signing-policies.ts';
export type { ClinicValueSet, PutValueSetInput, StoredCode, ValueSetExpansion, ValueSetRepo } from './value-sets.ts';
export type { FactsSnapshot, ListSnapshotsOptions, PutSnapshotInput, SnapshotRepo } from './snapshots.ts';
export {
  hashToken,
  issueToken,
  tokenView,
  UserIdSchema,
  type IssueContext,
  type IssueTokenRequest,
  type ApiToken,
  type CreateTokenInput,
  type ListTokensOptions,
  type TokenRepo,
} from './tokens.ts';
export {
  createRateLimitRepo,
  DbRateLimitStore,
  type DbRateLimitStoreOptions,
  type RateLimitRepo,
} from './rate-limits.ts';
