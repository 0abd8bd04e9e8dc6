/**
 * The runtime side of one key: its settings and factory, the ledger (the hot path), the
 * connection actors (connection-actors.ts), and the effects the pool machine asks for. It owns
 * no lifecycle decision; each method here is the hot path, an effect a machine transition
 * requested, or a report: to the machine (demand: demand-reports.ts; sweep deadlines), or to
 * observers (counters, events, metrics: pool-notices.ts).
 */
import type { AnyActorRef, AnyEventObject, AnyStateMachine } from 'xstate';
import type { CloseReason, ConnectionInput } from '../../machines/connection.machine.js';
import { failureReaches, surplusConnections, wornOut, type PoolConfig } from '../../machines/pool.decisions.js';
import type { PoolContext, PoolEvent } from '../../machines/pool.machine.js';
import type { Clock } from '../clock.js';
import type { CacheConfiguration, PoolSettings, PoolSpec } from '../config.js';
import { AbortError, AcquireTimeoutError, PoolFullError, ShutdownError } from '../errors.js';
import type { EventHub } from '../events.js';
import type { RetryPolicy } from '../retry.js';
import { ConnectionActors } from './connection-actors.js';
import { ConnectionEffects, type ConnectionFactory } from './connection-effects.js';
import { DemandReports } from './demand-reports.js';
import { sweep } from './housekeeping.js';
import { PoolLedger, type LedgerOwner } from './ledger.js';
import { PoolNotices } from './pool-notices.js';
import { PoolCounters, poolStats, type PoolStats } from './pool-stats.js';
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
  readonly demand: DemandReports;
  readonly notices: PoolNotices;
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
  private readonly actors: ConnectionActors;

  /** Clock time (ms) the housekeeping sweep is due; Infinity: none scheduled. */
  private sweepAt = Number.POSITIVE_INFINITY;
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
    this.demand = new DemandReports(this);
    this.notices = new PoolNotices(key, host, this.counters);
    this.actors = new ConnectionActors(host.connectionLogic);
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
    const lent = this.checkout(signal, rejectOnTimeout);
    return lent instanceof Promise ? lent : Promise.resolve(lent.resource);
  }

  /**
   * As `acquire` (rejecting at the deadline), resolving with `wrap` of the lent connection's
   * record: a Pool handle's Lease, made without a second promise when an idle connection is
   * lent at once.
   */
  acquireAs<L>(signal: AbortSignal | undefined, wrap: (record: ConnectionRecord) => L): Promise<L> {
    const lent = this.checkout(signal, true);
    if (!(lent instanceof Promise)) return Promise.resolve(wrap(lent));
    return lent.then((resource) => wrap(this.ledger.lentRecord(resource as object) as ConnectionRecord));
  }

  /** An idle connection lent at once (its record), or the promise of one lent later. */
  private checkout(signal: AbortSignal | undefined, rejectOnTimeout: boolean): ConnectionRecord | Promise<object | null> {
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
    this.notices.lent(record, 0, true);
    return record;
  }

  // --- LedgerOwner: what the ledger tells us --------------------------------------------

  /** More callers wait: demand may need reporting. */
  waiting(): void {
    this.demand.waiting();
  }

  waitersLeft(): void {
    this.demand.waitersLeft();
  }

  lent(record: ConnectionRecord, waitedMs: number, reused: boolean): void {
    this.notices.lent(record, waitedMs, reused);
  }

  returned(record: ConnectionRecord): void {
    this.notices.returned(record);
  }

  timedOut(waiter: Waiter): void {
    const waitedMs = this.host.clock.now() - waiter.since;
    const lastError = this.effects.lastCreateError;
    this.notices.timedOut(waitedMs, lastError);
    if (waiter.rejectOnTimeout) {
      const { key: _key, ...stats } = this.stats();
      waiter.reject(new AcquireTimeoutError(this.key, waitedMs, { key: this.key, ...stats }, lastError));
    } else {
      waiter.resolve(null);
    }
  }

  rejected(error: Error): void {
    this.notices.rejected(error);
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
    return this.actor === undefined ? undefined : this.actors.create(input.id, this.actor);
  }

  /** Pool effect `reuseConnection`: the ended connection's actor, to START the next one. */
  reuse(id: string): AnyActorRef | undefined {
    this.forget(id);
    return this.actors.get(id);
  }

  /** Pool effect `stopConnection`: the connection has reported its end; its actor is to be stopped. */
  takeActor(id: string): AnyActorRef | undefined {
    const actor = this.actors.take(id);
    this.forget(id);
    return actor;
  }

  private forget(id: string): void {
    const record = this.ledger.forget(id);
    if (record !== undefined) this.host.release(record.resource);
  }

  /** Connection actors whose create has not produced a resource yet (an attempt, or a backoff). */
  private uncreated(): IterableIterator<AnyActorRef> {
    return this.actors.uncreated((id) => this.ledger.record(id) !== undefined);
  }

  /** Every live connection actor (for observers). */
  connectionActors(): IterableIterator<AnyActorRef> {
    return this.actors.values();
  }

  /** The pool actor stopped (the manager was stopped outright): stop what is left under it. */
  stopAll(): void {
    this.actors.stopAll();
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
    this.notices.evicted(record);
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
    this.notices.expired(record, reason);
    this.ledger.retire(record, reason);
  }

  leaked(record: ConnectionRecord, heldMs: number): void {
    this.notices.leaked(record, heldMs);
  }

  /** Pool effect `rejectWaiters`: who hears a failed create's error. */
  createFailed(error: unknown, permanent: boolean): void {
    if (failureReaches(permanent) === 'all') this.ledger.waiters.rejectAll(() => (error instanceof Error ? error : new Error(String(error))));
    else this.ledger.waiters.rejectOldest(error);
  }

  rejectAllWaiters(): void {
    this.ledger.waiters.rejectAll(() => new ShutdownError());
  }

  stats(): PoolStats {
    return poolStats(this.key, this.context(), this.ledger, this.counters);
  }

  private refuse(error: Error): Promise<never> {
    this.rejected(error);
    return Promise.reject(error);
  }
}

/** The caller's stack, for leak reports (captured only when leak detection is on). */
function callerStack(): string {
  const holder: { stack?: string } = {};
  Error.captureStackTrace(holder, callerStack);
  return (holder.stack ?? '').split('\n').slice(1).join('\n');
}

