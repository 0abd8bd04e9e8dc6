/**
 * The Pool handle (`manager.pool(key, config, factory)`) and its leases: the recommended way to
 * use a pool. The handle owns the key's settings (acquire never changes them; `reconfigure` and
 * `resize` do), is typed by what the pool holds, and lends through leases, each bound to one
 * checkout, so a stale second release can never return a connection on its next holder's behalf.
 *
 * Unlike the seed's `acquireConnection`, which resolves `null` at its timeout, everything here
 * resolves with a connection or rejects (AcquireTimeoutError says why it timed out).
 */
import type { Connection } from './transport/connection.js';
import { readPoolOptions, type BrokenPredicate, type PoolOptions } from './config.js';
import { readSignal, reconfigure } from './connection-cache.js';
import { ConfigurationError, InvalidReturnError, ShutdownError } from './errors.js';
import type { ConnectionRecord } from './pool/records.js';
import type { KeyedPool } from './pool/keyed-pool.js';
import type { PoolStats } from './pool/pool-stats.js';
import type { ManagerRuntime } from './runtime.js';
import { categorizeNetworkError, errorCodeOf, isWriteCutOffCode } from './transport/errors.js';
import { describe } from './time.js';

export interface LeaseOptions {
  /** Cancels a waiting acquire: it rejects with an AbortError whose `cause` is the signal's reason. */
  signal?: AbortSignal;
}

/**
 * One checkout of a pooled connection. Release it (or destroy it, if it broke) exactly once;
 * `await using lease = await pool.lease()` releases it when the block ends.
 */
export class Lease<T extends object> implements AsyncDisposable {
  private done = false;

  /** @internal */
  constructor(
    private readonly pool: KeyedPool,
    private readonly record: ConnectionRecord,
    private readonly number: number,
  ) {}

  /** The connection, yours alone until this lease ends. */
  get connection(): T {
    return this.record.resource as T;
  }

  /** The lease has ended (released, destroyed or disposed). */
  get released(): boolean {
    return this.done;
  }

  /**
   * Gives the connection back to the pool. Throws InvalidReturnError if this lease already
   * ended; a connection that closed while lent is simply let go.
   */
  release(): void {
    if (this.end('release')) this.pool.ledger.giveBack(this.record);
  }

  /** Gives the connection back as broken: it is destroyed, and a waiter gets a new one. */
  destroy(): void {
    if (this.end('destroy')) this.pool.ledger.discard(this.record.resource);
  }

  /** Releases the connection if the lease has not ended yet (never throws for an ended lease). */
  async [Symbol.asyncDispose](): Promise<void> {
    if (!this.done) this.release();
  }

  /** Ends the lease; true if the connection is still this lease's to give back. */
  private end(call: 'release' | 'destroy'): boolean {
    if (this.done) throw new InvalidReturnError(`lease.${call}`, this.pool.key, `the lease of ${this.record.id} has already ended`);
    this.done = true;
    // Still lent under this lease, unless it closed while lent (then there is nothing to give back).
    return this.pool.ledger.current(this.record, this.number);
  }
}

/**
 * The default `isBroken` of withConnection: errors that say the connection itself failed (a
 * network error code, a closed connection, PostgreSQL's connection-exception and
 * operator-intervention classes), not errors of the work done over it.
 */
export function connectionBroke(error: unknown): boolean {
  const code = errorCodeOf(error);
  if (code === undefined) return false;
  if (categorizeNetworkError(code) !== 'other') return true;
  return /^(08|57P0)/.test(code) || isWriteCutOffCode(code);
}

/** `options.signal`, or the ConfigurationError that says why it is not one (a promise-returning method rejects with it). */
function signalOf(options: LeaseOptions | undefined): AbortSignal | undefined | ConfigurationError {
  try {
    return readSignal(options, 'options');
  } catch (error) {
    return error as ConfigurationError;
  }
}

/** A key's pool, typed by what it holds. Get one with `manager.pool(key, config, factory)`. */
export class Pool<T extends object> {
  /** @internal */
  constructor(
    private readonly runtime: ManagerRuntime,
    private readonly pool: KeyedPool,
  ) {}

  get key(): string {
    return this.pool.key;
  }

  /** Borrows a connection; give it back with `release` (or `destroy`). Prefer `lease()` or `withConnection()`. */
  acquire(options?: LeaseOptions): Promise<T> {
    const signal = signalOf(options);
    if (signal instanceof ConfigurationError) return Promise.reject(signal);
    return this.pool.acquire(signal, true) as Promise<T>;
  }

  /** Gives back a connection borrowed with `acquire`. Same checks as returnConnection. */
  release(connection: T): void {
    this.check(connection, 'release');
    this.pool.ledger.release(connection, 'pool.release');
  }

  /** Gives back a connection borrowed with `acquire` as broken: it is destroyed. */
  destroy(connection: T): void {
    this.check(connection, 'destroy');
    this.pool.ledger.discard(connection, 'pool.destroy');
  }

  /** Borrows a connection as a Lease, bound to this one checkout. */
  lease(options?: LeaseOptions): Promise<Lease<T>> {
    const signal = signalOf(options);
    if (signal instanceof ConfigurationError) return Promise.reject(signal);
    return this.pool.acquireAs(signal, this.leaseOf);
  }

  /** The Lease of the checkout that just lent `record`. */
  private readonly leaseOf = (record: ConnectionRecord): Lease<T> => new Lease<T>(this.pool, record, record.lease);

  /**
   * Runs `fn` with a connection and gives it back: released when `fn` settles, destroyed when
   * it throws an error for which the pool's `isBroken` (default {@link connectionBroke}) is
   * true. Resolves with what `fn` returns; rejects with what it throws.
   */
  async withConnection<R>(fn: (connection: T) => R | Promise<R>, options?: LeaseOptions): Promise<R> {
    if (typeof fn !== 'function') throw new ConfigurationError('fn', `must be a function, got ${describe(fn)}`);
    const lease = await this.lease(options);
    let result: R;
    try {
      result = await fn(lease.connection);
    } catch (error) {
      const isBroken: BrokenPredicate = this.pool.spec.isBroken ?? connectionBroke;
      let broke = false;
      try {
        broke = isBroken(error) === true;
      } catch {
        broke = true; // a predicate that throws cannot vouch for the connection
      }
      if (broke) lease.destroy();
      else lease.release();
      throw error;
    }
    lease.release();
    return result;
  }

  /**
   * Resolves once `minConnections` connections are open (at once for a minimum of 0); rejects
   * with the create error if warming up fails, or with a ShutdownError.
   */
  ready(options?: LeaseOptions): Promise<void> {
    const signal = signalOf(options);
    if (signal instanceof ConfigurationError) return Promise.reject(signal);
    const pool = this.pool;
    const warm = () => (pool.context()?.open ?? 0) - pool.ledger.leaving >= pool.settings.minConnections;
    if (warm()) return Promise.resolve();
    if (!this.runtime.accepting()) return Promise.reject(new ShutdownError());
    const events = this.runtime.events.emitter;
    return new Promise<void>((resolve, reject) => {
      const done = (error?: unknown) => {
        events.off('connection:connected', onConnected);
        events.off('connection:failed', onFailed);
        events.off('pool:draining', onDraining);
        signal?.removeEventListener('abort', onAbort);
        if (error === undefined) resolve();
        else reject(error);
      };
      // The pool counts the connection open when its report arrives, just after this event.
      const onConnected = (e: { key: string }) => {
        if (e.key === pool.key) queueMicrotask(() => warm() && done());
      };
      const onFailed = (e: { key: string; error: unknown }) => {
        if (e.key === pool.key) done(e.error ?? new Error(`warming up '${pool.key}' failed`));
      };
      const onDraining = (e: { key: string }) => {
        if (e.key === pool.key) done(new ShutdownError());
      };
      const onAbort = () => done(signal?.reason ?? new Error('aborted'));
      events.on('connection:connected', onConnected);
      events.on('connection:failed', onFailed);
      events.on('pool:draining', onDraining);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Statistics of this key. */
  stats(): PoolStats {
    return this.pool.stats();
  }

  /** Replaces the key's options (fields left out take their defaults; functions left out are kept). */
  reconfigure(config: PoolOptions<T>): void {
    reconfigure(this.runtime, this.pool, readPoolOptions(config, 'config'));
    this.pool.optionsRef = config;
  }

  /** Changes the key's size only. */
  resize(size: { minConnections?: number; maxConnections?: number }): void {
    const current = this.pool.settings;
    const next = readPoolOptions({ ...current, ...readSize(size) }, 'size');
    reconfigure(this.runtime, this.pool, { ...next, destroy: undefined, validate: undefined, isBroken: undefined });
  }

  private check(connection: unknown, call: string): void {
    if (connection === null || (typeof connection !== 'object' && typeof connection !== 'function')) {
      throw new InvalidReturnError(`pool.${call}`, this.pool.key, `expected a connection object, got ${describe(connection)}`);
    }
  }
}

function readSize(size: unknown): { minConnections?: number; maxConnections?: number } {
  if (size === null || typeof size !== 'object' || Array.isArray(size)) {
    throw new ConfigurationError('size', `must be { minConnections?, maxConnections? }, got ${describe(size)}`);
  }
  const { minConnections, maxConnections, ...rest } = size as Record<string, unknown>;
  const extra = Object.keys(rest)[0];
  if (extra !== undefined) throw new ConfigurationError(`size.${extra}`, 'is not a size field (use reconfigure)');
  return {
    ...(minConnections === undefined ? {} : { minConnections: minConnections as number }),
    ...(maxConnections === undefined ? {} : { maxConnections: maxConnections as number }),
  };
}

/** A registered server's pool holds Connections. */
export type ServerPool = Pool<Connection>;
