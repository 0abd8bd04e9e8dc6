/**
 * The pool model (test/model/pool.model.test.ts): the scenarios it runs, and in each what the
 * environment (the manager, the ledger, the connections) may send in a state, and how a state
 * is serialized to keep the graph finite.
 */
import type { AnyMachineSnapshot } from 'xstate';
import type { PoolConfig, PoolContext, PoolEvent, PoolInput } from '../../machines/pool.machine.js';
import { connectionPhases, liveChildren, type Phases } from './pool.environment.js';
import { BIG, instrumented, SCHEDULED_SWEEP, SMALL, unknown, young } from './pool.fixtures.js';
import { startPool } from './pool.invariants.js';
import type { ModelSpec } from './harness.js';

/**
 * What the environment does in one run, beyond the connections' reports (all of them, always).
 * The regions and concerns multiply each other's states, so each run explores one concern
 * (demand and the breaker; resizing; housekeeping) against a simpler environment for the rest;
 * together they cover every state and transition.
 */
export interface Scenario {
  name: string;
  demands: PoolEvent[];
  /** Configurations it may switch to. */
  configs: PoolConfig[];
  /** The ledger schedules sweeps. */
  sweeps: boolean;
  /** The manager says when other keys wait for slots. */
  contention: boolean;
}

export const SCENARIOS: Scenario[] = [
  {
    name: 'breaker',
    demands: [
      { type: 'DEMAND', waiting: 0, ...unknown },
      { type: 'DEMAND', waiting: 1, ...unknown },
      { type: 'DEMAND', waiting: 2, ...unknown },
      { type: 'DEMAND', waiting: 1, ...young },
    ],
    configs: [],
    sweeps: false,
    contention: true,
  },
  {
    name: 'resize',
    demands: [
      { type: 'DEMAND', waiting: 0, ...unknown },
      { type: 'DEMAND', waiting: 2, ...unknown },
    ],
    configs: [BIG, SMALL],
    sweeps: false,
    contention: false,
  },
  {
    name: 'housekeeping',
    demands: [
      { type: 'DEMAND', waiting: 0, ...unknown },
      { type: 'DEMAND', waiting: 1, ...unknown },
    ],
    configs: [],
    sweeps: true,
    contention: false,
  },
];

/** The demand facts the runtime's CLOSED reports carry (the ledger's, at the close). */
const closedFacts = (waiting: number) => ({ waiting, ...unknown });

/**
 * The connections' reports, each as a child that can send it, of the current episode and of
 * an older one: a connecting child becomes ready, fails, or closes unwanted (with callers
 * waiting, or without facts, as a pool run alone hears); an open one closes (callers waiting or
 * not), or drops within its stability window (callers waiting).
 */
function reportsFrom(snapshot: AnyMachineSnapshot, env: Phases): PoolEvent[] {
  const c = snapshot.context as PoolContext;
  const children = liveChildren(snapshot, env);
  const events: PoolEvent[] = [];
  for (const current of [true, false]) {
    const ofEpisode = children.filter((child) => (child.epoch === c.epoch) === current);
    const connecting = ofEpisode.find((child) => child.phase === 'connecting');
    if (connecting !== undefined) {
      const { id, epoch } = connecting;
      events.push(
        { type: 'CONNECTION.READY', id, epoch },
        { type: 'CONNECTION.FAILED', id, epoch, attempts: 1, error: 'ECONNREFUSED', permanent: false },
        { type: 'CONNECTION.CLOSED', id, epoch, reason: 'unwanted', opened: false, failedAttempt: false, permanent: false, error: undefined },
        { type: 'CONNECTION.CLOSED', id, epoch, reason: 'unwanted', opened: false, failedAttempt: false, permanent: false, error: undefined, ...closedFacts(1) },
      );
    }
    const open = ofEpisode.find((child) => child.phase === 'open');
    if (open !== undefined) {
      const { id, epoch } = open;
      events.push(
        { type: 'CONNECTION.CLOSED', id, epoch, reason: 'idle', opened: true, failedAttempt: false, permanent: false, error: undefined, ...closedFacts(0) },
        { type: 'CONNECTION.CLOSED', id, epoch, reason: 'idle', opened: true, failedAttempt: false, permanent: false, error: undefined, ...closedFacts(1) },
        { type: 'CONNECTION.CLOSED', id, epoch, reason: 'dropped', opened: true, failedAttempt: true, permanent: false, error: 'ECONNRESET', ...closedFacts(1) },
      );
    }
  }
  return events;
}

export function poolModel(scenario: Scenario): ModelSpec<Phases> {
  return {
    name: `pool (${scenario.name})`,
    machine: instrumented([], new Map()),
    input: { key: 'k', config: BIG } satisfies PoolInput,
    environment: connectionPhases,
    events: (s, env) => [
      // The manager may grant a slot whatever the pool is doing by then.
      { type: 'SLOT.GRANTED' },
      ...scenario.demands,
      ...scenario.configs.map((config): PoolEvent => ({ type: 'CONFIGURE', config })),
      ...(scenario.sweeps ? [{ type: 'SWEEP.SCHEDULE', delay: SCHEDULED_SWEEP } satisfies PoolEvent] : []),
      ...(scenario.contention ? [true, false].map((contended): PoolEvent => ({ type: 'SLOTS.CONTENDED', contended })) : []),
      ...reportsFrom(s, env),
    ],
    // Only what a real environment can send in that state.
    filterEvents: (s, e) => {
      const c = s.context as PoolContext;
      const event = e as PoolEvent;
      // Events sent bare because the scenario gives no payload for them: left out.
      if (
        (event.type === 'CONFIGURE' && event.config === undefined) ||
        (event.type === 'SLOTS.CONTENDED' && event.contended === undefined) ||
        (event.type.startsWith('CONNECTION.') && !('id' in event))
      ) {
        return false;
      }
      const running = s.matches('running');
      switch (event.type) {
        case 'SLOT.GRANTED':
          // (The manager forgets a closed pool's requests.)
          return c.requested > 0 && !s.matches('closed');
        case 'DEMAND':
          // The ledger skips a DEMAND that cannot matter, as every one after the shutdown.
          return running;
        case 'CONFIGURE':
          return running && event.config.maxConnections !== c.config.maxConnections;
        case 'EVICT':
          return running && c.open > 0;
        case 'SLOTS.CONTENDED':
          // The manager tells its pools when the queue's emptiness changes (a closed one is gone).
          return !s.matches('closed') && event.contended !== c.contended;
        case 'SWEEP.SCHEDULE':
          // A connection got a deadline sooner than the sweep now scheduled.
          return running && scenario.sweeps && c.open > 0 && event.delay < c.sweepDelay;
        default:
          return true;
      }
    },
    serialize: (s, env) => {
      const c = s.context as PoolContext;
      // Draining, only the counts matter; epochs, failures and nextId never do (they only grow,
      // and the breaker's delay is all the failure count changes).
      if (!s.matches('running')) return JSON.stringify([s.value, c.connecting, c.open, c.requested]);
      return JSON.stringify([
        s.value,
        c.config.maxConnections,
        [c.connecting, c.open, c.requested, c.waiting],
        [c.holdMs, c.createMs, c.oldestWaitMs],
        c.sweepDelay,
        c.contended,
        // How many connecting and open connections belong to an older episode (their failures
        // count for nothing).
        ['connecting', 'open'].map(
          (phase) => liveChildren(s, env).filter((child) => child.phase === phase && child.epoch < c.epoch).length,
        ),
      ]);
    },
    start: (clock, inspect) => startPool(clock, inspect),
  };
}
