/**
 * The lifecycle of one keyed pool: when to create connections, when to retire them, how to
 * resize, how to back off after failures, how to drain on shutdown.
 *
 * The pool machine decides; it does not hold the connections. Which idle connection goes to
 * which waiting caller is the ledger's job (`src/pool/ledger.ts`), the hot path that must not
 * cost a machine transition per checkout. The two meet through events: the ledger reports
 * demand (`DEMAND`), the connections report three facts (`CONNECTION.READY`, `.FAILED`,
 * `.CLOSED`), and the machine answers with effects (`spawnConnection`, `retireSurplus`,
 * `rejectWaiters`, `sweep`, ...) that the runtime provides. The defaults below are plain XState
 * (a spawned child, nothing else), so the machine runs, and is tested, on its own.
 *
 * Two regions run side by side while the pool runs:
 * - `creates`: the breaker. `steady` creates on demand (or awaits returns, when lent connections
 *   will come back sooner than a new one could be made); after a failed create the breaker
 *   opens (`coolingDown`), then lets one create through (`probing`); a success lets creates
 *   through again (`recovering`), and once the pool has stayed healthy for the stability window
 *   the failure count resets (`steady`). Failures of creates that were in flight together are
 *   one episode (see `newFailureEpisode`).
 * - `housekeeping`: one timer for the whole pool, at the earliest idle, ttl, lifetime or leak
 *   deadline the runtime reports (`SWEEP.SCHEDULE`); when it fires, `sweep` retires what is
 *   due (by the pure decisions in pool.decisions.ts) and answers the next delay.
 *
 * Counting: `connecting` (create in flight) + `open` (created, not yet closed) = the connections
 * that exist, which never exceeds `maxConnections`. `requested` counts slots asked of the
 * manager (the cache-wide cap) and not yet granted.
 *
 * A slot whose connection closes while the pool still wants a connection (its own callers wait,
 * or it is below minConnections) is reused at once for the next one (`reuseConnection`: the
 * same connection actor starts again), unless other keys
 * wait for slots (`contended`, told by the manager): then it goes back to the manager, which
 * grants it to them first. A connection that churns (created, lent, destroyed) thus costs no
 * round trip to the manager and no new actor.
 *
 * Beside this file: its types (pool.types.ts), the pure functions its guards and actions call
 * (pool.decisions.ts on the counts, pool.context.ts on the context as events change it), and
 * the ledger's DEMAND elision built from the same functions (pool.elision.ts).
 */
import { assign, enqueueActions, setup, stopChild } from 'xstate';
import { connectionMachine } from './connection.machine.js';
import {
  breakerDelay,
  connectionsWanted,
  grantNeeded,
  liveConnections,
  newFailureEpisode,
  recheckDelay,
  returnsWillServe,
  surplusConnections,
} from './pool.decisions.js';
import { epochOf, nextConnectionInput, reuseWanted, withFacts, withoutClosed } from './pool.context.js';
import type { PoolContext, PoolEvent, PoolInput, PoolReport } from './pool.types.js';
import { hasParent } from './report.js';

// What the runtime, the manager machine and the tests import from here.
export type { ClosedReport, DemandFacts, PoolConfig, PoolContext, PoolEvent, PoolInput, PoolReport } from './pool.types.js';
export { nextConnectionInput } from './pool.context.js';
export { createStateOf, demandMatters, type CreateState } from './pool.elision.js';

export const poolMachine = setup({
  types: {
    context: {} as PoolContext,
    events: {} as PoolEvent,
    input: {} as PoolInput,
  },
  actors: { connection: connectionMachine },
  guards: {
    wantsConnections: ({ context, event }) => connectionsWanted(withFacts(context, event), 'steady') > 0,
    wantsConnectionsRecovering: ({ context, event }) => connectionsWanted(withFacts(context, event), 'recovering') > 0,
    wantsProbe: ({ context, event }) => connectionsWanted(withFacts(context, event), 'probing') > 0,
    returnsWillServe: ({ context, event }) => returnsWillServe(withFacts(context, event)),
    grantNeeded: ({ context }) => grantNeeded(context, 'steady'),
    grantNeededRecovering: ({ context }) => grantNeeded(context, 'recovering'),
    grantNeededForProbe: ({ context }) => grantNeeded(context, 'probing'),
    newFailure: ({ context, event }) => newFailureEpisode(context.epoch, epochOf(event)),
    reuseSteady: ({ context, event }) => reuseWanted(context, event, 'steady'),
    reuseRecovering: ({ context, event }) => reuseWanted(context, event, 'recovering'),
    newFailedAttempt: ({ context, event }) =>
      event.type === 'CONNECTION.CLOSED' && event.failedAttempt && newFailureEpisode(context.epoch, event.epoch),
    shrinks: ({ context, event }) =>
      event.type === 'CONFIGURE' && surplusConnections({ ...context, config: event.config }) > 0,
    sweepPending: ({ context }) => context.sweepDelay < Number.POSITIVE_INFINITY,
    nothingLive: ({ context }) => liveConnections(context) === 0,
  },
  delays: {
    breakerDelay: ({ context }) => breakerDelay(context.failures, context.config.breaker),
    recheck: ({ context }) => recheckDelay(context),
    stabilityWindow: ({ context }) => context.config.stabilityWindow,
    sweepDelay: ({ context }) => context.sweepDelay,
  },
  actions: {
    recordDemand: assign(({ context, event }) => withFacts(context, event)),
    // Alone (no manager above it), a pool asks nobody: its requests stay pending.
    requestSlots: enqueueActions(({ context, enqueue, self }) => {
      const n = connectionsWanted(context, 'steady');
      if (n === 0) return;
      enqueue.assign({ requested: context.requested + n });
      if (!hasParent(self)) return;
      for (let i = 0; i < n; i++) enqueue.sendParent({ type: 'SLOT.REQUEST', key: context.key } satisfies PoolReport);
    }),
    requestSlotsForWaiters: enqueueActions(({ context, enqueue, self }) => {
      const n = connectionsWanted(context, 'recovering');
      if (n === 0) return;
      enqueue.assign({ requested: context.requested + n });
      if (!hasParent(self)) return;
      for (let i = 0; i < n; i++) enqueue.sendParent({ type: 'SLOT.REQUEST', key: context.key } satisfies PoolReport);
    }),
    requestProbe: enqueueActions(({ context, enqueue, self }) => {
      if (connectionsWanted(context, 'probing') === 0) return;
      enqueue.assign({ requested: context.requested + 1 });
      if (hasParent(self)) enqueue.sendParent({ type: 'SLOT.REQUEST', key: context.key } satisfies PoolReport);
    }),
    /** Effect: start the next connection's actor. The runtime reuses a spare one, kept outside `children`. */
    spawnConnection: enqueueActions(({ context, enqueue }) => {
      const input = nextConnectionInput(context);
      enqueue.spawnChild('connection', { id: input.id });
      enqueue.sendTo(input.id, { type: 'START', input });
    }),
    /** Effect: the actor of the connection that closed begins the next one (its slot reused). */
    reuseConnection: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'CONNECTION.CLOSED') return;
      enqueue.sendTo(event.id, { type: 'START', input: nextConnectionInput(context, event.id) });
    }),
    /** The closed connection's slot goes to the next one: fresh demand, one fewer open, one more connecting. */
    countReused: assign(({ context, event }) => {
      const c = withoutClosed(withFacts(context, event), event);
      return { ...c, connecting: c.connecting + 1 };
    }),
    recordContention: assign({
      contended: ({ context, event }) => (event.type === 'SLOTS.CONTENDED' ? event.contended : context.contended),
    }),
    countSpawned: assign({
      nextId: ({ context }) => context.nextId + 1,
      connecting: ({ context }) => context.connecting + 1,
      requested: ({ context }) => context.requested - 1,
    }),
    returnGrant: enqueueActions(({ context, enqueue, self }) => {
      enqueue.assign({ requested: context.requested - 1 });
      if (hasParent(self)) enqueue.sendParent({ type: 'SLOT.RELEASE', key: context.key } satisfies PoolReport);
    }),
    releaseSlot: enqueueActions(({ context, enqueue, self }) => {
      if (hasParent(self)) enqueue.sendParent({ type: 'SLOT.RELEASE', key: context.key } satisfies PoolReport);
    }),
    reportClosed: enqueueActions(({ context, enqueue, self }) => {
      if (hasParent(self)) enqueue.sendParent({ type: 'POOL.CLOSED', key: context.key } satisfies PoolReport);
    }),
    countReady: assign({
      connecting: ({ context }) => context.connecting - 1,
      open: ({ context }) => context.open + 1,
    }),
    countFailed: assign({ connecting: ({ context }) => context.connecting - 1 }),
    countClosed: assign(({ context, event }) => {
      const c = withoutClosed(context, event);
      return { open: c.open, connecting: c.connecting };
    }),
    /** The breaker opens: one more failed episode, and a new episode for creates from now on. */
    openBreaker: assign({
      failures: ({ context }) => context.failures + 1,
      epoch: ({ context }) => context.epoch + 1,
    }),
    resetFailures: assign({ failures: 0 }),
    /** Effect: stop a connection's actor after its last report. Default: a spawned child of that id. */
    stopConnection: stopChild(({ event }) => ('id' in event ? event.id : '')),
    applyConfig: assign({ config: ({ context, event }) => (event.type === 'CONFIGURE' ? event.config : context.config) }),
    scheduleSweep: assign({
      sweepDelay: ({ context, event }) => (event.type === 'SWEEP.SCHEDULE' ? event.delay : context.sweepDelay),
    }),
    /** Effect: retire what is due and answer the next sweep's delay. Default: nothing more is due. */
    sweep: assign({ sweepDelay: Number.POSITIVE_INFINITY }),

    // Effects on the ledger, provided by the runtime. Defaults: nothing.
    /** Capacity changed: the runtime re-reports demand if (and only if) it now matters. */
    reportDemand: () => {},
    /**
     * CONNECTION.FAILED: waiters hear the error (the oldest; all when it is permanent). A
     * CONNECTION.CLOSED that was a failed attempt: all hear it when it is `permanent`.
     */
    rejectWaiters: () => {},
    rejectAllWaiters: () => {},
    retireSurplus: () => {},
    retireAll: () => {},
    forceAll: () => {},
    evictIdle: () => {},
    notifyDraining: () => {},
    notifyClosed: () => {},
  },
}).createMachine({
  id: 'pool',
  context: ({ input }) => ({
    key: input.key,
    config: input.config,
    contended: false,
    connecting: 0,
    open: 0,
    requested: 0,
    waiting: 0,
    holdMs: 0,
    createMs: 0,
    oldestWaitMs: 0,
    failures: 0,
    epoch: 0,
    nextId: 1,
    sweepDelay: Number.POSITIVE_INFINITY,
  }),
  initial: 'running',
  states: {
    running: {
      type: 'parallel',
      // Fill to minConnections as soon as the pool exists.
      entry: 'reportDemand',
      states: {
        creates: {
          initial: 'steady',
          states: {
            steady: {
              initial: 'creating',
              states: {
                // Creates for the waiters who need one, and refills to minConnections.
                creating: {},
                // Waiters are queued, but lent connections will come back sooner than a new one
                // could be created (Little's law on the reported hold and create times): no
                // create. Once the oldest waiter has waited a create time, look again.
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
                'SLOT.GRANTED': [
                  { guard: 'grantNeeded', actions: ['spawnConnection', 'countSpawned'] },
                  { actions: 'returnGrant' },
                ],
                'CONNECTION.READY': { actions: 'countReady' },
                // Callers wait and nobody else needs the slot: the same actor makes their next connection.
                'CONNECTION.CLOSED': {
                  guard: 'reuseSteady',
                  target: '.creating',
                  actions: ['countReused', 'reuseConnection', 'requestSlots'],
                },
              },
            },
            // The breaker is open: no create until the delay expires. Waiters wait for a
            // returned connection, the probe that follows, or their timeout.
            coolingDown: {
              after: { breakerDelay: { target: 'probing', actions: 'reportDemand' } },
              on: {
                DEMAND: { actions: 'recordDemand' },
                'SLOT.GRANTED': { actions: 'returnGrant' },
                // A create from before the breaker opened made it. That is no proof the server is
                // healthy (it may accept and close at once): only the probe's success is.
                'CONNECTION.READY': { actions: 'countReady' },
              },
            },
            // One create at a time (for the oldest waiter, or to refill).
            probing: {
              on: {
                DEMAND: [{ guard: 'wantsProbe', actions: ['recordDemand', 'requestProbe'] }, { actions: 'recordDemand' }],
                'SLOT.GRANTED': [
                  { guard: 'grantNeededForProbe', actions: ['spawnConnection', 'countSpawned'] },
                  { actions: 'returnGrant' },
                ],
                'CONNECTION.READY': { target: 'recovering', actions: ['countReady', 'reportDemand'] },
              },
            },
            // The probe succeeded: creates go through again, but the failure count stands until
            // the pool has stayed healthy for the stability window (a server that accepts and
            // closes at once must keep backing off, not start over every time).
            recovering: {
              after: { stabilityWindow: { target: 'steady', actions: 'resetFailures' } },
              on: {
                DEMAND: [
                  { guard: 'wantsConnectionsRecovering', actions: ['recordDemand', 'requestSlotsForWaiters'] },
                  { actions: 'recordDemand' },
                ],
                'SLOT.GRANTED': [
                  { guard: 'grantNeededRecovering', actions: ['spawnConnection', 'countSpawned'] },
                  { actions: 'returnGrant' },
                ],
                'CONNECTION.READY': { actions: 'countReady' },
                'CONNECTION.CLOSED': {
                  guard: 'reuseRecovering',
                  actions: ['countReused', 'reuseConnection', 'requestSlotsForWaiters'],
                },
              },
            },
          },
          on: {
            'CONNECTION.FAILED': [
              {
                guard: 'newFailure',
                target: '.coolingDown',
                actions: ['countFailed', 'openBreaker', 'stopConnection', 'releaseSlot', 'rejectWaiters'],
              },
              // Part of an episode already counted: the breaker is open or was reopened since.
              { actions: ['countFailed', 'stopConnection', 'releaseSlot', 'rejectWaiters', 'reportDemand'] },
            ],
            'CONNECTION.CLOSED': [
              // Closed within its stability window: its create failed after all (and waiters
              // hear why if retrying cannot heal it: a TLS 1.3 server refusing our certificate).
              {
                guard: 'newFailedAttempt',
                target: '.coolingDown',
                actions: ['countClosed', 'openBreaker', 'stopConnection', 'releaseSlot', 'rejectWaiters'],
              },
              { actions: ['recordDemand', 'countClosed', 'stopConnection', 'releaseSlot', 'reportDemand'] },
            ],
          },
        },
        housekeeping: {
          initial: 'idle',
          states: {
            // No connection has a deadline.
            idle: {
              on: { 'SWEEP.SCHEDULE': { target: 'scheduled', actions: 'scheduleSweep' } },
            },
            scheduled: {
              after: { sweepDelay: 'sweeping' },
              on: {
                // An earlier deadline: re-arm the one timer for it.
                'SWEEP.SCHEDULE': { target: 'scheduled', reenter: true, actions: 'scheduleSweep' },
              },
            },
            sweeping: {
              entry: 'sweep',
              always: [{ guard: 'sweepPending', target: 'scheduled' }, { target: 'idle' }],
            },
          },
        },
      },
      on: {
        CONFIGURE: [
          { guard: 'shrinks', actions: ['applyConfig', 'retireSurplus', 'reportDemand'] },
          { actions: ['applyConfig', 'reportDemand'] },
        ],
        EVICT: { actions: 'evictIdle' },
        'SLOTS.CONTENDED': { actions: 'recordContention' },
        SHUTDOWN: { target: 'draining' },
      },
    },
    draining: {
      entry: ['rejectAllWaiters', 'retireAll', 'notifyDraining'],
      always: { guard: 'nothingLive', target: 'closed' },
      on: {
        // A create that landed just before the shutdown reached it (it was retired with the rest).
        'CONNECTION.READY': { actions: 'countReady' },
        'CONNECTION.FAILED': { actions: ['countFailed', 'stopConnection', 'releaseSlot'] },
        'CONNECTION.CLOSED': { actions: ['countClosed', 'stopConnection', 'releaseSlot'] },
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
