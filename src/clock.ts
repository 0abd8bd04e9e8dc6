import { performance } from 'node:perf_hooks';

/**
 * The one source of time for a manager: XState's `after` timers and the pool ledger's
 * acquire deadlines both go through it, so tests can swap in XState's `SimulatedClock`
 * and drive every timeout deterministically. Time is monotonic (performance.now), never
 * wall-clock, so a system clock change cannot fire or stall a timeout.
 */
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/**
 * The default clock. Its timers are unref'd: an idle pool's expiry timers never keep the
 * process alive (tarn's reaper did). Work a caller is awaiting holds the process open
 * explicitly (`refTimeout`, `KeepAlive`).
 */
export const systemClock: Clock = {
  now: () => performance.now(),
  setTimeout(fn, ms) {
    const handle: LongTimeout = { timer: undefined, refd: false, fn, ms, pending: false };
    if (!(ms < Number.POSITIVE_INFINITY)) return handle; // Infinity (or NaN): a timeout switched off
    handle.pending = true;
    unarmed.push(handle);
    if (unarmed.length === 1) queueMicrotask(armUnarmed);
    return handle;
  },
  clearTimeout(handle) {
    if (!isLongTimeout(handle)) return;
    handle.pending = false;
    if (handle.timer !== undefined) {
      clearTimeout(handle.timer);
      handle.timer = undefined;
    }
  },
};

/**
 * Node's own timers, ref'd: for work someone awaits (a connect attempt's timeout, a close's
 * grace period), which must not be cut short by the process exiting under it.
 */
export const refTimers: Clock = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/** Node clamps delays above 2^31-1 ms to 1 ms; longer ones are chained, Infinity never fires. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

interface LongTimeout {
  timer: NodeJS.Timeout | undefined;
  /** Keeps the process alive (see refTimeout); otherwise unref'd. */
  refd: boolean;
  fn: () => void;
  ms: number;
  /** Set, not yet armed (see armUnarmed). */
  pending: boolean;
}

/**
 * Timers set since the last microtask, armed together once the current synchronous work is
 * done. Timers cleared in the same step that set them (a destroy that finished at once cancels
 * its destroy timeout at once) never reach Node's timer lists. The delay counts from the
 * arming, at most a microtask late.
 */
const unarmed: LongTimeout[] = [];

function armUnarmed(): void {
  // Timers set while arming (none today) would wait for the next microtask: take a snapshot.
  const batch = unarmed.splice(0, unarmed.length);
  for (const handle of batch) {
    if (!handle.pending) continue; // cleared before it was armed
    handle.pending = false;
    armLong(handle, handle.fn, handle.ms);
  }
}

function isLongTimeout(h: unknown): h is LongTimeout {
  return typeof h === 'object' && h !== null && 'timer' in h;
}

function armLong(handle: LongTimeout, fn: () => void, ms: number): void {
  const step = Math.min(Math.max(0, ms), MAX_TIMER_MS);
  const rest = ms - step;
  const timer = setTimeout(() => {
    if (rest > 0) armLong(handle, fn, rest);
    else fn();
  }, step);
  if (!handle.refd) timer.unref();
  handle.timer = timer;
}

/**
 * A timer that does keep the process alive, for deadlines someone is awaiting (an acquire's
 * timeout): if the process has nothing else to do, the caller still gets its answer.
 */
export function refTimeout(clock: Clock, fn: () => void, ms: number): unknown {
  const handle = clock.setTimeout(fn, ms);
  if (isLongTimeout(handle)) {
    handle.refd = true; // later links of a chained long timeout stay ref'd too
    handle.timer?.ref();
  }
  return handle;
}

/**
 * Holds the event loop open while `count > 0`. Used around promises callers await whose
 * progress depends only on the library's own (unref'd) timers, such as a graceful shutdown
 * waiting for its timeout or a connect() sleeping between retries.
 */
export class KeepAlive {
  private count = 0;
  private handle: NodeJS.Timeout | undefined;

  hold(): () => void {
    if (this.count++ === 0) this.handle = setInterval(() => {}, 1 << 30);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      if (--this.count === 0 && this.handle) {
        clearInterval(this.handle);
        this.handle = undefined;
      }
    };
  }
}
