// Prometheus metrics of this process (prom-client), one registry per process: the API serves it at GET /metrics, the
// worker on WORKER_METRICS_PORT. Label values are ids and codes ONLY (clinic id, kind, queue, disposition, route
// template, status, FHIR interaction): never a patient id, a name, an MRN, a raw URL or free text. Every label value
// that does not come from a closed vocabulary of our own passes through `idLabel`, which caps its shape.
import { createHash, timingSafeEqual } from 'node:crypto';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** The registry every metric below is registered in (and the default process/Node.js metrics, from the first scrape). */
export const registry = new Registry();

/** Prometheus text exposition format. */
export const METRICS_CONTENT_TYPE = registry.contentType;

const SECONDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export const httpRequests = new Counter({
  name: 'autopilot_http_requests_total',
  help: 'HTTP requests answered by the API, by method, route template (never the raw path) and status',
  labelNames: ['method', 'route', 'status'] as const,
  registers: [registry],
});

export const httpDuration = new Histogram({
  name: 'autopilot_http_request_duration_seconds',
  help: 'Time from the request reaching the API to its response, by method and route template',
  labelNames: ['method', 'route'] as const,
  buckets: SECONDS,
  registers: [registry],
});

export const webhookDeliveries = new Counter({
  name: 'autopilot_webhook_deliveries_total',
  help:
    'Signed webhook deliveries by webhook route template, clinic (`unverified` until the clinic is known) and ' +
    'status: 202 accepted, 401 bad signature or unknown clinic, 4xx refused, 503 Temporal unreachable',
  labelNames: ['webhook', 'clinic', 'status'] as const,
  registers: [registry],
});

export const casesRouted = new Counter({
  name: 'autopilot_cases_routed_total',
  help: 'Cases routed to a queue by clinic, protocol kind, disposition and queue (counted once per routing step)',
  labelNames: ['clinic', 'kind', 'disposition', 'queue'] as const,
  registers: [registry],
});

export const caseEscalations = new Counter({
  name: 'autopilot_case_escalations_total',
  help: 'Cases escalated, by clinic, kind and reason (escalated_sla: the durable SLA timer; escalated_by_nurse; …)',
  labelNames: ['clinic', 'kind', 'reason'] as const,
  registers: [registry],
});

export const fhirRequests = new Counter({
  name: 'autopilot_fhir_requests_total',
  help:
    'HTTP exchanges with EHRs by FHIR interaction (read, search, batch, create, update, capabilities, token, ' +
    'discovery) and status class (2xx…5xx, timeout, network)',
  labelNames: ['interaction', 'status_class'] as const,
  registers: [registry],
});

export const fhirDuration = new Histogram({
  name: 'autopilot_fhir_request_duration_seconds',
  help: 'Duration of one HTTP exchange with an EHR, by FHIR interaction',
  labelNames: ['interaction'] as const,
  buckets: SECONDS,
  registers: [registry],
});

export const codecFailures = new Counter({
  name: 'autopilot_payload_codec_failures_total',
  help:
    'Temporal payloads the encryption codec refused, by reason (plaintext, unknown_key, unauthenticated, ' +
    'malformed): a wrong or missing PAYLOAD_KEY, or a client without the codec',
  labelNames: ['reason'] as const,
  registers: [registry],
});

export const queueDepth = new Gauge({
  name: 'autopilot_queue_depth',
  help: 'Cases waiting in a queue, by clinic and queue (read from the app database at scrape, cached 5 s)',
  labelNames: ['clinic', 'queue'] as const,
  registers: [registry],
});

export const queueOldestAge = new Gauge({
  name: 'autopilot_queue_oldest_age_seconds',
  help: 'Age of the oldest waiting case of a queue (since the request arrived), by clinic and queue',
  labelNames: ['clinic', 'queue'] as const,
  registers: [registry],
});

export const queueOverdue = new Gauge({
  name: 'autopilot_queue_overdue_cases',
  help: 'Waiting cases past their SLA due time (should escalate at once: > 0 for minutes means no worker acts)',
  labelNames: ['clinic', 'queue'] as const,
  registers: [registry],
});

/** A lifecycle step the worker recorded (once: only a step that applied), as activities/case-projection.ts sees it. */
export interface CaseStepObservation {
  audit: string | null;
  clinicId: string;
  kind: string;
  disposition?: string | null | undefined;
  queue?: string | null | undefined;
  reason?: string | null | undefined;
}

/** Counts routings (`case.routed`) and escalations (`case.escalated`); other steps count nothing. */
export function countCaseStep(step: CaseStepObservation): void {
  if (step.audit === 'case.routed') {
    casesRouted.inc({
      clinic: idLabel(step.clinicId),
      kind: idLabel(step.kind),
      disposition: idLabel(step.disposition),
      queue: idLabel(step.queue),
    });
  } else if (step.audit === 'case.escalated') {
    caseEscalations.inc({ clinic: idLabel(step.clinicId), kind: idLabel(step.kind), reason: idLabel(step.reason) });
  }
}

/** The names this code registers (the Grafana dashboard's test holds its PromQL to them). */
export function registeredMetricNames(): string[] {
  return registry.getMetricsAsArray().map((m) => m.name);
}

const ID = /^[A-Za-z0-9._:-]{1,64}$/;

/**
 * A label value that is an id or a code of ours (clinic id, kind, queue, disposition): kept when it has the shape of
 * one, else `other`. A backstop against a value that was never meant to be a label (and against cardinality).
 */
export function idLabel(value: string | null | undefined): string {
  if (value === null || value === undefined || value === '') return 'none';
  return ID.test(value) ? value : 'other';
}

/** 200 → `2xx`; a status outside 100–599 → `other`. */
export function statusClass(status: number): string {
  return status >= 100 && status < 600 ? `${Math.floor(status / 100)}xx` : 'other';
}

let defaults = false;

/** The exposition of every metric of this process. The default process and Node.js metrics start at the first call. */
export async function metricsText(): Promise<string> {
  if (!defaults) {
    defaults = true;
    collectDefaultMetrics({ register: registry });
  }
  return registry.metrics();
}

const sha256 = (s: string) => createHash('sha256').update(s).digest();

/**
 * Whether `header` is `Bearer <token>` (compared in constant time, over hashes so lengths leak nothing): the
 * METRICS_TOKEN check of the API's /metrics and the worker's metrics endpoint.
 */
export function bearerMatches(header: string | undefined, token: string): boolean {
  const m = /^Bearer\s+(\S{1,512})$/i.exec((header ?? '').trim());
  return m !== null && timingSafeEqual(sha256(m[1]!), sha256(token));
}
