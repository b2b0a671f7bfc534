// The worker's telemetry: ONE Prometheus scrape target per worker process (WORKER_METRICS_PORT, `/metrics`) that
// answers with this process's metrics (prom-client: FHIR calls, cases routed, escalations, codec refusals, process and
// Node.js) followed by the Temporal SDK's own (its Rust core's Prometheus exporter, bound to a loopback port of its
// own and read at each scrape), and tracing when OTEL_EXPORTER_OTLP_ENDPOINT is set.
import { createServer, type Server } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import type { WorkerOptions } from '@temporalio/worker';
import type { Config } from '../config.ts';
import type { Logger } from '../logger.ts';
import { installTemporalRuntimeLogger } from '../temporal-runtime.ts';
import { METRICS_CONTENT_TYPE, bearerMatches, metricsText } from './metrics.ts';
import { TRACED_WORKFLOW_MODULES, startTracing, workerTracingOptions, type TracingHandle } from './tracing.ts';

/** A free TCP port on loopback (bound, read, released: another process could take it in between, rarely). */
async function freeLoopbackPort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** The SDK's exposition, or '' when it does not answer within a second (our metrics still go out). */
async function sdkMetrics(url: string | undefined): Promise<string> {
  if (!url) return '';
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
    return res.ok ? await res.text() : '';
  } catch {
    return '';
  }
}

export interface MetricsEndpoint {
  url: string;
  close(): Promise<void>;
}

/**
 * Serves `GET /metrics` on `host:port`: this process's registry, then the exposition at `sdkUrl` (the Temporal
 * SDK's). With `token`, `Authorization: Bearer <token>` is required (401 otherwise). Port 0 picks a free port.
 */
export async function serveMetrics(opts: {
  host: string;
  port: number;
  token?: string | undefined;
  sdkUrl?: string | undefined;
}): Promise<MetricsEndpoint> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('Not found: the metrics are at /metrics\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('Method not allowed\n');
      return;
    }
    if (opts.token && !bearerMatches(req.headers.authorization, opts.token)) {
      res.writeHead(401, { 'www-authenticate': 'Bearer', 'content-type': 'text/plain' }).end('Unauthorized\n');
      return;
    }
    void Promise.all([metricsText(), sdkMetrics(opts.sdkUrl)]).then(
      ([own, sdk]) => {
        res.writeHead(200, { 'content-type': METRICS_CONTENT_TYPE, 'cache-control': 'no-store' });
        res.end(req.method === 'HEAD' ? undefined : sdk ? `${own}\n${sdk}` : own);
      },
      () => res.writeHead(500, { 'content-type': 'text/plain' }).end('metrics failed\n'),
    );
  });
  server.listen(opts.port, opts.host);
  await Promise.race([once(server, 'listening'), once(server, 'error').then(([err]) => Promise.reject(err as Error))]);
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${opts.host.includes(':') ? `[${opts.host}]` : opts.host}:${port}/metrics`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

export interface WorkerTelemetry {
  /** The metrics endpoint, when it runs. */
  metrics: MetricsEndpoint | undefined;
  /** The production workflow bundle to load: the traced one carries the OpenTelemetry workflow interceptors. */
  bundleFile: 'workflow-bundle.js' | 'workflow-bundle.traced.js';
  /** What `Worker.create` adds: interceptors and the span sink (with `workflowsPath`, the interceptor module too). */
  workerOptions(opts: { bundled: boolean }): Pick<WorkerOptions, 'interceptors' | 'sinks'>;
  close(): Promise<void>;
}

/**
 * Installs the Temporal runtime (our logger; its Prometheus exporter on a loopback port when the metrics endpoint is
 * on), starts tracing when configured and the metrics endpoint. Call once, before any Temporal connection. A metrics
 * port that cannot be bound is logged as an error and the worker runs on without it: triage matters more than its
 * metrics, and Prometheus reports the target down.
 */
export async function startWorkerTelemetry(
  config: Pick<Config, 'WORKER_METRICS_PORT' | 'WORKER_METRICS_HOST' | 'METRICS_TOKEN' | 'OTEL_EXPORTER_OTLP_ENDPOINT'>,
  logger: Logger,
): Promise<WorkerTelemetry> {
  const tracing: TracingHandle | undefined = await startTracing(config, 'ehr-autopilot-worker', { logger });
  let sdkAddress: string | undefined;
  if (config.WORKER_METRICS_PORT !== 0) {
    sdkAddress = `127.0.0.1:${await freeLoopbackPort()}`;
    try {
      installTemporalRuntimeLogger(logger, { prometheusBindAddress: sdkAddress });
    } catch (err) {
      logger.error({ err: { name: (err as Error).name } }, 'Temporal SDK metrics not started');
      sdkAddress = undefined;
      installTemporalRuntimeLogger(logger);
    }
  } else {
    installTemporalRuntimeLogger(logger);
  }
  let metrics: MetricsEndpoint | undefined;
  if (config.WORKER_METRICS_PORT !== 0) {
    try {
      metrics = await serveMetrics({
        host: config.WORKER_METRICS_HOST,
        port: config.WORKER_METRICS_PORT,
        token: config.METRICS_TOKEN,
        sdkUrl: sdkAddress && `http://${sdkAddress}/metrics`,
      });
      logger.info({ url: metrics.url }, 'worker metrics listening');
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      logger.error(
        { err: { name: e.name, code: e.code }, port: config.WORKER_METRICS_PORT },
        'worker metrics endpoint not started (set WORKER_METRICS_PORT to a free port, or 0)',
      );
    }
  }
  return {
    metrics,
    bundleFile: tracing ? 'workflow-bundle.traced.js' : 'workflow-bundle.js',
    workerOptions({ bundled }) {
      const options = workerTracingOptions();
      if (!tracing || bundled) return options;
      return { ...options, interceptors: { ...options.interceptors, workflowModules: [...TRACED_WORKFLOW_MODULES] } };
    },
    async close() {
      await metrics?.close();
      await tracing?.shutdown();
    },
  };
}
