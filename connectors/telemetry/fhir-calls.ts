// One HTTP exchange with an EHR, observed: a count and a duration per FHIR interaction and status class, and (when
// tracing is on) a client span under the activity's span. Labels and attributes: the interaction, the resource type
// and the status, never the URL (a search's query names the patient) nor a body.
import { SpanKind, SpanStatusCode, type Span } from '@opentelemetry/api';
import { fhirDuration, fhirRequests, statusClass } from './metrics.ts';
import { tracer } from './tracing.ts';

/** What the connector calls the exchange (its `FhirOperation.action`) → the interaction label. */
const INTERACTIONS: Readonly<Record<string, string>> = {
  read: 'read',
  search: 'search',
  batch: 'batch',
  create: 'create',
  update: 'update',
  capabilities: 'capabilities',
  // A batch entry sent on its own (an EHR without `batch`) is named by its method.
  get: 'read',
  post: 'create',
  put: 'update',
  delete: 'delete',
  token: 'token',
  discovery: 'discovery',
};

export function fhirInteraction(action: string): string {
  return INTERACTIONS[action] ?? 'other';
}

/** `2xx`…`5xx` for an HTTP answer; for none, `timeout` (our deadline passed) or `network`. */
export function fhirStatusClass(status: number | undefined, err?: unknown): string {
  if (status !== undefined) return statusClass(status);
  const name = err instanceof Error ? err.name : '';
  return name === 'TimeoutError' || name === 'AbortError' ? 'timeout' : 'network';
}

export interface FhirCall {
  /** The exchange ended: with the HTTP status the EHR answered, or none (and the error) when no answer came. */
  end(status: number | undefined, err?: unknown): void;
}

/** Starts observing one HTTP exchange (call `end` exactly once). `resourceType` is a FHIR type name or a step name. */
export function observeFhirCall(action: string, resourceType: string): FhirCall {
  const interaction = fhirInteraction(action);
  const started = performance.now();
  const t = tracer();
  const span: Span | undefined = t?.startSpan(`FHIR ${interaction}`, {
    kind: SpanKind.CLIENT,
    attributes: { 'fhir.interaction': interaction, 'fhir.resource_type': resourceType },
  });
  return {
    end(status, err) {
      const cls = fhirStatusClass(status, err);
      fhirRequests.inc({ interaction, status_class: cls });
      fhirDuration.observe({ interaction }, (performance.now() - started) / 1000);
      if (!span) return;
      if (status !== undefined) span.setAttribute('http.response.status_code', status);
      if (cls !== '2xx') {
        span.setAttribute('error.type', cls);
        span.setStatus({ code: SpanStatusCode.ERROR });
      }
      span.end();
    },
  };
}
