/**
 * The housekeeping sweep of one pool: when the pool machine's one housekeeping timer fires, it
 * retires the connections that are due (idle too long above minConnections, past the cache's
 * ttl or the pool's maxLifetime), reports leases held past the leak threshold, and answers the
 * next deadline. The decisions are the pure functions of machines/pool.decisions.ts; this only
 * walks the records.
 *
 * Lent connections past their age are retired too: the RETIRE puts them in `awaitingReturn`,
 * so they close when returned, never under their holder.
 */
import {
  idleDeadline,
  idleRetirements,
  sweepTolerance,
  type PoolConfig,
  type PoolCounts,
} from '../../machines/pool.decisions.js';
import type { PoolLedger } from './ledger.js';
import type { ConnectionRecord } from './records.js';

export interface SweptPool {
  readonly ledger: PoolLedger;
  machineConfig(): PoolConfig;
  expired(record: ConnectionRecord, reason: 'idle' | 'ttl' | 'lifetime'): void;
  leaked(record: ConnectionRecord, heldMs: number): void;
}

/** Sweeps `pool` at clock time `now`; returns the next deadline (clock ms), Infinity if none. */
export function sweep(pool: SweptPool, counts: PoolCounts, now: number): number {
  const config = pool.machineConfig();
  const ledger = pool.ledger;
  let next = Number.POSITIVE_INFINITY;
  const ageTolerance = sweepTolerance(Math.min(config.ttl, config.maxLifetime));
  const idleTolerance = sweepTolerance(config.maxIdleTime);

  // Ages first: a connection past its age leaves whatever the minimum (it is refilled).
  for (const record of [...ledger.records()]) {
    if (record.retired) continue;
    if (record.agedAt <= now + ageTolerance) {
      pool.expired(record, record.agedBy);
      continue;
    }
    if (record.agedAt < next) next = record.agedAt;
    if (record.state === 'lent' && record.leakAt !== Number.POSITIVE_INFINITY) {
      if (record.leakAt <= now) {
        record.leakAt = Number.POSITIVE_INFINITY;
        pool.leaked(record, now - record.lentAt);
      } else if (record.leakAt < next) next = record.leakAt;
    }
  }

  // Idle time: least recently rested first, while the pool stays at or above minConnections.
  if (config.maxIdleTime < Number.POSITIVE_INFINITY) {
    let budget = idleRetirements(counts, ledger.leaving);
    for (const record of [...ledger.idle.records()]) {
      const due = idleDeadline(record.idleSince, config);
      if (due > now + idleTolerance) {
        if (due < next) next = due;
      } else if (budget > 0) {
        budget--;
        pool.expired(record, 'idle');
      } else {
        // Kept at the minimum: it idles on, and is looked at again one maxIdleTime from now.
        record.idleSince = now;
        const again = idleDeadline(now, config);
        if (again < next) next = again;
      }
    }
  }
  return next;
}
