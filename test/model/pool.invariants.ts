/**
 * The pool's invariants (test/model/pool.model.test.ts), checked after every step of every
 * generated path on a running pool under a parent that plays the manager and records the
 * pool's reports: slots, the breaker and its episodes, slot reuse, the STARTs each connection
 * received, demand elision, housekeeping's one timer, and the shutdown.
 */
import { expect } from 'vitest';
import { createActor, setup, type AnyActorRef, type AnyMachineSnapshot, type InspectionEvent, type SimulatedClock } from 'xstate';
import type { ConnectionInput } from '../../machines/connection.machine.js';
import { connectionsWanted, liveConnections } from '../../machines/pool.decisions.js';
import {
  createStateOf,
  demandMatters,
  type ClosedReport,
  type CreateState,
  type PoolContext,
  type PoolEvent,
  type PoolInput,
  type PoolReport,
} from '../../machines/pool.machine.js';
import { liveChildren, type Phases, type Report } from './pool.environment.js';
import { BIG, instrumented, type Effect, type Starts } from './pool.fixtures.js';
import { holds, pendingTimers, same, type System } from './harness.js';

/** The creates phase a pool in `state` decides reuse in, if it may reuse a closed connection's slot. */
function reusePhase(state: CreateState): 'steady' | 'recovering' | undefined {
  if (state === 'creating' || state === 'awaitingReturns') return 'steady';
  return state === 'recovering' ? 'recovering' : undefined;
}

/** The pool under a parent that records its reports. */
export function startPool(clock: SimulatedClock, inspect: (e: InspectionEvent) => void) {
  const effects: Effect[] = [];
  const starts: Starts = new Map();
  const sent = { 'SLOT.REQUEST': 0, 'SLOT.RELEASE': 0, 'POOL.CLOSED': 0 };
  const parent = setup({
    types: { events: {} as PoolReport },
    actors: { pool: instrumented(effects, starts) },
  }).createMachine({
    invoke: { id: 'pool', src: 'pool', input: { key: 'k', config: BIG } satisfies PoolInput },
    on: {
      '*': {
        actions: ({ event }) => {
          sent[event.type]++;
          same(event.key, 'k', 'the key a report names');
        },
      },
    },
  });
  const root = createActor(parent, { clock, inspect });
  root.start();
  const target = root.getSnapshot().children.pool as AnyActorRef;
  const effectCount = (name: Effect) => effects.filter((e) => e === name).length;
  let granted = 0;
  let before = target.getSnapshot() as AnyMachineSnapshot;
  let requestsBefore = 0;
  let releasesBefore = 0;
  let effectsBefore = 0;
  /** What the manager said last (a pool begins uncontended). */
  let contended = false;
  /** Per child id: how many times its slot was reused (each one more START). */
  const reuses = new Map<string, number>();
  const system: System<Phases> = {
    target,
    stop: () => root.stop(),
    check(snapshot, event, env) {
      const c = snapshot.context as PoolContext;
      const b = before.context as PoolContext;
      const live = liveConnections(c);
      const newRequests = sent['SLOT.REQUEST'] - requestsBefore;
      const newReleases = sent['SLOT.RELEASE'] - releasesBefore;
      const state = createStateOf(snapshot.value);
      const stateBefore = createStateOf(before.value);
      if (event?.type === 'SLOT.GRANTED') granted++;

      holds(c.connecting >= 0 && c.open >= 0 && c.requested >= 0, 'counts are never negative');
      // Every live connection is a spawned child, and every spawned child is counted.
      same(Object.keys(snapshot.children).length, live, 'children = connecting + open');
      // Slots: every grant is held by exactly one live connection or given back; every request
      // is granted or still counted as requested.
      same(granted - sent['SLOT.RELEASE'], live, 'slots granted - released = live connections');
      same(sent['SLOT.REQUEST'] - granted, c.requested, 'slots requested - granted = requested');
      // Never asks beyond maxConnections.
      if (newRequests > 0) holds(live + c.requested <= c.config.maxConnections, 'a request beyond maxConnections');
      // The breaker: no slot asked for and no create started while cooling down.
      if (state === 'coolingDown') {
        same(newRequests, 0, 'slots requested while cooling down');
        same(c.nextId, b.nextId, 'a connection spawned while cooling down');
      }
      // While probing, one create at a time: one slot asked for, one connection of the episode.
      if (state === 'probing' && newRequests > 0) same(c.connecting + c.requested, 1, 'one probe at a time');
      const children = liveChildren(snapshot, env);
      if (state === 'probing') holds(children.filter((child) => child.epoch === c.epoch).length <= 1, 'one probe at a time');
      same(children.filter((child) => child.phase === 'open').length, c.open, 'open = the children that reported READY');
      const report = event?.type.startsWith('CONNECTION.') ? (event as Report) : undefined;
      // A connection that reports its end is stopped and its slot given back, unless its slot
      // is reused: then the same child begins the next connection (it stays live, connecting).
      const reused = report?.type === 'CONNECTION.CLOSED' && snapshot.children[report.id] !== undefined;
      if (reused) {
        reuses.set(report.id, (reuses.get(report.id) ?? 0) + 1);
        const facts = report as ClosedReport;
        // Only for the key's own demand (waiters, or the minimum), only when no other key waits
        // for a slot, and never while the breaker holds creates back or for a new failure.
        holds(!b.contended, 'a slot reused while other keys wait for slots');
        const phase = reusePhase(stateBefore);
        holds(phase !== undefined, () => `a slot reused in ${stateBefore}`);
        holds(!(report.failedAttempt && report.epoch === b.epoch), 'a slot reused for a connection that opened the breaker');
        const waiting = facts.waiting ?? b.waiting;
        holds(waiting > 0 || (phase === 'steady' && live - 1 < c.config.minConnections), 'a slot reused with nobody waiting');
        same(c.waiting, waiting, 'a reuse records the demand the report carries');
        if (phase === 'steady') same(state, 'creating', 'a reuse in steady creates');
        // The slot stays with the key: not released (nor counted as asked for: see the slot
        // invariants above).
        same(newReleases, 0, 'a reused slot released');
        same(env[report.id]?.phase, 'connecting', 'a reused connection is connecting');
      } else if (report?.type === 'CONNECTION.CLOSED' || report?.type === 'CONNECTION.FAILED') {
        holds(snapshot.children[report.id] === undefined, `${report.id} ended and was not stopped`);
        same(newReleases, 1, 'the slot of an ended connection goes back');
        // No round trip: uncontended, a slot is released only when the key wants no connection
        // now (else the same slot would be asked for again at once).
        const phase = reusePhase(stateBefore);
        const failure = report.epoch === b.epoch && (report.type === 'CONNECTION.FAILED' || report.failedAttempt);
        if (report.type === 'CONNECTION.CLOSED' && phase !== undefined && !b.contended && !failure) {
          same(connectionsWanted(c, phase), 0, 'a slot released that the key still wanted');
        }
      }
      // Every live connection was STARTed once, and once more per reuse of its slot, with the
      // pool's input for it: its own id and the epoch (and config) of the moment.
      for (const child of children) {
        const inputs = starts.get(child.id) ?? [];
        same(inputs.length, 1 + (reuses.get(child.id) ?? 0), `STARTs received by ${child.id}`);
        same(inputs.at(-1)?.epoch, child.epoch, `${child.id} STARTed in the epoch the model says`);
        if (before.children[child.id] === undefined || (reused && report.id === child.id)) {
          expect(inputs.at(-1), `${child.id} STARTed with the pool's input`).toEqual({
            id: child.id,
            key: 'k',
            maxAttempts: c.config.maxAttempts,
            attemptTimeout: c.config.attemptTimeout,
            supervised: false,
            epoch: c.epoch,
            stabilityWindow: c.config.stabilityWindow,
            validationTimeout: c.config.validationTimeout,
            destroyTimeout: c.config.destroyTimeout,
          } satisfies ConnectionInput);
        }
      }
      // Contention is what the manager said last (while the pool runs to hear it).
      if (event?.type === 'SLOTS.CONTENDED' && before.matches('running')) {
        contended = (event as Extract<PoolEvent, { type: 'SLOTS.CONTENDED' }>).contended;
      }
      same(c.contended, contended, 'contended = what the manager said last');
      // Failures: +1 exactly on a new-episode failure (which opens the breaker and a new
      // episode), reset only once the pool has been stable; never otherwise.
      const newEpisode =
        stateBefore !== 'stopping' &&
        report !== undefined &&
        report.epoch === b.epoch &&
        (report.type === 'CONNECTION.FAILED' || (report.type === 'CONNECTION.CLOSED' && report.failedAttempt));
      if (newEpisode) {
        same(c.failures, b.failures + 1, 'a new failure episode counts once');
        same(c.epoch, b.epoch + 1, 'a new failure episode starts a new epoch');
        same(state, 'coolingDown', 'a new failure episode opens the breaker');
      } else {
        same(c.epoch, b.epoch, 'the epoch changes only when the breaker opens');
        const stable = event?.type.startsWith('xstate.after.') === true && stateBefore === 'recovering' && state !== 'recovering';
        same(c.failures, stable ? 0 : b.failures, stable ? 'failures reset once stable' : 'failures change only on a new episode');
      }
      if (report?.type === 'CONNECTION.FAILED' && state !== 'stopping') {
        holds(effects.slice(effectsBefore).includes('rejectWaiters'), 'a failed create reaches a waiter');
      }
      // The ledger skips a DEMAND that would not matter: skipping it must not lose a request,
      // and one that matters must make the pool act.
      if (event?.type === 'DEMAND') {
        const facts = event as Extract<PoolEvent, { type: 'DEMAND' }>;
        const matters = demandMatters(stateBefore, { ...b, ...facts });
        const acted = newRequests > 0 || (stateBefore === 'creating' && state === 'awaitingReturns');
        same(acted, matters, `the pool acted on a DEMAND: demandMatters says ${matters}`);
      }
      // Housekeeping: one timer for the whole pool, pending exactly while a sweep is scheduled.
      const timers = pendingTimers(target);
      const scheduled = snapshot.matches({ running: { housekeeping: 'scheduled' } });
      const sweeps = timers.filter((t) => t.type.includes('housekeeping'));
      same(sweeps.length, scheduled ? 1 : 0, 'sweep timers pending');
      // ... armed for the earliest deadline reported.
      if (scheduled) same(sweeps[0]?.delay, c.sweepDelay, 'the sweep timer is armed for the sweep delay');
      const running = snapshot.matches('running');
      if (running) same(Number.isFinite(c.sweepDelay), scheduled, 'a sweep delay exactly while scheduled');
      // Shutdown: waiters rejected and connections retired once, then nothing more is asked for
      // and no timer runs; closed when nothing is live, reported once.
      if (!running) {
        same(timers.length, 0, 'timers pending after shutdown');
        same(effectCount('rejectAllWaiters'), 1, 'waiters rejected at shutdown');
        same(effectCount('retireAll'), 1, 'connections retired at shutdown');
        if (stateBefore === 'stopping') {
          same(newRequests, 0, 'slots requested after shutdown');
          same(c.nextId, b.nextId, 'a connection spawned after shutdown');
        }
      }
      const closed = snapshot.matches('closed');
      same(sent['POOL.CLOSED'], closed ? 1 : 0, 'POOL.CLOSED reported once, when closed');
      if (closed) {
        same(live, 0, 'closed with live connections');
        same(effects.at(-1), 'notifyClosed', 'the last effect');
      }

      before = snapshot;
      requestsBefore = sent['SLOT.REQUEST'];
      releasesBefore = sent['SLOT.RELEASE'];
      effectsBefore = effects.length;
    },
  };
  return system;
}
