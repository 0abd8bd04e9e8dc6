/**
 * Configuration: the seed's ConnectionPoolConfiguration and CacheConfiguration, the full set of
 * per-key pool settings, and their validation. Every option is read once (src/options.ts), so
 * bad input is a ConfigurationError naming the field before any work starts.
 */
import { MAX_TIMER_MS } from './clock.js';
import { ConfigurationError } from './errors.js';
import {
  MAX_COUNT,
  checkBoolean,
  checkCount,
  checkFunction,
  checkPositiveDuration,
  readField,
  readOptions,
} from './options.js';
import { readRetryPolicy, NO_RETRY, type RetryPolicy, type RetryStrategy } from './retry.js';
import { checkDuration, describe, type Duration } from './time.js';

/** Closes a pooled resource; whatever it returns is awaited if it is a promise, else ignored. */
export type DestroyFunction<T> = (connection: T) => unknown;

/**
 * Checks an idle connection before it is lent (validation on borrow). Resolve `true` to lend it;
 * `false`, a throw or a rejection closes it and the acquire goes on with another. `signal`
 * aborts when `validationTimeout` expires.
 */
export type ValidateFunction<T> = (connection: T, options: { signal: AbortSignal }) => boolean | Promise<boolean>;

/** Whether an error thrown inside `withConnection` means the connection itself broke. */
export type BrokenPredicate = (error: unknown) => boolean;

/** The breaker after failed creates: initialDelay, doubling per failed episode, at most maxDelay. */
export interface BreakerSettings {
  /** Default 100 ms. */
  initialDelay: Duration;
  /** Default 500 ms: a restarting server is noticed within half a second of its return. */
  maxDelay: Duration;
}

/** Every per-key setting, as plain data (what `pool:created` and `pool:resized` carry). */
export interface PoolSettings {
  /** Connections opened as soon as the pool exists, and refilled when lost. Default 0. */
  minConnections: number;
  /** Connections (connecting + idle + in use + closing) the key never exceeds. Default 10. */
  maxConnections: number;
  /** How long an acquire may wait. `Infinity`: forever; 0: not at all. Default 30 s. */
  acquireTimeout: Duration;
  /** Idle time after which a connection above minConnections is closed. `Infinity`: never. Default 300 s. */
  maxIdleTime: Duration;
  /** Age at which a connection retires (when next idle or returned, never while lent), less a random 0-2.5 %. Default Infinity. */
  maxLifetime: Duration;
  /** Checkouts after which a connection retires when returned. Default Infinity. */
  maxUses: number;
  /** Acquires that may wait at once; the next rejects with PoolFullError. Default Infinity. */
  maxWaiting: number;
  /** With `validate`: only connections idle at least this long are validated. Default 500 ms. */
  validateAfterIdle: Duration;
  /** Bound on one validation (finite). Default 5 s. */
  validationTimeout: Duration;
  /** A lease held longer emits `pool:leak` once. Default Infinity (off). */
  leakDetectionThreshold: Duration;
  /** Bound on one destroy (finite); after it the connection counts as closed anyway. Default 10 s. */
  destroyTimeout: Duration;
  breaker: BreakerSettings;
  /** A connection that closes sooner than this after opening counts as a failed create. Default 1 s. */
  stabilityWindow: Duration;
  /** The events a resource emits when it is dead. Default `['close', 'end', 'error']`. */
  closeEvents: readonly string[];
  /** `acquireConnection` rejects with AcquireTimeoutError instead of resolving `null`. Default false. */
  rejectOnTimeout: boolean;
}

export const defaultPoolSettings: Readonly<PoolSettings> = Object.freeze({
  minConnections: 0,
  maxConnections: 10,
  acquireTimeout: 30_000,
  maxIdleTime: 300_000,
  maxLifetime: Number.POSITIVE_INFINITY,
  maxUses: Number.POSITIVE_INFINITY,
  maxWaiting: Number.POSITIVE_INFINITY,
  validateAfterIdle: 500,
  validationTimeout: 5_000,
  leakDetectionThreshold: Number.POSITIVE_INFINITY,
  destroyTimeout: 10_000,
  breaker: Object.freeze({ initialDelay: 100, maxDelay: 500 }),
  stabilityWindow: 1_000,
  closeEvents: Object.freeze(['close', 'end', 'error']),
  rejectOnTimeout: false,
});

/** How long one create attempt of a pool may take by default (HikariCP's connectionTimeout). */
export const DEFAULT_CREATE_TIMEOUT: Duration = 30_000;

/**
 * The seed's pool configuration: the four fields of its ConnectionPoolConfiguration. Every call
 * may pass a plain object of {@link PoolOptions} instead; missing fields take the defaults.
 */
export class ConnectionPoolConfiguration {
  static readonly defaults: Readonly<Pick<PoolSettings, 'minConnections' | 'maxConnections' | 'acquireTimeout' | 'maxIdleTime'>> =
    Object.freeze({
      minConnections: defaultPoolSettings.minConnections,
      maxConnections: defaultPoolSettings.maxConnections,
      acquireTimeout: defaultPoolSettings.acquireTimeout,
      maxIdleTime: defaultPoolSettings.maxIdleTime,
    });

  readonly minConnections: number;
  readonly maxConnections: number;
  readonly acquireTimeout: Duration;
  readonly maxIdleTime: Duration;

  constructor(settings: Partial<Pick<PoolSettings, 'minConnections' | 'maxConnections' | 'acquireTimeout' | 'maxIdleTime'>> = {}) {
    const s = readPoolOptions(settings, 'poolConfig').settings;
    this.minConnections = s.minConnections;
    this.maxConnections = s.maxConnections;
    this.acquireTimeout = s.acquireTimeout;
    this.maxIdleTime = s.maxIdleTime;
    Object.freeze(this);
  }
}

/** What a pool is configured with: settings plus the functions and retry options of a key. */
export interface PoolOptions<T = object> extends Partial<Omit<PoolSettings, 'breaker' | 'closeEvents'>> {
  breaker?: Partial<BreakerSettings>;
  closeEvents?: readonly string[];
  /** Closes a connection. Default: its `close()`, `destroy()` or `end()`, the first found. */
  destroy?: DestroyFunction<T>;
  /** Validation on borrow; see {@link ValidateFunction}. Default: none. */
  validate?: ValidateFunction<T>;
  /** `withConnection`: errors for which the connection is destroyed, not returned. Default: every error with a network `code` or a closed-connection error. */
  isBroken?: BrokenPredicate;
  /**
   * Retries a failing factory inside one create, within acquireTimeout. Without a strategy a
   * failed create rejects its caller with the error (and the breaker holds further creates).
   * Default: none, or the strategy connect() registered for the key's server.
   */
  retryStrategy?: RetryStrategy;
  /** Attempts per create with a retry strategy, the first included. Default 6. */
  maxReconnectionAttempts?: number;
  /** Bound on one create attempt (the factory's `signal` aborts then). Default 30 s; `Infinity` allowed. */
  timeout?: Duration;
}

/** A key's configuration, read and validated. */
export interface PoolSpec {
  settings: PoolSettings;
  destroy: DestroyFunction<object> | undefined;
  validate: ValidateFunction<object> | undefined;
  isBroken: BrokenPredicate | undefined;
  /** Undefined when the options set no retry field (the pool keeps its own, or its server's). */
  retry: RetryPolicy | undefined;
}

const POOL_FIELDS = new Set([
  'minConnections',
  'maxConnections',
  'acquireTimeout',
  'maxIdleTime',
  'maxLifetime',
  'maxUses',
  'maxWaiting',
  'validateAfterIdle',
  'validationTimeout',
  'leakDetectionThreshold',
  'destroyTimeout',
  'breaker',
  'stabilityWindow',
  'closeEvents',
  'rejectOnTimeout',
  'destroy',
  'validate',
  'isBroken',
  'retryStrategy',
  'maxReconnectionAttempts',
  'timeout',
]);
const BREAKER_FIELDS = new Set(['initialDelay', 'maxDelay']);

/** Validates and completes pool options; `field` prefixes the names in errors. */
export function readPoolOptions(input: unknown, field: string): PoolSpec {
  if (input === undefined || input === null) {
    return { settings: { ...defaultPoolSettings }, destroy: undefined, validate: undefined, isBroken: undefined, retry: undefined };
  }
  const o =
    input instanceof ConnectionPoolConfiguration
      ? { ...input }
      : readOptions(input, field, POOL_FIELDS, 'pool options');
  const d = defaultPoolSettings;
  const f = (name: string) => `${field}.${name}`;
  const max = checkCount(f('maxConnections'), o.maxConnections ?? d.maxConnections, 1);
  const min = checkCount(f('minConnections'), o.minConnections ?? d.minConnections, 0);
  if (min > max) throw new ConfigurationError(f('minConnections'), `must not exceed maxConnections (${min} > ${max})`);
  const settings: PoolSettings = {
    minConnections: min,
    maxConnections: max,
    acquireTimeout: checkDuration(f('acquireTimeout'), o.acquireTimeout ?? d.acquireTimeout, { allowInfinity: true }),
    maxIdleTime: checkPositiveDuration(f('maxIdleTime'), o.maxIdleTime ?? d.maxIdleTime, 'Infinity keeps idle connections'),
    maxLifetime: checkPositiveDuration(f('maxLifetime'), o.maxLifetime ?? d.maxLifetime, 'Infinity: no age limit'),
    maxUses: checkCount(f('maxUses'), o.maxUses ?? d.maxUses, 1, { allowInfinity: true }),
    maxWaiting: checkCount(f('maxWaiting'), o.maxWaiting ?? d.maxWaiting, 0, { allowInfinity: true }),
    validateAfterIdle: checkDuration(f('validateAfterIdle'), o.validateAfterIdle ?? d.validateAfterIdle, { allowInfinity: true }),
    validationTimeout: checkFiniteLimit(f('validationTimeout'), o.validationTimeout ?? d.validationTimeout, 'a validation that hangs must not hold its caller'),
    leakDetectionThreshold: checkPositiveDuration(
      f('leakDetectionThreshold'),
      o.leakDetectionThreshold ?? d.leakDetectionThreshold,
      'Infinity switches leak detection off',
    ),
    destroyTimeout: checkFiniteLimit(f('destroyTimeout'), o.destroyTimeout ?? d.destroyTimeout, 'a destroy that hangs must not hold a slot forever'),
    breaker: readBreaker(o.breaker, f('breaker')),
    stabilityWindow: checkDuration(f('stabilityWindow'), o.stabilityWindow ?? d.stabilityWindow),
    closeEvents: readCloseEvents(o.closeEvents, f('closeEvents')),
    rejectOnTimeout: checkBoolean(f('rejectOnTimeout'), o.rejectOnTimeout ?? d.rejectOnTimeout),
  };
  for (const name of ['maxLifetime', 'validationTimeout', 'destroyTimeout', 'stabilityWindow'] as const) {
    const value = settings[name];
    if (value !== Number.POSITIVE_INFINITY && value > MAX_TIMER_MS) {
      throw new ConfigurationError(f(name), `must be at most ${MAX_TIMER_MS} ms or Infinity, got ${value}`);
    }
  }
  const retryFields = { retryStrategy: o.retryStrategy, maxReconnectionAttempts: o.maxReconnectionAttempts, timeout: o.timeout };
  const retry =
    retryFields.retryStrategy === undefined && retryFields.maxReconnectionAttempts === undefined && retryFields.timeout === undefined
      ? undefined
      : readRetryPolicy(retryFields, field, { strategy: undefined, attemptTimeout: DEFAULT_CREATE_TIMEOUT });
  return {
    settings,
    destroy: o.destroy === undefined ? undefined : checkFunction(f('destroy'), o.destroy),
    validate: o.validate === undefined ? undefined : checkFunction(f('validate'), o.validate),
    isBroken: o.isBroken === undefined ? undefined : checkFunction(f('isBroken'), o.isBroken),
    retry,
  };
}

/** A bound that must exist: greater than 0 and finite (`why` says what it protects). */
function checkFiniteLimit(field: string, value: unknown, why: string): Duration {
  return checkPositiveDuration(field, value, why, { allowInfinity: false });
}

/** A pool's retry policy when its options set none: one attempt, bounded by the default create timeout. */
export const DEFAULT_POOL_RETRY: RetryPolicy = Object.freeze({ ...NO_RETRY, attemptTimeout: DEFAULT_CREATE_TIMEOUT });

function readBreaker(input: unknown, field: string): BreakerSettings {
  const d = defaultPoolSettings.breaker;
  if (input === undefined) return { ...d };
  const o = readOptions(input, field, BREAKER_FIELDS, 'breaker options');
  const initialDelay = checkDuration(`${field}.initialDelay`, o.initialDelay ?? d.initialDelay);
  const maxDelay = checkDuration(`${field}.maxDelay`, o.maxDelay ?? Math.max(d.maxDelay, initialDelay));
  if (initialDelay > MAX_TIMER_MS || maxDelay > MAX_TIMER_MS) {
    throw new ConfigurationError(field, `delays must be at most ${MAX_TIMER_MS} ms`);
  }
  if (maxDelay < initialDelay) {
    throw new ConfigurationError(`${field}.maxDelay`, `must be >= initialDelay (${initialDelay}), got ${maxDelay}`);
  }
  return { initialDelay, maxDelay };
}

function readCloseEvents(input: unknown, field: string): readonly string[] {
  if (input === undefined) return defaultPoolSettings.closeEvents;
  if (!Array.isArray(input)) throw new ConfigurationError(field, `must be an array of event names, got ${describe(input)}`);
  const names: string[] = [];
  for (let i = 0; i < input.length; i++) {
    const name = readField(input, String(i), field);
    if (typeof name !== 'string' || name.length === 0) {
      throw new ConfigurationError(`${field}[${i}]`, `must be an event name, got ${describe(name)}`);
    }
    names.push(name);
  }
  return Object.freeze(names);
}

/** Whether two settings are the same (a new options object with equal settings changes nothing). */
export function sameSettings(a: PoolSettings, b: PoolSettings): boolean {
  for (const name of Object.keys(a) as (keyof PoolSettings)[]) {
    const x = a[name];
    const y = b[name];
    if (name === 'breaker') {
      if (a.breaker.initialDelay !== b.breaker.initialDelay || a.breaker.maxDelay !== b.breaker.maxDelay) return false;
    } else if (name === 'closeEvents') {
      if (a.closeEvents.length !== b.closeEvents.length || a.closeEvents.some((e, i) => e !== b.closeEvents[i])) return false;
    } else if (x !== y) {
      return false;
    }
  }
  return true;
}

/** Callbacks for cache metrics; each is also an event on `manager.events` (`cache:*`). */
export interface CacheMetrics {
  /** An acquire was served by an idle connection. */
  onHit?: (key: string) => void;
  /** A connection was created for the key. */
  onMiss?: (key: string) => void;
  /** A connection was closed by the LRU policy to make room for another key. */
  onEviction?: (key: string, connectionId: string) => void;
  /** A connection was closed for its age (ttl) or its idle time (maxIdleTime). */
  onExpiration?: (key: string, connectionId: string, reason: 'ttl' | 'idle') => void;
}

/** The cache under the pools: limits and policies across all keys (the seed's CacheConfiguration). */
export interface CacheConfiguration {
  /** Connections across all keys. Default 100. */
  maxConnections: number;
  /** Age limit of a connection; it closes at that age once idle. Default: none (Infinity). */
  ttl: Duration;
  /** When the cap is reached, close an idle connection of the least recently used key. Default false. */
  enableLRU: boolean;
  metrics?: CacheMetrics;
}

export const defaultCacheConfiguration: Readonly<CacheConfiguration> = Object.freeze({
  maxConnections: 100,
  ttl: Number.POSITIVE_INFINITY,
  enableLRU: false,
});

const CACHE_FIELDS = new Set(['maxConnections', 'ttl', 'enableLRU', 'metrics']);
const METRIC_FIELDS = new Set(['onHit', 'onMiss', 'onEviction', 'onExpiration']);

export function normalizeCacheConfiguration(input: unknown): CacheConfiguration {
  if (input === undefined) return { ...defaultCacheConfiguration };
  const o = readOptions(input, 'cache', CACHE_FIELDS, 'cache options');
  const max = checkCount('cache.maxConnections', o.maxConnections ?? defaultCacheConfiguration.maxConnections, 1);
  const ttl = checkPositiveDuration('cache.ttl', o.ttl ?? defaultCacheConfiguration.ttl, 'omit it for no age limit');
  const lru = checkBoolean('cache.enableLRU', o.enableLRU ?? false);
  const config: CacheConfiguration = { maxConnections: max, ttl, enableLRU: lru };
  if (o.metrics !== undefined) {
    const m = readOptions(o.metrics, 'cache.metrics', METRIC_FIELDS, 'metrics callbacks');
    for (const [name, fn] of Object.entries(m)) {
      if (fn !== undefined) checkFunction(`cache.metrics.${name}`, fn);
    }
    config.metrics = m as CacheMetrics;
  }
  return config;
}

/** The cap on counts, for documentation. */
export { MAX_COUNT };
