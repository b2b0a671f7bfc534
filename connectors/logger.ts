import { pino, type Logger } from 'pino';
import type { Config } from './config.ts';

export type { Logger };

/**
 * Structured logger. PHI never goes into a log line: log ids (case, clinic, request, FHIR resource ids), codes and
 * counts, never names, dates of birth, notes or resource bodies. The redact list is a backstop, not the policy.
 */
export function createLogger(config: Pick<Config, 'LOG_LEVEL'>, name: string): Logger {
  return pino({
    name,
    level: config.LOG_LEVEL,
    redact: {
      paths: ['*.name', '*.birthDate', '*.note', '*.resource', 'req.headers.authorization', '*.token', '*.secret'],
      censor: '[redacted]',
    },
  });
}
