/**
 * What one key's pool machine hears about demand: the DEMAND event and the facts it carries
 * (waiting acquires, hold and create times: Little's law in machines/pool.decisions.ts), sent
 * when callers start waiting or leave, but only when the machine would act on it.
 */
import type { AnyActorRef } from 'xstate';
import { atCapacity, type DemandFacts } from '../../machines/pool.decisions.js';
import { createStateOf, demandMatters, type PoolContext, type PoolEvent } from '../../machines/pool.machine.js';
import type { PoolLedger } from './ledger.js';

/** The pool whose demand is reported. */
export interface DemandSource {
  /** The pool actor, once the manager machine opens it. */
  readonly actor: AnyActorRef | undefined;
  readonly ledger: PoolLedger;
  readonly effects: { readonly createMs: number };
}

export class DemandReports {
  private scheduled = false;
  /** Waiters left since the last demand report: the machine's count may be stale. */
  private waitersLeftSince = false;

  constructor(private readonly pool: DemandSource) {}

  /** What the pool machine is told with each DEMAND (and each CONNECTION.CLOSED). */
  facts(): DemandFacts {
    const ledger = this.pool.ledger;
    return {
      waiting: ledger.waiters.count,
      holdMs: ledger.averageHoldMs,
      createMs: this.pool.effects.createMs,
      oldestWaitMs: ledger.waiters.oldestWaitMs(),
    };
  }

  /**
   * More callers wait. A burst of misses makes one report, at the end of the current job
   * (a microtask), not one each; and none at all if the machine would not act on it (event
   * elision: `demandMatters` is built from the machine's own guards).
   */
  waiting(): void {
    const c = this.pool.actor?.getSnapshot().context as PoolContext | undefined;
    // Under load the pool is usually full: then no report could change anything.
    if (c === undefined || atCapacity(c)) return;
    this.schedule();
  }

  waitersLeft(): void {
    this.waitersLeftSince = true;
    this.schedule();
  }

  /** Capacity or demand changed: re-report demand if (and only if) it now matters. */
  schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    queueMicrotask(this.reportIfItMatters);
  }

  private readonly reportIfItMatters = (): void => {
    this.scheduled = false;
    const actor = this.pool.actor;
    if (actor === undefined) return;
    const snapshot = actor.getSnapshot() as { context: PoolContext; value: unknown; status: string };
    if (snapshot.status !== 'active') return;
    const facts = this.facts();
    const c = snapshot.context;
    // Waiters left (timeouts, aborts) while slots are still asked for: refresh the machine's
    // count, or a late grant would create a connection nobody waits for. Once per burst.
    const stale = this.waitersLeftSince && facts.waiting < c.waiting && c.requested > 0;
    this.waitersLeftSince = false;
    if (stale || demandMatters(createStateOf(snapshot.value), { ...c, ...facts })) {
      actor.send({ type: 'DEMAND', ...facts } satisfies PoolEvent);
    }
  };
}
