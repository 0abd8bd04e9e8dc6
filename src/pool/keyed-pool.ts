/**
 * The runtime side of one key: the ledger (hot path), the key's settings and factory, and the
 * effects the pool and connection machines ask for. It owns no lifecycle decision; each
 * method here is either the hot path or an effect a machine transition requested.
 */
import type { AnyActorRef } from 'xstate';
import type { ConnectionReport } from '../../machines/connection.machine.js';
import {
  atCapacity,
  childrenOf,
  createStateOf,
  demandMatters,
  liveConnections,
  type DemandFacts,
  type PoolConfig,
  type PoolContext,
  type PoolEvent,
} from '../../machines/pool.machine.js';
import type { Clock } from '../clock.js';
import type { CacheConfiguration, DestroyFunction, PoolSettings } from '../config.js';
import { AbortError, InvalidConnectionError, ShutdownError } from '../errors.js';
import type { EventHub } from '../events.js';
import { emitConnectionReport } from '../reports.js';
import { NO_RETRY, retryDelay, type RetryPolicy } from '../retry.js';
import { describe } from '../time.js';
import { PoolLedger, type ConnectionRecord, type LedgerOwner } from './ledger.js';

/**
 * Creates one connection, when the pool machine decides it needs one. `signal` aborts when the
 * attempt is abandoned (its `timeout` expired, or a shutdown gave up on it): a factory that
 * honours it frees its half-open socket early; whatever it resolves after that is destroyed.
 */
export type ConnectionFactory<T> = (options: { signal: AbortSignal; connectionId: string }) => T | Promise<T>;

/** What a keyed pool needs from its manager. */
export interface PoolHost {
  readonly clock: Clock;
  readonly events: EventHub;
  readonly cache: CacheConfiguration;
  /** False once gracefulShutdown() has begun. */
  accepting(): boolean;
  /** A counter for LRU recency (cheaper than reading the clock on every acquire). */
  tick(): number;
  /** Whether any key's pool holds this resource. */
  isPooled(resource: object): boolean;
}

/** Per-key statistics. Counts are of connections; `waiting` of acquires. */
export interface PoolStats {
  key: string;
  /** Connections that exist: connecting + idle + inUse + closing. Never above maxConnections. */
  total: number;
  idle: number;
  inUse: number;
  connecting: number;
  /** Retired or dropped, being destroyed. */
  closing: number;
  waiting: number;
  /** Connections created (factory succeeded). */
  created: number;
  /** Resources destroyed. */
  destroyed: number;
  /** Factory calls that failed. */
  failed: number;
  /** Acquires served by an idle connection. */
  hits: number;
  /** Acquires that resolved null after acquireTimeout. */
  timeouts: number;
  evictions: number;
  expirations: number;
}

const noop = (): void => {};

interface Emitterish {
  on(event: string, listener: (...args: unknown[]) => void): unknown;
  off?(event: string, listener: (...args: unknown[]) => void): unknown;
  removeListener?(event: string, listener: (...args: unknown[]) => void): unknown;
}

function isEmitter(value: object): value is Emitterish {
  return typeof (value as { on?: unknown }).on === 'function';
}

function removeListener(target: Emitterish, event: string, listener: (...args: unknown[]) => void): void {
  if (typeof target.off === 'function') target.off(event, listener);
  else target.removeListener?.(event, listener);
}

/** The default destroy: the resource's own close(), destroy() or end(), first found. */
export async function defaultDestroy(resource: object): Promise<void> {
  const r = resource as { close?: unknown; destroy?: unknown; end?: unknown };
  if (typeof r.close === 'function') await (r.close as () => unknown).call(resource);
  else if (typeof r.destroy === 'function') await (r.destroy as () => unknown).call(resource);
  else if (typeof r.end === 'function') await (r.end as () => unknown).call(resource);
}

export class KeyedPool implements LedgerOwner {
  readonly ledger: PoolLedger;
  /** The pool actor, set right after the manager spawns it. */
  actor: AnyActorRef | undefined;
  settings: PoolSettings;
  /** The options object last seen, so an unchanged one costs one comparison per acquire. */
  optionsRef: unknown;
  factory: ConnectionFactory<object> | undefined;
  /** The factory came from a server registered by connect() (not from a call). */
  factoryFromServer = false;
  destroyFn: DestroyFunction<object> | undefined;
  retry: RetryPolicy = NO_RETRY;
  /** LRU recency: the manager's tick at this key's last acquire. */
  lastUsed = 0;
  /** Average time a successful create takes (ms; 0: none yet). */
  private createMs = 0;
  private demandScheduled = false;

  private created = 0;
  private destroyed = 0;
  private failed = 0;
  private hits = 0;
  private timeouts = 0;
  private evictions = 0;
  private expirations = 0;

  constructor(
    readonly key: string,
    private readonly host: PoolHost,
    settings: PoolSettings,
  ) {
    this.settings = settings;
    this.ledger = new PoolLedger(key, host.clock, this);
  }

  /** The machine's view of this key's config (settings plus the cache's ttl). */
  machineConfig(): PoolConfig {
    return {
      ...this.settings,
      ttl: this.host.cache.ttl,
      maxAttempts: this.retry.maxAttempts,
      attemptTimeout: this.retry.attemptTimeout,
    };
  }

  /** New retry options apply to creates that start from now on. */
  setRetry(retry: RetryPolicy): void {
    const before = this.retry;
    this.retry = retry;
    const changed = before.maxAttempts !== retry.maxAttempts || before.attemptTimeout !== retry.attemptTimeout;
    if (changed) this.actor?.send({ type: 'CONFIGURE', config: this.machineConfig() } satisfies PoolEvent);
  }

  /** The retry strategy's answer for a failed create attempt (connection machine: computeRetry). */
  retryDelay(attempt: number, maxAttempts: number, error: unknown): number | null {
    return retryDelay(this.retry, attempt, maxAttempts, error);
  }

  // --- the hot path -------------------------------------------------------------------

  acquire(signal: AbortSignal | undefined): Promise<object | null> {
    if (!this.host.accepting()) return this.refuse(new ShutdownError());
    if (signal?.aborted) return this.refuse(new AbortError('acquireConnection was aborted', { cause: signal.reason }));
    this.lastUsed = this.host.tick();
    const record = this.ledger.takeIdle();
    if (record === undefined) return this.ledger.wait(this.settings.acquireTimeout, signal);
    this.hits++;
    if (this.host.cache.metrics?.onHit !== undefined) this.callMetric(() => this.host.cache.metrics?.onHit?.(this.key));
    const events = this.host.events;
    if (events.listening('cache:hit')) events.emit('cache:hit', { key: this.key });
    if (events.listening('pool:acquired')) {
      events.emit('pool:acquired', { key: this.key, connectionId: record.id, fromIdle: true, waitedMs: 0 });
    }
    return Promise.resolve(record.resource);
  }

  release(resource: object): void {
    this.ledger.release(resource);
  }

  discard(resource: object): void {
    this.ledger.discard(resource);
  }

  // --- LedgerOwner: what the ledger tells us --------------------------------------------

  /** What the pool machine is told with each DEMAND. */
  demandFacts(): DemandFacts {
    return {
      waiting: this.ledger.waitingCount,
      holdMs: this.ledger.averageHoldMs,
      createMs: this.createMs,
      oldestWaitMs: this.ledger.oldestWaitMs(),
    };
  }

  /**
   * More callers wait. A burst of misses makes one report, at the end of the current job
   * (a microtask), not one each; and none at all if the machine would not act on it (event
   * elision: `demandMatters` is built from the machine's own guards).
   */
  waiting(): void {
    if (this.demandScheduled || this.actor === undefined) return;
    // Under load the pool is usually full: then no report could change anything.
    if (atCapacity(this.actor.getSnapshot().context as PoolContext)) return;
    this.demandScheduled = true;
    queueMicrotask(this.reportDemandIfItMatters);
  }

  private readonly reportDemandIfItMatters = (): void => {
    this.demandScheduled = false;
    const actor = this.actor;
    if (actor === undefined) return;
    const snapshot = actor.getSnapshot() as { context: PoolContext; value: unknown };
    const facts = this.demandFacts();
    if (demandMatters(createStateOf(snapshot.value), { ...snapshot.context, ...facts })) {
      actor.send({ type: 'DEMAND', ...facts } satisfies PoolEvent);
    }
  };

  waitersLeft(): void {
    this.actor?.send({ type: 'DEMAND', ...this.demandFacts() } satisfies PoolEvent);
  }

  lent(record: ConnectionRecord, since: number): void {
    const events = this.host.events;
    if (events.listening('pool:acquired')) {
      const waitedMs = this.host.clock.now() - since;
      events.emit('pool:acquired', { key: this.key, connectionId: record.id, fromIdle: false, waitedMs });
    }
  }

  returned(record: ConnectionRecord): void {
    const events = this.host.events;
    if (events.listening('pool:released')) events.emit('pool:released', { key: this.key, connectionId: record.id });
  }

  timedOut(since: number): void {
    this.timeouts++;
    const events = this.host.events;
    if (events.listening('pool:timeout')) {
      events.emit('pool:timeout', { key: this.key, waitedMs: this.host.clock.now() - since });
    }
  }

  rejected(error: Error): void {
    this.host.events.emit('pool:rejected', { key: this.key, error });
  }

  children(): AnyActorRef[] {
    return this.actor === undefined ? [] : childrenOf(this.actor);
  }

  // --- effects the machines ask for ---------------------------------------------------

  /** Connection actor `create`: run the factory and record what it produced. */
  async create(id: string, signal: AbortSignal): Promise<void> {
    const factory = this.factory;
    if (factory === undefined) throw new InvalidConnectionError(this.key, 'no factory was given for this key');
    const started = this.host.clock.now();
    const resource: unknown = await factory({ signal, connectionId: id });
    const took = this.host.clock.now() - started;
    if (signal.aborted) {
      // The attempt was abandoned meanwhile (timeout, shutdown): nobody will use this one.
      if (resource !== null && typeof resource === 'object') await this.destroyResource(resource).catch(noop);
      return;
    }
    if (resource === null || (typeof resource !== 'object' && typeof resource !== 'function')) {
      throw new InvalidConnectionError(this.key, `resolved ${describe(resource)}; a connection must be an object`);
    }
    if (this.host.isPooled(resource)) {
      throw new InvalidConnectionError(this.key, 'resolved a connection that is already pooled');
    }
    const actor = this.actor?.getSnapshot().children[id] as AnyActorRef | undefined;
    if (actor === undefined) {
      // Its actor is gone (the shutdown timeout abandoned this create): nobody will use it.
      await this.destroyResource(resource).catch(noop);
      return;
    }
    // A pooled resource that errors must not crash the process; the watch reports it.
    if (isEmitter(resource)) resource.on('error', noop);
    this.ledger.adopt(id, resource, actor);
    this.createMs = this.createMs === 0 ? took : 0.8 * this.createMs + 0.2 * took;
  }

  /** Connection actor `destroy`. */
  async destroy(id: string): Promise<void> {
    const record = this.ledger.record(id);
    if (record === undefined) return;
    this.destroyed++;
    await this.destroyResource(record.resource);
  }

  /** Connection actor `watch`: report the resource closing or failing on its own. */
  watch(id: string, report: (error: unknown) => void): () => void {
    const record = this.ledger.record(id);
    if (record === undefined || !isEmitter(record.resource)) return noop;
    const resource = record.resource;
    const onClose = (): void => report(undefined);
    const onError = (error: unknown): void => report(error);
    resource.on('close', onClose);
    resource.on('error', onError);
    return () => {
      removeListener(resource, 'close', onClose);
      removeListener(resource, 'error', onError);
    };
  }

  /** Pool action `notify`: network events, cache events and metrics for the report being handled. */
  notify(event: PoolEvent): void {
    const events = this.host.events;
    const metrics = this.host.cache.metrics;
    const key = this.key;
    const e = event as ConnectionReport;
    switch (e.type) {
      case 'CONNECTION.READY':
        this.created++;
        events.emit('cache:miss', { key, connectionId: e.id });
        if (metrics?.onMiss !== undefined) this.callMetric(() => metrics.onMiss?.(key));
        break;
      case 'CONNECTION.FAILED':
        this.failed++;
        break;
      case 'CONNECTION.DRAINING':
        if (e.reason === 'evicted') {
          this.evictions++;
          events.emit('cache:eviction', { key, connectionId: e.id });
          if (metrics?.onEviction !== undefined) this.callMetric(() => metrics.onEviction?.(key, e.id));
        }
        break;
      case 'CONNECTION.IDLE_EXPIRED':
      case 'CONNECTION.TTL_EXPIRED': {
        const reason = e.type === 'CONNECTION.IDLE_EXPIRED' ? 'idle' : 'ttl';
        this.expirations++;
        events.emit('cache:expiration', { key, connectionId: e.id, reason });
        if (metrics?.onExpiration !== undefined) this.callMetric(() => metrics.onExpiration?.(key, e.id, reason));
        break;
      }
      default:
        break;
    }
    if (e.type.startsWith('CONNECTION.')) emitConnectionReport(events, key, e);
  }

  notifyPool(type: 'pool:draining' | 'pool:closed'): void {
    this.host.events.emit(type, { key: this.key });
  }

  stats(): PoolStats {
    const c = this.actor?.getSnapshot().context as PoolContext | undefined;
    const idle = this.ledger.idleCount;
    const inUse = this.ledger.lentCount;
    const connecting = c?.connecting ?? 0;
    const total = c === undefined ? 0 : liveConnections(c);
    return {
      key: this.key,
      total,
      idle,
      inUse,
      connecting,
      closing: Math.max(0, total - idle - inUse - connecting),
      waiting: this.ledger.waitingCount,
      created: this.created,
      destroyed: this.destroyed,
      failed: this.failed,
      hits: this.hits,
      timeouts: this.timeouts,
      evictions: this.evictions,
      expirations: this.expirations,
    };
  }

  private async destroyResource(resource: object): Promise<void> {
    await (this.destroyFn ?? defaultDestroy)(resource);
  }

  private refuse(error: Error): Promise<never> {
    this.rejected(error);
    return Promise.reject(error);
  }

  /** Metrics callbacks are user code running inside transitions: isolate them like listeners. */
  private callMetric(call: () => void): void {
    try {
      call();
    } catch (error) {
      this.host.events.emit('listener:error', { event: 'cache.metrics', error });
    }
  }
}
