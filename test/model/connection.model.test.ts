/**
 * Model-based test of the connection machine: every state and transition, reached by generated
 * paths replayed on a running connection under a parent that records its reports, with its
 * effect actions recorded too. The actor starts spare and each path STARTs it (timed or untimed,
 * a pooled or a supervised input per run); a closed or failed one is STARTed again, as a pool
 * reuses it, so the invariants hold per lifecycle (per START). The subtlety: the results of
 * effects are plain events here, so the model only sends each where the runtime can (a CREATED
 * only while connecting, a DESTROYED only while closing, ...); the log of effects and reports is
 * what the invariants read, and the model counts lifecycles (up to two: a third is like the
 * second) as its environment, the machine keeping no count.
 *
 * The parts: the instrumented connection and its inputs (connection.fixtures.ts), and the
 * invariants checked after each step (connection.invariants.ts); what may be sent in each
 * state, and the runs, are here.
 */
import { expect, test } from 'vitest';
import { createActor, type AnyEventObject, type AnyMachineSnapshot } from 'xstate';
import { connectionMachine, type ConnectionContext, type ConnectionEvent } from '../../machines/connection.machine.js';
import { instrumented, later, POOLED, STABILITY_WINDOW, SUPERVISED, untimed } from './connection.fixtures.js';
import { startConnection } from './connection.invariants.js';
import { formatReport, mergeReports, runModel, type Environment, type ModelReport } from './harness.js';

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
  { type: 'DISCARD', reason: 'discarded' },
  { type: 'DISCARD', reason: 'uses' },
  { type: 'CHECKOUT' },
  { type: 'CHECKIN' },
  { type: 'VALIDATE' },
  { type: 'VALID' },
  { type: 'FORCE' },
];

/** Where the runtime can send each event. A late RETIRE may reach a connection in any state. */
function canSend(snapshot: AnyMachineSnapshot, event: AnyEventObject): boolean {
  switch (event.type) {
    case 'START':
      // An actor is started when spare, and again (its slot reused) once its connection ended.
      return 'input' in event && (snapshot.matches('spare') || snapshot.matches('closed') || snapshot.matches('failed'));
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
    case 'DISCARD':
      // The ledger discards only a connection it lent (destroyConnection, maxUses).
      return snapshot.matches({ open: 'inUse' });
    case 'FORCE':
      // The shutdown timeout forces what it retired before (a connection it never retired is
      // not open); a spare actor has nothing to force.
      return !snapshot.matches('open');
    default:
      return true;
  }
}

/** Lifecycles begun so far, up to two (a third lifecycle's states are the second's). */
const lifecycles: Environment<number> = {
  initial: 0,
  next: (env, event) => (event.type === 'START' ? Math.min(env + 1, 2) : env),
};

test('connection machine: every generated path, replayed on a running actor (pooled, supervised; two lifecycles)', () => {
  const reports: ModelReport[] = [];
  for (const [name, first] of [
    ['pooled', POOLED],
    ['supervised', SUPERVISED],
  ] as const) {
    reports.push(
      runModel({
        name: `connection (${name})`,
        machine: instrumented([]),
        environment: lifecycles,
        // A timed and an untimed START, each time: a pool's attemptTimeout may change between
        // two connections of one actor.
        events: (s) => [
          ...(s.matches('spare') ? [first, untimed(first)] : [later(first), untimed(later(first))]).map(
            (input): ConnectionEvent => ({ type: 'START', input }),
          ),
          ...EVENTS,
        ],
        filterEvents: canSend,
        serialize: (s, env) => {
          const c = s.context as ConnectionContext;
          const timed = Number.isFinite(c.attemptTimeout);
          return JSON.stringify([env, s.value, timed, c.opened, c.closeReason, c.error !== undefined, c.attempt, c.failedAttempt]);
        },
        start: (clock, inspect) => startConnection(clock, inspect),
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
  const actor = createActor(connectionMachine);
  actor.start();
  expect(actor.getSnapshot().value).toBe('spare');
  actor.send({ type: 'START', input: SUPERVISED });
  expect(actor.getSnapshot().value).toEqual({ connecting: 'timed' });
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
  // The same actor begins the next connection, untimed this time, with nothing of the last.
  actor.send({ type: 'START', input: untimed(later(SUPERVISED)) });
  expect(actor.getSnapshot().value).toEqual({ connecting: 'untimed' });
  expect(actor.getSnapshot().context).toMatchObject({ id: SUPERVISED.id, epoch: 1, attempt: 1, closeReason: undefined, opened: false });
  actor.stop();

  // The default retry strategy gives up after the first failed attempt; a lent connection
  // discarded by its holder closes at once.
  const failing = createActor(connectionMachine);
  failing.start();
  failing.send({ type: 'START', input: POOLED });
  failing.send({ type: 'CREATE_FAILED', error: 'ECONNREFUSED' });
  expect(failing.getSnapshot().matches('failed')).toBe(true);
  expect(failing.getSnapshot().context.attempt).toBe(1);
  failing.send({ type: 'START', input: POOLED });
  failing.send({ type: 'CREATED', lent: true });
  failing.send({ type: 'DISCARD', reason: 'discarded' });
  expect(failing.getSnapshot().value).toEqual({ draining: 'closing' });
  failing.send({ type: 'DESTROYED' });
  expect(failing.getSnapshot().context).toMatchObject({ closeReason: 'discarded', opened: true });
  failing.stop();
});
