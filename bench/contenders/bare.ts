/**
 * `bare`: the "no pool could be cheaper" reference. An array used as a stack of idle resources,
 * a FIFO queue of waiters, a size counter, and at most one timer for acquire timeouts
 * (every waiter has the same timeout, so deadlines are ordered like the queue and only the
 * head's deadline needs a timer). Creation is decoupled from callers, as in generic-pool and
 * tarn: an acquire that finds nothing idle queues and, while the pool is below max, starts a
 * create unless enough are in flight already; whatever comes first (a release or a new resource)
 * serves the head of the queue. Min resources are created up front and not kept up afterwards;
 * no idle eviction, no validation, no create retries: a create error rejects the head waiter.
 * A cancelled acquire (AbortSignal) is marked and left in the queue, skipped when it reaches the
 * head: O(1) whatever its place.
 */
import { abortReason, onAbort } from './signal-groups.js';
import { AcquireTimeoutError, type BenchPool, type Contender, type PoolConfig, type PoolStats } from './types.js';
import { now } from '../lib/util.js';

interface Waiter<R> {
  resolve: (resource: R) => void;
  reject: (err: unknown) => void;
  deadline: number;
  /** Aborted while queued: skipped (and dropped) when it reaches the head. */
  cancelled: boolean;
}

const closedError = (): Error => new Error('pool closed');

export class BarePool<R extends object> implements BenchPool<R> {
  private readonly idle: R[] = [];
  private waiters: Array<Waiter<R> | undefined> = [];
  private head = 0;
  /** Cancelled waiters still in the queue. */
  private cancelled = 0;
  /** Resources that exist or are being created. */
  private size = 0;
  private creating = 0;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  private readonly pendingDestroys = new Set<Promise<void>>();

  constructor(private readonly config: PoolConfig<R>) {
    for (let i = 0; i < config.min; i++) this.startCreate();
  }

  acquire(): Promise<R> {
    if (this.closed) return Promise.reject(closedError());
    const resource = this.idle.pop();
    if (resource !== undefined) return Promise.resolve(resource);
    return new Promise<R>((resolve, reject) => {
      this.waiters.push({ resolve, reject, deadline: now() + this.config.acquireTimeoutMs, cancelled: false });
      if (this.timer === null) this.armTimer();
      this.createIfShort();
    });
  }

  acquireWithSignal(signal: AbortSignal): Promise<R> {
    if (signal.aborted) return Promise.reject(abortReason(signal));
    if (this.closed) return Promise.reject(closedError());
    const resource = this.idle.pop();
    if (resource !== undefined) return Promise.resolve(resource);
    return new Promise<R>((resolve, reject) => {
      const waiter: Waiter<R> = {
        resolve: (r) => {
          off();
          resolve(r);
        },
        reject: (err) => {
          off();
          reject(err);
        },
        deadline: now() + this.config.acquireTimeoutMs,
        cancelled: false,
      };
      const off = onAbort(signal, () => {
        waiter.cancelled = true;
        this.cancelled++;
        reject(abortReason(signal));
      });
      this.waiters.push(waiter);
      if (this.timer === null) this.armTimer();
      this.createIfShort();
    });
  }

  release(resource: R): void {
    if (this.closed) {
      this.size--;
      this.destroy(resource);
      return;
    }
    const waiter = this.shiftWaiter();
    if (waiter !== undefined) waiter.resolve(resource);
    else this.idle.push(resource);
  }

  retire(resource: R): void {
    this.size--;
    this.destroy(resource);
    if (!this.closed) this.createIfShort();
  }

  stats(): PoolStats {
    const total = this.size - this.creating;
    return {
      total,
      idle: this.idle.length,
      inUse: total - this.idle.length,
      waiting: this.waiting(),
      creating: this.creating,
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    for (let waiter = this.shiftWaiter(); waiter !== undefined; waiter = this.shiftWaiter()) {
      waiter.reject(closedError());
    }
    for (let resource = this.idle.pop(); resource !== undefined; resource = this.idle.pop()) {
      this.size--;
      this.destroy(resource);
    }
    await Promise.all(this.pendingDestroys);
  }

  /** Starts a create when waiters outnumber the creates in flight and the pool is below max. */
  private createIfShort(): void {
    if (this.size < this.config.max && this.waiting() > this.creating) this.startCreate();
  }

  private waiting(): number {
    return this.waiters.length - this.head - this.cancelled;
  }

  private startCreate(): void {
    this.size++;
    this.creating++;
    this.config.create().then(
      (resource) => {
        this.creating--;
        this.release(resource);
      },
      (err: unknown) => {
        this.creating--;
        this.size--;
        if (this.closed) return;
        // The error reaches the head waiter. Each failure consumes one waiter, so a failing
        // factory cannot spin: at most one create per queued acquire.
        const waiter = this.shiftWaiter();
        if (waiter === undefined) return;
        waiter.reject(err);
        this.createIfShort();
      },
    );
  }

  private destroy(resource: R): void {
    const done = Promise.resolve()
      .then(() => this.config.destroy(resource))
      .catch(() => undefined)
      .then(() => {
        this.pendingDestroys.delete(done);
      });
    this.pendingDestroys.add(done);
  }

  /** The oldest waiter that is not cancelled, dropping cancelled ones ahead of it. */
  private peekWaiter(): Waiter<R> | undefined {
    for (let waiter = this.waiters[this.head]; waiter !== undefined; waiter = this.waiters[this.head]) {
      if (!waiter.cancelled) return waiter;
      this.cancelled--;
      this.dropHead();
    }
    return undefined;
  }

  private shiftWaiter(): Waiter<R> | undefined {
    const waiter = this.peekWaiter();
    if (waiter !== undefined) this.dropHead();
    return waiter;
  }

  private dropHead(): void {
    this.waiters[this.head++] = undefined;
    if (this.head === this.waiters.length) {
      this.waiters.length = 0;
      this.head = 0;
    } else if (this.head >= 1024 && this.head * 2 >= this.waiters.length) {
      this.waiters = this.waiters.slice(this.head);
      this.head = 0;
    }
  }

  /** One timer, for the head waiter's deadline; a served head leaves it armed, it re-arms lazily. */
  private armTimer(): void {
    const first = this.peekWaiter();
    if (first === undefined) return;
    this.timer = setTimeout(() => this.onTimer(), Math.max(0, first.deadline - now()));
  }

  private onTimer(): void {
    this.timer = null;
    const t = now();
    for (let first = this.peekWaiter(); first !== undefined && first.deadline <= t; first = this.peekWaiter()) {
      this.dropHead();
      first.reject(new AcquireTimeoutError());
    }
    this.armTimer();
  }
}

export const bare: Contender = {
  name: 'bare',
  version: 'bench',
  notes:
    'array stack of idle resources + FIFO waiter queue + one timer; no eviction, no validation, create errors reject; a cancelled acquire is marked and skipped at the head',
  create: <R extends object>(config: PoolConfig<R>): BenchPool<R> => new BarePool<R>(config),
};
