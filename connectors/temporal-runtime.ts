import { DefaultLogger, Runtime, type LogEntry } from '@temporalio/worker';
import type { Logger } from './logger.ts';

const KEEP = [
  'workflowId',
  'workflowType',
  'activityType',
  'activityId',
  'taskQueue',
  'attempt',
  'durationMs',
  'state',
  'isLocal',
  // The OpenTelemetry interceptors' trace context (ids), when tracing is on.
  'trace_id',
  'span_id',
];

/** An error reduced to what may be logged: its class and failure type, never its message (which may carry PHI). */
function safeError(err: unknown): Record<string, unknown> | undefined {
  if (!(err instanceof Error)) return undefined;
  const e = err as Error & { type?: unknown; cause?: unknown };
  const cause = e.cause as (Error & { type?: unknown }) | undefined;
  return {
    name: e.name,
    ...(typeof e.type === 'string' ? { type: e.type } : {}),
    ...(cause instanceof Error
      ? { cause: { name: cause.name, ...(typeof cause.type === 'string' ? { type: cause.type } : {}) } }
      : {}),
  };
}

/**
 * Routes the Temporal SDK's own logs (worker state, activity and workflow failures) into our structured logger with
 * PHI discipline: the SDK would print decrypted failure messages and stack traces; we keep ids, types and counts.
 * Call once per process, before creating a worker. With `prometheusBindAddress`, the SDK's own metrics are served
 * there (connectors/telemetry/worker-telemetry.ts binds it to loopback and merges it into the worker's endpoint).
 */
export function installTemporalRuntimeLogger(logger: Logger, opts: { prometheusBindAddress?: string } = {}): void {
  const sdk = logger.child({ component: 'temporal-sdk' });
  Runtime.install({
    ...(opts.prometheusBindAddress
      ? { telemetryOptions: { metrics: { prometheus: { bindAddress: opts.prometheusBindAddress } } } }
      : {}),
    logger: new DefaultLogger('INFO', (entry: LogEntry) => {
      const meta: Record<string, unknown> = {};
      for (const k of KEEP) if (entry.meta?.[k] !== undefined) meta[k] = entry.meta[k];
      const error = safeError(entry.meta?.error ?? entry.meta?.failure);
      if (error) meta.error = error;
      // Webpack's bundle report is noise in a product log.
      const message = entry.message.length > 200 ? entry.message.slice(0, 80) + '…' : entry.message;
      const level = entry.level.toLowerCase() as 'trace' | 'debug' | 'info' | 'warn' | 'error';
      sdk[level](meta, message);
    }),
  });
}
