import { isSpanContextValid, trace } from '@opentelemetry/api';
import { pino, type Logger } from 'pino';
import type { Config } from './config.ts';

export type { Logger };

/** The active span's trace and span ids (tracing on, inside a request, an activity or a FHIR call), else nothing. */
export function logTraceIds(): { traceId?: string; spanId?: string } {
  const span = trace.getActiveSpan()?.spanContext();
  return span && isSpanContextValid(span) ? { traceId: span.traceId, spanId: span.spanId } : {};
}

/**
 * Structured logger. Every line logged inside a traced request or activity carries `traceId` (connectors/telemetry);
 * in the API that is the request id without its dashes. PHI never goes into a log line: log ids (case, clinic, request, FHIR resource ids), codes and
 * counts, never names, dates of birth, notes or resource bodies. The redact list is a backstop, not the policy.
 */
export function createLogger(config: Pick<Config, 'LOG_LEVEL'>, name: string): Logger {
  return pino({
    name,
    level: config.LOG_LEVEL,
    mixin: logTraceIds,
    redact: {
      paths: ['*.name', '*.birthDate', '*.note', '*.resource', 'req.headers.authorization', '*.token', '*.secret'],
      censor: '[redacted]',
    },
  });
}
