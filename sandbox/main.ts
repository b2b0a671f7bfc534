// ENTRYPOINT of the sandbox EHR: loadConfig → seed a synthetic clinic → serve FHIR R4 on loopback.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { JWK } from 'jose';
import { loadConfig, type Config } from '../connectors/config.ts';
import { createLogger, type Logger } from '../connectors/logger.ts';
import { startSandbox, type SandboxHandle, type SandboxOptions } from './fhir-server.ts';
import { IndexedRepository, loadResources } from './indexed-repository.ts';
import { CARE_GAP_SCENARIOS, generateClinic, type CareGapScenario, type RefillScenario } from './synthetic/index.ts';

export { loadResources };

export interface SeededSandbox {
  handle: SandboxHandle;
  /** The refill requests the synthetic clinic holds (ids and scenario names only; no PHI). */
  refillRequests: RefillScenario[];
  /** The care-gap patients (ids, scenario names and expected clauses only; no PHI). */
  careGaps: CareGapScenario[];
}

/** Care-gap patients seeded beside `patients` refill patients: half as many, and never fewer than one per scenario. */
export const careGapPatientsFor = (patients: number): number =>
  Math.max(CARE_GAP_SCENARIOS.length, Math.round(patients / 2));

/**
 * Starts the sandbox EHR seeded with `SANDBOX_PATIENTS` synthetic refill patients and `careGapPatientsFor(…)`
 * colorectal-screening patients (seed `SANDBOX_SEED`, as of `asOf`),
 * with the configured latency and fault rate. Logs counts and URLs only.
 * Why exported: `npm start` runs it in-process next to the API and the worker.
 */
export async function startSeededSandbox(
  config: Config,
  logger: Logger,
  options: SandboxOptions & { asOf?: string; port?: number } = {},
): Promise<SeededSandbox> {
  const { asOf: asOfOption, ...overrides } = options;
  const asOf = asOfOption ?? new Date().toISOString().slice(0, 10);
  const started = performance.now();
  const clinic = generateClinic({
    seed: config.SANDBOX_SEED,
    patients: config.SANDBOX_PATIENTS,
    careGapPatients: careGapPatientsFor(config.SANDBOX_PATIENTS),
    asOf,
  });
  const repo = overrides.repo ?? new IndexedRepository();
  const counts = loadResources(repo, clinic.resources);
  const handle = await startSandbox({
    latencyMs: config.SANDBOX_LATENCY_MS,
    faultRate: config.SANDBOX_FAULT_RATE,
    logger,
    host: config.HOST,
    port: config.SANDBOX_PORT,
    ...overrides,
    repo,
  });
  logger.info(
    {
      fhirBaseUrl: handle.fhirBaseUrl,
      patients: config.SANDBOX_PATIENTS,
      seed: config.SANDBOX_SEED,
      asOf,
      resources: clinic.resources.length,
      counts,
      refillRequests: clinic.refillRequests.length,
      careGapPatients: clinic.careGaps.length,
      latencyMs: config.SANDBOX_LATENCY_MS,
      faultRate: config.SANDBOX_FAULT_RATE,
      startMs: Math.round(performance.now() - started),
    },
    'sandbox EHR listening',
  );
  return { handle, refillRequests: clinic.refillRequests, careGaps: clinic.careGaps };
}

/**
 * The sandbox keeps client registrations in memory; the demo clinic's public key is kept in
 * `$DATA_DIR/demo-credentials.json` (written by the API's demo seeding), so a restarted sandbox knows it again.
 */
function registerSavedDemoClient(handle: SandboxHandle, config: Config, logger: Logger): void {
  const file = join(config.DATA_DIR, 'demo-credentials.json');
  if (!existsSync(file)) return;
  try {
    const saved = JSON.parse(readFileSync(file, 'utf8')) as {
      fhirClientId?: string;
      publicJwks?: { keys: JWK[] };
      smartClientId?: string;
      smartRedirectUri?: string;
    };
    if (saved.fhirClientId && saved.publicJwks) {
      handle.registerClient({ clientId: saved.fhirClientId, jwks: saved.publicJwks });
      logger.info({ clientId: saved.fhirClientId }, 'demo client registered');
    }
    if (saved.smartClientId && saved.smartRedirectUri) {
      handle.registerApp({ clientId: saved.smartClientId, redirectUris: [saved.smartRedirectUri] });
      logger.info({ clientId: saved.smartClientId }, 'demo SMART app registered');
    }
  } catch {
    logger.warn('demo credentials unreadable; the API registers the demo client at start');
  }
}

async function main(): Promise<void> {
  const config = loadConfig();
  const logger = createLogger(config, 'sandbox');
  const { handle } = await startSeededSandbox(config, logger);
  registerSavedDemoClient(handle, config, logger);
  const stop = (signal: string): void => {
    logger.info({ signal }, 'sandbox EHR stopping');
    handle.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
