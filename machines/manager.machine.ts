/**
 * The root actor: opens one pool actor per key and one supervised connection actor ("link")
 * per connection opened by `connect()`, holds the cache-wide connection cap
 * (CacheConfiguration.maxConnections) as slots that pools must be granted before they
 * create, applies the LRU policy when the cap is reached, and runs the graceful shutdown.
 *
 * Slots are the one resource shared across keys, so they are decided here and nowhere else:
 * a pool asks (`SLOT.REQUEST`), the manager grants at once if a slot is free, otherwise
 * queues the request (FIFO across keys) and, with LRU on, asks the least recently used key
 * with an idle connection to close one (`evictLeastRecentlyUsed`, provided by the runtime,
 * which knows recency). A pool gives a slot back when a connection is closed or has failed.
 *
 * Pools and links are counted, not listed: with ten thousand keys, a list copied on every
 * open and close made opening them quadratic. Which pools exist is the runtime's registry
 * (it opens each key once); the defaults here spawn ordinary children, so the machine runs
 * alone.
 */
import { assign, enqueueActions, setup, stopChild } from 'xstate';
import { connectionMachine, type ConnectionInput, type ConnectionReport } from './connection.machine.js';
import { poolId } from './ids.js';
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
  /** Pools were told that keys wait for slots (so they give freed slots back instead of reusing them). */
  contended: boolean;
  /** Pools opened and not yet closed. */
  pools: number;
  /** Supervised connections (opened by connect()) not yet closed or failed. */
  links: number;
  shutdownTimeout: number;
}

export type ManagerEvent =
  | { type: 'POOL.OPEN'; key: string; config: PoolConfig }
  | { type: 'LINK.OPEN'; input: ConnectionInput }
  | { type: 'SHUTDOWN'; timeout: number }
  | PoolReport
  | ConnectionReport;

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
    nothingOpen: ({ context }) => context.pools === 0 && context.links === 0,
    unboundedShutdown: ({ event }) => event.type === 'SHUTDOWN' && event.timeout === Number.POSITIVE_INFINITY,
  },
  delays: {
    shutdownTimeout: ({ context }) => context.shutdownTimeout,
  },
  actions: {
    countPool: assign({ pools: ({ context }) => context.pools + 1 }),
    countLink: assign({ links: ({ context }) => context.links + 1 }),
    countLinkEnded: assign({ links: ({ context }) => context.links - 1 }),
    countGrant: assign({ granted: ({ context }) => context.granted + 1 }),
    queueRequest: assign({
      queue: ({ context, event }) => (event.type === 'SLOT.REQUEST' ? [...context.queue, event.key] : context.queue),
    }),
    dequeue: assign({ queue: ({ context }) => context.queue.slice(1) }),
    /**
     * Tells the pools when keys start or stop waiting for slots: while some wait, a pool gives a
     * slot its connection freed back to the manager (FIFO across keys) instead of reusing it.
     */
    noteContention: enqueueActions(({ context, enqueue, self }) => {
      const contended = context.queue.length > 0;
      if (contended === context.contended) return;
      enqueue.assign({ contended });
      for (const [id, child] of Object.entries(self.getSnapshot().children)) {
        if (child !== undefined && id.startsWith('pool:')) enqueue.sendTo(child, { type: 'SLOTS.CONTENDED', contended });
      }
    }),
    releaseSlot: assign({ granted: ({ context }) => context.granted - 1 }),
    clearQueue: assign({ queue: [] }),
    recordShutdownTimeout: assign({
      shutdownTimeout: ({ context, event }) => (event.type === 'SHUTDOWN' ? event.timeout : context.shutdownTimeout),
    }),
    // Its queued slot requests go with it: a slot granted to a closed pool would be lost.
    forgetPool: assign({
      pools: ({ context }) => context.pools - 1,
      queue: ({ context, event }) => (event.type === 'POOL.CLOSED' ? context.queue.filter((key) => key !== event.key) : context.queue),
    }),

    // Effects: the runtime provides versions that keep pools and links in its own registry.
    /**
     * POOL.OPEN: start the key's pool actor, and tell it if keys wait for slots: noteContention
     * tells pools only when the queue fills or empties, and a pool that believed otherwise would
     * reuse its slots ahead of the keys queued before it.
     */
    openPool: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'POOL.OPEN') return;
      enqueue.spawnChild('pool', { id: poolId(event.key), input: { key: event.key, config: event.config } });
      if (context.contended) enqueue.sendTo(poolId(event.key), { type: 'SLOTS.CONTENDED', contended: true });
    }),
    /** LINK.OPEN: start the link's connection actor. */
    openLink: enqueueActions(({ event, enqueue }) => {
      if (event.type !== 'LINK.OPEN') return;
      enqueue.spawnChild('link', { id: event.input.id });
      enqueue.sendTo(event.input.id, { type: 'START', input: event.input });
    }),
    /** SLOT.REQUEST granted at once: tell the requesting pool. */
    grantTo: enqueueActions(({ event, enqueue }) => {
      if (event.type === 'SLOT.REQUEST') enqueue.sendTo(poolId(event.key), { type: 'SLOT.GRANTED' });
    }),
    /** A released slot goes straight to the oldest queued request (`granted` is unchanged). */
    grantToOldest: enqueueActions(({ context, enqueue }) => {
      const key = context.queue[0];
      if (key !== undefined) enqueue.sendTo(poolId(key), { type: 'SLOT.GRANTED' });
    }),
    stopPool: stopChild(({ event }) => (event.type === 'POOL.CLOSED' ? poolId(event.key) : '')),
    stopLink: stopChild(({ event }) => ('id' in event ? event.id : '')),
    shutdownChildren: enqueueActions(({ enqueue, self }) => {
      for (const [id, child] of Object.entries(self.getSnapshot().children)) {
        if (child === undefined) continue;
        enqueue.sendTo(child, id.startsWith('pool:') ? { type: 'SHUTDOWN' } : { type: 'RETIRE', reason: 'shutdown' });
      }
    }),
    forceChildren: enqueueActions(({ enqueue, self }) => {
      for (const child of Object.values(self.getSnapshot().children)) if (child !== undefined) enqueue.sendTo(child, { type: 'FORCE' });
    }),
    /** SLOT.REQUEST at the cap: ask the least recently used other key with an idle connection to close one. */
    evictLeastRecentlyUsed: () => {},
    notifyShutdownStarted: () => {},
    notifyShutdownForced: () => {},
    notifyShutdownCompleted: () => {},
    /** A link's report (connected, failed, closed): the runtime's to act on. */
    linkReport: () => {},
  },
}).createMachine({
  id: 'manager',
  context: ({ input }) => ({ cache: input.cache, granted: 0, queue: [], contended: false, pools: 0, links: 0, shutdownTimeout: 0 }),
  initial: 'running',
  states: {
    running: {
      on: {
        'POOL.OPEN': { actions: ['openPool', 'countPool'] },
        'LINK.OPEN': { actions: ['openLink', 'countLink'] },
        'SLOT.REQUEST': [
          { guard: 'slotFree', actions: ['countGrant', 'grantTo'] },
          { guard: 'lruEnabled', actions: ['queueRequest', 'noteContention', 'evictLeastRecentlyUsed'] },
          { actions: ['queueRequest', 'noteContention'] },
        ],
        'SLOT.RELEASE': [
          { guard: 'someoneQueued', actions: ['grantToOldest', 'dequeue', 'noteContention'] },
          { actions: 'releaseSlot' },
        ],
        'POOL.CLOSED': { actions: ['forgetPool', 'noteContention', 'stopPool'] },
        SHUTDOWN: [
          { guard: 'unboundedShutdown', target: 'shuttingDown.patient', actions: 'recordShutdownTimeout' },
          { target: 'shuttingDown.bounded', actions: 'recordShutdownTimeout' },
        ],
      },
    },
    shuttingDown: {
      entry: ['clearQueue', 'notifyShutdownStarted', 'shutdownChildren'],
      always: { guard: 'nothingOpen', target: 'stopped' },
      initial: 'bounded',
      states: {
        // Lent connections and creates still out are forced at the shutdown timeout.
        bounded: {
          after: {
            shutdownTimeout: { target: 'forced', actions: ['forceChildren', 'notifyShutdownForced'] },
          },
        },
        // gracefulShutdown({ timeout: Infinity }): no timer (one that can never fire still costs).
        patient: {},
        forced: {},
      },
      on: {
        'SLOT.RELEASE': { actions: 'releaseSlot' },
        'POOL.CLOSED': { actions: ['forgetPool', 'stopPool'] },
      },
    },
    stopped: {
      type: 'final',
      entry: 'notifyShutdownCompleted',
    },
  },
  // Reports of links (supervised connections), in any state until they end.
  on: {
    'CONNECTION.READY': { actions: 'linkReport' },
    'CONNECTION.FAILED': { actions: ['linkReport', 'countLinkEnded', 'stopLink'] },
    'CONNECTION.CLOSED': { actions: ['linkReport', 'countLinkEnded', 'stopLink'] },
  },
});

export type ManagerMachine = typeof managerMachine;
