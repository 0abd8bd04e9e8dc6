import { expect, test } from 'vitest';
import {
  assign,
  createActor,
  fromCallback,
  setup,
  type AnyActorRef,
  type AnyEventObject,
  type InspectionEvent,
  type SimulatedClock,
} from 'xstate';
import type { ConnectionInput } from '../../machines/connection.machine.js';
import {
  liveConnections,
  poolMachine,
  type PoolConfig,
  type PoolContext,
  type PoolEvent,
  type PoolInput,
  type PoolReport,
} from '../../machines/pool.machine.js';
import { formatReport, runModel, type System } from './harness.js';

const BIG: PoolConfig = {
  minConnections: 1,
  maxConnections: 2,
  acquireTimeout: 30_000,
  maxIdleTime: 1000,
  ttl: 5000,
  maxAttempts: 1,
  attemptTimeout: Number.POSITIVE_INFINITY,
};
const SMALL: PoolConfig = { ...BIG, minConnections: 0, maxConnections: 1 };

/** The pool under a parent that records its reports; connections are inert stand-ins. */
function startPool(clock: SimulatedClock, inspect: (e: InspectionEvent) => void) {
  const machine = poolMachine.provide({
    // The test plays the connections by sending their reports itself.
    actors: { connection: fromCallback<AnyEventObject, ConnectionInput>(() => {}) as never },
  });
  const parent = setup({
    types: { context: {} as { reports: PoolReport[] }, events: {} as PoolReport },
    actors: { pool: machine },
  }).createMachine({
    context: { reports: [] },
    invoke: { id: 'pool', src: 'pool', input: { key: 'k', config: BIG } satisfies PoolInput },
    on: { '*': { actions: assign({ reports: ({ context, event }) => [...context.reports, event] }) } },
  });
  const root = createActor(parent, { clock, inspect });
  root.start();
  const target = root.getSnapshot().children.pool as AnyActorRef;
  const count = (type: PoolReport['type']) => root.getSnapshot().context.reports.filter((r) => r.type === type).length;
  let granted = 0;
  let requestsBefore = 0;
  let coolingSince: number | undefined;
  const system: System & { grant(): void } = {
    target,
    stop: () => root.stop(),
    grant() {
      granted++;
      target.send({ type: 'SLOT.GRANTED' } satisfies PoolEvent);
    },
    check(snapshot) {
      const c = snapshot.context as PoolContext;
      const live = liveConnections(c);
      for (const n of [c.connecting, c.open, c.draining, c.requested]) expect(n).toBeGreaterThanOrEqual(0);
      // Every live connection is a spawned child, and every spawned child is counted.
      expect(Object.keys(snapshot.children).length).toBe(live);
      // Every slot the manager granted is held by exactly one live connection or given back.
      expect(granted - count('SLOT.RELEASE')).toBe(live);
      // The pool never asks for a slot beyond maxConnections.
      const requests = count('SLOT.REQUEST');
      if (requests > requestsBefore) expect(live + c.requested).toBeLessThanOrEqual(c.config.maxConnections);
      requestsBefore = requests;
      // The breaker: while cooling down after a failure, no create is asked for.
      if (snapshot.matches({ running: 'coolingDown' })) {
        if (coolingSince !== undefined) expect(requests).toBe(coolingSince);
        coolingSince = requests;
      } else {
        coolingSince = undefined;
      }
      if (snapshot.matches('closed')) {
        expect(live).toBe(0);
        expect(count('POOL.CLOSED')).toBe(1);
      } else {
        expect(count('POOL.CLOSED')).toBe(0);
      }
    },
  };
  return system;
}

test('pool machine: every generated path, replayed on a running actor', async () => {
  let system: ReturnType<typeof startPool> | undefined;
  const report = await runModel({
    name: 'pool',
    machine: poolMachine,
    input: { key: 'k', config: BIG } satisfies PoolInput,
    events: (s) => {
      const id = Object.keys(s.children)[0] ?? 'none';
      const unknown = { holdMs: 0, createMs: 0, oldestWaitMs: 0 };
      // Known rates: connections held 10 ms, creates take 150 ms; "aged": a waiter waited 200 ms.
      const young = { holdMs: 10, createMs: 150, oldestWaitMs: 0 };
      const aged = { ...young, oldestWaitMs: 200 };
      const events: PoolEvent[] = [
        { type: 'DEMAND', waiting: 0, ...unknown },
        { type: 'DEMAND', waiting: 1, ...unknown },
        { type: 'DEMAND', waiting: 2, ...unknown },
        { type: 'DEMAND', waiting: 1, ...young },
        { type: 'DEMAND', waiting: 2, ...young },
        { type: 'DEMAND', waiting: 2, ...aged },
        { type: 'CONFIGURE', config: BIG },
        { type: 'CONFIGURE', config: SMALL },
        { type: 'CONNECTION.READY', id, attempt: 1, reconnected: false },
        { type: 'CONNECTION.FAILED', id, attempts: 1, error: 'ECONNREFUSED' },
        { type: 'CONNECTION.CONNECTING', id, attempt: 1 },
        { type: 'CONNECTION.BACKOFF', id, attempt: 1, delay: 100, error: 'ECONNREFUSED' },
        { type: 'CONNECTION.DRAINING', id, reason: 'idle', wasOpen: true, error: undefined },
        { type: 'CONNECTION.DRAINING', id, reason: 'unwanted', wasOpen: false, error: undefined },
        { type: 'CONNECTION.CLOSED', id, reason: 'idle', error: undefined },
        { type: 'CONNECTION.IDLE_EXPIRED', id },
        { type: 'CONNECTION.TTL_EXPIRED', id },
      ];
      return events;
    },
    // Only what a real environment can send in that state.
    filterEvents: (s, e) => {
      const c = s.context as PoolContext;
      switch (e.type) {
        case 'SLOT.GRANTED':
          return c.requested > 0;
        case 'CONNECTION.READY':
        case 'CONNECTION.FAILED':
        case 'CONNECTION.CONNECTING':
        case 'CONNECTION.BACKOFF':
          return c.connecting > 0;
        case 'CONNECTION.DRAINING':
          return (e as unknown as { wasOpen: boolean }).wasOpen ? c.open > 0 : c.connecting > 0;
        case 'CONNECTION.CLOSED':
          return c.draining > 0;
        case 'CONNECTION.IDLE_EXPIRED':
        case 'CONNECTION.TTL_EXPIRED':
          return c.open > 0;
        default:
          return true;
      }
    },
    serialize: (s) => {
      const c = s.context as PoolContext;
      return JSON.stringify({
        value: s.value,
        max: c.config.maxConnections,
        min: c.config.minConnections,
        counts: [c.connecting, c.open, c.draining, c.requested, c.waiting],
        facts: [c.holdMs, c.createMs, c.oldestWaitMs],
        // Only whether it failed once or more matters to the states; the count drives delays.
        failures: Math.min(c.failures, 2),
      });
    },
    start: (clock, inspect) => (system = startPool(clock, inspect)),
    perform(event) {
      if (event.type !== 'SLOT.GRANTED') return false;
      system?.grant();
      return true;
    },
  });
  console.log(formatReport(report));
  expect(report.states.missing).toEqual([]);
  expect(report.transitions.missing).toEqual([]);
}, 120_000);
