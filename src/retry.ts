/**
 * Retry strategies (fixed, exponential with jitter, custom) and the retry policy pools and
 * connect() share: when a failed attempt is retried, after how long, and when not at all.
 * Subtlety: strategies are pure and stateless (one may serve any number of connections); the
 * waiting belongs to the connection machine's `backoff` state, so shutdown can cancel it.
 */
import { MAX_TIMER_MS } from './clock.js';
import { ConfigurationError, ConnectionManagerError } from './errors.js';
import { checkDuration, describe, type Duration } from './time.js';
import { isPermanentError } from './transport/errors.js';

/**
 * How many attempts a connect makes before giving up, counting every attempt, the first
 * included (the seed's `maxReconnectionAttempts`). With 6, one attempt plus five retries.
 */
export const DEFAULT_MAX_RECONNECTION_ATTEMPTS = 6;

/** How long one connection attempt (TCP connect and TLS handshake together) may take. */
export const DEFAULT_CONNECT_TIMEOUT: Duration = 10_000;

/** The cap on an exponential strategy's delay when `maxDelay` is not given (30 s, as in the seed). */
export const DEFAULT_MAX_RETRY_DELAY: Duration = 30_000;

/** The growth factor of an exponential strategy when `multiplier` is not given. */
export const DEFAULT_RETRY_MULTIPLIER = 2;

/** `jitter: true` spreads each delay uniformly over ±this fraction (the seed's ±10 %). */
export const DEFAULT_JITTER_RATIO = 0.1;

/**
 * The longest delay a strategy ever answers. Node fires a `setTimeout` longer than
 * 2^31 - 1 ms after 1 ms (with a warning), so a larger "wait" would become a retry storm.
 */
export const MAX_RETRY_DELAY: Duration = MAX_TIMER_MS;

/**
 * - `true`: ±10 % around the delay (the seed's behaviour), never above `maxDelay`.
 * - `'full'`: AWS "full jitter", uniform in [0, delay].
 * - `'equal'`: AWS "equal jitter", uniform in [delay / 2, delay].
 * - `false`: the exact delay.
 */
export type JitterMode = boolean | 'full' | 'equal';

/** Options every strategy takes. */
export interface RetryClassification {
  /**
   * Whether a failed attempt's error may be retried at all. Default: not when
   * {@link isPermanentError} says retrying cannot heal it (a TLS certificate that fails
   * verification, unloadable local TLS material, a `ConfigurationError`). A strategy given a
   * predicate uses it instead, both ways: `() => true` retries everything (the budget still
   * counts), a stricter one stops on more. A predicate that throws stops retrying
   * (`'strategy-failed'`).
   */
  retryable?: (error: unknown) => boolean;
}

export interface ExponentialRetryOptions extends RetryClassification {
  /** The delay after the first failed attempt. */
  initialDelay: Duration;
  /** No delay exceeds this, jitter included. Default 30 s. Must be >= `initialDelay`. */
  maxDelay?: Duration;
  /** Each retry waits `multiplier` times longer than the one before. Default 2; at least 1. */
  multiplier?: number;
  /** Default `true` (±10 %). */
  jitter?: JitterMode;
  /** A source of numbers in [0, 1), injectable for deterministic tests. Default `Math.random`. */
  random?: () => number;
}

/**
 * A user-supplied strategy. Returning `null`, `undefined`, `NaN`, `Infinity`, 0 or a negative
 * number stops retrying (0 stops, as in the Swift original). Delays above {@link MAX_RETRY_DELAY}
 * are clamped to it. `error` is what made attempt `attempt` fail.
 */
export type CustomRetryFunction = (attempt: number, maxAttempts: number, error: unknown) => Duration | null | undefined;

/** Why a strategy chose to stop. */
export type RetryStopReason =
  /** `attempt >= maxAttempts`: the attempt budget is spent. */
  | 'exhausted'
  /** A custom function returned its "stop" answer. */
  | 'stopped'
  /** A custom function (or a `retryable` predicate) threw; `error` carries what it threw. */
  | 'strategy-failed'
  /** The error is not retryable: permanent by {@link isPermanentError}, or by the strategy's `retryable`. */
  | 'permanent';

export type RetryDecision =
  | { readonly retry: true; readonly delay: Duration }
  | { readonly retry: false; readonly reason: RetryStopReason; readonly error?: RetryStrategyError };

/**
 * A custom retry function threw. The connect stops retrying; the original exception is `cause`.
 * It is reported through {@link RetryStrategy.decide} and never thrown by `nextDelay`.
 */
export class RetryStrategyError extends ConnectionManagerError {
  readonly attempt: number;
  constructor(attempt: number, cause: unknown) {
    super('ERR_RETRY_STRATEGY', `the custom retry strategy threw after attempt ${attempt}; retrying stops`, { cause });
    this.attempt = attempt;
  }
}

/**
 * Decides whether, and after how long, a failed connection attempt is retried.
 *
 * Counting: `attempt` is the 1-based number of the attempt that has just failed, and
 * `maxAttempts` counts every attempt, the first included (default
 * {@link DEFAULT_MAX_RECONNECTION_ATTEMPTS}; `Infinity` means no limit). When
 * `attempt >= maxAttempts` every strategy stops, so `maxAttempts: 1` means "never retry".
 *
 * Strategies are pure: they keep no state between calls and start no timers, so one strategy
 * object may be shared by any number of connections, and the caller owns the waiting (and its
 * cancellation).
 */
export interface RetryStrategy {
  readonly kind: 'fixed' | 'exponential' | 'custom';
  /**
   * The delay before attempt `attempt + 1`, or `null` to stop. Never throws because of the
   * strategy itself (a throwing custom function answers `null`; {@link decide} says why), so it
   * is safe to call inside a statechart action. It throws a `RangeError` only when `attempt` or
   * `maxAttempts` is not a valid count, which is a bug in the caller.
   */
  nextDelay(attempt: number, maxAttempts: number, error?: unknown): Duration | null;
  /** The same decision as {@link nextDelay}, with the reason when it stops. */
  decide(attempt: number, maxAttempts: number, error?: unknown): RetryDecision;
}

const EXHAUSTED: RetryDecision = Object.freeze({ retry: false, reason: 'exhausted' });
const STOPPED: RetryDecision = Object.freeze({ retry: false, reason: 'stopped' });
const PERMANENT: RetryDecision = Object.freeze({ retry: false, reason: 'permanent' });

const defaultRetryable = (error: unknown): boolean => !isPermanentError(error);

/** Strategies built by {@link RetryStrategy}: they classify errors themselves. */
const classifying = new WeakSet<RetryStrategy>();

function checkCounts(attempt: number, maxAttempts: number): void {
  if (!Number.isInteger(attempt) || attempt < 1) {
    throw new RangeError(`attempt must be an integer >= 1, got ${describe(attempt)}`);
  }
  if (!(maxAttempts === Infinity || (Number.isInteger(maxAttempts) && maxAttempts >= 1))) {
    throw new RangeError(`maxAttempts must be an integer >= 1 or Infinity, got ${describe(maxAttempts)}`);
  }
}

function makeStrategy(
  kind: RetryStrategy['kind'],
  retryable: (error: unknown) => boolean,
  decideDelay: (attempt: number, maxAttempts: number, error: unknown) => RetryDecision,
): RetryStrategy {
  const decide = (attempt: number, maxAttempts: number, error?: unknown): RetryDecision => {
    checkCounts(attempt, maxAttempts);
    if (attempt >= maxAttempts) return EXHAUSTED;
    let worthRetrying: boolean;
    try {
      worthRetrying = retryable(error);
    } catch (thrown) {
      return { retry: false, reason: 'strategy-failed', error: new RetryStrategyError(attempt, thrown) };
    }
    if (!worthRetrying) return PERMANENT;
    return decideDelay(attempt, maxAttempts, error);
  };
  const strategy: RetryStrategy = Object.freeze({
    kind,
    decide,
    nextDelay(attempt: number, maxAttempts: number, error?: unknown): Duration | null {
      const d = decide(attempt, maxAttempts, error);
      return d.retry ? d.delay : null;
    },
  });
  classifying.add(strategy);
  return strategy;
}

/** The `retryable` option of a strategy, validated; the default classification when absent. */
function readRetryable(options: RetryClassification | undefined, field = 'retryStrategy.options'): (error: unknown) => boolean {
  if (options === undefined) return defaultRetryable;
  if (options === null || typeof options !== 'object') {
    throw new ConfigurationError(field, `must be an object ({ retryable }), got ${describe(options)}`);
  }
  const { retryable } = options;
  if (retryable === undefined) return defaultRetryable;
  if (typeof retryable !== 'function') {
    throw new ConfigurationError('retryStrategy.retryable', `must be a function (error) => boolean, got ${describe(retryable)}`);
  }
  return (error) => retryable(error) === true;
}

function checkDelay(field: string, value: unknown): Duration {
  const d = checkDuration(field, value);
  if (d > MAX_RETRY_DELAY) {
    throw new ConfigurationError(field, `must be at most ${MAX_RETRY_DELAY} ms (Node's timer limit), got ${d}`);
  }
  return d;
}

/** A `random()` that misbehaves must not produce a negative or oversized delay. */
function unit(random: () => number): number {
  const r = random();
  if (typeof r !== 'number' || Number.isNaN(r)) return 0.5;
  return Math.min(1, Math.max(0, r));
}

/**
 * Validates a `maxAttempts`-style option: an integer >= 1, or `Infinity` for "retry forever".
 * For callers that take the count from users (e.g. `maxReconnectionAttempts`).
 */
export function checkMaxAttempts(field: string, value: unknown): number {
  if (value === Infinity) return value;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    throw new ConfigurationError(field, `must be an integer >= 1 or Infinity, got ${describe(value)}`);
  }
  return value;
}

/** Checks that `value` is a strategy built by {@link RetryStrategy} (or shaped like one). */
export function checkRetryStrategy(field: string, value: unknown): RetryStrategy {
  if (
    value === null ||
    typeof value !== 'object' ||
    typeof (value as RetryStrategy).nextDelay !== 'function' ||
    typeof (value as RetryStrategy).decide !== 'function'
  ) {
    throw new ConfigurationError(field, `must be a RetryStrategy (RetryStrategy.fixed/exponential/custom), got ${describe(value)}`);
  }
  return value as RetryStrategy;
}

function fixed(delay: Duration, options?: RetryClassification): RetryStrategy {
  const d = checkDelay('retryStrategy.delay', delay);
  const retryable = readRetryable(options);
  const decision: RetryDecision = Object.freeze({ retry: true, delay: d });
  return makeStrategy('fixed', retryable, () => decision);
}

function exponential(opts: ExponentialRetryOptions): RetryStrategy {
  if (opts === null || typeof opts !== 'object') {
    throw new ConfigurationError('retryStrategy', `exponential() needs an options object, got ${describe(opts)}`);
  }
  const initialDelay = checkDelay('retryStrategy.initialDelay', opts.initialDelay);
  const maxDelay = checkDelay('retryStrategy.maxDelay', opts.maxDelay ?? DEFAULT_MAX_RETRY_DELAY);
  if (maxDelay < initialDelay) {
    throw new ConfigurationError(
      'retryStrategy.maxDelay',
      `must be >= initialDelay (${initialDelay}), got ${maxDelay}` +
        (opts.maxDelay === undefined ? ` (the default; pass a larger maxDelay)` : ''),
    );
  }
  const multiplier = opts.multiplier ?? DEFAULT_RETRY_MULTIPLIER;
  if (typeof multiplier !== 'number' || Number.isNaN(multiplier) || multiplier < 1 || !Number.isFinite(multiplier)) {
    throw new ConfigurationError('retryStrategy.multiplier', `must be a finite number >= 1, got ${describe(multiplier)}`);
  }
  const jitter = opts.jitter ?? true;
  if (jitter !== true && jitter !== false && jitter !== 'full' && jitter !== 'equal') {
    throw new ConfigurationError('retryStrategy.jitter', `must be true, false, 'full' or 'equal', got ${describe(jitter)}`);
  }
  const random = opts.random ?? Math.random;
  if (typeof random !== 'function') {
    throw new ConfigurationError('retryStrategy.random', `must be a function returning [0, 1), got ${describe(random)}`);
  }
  const retryable = readRetryable(opts);

  return makeStrategy('exponential', retryable, (attempt) => {
    // 0 * Infinity is NaN once multiplier ** n overflows, so a zero initial delay stays zero.
    const capped = initialDelay === 0 ? 0 : Math.min(maxDelay, initialDelay * multiplier ** (attempt - 1));
    let delay: number;
    switch (jitter) {
      case false:
        delay = capped;
        break;
      case 'full':
        delay = unit(random) * capped;
        break;
      case 'equal':
        delay = capped / 2 + (unit(random) * capped) / 2;
        break;
      default:
        // The Swift original could exceed maxDelay here; the clamp is the fix.
        delay = Math.min(maxDelay, Math.max(0, capped * (1 + DEFAULT_JITTER_RATIO * (2 * unit(random) - 1))));
    }
    return { retry: true, delay };
  });
}

function custom(fn: CustomRetryFunction, options?: RetryClassification): RetryStrategy {
  if (typeof fn !== 'function') {
    throw new ConfigurationError('retryStrategy', `custom() needs a function (attempt, maxAttempts, error) => delay, got ${describe(fn)}`);
  }
  const retryable = readRetryable(options);
  return makeStrategy('custom', retryable, (attempt, maxAttempts, error) => {
    let answer: unknown;
    try {
      answer = fn(attempt, maxAttempts, error);
    } catch (thrown) {
      // Stopping (rather than retrying on a guess) is the conservative answer, and the
      // thrown error travels with the decision so the connect can report it.
      return { retry: false, reason: 'strategy-failed', error: new RetryStrategyError(attempt, thrown) };
    }
    if (typeof answer !== 'number' || !(answer > 0) || answer === Infinity) return STOPPED;
    return { retry: true, delay: Math.min(answer, MAX_RETRY_DELAY) };
  });
}

/**
 * Factories for the three strategies of the seed. Each validates its options immediately and
 * throws a {@link ConfigurationError} naming the field (`retryStrategy.initialDelay`, ...).
 *
 * - `fixed(delay, { retryable }?)`: the same delay before every retry (0 retries immediately).
 * - `exponential({ initialDelay, maxDelay = 30 s, multiplier = 2, jitter = true, retryable })`:
 *   `min(maxDelay, initialDelay * multiplier ** (attempt - 1))`, then jittered per {@link JitterMode};
 *   the result is never negative and never above `maxDelay`.
 * - `custom(fn, { retryable }?)`: `fn(attempt, maxAttempts, error)` answers the delay; see
 *   {@link CustomRetryFunction} for the answers that stop. `fn` is only called while attempts
 *   remain and for retryable errors.
 *
 * Every strategy stops at once (reason `'permanent'`) on an error retrying cannot heal
 * ({@link isPermanentError}: a certificate that fails verification, unloadable local TLS
 * material, ...), unless its `retryable` predicate says otherwise (see {@link RetryClassification}).
 */
export const RetryStrategy: RetryStrategyFactories = Object.freeze({ fixed, exponential, custom });

/** The type of the {@link RetryStrategy} factory object. */
export interface RetryStrategyFactories {
  fixed(delay: Duration, options?: RetryClassification): RetryStrategy;
  exponential(opts: ExponentialRetryOptions): RetryStrategy;
  custom(fn: CustomRetryFunction, options?: RetryClassification): RetryStrategy;
}

/**
 * How a connection retries: its strategy (none: one attempt), the attempts per connection (or
 * reconnection), the first included, and the bound on one attempt. Pools and the connections
 * of connect() share it; the connection machine's `retrying`/`backoff` states carry it out.
 */
export interface RetryPolicy {
  strategy: RetryStrategy | undefined;
  maxAttempts: number;
  attemptTimeout: Duration;
}

/** One attempt, no time limit: a pool's default for a user factory. */
export const NO_RETRY: RetryPolicy = Object.freeze({
  strategy: undefined,
  maxAttempts: 1,
  attemptTimeout: Number.POSITIVE_INFINITY,
});

/**
 * The policy's answer for failed attempt `attempt`: ms to wait before the next, or null to
 * stop. Null for a permanent error ({@link isPermanentError}): strategies built by
 * {@link RetryStrategy} decide that themselves (their `retryable` may override it); a strategy
 * object built by hand gets the default classification here.
 */
export function retryDelay(policy: RetryPolicy, attempt: number, maxAttempts: number, error: unknown): Duration | null {
  const strategy = policy.strategy;
  if (strategy === undefined) return null;
  if (!classifying.has(strategy) && isPermanentError(error)) return null;
  return strategy.nextDelay(attempt, maxAttempts, error);
}

/**
 * Reads the options `retryStrategy`, `maxReconnectionAttempts` and `timeout` (shared by pools
 * and connect()); `prefix` names the fields in errors, `defaults` fills what is missing.
 */
export function readRetryPolicy(
  options: { retryStrategy?: unknown; maxReconnectionAttempts?: unknown; timeout?: unknown },
  prefix: string,
  defaults: { strategy: RetryStrategy | undefined; attemptTimeout: Duration },
): RetryPolicy {
  const strategy =
    options.retryStrategy === undefined
      ? defaults.strategy
      : checkRetryStrategy(`${prefix}.retryStrategy`, options.retryStrategy);
  if (strategy === undefined && options.maxReconnectionAttempts !== undefined) {
    throw new ConfigurationError(`${prefix}.maxReconnectionAttempts`, 'needs a retryStrategy');
  }
  const maxAttempts =
    strategy === undefined
      ? 1
      : checkMaxAttempts(`${prefix}.maxReconnectionAttempts`, options.maxReconnectionAttempts ?? DEFAULT_MAX_RECONNECTION_ATTEMPTS);
  const attemptTimeout = checkDuration(`${prefix}.timeout`, options.timeout ?? defaults.attemptTimeout, {
    allowInfinity: true,
  });
  if (attemptTimeout === 0) throw new ConfigurationError(`${prefix}.timeout`, 'must be greater than 0');
  return { strategy, maxAttempts, attemptTimeout };
}
