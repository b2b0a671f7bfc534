import { createAccessRepo, type AccessRepo } from './access.ts';
import { createAnalyticsRepo, type AnalyticsRepo } from './analytics.ts';
import { createAuditRepo, type AuditRepo } from './audit.ts';
import { createCdsClientRepo, type CdsClientRepo } from './cds-clients.ts';
import { createCaseRepo, type CaseRepo } from './cases.ts';
import { createClinicRepo, type ClinicRepo } from './clinics.ts';
import { createDeliveryRepo, type DeliveryRepo } from './deliveries.ts';
import type { Db } from './open.ts';
import { createProtocolRepo, type ProtocolRepo } from './protocols.ts';
import { createSmartRepo, type SmartRepo } from './smart.ts';
import { createSigningPolicyRepo, type SigningPolicyRepo } from './signing-policies.ts';
import { createSimulationJobRepo, type SimulationJobRepo } from './simulations.ts';
import { createSnapshotRepo, type SnapshotRepo } from './snapshots.ts';
import { createSubscriptionRepo, type SubscriptionRepo } from './subscriptions.ts';
import { createSweepSyncRepo, type SweepSyncRepo } from './sweep-syncs.ts';
import { createTokenRepo, type TokenRepo } from './tokens.ts';
import { createValueSetRepo, type ValueSetRepo } from './value-sets.ts';

/** Every repository over one open database. All methods are async and return zod-validated rows. */
export interface Store {
  clinics: ClinicRepo;
  protocols: ProtocolRepo;
  deliveries: DeliveryRepo;
  cases: CaseRepo;
  audit: AuditRepo;
  tokens: TokenRepo;
  snapshots: SnapshotRepo;
  simulations: SimulationJobRepo;
  valueSets: ValueSetRepo;
  sweepSyncs: SweepSyncRepo;
  analytics: AnalyticsRepo;
  signingPolicies: SigningPolicyRepo;
  access: AccessRepo;
  subscriptions: SubscriptionRepo;
  cdsClients: CdsClientRepo;
  smart: SmartRepo;
}

/** Builds the repositories over `db`; cheap, holds no state beyond the connection. */
export function createStore(db: Db): Store {
  return {
    clinics: createClinicRepo(db),
    protocols: createProtocolRepo(db),
    deliveries: createDeliveryRepo(db),
    cases: createCaseRepo(db),
    audit: createAuditRepo(db),
    tokens: createTokenRepo(db),
    snapshots: createSnapshotRepo(db),
    simulations: createSimulationJobRepo(db),
    valueSets: createValueSetRepo(db),
    sweepSyncs: createSweepSyncRepo(db),
    analytics: createAnalyticsRepo(db),
    signingPolicies: createSigningPolicyRepo(db),
    access: createAccessRepo(db),
    subscriptions: createSubscriptionRepo(db),
    cdsClients: createCdsClientRepo(db),
    smart: createSmartRepo(db),
  };
}
