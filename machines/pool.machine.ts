/**
 * The lifecycle of one keyed pool: when to create connections, when to retire them, how to
 * resize, how to drain on shutdown.
 *
 * The pool machine decides; it does not hold the connections. Which idle connection goes to
 * which waiting caller is the ledger's job (`src/pool/ledger.ts`), the hot path that must not
 * cost a machine transition per checkout. The two meet through events: the ledger reports
 * demand (`DEMAND`, with the number of waiting callers), the machine answers with effects
 * (`offerConnection`, `retire`, `rejectOldestWaiter`, ...) that the runtime provides. The
 * defaults below are plain XState messaging, so the machine runs (and is tested) on its own.
 *
 * Counting: `connecting` (create in flight) + `open` (created, not retired) + `draining`
 * (retired or dropped, destroy not finished) = the connections that exist, which never
 * exceeds `maxConnections`. `requested` counts slots asked of the manager (the cache-wide
 * cap) and not yet granted.
 */
import { enqueueActions, sendParent, sendTo, setup, assign, stopChild } from 'xstate';
import type { AnyActorRef } from 'xstate';
import { connectionMachine, type CloseReason, type ConnectionReport } from './connection.machine.js';

export interface PoolConfig {
  minConnections: number;
  maxConnections: number;
  /** Not used by the machine (the ledger keeps acquire deadlines); part of the key's config. */
  acquireTimeout: number;
  maxIdleTime: number;
  /** From the cache configuration. Infinity: no age limit. */
  ttl: number;
  /** Attempts per create, the first included (1 without a retry strategy). */
  maxAttempts: number;
  /** Bound on one create attempt. Infinity: none (a user factory runs as long as it runs). */
  attemptTimeout: number;
}

export interface PoolInput {
  key: string;
  config: PoolConfig;
}

export interface PoolContext {
  key: string;
  config: PoolConfig;
  connecting: number;
  open: number;
  draining: number;
  requested: number;
  /** Waiting acquires, as last reported by the ledger in a DEMAND event. */
  waiting: number;
  /** Consecutive failed creates; drives the refill backoff. */
  failures: number;
  nextId: number;
}

export type PoolEvent =
  | { type: 'DEMAND'; waiting: number }
  | { type: 'SLOT.GRANTED' }
  | { type: 'CONFIGURE'; config: PoolConfig }
  | { type: 'EVICT' }
  | { type: 'SHUTDOWN' }
  | { type: 'FORCE' }
  | ConnectionReport;

/** Reports a pool sends the manager. */
export type PoolReport =
  | { type: 'SLOT.REQUEST'; key: string }
  | { type: 'SLOT.RELEASE'; key: string }
  | { type: 'POOL.CLOSED'; key: string };

/** The reason the pool gives a connection it retires in answer to `event`. */
export function retireReason(event: PoolEvent): CloseReason {
  switch (event.type) {
    case 'CONNECTION.IDLE_EXPIRED':
      return 'idle';
    case 'CONNECTION.TTL_EXPIRED':
      return 'ttl';
    case 'EVICT':
      return 'evicted';
    case 'CONFIGURE':
      return 'resized';
    default:
      return 'shutdown';
  }
}

/** Connections that exist (or are about to): the quantity bounded by maxConnections. */
export function liveConnections(c: PoolContext): number {
  return c.connecting + c.open + c.draining;
}

/**
 * How many connections the pool should ask for now. Waiting callers not already covered by
 * a create in flight or a slot requested, or (when `refill`) the shortfall below
 * minConnections, whichever is larger; never beyond maxConnections.
 */
/** The id `spawnConnection` gave the connection it spawned last. */
export function lastSpawnedId(c: PoolContext): string {
  return `${c.key}#${c.nextId - 1}`;
}

export function connectionsWanted(c: PoolContext, opts: { refill: boolean }): number {
  const pending = c.connecting + c.requested;
  const forWaiters = c.waiting - pending;
  const forMin = opts.refill ? c.config.minConnections - (c.open + pending) : 0;
  const room = c.config.maxConnections - (liveConnections(c) + c.requested);
  return Math.max(0, Math.min(room, Math.max(forWaiters, forMin)));
}

/** Connections above maxConnections after a resize (draining ones are already leaving). */
export function surplusConnections(c: PoolContext): number {
  return Math.max(0, c.connecting + c.open - c.config.maxConnections);
}

/** Backoff before refilling to minConnections again after `failures` failed creates. */
export function refillDelay(failures: number): number {
  return Math.min(1000 * 2 ** Math.max(0, failures - 1), 30_000);
}

type Refill = { refill: boolean };
const REFILL: Refill = { refill: true };
const NO_REFILL: Refill = { refill: false };

function demandWants(context: PoolContext, event: PoolEvent, refill: Refill): boolean {
  return event.type === 'DEMAND' && connectionsWanted({ ...context, waiting: event.waiting }, refill) > 0;
}

function grantNeeded(context: PoolContext, refill: Refill): boolean {
  // The slot being granted is still counted in `requested`: leave it out.
  return connectionsWanted({ ...context, requested: context.requested - 1 }, refill) > 0;
}

/** The actor's children as a list (XState types the record's values as possibly undefined). */
export function childrenOf(self: AnyActorRef): AnyActorRef[] {
  const children: Record<string, AnyActorRef | undefined> | undefined = self.getSnapshot().children;
  return Object.values(children ?? {}).filter((c): c is AnyActorRef => c !== undefined);
}

export const poolMachine = setup({
  types: {
    context: {} as PoolContext,
    events: {} as PoolEvent,
    input: {} as PoolInput,
  },
  actors: { connection: connectionMachine },
  guards: {
    // "ForWaiters" variants leave minConnections out: used while cooling down after failures.
    wantsConnections: ({ context, event }) => demandWants(context, event, REFILL),
    wantsConnectionsForWaiters: ({ context, event }) => demandWants(context, event, NO_REFILL),
    grantNeeded: ({ context }) => grantNeeded(context, REFILL),
    grantNeededForWaiters: ({ context }) => grantNeeded(context, NO_REFILL),
    aboveMin: ({ context }) => context.connecting + context.open > context.config.minConnections,
    shrinks: ({ context, event }) =>
      event.type === 'CONFIGURE' && surplusConnections({ ...context, config: event.config }) > 0,
    nothingLive: ({ context }) => liveConnections(context) === 0,
  },
  delays: {
    refillBackoff: ({ context }) => refillDelay(context.failures),
  },
  actions: {
    recordDemand: assign({ waiting: ({ event }) => (event.type === 'DEMAND' ? event.waiting : 0) }),
    requestSlots: enqueueActions(({ context, enqueue }) => {
      const n = connectionsWanted(context, REFILL);
      enqueue.assign({ requested: context.requested + n });
      for (let i = 0; i < n; i++) enqueue.sendParent({ type: 'SLOT.REQUEST', key: context.key } satisfies PoolReport);
    }),
    requestSlotsForWaiters: enqueueActions(({ context, enqueue }) => {
      const n = connectionsWanted(context, NO_REFILL);
      enqueue.assign({ requested: context.requested + n });
      for (let i = 0; i < n; i++) enqueue.sendParent({ type: 'SLOT.REQUEST', key: context.key } satisfies PoolReport);
    }),
    spawnConnection: enqueueActions(({ context, enqueue }) => {
      const id = lastSpawnedId({ ...context, nextId: context.nextId + 1 });
      enqueue.spawnChild('connection', {
        id,
        input: {
          id,
          key: context.key,
          maxIdleTime: context.config.maxIdleTime,
          ttl: context.config.ttl,
          maxAttempts: context.config.maxAttempts,
          attemptTimeout: context.config.attemptTimeout,
          supervised: false,
        },
      });
      enqueue.assign({
        nextId: context.nextId + 1,
        connecting: context.connecting + 1,
        requested: context.requested - 1,
      });
    }),
    returnGrant: enqueueActions(({ context, enqueue }) => {
      enqueue.assign({ requested: context.requested - 1 });
      enqueue.sendParent({ type: 'SLOT.RELEASE', key: context.key } satisfies PoolReport);
    }),
    releaseSlot: sendParent(({ context }): PoolReport => ({ type: 'SLOT.RELEASE', key: context.key })),
    countReady: assign({
      connecting: ({ context }) => context.connecting - 1,
      open: ({ context }) => context.open + 1,
      failures: 0,
    }),
    countFailed: assign({
      connecting: ({ context }) => context.connecting - 1,
      failures: ({ context }) => context.failures + 1,
    }),
    countDraining: assign(({ context, event }) => {
      const wasOpen = event.type === 'CONNECTION.DRAINING' && event.wasOpen;
      return {
        open: context.open - (wasOpen ? 1 : 0),
        connecting: context.connecting - (wasOpen ? 0 : 1),
        draining: context.draining + 1,
      };
    }),
    countClosed: assign({ draining: ({ context }) => context.draining - 1 }),
    stopConnection: stopChild(({ event }) => ('id' in event ? event.id : '')),
    applyConfig: assign({ config: ({ context, event }) => (event.type === 'CONFIGURE' ? event.config : context.config) }),
    configureConnections: enqueueActions(({ context, enqueue, self }) => {
      for (const child of childrenOf(self)) {
        enqueue.sendTo(child, { type: 'CONFIGURE', maxIdleTime: context.config.maxIdleTime, ttl: context.config.ttl });
      }
    }),

    // Effects on the ledger, provided by the runtime. Defaults: plain messaging, or nothing.
    // They read what they need from the event: XState 5.33 mistypes parameterized actions
    // declared beside enqueueActions in one setup(), and the event carries the id anyway.
    reportDemand: () => {},
    /** CONNECTION.READY: hand the new connection to the oldest waiter, or park it. */
    offerConnection: () => {},
    /** CONNECTION.DRAINING: take the connection off the idle list so nobody gets it. */
    unlist: () => {},
    /** CONNECTION.CLOSED: drop the runtime's record of it. */
    forget: () => {},
    /** CONNECTION.FAILED: the oldest waiting acquire rejects with the factory's error. */
    rejectOldestWaiter: () => {},
    rejectAllWaiters: () => {},
    /** IDLE_EXPIRED, TTL_EXPIRED, or READY while draining: retire that connection. */
    retire: sendTo(
      ({ event }) => ('id' in event ? event.id : ''),
      ({ event }) => ({ type: 'RETIRE' as const, reason: retireReason(event) }),
    ),
    retireSurplus: enqueueActions(({ context, enqueue, self }) => {
      for (const child of childrenOf(self).slice(0, surplusConnections(context))) {
        enqueue.sendTo(child, { type: 'RETIRE', reason: 'resized' });
      }
    }),
    retireAll: enqueueActions(({ enqueue, self }) => {
      for (const child of childrenOf(self)) enqueue.sendTo(child, { type: 'RETIRE', reason: 'shutdown' });
    }),
    forceAll: enqueueActions(({ enqueue, self }) => {
      for (const child of childrenOf(self)) enqueue.sendTo(child, { type: 'FORCE' });
    }),
    evictIdle: () => {},
    /** User-facing events, derived from the connection report being handled. */
    notify: () => {},
    notifyDraining: () => {},
    notifyClosed: () => {},
  },
}).createMachine({
  id: 'pool',
  context: ({ input }) => ({
    key: input.key,
    config: input.config,
    connecting: 0,
    open: 0,
    draining: 0,
    requested: 0,
    waiting: 0,
    failures: 0,
    nextId: 1,
  }),
  initial: 'running',
  states: {
    running: {
      // Fill to minConnections as soon as the pool exists.
      entry: 'reportDemand',
      initial: 'steady',
      states: {
        steady: {
          on: {
            DEMAND: [
              {
                guard: 'wantsConnections',
                actions: ['recordDemand', 'requestSlots'],
              },
              { actions: 'recordDemand' },
            ],
            'SLOT.GRANTED': [
              { guard: 'grantNeeded', actions: 'spawnConnection' },
              { actions: 'returnGrant' },
            ],
          },
        },
        // After a failed create: callers who wait still get creates (and so the error, fast),
        // but refilling to minConnections pauses, so a dead server is not hammered.
        coolingDown: {
          after: { refillBackoff: { target: 'steady', actions: 'reportDemand' } },
          on: {
            DEMAND: [
              {
                guard: 'wantsConnectionsForWaiters',
                actions: ['recordDemand', 'requestSlotsForWaiters'],
              },
              { actions: 'recordDemand' },
            ],
            'SLOT.GRANTED': [
              { guard: 'grantNeededForWaiters', actions: 'spawnConnection' },
              { actions: 'returnGrant' },
            ],
            'CONNECTION.READY': {
              target: 'steady',
              actions: [
                'countReady',
                'offerConnection',
                'notify',
                'reportDemand',
              ],
            },
          },
        },
      },
      on: {
        'CONNECTION.READY': {
          actions: [
            'countReady',
            'offerConnection',
            'notify',
          ],
        },
        'CONNECTION.FAILED': {
          // Targeting the child from here restarts coolingDown's timer on every failure.
          target: '.coolingDown',
          actions: [
            'countFailed',
            'stopConnection',
            'releaseSlot',
            'rejectOldestWaiter',
            'notify',
            'reportDemand',
          ],
        },
        'CONNECTION.DRAINING': {
          actions: ['countDraining', 'unlist', 'notify', 'reportDemand'],
        },
        // Attempts and retries of a create: counted as one connecting connection throughout.
        'CONNECTION.CONNECTING': { actions: 'notify' },
        'CONNECTION.BACKOFF': { actions: 'notify' },
        'CONNECTION.CLOSED': {
          actions: [
            'countClosed',
            'forget',
            'stopConnection',
            'releaseSlot',
            'notify',
            'reportDemand',
          ],
        },
        'CONNECTION.IDLE_EXPIRED': {
          guard: 'aboveMin',
          actions: [
            'retire',
            'notify',
          ],
        },
        'CONNECTION.TTL_EXPIRED': {
          actions: [
            'retire',
            'notify',
          ],
        },
        CONFIGURE: [
          {
            guard: 'shrinks',
            actions: ['applyConfig', 'configureConnections', 'retireSurplus', 'reportDemand'],
          },
          { actions: ['applyConfig', 'configureConnections', 'reportDemand'] },
        ],
        EVICT: { actions: 'evictIdle' },
        SHUTDOWN: { target: 'draining' },
      },
    },
    draining: {
      entry: ['rejectAllWaiters', 'retireAll', 'notifyDraining'],
      always: { guard: 'nothingLive', target: 'closed' },
      on: {
        // A create that landed just before the shutdown reached it.
        'CONNECTION.READY': {
          actions: ['countReady', 'retire'],
        },
        'CONNECTION.FAILED': {
          actions: [
            'countFailed',
            'stopConnection',
            'releaseSlot',
            'notify',
          ],
        },
        'CONNECTION.DRAINING': {
          actions: ['countDraining', 'unlist', 'notify'],
        },
        'CONNECTION.CONNECTING': { actions: 'notify' },
        'CONNECTION.BACKOFF': { actions: 'notify' },
        'CONNECTION.CLOSED': {
          actions: [
            'countClosed',
            'forget',
            'stopConnection',
            'releaseSlot',
            'notify',
          ],
        },
        'SLOT.GRANTED': { actions: 'returnGrant' },
        FORCE: { actions: 'forceAll' },
      },
    },
    closed: {
      entry: [
        sendParent(({ context }): PoolReport => ({ type: 'POOL.CLOSED', key: context.key })),
        'notifyClosed',
      ],
    },
  },
});

export type PoolMachine = typeof poolMachine;
