// OpenTelemetry traces: one trace from a webhook (or a decision) through the workflow and its activities to each FHIR
// call. On only when OTEL_EXPORTER_OTLP_ENDPOINT is set (or a test hands in an exporter): otherwise nothing of the SDK
// is even loaded, no span is created and nothing is sent. Spans carry ids and codes only: every span passes through
// PhiSafeSpanProcessor, which keeps the attributes on an allow-list and drops error messages (a failure message may
// name a patient as easily as an input can; connectors/codec.ts says the same of Temporal failures).
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import {
  ROOT_CONTEXT,
  context,
  propagation,
  trace,
  type Attributes,
  type Context,
  type Tracer,
} from '@opentelemetry/api';
import type { ReadableSpan, Span, SpanExporter, SpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { ActivityInterceptorsFactory, InjectedSinks, WorkerOptions } from '@temporalio/worker';
import type { WorkflowClientInterceptor } from '@temporalio/client';
import type { Config } from '../config.ts';
import type { Logger } from '../logger.ts';

/**
 * The workflow interceptor modules of a traced worker, by path, in order: ours (a message's trace carries on into the
 * activities it causes: ./workflow-interceptors.ts), then those of @temporalio/interceptors-opentelemetry. The bundler
 * puts them into the workflow bundle (activities/bundle-workflows.ts builds `workflow-bundle.traced.js` with them).
 */
export const TRACED_WORKFLOW_MODULES: readonly string[] = [
  fileURLToPath(new URL('./workflow-interceptors.ts', import.meta.url)),
  createRequire(import.meta.url).resolve('@temporalio/interceptors-opentelemetry/lib/workflow-interceptors'),
];

/**
 * Span attribute keys that may leave the process: ours (route templates, FHIR interaction and resource type, status
 * codes) and the Temporal interceptors' ids (workflow, run, activity and update ids: ours, PHI-free by design) and the
 * workflow info the workflow span sink adds (its type, task queue, namespace, attempt). Anything else is dropped.
 */
export const SPAN_ATTRIBUTE_ALLOW_LIST: ReadonlySet<string> = new Set([
  'http.request.method',
  'http.route',
  'http.response.status_code',
  'fhir.interaction',
  'fhir.resource_type',
  'error.type',
  'exception.type',
  'temporalWorkflowId',
  'temporalActivityId',
  'temporalUpdateId',
  'run_id',
  'workflowId',
  'runId',
  'workflowType',
  'taskQueue',
  'namespace',
  'attempt',
]);

function allowed(attributes: Attributes): Attributes {
  const out: Attributes = {};
  for (const [key, value] of Object.entries(attributes)) {
    if (!SPAN_ATTRIBUTE_ALLOW_LIST.has(key)) continue;
    if (typeof value === 'number' || typeof value === 'boolean') out[key] = value;
    else if (typeof value === 'string') out[key] = value.slice(0, 200);
  }
  return out;
}

/** A copy of `span` with allowed attributes only, no status message, and exception events reduced to their type. */
export function phiSafeSpan(span: ReadableSpan): ReadableSpan {
  return {
    name: span.name,
    kind: span.kind,
    spanContext: () => span.spanContext(),
    ...(span.parentSpanId === undefined ? {} : { parentSpanId: span.parentSpanId }),
    startTime: span.startTime,
    endTime: span.endTime,
    status: { code: span.status.code },
    attributes: allowed(span.attributes),
    links: span.links.map((l) => ({ context: l.context })),
    events: span.events.map((e) => ({ name: e.name, time: e.time, attributes: allowed(e.attributes ?? {}) })),
    duration: span.duration,
    ended: span.ended,
    resource: span.resource,
    instrumentationLibrary: span.instrumentationLibrary,
    droppedAttributesCount: span.droppedAttributesCount,
    droppedEventsCount: span.droppedEventsCount,
    droppedLinksCount: span.droppedLinksCount,
  };
}

/** Hands every ended span to `inner` as {@link phiSafeSpan}: no exporter ever sees an attribute off the allow-list. */
export class PhiSafeSpanProcessor implements SpanProcessor {
  constructor(private readonly inner: SpanProcessor) {}
  onStart(span: Span, parentContext: Context): void {
    this.inner.onStart(span, parentContext);
  }
  onEnd(span: ReadableSpan): void {
    this.inner.onEnd(phiSafeSpan(span));
  }
  forceFlush(): Promise<void> {
    return this.inner.forceFlush();
  }
  shutdown(): Promise<void> {
    return this.inner.shutdown();
  }
}

interface TracingState {
  tracer: Tracer;
  clientInterceptors: WorkflowClientInterceptor[];
  worker: {
    activity: ActivityInterceptorsFactory[];
    sinks: InjectedSinks<Record<string, never>>;
  };
}

let state: TracingState | undefined;
/** The trace id the next root span takes (see {@link withRootTraceId}); consumed by the id generator. */
let nextTraceId: string | undefined;

/** Whether this process traces (and so whether the hooks below create spans at all). */
export function tracer(): Tracer | undefined {
  return state?.tracer;
}

/**
 * Runs `start` (which must start a root span synchronously) with `traceId` as the root span's trace id. The API makes
 * its request id (a UUID) the trace id of the request's span, so X-Request-Id names the trace (without the dashes).
 */
export function withRootTraceId<T>(traceId: string, start: (root: Context) => T): T {
  nextTraceId = /^[0-9a-f]{32}$/.test(traceId) && !/^0+$/.test(traceId) ? traceId : undefined;
  try {
    return start(ROOT_CONTEXT);
  } finally {
    nextTraceId = undefined;
  }
}

/** The Temporal client interceptors that carry the current trace into workflow starts, signals and Updates. */
export function temporalClientInterceptors(): { interceptors?: { workflow: WorkflowClientInterceptor[] } } {
  return state ? { interceptors: { workflow: state.clientInterceptors } } : {};
}

/**
 * What a worker adds to `Worker.create` to trace: the activity interceptors and the sink the workflow interceptors
 * export their spans through. The workflow interceptors themselves are in the bundle: {@link TRACED_WORKFLOW_MODULES}
 * (`workflowModules` with `workflowsPath`, or the traced production bundle). Empty when tracing is off.
 */
export function workerTracingOptions(): Pick<WorkerOptions, 'interceptors' | 'sinks'> {
  if (!state) return {};
  return { interceptors: { activity: state.worker.activity }, sinks: state.worker.sinks };
}

export interface TracingHandle {
  /** Sends what is still buffered and stops tracing. */
  shutdown(): Promise<void>;
}

/**
 * Starts tracing for this process when OTEL_EXPORTER_OTLP_ENDPOINT is set (OTLP over HTTP/protobuf to
 * `{endpoint}/v1/traces`), or with `exporter` (tests: an in-memory exporter, spans handed over as they end).
 * Returns undefined, having loaded nothing, otherwise. Call once per process, before creating Temporal clients.
 */
export async function startTracing(
  config: Pick<Config, 'OTEL_EXPORTER_OTLP_ENDPOINT'>,
  service: string,
  opts: { exporter?: SpanExporter; logger?: Logger } = {},
): Promise<TracingHandle | undefined> {
  const endpoint = config.OTEL_EXPORTER_OTLP_ENDPOINT;
  if (!endpoint && !opts.exporter) return undefined;
  if (state) throw new Error('tracing is already started in this process');
  const [{ NodeTracerProvider }, base, { Resource }, otelTemporal] = await Promise.all([
    import('@opentelemetry/sdk-trace-node'),
    import('@opentelemetry/sdk-trace-base'),
    import('@opentelemetry/resources'),
    import('@temporalio/interceptors-opentelemetry'),
  ]);
  const exporter =
    opts.exporter ??
    new (await import('@opentelemetry/exporter-trace-otlp-proto')).OTLPTraceExporter({
      url: `${endpoint!.replace(/\/+$/, '')}/v1/traces`,
    });
  const inner = opts.exporter ? new base.SimpleSpanProcessor(exporter) : new base.BatchSpanProcessor(exporter);
  const processor = new PhiSafeSpanProcessor(inner);
  const resource = new Resource({ 'service.name': service });
  const random = new base.RandomIdGenerator();
  const provider = new NodeTracerProvider({
    resource,
    spanProcessors: [processor],
    idGenerator: {
      generateTraceId: () => nextTraceId ?? random.generateTraceId(),
      generateSpanId: () => random.generateSpanId(),
    },
  });
  provider.register(); // the AsyncLocalStorage context manager and the W3C propagator the interceptors inject with
  const t = trace.getTracer('ehr-autopilot');
  state = {
    tracer: t,
    clientInterceptors: [new otelTemporal.OpenTelemetryWorkflowClientInterceptor()],
    worker: {
      activity: [
        (ctx) => ({
          inbound: new otelTemporal.OpenTelemetryActivityInboundInterceptor(ctx),
          outbound: new otelTemporal.OpenTelemetryActivityOutboundInterceptor(ctx),
        }),
      ],
      sinks: { exporter: otelTemporal.makeWorkflowExporter(processor, resource) } as unknown as InjectedSinks<
        Record<string, never>
      >,
    },
  };
  opts.logger?.info({ service, exporter: opts.exporter ? 'custom' : 'otlp' }, 'tracing on');
  return {
    async shutdown() {
      state = undefined;
      await provider.shutdown();
      trace.disable();
      propagation.disable();
      context.disable();
    },
  };
}
