/**
 * The ledger's DEMAND elision: whether the pool machine (machines/pool.machine.ts) would act
 * on a DEMAND, decided outside the machine from its snapshot, so a DEMAND that would change
 * nothing costs no transition. Built from the same pure functions as the machine's guards
 * (pool.decisions.ts); the pool's model test checks the two agree.
 */
import { connectionsWanted, returnsWillServe } from './pool.decisions.js';
import type { PoolContext } from './pool.types.js';

/** Where the pool is, as far as creating goes; read from a snapshot's value without `matches`. */
export type CreateState = 'creating' | 'awaitingReturns' | 'coolingDown' | 'probing' | 'recovering' | 'stopping';

/** The create state of a pool snapshot's `value`: the states of the machine's `running.creates` region. */
export function createStateOf(value: unknown): CreateState {
  const creates = ((value as { running?: unknown } | null)?.running as { creates?: unknown } | undefined)?.creates;
  if (creates === 'coolingDown' || creates === 'probing' || creates === 'recovering') return creates;
  const steady = (creates as { steady?: unknown } | undefined)?.steady;
  if (steady === 'creating' || steady === 'awaitingReturns') return steady;
  return 'stopping';
}

/**
 * Whether a DEMAND with these facts would make the pool in `state` act: ask for slots, or start
 * awaiting returns. The ledger skips the event otherwise (it would cost a transition for
 * nothing); the same functions are the machine's guards.
 */
export function demandMatters(state: CreateState, c: PoolContext): boolean {
  if (state === 'coolingDown' || state === 'stopping') return false;
  const phase = state === 'probing' || state === 'recovering' ? state : 'steady';
  if (connectionsWanted(c, phase) > 0) return true;
  return state === 'creating' && returnsWillServe(c);
}
