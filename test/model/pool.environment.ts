/**
 * What the pool model knows and the pool does not (test/model/pool.model.test.ts): each live
 * connection's phase and the breaker episode it was STARTed in.
 */
import type { AnyMachineSnapshot } from 'xstate';
import type { PoolContext, PoolEvent } from '../../machines/pool.machine.js';
import type { Environment } from './harness.js';

/** A live connection as the environment knows it: open or not, and the epoch it was STARTed in. */
export interface Connection {
  phase: 'connecting' | 'open';
  epoch: number;
}

/** The live connections (the pool only counts them), by child id. */
export type Phases = Readonly<{ [id: string]: Connection }>;

/**
 * A child that appears was spawned and STARTed in the pool's current epoch; one that reported
 * CLOSED and is still live was STARTed again (reused), in the current epoch too; READY opens one.
 */
export const connectionPhases: Environment<Phases> = {
  initial: {},
  next(env, event, after) {
    const ids = Object.keys(after.children);
    const epoch = (after.context as PoolContext).epoch;
    const reporter = event.type.startsWith('CONNECTION.') ? (event as Report).id : undefined;
    const next: { [id: string]: Connection } = {};
    let unchanged = ids.length === Object.keys(env).length;
    for (const id of ids) {
      const known = env[id];
      let connection: Connection;
      if (known === undefined || (id === reporter && event.type === 'CONNECTION.CLOSED')) connection = { phase: 'connecting', epoch };
      else if (id === reporter && event.type === 'CONNECTION.READY') connection = { phase: 'open', epoch: known.epoch };
      else connection = known;
      next[id] = connection;
      if (known?.phase !== connection.phase || known.epoch !== connection.epoch) unchanged = false;
    }
    return unchanged ? env : next;
  },
};

interface Child extends Connection {
  id: string;
}

/** The live children, oldest first. */
export function liveChildren(snapshot: AnyMachineSnapshot, env: Phases): Child[] {
  const spawned = (id: string) => Number(id.slice(id.indexOf('#') + 1));
  return Object.keys(snapshot.children)
    .map((id): Child => {
      const connection = env[id];
      if (connection === undefined) throw new Error(`the environment does not know ${id}`);
      return { id, ...connection };
    })
    .sort((a, b) => spawned(a.id) - spawned(b.id));
}

/** A connection's report to the pool. */
export type Report = Extract<PoolEvent, { type: `CONNECTION.${string}` }>;
