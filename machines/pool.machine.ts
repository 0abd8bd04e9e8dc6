/**
 * The lifecycle of one keyed pool: when to create connections, when to retire them, how to
 * resize, how to back off after failures, how to drain on shutdown.
 *
 * The pool machine decides; it does not hold the connections. Which idle connection goes to
 * which waiting caller is the ledger's job (`src/pool/ledger.ts`), the hot path that must not
 * cost a machine transition per checkout. The two meet through events: the ledger reports
 * demand (`DEMAND`: the number of waiting callers, how long connections are held, how long a
 * create takes, how long the oldest caller has waited), the machine answers with effects
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

/** What the ledger knows about demand, sent with every DEMAND. Times in ms; 0: not known yet. */
export interface DemandFacts {
  /** Acquires waiting for a connection. */
  waiting: number;
  /** How long a connection is held, on average. */
  holdMs: number;
  /** How long a create takes, on average. */
  createMs: number;
  /** How long the oldest waiting acquire has waited. */
  oldestWaitMs: number;
}

export interface PoolContext extends DemandFacts {
  key: string;
  config: PoolConfig;
  connecting: number;
  open: number;
  draining: number;
  requested: number;
  /** Consecutive failed creates; drives the backoff between probes. */
  failures: number;
  nextId: number;
}

export type PoolEvent =
  | ({ type: 'DEMAND' } & DemandFacts)
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

/** The pool's create phases: `steady`, or `probing` (one create at a time, after failures). */
export type CreatePhase = 'steady' | 'probing';

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

/** The id `spawnConnection` gave the connection it spawned last. */
export function lastSpawnedId(c: PoolContext): string {
  return `${c.key}#${c.nextId - 1}`;
}

/**
 * Little's law: how many waiters the connections now lent will serve before a connection
 * created now could be ready. Each of the `open` connections comes back every `holdMs` on
 * average and a create takes `createMs`, so they serve `open * createMs / holdMs` waiters in
 * that time; those need no create. Unknown rates, or a waiter already kept longer than a
 * create takes (the estimate was wrong): none.
 */
export function servedByReturns(c: PoolContext): number {
  if (c.holdMs <= 0 || c.createMs <= 0 || c.oldestWaitMs >= c.createMs) return 0;
  return Math.floor((c.open * c.createMs) / c.holdMs);
}

/**
 * How many connections the pool should ask for now: the waiting callers not covered by a create
 * in flight, a slot requested or a return in time, or the shortfall below minConnections,
 * whichever is larger; never beyond maxConnections. While probing, one at a time.
 */
export function connectionsWanted(c: PoolContext, phase: CreatePhase): number {
  const pending = c.connecting + c.requested;
  const forWaiters = c.waiting - pending - servedByReturns(c);
  const forMin = c.config.minConnections - (c.open + pending);
  const room = c.config.maxConnections - (liveConnections(c) + c.requested);
  const want = Math.max(0, Math.min(room, Math.max(forWaiters, forMin)));
  return phase === 'probing' ? Math.min(want, pending === 0 ? 1 : 0) : want;
}

/** Waiters are uncovered and there is room, yet no create is wanted: returns will serve them. */
export function returnsWillServe(c: PoolContext): boolean {
  const uncovered = c.waiting - c.connecting - c.requested;
  const room = c.config.maxConnections - (liveConnections(c) + c.requested);
  return uncovered > 0 && room > 0 && connectionsWanted(c, 'steady') === 0;
}

/** While awaiting returns: look again once the oldest waiter has waited a create time. */
export function recheckDelay(c: PoolContext): number {
  return Math.max(0, c.createMs - c.oldestWaitMs);
}

/**
 * After `failures` consecutive failed creates, how long the pool waits before its next (single)
 * create: 100 ms, doubling, at most 30 s. A dead server costs a few attempts a minute, not one
 * per caller.
 */
export function probeDelay(failures: number): number {
  return Math.min(100 * 2 ** Math.max(0, failures - 1), 30_000);
}

/** Connections above maxConnections after a resize (draining ones are already leaving). */
export function surplusConnections(c: PoolContext): number {
  return Math.max(0, c.connecting + c.open - c.config.maxConnections);
}

/** Where the pool is, as far as creating goes; read from a snapshot's value without `matches`. */
export type CreateState = 'creating' | 'awaitingReturns' | 'coolingDown' | 'probing' | 'stopping';

export function createStateOf(value: unknown): CreateState {
  const running = (value as { running?: unknown } | null)?.running;
  if (running === 'coolingDown' || running === 'probing') return running;
  const steady = (running as { steady?: unknown } | undefined)?.steady;
  if (steady === 'creating' || steady === 'awaitingReturns') return steady;
  return 'stopping';
}

/** No create is possible: the pool is at maxConnections (counting slots asked for). */
export function atCapacity(c: PoolContext): boolean {
  return liveConnections(c) + c.requested >= c.config.maxConnections;
}

/**
 * Whether a DEMAND with these facts would make the pool in `state` act: ask for slots, or start
 * awaiting returns. The ledger skips the event otherwise (it would cost a transition for
 * nothing); the same functions are the machine's guards.
 */
export function demandMatters(state: CreateState, c: PoolContext): boolean {
  if (state === 'coolingDown' || state === 'stopping') return false;
  if (connectionsWanted(c, state === 'probing' ? 'probing' : 'steady') > 0) return true;
  return state === 'creating' && returnsWillServe(c);
}

function withFacts(context: PoolContext, event: PoolEvent): PoolContext {
  if (event.type !== 'DEMAND') return context;
  const { waiting, holdMs, createMs, oldestWaitMs } = event;
  return { ...context, waiting, holdMs, createMs, oldestWaitMs };
}

function grantNeeded(context: PoolContext, phase: CreatePhase): boolean {
  // The slot being granted is still counted in `requested`: leave it out.
  return connectionsWanted({ ...context, requested: context.requested - 1 }, phase) > 0;
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
    wantsConnections: ({ context, event }) => connectionsWanted(withFacts(context, event), 'steady') > 0,
    wantsProbe: ({ context, event }) => connectionsWanted(withFacts(context, event), 'probing') > 0,
    returnsWillServe: ({ context, event }) => returnsWillServe(withFacts(context, event)),
    grantNeeded: ({ context }) => grantNeeded(context, 'steady'),
    grantNeededForProbe: ({ context }) => grantNeeded(context, 'probing'),
    aboveMin: ({ context }) => context.connecting + context.open > context.config.minConnections,
    shrinks: ({ context, event }) =>
      event.type === 'CONFIGURE' && surplusConnections({ ...context, config: event.config }) > 0,
    nothingLive: ({ context }) => liveConnections(context) === 0,
  },
  delays: {
    probeDelay: ({ context }) => probeDelay(context.failures),
    recheck: ({ context }) => recheckDelay(context),
  },
  actions: {
    recordDemand: assign(({ context, event }) => withFacts(context, event)),
    requestSlots: enqueueActions(({ context, enqueue }) => {
      const n = connectionsWanted(context, 'steady');
      enqueue.assign({ requested: context.requested + n });
      for (let i = 0; i < n; i++) enqueue.sendParent({ type: 'SLOT.REQUEST', key: context.key } satisfies PoolReport);
    }),
    requestProbe: enqueueActions(({ context, enqueue }) => {
      if (connectionsWanted(context, 'probing') === 0) return;
      enqueue.assign({ requested: context.requested + 1 });
      enqueue.sendParent({ type: 'SLOT.REQUEST', key: context.key } satisfies PoolReport);
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
    reportClosed: sendParent(({ context }): PoolReport => ({ type: 'POOL.CLOSED', key: context.key })),
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
    holdMs: 0,
    createMs: 0,
    oldestWaitMs: 0,
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
          initial: 'creating',
          states: {
            // Creates for the waiters who need one, and refills to minConnections.
            creating: {},
            // Waiters are queued, but lent connections will come back sooner than a new one
            // could be created (Little's law on the reported hold and create times): no create.
            // Once the oldest waiter has waited a create time, look again.
            awaitingReturns: {
              after: { recheck: { target: 'creating', actions: 'reportDemand' } },
            },
          },
          on: {
            DEMAND: [
              { guard: 'wantsConnections', target: '.creating', actions: ['recordDemand', 'requestSlots'] },
              { guard: 'returnsWillServe', target: '.awaitingReturns', actions: 'recordDemand' },
              { target: '.creating', actions: 'recordDemand' },
            ],
            'SLOT.GRANTED': [{ guard: 'grantNeeded', actions: 'spawnConnection' }, { actions: 'returnGrant' }],
          },
        },
        // A create failed: no new create until the backoff expires (a circuit breaker, per key).
        // Waiters wait, for a returned connection, for the probe that follows, or their timeout.
        coolingDown: {
          after: { probeDelay: { target: 'probing', actions: 'reportDemand' } },
          on: {
            DEMAND: { actions: 'recordDemand' },
            'SLOT.GRANTED': { actions: 'returnGrant' },
          },
        },
        // One create at a time (for the oldest waiter, or to refill): its success closes the
        // breaker, its failure backs off longer.
        probing: {
          on: {
            DEMAND: [{ guard: 'wantsProbe', actions: ['recordDemand', 'requestProbe'] }, { actions: 'recordDemand' }],
            'SLOT.GRANTED': [{ guard: 'grantNeededForProbe', actions: 'spawnConnection' }, { actions: 'returnGrant' }],
          },
        },
      },
      on: {
        'CONNECTION.READY': {
          // A success ends any backoff.
          target: '.steady',
          actions: ['countReady', 'offerConnection', 'notify', 'reportDemand'],
        },
        'CONNECTION.FAILED': {
          // Targeting the child from here restarts coolingDown's timer on every failure.
          target: '.coolingDown',
          actions: ['countFailed', 'stopConnection', 'releaseSlot', 'rejectOldestWaiter', 'notify'],
        },
        'CONNECTION.DRAINING': {
          actions: ['countDraining', 'unlist', 'notify', 'reportDemand'],
        },
        // Attempts and retries of a create: counted as one connecting connection throughout.
        'CONNECTION.CONNECTING': { actions: 'notify' },
        'CONNECTION.BACKOFF': { actions: 'notify' },
        'CONNECTION.CLOSED': {
          actions: ['countClosed', 'forget', 'stopConnection', 'releaseSlot', 'notify', 'reportDemand'],
        },
        'CONNECTION.IDLE_EXPIRED': {
          guard: 'aboveMin',
          actions: ['retire', 'notify'],
        },
        'CONNECTION.TTL_EXPIRED': {
          actions: ['retire', 'notify'],
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
          actions: ['countFailed', 'stopConnection', 'releaseSlot', 'notify'],
        },
        'CONNECTION.DRAINING': {
          actions: ['countDraining', 'unlist', 'notify'],
        },
        'CONNECTION.CONNECTING': { actions: 'notify' },
        'CONNECTION.BACKOFF': { actions: 'notify' },
        'CONNECTION.CLOSED': {
          actions: ['countClosed', 'forget', 'stopConnection', 'releaseSlot', 'notify'],
        },
        'SLOT.GRANTED': { actions: 'returnGrant' },
        FORCE: { actions: 'forceAll' },
      },
    },
    closed: {
      entry: ['reportClosed', 'notifyClosed'],
    },
  },
});

export type PoolMachine = typeof poolMachine;
