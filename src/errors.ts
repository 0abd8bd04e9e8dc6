/**
 * Every error the library raises on purpose is a {@link ConnectionManagerError}
 * with a stable `code`, so callers can branch on `err.code` or `instanceof`.
 */
export class ConnectionManagerError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** Bad input: names the offending field (`field`) or call. Thrown before any work starts. */
export class ConfigurationError extends ConnectionManagerError {
  readonly field: string;
  constructor(field: string, message: string, options?: { cause?: unknown }) {
    super('ERR_CONFIGURATION', `${field}: ${message}`, options);
    this.field = field;
  }
}

/** An acquire or connect was attempted after `gracefulShutdown()` began, or was cut short by it. */
export class ShutdownError extends ConnectionManagerError {
  constructor(message = 'the connection manager is shutting down') {
    super('ERR_SHUTDOWN', message);
  }
}

/** A waiting acquire was cancelled through its AbortSignal. `cause` is the signal's reason. */
export class AbortError extends ConnectionManagerError {
  constructor(message = 'the operation was aborted', options?: { cause?: unknown }) {
    super('ABORT_ERR', message, options);
    // Matches the name Node and the DOM use, so generic `err.name === 'AbortError'` checks work.
    this.name = 'AbortError';
  }
}

/**
 * A connection was given back to a pool that did not lend it out, or given back twice (by
 * `call`: `returnConnection`, `destroyConnection`, `release`, a lease's `release()`, ...).
 * Nothing in the pool changes when this is thrown.
 */
export class InvalidReturnError extends ConnectionManagerError {
  readonly key: string;
  constructor(call: string, key: string, message: string) {
    super('ERR_INVALID_RETURN', `${call}('${key}'): ${message}`);
    this.key = key;
  }
}

/**
 * An acquire got no connection within `acquireTimeout`. Thrown by the Pool handle's methods,
 * and by `acquireConnection` for a key configured with `rejectOnTimeout: true` (it resolves
 * `null` otherwise, the seed's contract). `cause` is the key's last create error since its last
 * successful create, if any: "the database is down" reads differently from "the pool is busy".
 */
export class AcquireTimeoutError extends ConnectionManagerError {
  readonly key: string;
  /** How long the acquire waited (ms). */
  readonly waitedMs: number;
  /** The key's statistics when it timed out. */
  readonly stats: Readonly<Record<string, number | string>>;
  constructor(key: string, waitedMs: number, stats: Readonly<Record<string, number | string>>, cause: unknown) {
    const why = cause === undefined ? 'every connection stayed busy' : `the last create failed: ${messageOf(cause)}`;
    super('ERR_ACQUIRE_TIMEOUT', `acquire('${key}') timed out after ${Math.round(waitedMs)} ms (${why})`, { cause });
    this.key = key;
    this.waitedMs = waitedMs;
    this.stats = stats;
  }
}

/** The key's wait queue is full (`maxWaiting`): the acquire is refused at once. */
export class PoolFullError extends ConnectionManagerError {
  readonly key: string;
  readonly maxWaiting: number;
  constructor(key: string, maxWaiting: number) {
    super('ERR_POOL_FULL', `acquire('${key}'): ${maxWaiting} acquires are already waiting (maxWaiting)`);
    this.key = key;
    this.maxWaiting = maxWaiting;
  }
}

/** A factory produced something that cannot be pooled (not an object, or already pooled). */
export class InvalidConnectionError extends ConnectionManagerError {
  readonly key: string;
  constructor(key: string, message: string) {
    super('ERR_INVALID_CONNECTION', `factory for '${key}': ${message}`);
    this.key = key;
  }
}

/** One server's result in `connect()` / `connectParallel()`. */
export type ConnectOutcome<C = unknown, S = unknown> =
  | { server: S; status: 'connected'; connection: C }
  | { server: S; status: 'failed'; error: unknown };

/**
 * `connect()` could not connect every server: `outcomes` has one entry per server, in input
 * order. The servers that did connect stay connected (their connections are in `outcomes`).
 */
export class ConnectionError<C = unknown, S = unknown> extends ConnectionManagerError {
  readonly outcomes: readonly ConnectOutcome<C, S>[];
  constructor(outcomes: readonly ConnectOutcome<C, S>[], describeServer: (server: S) => string) {
    const failed = outcomes.filter((o) => o.status === 'failed');
    const details = failed
      .map((o) => `${describeServer(o.server)}: ${o.status === 'failed' ? messageOf(o.error) : ''}`)
      .join('; ');
    super('ERR_CONNECT', `${failed.length} of ${outcomes.length} servers could not be connected (${details})`, {
      cause: failed[0]?.status === 'failed' ? failed[0].error : undefined,
    });
    this.outcomes = outcomes;
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
