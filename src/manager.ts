import type { Actor } from 'xstate';
import type { ManagerMachine } from '../machines/manager.machine.js';
import { systemClock, type Clock } from './clock.js';
import { normalizeCacheConfiguration, type CacheConfiguration } from './config.js';
import { connectConcurrently, connectInOrder, type ConnectOptions, type ParallelConnectOptions, type ServerOutcome } from './connect.js';
import { ConnectionCache, preparePool } from './connection-cache.js';
import type { PoolOptions } from './config.js';
import { ConfigurationError } from './errors.js';
import { readOptions } from './options.js';
import type { ConnectionFactory } from './pool/keyed-pool.js';
import { Pool } from './pool-handle.js';
import type { ManagerEmitter, NetworkEventDelegate } from './events.js';
import type { Connection } from './transport/connection.js';
import type { ServerLocation } from './transport/server.js';
import { registerRuntime } from './introspection.js';
import { ManagerRuntime, type InspectOption } from './runtime.js';
import { checkDuration, describe, type Duration } from './time.js';

export interface ConnectionManagerOptions {
  /**
   * An XState inspection observer, for example `createBrowserInspector().inspect` from
   * `@statelyai/inspect`: the manager, its pools and their connections appear as actors.
   */
  inspect?: InspectOption;
  /** Limits and policies across all keys (the seed's CacheConfiguration). */
  cache?: Partial<CacheConfiguration>;
  /**
   * The clock for every timeout. Defaults to a monotonic clock with unref'd timers. Tests
   * pass XState's `SimulatedClock` to drive timeouts deterministically.
   */
  clock?: Clock;
}

export interface ShutdownOptions {
  /** How long lent connections may stay out before they are closed anyway. Default 10 s. */
  timeout?: Duration;
}

const OPTION_FIELDS = new Set(['inspect', 'cache', 'clock']);
const SHUTDOWN_FIELDS = new Set(['timeout']);

function checkClock(clock: unknown): Clock {
  for (const method of ['now', 'setTimeout', 'clearTimeout'] as const) {
    const fn = clock !== null && typeof clock === 'object' ? (clock as Record<string, unknown>)[method] : undefined;
    if (typeof fn !== 'function') {
      throw new ConfigurationError(`options.clock.${method}`, `must be a function (a Clock has now(), setTimeout() and clearTimeout()), got ${describe(fn)}`);
    }
  }
  return clock as Clock;
}

/**
 * The entry point: keyed connection pools (`connectionCache`), typed events (`events`) and a
 * graceful shutdown, run by a tree of XState actors (`actor`: manager → pools → connections).
 */
export class ConnectionManager implements AsyncDisposable {
  /** Keyed pools: acquireConnection / returnConnection and statistics. */
  readonly connectionCache: ConnectionCache;
  /** Typed events (mitt). A listener that throws is isolated and reported as `listener:error`. */
  readonly events: ManagerEmitter;
  private readonly runtime: ManagerRuntime;
  private shutdown: Promise<void> | undefined;

  constructor(options: ConnectionManagerOptions = {}) {
    const o = readOptions(options, 'options', OPTION_FIELDS, 'manager options') as ConnectionManagerOptions;
    if (o.inspect !== undefined && (o.inspect === null || (typeof o.inspect !== 'function' && typeof o.inspect !== 'object'))) {
      throw new ConfigurationError('options.inspect', `must be an inspection observer, got ${describe(o.inspect)}`);
    }
    const cache = normalizeCacheConfiguration(o.cache);
    const clock = o.clock === undefined ? systemClock : checkClock(o.clock);
    this.runtime = new ManagerRuntime(cache, clock, o.inspect);
    registerRuntime(this, this.runtime);
    this.connectionCache = new ConnectionCache(this.runtime);
    this.events = this.runtime.events.emitter;
  }

  /** The root actor (read its snapshot, subscribe, inspect). Events sent to it are not an API. */
  get actor(): Actor<ManagerMachine> {
    return this.runtime.actor;
  }

  /**
   * The seed's delegate: an object with one method per network event (`connecting`,
   * `connected`, `disconnected`, `backoff`, `failed`, `closed`, `error`), each called with the
   * event's payload. Same events as `manager.events` (`connection:*`).
   */
  get delegate(): NetworkEventDelegate | undefined {
    return this.runtime.events.delegate;
  }
  set delegate(delegate: NetworkEventDelegate | undefined) {
    if (delegate !== undefined && (delegate === null || typeof delegate !== 'object')) {
      throw new ConfigurationError('delegate', `must be an object, got ${describe(delegate)}`);
    }
    this.runtime.events.delegate = delegate;
  }

  /**
   * The pool of `key`, as a handle that owns its settings and lends through leases (the
   * recommended API; see docs/connection-pooling.md). Creates the key's pool on first use;
   * later calls return a handle to the same pool and may change its options. For a key
   * registered by `connect()`, omit the factory: the pool holds `Connection`s to that server.
   */
  pool(key: string, config?: PoolOptions<Connection>): Pool<Connection>;
  pool<T extends object>(key: string, config: PoolOptions<T> | undefined, factory: ConnectionFactory<T>): Pool<T>;
  pool<T extends object>(key: string, config?: PoolOptions<T>, factory?: ConnectionFactory<T>): Pool<T> {
    return new Pool<T>(this.runtime, preparePool(this.runtime, key, config, factory, { byHandle: true }));
  }

  /**
   * Connects to each server in turn, each with its retries, and registers each under its
   * cacheKey: `acquireConnection(cacheKey, config)` then needs no factory. Resolves with one
   * Connection per server; these reconnect on their own when dropped (with the same strategy)
   * until closed. If any server exhausts its attempts, rejects with a ConnectionError whose
   * `outcomes` has every server's result; the others stay connected.
   */
  connect(servers: readonly ServerLocation[], options?: ConnectOptions): Promise<Connection[]> {
    return connectInOrder(this.runtime, servers, options);
  }

  /**
   * Like connect(), concurrently: at most `maxConcurrentConnections` (default 4) servers
   * connecting at once. Resolves with one outcome per server, in input order; one server's
   * failure never cancels another's attempts.
   */
  connectParallel(servers: readonly ServerLocation[], options?: ParallelConnectOptions): Promise<ServerOutcome[]> {
    return connectConcurrently(this.runtime, servers, options);
  }

  /** The cache configuration in effect, defaults filled in. */
  get cacheConfiguration(): Readonly<CacheConfiguration> {
    return this.runtime.cache;
  }

  /**
   * Stops the manager. Acquires made after it starts reject at once with a ShutdownError and
   * waiting ones are rejected; idle connections close now, lent ones when returned (or when
   * `timeout` expires), creates in flight when they land. Resolves once every connection is
   * closed and every actor stopped: nothing of the library is left to keep the process alive.
   * Calling it again returns the same promise.
   */
  gracefulShutdown(options: ShutdownOptions = {}): Promise<void> {
    let timeout: number;
    try {
      const o = readOptions(options, 'options', SHUTDOWN_FIELDS, 'shutdown options');
      timeout = checkDuration('options.timeout', o.timeout ?? 10_000, { allowInfinity: true });
    } catch (error) {
      return Promise.reject(error);
    }
    if (this.shutdown !== undefined) return this.shutdown;
    const actor = this.runtime.actor;
    const release = this.runtime.keepAlive.hold();
    this.shutdown = new Promise<void>((resolve, reject) => {
      actor.subscribe({
        complete: () => {
          release();
          resolve();
        },
        error: (error) => {
          release();
          reject(error);
        },
      });
    });
    actor.send({ type: 'SHUTDOWN', timeout });
    return this.shutdown;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.gracefulShutdown();
  }
}
