/**
 * A failed attempt's fate, as the connection machine's `computeRetry` needs it: the delay before
 * the next attempt (null: give up), and whether the error is one retrying cannot heal (then the
 * pool tells every waiter at once, not just the oldest: they would all get the same answer).
 */
import { retryDelay, type RetryPolicy } from './retry.js';
import { isPermanentError } from './transport/errors.js';

export interface RetryVerdict {
  delay: number | null;
  permanent: boolean;
}

export function decideRetry(policy: RetryPolicy, attempt: number, maxAttempts: number, error: unknown): RetryVerdict {
  const delay = retryDelay(policy, attempt, maxAttempts, error);
  return { delay, permanent: delay === null && isPermanentError(error) };
}
