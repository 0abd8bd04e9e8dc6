/**
 * Model-based test of the connection machine: every state and transition, reached by generated
 * paths replayed on a running connection under a parent that records its reports, with its
 * effect actions recorded too. Three inputs: pooled with an attempt timeout (connecting.timed),
 * pooled without one (connecting.untimed, entered through an eventless transition), and
 * supervised. The subtlety: the results of effects are plain events here, so the model only
 * sends each where the runtime can (a CREATED only while connecting, a DESTROYED only while
 * closing, ...); the log of effects and reports is what the invariants read.
 */
import { expect, test } from 'vitest';
import {
  assign,
  createActor,
  setup,
  type AnyActorRef,
  type AnyEventObject,
  type InspectionEvent,
  type SimulatedClock,
} from 'xstate';
import {
  connectionMachine,
  type ConnectionContext,
  type ConnectionEvent,
  type ConnectionInput,
  type ConnectionReport,
} from '../../machines/connection.machine.js';
import { formatReport, holds, mergeReports, pendingTimers, runModel, same, type ModelReport, type System } from './harness.js';

/** ms between attempts (the test's retry strategy); a drop sooner than STABILITY_WINDOW ms after opening is premature. */
const RETRY_DELAY = 700;
const STABILITY_WINDOW = 500;

const EFFECTS = [
  'startCreate',
  'endCreate',
  'startValidation',
  'endValidation',
  'startDestroy',
  'announceConnecting',
  'announceBackoff',
  'announceReady',
  'announceDisconnected',
  'announceFailed',
  'announceClosed',
] as const;
type Effect = (typeof EFFECTS)[number];

/**
 * A deterministic retry strategy, as the runtime's: RETRY_DELAY between attempts, until
 * maxAttempts; every effect logged (the same machine is traversed and run).
 */
function instrumented(log: string[]) {
  const record = (name: Effect) => () => {
    log.push(name);
  };
  return connectionMachine.provide({
    actions: {
      computeRetry: assign({
        retryDelay: ({ context }) => (context.attempt < context.maxAttempts ? RETRY_DELAY : null),
        permanent: false,
      }),
      ...Object.fromEntries(EFFECTS.map((name) => [name, record(name)])),
    },
  });
}

const count = (log: readonly string[], entry: string) => log.filter((x) => x === entry).length;

/** Checks that `a` and `b` alternate in `log`, starting with `a`; returns whether one is pending. */
function paired(log: readonly string[], a: string, b: string): boolean {
  let open = false;
  for (const entry of log) {
    if (entry === a) {
      holds(!open, () => `${a} twice without ${b}: ${log.join(',')}`);
      open = true;
    } else if (entry === b) {
      holds(open, () => `${b} without ${a}: ${log.join(',')}`);
      open = false;
    }
  }
  return open;
}

/** A running connection under a recording parent; the log holds its effects and the parent's reports, in order. */
function startConnection(input: ConnectionInput, clock: SimulatedClock, inspect: (e: InspectionEvent) => void) {
  const log: string[] = [];
  const reports: ConnectionReport[] = [];
  const parent = setup({
    types: { events: {} as ConnectionReport },
    actors: { connection: instrumented(log) },
  }).createMachine({
    invoke: { id: 'connection', src: 'connection', input },
    on: {
      '*': {
        actions: ({ event }) => {
          reports.push(event);
          log.push(event.type);
        },
      },
    },
  });
  const root = createActor(parent, { clock, inspect });
  root.start();
  const target = root.getSnapshot().children.connection as AnyActorRef;
  // What the path did so far, for the invariants that depend on it.
  let prematureDrop = false;
  let attemptBefore = 0;
  let retired: { readies: number; creates: number } | undefined;
  const system: System = {
    target,
    stop: () => root.stop(),
    check(snapshot, event) {
      const c = snapshot.context as ConnectionContext;
      const types = reports.map((r) => r.type);
      const readies = count(types, 'CONNECTION.READY');
      const trace = () => log.join(',');

      // Report protocol: READY once per (re)connection, FAILED or CLOSED at most once and last.
      const ends = count(types, 'CONNECTION.FAILED') + count(types, 'CONNECTION.CLOSED');
      holds(ends <= 1, () => `two final reports: ${trace()}`);
      let attemptSinceReady = true;
      for (const entry of log) {
        if (entry === 'startCreate') attemptSinceReady = true;
        if (entry === 'CONNECTION.READY') {
          holds(attemptSinceReady, () => `READY twice for one connection: ${trace()}`);
          attemptSinceReady = false;
        }
      }
      for (const r of reports) holds(r.id === input.id && r.epoch === input.epoch, 'reports name the connection and its epoch');
      const final = snapshot.matches('closed') ? 'CONNECTION.CLOSED' : snapshot.matches('failed') ? 'CONNECTION.FAILED' : undefined;
      same(ends, final === undefined ? 0 : 1, 'a final report exactly when closed or failed');
      if (final !== undefined) same(types.at(-1), final, 'the final report is the last');
      // What the final report says matches the path that led to it.
      const last = reports.at(-1);
      if (last?.type === 'CONNECTION.CLOSED') {
        same(last.opened, readies > 0, 'CLOSED.opened: it reported READY');
        same(last.failedAttempt, !input.supervised && prematureDrop, 'CLOSED.failedAttempt: a pooled connection dropped within its window');
        same(last.reason, c.closeReason, 'CLOSED.reason');
      }
      if (last?.type === 'CONNECTION.FAILED') {
        same(last.attempts, c.attempt, 'FAILED.attempts');
        holds(last.error !== undefined, 'FAILED carries an error');
      }
      // Opened exactly when it reported READY; never open with a close reason; once retired,
      // nothing is ready and nothing is created any more.
      same(c.opened, readies > 0, 'opened = reported READY');
      if (snapshot.matches('open')) same(c.closeReason, undefined, 'open with a close reason');
      if (c.closeReason !== undefined) {
        retired ??= { readies, creates: count(log, 'startCreate') };
        same(readies, retired.readies, 'READY after it was retired');
        same(count(log, 'startCreate'), retired.creates, 'a create started after it was retired');
      }

      // Effects: one create per entry into connecting, ended on each exit; one destroy, ever,
      // and only on the way to closed; validations paired.
      const creating = paired(log, 'startCreate', 'endCreate');
      same(creating, snapshot.matches('connecting'), 'a create runs exactly while connecting');
      const validating = paired(log, 'startValidation', 'endValidation');
      same(validating, snapshot.matches({ open: 'validating' }), 'a validation runs exactly while validating');
      const destroys = count(log, 'startDestroy');
      same(destroys, snapshot.matches({ draining: 'closing' }) || snapshot.matches('closed') ? 1 : 0, 'destroys started');
      // Timers: exactly the one of the state it is in (an attempt, a backoff, a validation, a
      // destroy); none once closed or failed, which are not final states.
      const timers = pendingTimers(target).map((t) => t.type.replace(/^xstate\.after\.(\w+)\..*$/, '$1'));
      const expectedTimer = snapshot.matches({ connecting: 'timed' })
        ? 'attemptTimeout'
        : snapshot.matches('backoff')
          ? 'retryDelay'
          : snapshot.matches({ open: 'validating' })
            ? 'validationTimeout'
            : snapshot.matches({ draining: 'closing' })
              ? 'destroyTimeout'
              : undefined;
      same(timers.join(), expectedTimer ?? '', 'pending timers');
      // The user hears what the parent hears.
      same(count(log, 'announceReady'), readies, 'announced ready');
      same(count(log, 'announceFailed'), count(types, 'CONNECTION.FAILED'), 'announced failed');
      same(count(log, 'announceClosed'), count(types, 'CONNECTION.CLOSED'), 'announced closed');
      same(count(log, 'announceConnecting'), count(log, 'startCreate'), 'announced connecting');

      // Attempts: 1..maxAttempts; a pooled connection never reconnects once it has opened.
      holds(c.attempt >= 1 && c.attempt <= input.maxAttempts, () => `attempt ${c.attempt} out of 1..${input.maxAttempts}`);
      if (snapshot.matches('backoff')) holds(c.attempt < input.maxAttempts, 'a backoff after the last attempt');
      if (!input.supervised && readies > 0) {
        holds(!log.slice(log.indexOf('CONNECTION.READY')).includes('startCreate'), 'a pooled connection reconnected');
      }

      // Drops: a young one is the attempt failing, an old one (supervised) a fresh start.
      if (event?.type === 'DROPPED') {
        const young = (event as Extract<ConnectionEvent, { type: 'DROPPED' }>).openMs < input.stabilityWindow;
        prematureDrop = young;
        if (input.supervised && young) {
          same(c.attempt, attemptBefore, 'a young drop continues the attempts');
          holds(snapshot.matches(attemptBefore < input.maxAttempts ? 'backoff' : 'failed'), 'a young drop is a failed attempt');
        } else if (input.supervised) {
          holds(snapshot.matches('connecting'), 'a supervised connection reconnects');
          same(c.attempt, 1, 'attempts start over after a drop');
        } else {
          holds(snapshot.matches({ draining: 'closing' }), 'a pooled connection that drops is destroyed');
          same(c.failedAttempt, young, 'failedAttempt');
        }
      }
      attemptBefore = c.attempt;
    },
  };
  return system;
}

const POOLED: ConnectionInput = {
  id: 'k#1',
  key: 'k',
  maxAttempts: 2,
  attemptTimeout: 3000,
  supervised: false,
  epoch: 3,
  stabilityWindow: STABILITY_WINDOW,
  validationTimeout: 400,
  destroyTimeout: 900,
};
const POOLED_UNTIMED: ConnectionInput = { ...POOLED, attemptTimeout: Number.POSITIVE_INFINITY };
const SUPERVISED: ConnectionInput = { ...POOLED, id: 'k@1', supervised: true, epoch: 0 };

const EVENTS: ConnectionEvent[] = [
  { type: 'CREATED', lent: false },
  { type: 'CREATED', lent: true },
  { type: 'CREATE_FAILED', error: 'ECONNREFUSED' },
  { type: 'DESTROYED' },
  { type: 'DESTROYED', error: 'close failed' },
  { type: 'INVALID', error: 'stale' },
  { type: 'DROPPED', error: 'ECONNRESET', openMs: STABILITY_WINDOW - 1 },
  { type: 'DROPPED', error: 'ECONNRESET', openMs: STABILITY_WINDOW },
  { type: 'RETIRE', reason: 'shutdown' },
  { type: 'CHECKOUT' },
  { type: 'CHECKIN' },
  { type: 'VALIDATE' },
  { type: 'VALID' },
  { type: 'FORCE' },
];

/** Where the runtime can send each event. A late RETIRE may reach a connection in any state. */
function canSend(snapshot: { matches(value: unknown): boolean }, event: AnyEventObject): boolean {
  switch (event.type) {
    case 'CREATED':
    case 'CREATE_FAILED':
      return snapshot.matches('connecting');
    case 'DESTROYED':
      return snapshot.matches({ draining: 'closing' });
    case 'VALID':
    case 'INVALID':
      return snapshot.matches({ open: 'validating' });
    case 'DROPPED':
      return snapshot.matches('open');
    case 'CHECKOUT':
    case 'VALIDATE':
      return snapshot.matches({ open: 'idle' });
    case 'CHECKIN':
      return snapshot.matches({ open: 'inUse' }) || snapshot.matches({ draining: 'awaitingReturn' });
    case 'FORCE':
      // The shutdown timeout forces what it retired before (a connection it never retired is
      // not open).
      return !snapshot.matches('open');
    default:
      return true;
  }
}

test('connection machine: every generated path, replayed on a running actor (pooled, untimed, supervised)', () => {
  const reports: ModelReport[] = [];
  for (const [name, input] of [
    ['pooled', POOLED],
    ['pooled, untimed', POOLED_UNTIMED],
    ['supervised', SUPERVISED],
  ] as const) {
    reports.push(
      runModel({
        name: `connection (${name})`,
        machine: instrumented([]),
        input,
        events: () => EVENTS,
        filterEvents: canSend,
        serialize: (s) => {
          const c = s.context as ConnectionContext;
          return JSON.stringify([s.value, c.opened, c.closeReason, c.error !== undefined, c.attempt, c.failedAttempt]);
        },
        start: (clock, inspect) => startConnection(input, clock, inspect),
      }),
    );
  }
  for (const r of reports) console.log(formatReport(r));
  const merged = mergeReports('connection', reports);
  console.log(formatReport(merged));
  expect(merged.states.missing).toEqual([]);
  expect(merged.transitions.missing).toEqual([]);
});

test('connection machine runs alone: no parent, no runtime', () => {
  const actor = createActor(connectionMachine, { input: SUPERVISED });
  actor.start();
  expect(actor.getSnapshot().matches('connecting')).toBe(true);
  actor.send({ type: 'CREATED', lent: false });
  expect(actor.getSnapshot().matches({ open: 'idle' })).toBe(true);
  actor.send({ type: 'DROPPED', error: 'ECONNRESET', openMs: 60_000 });
  expect(actor.getSnapshot().matches('connecting')).toBe(true);
  actor.send({ type: 'CREATED', lent: true });
  actor.send({ type: 'RETIRE', reason: 'closed' });
  expect(actor.getSnapshot().matches({ draining: 'awaitingReturn' })).toBe(true);
  actor.send({ type: 'CHECKIN' });
  actor.send({ type: 'DESTROYED' });
  // Closed: with no parent, its report is skipped (sendParent would throw).
  const snapshot = actor.getSnapshot();
  expect(snapshot.matches('closed')).toBe(true);
  expect(snapshot.context.closeReason).toBe('closed');
  expect(snapshot.status).toBe('active');
  actor.stop();

  // The default retry strategy gives up after the first failed attempt.
  const failing = createActor(connectionMachine, { input: POOLED });
  failing.start();
  failing.send({ type: 'CREATE_FAILED', error: 'ECONNREFUSED' });
  expect(failing.getSnapshot().matches('failed')).toBe(true);
  expect(failing.getSnapshot().context.attempt).toBe(1);
  failing.stop();
});
