/** The service's whole failure vocabulary. Codes are stable: API clients and workflows branch on them. */
export type ErrorCode =
  | 'INVALID_INPUT'
  | 'UNAUTHENTICATED'
  | 'FORBIDDEN'
  | 'NOT_FOUND'
  | 'CONFLICT'
  | 'PAYLOAD_TOO_LARGE'
  | 'RATE_LIMITED'
  | 'PROTOCOL_INVALID'
  /** Well-formed, but not usable: refers to something that does not exist, or a key that cannot be read. */
  | 'UNPROCESSABLE'
  | 'REVIEW_REJECTED'
  | 'EHR_NOT_FOUND'
  | 'EHR_REJECTED'
  | 'EHR_UNAVAILABLE'
  | 'TEMPORAL_UNAVAILABLE'
  | 'CONFIG_INVALID';

export type ErrorContext = Readonly<Record<string, string | number | boolean>>;

/**
 * An expected failure. `message` and `context` must be PHI-free: both end up in logs and Temporal history.
 * `issues` carries field-level problems (path + message) for INVALID_INPUT / PROTOCOL_INVALID.
 */
export class AppError extends Error {
  override readonly name = 'AppError';
  readonly retryable: boolean;
  readonly context: ErrorContext;
  readonly issues: readonly { path: string; message: string }[];

  constructor(
    readonly code: ErrorCode,
    message: string,
    options: {
      retryable?: boolean;
      cause?: unknown;
      context?: Record<string, string | number | boolean>;
      issues?: { path: string; message: string }[];
    } = {},
  ) {
    super(message, { cause: options.cause });
    this.retryable = options.retryable ?? false;
    this.context = options.context ?? {};
    this.issues = options.issues ?? [];
  }
}

/** Formats a zod-style issue path (`['entry', 0, 'resource']`) as a JSON path (`$.entry[0].resource`). */
export function jsonPath(path: readonly PropertyKey[]): string {
  return path.reduce<string>((acc, key) => (typeof key === 'number' ? `${acc}[${key}]` : `${acc}.${String(key)}`), '$');
}
