/**
 * Model-based test of the pool machine: every state and transition of both regions (creates,
 * housekeeping), reached by generated paths replayed on a running pool under a parent that
 * records its reports. The test plays the manager (SLOT.GRANTED), the ledger (DEMAND, EVICT,
 * SWEEP.SCHEDULE) and the connections (their reports); the connections themselves are inert
 * stand-ins spawned by the machine's default spawnConnection, so `children` are the live ones.
 *
 * The subtlety is the epoch: a report counts as a new failure episode only if the connection
 * was started in the current one. The pool only counts its connections, so the model keeps, as
 * its environment, each live child's phase (connecting or open) and the epoch it was STARTed in
 * (spawned, or reused for the next connection when its slot is: a CLOSED child that stays live),
 * checked against the START the stand-in received; it sends each report as a child that can
 * send it: the first connecting or open child of the current episode and of an older one. The
 * serialized state keeps how many live children are of an older episode, not the epochs (they
 * grow without bound). CLOSED reports carry the ledger's demand facts, as the runtime's do (or
 * none, as a pool run alone gets them), and the manager may say that other keys wait for slots
 * (SLOTS.CONTENDED): together they decide whether a closed connection's slot is reused.
 *
 * The parts: the instrumented pool and its configurations (pool.fixtures.ts), the environment
 * the model keeps (pool.environment.ts), the invariants checked after each step
 * (pool.invariants.ts), and the scenarios with what may be sent in each state
 * (pool.scenarios.ts). The scenarios run in one test: only together do they cover everything.
 */
import { expect, test } from 'vitest';
import { createActor, type AnyActorRef } from 'xstate';
import { poolMachine } from '../../machines/pool.machine.js';
import { BIG, unknown } from './pool.fixtures.js';
import { poolModel, SCENARIOS } from './pool.scenarios.js';
import { formatReport, mergeReports, runModel } from './harness.js';

test('pool machine: every generated path, replayed on a running actor', () => {
  const reports = SCENARIOS.map((scenario) => runModel(poolModel(scenario)));
  for (const r of reports) console.log(formatReport(r));
  const merged = mergeReports('pool', reports);
  console.log(formatReport(merged));
  expect(merged.states.missing).toEqual([]);
  expect(merged.transitions.missing).toEqual([]);
}, 60_000);

test('pool machine runs alone: no parent, no runtime', () => {
  // A finite attemptTimeout: with XState's default clock, the machine would arm a timer of
  // Infinity ms, which Node clamps to 1 ms (the runtime's clock never arms one).
  const actor = createActor(poolMachine, { input: { key: 'k', config: { ...BIG, attemptTimeout: 5000 } } });
  actor.start();
  actor.send({ type: 'DEMAND', waiting: 2, ...unknown });
  // Alone, nobody grants its requests: they stay pending.
  expect(actor.getSnapshot().context.requested).toBe(2);
  actor.send({ type: 'SLOT.GRANTED' });
  const spawned = actor.getSnapshot();
  expect(spawned.context.connecting).toBe(1);
  // The default spawnConnection starts a real connection machine as a child.
  const child = spawned.children['k#1'] as AnyActorRef | undefined;
  expect(child?.getSnapshot().value).toEqual({ connecting: 'timed' });
  // The child reports to its parent, the pool.
  child?.send({ type: 'CREATED', lent: false });
  expect(actor.getSnapshot().context.open).toBe(1);
  // It closes while two callers still wait (one slot asked for): the same actor begins the
  // next connection in its slot.
  child?.send({ type: 'RETIRE', reason: 'idle' });
  child?.send({ type: 'DESTROYED' });
  const reused = actor.getSnapshot();
  expect(reused.children['k#1']).toBe(child);
  expect(reused.context).toMatchObject({ connecting: 1, open: 0, requested: 1, nextId: 2 });
  expect(child?.getSnapshot().value).toEqual({ connecting: 'timed' });
  child?.send({ type: 'CREATED', lent: false });
  actor.send({ type: 'SHUTDOWN' });
  expect(actor.getSnapshot().matches('draining')).toBe(true);
  child?.send({ type: 'RETIRE', reason: 'shutdown' });
  child?.send({ type: 'DESTROYED' });
  const closed = actor.getSnapshot();
  expect(closed.matches('closed')).toBe(true);
  expect(closed.context.open).toBe(0);
  expect(Object.keys(closed.children)).toEqual([]);
  actor.stop();
});
