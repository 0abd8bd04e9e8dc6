/**
 * The pool machine's types (machines/pool.machine.ts): its input, its context, the events it
 * handles and the reports it sends the manager.
 */
import type { ConnectionReport } from './connection.types.js';
import type { DemandFacts, PoolConfig } from './pool.decisions.js';

export type { DemandFacts, PoolConfig } from './pool.decisions.js';

export interface PoolInput {
  key: string;
  config: PoolConfig;
}

export interface PoolContext extends DemandFacts {
  key: string;
  config: PoolConfig;
  /** Other keys wait for slots (the manager says so): a freed slot goes back, not to reuse. */
  contended: boolean;
  connecting: number;
  open: number;
  requested: number;
  /** Consecutive failed episodes; drives the breaker's delay. Reset once the pool is stable again. */
  failures: number;
  /** The breaker episode: +1 each time the breaker opens. Each create carries the one it started in. */
  epoch: number;
  nextId: number;
  /** ms until the housekeeping sweep; Infinity: nothing scheduled. */
  sweepDelay: number;
}

/** A connection's CLOSED report, with the demand the runtime adds (so the pool can reuse its slot). */
export type ClosedReport = Extract<ConnectionReport, { type: 'CONNECTION.CLOSED' }> & Partial<DemandFacts>;

export type PoolEvent =
  | ({ type: 'DEMAND' } & DemandFacts)
  /** From the manager: other keys wait for slots (or no longer do). */
  | { type: 'SLOTS.CONTENDED'; contended: boolean }
  | { type: 'SLOT.GRANTED' }
  | { type: 'CONFIGURE'; config: PoolConfig }
  | { type: 'EVICT' }
  /** A connection's deadline (idle, ttl, lifetime, leak) is due in `delay` ms, sooner than the sweep now scheduled. */
  | { type: 'SWEEP.SCHEDULE'; delay: number }
  | { type: 'SHUTDOWN' }
  | { type: 'FORCE' }
  | Exclude<ConnectionReport, { type: 'CONNECTION.CLOSED' }>
  | ClosedReport;

/** Reports a pool sends the manager. */
export type PoolReport =
  | { type: 'SLOT.REQUEST'; key: string }
  | { type: 'SLOT.RELEASE'; key: string }
  | { type: 'POOL.CLOSED'; key: string };
