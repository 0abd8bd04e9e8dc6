/**
 * Every place the library relies on XState internals, in one file. XState is pinned to an
 * exact version in package.json, and test/xstate-internals.test.ts checks each assumption
 * below against the installed version, so an upgrade that changes one fails a test instead of
 * silently slowing or breaking the pools. docs/architecture.md explains why each is needed.
 *
 * 1. `system.scheduler.cancelAll(actor)` runs whenever any actor stops and walks every delayed
 *    event of the whole actor system to find that actor's own. With thousands of connections
 *    each in a state with a timer (connecting, closing), stopping them all was quadratic. We
 *    index the delayed events by their source actor, so cancelAll visits only the actor's own.
 * 2. An actor created with `createActor(logic, { parent })` (kept in our registries rather than
 *    in the parent's `children` record, which XState copies on every spawn and stop) is not
 *    stopped by XState when its parent stops; we stop it with the `xstate.stop` event, which is
 *    what XState itself sends a child it stops.
 * 3. `actor._parent` (read in machines/report.ts) says whether an actor has a parent.
 */
import type { AnyActorRef } from 'xstate';

/** The XState version these assumptions were checked against. */
export const XSTATE_VERSION = '5.33.3';

interface ScheduledEvent {
  source: AnyActorRef;
  id: string;
}

interface Scheduler {
  schedule(source: AnyActorRef, target: AnyActorRef, event: unknown, delay: number, id?: string): void;
  cancel(source: AnyActorRef, id: string): void;
  cancelAll(actor: AnyActorRef): void;
}

interface SystemInternals {
  scheduler: Scheduler;
  _snapshot: { _scheduledEvents: Record<string, ScheduledEvent | undefined> };
}

const indexed = new WeakSet<object>();

/**
 * Makes `cancelAll` of `actor`'s system proportional to the stopping actor's own delayed
 * events. The index may hold ids of events that have fired since (the timer callback deletes
 * them from XState's record without telling the scheduler); cancelAll skips those. Ids of
 * `after` events are fixed per state, so an actor's set stays small.
 */
export function indexScheduler(actor: AnyActorRef): void {
  const system = actor.system as unknown as SystemInternals;
  const scheduler = system.scheduler;
  if (indexed.has(scheduler)) return;
  indexed.add(scheduler);
  const bySource = new WeakMap<AnyActorRef, Set<string>>();
  const schedule = scheduler.schedule.bind(scheduler);
  const cancel = scheduler.cancel.bind(scheduler);
  scheduler.schedule = (source, target, event, delay, id = Math.random().toString(36).slice(2)) => {
    schedule(source, target, event, delay, id);
    let ids = bySource.get(source);
    if (ids === undefined) bySource.set(source, (ids = new Set()));
    ids.add(id);
  };
  scheduler.cancel = (source, id) => {
    cancel(source, id);
    bySource.get(source)?.delete(id);
  };
  scheduler.cancelAll = (source) => {
    const ids = bySource.get(source);
    if (ids === undefined) return;
    bySource.delete(source);
    const events = system._snapshot._scheduledEvents;
    for (const id of ids) {
      if (events[`${source.sessionId}.${id}`] !== undefined) cancel(source, id);
    }
  };
}

/** Stops an actor that is not in its parent's `children` record (see 2 above). */
export function stopActor(actor: AnyActorRef): void {
  actor.send({ type: 'xstate.stop' });
}
