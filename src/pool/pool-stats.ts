/**
 * Per-key statistics: what `stats(key)` returns, and the counters behind it. Counting happens
 * in the effects that already run (a create landing, a destroy starting, a checkout), never in
 * a transition of its own.
 */

/** Per-key statistics. Counts are of connections; `waiting` of acquires. */
export interface PoolStats {
  key: string;
  /** Connections that exist: connecting + idle + inUse + validating + closing. Never above maxConnections. */
  total: number;
  idle: number;
  inUse: number;
  /** Taken from idle and being validated for a caller. */
  validating: number;
  connecting: number;
  /** Retired or dropped, being destroyed. */
  closing: number;
  /** Acquires waiting (those whose connection is being validated included). */
  waiting: number;
  /** Connections created (factory succeeded). */
  created: number;
  /** Resources destroyed. */
  destroyed: number;
  /** Creates that failed (every attempt spent), and connections that closed within their stability window. */
  failed: number;
  /** Acquires served by an existing connection: idle, or handed over on its return. */
  hits: number;
  /** Acquires served by a connection created for them. */
  misses: number;
  /** Acquires that got no connection within acquireTimeout. */
  timeouts: number;
  /** Connections closed by the cache's LRU policy. */
  evictions: number;
  /** Connections closed for their idle time, ttl or maxLifetime. */
  expirations: number;
  /** Connections closed because validation on borrow failed. */
  invalidated: number;
  /** Leases reported by leak detection. */
  leaks: number;
}

export class PoolCounters {
  created = 0;
  destroyed = 0;
  failed = 0;
  hits = 0;
  misses = 0;
  timeouts = 0;
  evictions = 0;
  expirations = 0;
  invalidated = 0;
  leaks = 0;
}
