/**
 * Binds the pure machines to one manager's runtime: the connection effects, the ledger effects,
 * and the registries that keep pools, links and connections outside XState's `children`
 * records. Everything here is a thin adapter; the decisions stay in the machines, the work in
 * KeyedPool, ConnectionEffects, the ledger and the LinkRegistry.
 */
import { assign, enqueueActions, type AnyActorRef } from 'xstate';
import { closedReport, connectionMachine, type ConnectionContext } from '../../machines/connection.machine.js';
import { managerMachine } from '../../machines/manager.machine.js';
import type { ConnectionReport } from '../../machines/connection.machine.js';
import { nextConnectionInput, poolMachine, type ClosedReport, type PoolContext, type PoolEvent } from '../../machines/pool.machine.js';
import { announce } from '../announce.js';
import type { EventHub } from '../events.js';
import type { LinkRegistry } from '../links.js';
import { decideRetry } from '../retry-decision.js';
import type { KeyedPool } from './keyed-pool.js';

export interface EffectsHost {
  readonly events: EventHub;
  pool(key: string): KeyedPool | undefined;
  readonly links: LinkRegistry;
  /** LRU: the pool actor of the least recently used key other than `key` with an idle connection. */
  leastRecentlyUsed(key: string): AnyActorRef | undefined;
  shutdownPhase(phase: 'started' | 'forced' | 'completed'): void;
  /** Every pool and link actor that runs (for shutdown and force). */
  children(): Iterable<{ ref: AnyActorRef; kind: 'pool' | 'link' }>;
}

const idOf = (event: { type: string }): string => ('id' in event ? (event as { id: string }).id : '');

export function provideMachines(host: EffectsHost) {
  const poolOf = (key: string): KeyedPool => {
    const pool = host.pool(key);
    // Pools are registered before their actor starts and never removed while it runs.
    if (pool === undefined) throw new Error(`connection-manager-kit: no runtime for key '${key}'`);
    return pool;
  };
  const effectsOf = (context: ConnectionContext) => poolOf(context.key).effects;
  const events = host.events;

  const connection = connectionMachine.provide({
    actions: {
      computeRetry: assign(({ context }) => {
        const d = decideRetry(poolOf(context.key).retry, context.attempt, context.maxAttempts, context.error);
        return { retryDelay: d.delay, permanent: d.permanent };
      }),
      startCreate: ({ context, self }) => effectsOf(context).startCreate(context.id, self),
      endCreate: ({ context }) => effectsOf(context).endCreate(context.id),
      // A destroy that finished at once is raised in the same step: no mailbox round trip.
      startDestroy: enqueueActions(({ context, self, enqueue }) => {
        const done = effectsOf(context).startDestroy(context.id, self);
        if (done !== undefined) enqueue.raise(done);
      }),
      startValidation: ({ context, self }) => effectsOf(context).startValidation(context.id, self),
      endValidation: ({ context }) => effectsOf(context).endValidation(context.id),
      rest: ({ context }) => effectsOf(context).rest(context.id, true),
      wake: ({ context }) => effectsOf(context).rest(context.id, false),
      announceConnecting: ({ context }) => announce.connecting(events, context),
      announceBackoff: ({ context }) => announce.backoff(events, context),
      announceReady: ({ context }) => {
        poolOf(context.key).notices.created(context.id);
        announce.ready(events, context, false);
      },
      announceDisconnected: ({ context }) => announce.disconnected(events, context),
      announceFailed: ({ context }) => {
        poolOf(context.key).counters.failed++;
        announce.failed(events, context);
      },
      announceClosed: ({ context }) => {
        if (context.failedAttempt) poolOf(context.key).counters.failed++;
        announce.closed(events, context);
      },
      // The pool decides on fresh demand: whether the slot is reused at once for its waiters.
      reportClosed: enqueueActions(({ context, enqueue }) => {
        const report: ClosedReport = Object.assign(closedReport(context), poolOf(context.key).demand.facts());
        enqueue.sendParent(report);
      }),
    },
  });

  const links = host.links;
  const link = connectionMachine.provide({
    actions: {
      computeRetry: assign(({ context }) => {
        const d = decideRetry(links.policy(context.id), context.attempt, context.maxAttempts, context.error);
        return { retryDelay: d.delay, permanent: d.permanent };
      }),
      startCreate: ({ context, self }) => links.startCreate(context.id, self),
      endCreate: ({ context }) => links.endCreate(context.id),
      startDestroy: ({ context, self }) => links.startDestroy(context.id, self),
      announceConnecting: ({ context }) => announce.connecting(events, context),
      announceBackoff: ({ context }) => announce.backoff(events, context),
      announceReady: ({ context }) => announce.ready(events, context, context.opened),
      announceDisconnected: ({ context }) => {
        links.disconnected(context.id);
        announce.disconnected(events, context);
      },
      // A link that gives up is closed for good: its holder's Connection is finalized.
      announceFailed: ({ context }) => {
        announce.failed(events, context);
        announce.closed(events, { ...context, closeReason: 'failed' });
      },
      announceClosed: ({ context }) => announce.closed(events, context),
    },
  });
  links.useLogic(link);

  const pool = poolMachine.provide({
    actions: {
      reportDemand: ({ context }) => poolOf(context.key).demand.schedule(),
      spawnConnection: enqueueActions(({ context, enqueue }) => {
        const input = nextConnectionInput(context);
        const ref = poolOf(context.key).prepareConnection(input);
        if (ref !== undefined) enqueue.sendTo(ref, { type: 'START', input });
      }),
      reuseConnection: enqueueActions(({ context, event, enqueue }) => {
        const id = idOf(event);
        const ref = poolOf(context.key).reuse(id);
        if (ref !== undefined) enqueue.sendTo(ref, { type: 'START', input: nextConnectionInput(context, id) });
      }),
      stopConnection: enqueueActions(({ context, event, enqueue }) => {
        const actor = poolOf(context.key).takeActor(idOf(event));
        if (actor !== undefined) enqueue.stopChild(actor);
      }),
      rejectWaiters: ({ context, event }) => {
        if (event.type === 'CONNECTION.FAILED') poolOf(context.key).createFailed(event.error, event.permanent);
        else if (event.type === 'CONNECTION.CLOSED' && event.permanent) poolOf(context.key).createFailed(event.error, true);
      },
      rejectAllWaiters: ({ context }) => poolOf(context.key).rejectAllWaiters(),
      retireSurplus: enqueueActions(({ context, enqueue }) => {
        const pool = poolOf(context.key);
        for (const [ref, e] of pool.deferred(() => pool.retireSurplus(context))) enqueue.sendTo(ref, e);
      }),
      retireAll: enqueueActions(({ context, enqueue }) => {
        const pool = poolOf(context.key);
        for (const [ref, e] of pool.deferred(() => pool.retireAll())) enqueue.sendTo(ref, e);
      }),
      forceAll: enqueueActions(({ context, enqueue }) => {
        const pool = poolOf(context.key);
        for (const [ref, e] of pool.deferred(() => pool.forceAll())) enqueue.sendTo(ref, e);
      }),
      evictIdle: enqueueActions(({ context, enqueue }) => {
        const pool = poolOf(context.key);
        for (const [ref, e] of pool.deferred(() => pool.evictIdle())) enqueue.sendTo(ref, e);
      }),
      sweep: enqueueActions(({ context, enqueue }) => {
        const pool = poolOf(context.key);
        let sweepDelay = Number.POSITIVE_INFINITY;
        const sends = pool.deferred(() => (sweepDelay = pool.sweep(context)));
        enqueue.assign({ sweepDelay });
        for (const [ref, e] of sends) enqueue.sendTo(ref, e);
      }),
      notifyDraining: ({ context }) => poolOf(context.key).notices.pool('pool:draining'),
      notifyClosed: ({ context }) => poolOf(context.key).notices.pool('pool:closed'),
    },
  });

  const GRANTED = { type: 'SLOT.GRANTED' } as const satisfies PoolEvent;
  const manager = managerMachine.provide({
    actions: {
      // The actors were created before the event was sent (creating an actor inside an action
      // is what XState warns about); the manager's transition starts them.
      // A pool opened while keys wait for slots is told so: noteContention speaks only when the
      // queue fills or empties, and a pool that believed otherwise would reuse its slots ahead
      // of the keys queued before it.
      openPool: enqueueActions(({ context, event, enqueue }) => {
        if (event.type !== 'POOL.OPEN') return;
        const actor = host.pool(event.key)?.actor;
        if (actor === undefined) return;
        enqueue(() => actor.start());
        if (context.contended) enqueue.sendTo(actor, { type: 'SLOTS.CONTENDED', contended: true });
      }),
      openLink: enqueueActions(({ event, enqueue }) => {
        if (event.type !== 'LINK.OPEN') return;
        const ref = links.startActor(event.input.id);
        if (ref !== undefined) enqueue.sendTo(ref, { type: 'START', input: event.input });
      }),
      noteContention: enqueueActions(({ context, enqueue }) => {
        const contended = context.queue.length > 0;
        if (contended === context.contended) return;
        enqueue.assign({ contended });
        for (const child of host.children()) {
          if (child.kind === 'pool') enqueue.sendTo(child.ref, { type: 'SLOTS.CONTENDED', contended });
        }
      }),
      grantTo: enqueueActions(({ event, enqueue }) => {
        const ref = event.type === 'SLOT.REQUEST' ? host.pool(event.key)?.actor : undefined;
        if (ref !== undefined) enqueue.sendTo(ref, GRANTED);
      }),
      grantToOldest: enqueueActions(({ context, enqueue }) => {
        const key = context.queue[0];
        const ref = key === undefined ? undefined : host.pool(key)?.actor;
        if (ref !== undefined) enqueue.sendTo(ref, GRANTED);
      }),
      stopPool: enqueueActions(({ event, enqueue }) => {
        const ref = event.type === 'POOL.CLOSED' ? host.pool(event.key)?.actor : undefined;
        if (ref !== undefined) enqueue.stopChild(ref);
      }),
      stopLink: enqueueActions(({ event, enqueue }) => {
        const ref = links.takeActor(idOf(event));
        if (ref !== undefined) enqueue.stopChild(ref);
      }),
      shutdownChildren: enqueueActions(({ enqueue }) => {
        for (const child of host.children()) {
          enqueue.sendTo(child.ref, child.kind === 'pool' ? { type: 'SHUTDOWN' } : { type: 'RETIRE', reason: 'shutdown' });
        }
      }),
      forceChildren: enqueueActions(({ enqueue }) => {
        for (const child of host.children()) enqueue.sendTo(child.ref, { type: 'FORCE' });
      }),
      evictLeastRecentlyUsed: enqueueActions(({ event, enqueue }) => {
        const victim = event.type === 'SLOT.REQUEST' ? host.leastRecentlyUsed(event.key) : undefined;
        if (victim !== undefined) enqueue.sendTo(victim, { type: 'EVICT' });
      }),
      notifyShutdownStarted: () => host.shutdownPhase('started'),
      notifyShutdownForced: () => host.shutdownPhase('forced'),
      notifyShutdownCompleted: () => host.shutdownPhase('completed'),
      linkReport: ({ event }) => {
        if (event.type.startsWith('CONNECTION.')) links.report(event as ConnectionReport);
      },
    },
  });

  return { manager, pool, connection };
}

export type { PoolContext };
