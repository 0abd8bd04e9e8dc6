/**
 * A FIFO of waiting acquires. Removal from the middle (a timeout or an abort) only marks the
 * waiter settled; `shift` skips settled ones. That keeps both ends O(1) without a linked list.
 */
export interface Waiter {
  /** Clock time the acquire started waiting. */
  readonly since: number;
  /** Clock time it resolves `null`; Infinity for none. */
  readonly deadline: number;
  readonly resolve: (resource: object | null) => void;
  readonly reject: (error: unknown) => void;
  readonly signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
  settled: boolean;
}

export class WaiterQueue {
  private items: (Waiter | undefined)[] = [];
  private head = 0;
  /** Waiters not yet settled. */
  size = 0;

  push(waiter: Waiter): void {
    this.items.push(waiter);
    this.size++;
  }

  /** The oldest unsettled waiter, marked settled and removed. */
  shift(): Waiter | undefined {
    while (this.head < this.items.length) {
      const waiter = this.items[this.head];
      this.items[this.head++] = undefined;
      if (waiter !== undefined && !waiter.settled) {
        waiter.settled = true;
        this.size--;
        this.compact();
        return waiter;
      }
    }
    this.compact();
    return undefined;
  }

  /** The oldest unsettled waiter, left in place. */
  peek(): Waiter | undefined {
    for (let i = this.head; i < this.items.length; i++) {
      const waiter = this.items[i];
      if (waiter !== undefined && !waiter.settled) return waiter;
    }
    return undefined;
  }

  /** Settles a waiter that is still queued (timeout, abort); `shift` drops it later. */
  remove(waiter: Waiter): void {
    if (waiter.settled) return;
    waiter.settled = true;
    this.size--;
    if (this.size === 0) {
      this.items = [];
      this.head = 0;
    }
  }

  *unsettled(): IterableIterator<Waiter> {
    for (let i = this.head; i < this.items.length; i++) {
      const waiter = this.items[i];
      if (waiter !== undefined && !waiter.settled) yield waiter;
    }
  }

  private compact(): void {
    if (this.head === this.items.length) {
      this.items.length = 0;
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }
}
