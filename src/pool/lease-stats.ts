/**
 * The clock side of each lease: how long connections are held and how many come back, the
 * facts behind the pool's create decisions (Little's law: see servedByReturns in
 * machines/pool.decisions.ts), and the leak deadline stamped on a lease when leak detection
 * is on.
 */
import type { Clock } from '../clock.js';
import type { ConnectionRecord } from './records.js';

export class LeaseStats {
  /** Average hold time (ms) over sampled leases; 0 until the first sample. */
  private holdMs = 0;
  private leases = 0;
  /** Share of leases that end with the connection back in the pool (not discarded or dead). */
  private returnRate = 1;

  constructor(private readonly clock: Clock) {}

  /**
   * How long until a lent connection comes back to serve someone, on average (ms; 0: not known,
   * or they mostly do not come back). Holds are stretched by the share of leases that end in a
   * return: a connection that is discarded or dies serves no waiter.
   */
  get averageHoldMs(): number {
    if (this.returnRate < 0.05) return 0;
    return this.holdMs / this.returnRate;
  }

  /**
   * A lease of `record` starts. Every lease is timed at first, then one in eight: the clock
   * costs more than the rest of a checkout, and an average needs no more. With leak detection
   * on (`leakThreshold` finite), every lease is timed and gets its leak deadline
   * (`record.leakAt`); then it returns true, for the caller to schedule the sweep.
   */
  start(record: ConnectionRecord, leakThreshold: number): boolean {
    if (leakThreshold < Number.POSITIVE_INFINITY) {
      const now = this.clock.now();
      record.lentAt = now;
      record.leakAt = now + leakThreshold;
      this.leases++;
      return true;
    }
    record.lentAt = this.leases++ < 32 || (this.leases & 7) === 0 ? this.clock.now() : -1;
    return false;
  }

  /** The lease of `record` ends: `returned` if its connection is back in the pool (not discarded or dead). */
  end(record: ConnectionRecord, returned: boolean): void {
    this.returnRate += 0.1 * ((returned ? 1 : 0) - this.returnRate);
    record.leakAt = Number.POSITIVE_INFINITY;
    record.leakStack = undefined;
    if (record.lentAt < 0) return;
    const held = this.clock.now() - record.lentAt;
    record.lentAt = -1;
    // A hold shorter than the clock can tell still counts as known (1 µs), not as "no data".
    const sample = Math.max(held, 0.001);
    this.holdMs = this.holdMs === 0 ? sample : 0.8 * this.holdMs + 0.2 * sample;
  }
}
