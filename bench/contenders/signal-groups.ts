/**
 * Cancelling pending acquires on an AbortSignal for pools whose own cancellation is a call
 * (tarn's `pending.abort()`) or that have none built in (bare): what a careful user of such a
 * pool writes. The subtlety: one 'abort' listener per *signal*, not per acquire, which runs the
 * cancel of every acquire pending on it. A listener per acquire would put a thousand listeners
 * on a signal shared by a thousand acquires (Node warns past 10: MaxListenersExceededWarning),
 * and taking each one off when its acquire settles scans the signal's listener list.
 */

type Cancel = () => void;

class Group {
  readonly pending = new Set<Cancel>();

  constructor(private readonly signal: AbortSignal) {
    signal.addEventListener('abort', this.onAbort, { once: true });
  }

  /** Forgets a settled acquire; the last one takes the listener off the signal. */
  remove(cancel: Cancel): void {
    if (this.pending.delete(cancel) && this.pending.size === 0) {
      this.signal.removeEventListener('abort', this.onAbort);
      groups.delete(this.signal);
    }
  }

  private readonly onAbort = (): void => {
    groups.delete(this.signal);
    const cancels = [...this.pending];
    this.pending.clear();
    for (const cancel of cancels) cancel();
  };
}

const groups = new WeakMap<AbortSignal, Group>();

/**
 * Runs `cancel` when `signal` aborts, unless the returned function was called first (call it
 * when the acquire settles). Nothing runs for a signal that has already aborted: check
 * `signal.aborted` before starting the acquire.
 */
export function onAbort(signal: AbortSignal, cancel: Cancel): () => void {
  let group = groups.get(signal);
  if (group === undefined) {
    group = new Group(signal);
    groups.set(signal, group);
  }
  group.pending.add(cancel);
  const g = group;
  return () => g.remove(cancel);
}

/** The rejection reason of an acquire cancelled by `signal`. */
export function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new Error('aborted');
}
