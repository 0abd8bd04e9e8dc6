/**
 * The one interface every pool under test is driven through. Scenarios only talk to
 * `BenchPool`; each adapter maps it onto its library's API as a user of that library would.
 */

export interface PoolConfig<R extends object> {
  /** Resources the pool keeps (or pre-creates, where the library does that). */
  min: number;
  max: number;
  /** An acquire that waits longer than this rejects (every contender enforces one: same contract). */
  acquireTimeoutMs: number;
  /**
   * Idle resources older than this may be destroyed. Omitted: the scenario needs no idle
   * eviction, so adapters turn their evictor off where the library allows it.
   */
  idleTimeoutMs?: number;
  /**
   * Scenario hint: a caller would rather see a create error now than wait for the acquire
   * timeout (tarn: propagateCreateError; the others have no switch for it).
   */
  failFastOnCreateError?: boolean;
  /**
   * The scenario will call `retire()`. Adapters that need extra machinery for it (tarn: a
   * validate() hook) install it only then, so other scenarios measure the plain pool.
   */
  retirable?: boolean;
  create: () => Promise<R>;
  destroy: (resource: R) => Promise<void> | void;
}

export interface PoolStats {
  /** Resources that exist (idle + in use), not counting creates in flight. */
  total: number;
  idle: number;
  inUse: number;
  /** Acquires queued for a resource. */
  waiting: number;
  /** Creates in flight, when the library exposes it. */
  creating?: number;
}

export interface BenchPool<R extends object> {
  /** Resolves with an exclusively borrowed resource; rejects when the acquire times out or fails. */
  acquire(): Promise<R>;
  /** Gives a borrowed resource back for reuse. Callers do not await a returned promise. */
  release(resource: R): void | Promise<void>;
  /**
   * Gives a borrowed resource back to be destroyed instead of reused (a broken connection).
   * Optional: scenarios that need it report "n/a" or fall back to release() when absent.
   */
  retire?(resource: R): void | Promise<void>;
  /**
   * Like acquire(), cancelled when `signal` aborts: a waiting acquire then rejects. Optional:
   * absent where the library cannot cancel a pending acquire (the aborts scenario reads n/a).
   */
  acquireWithSignal?(signal: AbortSignal): Promise<R>;
  /**
   * Borrows through the library's lease object instead (one checkout, released through it).
   * Present only on adapters that measure that style; micro then loops lease() → release().
   */
  lease?(): Promise<BenchLease>;
  stats?(): PoolStats;
  /** Destroys idle resources and stops timers; in-use resources must have been released. */
  close(): Promise<void>;
}

/** One checkout made by BenchPool.lease(); released through itself. */
export interface BenchLease {
  release(): void;
}

/**
 * Pools under many keys, one resource each at a time at most as the scenario configures them.
 * Keys are numbered 0 … keys-1. Libraries without keys get one pool per key (keyed.ts),
 * which is what their users do.
 */
export interface KeyedBenchPool<R extends object> {
  acquire(key: number): Promise<R>;
  release(key: number, resource: R): void | Promise<void>;
  /** Closes every key's pool. */
  close(): Promise<void>;
}

export interface Contender {
  name: string;
  /** Library version (package.json) or a short tag. */
  version: string;
  /** One line: how the adapter configures the library (quoted in results.md). */
  notes: string;
  /**
   * Scenario ids this contender takes part in; omitted: all. Variants of one library's API
   * (cmk-handle, cmk-lease) only run where the difference is what is measured.
   */
  scenarios?: readonly string[];
  create<R extends object>(config: PoolConfig<R>): BenchPool<R>;
  /**
   * `keys` keyed pools sharing `config` (per key). Omitted: one `create(config)` per key.
   */
  createKeyed?<R extends object>(config: PoolConfig<R>, keys: number): KeyedBenchPool<R>;
}

/** Adapters whose library signals an acquire timeout by a value (not a rejection) throw this. */
export class AcquireTimeoutError extends Error {
  constructor(message = 'acquire timed out') {
    super(message);
    this.name = 'AcquireTimeoutError';
  }
}
