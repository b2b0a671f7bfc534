// ENTRYPOINT: loadConfig → database, Temporal client → serve(createApp(deps)).
import { serve } from '@hono/node-server';
import { loadConfig } from '../connectors/config.ts';
import { createStore, openDatabase } from '../connectors/db/index.ts';
import { createClinicFhir } from '../connectors/fhir/clinic-connectors.ts';
import { egressPolicy } from '../connectors/fhir/egress.ts';
import { clinicPatientFetcher, createPatientIdentityReader } from '../connectors/fhir/patient-identity.ts';
import { createLogger } from '../connectors/logger.ts';
import { createSecretBox } from '../connectors/secret-box.ts';
import { createTemporalClient } from '../connectors/temporal.ts';
import { startTracing } from '../connectors/telemetry/tracing.ts';
import { AppError } from '../rules/index.ts';
// The composition root wires each kind's pure FHIR→facts extraction in (the facts registry), for uploaded bundles.
import { factsFromBundle } from '../facts/index.ts';
import { createApp } from './app.ts';
import { ensureBuiltinProtocols, ensureDemoClinic } from './seed.ts';
import { recordingSweepSyncs, syncSweepSchedulesAtStart } from './sweep-schedules.ts';
import { createWorkflowGateway } from './workflow-gateway.ts';

let config;
try {
  config = loadConfig();
} catch (err) {
  console.error(err instanceof AppError ? err.message : err);
  process.exit(1);
}
const logger = createLogger(config, 'api');
// Traces only with OTEL_EXPORTER_OTLP_ENDPOINT set; before the Temporal client, which takes its interceptors.
const tracing = await startTracing(config, 'ehr-autopilot-api', { logger });
const secrets = createSecretBox(config);
// Webhook secrets are stored encrypted (and plaintext ones from older versions sealed at open).
const db = await openDatabase({ databaseUrl: config.DATABASE_URL, dataDir: config.DATA_DIR, logger, secrets });
const store = createStore(db);
// The FHIR reads the API makes itself: who a viewed case's patient is, and the prefetch a CDS Hooks call without
// `fhirAuthorization` left out. A person is waiting, so each HTTP request gets 2 s (the worker's get 20 s) and the
// whole identity read 2.5 s; a slower EHR shows the case without the identity.
const clinicFhir = createClinicFhir(store, { timeoutMs: 2000, secrets, egress: egressPolicy(config) });
const patientIdentity = createPatientIdentityReader({ fetch: clinicPatientFetcher(clinicFhir) });
await ensureBuiltinProtocols(store, logger);
// The demo clinic only when asked for (`npm start` sets DEMO=1), never because NODE_ENV was forgotten.
const demo = config.DEMO ? await ensureDemoClinic(store, config, logger) : undefined;
const temporal = await createTemporalClient(config);
const gateway = createWorkflowGateway(temporal.client, { taskQueue: config.TEMPORAL_TASK_QUEUE });
const workflows = recordingSweepSyncs(gateway, store, config.TEMPORAL_TASK_QUEUE);
// The panel-sweep Schedules whose clinic settings changed since their last sync (all of them on a first start).
await syncSweepSchedulesAtStart({ workflows, logger, store }, config.TEMPORAL_TASK_QUEUE);
const app = createApp({
  config,
  db,
  store,
  workflows,
  logger,
  now: () => new Date(),
  patientIdentity,
  clinicFhir,
  bundleFacts: (kind, bundle, asOf) => factsFromBundle(kind, bundle, { asOf }),
  ...(demo && { demoEhrReady: () => demo.ehrReady() }),
});
const server = serve({ fetch: app.fetch, port: config.PORT, hostname: config.HOST }, (info) => {
  logger.info({ port: info.port, host: config.HOST }, 'API listening');
});

let stopping = false;
async function stop(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  logger.info({ signal }, 'API stopping');
  server.close();
  await Promise.allSettled([temporal.close(), db.close(), tracing?.shutdown()]);
  process.exit(0);
}
process.on('SIGINT', () => void stop('SIGINT'));
process.on('SIGTERM', () => void stop('SIGTERM'));
