/**
 * The pool machine's context as its events change it, in pure functions its guards and actions
 * call (machines/pool.machine.ts): the demand facts an event brings, the counts once a
 * connection has closed, whether a closed connection's slot is reused, and the input of the
 * next connection. The decisions on the counts themselves are in pool.decisions.ts.
 */
import type { ConnectionInput } from './connection.types.js';
import { connectionId } from './ids.js';
import { connectionsWanted, newFailureEpisode } from './pool.decisions.js';
import type { PoolContext, PoolEvent } from './pool.types.js';

/**
 * The input of the connection a pool starts next: in a new actor (`id` omitted: the next id),
 * or in the actor `id` whose connection closed (its slot reused; no new id is built).
 */
export function nextConnectionInput(c: PoolContext, id: string = connectionId(c.key, c.nextId)): ConnectionInput {
  return {
    id,
    key: c.key,
    maxAttempts: c.config.maxAttempts,
    attemptTimeout: c.config.attemptTimeout,
    supervised: false,
    epoch: c.epoch,
    stabilityWindow: c.config.stabilityWindow,
    validationTimeout: c.config.validationTimeout,
    destroyTimeout: c.config.destroyTimeout,
  };
}

/** The context with the demand facts `event` carries (a DEMAND's, or those the runtime adds to a CLOSED report). */
export function withFacts(context: PoolContext, event: PoolEvent): PoolContext {
  if (event.type === 'DEMAND') {
    const { waiting, holdMs, createMs, oldestWaitMs } = event;
    return { ...context, waiting, holdMs, createMs, oldestWaitMs };
  }
  if (event.type === 'CONNECTION.CLOSED' && event.waiting !== undefined) {
    return {
      ...context,
      waiting: event.waiting,
      holdMs: event.holdMs ?? context.holdMs,
      createMs: event.createMs ?? context.createMs,
      oldestWaitMs: event.oldestWaitMs ?? context.oldestWaitMs,
    };
  }
  return context;
}

/** The counts once the CLOSED connection is gone (it was open, or still connecting). */
export function withoutClosed(context: PoolContext, event: PoolEvent): PoolContext {
  if (event.type !== 'CONNECTION.CLOSED') return context;
  return event.opened ? { ...context, open: context.open - 1 } : { ...context, connecting: context.connecting - 1 };
}

/**
 * Whether a closed connection's slot is reused at once for the key's waiting callers: they
 * still want a connection once this one is gone, no other key waits for a slot, and its close
 * did not open the breaker.
 */
export function reuseWanted(context: PoolContext, event: PoolEvent, phase: 'steady' | 'recovering'): boolean {
  if (event.type !== 'CONNECTION.CLOSED' || context.contended) return false;
  if (event.failedAttempt && newFailureEpisode(context.epoch, event.epoch)) return false;
  return connectionsWanted(withoutClosed(withFacts(context, event), event), phase) > 0;
}

/** The breaker episode a connection's report carries (-1: the event is no report). */
export const epochOf = (event: PoolEvent): number => ('epoch' in event ? event.epoch : -1);
