/**
 * Per-key statistics: what `stats(key)` returns, and the counters behind it. Counting happens
 * in the effects that already run (a create landing, a destroy starting, a checkout), never in
 * a transition of its own.
 */
import { liveConnections } from '../../machines/pool.decisions.js';
import type { PoolContext } from '../../machines/pool.machine.js';
import type { PoolLedger } from './ledger.js';

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

/** `stats(key)` of one key: the ledger's counts, the machine's (`c`, undefined before its pool opens), the counters. */
export function poolStats(key: string, c: PoolContext | undefined, ledger: PoolLedger, n: PoolCounters): PoolStats {
  const idle = ledger.idleCount;
  const inUse = ledger.lentCount;
  const validating = ledger.waiters.validatingCount;
  const connecting = c?.connecting ?? 0;
  const total = c === undefined ? 0 : liveConnections(c);
  return {
    key,
    total,
    idle,
    inUse,
    validating,
    connecting,
    closing: Math.max(0, total - idle - inUse - validating - connecting),
    waiting: ledger.waiters.count,
    created: n.created,
    destroyed: n.destroyed,
    failed: n.failed,
    hits: n.hits,
    misses: n.misses,
    timeouts: n.timeouts,
    evictions: n.evictions,
    expirations: n.expirations,
    invalidated: n.invalidated,
    leaks: n.leaks,
  };
}
