import { AppError } from '../../rules/index.ts';

/** What we were doing when the EHR failed: goes into the error message and context (never ids or bodies). */
export interface FhirOperation {
  action: string;
  resourceType: string;
}

/**
 * The shape fhir-kit-client 2.0.3 rejects with for an HTTP answer it cannot use: an `Error` carrying
 * `response: { status, data }` and `config: { method, url, headers }`. It rejects this way for every non-2xx status
 * AND for a 2xx whose body is not JSON (then `status` is 2xx and `data` is the raw text). Pinned by
 * test/connectors/fhir.test.ts.
 */
interface FhirKitRejection {
  response: { status: number; data?: unknown };
}

function isFhirKitRejection(err: unknown): err is FhirKitRejection {
  if (typeof err !== 'object' || err === null || !('response' in err)) return false;
  const { response } = err;
  return (
    typeof response === 'object' && response !== null && typeof (response as { status?: unknown }).status === 'number'
  );
}

/** The first OperationOutcome issue code (a FHIR enum such as `not-found`, PHI-free), if the body is one. */
function issueCode(data: unknown): string | undefined {
  if (typeof data !== 'object' || data === null) return undefined;
  const outcome = data as { resourceType?: unknown; issue?: { code?: unknown }[] };
  if (outcome.resourceType !== 'OperationOutcome' || !Array.isArray(outcome.issue)) return undefined;
  const code = outcome.issue[0]?.code;
  return typeof code === 'string' && /^[a-z-]{1,40}$/.test(code) ? code : undefined;
}

/**
 * Maps an HTTP status the EHR answered to an AppError. Shared by fhir-kit-client rejections, batch entries
 * (`Bundle.entry.response.status`) and the token endpoint, so one status always means one code.
 *
 * 404/410 → EHR_NOT_FOUND (a retry cannot make it appear); 408/429/5xx → EHR_UNAVAILABLE (retryable); 3xx →
 * EHR_REJECTED (redirects are refused); a 2xx that reached here had an unusable body (a proxy's HTML page, a
 * truncated answer) → EHR_UNAVAILABLE (retryable);
 * every other 4xx → EHR_REJECTED (our request or credentials are wrong; retrying the same request will not help).
 */
export function fhirStatusError(status: number, op: FhirOperation, extra: Record<string, string> = {}): AppError {
  const context = { status, action: op.action, resourceType: op.resourceType, ...extra };
  const what = `FHIR ${op.action} ${op.resourceType}`;
  if (status === 404 || status === 410) {
    return new AppError('EHR_NOT_FOUND', `${what}: ${op.resourceType} not found (${status})`, { context });
  }
  if (status === 408 || status === 429 || status >= 500) {
    return new AppError('EHR_UNAVAILABLE', `${what}: EHR answered ${status}`, { retryable: true, context });
  }
  if (status >= 300 && status < 400) {
    // Redirects are never followed (egress.ts): one could carry our bearer token to another host.
    return new AppError('EHR_REJECTED', `${what}: EHR answered a redirect (${status}); redirects are not followed`, {
      context: { ...context, reason: 'redirect' },
    });
  }
  if (status < 400) {
    return new AppError('EHR_UNAVAILABLE', `${what}: unusable response body (${status})`, {
      retryable: true,
      context: { ...context, reason: 'unparseable-body' },
    });
  }
  return new AppError('EHR_REJECTED', `${what}: EHR rejected the request (${status})`, { context });
}

function errorName(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && typeof (err as { name?: unknown }).name === 'string'
    ? (err as { name: string }).name
    : undefined;
}

/**
 * Normalises whatever a FHIR call threw into an AppError that says whether a retry can help.
 *
 * fhir-kit-client's rejection carries the response body (which may hold PHI) and the request's headers (which hold
 * the bearer token), so it is deliberately NOT kept as `cause`: only the status and the OperationOutcome issue code
 * survive. Network failures and timeouts keep their cause (no PHI in a socket error).
 *
 * @throws never; returns the AppError to throw.
 */
export function toFhirError(err: unknown, op: FhirOperation): AppError {
  if (err instanceof AppError) return err;
  // fetch wraps a refusal from the egress guard's DNS lookup (egress.ts) in TypeError('fetch failed'): keep the refusal.
  if (err instanceof Error && err.cause instanceof AppError) return err.cause;
  if (isFhirKitRejection(err)) {
    const code = issueCode(err.response.data);
    return fhirStatusError(err.response.status, op, code ? { issue: code } : {});
  }
  const name = errorName(err);
  // AbortSignal.timeout() aborts with a TimeoutError DOMException; a manual abort() with an AbortError.
  if (name === 'TimeoutError' || name === 'AbortError') {
    return new AppError('EHR_UNAVAILABLE', `FHIR ${op.action} ${op.resourceType}: timed out`, {
      retryable: true,
      cause: err,
      context: { action: op.action, resourceType: op.resourceType, reason: 'timeout' },
    });
  }
  // undici's fetch rejects with TypeError('fetch failed') for refused connections, resets, DNS failures.
  return new AppError('EHR_UNAVAILABLE', `FHIR ${op.action} ${op.resourceType}: no response`, {
    retryable: true,
    cause: err,
    context: { action: op.action, resourceType: op.resourceType, reason: 'network' },
  });
}
