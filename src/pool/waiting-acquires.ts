/**
 * The acquires of one key that wait for a connection: queued, or served a connection that is
 * being validated for them. Here is how each wait ends other than by a connection: at its
 * deadline (one timer per pool), by its AbortSignal, or rejected with a failed create's error
 * or at shutdown. Which connection a waiter gets is the ledger's business.
 */
import { refTimeout, type Clock } from '../clock.js';
import { AbortError } from '../errors.js';
import type { ConnectionRecord } from './records.js';
import { AbortListeners, newWaiter, WaiterQueue, type Waiter } from './waiters.js';

/** What the waiting acquires tell their pool (the ledger's owner). */
export interface WaitersOwner {
  /** More acquires wait: the pool may need to create. */
  waiting(): void;
  /** Waiters left without a connection (timeout, abort). */
  waitersLeft(): void;
  timedOut(waiter: Waiter): void;
  rejected(error: Error): void;
}

export class WaitingAcquires {
  private readonly queue = new WaiterQueue();
  /** Waiters whose connection is being validated (not queued: they are being served). */
  private readonly validations = new Map<ConnectionRecord, Waiter>();
  private readonly aborts = new AbortListeners((waiter) => this.abort(waiter));
  private deadlineTimer: unknown = undefined;
  private deadlineAt = Number.POSITIVE_INFINITY;

  constructor(
    private readonly clock: Clock,
    private readonly owner: WaitersOwner,
  ) {}

  /** Acquires waiting, those whose connection is being validated included. */
  get count(): number {
    return this.queue.size + this.validations.size;
  }
  get validatingCount(): number {
    return this.validations.size;
  }

  /** How long the oldest waiting acquire has waited (ms; 0 if none waits). */
  oldestWaitMs(): number {
    const oldest = this.queue.peek();
    return oldest === undefined ? 0 : this.clock.now() - oldest.since;
  }

  /** Waits for a connection; resolves null at `timeout` ms (or as the owner's `timedOut` decides). */
  wait(timeout: number, signal: AbortSignal | undefined, stack: string | undefined, rejectOnTimeout: boolean): Promise<object | null> {
    return new Promise<object | null>((resolve, reject) => {
      const waiter = newWaiter(this.clock.now(), timeout, resolve, reject, signal, stack, rejectOnTimeout);
      this.queue.push(waiter);
      this.watch(waiter);
      this.owner.waiting();
    });
  }

  /** Queues `waiter` again (its connection failed validation): at the front if it was first. */
  enqueue(waiter: Waiter, first: boolean): void {
    if (first) this.queue.pushFront(waiter);
    else this.queue.push(waiter);
    this.watch(waiter);
    this.owner.waiting();
  }

  /** `waiter` is served `record`, once its validation passes. */
  validating(record: ConnectionRecord, waiter: Waiter): void {
    this.validations.set(record, waiter);
    this.watch(waiter);
  }

  /** `record`'s validation ended: the waiter it was validated for, if any (it may have settled since). */
  validated(record: ConnectionRecord): Waiter | undefined {
    const waiter = this.validations.get(record);
    this.validations.delete(record);
    return waiter;
  }

  /** The oldest queued waiter, taken to be served (settled); undefined if none waits. */
  next(): Waiter | undefined {
    const waiter = this.queue.shift();
    if (waiter !== undefined) this.settle(waiter);
    return waiter;
  }

  /** `waiter` (not queued) is served now. */
  claim(waiter: Waiter): void {
    waiter.settled = true;
    this.settle(waiter);
  }

  /** `waiter` stops listening to its signal for now (it is about to be served again). */
  unwatch(waiter: Waiter): void {
    this.aborts.delete(waiter);
  }

  /** The oldest waiter gets a failed create's error. */
  rejectOldest(error: unknown): void {
    const waiter = this.next();
    if (waiter === undefined) return;
    this.owner.rejected(error instanceof Error ? error : new Error(String(error)));
    waiter.reject(error);
  }

  /** Every waiter rejects; `error` is built only if someone waits. */
  rejectAll(error: () => Error): void {
    if (this.count === 0) return;
    const e = error();
    for (let waiter = this.next(); waiter !== undefined; waiter = this.next()) {
      this.owner.rejected(e);
      waiter.reject(e);
    }
    for (const [record, waiter] of [...this.validations]) {
      this.validations.delete(record);
      if (waiter.settled) continue;
      this.claim(waiter);
      this.owner.rejected(e);
      waiter.reject(e);
    }
  }

  private watch(waiter: Waiter): void {
    if (waiter.deadline < this.deadlineAt) this.armDeadline(waiter.deadline);
    this.aborts.add(waiter);
  }

  /** Cleans up after a waiter that `shift` took off the queue, or that was settled otherwise. */
  private settle(waiter: Waiter): void {
    this.aborts.delete(waiter);
    if (this.count === 0) this.disarmDeadline();
  }

  private abort(waiter: Waiter): void {
    if (waiter.settled) return;
    if (waiter.queued) this.queue.remove(waiter);
    else this.forgetValidation(waiter);
    waiter.settled = true;
    this.settle(waiter);
    const error = new AbortError('acquire was aborted', { cause: waiter.signal?.reason });
    this.owner.rejected(error);
    waiter.reject(error);
    this.owner.waitersLeft();
  }

  /**
   * A waiter served a connection under validation gave up (abort): it no longer counts as
   * waiting. The validation goes on, and its connection comes back as if returned. (A walk of
   * the validations in progress, at most the pool's size, on this rare path only.)
   */
  private forgetValidation(waiter: Waiter): void {
    for (const [record, w] of this.validations) {
      if (w === waiter) {
        this.validations.delete(record);
        return;
      }
    }
  }

  private armDeadline(at: number): void {
    this.disarmDeadline();
    if (at === Number.POSITIVE_INFINITY) return;
    this.deadlineAt = at;
    this.deadlineTimer = refTimeout(this.clock, this.onDeadline, Math.max(0, at - this.clock.now()));
  }

  private disarmDeadline(): void {
    if (this.deadlineTimer !== undefined) this.clock.clearTimeout(this.deadlineTimer);
    this.deadlineTimer = undefined;
    this.deadlineAt = Number.POSITIVE_INFINITY;
  }

  /** One timer per pool, not per waiter: it fires at the earliest deadline and re-arms. */
  private readonly onDeadline = (): void => {
    this.deadlineTimer = undefined;
    this.deadlineAt = Number.POSITIVE_INFINITY;
    const now = this.clock.now();
    const { expired, next } = this.queue.expire(now);
    let soonest = next;
    for (const [record, waiter] of this.validations) {
      if (waiter.settled) continue;
      if (waiter.deadline <= now) {
        // Its validation goes on; whatever it answers, this caller has had its answer.
        this.validations.delete(record);
        waiter.settled = true;
        expired.push(waiter);
      } else if (waiter.deadline < soonest) soonest = waiter.deadline;
    }
    if (soonest < Number.POSITIVE_INFINITY) this.armDeadline(soonest);
    for (const waiter of expired) {
      this.aborts.delete(waiter);
      this.owner.timedOut(waiter);
    }
    if (expired.length > 0) this.owner.waitersLeft();
  };
}
