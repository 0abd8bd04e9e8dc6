/**
 * What one key tells its observers: the counters behind `stats(key)`, the manager's events,
 * and the cache's metrics callbacks. The hot path's events (`cache:hit`, `pool:acquired`,
 * `pool:released`) are built only if someone listens.
 */
import type { CacheConfiguration } from '../config.js';
import type { EventHub } from '../events.js';
import type { PoolCounters } from './pool-stats.js';
import type { ConnectionRecord } from './records.js';

/** Where the notices go. */
export interface NoticeHost {
  readonly events: EventHub;
  readonly cache: CacheConfiguration;
}

export class PoolNotices {
  constructor(
    private readonly key: string,
    private readonly host: NoticeHost,
    private readonly counters: PoolCounters,
  ) {}

  /** A connection was lent: `reused` (idle, returned, validated) is a hit, a new one a miss; `waitedMs` 0 with `reused`: from the idle stack. */
  lent(record: ConnectionRecord, waitedMs: number, reused: boolean): void {
    if (reused) {
      this.counters.hits++;
      const onHit = this.host.cache.metrics?.onHit;
      if (onHit !== undefined) this.callMetric(() => onHit(this.key));
      const events = this.host.events;
      if (events.listening('cache:hit')) events.emit('cache:hit', { key: this.key });
    } else {
      this.counters.misses++;
    }
    const events = this.host.events;
    if (events.listening('pool:acquired')) {
      events.emit('pool:acquired', { key: this.key, connectionId: record.id, fromIdle: waitedMs === 0 && reused, waitedMs });
    }
  }

  returned(record: ConnectionRecord): void {
    const events = this.host.events;
    if (events.listening('pool:released')) events.emit('pool:released', { key: this.key, connectionId: record.id });
  }

  /** A connection was created (a cache miss). */
  created(connectionId: string): void {
    this.counters.created++;
    const events = this.host.events;
    if (events.listening('cache:miss')) events.emit('cache:miss', { key: this.key, connectionId });
    const onMiss = this.host.cache.metrics?.onMiss;
    if (onMiss !== undefined) this.callMetric(() => onMiss(this.key));
  }

  timedOut(waitedMs: number, lastError: unknown): void {
    this.counters.timeouts++;
    this.host.events.emit('pool:timeout', { key: this.key, waitedMs, lastError });
  }

  rejected(error: Error): void {
    this.host.events.emit('pool:rejected', { key: this.key, error });
  }

  /** LRU eviction of `record`. */
  evicted(record: ConnectionRecord): void {
    this.counters.evictions++;
    this.host.events.emit('cache:eviction', { key: this.key, connectionId: record.id });
    const onEviction = this.host.cache.metrics?.onEviction;
    if (onEviction !== undefined) this.callMetric(() => onEviction(this.key, record.id));
  }

  /** `record` retired for its age or idle time (by the sweep). */
  expired(record: ConnectionRecord, reason: 'idle' | 'ttl' | 'lifetime'): void {
    this.counters.expirations++;
    const cacheReason = reason === 'idle' ? 'idle' : 'ttl';
    this.host.events.emit('cache:expiration', { key: this.key, connectionId: record.id, reason: cacheReason });
    const onExpiration = this.host.cache.metrics?.onExpiration;
    if (onExpiration !== undefined) this.callMetric(() => onExpiration(this.key, record.id, cacheReason));
  }

  leaked(record: ConnectionRecord, heldMs: number): void {
    this.counters.leaks++;
    this.host.events.emit('pool:leak', {
      key: this.key,
      connectionId: record.id,
      heldMs,
      stack: record.leakStack ?? '',
    });
  }

  pool(type: 'pool:draining' | 'pool:closed'): void {
    this.host.events.emit(type, { key: this.key });
  }

  /** Metrics callbacks are user code: isolate them like listeners. */
  callMetric(call: () => void): void {
    try {
      call();
    } catch (error) {
      this.host.events.emit('listener:error', { event: 'cache.metrics', error });
    }
  }
}
