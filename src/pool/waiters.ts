/**
 * Waiting acquires: a FIFO queue, and the abort listeners of their signals.
 *
 * Removal from the middle (a timeout or an abort) only marks the waiter settled; `shift` and
 * `peek` skip settled ones and move the head past them for good, so aborting thousands of
 * waiters in any order stays linear (oldest-first aborts were quadratic when `peek` re-walked
 * the settled prefix on every abort).
 *
 * Many waiters often share one AbortSignal (a request's signal passed to several acquires).
 * One listener per signal, not per waiter: Node warns past ten listeners on one signal
 * (MaxListenersExceededWarning), and adding and removing a listener per waiter is not free.
 */
export interface Waiter {
  /** Clock time the acquire started waiting. */
  readonly since: number;
  /** Clock time it resolves `null` (or rejects, see AcquireTimeoutError); Infinity for none. */
  readonly deadline: number;
  readonly resolve: (resource: object | null) => void;
  readonly reject: (error: unknown) => void;
  readonly signal: AbortSignal | undefined;
  /** The acquire's call stack, captured only when leak detection is on. */
  readonly stack: string | undefined;
  /** At the deadline: reject with AcquireTimeoutError (else resolve null). */
  readonly rejectOnTimeout: boolean;
  settled: boolean;
  /** In a WaiterQueue now (not, while a connection is being validated for it). */
  queued: boolean;
}

/** A waiter that began waiting at `since` (clock ms) for at most `timeout` ms. */
export function newWaiter(
  since: number,
  timeout: number,
  resolve: (resource: object | null) => void,
  reject: (error: unknown) => void,
  signal: AbortSignal | undefined,
  stack: string | undefined,
  rejectOnTimeout: boolean,
): Waiter {
  return { since, deadline: since + timeout, resolve, reject, signal, stack, rejectOnTimeout, settled: false, queued: false };
}

export class WaiterQueue {
  private items: (Waiter | undefined)[] = [];
  private head = 0;
  /** Waiters not yet settled. */
  size = 0;
  /** Every waiter's deadline is >= the one queued before it (the usual case: one acquireTimeout per key). */
  private ordered = true;
  private lastDeadline = Number.NEGATIVE_INFINITY;

  push(waiter: Waiter): void {
    this.items.push(waiter);
    waiter.queued = true;
    this.size++;
    if (waiter.deadline < this.lastDeadline) this.ordered = false;
    this.lastDeadline = waiter.deadline;
  }

  /** Puts `waiter` first in line (it was served, and its connection failed validation). */
  pushFront(waiter: Waiter): void {
    if (this.head > 0) this.items[--this.head] = waiter;
    else this.items.unshift(waiter);
    waiter.queued = true;
    this.size++;
    const next = this.items[this.head + 1];
    if (next !== undefined && next.deadline < waiter.deadline) this.ordered = false;
    if (this.size === 1) this.lastDeadline = waiter.deadline;
  }

  /** The oldest unsettled waiter, marked settled and removed. */
  shift(): Waiter | undefined {
    const waiter = this.peek();
    if (waiter === undefined) return undefined;
    this.items[this.head++] = undefined;
    waiter.settled = true;
    waiter.queued = false;
    this.size--;
    this.compact();
    return waiter;
  }

  /** The oldest unsettled waiter, left in place. */
  peek(): Waiter | undefined {
    const items = this.items;
    while (this.head < items.length) {
      const waiter = items[this.head];
      if (waiter !== undefined && !waiter.settled) return waiter;
      items[this.head++] = undefined;
    }
    this.compact();
    return undefined;
  }

  /**
   * Settles a waiter that is still queued (timeout, abort); `shift` and `peek` drop it later. A
   * waiter not in the queue (being served, its connection validated) is not counted here.
   */
  remove(waiter: Waiter): void {
    if (waiter.settled || !waiter.queued) return;
    waiter.settled = true;
    waiter.queued = false;
    this.size--;
    if (this.size === 0) this.reset();
  }

  /**
   * Settles and returns the waiters whose deadline is at or before `now`, and the earliest
   * deadline left. While deadlines are in queue order only the expired prefix is visited.
   */
  expire(now: number): { expired: Waiter[]; next: number } {
    const expired: Waiter[] = [];
    let next = Number.POSITIVE_INFINITY;
    if (this.ordered) {
      for (let w = this.peek(); w !== undefined && w.deadline <= now; w = this.peek()) {
        this.remove(w);
        expired.push(w);
      }
      next = this.peek()?.deadline ?? Number.POSITIVE_INFINITY;
    } else {
      for (const w of [...this.unsettled()]) {
        if (w.deadline <= now) {
          this.remove(w);
          expired.push(w);
        } else if (w.deadline < next) {
          next = w.deadline;
        }
      }
    }
    return { expired, next };
  }

  *unsettled(): IterableIterator<Waiter> {
    for (let i = this.head; i < this.items.length; i++) {
      const waiter = this.items[i];
      if (waiter !== undefined && !waiter.settled) yield waiter;
    }
  }

  private reset(): void {
    this.items = [];
    this.head = 0;
    this.ordered = true;
    this.lastDeadline = Number.NEGATIVE_INFINITY;
  }

  private compact(): void {
    if (this.head === this.items.length) this.reset();
    else if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }
}

/** One 'abort' listener per AbortSignal, for all the waiters that wait on it. */
export class AbortListeners {
  private readonly bySignal = new Map<AbortSignal, Set<Waiter>>();

  constructor(private readonly onAbort: (waiter: Waiter) => void) {}

  add(waiter: Waiter): void {
    const signal = waiter.signal;
    if (signal === undefined) return;
    let waiters = this.bySignal.get(signal);
    if (waiters === undefined) {
      waiters = new Set();
      this.bySignal.set(signal, waiters);
      signal.addEventListener('abort', this.listener, { once: true });
    }
    waiters.add(waiter);
  }

  /** The waiter is settled: it no longer listens. */
  delete(waiter: Waiter): void {
    const signal = waiter.signal;
    if (signal === undefined) return;
    const waiters = this.bySignal.get(signal);
    if (waiters === undefined || !waiters.delete(waiter) || waiters.size > 0) return;
    this.bySignal.delete(signal);
    signal.removeEventListener('abort', this.listener);
  }

  private readonly listener = (event: Event): void => {
    const signal = event.target as AbortSignal;
    const waiters = this.bySignal.get(signal);
    this.bySignal.delete(signal);
    if (waiters === undefined) return;
    for (const waiter of waiters) this.onAbort(waiter);
  };
}
