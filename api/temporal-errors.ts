import { AppError } from '../rules/index.ts';

/**
 * gRPC status codes that mean "the server cannot answer now, retry": CANCELLED (a dropped HTTP/2 stream),
 * DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, ABORTED, INTERNAL (grpc-js reports a reset stream as `13 INTERNAL: Received
 * RST_STREAM`) and UNAVAILABLE. Anything else (a bad argument, a missing permission) is our bug and stays a 500.
 */
const TRANSIENT_CODES = new Set([1, 4, 8, 10, 13, 14]);

/** The error and its causes, outermost first (the Temporal client wraps a gRPC error in a ServiceError). */
function causes(err: unknown): Error[] {
  const chain: Error[] = [];
  for (let e: unknown = err; e instanceof Error && chain.length < 4; e = e.cause) chain.push(e);
  return chain;
}

/** Maps a Temporal server that cannot answer now to 503 `TEMPORAL_UNAVAILABLE`; everything else passes through. */
export function unavailable(err: unknown): never {
  const transient = causes(err).some((e) => {
    const code = (e as { code?: unknown }).code;
    return (
      (typeof code === 'number' && TRANSIENT_CODES.has(code)) ||
      /UNAVAILABLE|DEADLINE_EXCEEDED|RST_STREAM|ECONNREFUSED|ECONNRESET|Failed to connect|timed out/i.test(e.message)
    );
  });
  if (transient) {
    throw new AppError('TEMPORAL_UNAVAILABLE', 'The workflow service is unreachable; retry later', {
      retryable: true,
      cause: err,
    });
  }
  throw err;
}
