// ENTRYPOINT: loadConfig → connectors → createActivities → Worker.create → run until SIGINT/SIGTERM.
import { fileURLToPath } from 'node:url';
import { Worker } from '@temporalio/worker';
import { loadConfig } from '../connectors/config.ts';
import { createStore, openDatabase } from '../connectors/db/index.ts';
import { createClinicFhir } from '../connectors/fhir/clinic-connectors.ts';
import { egressPolicy } from '../connectors/fhir/egress.ts';
import { createLogger } from '../connectors/logger.ts';
import { createSecretBox } from '../connectors/secret-box.ts';
import { subjectKeyer } from '../connectors/subject-key.ts';
import { createTemporalClient, createWorkerConnection, workerDataConverter } from '../connectors/temporal.ts';
import { startWorkerTelemetry } from '../connectors/telemetry/worker-telemetry.ts';
import { AppError } from '../rules/index.ts';
import { createActivities } from './index.ts';

let config;
try {
  config = loadConfig();
} catch (err) {
  console.error(err instanceof AppError ? err.message : err);
  process.exit(1);
}
const logger = createLogger(config, 'worker');
// The Temporal runtime (our logger), the metrics endpoint (WORKER_METRICS_PORT) and tracing (OTEL_EXPORTER_OTLP_ENDPOINT).
const telemetry = await startWorkerTelemetry(config, logger);
// Clinic secrets (SMART keys, webhook secrets) are stored encrypted under a key derived from PAYLOAD_KEY.
const secrets = createSecretBox(config);
const db = await openDatabase({ databaseUrl: config.DATABASE_URL, dataDir: config.DATA_DIR, logger, secrets });
const store = createStore(db);
const connection = await createWorkerConnection(config);
// The event intake and the panel sweep signal-with-start care-gap cases from activities.
const temporal = await createTemporalClient(config);
try {
  const worker = await Worker.create({
    connection,
    namespace: config.TEMPORAL_NAMESPACE,
    taskQueue: config.TEMPORAL_TASK_QUEUE,
    dataConverter: workerDataConverter(config),
    ...(config.NODE_ENV === 'production'
      ? { workflowBundle: { codePath: fileURLToPath(new URL(`../dist/${telemetry.bundleFile}`, import.meta.url)) } }
      : { workflowsPath: fileURLToPath(new URL('../workflows/index.ts', import.meta.url)) }),
    ...telemetry.workerOptions({ bundled: config.NODE_ENV === 'production' }),
    activities: createActivities({
      store,
      fhir: createClinicFhir(store, { timeoutMs: 20_000, secrets, egress: egressPolicy(config) }),
      logger,
      triggers: { client: temporal.client, taskQueue: config.TEMPORAL_TASK_QUEUE, subjectKey: subjectKeyer(config) },
    }),
  });
  logger.info({ taskQueue: config.TEMPORAL_TASK_QUEUE }, 'worker running');
  await worker.run(); // the SDK shuts down gracefully on SIGINT/SIGTERM
} finally {
  await connection.close();
  await temporal.close();
  await db.close();
  await telemetry.close();
}
