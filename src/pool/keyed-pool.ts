/**
 * The runtime side of one key: its settings and factory, the ledger (the hot path), the
 * connection actors, and the effects the pool machine asks for. It owns no lifecycle decision;
 * each method here is the hot path, an effect a machine transition requested, or a report to
 * the machine (demand, deadlines).
 *
 * Connection actors are created with `createActor(logic, { parent: poolActor })` and kept in
 * `actors`, not spawned into the pool actor's `children` record: XState copies that record on
 * every spawn and stop, which made a pool of thousands quadratic. The inspector still shows
 * them under their pool (their parent).
 */
import { createActor, type AnyActorRef, type AnyEventObject, type AnyStateMachine } from 'xstate';
import type { CloseReason, ConnectionInput } from '../../machines/connection.machine.js';
import {
  atCapacity,
  liveConnections,
  surplusConnections,
  wornOut,
  type DemandFacts,
  type PoolConfig,
} from '../../machines/pool.decisions.js';
import { createStateOf, demandMatters, type PoolContext, type PoolEvent } from '../../machines/pool.machine.js';
import type { Clock } from '../clock.js';
import type { CacheConfiguration, PoolSettings, PoolSpec } from '../config.js';
import { AbortError, AcquireTimeoutError, PoolFullError, ShutdownError } from '../errors.js';
import type { EventHub } from '../events.js';
import type { RetryPolicy } from '../retry.js';
import { stopActor } from '../xstate-internals.js';
import { ConnectionEffects, type ConnectionFactory } from './connection-effects.js';
import { sweep } from './housekeeping.js';
import { PoolLedger, type LedgerOwner } from './ledger.js';
import { PoolCounters, type PoolStats } from './pool-stats.js';
import type { ConnectionRecord } from './records.js';
import type { Waiter } from './waiters.js';

export type { ConnectionFactory } from './connection-effects.js';

/** What a keyed pool needs from its manager. */
export interface PoolHost {
  readonly clock: Clock;
  readonly events: EventHub;
  readonly cache: CacheConfiguration;
  /** The connection machine with the runtime's effects. */
  readonly connectionLogic: AnyStateMachine;
  /** False once gracefulShutdown() has begun. */
  accepting(): boolean;
  /** A counter for LRU recency (cheaper than reading the clock on every acquire). */
  tick(): number;
  /** Which key's pool holds this resource, if any (registered when a create lands). */
  poolOf(resource: object): KeyedPool | undefined;
  adopt(resource: object, pool: KeyedPool): void;
  release(resource: object): void;
}

export class KeyedPool implements LedgerOwner {
  readonly ledger: PoolLedger;
  readonly effects: ConnectionEffects;
  readonly counters = new PoolCounters();
  /** The pool actor, set when the manager machine opens it. */
  actor: AnyActorRef | undefined;
  spec: PoolSpec;
  /** The options object last seen, so an unchanged one costs one comparison per acquire. */
  optionsRef: unknown;
  factory: ConnectionFactory<object> | undefined;
  /** The factory came from a server registered by connect() (not from a call). */
  factoryFromServer = false;
  /** A Pool handle owns this key's settings: acquireConnection may not change them. */
  ownedByHandle = false;
  retry: RetryPolicy;
  /** LRU recency: the manager's tick at this key's last acquire. */
  lastUsed = 0;
  /** Every live connection actor of this key, created or not yet. */
  private readonly actors = new Map<string, AnyActorRef>();

  /** Clock time (ms) the housekeeping sweep is due; Infinity: none scheduled. */
  private sweepAt = Number.POSITIVE_INFINITY;
  private demandScheduled = false;
  /** Waiters left since the last demand report: the machine's count may be stale. */
  private waitersLeftSince = false;
  /** Sends made while a pool transition runs an effect, for XState to deliver after it. */
  private outbox: [AnyActorRef, AnyEventObject][] | undefined;

  constructor(
    readonly key: string,
    readonly host: PoolHost,
    spec: PoolSpec,
    retry: RetryPolicy,
  ) {
    this.spec = spec;
    this.retry = retry;
    this.ledger = new PoolLedger(key, host.clock, this);
    this.effects = new ConnectionEffects(this);
  }

  get settings(): PoolSettings {
    return this.spec.settings;
  }

  /** The machine's view of this key's config (settings plus the cache's ttl and the retry policy). */
  machineConfig(): PoolConfig {
    if (this.config !== undefined && this.configFor === this.spec && this.configRetry === this.retry) return this.config;
    const s = this.spec.settings;
    this.configFor = this.spec;
    this.configRetry = this.retry;
    return (this.config = {
      minConnections: s.minConnections,
      maxConnections: s.maxConnections,
      acquireTimeout: s.acquireTimeout,
      maxIdleTime: s.maxIdleTime,
      ttl: this.host.cache.ttl,
      maxLifetime: s.maxLifetime,
      maxAttempts: this.retry.maxAttempts,
      attemptTimeout: this.retry.attemptTimeout,
      breaker: { ...s.breaker },
      stabilityWindow: s.stabilityWindow,
      validationTimeout: s.validationTimeout,
      destroyTimeout: s.destroyTimeout,
    });
  }
  /** machineConfig(), computed once per spec and retry policy (every create reads it). */
  private config: PoolConfig | undefined;
  private configFor: PoolSpec | undefined;
  private configRetry: RetryPolicy | undefined;

  /** The pool machine's context (its counts and config). */
  context(): PoolContext | undefined {
    return this.actor?.getSnapshot().context as PoolContext | undefined;
  }

  /** New settings or retry options; they apply to creates that start from now on. */
  configure(spec: PoolSpec, retry: RetryPolicy): void {
    this.spec = spec;
    this.retry = retry;
    this.actor?.send({ type: 'CONFIGURE', config: this.machineConfig() } satisfies PoolEvent);
    // A shorter maxIdleTime may make a resting connection due sooner.
    for (const record of this.ledger.idle.records()) this.idleFrom(record.idleSince);
  }

  // --- the hot path -------------------------------------------------------------------

  /**
   * Lends a connection: an idle one now, or one that is returned, validated or created later.
   * At the deadline: `null`, or an AcquireTimeoutError when `rejectOnTimeout`.
   */
  acquire(signal: AbortSignal | undefined, rejectOnTimeout: boolean): Promise<object | null> {
    if (!this.host.accepting()) return this.refuse(new ShutdownError());
    if (signal?.aborted) return this.refuse(new AbortError('acquire was aborted', { cause: signal.reason }));
    this.lastUsed = this.host.tick();
    const settings = this.spec.settings;
    const stack = settings.leakDetectionThreshold < Number.POSITIVE_INFINITY ? callerStack() : undefined;
    const record = this.ledger.takeIdle();
    if (record === undefined) {
      if (this.ledger.waiters.count >= settings.maxWaiting) return this.refuse(new PoolFullError(this.key, settings.maxWaiting));
      return this.ledger.waiters.wait(settings.acquireTimeout, signal, stack, rejectOnTimeout);
    }
    if (record.state === 'validating') {
      return this.ledger.waitForValidation(record, settings.acquireTimeout, signal, stack, rejectOnTimeout);
    }
    if (stack !== undefined) record.leakStack = stack;
    this.lent(record, 0, true);
    return Promise.resolve(record.resource);
  }

  // --- LedgerOwner: what the ledger tells us --------------------------------------------

  /** What the pool machine is told with each DEMAND. */
  demandFacts(): DemandFacts {
    return {
      waiting: this.ledger.waiters.count,
      holdMs: this.ledger.averageHoldMs,
      createMs: this.effects.createMs,
      oldestWaitMs: this.ledger.waiters.oldestWaitMs(),
    };
  }

  /**
   * More callers wait. A burst of misses makes one report, at the end of the current job
   * (a microtask), not one each; and none at all if the machine would not act on it (event
   * elision: `demandMatters` is built from the machine's own guards).
   */
  waiting(): void {
    const c = this.context();
    // Under load the pool is usually full: then no report could change anything.
    if (c === undefined || atCapacity(c)) return;
    this.scheduleDemandCheck();
  }

  waitersLeft(): void {
    this.waitersLeftSince = true;
    this.scheduleDemandCheck();
  }

  /** Capacity or demand changed: re-report demand if (and only if) it now matters. */
  scheduleDemandCheck(): void {
    if (this.demandScheduled) return;
    this.demandScheduled = true;
    queueMicrotask(this.reportDemandIfItMatters);
  }

  private readonly reportDemandIfItMatters = (): void => {
    this.demandScheduled = false;
    const actor = this.actor;
    if (actor === undefined) return;
    const snapshot = actor.getSnapshot() as { context: PoolContext; value: unknown; status: string };
    if (snapshot.status !== 'active') return;
    const facts = this.demandFacts();
    const c = snapshot.context;
    // Waiters left (timeouts, aborts) while slots are still asked for: refresh the machine's
    // count, or a late grant would create a connection nobody waits for. Once per burst.
    const stale = this.waitersLeftSince && facts.waiting < c.waiting && c.requested > 0;
    this.waitersLeftSince = false;
    if (stale || demandMatters(createStateOf(snapshot.value), { ...c, ...facts })) {
      actor.send({ type: 'DEMAND', ...facts } satisfies PoolEvent);
    }
  };

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

  timedOut(waiter: Waiter): void {
    this.counters.timeouts++;
    const waitedMs = this.host.clock.now() - waiter.since;
    const lastError = this.effects.lastCreateError;
    this.host.events.emit('pool:timeout', { key: this.key, waitedMs, lastError });
    if (waiter.rejectOnTimeout) {
      const { key: _key, ...stats } = this.stats();
      waiter.reject(new AcquireTimeoutError(this.key, waitedMs, { key: this.key, ...stats }, lastError));
    } else {
      waiter.resolve(null);
    }
  }

  rejected(error: Error): void {
    this.host.events.emit('pool:rejected', { key: this.key, error });
  }

  needsValidation(record: ConnectionRecord): boolean {
    return this.spec.validate !== undefined && this.host.clock.now() - record.idleSince >= this.spec.settings.validateAfterIdle;
  }

  wornOut(record: ConnectionRecord): boolean {
    return wornOut(record.uses, this.spec.settings.maxUses);
  }

  get leakThreshold(): number {
    return this.spec.settings.leakDetectionThreshold;
  }

  /** A connection started resting at clock time `at`: its idle deadline may need the sweep sooner. */
  idleFrom(at: number): void {
    if (this.spec.settings.maxIdleTime < Number.POSITIVE_INFINITY) this.deadline(at + this.spec.settings.maxIdleTime);
  }

  /** A deadline (clock ms) appeared: arm the pool's one housekeeping timer for it if it is the earliest. */
  deadline(at: number): void {
    if (at >= this.sweepAt || at === Number.POSITIVE_INFINITY) return;
    this.sweepAt = at;
    this.actor?.send({ type: 'SWEEP.SCHEDULE', delay: Math.max(0, at - this.host.clock.now()) } satisfies PoolEvent);
  }

  send(actor: AnyActorRef, event: AnyEventObject): void {
    if (this.outbox !== undefined) this.outbox.push([actor, event]);
    else actor.send(event);
  }

  /**
   * Runs an effect of a pool transition and returns the events it sends to connection actors.
   * The transition hands them to XState (`enqueue.sendTo`), which delivers them after it: an
   * actor processing an event inside another actor's action is what XState forbids.
   */
  deferred(effect: () => void): [AnyActorRef, AnyEventObject][] {
    const outbox: [AnyActorRef, AnyEventObject][] = [];
    this.outbox = outbox;
    try {
      effect();
    } finally {
      this.outbox = undefined;
    }
    return outbox;
  }

  // --- connection actors --------------------------------------------------------------

  /** Pool effect `spawnConnection`: a new actor for the next connection, to START with `input`. */
  prepareConnection(input: ConnectionInput): AnyActorRef | undefined {
    if (this.actor === undefined) return undefined;
    // Created in the transition's resolution (not in a custom action), with a static context:
    // XState warns when an actor is created inside an action.
    const ref = createActor(this.host.connectionLogic, { parent: this.actor, id: input.id });
    ref.start();
    this.actors.set(input.id, ref);
    return ref;
  }

  /** Pool effect `reuseConnection`: the ended connection's actor, to START the next one. */
  reuse(id: string): AnyActorRef | undefined {
    this.forget(id);
    return this.actors.get(id);
  }

  /** Pool effect `stopConnection`: the connection has reported its end; its actor is to be stopped. */
  takeActor(id: string): AnyActorRef | undefined {
    const actor = this.actors.get(id);
    this.actors.delete(id);
    this.forget(id);
    return actor;
  }

  private forget(id: string): void {
    const record = this.ledger.forget(id);
    if (record !== undefined) this.host.release(record.resource);
  }

  /** Connection actors whose create has not produced a resource yet (an attempt, or a backoff). */
  private *uncreated(): IterableIterator<AnyActorRef> {
    for (const [id, actor] of this.actors) if (this.ledger.record(id) === undefined) yield actor;
  }

  /** Every live connection actor (for observers). */
  connectionActors(): IterableIterator<AnyActorRef> {
    return this.actors.values();
  }

  /** The pool actor stopped (the manager was stopped outright): stop what is left under it. */
  stopAll(): void {
    for (const actor of this.actors.values()) stopActor(actor);
    this.actors.clear();
  }

  // --- effects the pool machine asks for ------------------------------------------------

  /** Pool effect `retireSurplus`, with the machine's context of the resize (its new config). */
  retireSurplus(c: PoolContext): void {
    let left = surplusConnections(c, this.ledger.leaving);
    left -= this.ledger.retireSurplus(left, 'resized');
    for (const actor of this.uncreated()) {
      if (left <= 0) break;
      this.send(actor, { type: 'RETIRE', reason: 'resized' satisfies CloseReason });
      left--;
    }
  }

  retireAll(): void {
    this.ledger.retireAll('shutdown');
    for (const actor of this.uncreated()) this.send(actor, { type: 'RETIRE', reason: 'shutdown' satisfies CloseReason });
  }

  forceAll(): void {
    for (const actor of this.actors.values()) this.send(actor, { type: 'FORCE' });
  }

  evictIdle(): void {
    const record = this.ledger.idle.bottom();
    if (record === undefined) return;
    this.counters.evictions++;
    this.host.events.emit('cache:eviction', { key: this.key, connectionId: record.id });
    const onEviction = this.host.cache.metrics?.onEviction;
    if (onEviction !== undefined) this.callMetric(() => onEviction(this.key, record.id));
    this.ledger.retire(record, 'evicted');
  }

  /** Pool effect `sweep`: retire what is due; answer the delay (ms) until the next deadline. */
  sweep(c: PoolContext): number {
    const now = this.host.clock.now();
    const next = sweep(this, c, now);
    this.sweepAt = next;
    return next === Number.POSITIVE_INFINITY ? next : Math.max(0, next - now);
  }

  /** A connection retired for its age or idle time (by the sweep). */
  expired(record: ConnectionRecord, reason: 'idle' | 'ttl' | 'lifetime'): void {
    this.counters.expirations++;
    const cacheReason = reason === 'idle' ? 'idle' : 'ttl';
    this.host.events.emit('cache:expiration', { key: this.key, connectionId: record.id, reason: cacheReason });
    const onExpiration = this.host.cache.metrics?.onExpiration;
    if (onExpiration !== undefined) this.callMetric(() => onExpiration(this.key, record.id, cacheReason));
    this.ledger.retire(record, reason);
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

  /** Pool effect `rejectWaiters`: who hears a failed create's error. */
  createFailed(error: unknown, permanent: boolean): void {
    if (permanent) this.ledger.waiters.rejectAll(() => (error instanceof Error ? error : new Error(String(error))));
    else this.ledger.waiters.rejectOldest(error);
  }

  rejectAllWaiters(): void {
    this.ledger.waiters.rejectAll(() => new ShutdownError());
  }

  notifyPool(type: 'pool:draining' | 'pool:closed'): void {
    this.host.events.emit(type, { key: this.key });
  }

  stats(): PoolStats {
    const c = this.context();
    const idle = this.ledger.idleCount;
    const inUse = this.ledger.lentCount;
    const validating = this.ledger.waiters.validatingCount;
    const connecting = c?.connecting ?? 0;
    const total = c === undefined ? 0 : liveConnections(c);
    const n = this.counters;
    return {
      key: this.key,
      total,
      idle,
      inUse,
      validating,
      connecting,
      closing: Math.max(0, total - idle - inUse - validating - connecting),
      waiting: this.ledger.waiters.count,
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

  private refuse(error: Error): Promise<never> {
    this.rejected(error);
    return Promise.reject(error);
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

/** The caller's stack, for leak reports (captured only when leak detection is on). */
function callerStack(): string {
  const holder: { stack?: string } = {};
  Error.captureStackTrace(holder, callerStack);
  return (holder.stack ?? '').split('\n').slice(1).join('\n');
}

