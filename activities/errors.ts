import { ApplicationFailure } from '@temporalio/activity';
import { AppError } from '../rules/index.ts';

/**
 * The only place an AppError becomes a Temporal failure: `type` = the code, `nonRetryable` = !retryable. Messages are
 * PHI-free by AppError's contract, and failures are encrypted by the failure converter anyway.
 */
export function guard<A extends unknown[], R>(fn: (...args: A) => Promise<R>): (...args: A) => Promise<R> {
  return async (...args) => {
    try {
      return await fn(...args);
    } catch (err) {
      if (err instanceof AppError) {
        throw ApplicationFailure.create({
          type: err.code,
          message: err.message,
          nonRetryable: !err.retryable,
          details: [err.context],
        });
      }
      throw err; // unknown ⇒ retryable; the workflow's retry policy bounds it
    }
  };
}
