import type { Actor } from 'xstate';
import type { ManagerMachine } from '../machines/manager.machine.js';
import { systemClock, type Clock } from './clock.js';
import { normalizeCacheConfiguration, type CacheConfiguration } from './config.js';
import { connectConcurrently, connectInOrder, type ConnectOptions, type ParallelConnectOptions, type ServerOutcome } from './connect.js';
import { ConnectionCache } from './connection-cache.js';
import { ConfigurationError } from './errors.js';
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
    if (options === null || typeof options !== 'object') {
      throw new ConfigurationError('options', `must be an object, got ${describe(options)}`);
    }
    for (const name of Object.keys(options)) {
      if (!OPTION_FIELDS.has(name)) throw new ConfigurationError(`options.${name}`, 'is not a manager option');
    }
    if (options.inspect !== undefined && typeof options.inspect !== 'function' && typeof options.inspect !== 'object') {
      throw new ConfigurationError('options.inspect', `must be an inspection observer, got ${describe(options.inspect)}`);
    }
    const cache = normalizeCacheConfiguration(options.cache);
    this.runtime = new ManagerRuntime(cache, options.clock ?? systemClock, options.inspect);
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
    if (this.shutdown !== undefined) return this.shutdown;
    let timeout: number;
    try {
      timeout = checkDuration('timeout', options.timeout ?? 10_000, { allowInfinity: true });
    } catch (error) {
      return Promise.reject(error);
    }
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
