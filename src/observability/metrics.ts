/**
 * OpenTelemetry metrics for a manager's pools, named by the semantic conventions for
 * connection pools (`db.client.connection.*`, attribute `db.client.connection.pool.name` = the
 * pool's key). Built only on the public API: `manager.events` for what happens (waits,
 * timeouts, creates, checkouts) and `manager.connectionCache.stats()` for what is, read when
 * the SDK collects.
 *
 * `@opentelemetry/api` is an optional peer dependency: pass a `meter` or `meterProvider`, or
 * let this module find the global provider, loaded synchronously only if the package is
 * installed. Without it, `instrumentManager` returns a handle that records nothing.
 *
 * The subtlety: listening to `pool:acquired` and `pool:released` makes the hot path build
 * those events (it skips them while nobody listens); that is the price of wait and use times,
 * paid only while instrumented, and `stop()` takes it back.
 */
import { createRequire } from 'node:module';
import type { ConnectionManager } from '../manager.js';
import { ConfigurationError } from '../errors.js';
import type { ManagerEventName, ManagerEvents } from '../events.js';
import type {
  BatchObservableCallbackLike,
  CounterLike,
  HistogramLike,
  MeterLike,
  MeterProviderLike,
  MetricAttributesLike,
  ObservableLike,
} from './otel-types.js';

/** The instrumentation scope's name (the meter's name). */
export const METER_NAME = 'connection-manager-kit';

/** The metric names of the semantic conventions for connection pools. */
export const POOL_METRICS = Object.freeze({
  count: 'db.client.connection.count',
  idleMax: 'db.client.connection.idle.max',
  idleMin: 'db.client.connection.idle.min',
  max: 'db.client.connection.max',
  pendingRequests: 'db.client.connection.pending_requests',
  timeouts: 'db.client.connection.timeouts',
  createTime: 'db.client.connection.create_time',
  waitTime: 'db.client.connection.wait_time',
  useTime: 'db.client.connection.use_time',
} as const);

/** Attribute names: the pool (required on every metric) and a connection's state (on `count`). */
export const POOL_NAME_ATTRIBUTE = 'db.client.connection.pool.name';
export const CONNECTION_STATE_ATTRIBUTE = 'db.client.connection.state';

/**
 * Bucket boundaries (s) suggested to the SDK for the three time histograms; the SDK's default
 * boundaries are made for milliseconds. A View of yours overrides them.
 */
export const TIME_BUCKETS_SECONDS: readonly number[] = Object.freeze([
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
]);

export interface InstrumentManagerOptions {
  /** The meter to create the instruments with. */
  meter?: MeterLike;
  /** Or a provider to get one from (meter name `connection-manager-kit`). Default: the global one. */
  meterProvider?: MeterProviderLike;
  /**
   * The `db.client.connection.pool.name` of a key. Default: the key itself. Give a prefix when
   * several managers share keys and a meter.
   */
  poolName?: (key: string) => string;
}

/** The handle `instrumentManager` returns. */
export interface ManagerInstrumentation {
  /** False when no meter was given and `@opentelemetry/api` is not installed: nothing is recorded. */
  readonly enabled: boolean;
  /** Unsubscribes from the manager and removes the observable callbacks. Idempotent. */
  stop(): void;
}

const NOOP: ManagerInstrumentation = Object.freeze({ enabled: false, stop: () => {} });

/**
 * Records `manager`'s pool metrics with OpenTelemetry until `stop()`. Limits (`.max`,
 * `.idle.max`, `.idle.min`) are learned from `pool:created` and `pool:resized`: instrument a
 * manager before its first acquire, or a pool made earlier reports them from its next resize.
 */
export function instrumentManager(manager: ConnectionManager, options: InstrumentManagerOptions = {}): ManagerInstrumentation {
  if (options === null || typeof options !== 'object') {
    throw new ConfigurationError('options', 'must be an object');
  }
  const { meter: given, meterProvider, poolName = (key: string) => key } = options;
  if (typeof poolName !== 'function') throw new ConfigurationError('options.poolName', 'must be a function');
  if (given !== undefined && typeof given?.createHistogram !== 'function') {
    throw new ConfigurationError('options.meter', 'must be an OpenTelemetry Meter');
  }
  if (meterProvider !== undefined && typeof meterProvider?.getMeter !== 'function') {
    throw new ConfigurationError('options.meterProvider', 'must be an OpenTelemetry MeterProvider');
  }
  const meter = given ?? (meterProvider ?? globalMeterProvider())?.getMeter(METER_NAME, packageVersion());
  if (meter === undefined) return NOOP;
  return new PoolMetricsRecorder(manager, meter, poolName).start();
}

interface Limits {
  min: number;
  max: number;
}

/** One instrumentation of one manager: the instruments, the subscriptions, and the timings in flight. */
class PoolMetricsRecorder implements ManagerInstrumentation {
  readonly enabled = true;
  private readonly count: ObservableLike;
  private readonly idleMax: ObservableLike;
  private readonly idleMin: ObservableLike;
  private readonly max: ObservableLike;
  private readonly pending: ObservableLike;
  private readonly timeouts: CounterLike;
  private readonly createTime: HistogramLike;
  private readonly waitTime: HistogramLike;
  private readonly useTime: HistogramLike;
  /** Limits per key, from pool:created / pool:resized. */
  private readonly limits = new Map<string, Limits>();
  /** Keys whose pool closed: no longer observed. */
  private readonly closed = new Set<string>();
  /** performance.now() (ms) at the start of each connection's current attempt. */
  private readonly attemptStarted = new Map<string, number>();
  /** performance.now() (ms) when each connection became open, until its pool counts the create. */
  private readonly openedAt = new Map<string, number>();
  /** performance.now() (ms) when each lent connection was lent. */
  private readonly lentAt = new Map<string, number>();
  private readonly unsubscribers: (() => void)[] = [];
  private stopped = false;

  constructor(
    private readonly manager: ConnectionManager,
    private readonly meter: MeterLike,
    private readonly poolName: (key: string) => string,
  ) {
    const connections = (description: string) => ({ description, unit: '{connection}' });
    const seconds = (description: string) => ({
      description,
      unit: 's',
      advice: { explicitBucketBoundaries: [...TIME_BUCKETS_SECONDS] },
    });
    this.count = meter.createObservableUpDownCounter(
      POOL_METRICS.count,
      connections('The number of connections that are currently in the state described by the state attribute.'),
    );
    this.idleMax = meter.createObservableUpDownCounter(POOL_METRICS.idleMax, connections('The maximum number of idle open connections allowed.'));
    this.idleMin = meter.createObservableUpDownCounter(POOL_METRICS.idleMin, connections('The minimum number of idle open connections allowed.'));
    this.max = meter.createObservableUpDownCounter(POOL_METRICS.max, connections('The maximum number of open connections allowed.'));
    this.pending = meter.createObservableUpDownCounter(POOL_METRICS.pendingRequests, {
      description: 'The number of current pending requests for an open connection.',
      unit: '{request}',
    });
    this.timeouts = meter.createCounter(POOL_METRICS.timeouts, {
      description: 'The number of connection timeouts that have occurred trying to obtain a connection from the pool.',
      unit: '{timeout}',
    });
    this.createTime = meter.createHistogram(POOL_METRICS.createTime, seconds('The time it took to create a new connection.'));
    this.waitTime = meter.createHistogram(POOL_METRICS.waitTime, seconds('The time it took to obtain an open connection from the pool.'));
    this.useTime = meter.createHistogram(POOL_METRICS.useTime, seconds('The time between borrowing a connection and returning it to the pool.'));
  }

  start(): this {
    this.meter.addBatchObservableCallback(this.observe, this.observables());
    const at = (key: string): MetricAttributesLike => ({ [POOL_NAME_ATTRIBUTE]: this.poolName(key) });
    this.on('pool:created', (e) => {
      this.closed.delete(e.key);
      this.limits.set(e.key, { min: e.config.minConnections, max: e.config.maxConnections });
    });
    this.on('pool:resized', (e) => this.limits.set(e.key, { min: e.config.minConnections, max: e.config.maxConnections }));
    this.on('pool:closed', (e) => {
      this.closed.add(e.key);
      this.limits.delete(e.key);
    });
    this.on('pool:timeout', (e) => this.timeouts.add(1, at(e.key)));
    this.on('pool:acquired', (e) => {
      this.waitTime.record(e.waitedMs / 1000, at(e.key));
      this.lentAt.set(e.connectionId, performance.now());
    });
    this.on('pool:released', (e) => this.recordUse(e.key, e.connectionId));
    this.on('connection:connecting', (e) => {
      this.attemptStarted.set(e.connectionId, performance.now());
      this.openedAt.delete(e.connectionId);
    });
    this.on('connection:connected', (e) => this.openedAt.set(e.connectionId, performance.now()));
    // A pool's create: `cache:miss` names the connection its pool now counts (connections
    // opened by connect() never get one, so they are not pool creates).
    this.on('cache:miss', (e) => {
      const started = this.attemptStarted.get(e.connectionId);
      if (started !== undefined) {
        const opened = this.openedAt.get(e.connectionId) ?? performance.now();
        this.createTime.record((opened - started) / 1000, at(e.key));
      }
      this.forgetAttempt(e.connectionId);
    });
    this.on('connection:failed', (e) => this.forgetAttempt(e.connectionId));
    this.on('connection:closed', (e) => {
      this.forgetAttempt(e.connectionId);
      // Given back broken (destroyConnection): its use ends here.
      if (e.reason === 'discarded') this.recordUse(e.key, e.connectionId);
      this.lentAt.delete(e.connectionId);
    });
    return this;
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    for (const unsubscribe of this.unsubscribers.splice(0)) unsubscribe();
    this.meter.removeBatchObservableCallback(this.observe, this.observables());
    this.limits.clear();
    this.attemptStarted.clear();
    this.openedAt.clear();
    this.lentAt.clear();
  }

  /** Collection time: one pass over the pools, for every observable instrument. */
  private readonly observe: BatchObservableCallbackLike = (result) => {
    const cache = this.manager.connectionCache;
    for (const key of cache.keys()) {
      if (this.closed.has(key)) continue;
      const stats = cache.stats(key);
      if (stats === undefined) continue;
      const pool = this.poolName(key);
      result.observe(this.count, stats.idle, { [POOL_NAME_ATTRIBUTE]: pool, [CONNECTION_STATE_ATTRIBUTE]: 'idle' });
      result.observe(this.count, stats.inUse, { [POOL_NAME_ATTRIBUTE]: pool, [CONNECTION_STATE_ATTRIBUTE]: 'used' });
      result.observe(this.pending, stats.waiting, { [POOL_NAME_ATTRIBUTE]: pool });
      const limits = this.limits.get(key);
      if (limits === undefined) continue;
      // Every connection may rest idle, up to the pool's maximum; min connections are kept open.
      result.observe(this.max, limits.max, { [POOL_NAME_ATTRIBUTE]: pool });
      result.observe(this.idleMax, limits.max, { [POOL_NAME_ATTRIBUTE]: pool });
      result.observe(this.idleMin, limits.min, { [POOL_NAME_ATTRIBUTE]: pool });
    }
  };

  private observables(): ObservableLike[] {
    return [this.count, this.idleMax, this.idleMin, this.max, this.pending];
  }

  private recordUse(key: string, connectionId: string): void {
    const lent = this.lentAt.get(connectionId);
    if (lent === undefined) return;
    this.lentAt.delete(connectionId);
    this.useTime.record((performance.now() - lent) / 1000, { [POOL_NAME_ATTRIBUTE]: this.poolName(key) });
  }

  private forgetAttempt(connectionId: string): void {
    this.attemptStarted.delete(connectionId);
    this.openedAt.delete(connectionId);
  }

  private on<K extends ManagerEventName>(type: K, handler: (event: ManagerEvents[K]) => void): void {
    const events = this.manager.events;
    events.on(type, handler);
    this.unsubscribers.push(() => events.off(type, handler));
  }
}

/** The global MeterProvider of `@opentelemetry/api`, or undefined if that package is not installed. */
function globalMeterProvider(): MeterProviderLike | undefined {
  let api: { metrics?: { getMeterProvider?: () => MeterProviderLike } };
  try {
    // Synchronous on purpose: instrumentManager() records from its first event. The API keeps
    // its global provider on globalThis, so this copy sees the one your SDK registered.
    api = createRequire(import.meta.url)('@opentelemetry/api') as typeof api;
  } catch (error) {
    if ((error as { code?: unknown }).code === 'MODULE_NOT_FOUND') return undefined;
    throw error;
  }
  return api.metrics?.getMeterProvider?.();
}

let version: string | null | undefined;

/** This package's version, for the instrumentation scope (read once, through the package's own exports). */
function packageVersion(): string | undefined {
  if (version === undefined) {
    try {
      const pkg = createRequire(import.meta.url)('connection-manager-kit/package.json') as { version?: unknown };
      version = typeof pkg.version === 'string' ? pkg.version : null;
    } catch {
      version = null; // bundled without its package.json: the scope has no version
    }
  }
  return version ?? undefined;
}
