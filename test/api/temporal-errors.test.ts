import { ServiceError } from '@temporalio/client';
import { describe, expect, test } from 'vitest';
import { unavailable } from '../../api/temporal-errors.ts';
import { AppError } from '../../rules/index.ts';

/** A grpc-js error as the Temporal client receives it: an Error with a numeric status `code`. */
function grpcError(code: number, message: string): Error {
  return Object.assign(new Error(message), { code });
}

function mapped(err: unknown): unknown {
  try {
    unavailable(err);
  } catch (e) {
    return e;
  }
  throw new Error('unavailable() returned');
}

describe('Temporal errors as the API answers them', () => {
  test.each([
    [1, '1 CANCELLED: Call cancelled'],
    [4, '4 DEADLINE_EXCEEDED: Deadline exceeded'],
    [8, '8 RESOURCE_EXHAUSTED: namespace rate limit exceeded'],
    [13, '13 INTERNAL: Received RST_STREAM with code 2'],
    [14, '14 UNAVAILABLE: No connection established'],
  ])('gRPC %i, wrapped in a ServiceError, is 503 TEMPORAL_UNAVAILABLE (retryable)', (code, message) => {
    const err = mapped(
      new ServiceError('Failed to get Workflow execution history', { cause: grpcError(code, message) }),
    );
    expect(err).toBeInstanceOf(AppError);
    expect(err).toMatchObject({ code: 'TEMPORAL_UNAVAILABLE', retryable: true });
  });

  test('a refused argument or permission is our bug: it passes through (a 500 that is logged)', () => {
    for (const cause of [grpcError(3, '3 INVALID_ARGUMENT: bad id'), grpcError(7, '7 PERMISSION_DENIED: no')]) {
      const original = new ServiceError('Failed to start Workflow', { cause });
      expect(mapped(original)).toBe(original);
    }
    const bug = new TypeError('x is undefined');
    expect(mapped(bug)).toBe(bug);
  });
});
