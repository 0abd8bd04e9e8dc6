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
    const handle: LongTimeout = { timer: undefined, refd: false };
    armLong(handle, fn, ms);
    return handle;
  },
  clearTimeout(handle) {
    if (isLongTimeout(handle) && handle.timer !== undefined) {
      clearTimeout(handle.timer);
      handle.timer = undefined;
    }
  },
};

/** Node clamps delays above 2^31-1 ms to 1 ms; longer ones are chained, Infinity never fires. */
const MAX_TIMER_MS = 2 ** 31 - 1;

interface LongTimeout {
  timer: NodeJS.Timeout | undefined;
  /** Keeps the process alive (see refTimeout); otherwise unref'd. */
  refd: boolean;
}

function isLongTimeout(h: unknown): h is LongTimeout {
  return typeof h === 'object' && h !== null && 'timer' in h;
}

function armLong(handle: LongTimeout, fn: () => void, ms: number): void {
  if (!(ms < Number.POSITIVE_INFINITY)) return; // Infinity (or NaN): a timeout switched off
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
