// Connections to Temporal: one client for the API (and scripts), one native connection for the worker.
// Both carry the encrypting data converter; a client without it could neither read nor write our histories.
import { Client, Connection } from '@temporalio/client';
import proto from '@temporalio/proto';
import { NativeConnection } from '@temporalio/worker';
import type { NativeConnectionOptions } from '@temporalio/worker';
import { AppError } from '../rules/index.ts';
import { dataConverterFor, type EncryptingDataConverter } from './codec.ts';
import { temporalAddress, type Config } from './config.ts';
import { temporalClientInterceptors } from './telemetry/tracing.ts';

export type SearchAttributeKind = 'Keyword' | 'Int';

/**
 * Search attributes the app writes, registered up front (`--search-attribute` on the dev server, the operator API
 * elsewhere). They are visible and unencrypted in Temporal: ids, codes and enums only, never PHI.
 */
export const SEARCH_ATTRIBUTES = [
  { name: 'ClinicId', type: 'Keyword' },
  { name: 'CaseStatus', type: 'Keyword' },
  { name: 'Disposition', type: 'Keyword' },
  { name: 'Queue', type: 'Keyword' },
  { name: 'ProtocolId', type: 'Keyword' },
  { name: 'ProtocolVersion', type: 'Int' },
] as const satisfies readonly { name: string; type: SearchAttributeKind }[];

export interface TemporalClientHandle {
  client: Client;
  connection: Connection;
  /** Closes the connection; the client is unusable afterwards. */
  close: () => Promise<void>;
}

function tlsAndKey(config: Config): { tls?: true; apiKey?: string } {
  // An API key implies TLS (Temporal Cloud); otherwise TLS only when asked for.
  if (config.TEMPORAL_API_KEY) return { tls: true, apiKey: config.TEMPORAL_API_KEY };
  return config.TEMPORAL_TLS ? { tls: true } : {};
}

/**
 * Connects a Temporal client with the encrypting data converter.
 * Why: every reader and writer of our workflows must share the codec, so there is one way to build a client.
 * @throws AppError `TEMPORAL_UNAVAILABLE` (retryable) when the server does not answer; `CONFIG_INVALID` without a key.
 */
export async function createTemporalClient(
  config: Config,
  options: { dataConverter?: EncryptingDataConverter; connectTimeoutMs?: number } = {},
): Promise<TemporalClientHandle> {
  const dataConverter = options.dataConverter ?? dataConverterFor(config);
  const address = temporalAddress(config);
  let connection: Connection;
  try {
    connection = await Connection.connect({
      address,
      ...tlsAndKey(config),
      connectTimeout: options.connectTimeoutMs ?? 10_000,
    });
  } catch (err) {
    throw new AppError('TEMPORAL_UNAVAILABLE', `Temporal at ${address} did not answer`, {
      retryable: true,
      cause: err,
      context: { address },
    });
  }
  // With tracing on, starts, signals and Updates carry the caller's trace into the workflow (connectors/telemetry).
  const client = new Client({
    connection,
    namespace: config.TEMPORAL_NAMESPACE,
    dataConverter,
    ...temporalClientInterceptors(),
  });
  return { client, connection, close: () => connection.close() };
}

/**
 * Opens the worker's native (Rust core) connection.
 * Why: `Worker.create` needs a NativeConnection, not the client's; pass {@link workerDataConverter} alongside.
 * @throws AppError `TEMPORAL_UNAVAILABLE` (retryable) when the server does not answer.
 */
export async function createWorkerConnection(config: Config): Promise<NativeConnection> {
  const address = temporalAddress(config);
  const options: NativeConnectionOptions = { address, ...tlsAndKey(config) };
  try {
    return await NativeConnection.connect(options);
  } catch (err) {
    throw new AppError('TEMPORAL_UNAVAILABLE', `Temporal at ${address} did not answer`, {
      retryable: true,
      cause: err,
      context: { address },
    });
  }
}

/**
 * The data converter for `Worker.create({ dataConverter })`.
 * Why: the worker encodes workflow/activity results and failures; without the codec they would land in plaintext.
 */
export function workerDataConverter(config: Config): EncryptingDataConverter {
  return dataConverterFor(config);
}

/**
 * Health check: asks the frontend for its system info under a short deadline.
 * Why: `/health` must answer quickly and say "Temporal is down" rather than hang on gRPC retries.
 * @throws AppError `TEMPORAL_UNAVAILABLE` (retryable) when Temporal does not answer in time.
 */
export async function pingTemporal(client: Client, timeoutMs = 2_000): Promise<void> {
  try {
    await client.connection.withDeadline(Date.now() + timeoutMs, () => client.workflowService.getSystemInfo({}));
  } catch (err) {
    throw new AppError('TEMPORAL_UNAVAILABLE', 'Temporal did not answer the health check', {
      retryable: true,
      cause: err,
    });
  }
}

const { IndexedValueType } = proto.temporal.api.enums.v1;
const INDEXED_VALUE_TYPE = {
  Keyword: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
  Int: IndexedValueType.INDEXED_VALUE_TYPE_INT,
} as const;

/**
 * Registers any of {@link SEARCH_ATTRIBUTES} the namespace lacks (idempotent), for self-hosted clusters.
 * Why: starting a workflow with an unregistered search attribute fails. The dev server gets them as flags instead,
 * and Temporal Cloud namespaces are configured through its own control plane (this call is refused there).
 * @returns the names that were added.
 */
export async function ensureSearchAttributes(client: Client, namespace: string): Promise<string[]> {
  const { customAttributes } = await client.connection.operatorService.listSearchAttributes({ namespace });
  const missing = SEARCH_ATTRIBUTES.filter((a) => !(a.name in (customAttributes ?? {})));
  if (missing.length === 0) return [];
  await client.connection.operatorService.addSearchAttributes({
    namespace,
    searchAttributes: Object.fromEntries(missing.map((a) => [a.name, INDEXED_VALUE_TYPE[a.type]])),
  });
  return missing.map((a) => a.name);
}
