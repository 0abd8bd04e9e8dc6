/**
 * Binds the pure machines to one manager's runtime: the real create/destroy/watch actors and
 * the ledger effects, looked up by key. Everything here is a thin adapter; the decisions stay
 * in the machines, the work in KeyedPool and the ledger.
 */
import { assign, fromCallback, fromPromise, raise } from 'xstate';
import { connectionMachine, type ConnectionRef, type ConnectionReport } from '../../machines/connection.machine.js';
import { managerMachine } from '../../machines/manager.machine.js';
import {
  poolMachine,
  retireReason,
  surplusConnections,
  type PoolContext,
  type PoolEvent,
} from '../../machines/pool.machine.js';
import { ShutdownError } from '../errors.js';
import type { LinkRegistry } from '../links.js';
import type { KeyedPool } from './keyed-pool.js';

export interface EffectsHost {
  pool(key: string): KeyedPool | undefined;
  readonly links: LinkRegistry;
  /** LRU: ask the least recently used key other than `key` with an idle connection to close one. */
  evictLeastRecentlyUsed(key: string): void;
  shutdownPhase(phase: 'started' | 'forced' | 'completed'): void;
}

export function provideMachines(host: EffectsHost) {
  const poolOf = (context: PoolContext): KeyedPool => {
    const pool = host.pool(context.key);
    // Pools are registered before their actor is spawned and never removed while it runs.
    if (pool === undefined) throw new Error(`connection-manager-kit: no runtime for key '${context.key}'`);
    return pool;
  };
  const idOf = (event: PoolEvent): string => ('id' in event ? event.id : '');

  const connection = connectionMachine.provide({
    actors: {
      create: fromPromise<void, ConnectionRef>(async ({ input, signal }) => {
        const pool = host.pool(input.key);
        if (pool === undefined) throw new Error(`no pool for key '${input.key}'`);
        await pool.create(input.id, signal);
      }),
      destroy: fromPromise<void, ConnectionRef>(async ({ input }) => {
        await host.pool(input.key)?.destroy(input.id);
      }),
      watch: fromCallback<{ type: 'DROPPED'; error?: unknown }, ConnectionRef>(({ input, sendBack }) => {
        const pool = host.pool(input.key);
        if (pool === undefined) return undefined;
        return pool.watch(input.id, (error) => sendBack({ type: 'DROPPED', error }));
      }),
    },
    actions: {
      computeRetry: assign({
        retryDelay: ({ context }) =>
          host.pool(context.key)?.retryDelay(context.attempt, context.maxAttempts, context.error) ?? null,
      }),
    },
  });

  const links = host.links;
  const link = connectionMachine.provide({
    actors: {
      create: fromPromise<void, ConnectionRef>(({ input, signal }) => links.create(input.id, signal)),
      destroy: fromPromise<void, ConnectionRef>(({ input }) => links.destroy(input.id)),
      watch: fromCallback<{ type: 'DROPPED'; error?: unknown }, ConnectionRef>(({ input, sendBack }) =>
        links.watch(input.id, (error) => sendBack({ type: 'DROPPED', error })),
      ),
    },
    actions: {
      computeRetry: assign({
        retryDelay: ({ context }) => links.retryDelay(context.id, context.attempt, context.maxAttempts, context.error),
      }),
    },
  });

  const pool = poolMachine.provide({
    actors: { connection },
    actions: {
      // Raised, so the machine decides on fresh numbers within the same macrostep.
      reportDemand: raise(({ context }) => ({ type: 'DEMAND' as const, ...poolOf(context).demandFacts() })),
      offerConnection: ({ context, event }) => poolOf(context).ledger.offer(idOf(event)),
      unlist: ({ context, event }) => poolOf(context).ledger.unlist(idOf(event)),
      forget: ({ context, event }) => poolOf(context).ledger.forget(idOf(event)),
      rejectOldestWaiter: ({ context, event }) =>
        poolOf(context).ledger.rejectOldest(event.type === 'CONNECTION.FAILED' ? event.error : undefined),
      rejectAllWaiters: ({ context }) => poolOf(context).ledger.rejectAll(new ShutdownError()),
      retire: ({ context, event }) => poolOf(context).ledger.retire(idOf(event), retireReason(event)),
      retireSurplus: ({ context }) => poolOf(context).ledger.retireSurplus(surplusConnections(context), 'resized'),
      retireAll: ({ context }) => poolOf(context).ledger.retireAll('shutdown'),
      evictIdle: ({ context }) => {
        poolOf(context).ledger.evictIdle();
      },
      notify: ({ context, event }) => poolOf(context).notify(event),
      notifyDraining: ({ context }) => poolOf(context).notifyPool('pool:draining'),
      notifyClosed: ({ context }) => poolOf(context).notifyPool('pool:closed'),
    },
  });

  return managerMachine.provide({
    actors: { pool, link },
    actions: {
      evictLeastRecentlyUsed: ({ event }) => {
        if (event.type === 'SLOT.REQUEST') host.evictLeastRecentlyUsed(event.key);
      },
      notifyShutdownStarted: () => host.shutdownPhase('started'),
      notifyShutdownForced: () => host.shutdownPhase('forced'),
      notifyShutdownCompleted: () => host.shutdownPhase('completed'),
      linkReport: ({ event }) => {
        if (event.type.startsWith('CONNECTION.')) links.report(event as ConnectionReport);
      },
    },
  });
}
