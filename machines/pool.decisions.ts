/**
 * The pool's decisions as pure functions: each says its reason, and the pool machine's guards
 * and delays call them (so does the runtime, unchanged, where it must decide on the hot path
 * without a transition: the ledger's demand elision, the housekeeping sweep). No I/O, no clock:
 * times are arguments.
 */

/** The breaker's delays (ms): after `failures` failed episodes, wait initial * 2^(failures-1), at most max. */
export interface BreakerConfig {
  initialDelay: number;
  maxDelay: number;
}

export interface PoolConfig {
  minConnections: number;
  maxConnections: number;
  /** How long callers wait (the ledger keeps their deadlines); bounds the wait for returns. */
  acquireTimeout: number;
  /** Idle time (ms) after which a connection above minConnections is retired. Infinity: never. */
  maxIdleTime: number;
  /** From the cache configuration: age limit (ms). Infinity: none. */
  ttl: number;
  /** Age limit (ms) of a connection, spread a little per connection. Infinity: none. */
  maxLifetime: number;
  /** Attempts per create, the first included (1 without a retry strategy). */
  maxAttempts: number;
  /** Bound on one create attempt (ms). Infinity: none. */
  attemptTimeout: number;
  breaker: BreakerConfig;
  /** A connection that closes sooner than this after opening (ms) counts as a failed create. */
  stabilityWindow: number;
  /** Bound on one validation on borrow (ms). */
  validationTimeout: number;
  /** Bound on one destroy (ms). */
  destroyTimeout: number;
}

/** What the ledger knows about demand, sent with every DEMAND. Times in ms; 0: not known yet. */
export interface DemandFacts {
  /** Acquires waiting for a connection. */
  waiting: number;
  /** How long a connection is held, on average. */
  holdMs: number;
  /** How long a create takes, on average. */
  createMs: number;
  /** How long the oldest waiting acquire has waited. */
  oldestWaitMs: number;
}

/** The counts the decisions read (the pool machine's context has them all). */
export interface PoolCounts extends DemandFacts {
  config: PoolConfig;
  /** Creates in flight (their attempts and retries included). */
  connecting: number;
  /** Created and not yet closed: idle, lent, validating, or retired and being destroyed. */
  open: number;
  /** Slots asked of the manager (the cache-wide cap) and not yet granted. */
  requested: number;
}

/**
 * The pool's create phases: `steady`; `recovering` (the breaker let a probe through: creates
 * for waiting callers only, the minimum is refilled once the pool is stable again, so a server
 * that accepts and closes at once is not reconnected in a loop); `probing` (one at a time).
 */
export type CreatePhase = 'steady' | 'recovering' | 'probing';

/** Connections that exist (or are about to): the quantity bounded by maxConnections. */
export function liveConnections(c: PoolCounts): number {
  return c.connecting + c.open;
}

/**
 * How long returns may be waited for instead of a create (ms): a create's time, but never
 * longer than callers wait (acquireTimeout). A create estimate inflated by a stalled event
 * loop must not leave callers timing out while the pool had room to create.
 */
export function returnsHorizon(c: PoolCounts): number {
  return Math.min(c.createMs, c.config.acquireTimeout);
}

/**
 * Little's law: how many waiters the connections now lent will serve before a connection
 * created now could be ready. Each of the `open` connections comes back every `holdMs` on
 * average and a create takes `createMs`, so they serve `open * createMs / holdMs` waiters in
 * that time (bounded by how long callers wait); those need no create. Unknown rates, or a
 * waiter already kept longer than that (the estimate was wrong): none.
 */
export function servedByReturns(c: PoolCounts): number {
  const horizon = returnsHorizon(c);
  if (c.holdMs <= 0 || horizon <= 0 || c.oldestWaitMs >= horizon) return 0;
  return Math.floor((c.open * horizon) / c.holdMs);
}

/**
 * How many connections the pool should ask for now: the waiting callers not covered by a create
 * in flight, a slot requested or a return in time, or the shortfall below minConnections,
 * whichever is larger; never beyond maxConnections. While probing, one at a time.
 */
export function connectionsWanted(c: PoolCounts, phase: CreatePhase): number {
  const pending = c.connecting + c.requested;
  const forWaiters = c.waiting - pending - servedByReturns(c);
  const forMin = phase === 'recovering' ? 0 : c.config.minConnections - (c.open + pending);
  const room = c.config.maxConnections - (liveConnections(c) + c.requested);
  const want = Math.max(0, Math.min(room, Math.max(forWaiters, forMin)));
  return phase === 'probing' ? Math.min(want, pending === 0 ? 1 : 0) : want;
}

/** Waiters are uncovered and there is room, yet no create is wanted: returns will serve them. */
export function returnsWillServe(c: PoolCounts): boolean {
  const uncovered = c.waiting - c.connecting - c.requested;
  const room = c.config.maxConnections - (liveConnections(c) + c.requested);
  return uncovered > 0 && room > 0 && connectionsWanted(c, 'steady') === 0;
}

/** While awaiting returns: look again once the oldest waiter has waited a create time (or half its acquireTimeout). */
export function recheckDelay(c: PoolCounts): number {
  return Math.max(0, Math.min(c.createMs, c.config.acquireTimeout / 2) - c.oldestWaitMs);
}

/** A granted slot is still wanted (it is counted in `requested`; leave it out). */
export function grantNeeded(c: PoolCounts, phase: CreatePhase): boolean {
  return connectionsWanted({ ...c, requested: c.requested - 1 }, phase) > 0;
}

/** No create is possible: the pool is at maxConnections (counting slots asked for). */
export function atCapacity(c: PoolCounts): boolean {
  return liveConnections(c) + c.requested >= c.config.maxConnections;
}

/**
 * The breaker's wait before its next probe, after `failures` failed episodes: initialDelay,
 * doubling, at most maxDelay. The defaults (100 ms to 500 ms) keep callers who wait for a
 * restarting server within half a second of its return, while a dead server costs two connect
 * attempts a second instead of one per caller.
 */
export function breakerDelay(failures: number, breaker: BreakerConfig): number {
  return Math.min(breaker.initialDelay * 2 ** Math.max(0, failures - 1), breaker.maxDelay);
}

/**
 * Whether a failure opens a new breaker episode. Creates in flight together fail together (a
 * server restart, a network blip): only a create started in the current episode (its `epoch`
 * is the pool's) adds a step; one started before the breaker opened is part of the episode
 * already counted. Without this, 8 creates failing in one 50 ms blip held the pool shut 12.8 s.
 */
export function newFailureEpisode(poolEpoch: number, createEpoch: number): boolean {
  return createEpoch === poolEpoch;
}

/** Who hears a failed create's error: a permanent one (retrying cannot heal it) reaches every waiter. */
export function failureReaches(permanent: boolean): 'oldest' | 'all' {
  return permanent ? 'all' : 'oldest';
}

/** Connections above maxConnections after a resize, not counting those already leaving. */
export function surplusConnections(c: PoolCounts, leaving = 0): number {
  return Math.max(0, liveConnections(c) - leaving - c.config.maxConnections);
}

// --- Housekeeping: one timer per pool, at the earliest deadline (as tarn's reaper and
// HikariCP's housekeeper do), instead of a timer per connection.

/**
 * How early a deadline may be honoured (ms): deadlines within this of now are swept together.
 * Lifetimes are spread on purpose, so without it a pool of thousands would sweep (and walk its
 * connections) once per connection; a sixty-fourth of the period, at most one second, batches
 * them without making any limit noticeably late or early.
 */
export function sweepTolerance(periodMs: number): number {
  return Math.min(1000, periodMs / 64);
}

/** When an idle connection has idled too long (ms clock time). */
export function idleDeadline(idleSince: number, config: PoolConfig): number {
  return idleSince + config.maxIdleTime;
}

/**
 * When a connection is too old (ms clock time) and by which limit: the cache's ttl, or the pool's maxLifetime
 * shortened by `spread` (a fraction in [0, 0.025), drawn per connection, so connections made
 * together do not all retire together).
 */
export function ageDeadline(openedAt: number, spread: number, config: PoolConfig): { at: number; by: 'ttl' | 'lifetime' } {
  const ttlAt = openedAt + config.ttl;
  const lifetimeAt = openedAt + config.maxLifetime * (1 - spread);
  return lifetimeAt < ttlAt ? { at: lifetimeAt, by: 'lifetime' } : { at: ttlAt, by: 'ttl' };
}

/** The spread of maxLifetime: at most 2.5 % shorter (HikariCP's variance), never longer. */
export const LIFETIME_SPREAD = 0.025;

/**
 * How many idle-expired connections a sweep may retire: those above minConnections, counting
 * only connections that are not already leaving. A connection kept at the minimum idles on
 * and is looked at again one maxIdleTime later.
 */
export function idleRetirements(c: PoolCounts, leaving: number): number {
  return Math.max(0, c.connecting + c.open - leaving - c.config.minConnections);
}

/** A connection lent `uses` times is worn out (maxUses); it retires when returned. */
export function wornOut(uses: number, maxUses: number): boolean {
  return uses >= maxUses;
}
