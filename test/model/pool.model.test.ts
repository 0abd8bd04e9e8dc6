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
import { connectionsWanted, liveConnections } from '../../machines/pool.decisions.js';
import {
  createStateOf,
  demandMatters,
  poolMachine,
  type ClosedReport,
  type CreateState,
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

/** Per child id: the inputs of the STARTs it received, in order. */
type Starts = Map<string, ConnectionInput[]>;

/**
 * The pool as traversed and run: inert connections that record the STARTs they receive, a
 * sweep that (like the runtime's) answers the next deadline while a connection is open and
 * nothing otherwise, and every ledger effect logged.
 */
function instrumented(log: Effect[], starts: Starts) {
  const connection = fromCallback<AnyEventObject>(({ self, receive }) => {
    const received: ConnectionInput[] = [];
    starts.set(self.id, received);
    receive((event) => {
      if (event.type === 'START') received.push((event as { type: 'START'; input: ConnectionInput }).input);
    });
  });
  return poolMachine.provide({
    actors: { connection: connection as never },
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

/** A live connection as the environment knows it: open or not, and the epoch it was STARTed in. */
interface Connection {
  phase: 'connecting' | 'open';
  epoch: number;
}

/** The live connections (the pool only counts them), by child id. */
type Phases = Readonly<{ [id: string]: Connection }>;

/**
 * A child that appears was spawned and STARTed in the pool's current epoch; one that reported
 * CLOSED and is still live was STARTed again (reused), in the current epoch too; READY opens one.
 */
const connectionPhases: Environment<Phases> = {
  initial: {},
  next(env, event, after) {
    const ids = Object.keys(after.children);
    const epoch = (after.context as PoolContext).epoch;
    const reporter = event.type.startsWith('CONNECTION.') ? (event as Report).id : undefined;
    const next: { [id: string]: Connection } = {};
    let unchanged = ids.length === Object.keys(env).length;
    for (const id of ids) {
      const known = env[id];
      let connection: Connection;
      if (known === undefined || (id === reporter && event.type === 'CONNECTION.CLOSED')) connection = { phase: 'connecting', epoch };
      else if (id === reporter && event.type === 'CONNECTION.READY') connection = { phase: 'open', epoch: known.epoch };
      else connection = known;
      next[id] = connection;
      if (known?.phase !== connection.phase || known.epoch !== connection.epoch) unchanged = false;
    }
    return unchanged ? env : next;
  },
};

interface Child extends Connection {
  id: string;
}

/** The live children, oldest first. */
function liveChildren(snapshot: AnyMachineSnapshot, env: Phases): Child[] {
  const spawned = (id: string) => Number(id.slice(id.indexOf('#') + 1));
  return Object.keys(snapshot.children)
    .map((id): Child => {
      const connection = env[id];
      if (connection === undefined) throw new Error(`the environment does not know ${id}`);
      return { id, ...connection };
    })
    .sort((a, b) => spawned(a.id) - spawned(b.id));
}

type Report = Extract<PoolEvent, { type: `CONNECTION.${string}` }>;

/** The creates phase a pool in `state` decides reuse in, if it may reuse a closed connection's slot. */
function reusePhase(state: CreateState): 'steady' | 'recovering' | undefined {
  if (state === 'creating' || state === 'awaitingReturns') return 'steady';
  return state === 'recovering' ? 'recovering' : undefined;
}

/** The pool under a parent that records its reports. */
function startPool(clock: SimulatedClock, inspect: (e: InspectionEvent) => void) {
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
  /** The manager says when other keys wait for slots. */
  contention: boolean;
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
        { type: 'CONNECTION.CLOSED', id, epoch, reason: 'unwanted', opened: false, failedAttempt: false, error: undefined },
        { type: 'CONNECTION.CLOSED', id, epoch, reason: 'unwanted', opened: false, failedAttempt: false, error: undefined, ...closedFacts(1) },
      );
    }
    const open = ofEpisode.find((child) => child.phase === 'open');
    if (open !== undefined) {
      const { id, epoch } = open;
      events.push(
        { type: 'CONNECTION.CLOSED', id, epoch, reason: 'idle', opened: true, failedAttempt: false, error: undefined, ...closedFacts(0) },
        { type: 'CONNECTION.CLOSED', id, epoch, reason: 'idle', opened: true, failedAttempt: false, error: undefined, ...closedFacts(1) },
        { type: 'CONNECTION.CLOSED', id, epoch, reason: 'dropped', opened: true, failedAttempt: true, error: 'ECONNRESET', ...closedFacts(1) },
      );
    }
  }
  return events;
}

function poolModel(scenario: Scenario): ModelSpec<Phases> {
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
