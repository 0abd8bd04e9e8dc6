import { ConfigurationError } from './errors.js';
import type { RetryStrategy } from './retry.js';
import { checkDuration, describe, type Duration } from './time.js';

/**
 * The seed's pool configuration. Every call may pass a plain partial object instead; missing
 * fields take the defaults (min 0, max 10, acquireTimeout 30 s, maxIdleTime 300 s).
 */
export class ConnectionPoolConfiguration {
  static readonly defaults: Readonly<PoolSettings> = Object.freeze({
    minConnections: 0,
    maxConnections: 10,
    acquireTimeout: 30_000,
    maxIdleTime: 300_000,
  });

  /** Connections opened as soon as the pool exists, and refilled when lost. */
  readonly minConnections: number;
  /** Connections (connecting + idle + in use + closing) the key never exceeds. */
  readonly maxConnections: number;
  /** How long an acquire may wait before resolving `null`. `Infinity`: forever; 0: not at all. */
  readonly acquireTimeout: Duration;
  /** Idle time after which a connection above minConnections is closed. `Infinity`: never. */
  readonly maxIdleTime: Duration;

  constructor(settings: Partial<PoolSettings> = {}) {
    const s = normalizePoolSettings(settings, 'poolConfig');
    this.minConnections = s.minConnections;
    this.maxConnections = s.maxConnections;
    this.acquireTimeout = s.acquireTimeout;
    this.maxIdleTime = s.maxIdleTime;
    Object.freeze(this);
  }
}

/** The four fields of {@link ConnectionPoolConfiguration} as plain data. */
export interface PoolSettings {
  minConnections: number;
  maxConnections: number;
  acquireTimeout: Duration;
  maxIdleTime: Duration;
}

/** Closes a pooled resource. Default: the resource's `close()`, `destroy()` or `end()`, first found. */
export type DestroyFunction<T> = (connection: T) => void | Promise<void>;

/** What `acquireConnection` accepts as its second argument: pool settings plus per-key options. */
export interface PoolOptions<T = object> extends Partial<PoolSettings> {
  destroy?: DestroyFunction<T>;
  /**
   * Retries a failing factory, within acquireTimeout: an acquire that gets no connection in
   * time resolves null. Without a strategy a failed create rejects its caller with the error.
   * Default: none, or the strategy connect() registered for the key's server.
   */
  retryStrategy?: RetryStrategy;
  /** Attempts per create with a retry strategy, the first included. Default 6. */
  maxReconnectionAttempts?: number;
  /** Bound on one create attempt (the factory's `signal` aborts then). Default: none. */
  timeout?: Duration;
}

const POOL_FIELDS = new Set([
  'minConnections',
  'maxConnections',
  'acquireTimeout',
  'maxIdleTime',
  'destroy',
  'retryStrategy',
  'maxReconnectionAttempts',
  'timeout',
]);

/** Validates and completes pool settings; `field` prefixes the names in errors. */
export function normalizePoolSettings(input: unknown, field: string): PoolSettings {
  if (input === undefined || input === null) return { ...ConnectionPoolConfiguration.defaults };
  if (typeof input !== 'object') throw new ConfigurationError(field, `must be an object, got ${describe(input)}`);
  const o = input as Record<string, unknown>;
  if (!(input instanceof ConnectionPoolConfiguration)) {
    for (const name of Object.keys(o)) {
      if (!POOL_FIELDS.has(name)) throw new ConfigurationError(`${field}.${name}`, 'is not a pool option');
    }
  }
  const d = ConnectionPoolConfiguration.defaults;
  const max = o.maxConnections ?? d.maxConnections;
  if (typeof max !== 'number' || !Number.isInteger(max) || max < 1) {
    throw new ConfigurationError(`${field}.maxConnections`, `must be an integer >= 1, got ${describe(max)}`);
  }
  const min = o.minConnections ?? d.minConnections;
  if (typeof min !== 'number' || !Number.isInteger(min) || min < 0) {
    throw new ConfigurationError(`${field}.minConnections`, `must be an integer >= 0, got ${describe(min)}`);
  }
  if (min > max) {
    throw new ConfigurationError(`${field}.minConnections`, `must not exceed maxConnections (${min} > ${max})`);
  }
  return {
    minConnections: min,
    maxConnections: max,
    acquireTimeout: checkDuration(`${field}.acquireTimeout`, o.acquireTimeout ?? d.acquireTimeout, {
      allowInfinity: true,
    }),
    maxIdleTime: checkDuration(`${field}.maxIdleTime`, o.maxIdleTime ?? d.maxIdleTime, { allowInfinity: true }),
  };
}

export function sameSettings(a: PoolSettings, b: PoolSettings): boolean {
  return (
    a.minConnections === b.minConnections &&
    a.maxConnections === b.maxConnections &&
    a.acquireTimeout === b.acquireTimeout &&
    a.maxIdleTime === b.maxIdleTime
  );
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
  if (input === null || typeof input !== 'object') {
    throw new ConfigurationError('cache', `must be an object, got ${describe(input)}`);
  }
  const o = input as Record<string, unknown>;
  for (const name of Object.keys(o)) {
    if (!CACHE_FIELDS.has(name)) throw new ConfigurationError(`cache.${name}`, 'is not a cache option');
  }
  const max = o.maxConnections ?? defaultCacheConfiguration.maxConnections;
  if (typeof max !== 'number' || !Number.isInteger(max) || max < 1) {
    throw new ConfigurationError('cache.maxConnections', `must be an integer >= 1, got ${describe(max)}`);
  }
  const ttl = checkDuration('cache.ttl', o.ttl ?? defaultCacheConfiguration.ttl, { allowInfinity: true });
  if (ttl === 0) throw new ConfigurationError('cache.ttl', 'must be greater than 0 (omit it for no age limit)');
  const lru = o.enableLRU ?? false;
  if (typeof lru !== 'boolean') throw new ConfigurationError('cache.enableLRU', `must be a boolean, got ${describe(lru)}`);
  const config: CacheConfiguration = { maxConnections: max, ttl, enableLRU: lru };
  if (o.metrics !== undefined) {
    if (o.metrics === null || typeof o.metrics !== 'object') {
      throw new ConfigurationError('cache.metrics', `must be an object, got ${describe(o.metrics)}`);
    }
    const m = o.metrics as Record<string, unknown>;
    for (const [name, fn] of Object.entries(m)) {
      if (!METRIC_FIELDS.has(name)) throw new ConfigurationError(`cache.metrics.${name}`, 'is not a metrics callback');
      if (fn !== undefined && typeof fn !== 'function') {
        throw new ConfigurationError(`cache.metrics.${name}`, `must be a function, got ${describe(fn)}`);
      }
    }
    config.metrics = m as CacheMetrics;
  }
  return config;
}
