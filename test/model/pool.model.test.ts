/**
 * Model-based test of the pool machine: every state and transition of both regions (creates,
 * housekeeping), reached by generated paths replayed on a running pool under a parent that
 * records its reports. The test plays the manager (SLOT.GRANTED), the ledger (DEMAND, EVICT,
 * SWEEP.SCHEDULE) and the connections (their reports); the connections themselves are inert
 * stand-ins spawned by the machine's default spawnConnection, so `children` are the live ones.
 *
 * The subtlety is the epoch: a report counts as a new failure episode only if the connection
 * was spawned in the current one. The model reads each live child's epoch from its input, keeps
 * which child is open as its environment (the pool only counts them), and sends each report as
 * a child that can send it: the first connecting or open child of the current episode and of an
 * older one. The serialized state keeps how many live children are of an older episode, not
 * the epochs (they grow without bound).
 */
import { expect, test } from 'vitest';
import {
  assign,
  createActor,
  fromCallback,
  setup,
  type AnyActorRef,
  type AnyEventObject,
  type AnyMachineSnapshot,
  type InspectionEvent,
  type SimulatedClock,
} from 'xstate';
import type { ConnectionInput } from '../../machines/connection.machine.js';
import { liveConnections } from '../../machines/pool.decisions.js';
import {
  createStateOf,
  demandMatters,
  poolMachine,
  type PoolConfig,
  type PoolContext,
  type PoolEvent,
  type PoolInput,
  type PoolReport,
} from '../../machines/pool.machine.js';
import {
  formatReport,
  holds,
  mergeReports,
  pendingTimers,
  runModel,
  same,
  type Environment,
  type ModelSpec,
  type System,
} from './harness.js';

/** Delays (ms), distinct to read traces by: breaker 300 then 600, stability 250, recheck 150, sweeps 400 and 450. */
const BIG: PoolConfig = {
  minConnections: 1,
  maxConnections: 2,
  acquireTimeout: 30_000,
  maxIdleTime: 1000,
  ttl: 5000,
  maxLifetime: 8000,
  maxAttempts: 1,
  attemptTimeout: Number.POSITIVE_INFINITY,
  breaker: { initialDelay: 300, maxDelay: 600 },
  stabilityWindow: 250,
  validationTimeout: 50,
  destroyTimeout: 60,
};
const SMALL: PoolConfig = { ...BIG, minConnections: 0, maxConnections: 1 };
const SCHEDULED_SWEEP = 400;
const NEXT_SWEEP = 450;

const EFFECTS = [
  'reportDemand',
  'rejectWaiters',
  'rejectAllWaiters',
  'retireSurplus',
  'retireAll',
  'forceAll',
  'evictIdle',
  'notifyDraining',
  'notifyClosed',
] as const;
type Effect = (typeof EFFECTS)[number];

/**
 * The pool as traversed and run: inert connections, a sweep that (like the runtime's) answers
 * the next deadline while a connection is open and nothing otherwise, and every ledger effect
 * logged.
 */
function instrumented(log: Effect[]) {
  return poolMachine.provide({
    actors: { connection: fromCallback<AnyEventObject, ConnectionInput>(() => {}) as never },
    actions: {
      sweep: assign({ sweepDelay: ({ context }) => (context.open > 0 ? NEXT_SWEEP : Number.POSITIVE_INFINITY) }),
      ...Object.fromEntries(
        EFFECTS.map((name) => [
          name,
          () => {
            log.push(name);
          },
        ]),
      ),
    },
  });
}

/** Which live connections are open (the pool only counts them), by child id. */
type Phases = Readonly<{ [id: string]: 'connecting' | 'open' }>;

const connectionPhases: Environment<Phases> = {
  initial: {},
  next(env, event, after) {
    const ids = Object.keys(after.children);
    const readied = event.type === 'CONNECTION.READY' ? (event as Report).id : undefined;
    const next: { [id: string]: 'connecting' | 'open' } = {};
    let unchanged = ids.length === Object.keys(env).length;
    for (const id of ids) {
      const phase = id === readied ? 'open' : (env[id] ?? 'connecting');
      next[id] = phase;
      if (env[id] !== phase) unchanged = false;
    }
    return unchanged ? env : next;
  },
};

interface Child {
  id: string;
  /** The epoch it was spawned in (its input). */
  epoch: number;
  phase: 'connecting' | 'open';
}

/** The live children, oldest first. */
function liveChildren(snapshot: AnyMachineSnapshot, env: Phases): Child[] {
  const spawned = (id: string) => Number(id.slice(id.indexOf('#') + 1));
  return Object.entries(snapshot.children as { [id: string]: AnyActorRef })
    .map(([id, child]) => ({
      id,
      epoch: (child.getSnapshot() as { input: ConnectionInput }).input.epoch,
      phase: env[id] ?? 'connecting',
    }))
    .sort((a, b) => spawned(a.id) - spawned(b.id));
}

type Report = Extract<PoolEvent, { type: `CONNECTION.${string}` }>;

/** The pool under a parent that records its reports. */
function startPool(clock: SimulatedClock, inspect: (e: InspectionEvent) => void) {
  const effects: Effect[] = [];
  const sent = { 'SLOT.REQUEST': 0, 'SLOT.RELEASE': 0, 'POOL.CLOSED': 0 };
  const parent = setup({
    types: { events: {} as PoolReport },
    actors: { pool: instrumented(effects) },
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
  let effectsBefore = 0;
  const system: System<Phases> = {
    target,
    stop: () => root.stop(),
    check(snapshot, event, env) {
      const c = snapshot.context as PoolContext;
      const b = before.context as PoolContext;
      const live = liveConnections(c);
      const newRequests = sent['SLOT.REQUEST'] - requestsBefore;
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
      // A connection carries the episode it was spawned in.
      for (const child of children) {
        if (before.children[child.id] === undefined) same(child.epoch, c.epoch, `${child.id} spawned in the current episode`);
      }
      // Failures: +1 exactly on a new-episode failure (which opens the breaker and a new
      // episode), reset only once the pool has been stable; never otherwise.
      const report = event?.type.startsWith('CONNECTION.') ? (event as Report) : undefined;
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
      effectsBefore = effects.length;
    },
  };
  return system;
}

const unknown = { holdMs: 0, createMs: 0, oldestWaitMs: 0 };
// Known rates: connections held 10 ms, creates take 150 ms: one lent connection serves a waiter sooner.
const young = { holdMs: 10, createMs: 150, oldestWaitMs: 0 };

/**
 * What the environment does in one run, beyond the connections' reports (all of them, always).
 * The regions and concerns multiply each other's states, so each run explores one concern
 * (demand and the breaker; resizing; housekeeping) against a simpler environment for the rest;
 * together they cover every state and transition.
 */
interface Scenario {
  name: string;
  demands: PoolEvent[];
  /** Configurations it may switch to. */
  configs: PoolConfig[];
  /** The ledger schedules sweeps. */
  sweeps: boolean;
}

const SCENARIOS: Scenario[] = [
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
  },
  {
    name: 'resize',
    demands: [
      { type: 'DEMAND', waiting: 0, ...unknown },
      { type: 'DEMAND', waiting: 2, ...unknown },
    ],
    configs: [BIG, SMALL],
    sweeps: false,
  },
  {
    name: 'housekeeping',
    demands: [
      { type: 'DEMAND', waiting: 0, ...unknown },
      { type: 'DEMAND', waiting: 1, ...unknown },
    ],
    configs: [],
    sweeps: true,
  },
];

/**
 * The connections' reports, each as a child that can send it, of the current episode and of
 * an older one: a connecting child becomes ready, fails, or closes unwanted; an open one
 * closes, or drops within its stability window.
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
        { type: 'CONNECTION.CLOSED', id, epoch, reason: 'unwanted', opened: false, failedAttempt: false, error: undefined },
      );
    }
    const open = ofEpisode.find((child) => child.phase === 'open');
    if (open !== undefined) {
      const { id, epoch } = open;
      events.push(
        { type: 'CONNECTION.CLOSED', id, epoch, reason: 'idle', opened: true, failedAttempt: false, error: undefined },
        { type: 'CONNECTION.CLOSED', id, epoch, reason: 'dropped', opened: true, failedAttempt: true, error: 'ECONNRESET' },
      );
    }
  }
  return events;
}

function poolModel(scenario: Scenario): ModelSpec<Phases> {
  return {
    name: `pool (${scenario.name})`,
    machine: instrumented([]),
    input: { key: 'k', config: BIG } satisfies PoolInput,
    environment: connectionPhases,
    events: (s, env) => [
      // The manager may grant a slot whatever the pool is doing by then.
      { type: 'SLOT.GRANTED' },
      ...scenario.demands,
      ...scenario.configs.map((config): PoolEvent => ({ type: 'CONFIGURE', config })),
      ...(scenario.sweeps ? [{ type: 'SWEEP.SCHEDULE', delay: SCHEDULED_SWEEP } satisfies PoolEvent] : []),
      ...reportsFrom(s, env),
    ],
    // Only what a real environment can send in that state.
    filterEvents: (s, e) => {
      const c = s.context as PoolContext;
      const event = e as PoolEvent;
      // Events sent bare because the scenario gives no payload for them: left out.
      if ((event.type === 'CONFIGURE' && event.config === undefined) || (event.type.startsWith('CONNECTION.') && !('id' in event))) {
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
