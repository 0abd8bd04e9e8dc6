/**
 * A failed attempt's fate, as the connection machine's `computeRetry` needs it: the delay before
 * the next attempt (null: give up), and whether the error is one retrying cannot heal (then the
 * pool tells every waiter at once, not just the oldest).
 */
import { retryDelay, type RetryPolicy } from './retry.js';

export interface RetryVerdict {
  delay: number | null;
  permanent: boolean;
}

export function decideRetry(policy: RetryPolicy, attempt: number, maxAttempts: number, error: unknown): RetryVerdict {
  return { delay: retryDelay(policy, attempt, maxAttempts, error), permanent: false };
}
