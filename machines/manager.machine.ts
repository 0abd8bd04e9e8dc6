/**
 * The root actor: spawns one pool actor per key, holds the cache-wide connection cap
 * (CacheConfiguration.maxConnections) as slots that pools must be granted before they
 * create, applies the LRU policy when the cap is reached, and runs the graceful shutdown.
 *
 * Slots are the one resource shared across keys, so they are decided here and nowhere else:
 * a pool asks (`SLOT.REQUEST`), the manager grants at once if a slot is free, otherwise
 * queues the request (FIFO across keys) and, with LRU on, asks the least recently used key
 * with an idle connection to close one (`evictLeastRecentlyUsed`, provided by the runtime,
 * which knows recency). A pool gives a slot back when a connection is closed or has failed.
 */
import { enqueueActions, setup, assign, stopChild } from 'xstate';
import { childrenOf, poolMachine, type PoolConfig, type PoolReport } from './pool.machine.js';

export interface CacheConfig {
  /** Connections across all keys. */
  maxConnections: number;
  /** Age limit of a connection, in ms. Infinity: none. */
  ttl: number;
  /** Close an idle connection of the least recently used key to make room. */
  enableLRU: boolean;
}

export interface ManagerInput {
  cache: CacheConfig;
}

export interface ManagerContext {
  cache: CacheConfig;
  /** Slots granted and not yet released: connections that exist across all keys. */
  granted: number;
  /** Keys waiting for a slot, oldest first; a key appears once per slot it asked for. */
  queue: string[];
  /** Keys whose pool is spawned and not yet closed. */
  pools: string[];
  shutdownTimeout: number;
}

export type ManagerEvent =
  | { type: 'POOL.OPEN'; key: string; config: PoolConfig }
  | { type: 'SHUTDOWN'; timeout: number }
  | PoolReport;

/** The pool actor's id under the manager. */
export const poolId = (key: string): string => `pool:${key}`;

export const managerMachine = setup({
  types: {
    context: {} as ManagerContext,
    events: {} as ManagerEvent,
    input: {} as ManagerInput,
  },
  actors: { pool: poolMachine },
  guards: {
    slotFree: ({ context }) => context.granted < context.cache.maxConnections,
    lruEnabled: ({ context }) => context.cache.enableLRU,
    someoneQueued: ({ context }) => context.queue.length > 0,
    noPoolsOpen: ({ context }) => context.pools.length === 0,
    poolNotOpen: ({ context, event }) => event.type === 'POOL.OPEN' && !context.pools.includes(event.key),
  },
  delays: {
    shutdownTimeout: ({ context }) => context.shutdownTimeout,
  },
  actions: {
    openPool: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'POOL.OPEN') return;
      enqueue.spawnChild('pool', { id: poolId(event.key), input: { key: event.key, config: event.config } });
      enqueue.assign({ pools: [...context.pools, event.key] });
    }),
    grantSlot: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'SLOT.REQUEST') return;
      enqueue.assign({ granted: context.granted + 1 });
      enqueue.sendTo(poolId(event.key), { type: 'SLOT.GRANTED' });
    }),
    queueRequest: assign({
      queue: ({ context, event }) => (event.type === 'SLOT.REQUEST' ? [...context.queue, event.key] : context.queue),
    }),
    // A released slot goes straight to the oldest queued request: `granted` is unchanged.
    grantQueued: enqueueActions(({ context, enqueue }) => {
      const [next, ...rest] = context.queue;
      if (next === undefined) return;
      enqueue.assign({ queue: rest });
      enqueue.sendTo(poolId(next), { type: 'SLOT.GRANTED' });
    }),
    releaseSlot: assign({ granted: ({ context }) => context.granted - 1 }),
    clearQueue: assign({ queue: [] }),
    recordShutdownTimeout: assign({
      shutdownTimeout: ({ context, event }) => (event.type === 'SHUTDOWN' ? event.timeout : context.shutdownTimeout),
    }),
    shutdownPools: enqueueActions(({ enqueue, self }) => {
      for (const pool of childrenOf(self)) enqueue.sendTo(pool, { type: 'SHUTDOWN' });
    }),
    forcePools: enqueueActions(({ enqueue, self }) => {
      for (const pool of childrenOf(self)) enqueue.sendTo(pool, { type: 'FORCE' });
    }),
    poolClosed: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'POOL.CLOSED') return;
      // Its queued slot requests go with it: a slot granted to a closed pool would be lost.
      enqueue.assign({
        pools: context.pools.filter((key) => key !== event.key),
        queue: context.queue.filter((key) => key !== event.key),
      });
      enqueue(stopChild(poolId(event.key)));
    }),

    // Effects provided by the runtime.
    /** Ask the least recently used key (other than `key`) with an idle connection to close one. */
    evictLeastRecentlyUsed: (_, _params: { key: string }) => {},
    notifyShutdown: (_, _params: { phase: 'started' | 'forced' | 'completed' }) => {},
  },
}).createMachine({
  id: 'manager',
  context: ({ input }) => ({ cache: input.cache, granted: 0, queue: [], pools: [], shutdownTimeout: 0 }),
  initial: 'running',
  states: {
    running: {
      on: {
        'POOL.OPEN': { guard: 'poolNotOpen', actions: 'openPool' },
        'SLOT.REQUEST': [
          { guard: 'slotFree', actions: 'grantSlot' },
          {
            guard: 'lruEnabled',
            actions: [
              'queueRequest',
              { type: 'evictLeastRecentlyUsed', params: ({ event }) => ({ key: event.key }) },
            ],
          },
          { actions: 'queueRequest' },
        ],
        'SLOT.RELEASE': [{ guard: 'someoneQueued', actions: 'grantQueued' }, { actions: 'releaseSlot' }],
        'POOL.CLOSED': { actions: 'poolClosed' },
        SHUTDOWN: { target: 'shuttingDown', actions: 'recordShutdownTimeout' },
      },
    },
    shuttingDown: {
      entry: ['clearQueue', { type: 'notifyShutdown', params: { phase: 'started' } }, 'shutdownPools'],
      always: { guard: 'noPoolsOpen', target: 'stopped' },
      after: {
        shutdownTimeout: {
          actions: ['forcePools', { type: 'notifyShutdown', params: { phase: 'forced' } }],
        },
      },
      on: {
        'SLOT.RELEASE': { actions: 'releaseSlot' },
        'POOL.CLOSED': { actions: 'poolClosed' },
      },
    },
    stopped: {
      type: 'final',
      entry: { type: 'notifyShutdown', params: { phase: 'completed' } },
    },
  },
});

export type ManagerMachine = typeof managerMachine;
