import type { Connection } from './transport/connection.js';
import { readPoolOptions, type PoolOptions, type PoolSpec, sameSettings, ConnectionPoolConfiguration } from './config.js';
import { ConfigurationError, InvalidReturnError, ShutdownError } from './errors.js';
import type { ConnectionFactory, KeyedPool } from './pool/keyed-pool.js';
import type { PoolStats } from './pool/pool-stats.js';
import type { ManagerRuntime } from './runtime.js';
import { describe } from './time.js';

export interface AcquireOptions {
  /** Cancels a waiting acquire: it rejects with an AbortError whose `cause` is the signal's reason. */
  signal?: AbortSignal;
}

/**
 * Keyed connection pools (the seed's `manager.connectionCache`). Each key has its own pool,
 * created by its first acquire. A later call with different settings reconfigures the key (the
 * seed's behaviour), unless a Pool handle (`manager.pool(key, config)`) owns the key: then its
 * settings change only through the handle.
 */
export class ConnectionCache {
  /** @internal */
  constructor(private readonly runtime: ManagerRuntime) {}

  /**
   * Lends a connection of `key` to the caller alone, until it is returned.
   *
   * Resolves with an idle connection at once, or with a new one from `factory` if the pool
   * may grow, or with one another caller returns (oldest waiter first). Resolves `null` if
   * none became available within `acquireTimeout` (the seed's contract; with
   * `rejectOnTimeout: true` it rejects with an AcquireTimeoutError that says why). Rejects with
   * the factory's own error if the create made for this caller failed, with an AbortError if
   * `options.signal` aborts, with a PoolFullError past `maxWaiting`, with a ShutdownError once
   * gracefulShutdown() has begun, and with a ConfigurationError naming the field for bad input.
   *
   * @param config Pool options for the key (plain object or a ConnectionPoolConfiguration).
   *   Hoist it: an unchanged object costs one comparison per call, a new one is validated and
   *   compared.
   * @param factory Creates a connection when the pool needs one; must resolve an object.
   *   Required on a key's first call unless connect() registered a server under the key (then
   *   the pool opens Connections to it); the latest one given is used.
   */
  acquireConnection<T extends object = Connection>(
    key: string,
    config?: PoolOptions<T> | ConnectionPoolConfiguration,
    factory?: ConnectionFactory<T>,
    options?: AcquireOptions,
  ): Promise<T | null> {
    let pool = this.runtime.pools.get(key);
    let signal: AbortSignal | undefined;
    try {
      signal = readSignal(options, 'options');
      if (
        pool === undefined ||
        (config !== undefined && config !== pool.optionsRef) ||
        (factory !== undefined && factory !== pool.factory)
      ) {
        pool = this.prepare(key, config, factory);
      }
    } catch (error) {
      return Promise.reject(error);
    }
    return pool.acquire(signal, pool.settings.rejectOnTimeout) as Promise<T | null>;
  }

  /**
   * Gives a connection back to `key`'s pool: to the oldest waiting caller, or to the idle
   * list. Throws InvalidReturnError, changing nothing, if `key` did not lend it out or it was
   * already returned. A connection that closed while lent may be returned; it is ignored.
   *
   * The pool knows a connection by the object itself, so a stale second return made after the
   * connection was lent to someone else cannot be told from the new holder's own return: use a
   * Lease (`pool.lease()`), which is bound to one checkout, where that matters.
   */
  returnConnection<T extends object>(key: string, connection: T): void {
    this.lender(key, connection, 'returnConnection').ledger.release(connection);
  }

  /**
   * Gives back a lent connection that broke while in use: it is destroyed instead of pooled,
   * and a waiting caller gets a new one. Same checks as returnConnection.
   */
  destroyConnection<T extends object>(key: string, connection: T): void {
    this.lender(key, connection, 'destroyConnection').ledger.discard(connection);
  }

  /** No connection is open: none pooled (idle or lent) under any key, none opened by connect(). */
  get isEmpty(): boolean {
    return this.count === 0;
  }

  /** Open connections: pooled (idle or lent) across all keys, plus those opened by connect(). */
  get count(): number {
    let n = 0;
    for (const pool of this.runtime.pools.values()) n += pool.ledger.idleCount + pool.ledger.lentCount;
    for (const _ of this.runtime.links.connections()) n++;
    return n;
  }

  /** Every open connection: pooled (idle or lent) across all keys, plus those opened by connect(). */
  fetchAllConnections(): object[] {
    const all: object[] = [];
    for (const pool of this.runtime.pools.values()) for (const resource of pool.ledger.resources()) all.push(resource);
    for (const connection of this.runtime.links.connections()) all.push(connection);
    return all;
  }

  /** The keys that have a pool. */
  keys(): string[] {
    return [...this.runtime.pools.keys()];
  }

  /** Statistics of one key's pool, or undefined if the key has none. */
  stats(key: string): PoolStats | undefined {
    return this.runtime.pools.get(key)?.stats();
  }

  /** The pool a connection is given back to; throws if it cannot be the one that lent it. */
  private lender(key: string, connection: unknown, call: string): KeyedPool {
    const pool = this.runtime.pools.get(key);
    if (pool === undefined) {
      throw new InvalidReturnError(call, String(key), 'no connection was ever lent out under this key');
    }
    if (connection === null || (typeof connection !== 'object' && typeof connection !== 'function')) {
      throw new InvalidReturnError(call, key, `expected a connection object, got ${describe(connection)}`);
    }
    return pool;
  }

  private prepare(key: string, config: unknown, factory: unknown): KeyedPool {
    return preparePool(this.runtime, key, config, factory, { byHandle: false });
  }
}

/**
 * The key's pool, created on its first call or brought up to date: validates everything first,
 * so a bad call changes nothing. Shared by acquireConnection and `manager.pool()`.
 */
export function preparePool(
  runtime: ManagerRuntime,
  key: unknown,
  config: unknown,
  factory: unknown,
  opts: { byHandle: boolean },
): KeyedPool {
  if (typeof key !== 'string' || key.length === 0) {
    throw new ConfigurationError('key', `must be a non-empty string, got ${describe(key)}`);
  }
  if (factory !== undefined && typeof factory !== 'function') {
    throw new ConfigurationError('factory', `must be a function, got ${describe(factory)}`);
  }
  const existing = runtime.pools.get(key);
  if (existing !== undefined) {
    if (config !== undefined && config !== existing.optionsRef) {
      const spec = readPoolOptions(config, 'poolConfig');
      if (existing.ownedByHandle && !opts.byHandle && !sameSettings(spec.settings, existing.settings)) {
        throw new ConfigurationError(
          'poolConfig',
          `key '${key}' is configured by its Pool handle (manager.pool()); change it with pool.reconfigure(), not with each acquire`,
        );
      }
      reconfigure(runtime, existing, spec);
      existing.optionsRef = config;
    }
    if (factory !== undefined) {
      existing.factory = factory as ConnectionFactory<object>;
      existing.factoryFromServer = false;
    }
    if (opts.byHandle) existing.ownedByHandle = true;
    return existing;
  }
  if (!runtime.accepting()) throw new ShutdownError();
  const spec = readPoolOptions(config, 'poolConfig');
  const server = runtime.servers.get(key);
  if (factory === undefined && server === undefined) {
    throw new ConfigurationError(
      'factory',
      `is required: key '${key}' has no connection factory yet and no server registered by connect()`,
    );
  }
  return runtime.openPool(key, spec, (pool) => {
    if (factory !== undefined) pool.factory = factory as ConnectionFactory<object>;
    else if (server !== undefined) runtime.useServer(pool, server);
    if (spec.retry !== undefined) pool.retry = spec.retry;
    pool.optionsRef = config;
    pool.ownedByHandle = opts.byHandle;
  });
}

/** Applies new options to a key; a resize is announced as `pool:resized`. */
export function reconfigure(runtime: ManagerRuntime, pool: KeyedPool, spec: PoolSpec): void {
  const previous = pool.settings;
  const changed = !sameSettings(spec.settings, previous);
  const retry = spec.retry ?? pool.retry;
  const merged: PoolSpec = {
    settings: spec.settings,
    destroy: spec.destroy ?? pool.spec.destroy,
    validate: spec.validate ?? pool.spec.validate,
    isBroken: spec.isBroken ?? pool.spec.isBroken,
    retry: spec.retry,
  };
  const retryChanged = retry.maxAttempts !== pool.retry.maxAttempts || retry.attemptTimeout !== pool.retry.attemptTimeout;
  if (!changed && !retryChanged) {
    pool.spec = merged;
    pool.retry = retry;
    return;
  }
  pool.configure(merged, retry);
  if (changed) runtime.events.emit('pool:resized', { key: pool.key, config: { ...spec.settings }, previous: { ...previous } });
}

/** The `signal` of an options object, checked: anything but an AbortSignal is a ConfigurationError. */
export function readSignal(options: unknown, field: string): AbortSignal | undefined {
  if (options === undefined) return undefined;
  if (options === null || typeof options !== 'object') {
    throw new ConfigurationError(field, `must be an object, got ${describe(options)}`);
  }
  let signal: unknown;
  try {
    signal = (options as { signal?: unknown }).signal;
  } catch (error) {
    throw new ConfigurationError(`${field}.signal`, 'could not be read (its getter threw)', { cause: error });
  }
  if (signal === undefined) return undefined;
  if (!(signal instanceof AbortSignal)) {
    throw new ConfigurationError(`${field}.signal`, `must be an AbortSignal, got ${describe(signal)}`);
  }
  return signal;
}
