/**
 * The root actor: spawns one pool actor per key and one supervised connection actor ("link")
 * per connection opened by `connect()`, holds the cache-wide connection cap
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
import { connectionMachine, type ConnectionReport } from './connection.machine.js';
import { poolMachine, type PoolConfig, type PoolReport } from './pool.machine.js';

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
  /** Ids of supervised connections (opened by connect()) not yet closed or failed. */
  links: string[];
  shutdownTimeout: number;
}

export interface LinkInput {
  id: string;
  key: string;
  maxAttempts: number;
  attemptTimeout: number;
}

export type ManagerEvent =
  | { type: 'POOL.OPEN'; key: string; config: PoolConfig }
  | ({ type: 'LINK.OPEN' } & LinkInput)
  | { type: 'SHUTDOWN'; timeout: number }
  | PoolReport
  | ConnectionReport;

/** The pool actor's id under the manager. */
export const poolId = (key: string): string => `pool:${key}`;

export const managerMachine = setup({
  types: {
    context: {} as ManagerContext,
    events: {} as ManagerEvent,
    input: {} as ManagerInput,
  },
  actors: { pool: poolMachine, link: connectionMachine },
  guards: {
    slotFree: ({ context }) => context.granted < context.cache.maxConnections,
    lruEnabled: ({ context }) => context.cache.enableLRU,
    someoneQueued: ({ context }) => context.queue.length > 0,
    nothingOpen: ({ context }) => context.pools.length === 0 && context.links.length === 0,
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
    openLink: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'LINK.OPEN') return;
      // Links are the connections a caller holds directly: outside the pools and their slots,
      // never idle-expired, reconnected on a drop.
      enqueue.spawnChild('link', {
        id: event.id,
        input: {
          id: event.id,
          key: event.key,
          maxIdleTime: Number.POSITIVE_INFINITY,
          ttl: Number.POSITIVE_INFINITY,
          maxAttempts: event.maxAttempts,
          attemptTimeout: event.attemptTimeout,
          supervised: true,
        },
      });
      enqueue.assign({ links: [...context.links, event.id] });
    }),
    linkEnded: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'CONNECTION.CLOSED' && event.type !== 'CONNECTION.FAILED') return;
      enqueue.assign({ links: context.links.filter((id) => id !== event.id) });
      enqueue(stopChild(event.id));
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
    shutdownChildren: enqueueActions(({ context, enqueue }) => {
      for (const key of context.pools) enqueue.sendTo(poolId(key), { type: 'SHUTDOWN' });
      for (const id of context.links) enqueue.sendTo(id, { type: 'RETIRE', reason: 'shutdown' });
    }),
    forceChildren: enqueueActions(({ context, enqueue }) => {
      for (const key of context.pools) enqueue.sendTo(poolId(key), { type: 'FORCE' });
      for (const id of context.links) enqueue.sendTo(id, { type: 'FORCE' });
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
    /** SLOT.REQUEST at the cap: ask the least recently used other key with an idle connection to close one. */
    evictLeastRecentlyUsed: () => {},
    notifyShutdownStarted: () => {},
    notifyShutdownForced: () => {},
    notifyShutdownCompleted: () => {},
    /** A link's report (connected, backoff, disconnected, failed, ...): the runtime's to act on. */
    linkReport: () => {},
  },
}).createMachine({
  id: 'manager',
  context: ({ input }) => ({ cache: input.cache, granted: 0, queue: [], pools: [], links: [], shutdownTimeout: 0 }),
  initial: 'running',
  states: {
    running: {
      on: {
        'POOL.OPEN': { guard: 'poolNotOpen', actions: 'openPool' },
        'LINK.OPEN': { actions: 'openLink' },
        'SLOT.REQUEST': [
          { guard: 'slotFree', actions: 'grantSlot' },
          {
            guard: 'lruEnabled',
            actions: ['queueRequest', 'evictLeastRecentlyUsed'],
          },
          { actions: 'queueRequest' },
        ],
        'SLOT.RELEASE': [{ guard: 'someoneQueued', actions: 'grantQueued' }, { actions: 'releaseSlot' }],
        'POOL.CLOSED': { actions: 'poolClosed' },
        SHUTDOWN: { target: 'shuttingDown', actions: 'recordShutdownTimeout' },
      },
    },
    shuttingDown: {
      entry: ['clearQueue', 'notifyShutdownStarted', 'shutdownChildren'],
      always: { guard: 'nothingOpen', target: 'stopped' },
      after: {
        shutdownTimeout: {
          actions: ['forceChildren', 'notifyShutdownForced'],
        },
      },
      on: {
        'SLOT.RELEASE': { actions: 'releaseSlot' },
        'POOL.CLOSED': { actions: 'poolClosed' },
      },
    },
    stopped: {
      type: 'final',
      entry: 'notifyShutdownCompleted',
    },
  },
  // Reports of links (supervised connections), in any state until they end.
  on: {
    'CONNECTION.CONNECTING': { actions: 'linkReport' },
    'CONNECTION.BACKOFF': { actions: 'linkReport' },
    'CONNECTION.READY': { actions: 'linkReport' },
    'CONNECTION.DISCONNECTED': { actions: 'linkReport' },
    'CONNECTION.DRAINING': { actions: 'linkReport' },
    'CONNECTION.FAILED': { actions: ['linkReport', 'linkEnded'] },
    'CONNECTION.CLOSED': { actions: ['linkReport', 'linkEnded'] },
  },
});

export type ManagerMachine = typeof managerMachine;
