import {
  ConnectionPoolConfiguration,
  normalizePoolSettings,
  sameSettings,
  type DestroyFunction,
  type PoolOptions,
} from './config.js';
import { ConfigurationError, InvalidReturnError, ShutdownError } from './errors.js';
import type { ConnectionFactory, KeyedPool, PoolStats } from './pool/keyed-pool.js';
import { NO_RETRY, readRetryPolicy, type RetryPolicy } from './retry.js';
import type { ManagerRuntime } from './runtime.js';
import { describe } from './time.js';

export interface AcquireOptions {
  /** Cancels a waiting acquire: it rejects with an AbortError whose `cause` is the signal's reason. */
  signal?: AbortSignal;
}

/**
 * Keyed connection pools (the seed's `manager.connectionCache`). Each key has its own pool,
 * created by its first acquire; a later call with a different configuration resizes it.
 */
export class ConnectionCache {
  /** @internal */
  constructor(private readonly runtime: ManagerRuntime) {}

  /**
   * Lends a connection of `key` to the caller alone, until it is returned.
   *
   * Resolves with an idle connection at once, or with a new one from `factory` if the pool
   * may grow, or with one another caller returns (oldest waiter first). Resolves `null` if
   * none became available within `acquireTimeout` (the seed's contract). Rejects with the
   * factory's own error if the create made for this caller failed, with an AbortError if
   * `options.signal` aborts, with a ShutdownError once gracefulShutdown() has begun, and with
   * a ConfigurationError naming the field for bad input.
   *
   * @param config Pool settings for the key (plain partial object or a
   *   ConnectionPoolConfiguration), plus an optional `destroy`. Hoist it: an unchanged object
   *   costs one comparison per call, a new one is validated and compared.
   * @param factory Creates a connection when the pool needs one; must resolve an object.
   *   Required on a key's first call unless connect() registered a server under the key (then
   *   the pool opens Connections to it); the latest one given is used.
   */
  acquireConnection<T extends object>(
    key: string,
    config?: PoolOptions<T> | ConnectionPoolConfiguration,
    factory?: ConnectionFactory<T>,
    options?: AcquireOptions,
  ): Promise<T | null> {
    let pool = this.runtime.pools.get(key);
    if (
      pool === undefined ||
      (config !== undefined && config !== pool.optionsRef) ||
      (factory !== undefined && factory !== pool.factory)
    ) {
      try {
        pool = this.prepare(key, config, factory);
      } catch (error) {
        return Promise.reject(error);
      }
    }
    return pool.acquire(options?.signal) as Promise<T | null>;
  }

  /**
   * Gives a connection back to `key`'s pool: to the oldest waiting caller, or to the idle
   * list. Throws InvalidReturnError, changing nothing, if `key` did not lend it out or it was
   * already returned. A connection that closed while lent may be returned; it is ignored.
   */
  returnConnection<T extends object>(key: string, connection: T): void {
    this.lender(key, connection).release(connection);
  }

  /**
   * Gives back a lent connection that broke while in use: it is destroyed instead of pooled,
   * and a waiting caller gets a new one. Same checks as returnConnection.
   */
  destroyConnection<T extends object>(key: string, connection: T): void {
    this.lender(key, connection).discard(connection);
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
  private lender(key: string, connection: unknown): KeyedPool {
    const pool = this.runtime.pools.get(key);
    if (pool === undefined) {
      throw new InvalidReturnError(String(key), 'no connection was ever lent out under this key');
    }
    if (connection === null || (typeof connection !== 'object' && typeof connection !== 'function')) {
      throw new InvalidReturnError(key, `expected a connection object, got ${describe(connection)}`);
    }
    return pool;
  }

  private prepare(key: string, config: unknown, factory: unknown): KeyedPool {
    if (typeof key !== 'string' || key.length === 0) {
      throw new ConfigurationError('key', `must be a non-empty string, got ${describe(key)}`);
    }
    if (factory !== undefined && typeof factory !== 'function') {
      throw new ConfigurationError('factory', `must be a function, got ${describe(factory)}`);
    }
    const destroy = destroyOption(config);
    const retry = retryOption(config);
    const existing = this.runtime.pools.get(key);
    if (existing !== undefined) {
      if (config !== existing.optionsRef && config !== undefined) {
        this.reconfigure(existing, normalizePoolSettings(config, 'poolConfig'), destroy);
      }
      if (config !== undefined) existing.optionsRef = config;
      if (factory !== undefined) {
        existing.factory = factory as ConnectionFactory<object>;
        existing.factoryFromServer = false;
      }
      if (retry !== undefined) existing.setRetry(retry);
      return existing;
    }
    if (!this.runtime.accepting()) throw new ShutdownError();
    const settings = normalizePoolSettings(config, 'poolConfig');
    const server = this.runtime.servers.get(key);
    if (factory === undefined && server === undefined) {
      throw new ConfigurationError(
        'factory',
        `is required: key '${key}' has no connection factory yet and no server registered by connect()`,
      );
    }
    return this.runtime.openPool(key, settings, (pool) => {
      if (factory !== undefined) pool.factory = factory as ConnectionFactory<object>;
      else if (server !== undefined) this.runtime.useServer(pool, server);
      if (retry !== undefined) pool.setRetry(retry);
      pool.destroyFn = destroy;
      pool.optionsRef = config;
    });
  }

  private reconfigure(
    pool: KeyedPool,
    settings: ReturnType<typeof normalizePoolSettings>,
    destroy: DestroyFunction<object> | undefined,
  ): void {
    if (destroy !== undefined) pool.destroyFn = destroy;
    if (sameSettings(settings, pool.settings)) return;
    const previous = pool.settings;
    pool.settings = settings;
    pool.actor?.send({ type: 'CONFIGURE', config: pool.machineConfig() });
    this.runtime.events.emit('pool:resized', { key: pool.key, config: { ...settings }, previous: { ...previous } });
  }
}

/** The retry options of a pool config, if it sets any (else the pool keeps what it has). */
function retryOption(config: unknown): RetryPolicy | undefined {
  if (config === null || typeof config !== 'object' || config instanceof ConnectionPoolConfiguration) return undefined;
  const o = config as { retryStrategy?: unknown; maxReconnectionAttempts?: unknown; timeout?: unknown };
  if (o.retryStrategy === undefined && o.maxReconnectionAttempts === undefined && o.timeout === undefined) return undefined;
  return readRetryPolicy(o, 'poolConfig', { strategy: undefined, attemptTimeout: NO_RETRY.attemptTimeout });
}

function destroyOption(config: unknown): DestroyFunction<object> | undefined {
  if (config === null || typeof config !== 'object' || config instanceof ConnectionPoolConfiguration) return undefined;
  const destroy = (config as { destroy?: unknown }).destroy;
  if (destroy !== undefined && typeof destroy !== 'function') {
    throw new ConfigurationError('poolConfig.destroy', `must be a function, got ${describe(destroy)}`);
  }
  return destroy as DestroyFunction<object> | undefined;
}
