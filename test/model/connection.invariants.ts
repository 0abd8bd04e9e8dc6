/**
 * The connection's invariants (test/model/connection.model.test.ts), checked after every step
 * of every generated path on a running connection under a parent that records its reports, per
 * lifecycle (per START): the report protocol, what the final report says, the close reason,
 * effects paired with their ends, the one pending timer, attempts and drops.
 */
import { expect } from 'vitest';
import { createActor, setup, type AnyActorRef, type InspectionEvent, type SimulatedClock } from 'xstate';
import {
  SPARE_CONTEXT,
  type CloseReason,
  type ConnectionContext,
  type ConnectionEvent,
  type ConnectionInput,
  type ConnectionReport,
} from '../../machines/connection.machine.js';
import { instrumented } from './connection.fixtures.js';
import { holds, pendingTimers, same, type System } from './harness.js';

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

type Start = Extract<ConnectionEvent, { type: 'START' }>;
type Report = ConnectionReport;

/** The current lifecycle, from its START: what the path did so far that the invariants depend on. */
interface Lifecycle {
  input: ConnectionInput;
  /** Where it begins in the log and in the reports. */
  logStart: number;
  reportStart: number;
  prematureDrop: boolean;
  /** Counts when it was retired. */
  retired: { readies: number; creates: number } | undefined;
  /** The reason of the DISCARD that ended its lease. */
  discarded: CloseReason | undefined;
  attemptBefore: number;
}

/** A running connection under a recording parent; the log holds its effects and the parent's reports, in order. */
export function startConnection(clock: SimulatedClock, inspect: (e: InspectionEvent) => void) {
  const log: string[] = [];
  const reports: Report[] = [];
  const parent = setup({
    types: { events: {} as Report },
    actors: { connection: instrumented(log) },
  }).createMachine({
    invoke: { id: 'connection', src: 'connection' },
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
  let life: Lifecycle | undefined;
  let lifecycles = 0;
  /** The id of the first START: the actor's for good. */
  let actorId: string | undefined;
  let logBefore = 0;
  let reportsBefore = 0;
  const system: System<number> = {
    target,
    stop: () => root.stop(),
    check(snapshot, event) {
      const c = snapshot.context as ConnectionContext;
      const trace = () => log.join(',');
      const timers = pendingTimers(target).map((t) => t.type.replace(/^xstate\.after\.(\w+)\..*$/, '$1'));
      if (event?.type === 'START') {
        const input = (event as Start).input;
        lifecycles++;
        actorId ??= input.id;
        // A new connection begins only after the last one ended (and reported its end).
        if (lifecycles > 1) {
          const lastReport = reports[reportsBefore - 1]?.type;
          holds(lastReport === 'CONNECTION.CLOSED' || lastReport === 'CONNECTION.FAILED', 'START before the last connection ended');
        }
        life = {
          input,
          logStart: logBefore,
          reportStart: reportsBefore,
          prematureDrop: false,
          retired: undefined,
          discarded: undefined,
          attemptBefore: 0,
        };
        // The context is the input's, and nothing of the last connection: first attempt, not
        // opened, no close reason, no error; the id stays the actor's (its parent knows it by it).
        expect(c, 'the context after START').toEqual({ ...SPARE_CONTEXT, ...input, id: actorId, attempt: 1 });
        const substate = Number.isFinite(input.attemptTimeout) ? 'timed' : 'untimed';
        holds(snapshot.matches({ connecting: substate }), `START enters connecting.${substate}`);
        expect(log.slice(logBefore), 'the effects of START').toEqual(['startCreate', 'announceConnecting']);
      }
      if (life === undefined) {
        // Spare: its static context, nothing done, nothing pending, whatever it was sent.
        holds(snapshot.matches('spare'), 'spare until STARTed');
        same(c, SPARE_CONTEXT, 'a spare actor keeps the static context');
        same(log.length, 0, 'effects or reports before START');
        same(timers.length, 0, 'timers before START');
        logBefore = log.length;
        reportsBefore = reports.length;
        return;
      }
      const { input } = life;
      const lifeLog = log.slice(life.logStart);
      const lifeReports = reports.slice(life.reportStart);
      const types = lifeReports.map((r) => r.type);
      const readies = count(types, 'CONNECTION.READY');
      holds(!snapshot.matches('spare'), 'spare again');

      // Report protocol, per lifecycle: READY once per (re)connection, FAILED or CLOSED at most
      // once and last; every earlier lifecycle reported its end exactly once.
      const ends = count(types, 'CONNECTION.FAILED') + count(types, 'CONNECTION.CLOSED');
      holds(ends <= 1, () => `two final reports in one lifecycle: ${trace()}`);
      const allEnds = reports.filter((r) => r.type !== 'CONNECTION.READY').length;
      same(allEnds, lifecycles - 1 + ends, 'each lifecycle reports its end once');
      let attemptSinceReady = true;
      for (const entry of lifeLog) {
        if (entry === 'startCreate') attemptSinceReady = true;
        if (entry === 'CONNECTION.READY') {
          holds(attemptSinceReady, () => `READY twice for one connection: ${trace()}`);
          attemptSinceReady = false;
        }
      }
      // Reports name the actor (not a later START's id) and the lifecycle's epoch.
      for (const r of lifeReports) holds(r.id === actorId && r.epoch === input.epoch, () => `a report names ${r.id}/${r.epoch}`);
      const final = snapshot.matches('closed') ? 'CONNECTION.CLOSED' : snapshot.matches('failed') ? 'CONNECTION.FAILED' : undefined;
      same(ends, final === undefined ? 0 : 1, 'a final report exactly when closed or failed');
      if (final !== undefined) same(types.at(-1), final, 'the final report is the last');
      // What the final report says matches the path that led to it.
      const last = lifeReports.at(-1);
      if (last?.type === 'CONNECTION.CLOSED') {
        same(last.opened, readies > 0, 'CLOSED.opened: it reported READY');
        same(last.failedAttempt, !input.supervised && life.prematureDrop, 'CLOSED.failedAttempt: a pooled one dropped within its window');
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
        life.retired ??= { readies, creates: count(lifeLog, 'startCreate') };
        same(readies, life.retired.readies, 'READY after it was retired');
        same(count(lifeLog, 'startCreate'), life.retired.creates, 'a create started after it was retired');
      }
      // A discarded connection closes at once, for the reason given, and is never awaited back.
      if (event?.type === 'DISCARD') {
        life.discarded = (event as Extract<ConnectionEvent, { type: 'DISCARD' }>).reason;
        holds(snapshot.matches({ draining: 'closing' }), 'DISCARD goes straight to closing');
      }
      if (life.discarded !== undefined) {
        same(c.closeReason, life.discarded, 'the close reason of a DISCARD');
        holds(!snapshot.matches({ draining: 'awaitingReturn' }), 'a discarded connection awaits its return');
        if (last?.type === 'CONNECTION.CLOSED') same(last.opened, true, 'a discarded connection had opened');
      }

      // Effects: one create per entry into connecting, ended on each exit; one destroy per
      // lifecycle, and only on the way to closed; validations and rests paired.
      const creating = paired(log, 'startCreate', 'endCreate');
      same(creating, snapshot.matches('connecting'), 'a create runs exactly while connecting');
      const validating = paired(log, 'startValidation', 'endValidation');
      same(validating, snapshot.matches({ open: 'validating' }), 'a validation runs exactly while validating');
      const resting = paired(log, 'rest', 'wake');
      same(resting, snapshot.matches({ open: 'idle' }), 'the resource rests (need not hold the process) exactly while idle');
      const destroys = count(lifeLog, 'startDestroy');
      same(destroys, snapshot.matches({ draining: 'closing' }) || snapshot.matches('closed') ? 1 : 0, 'destroys started');
      // Timers: exactly the one of the state it is in (an attempt with a finite timeout, a
      // backoff, a validation, a destroy); none once closed or failed, which are not final
      // states, and none for an attempt without a timeout.
      if (snapshot.matches('connecting')) {
        same(snapshot.matches({ connecting: 'timed' }), Number.isFinite(input.attemptTimeout), 'timed exactly with a finite attemptTimeout');
      }
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
      same(count(lifeLog, 'announceReady'), readies, 'announced ready');
      same(count(lifeLog, 'announceFailed'), count(types, 'CONNECTION.FAILED'), 'announced failed');
      same(count(lifeLog, 'announceClosed'), count(types, 'CONNECTION.CLOSED'), 'announced closed');
      same(count(lifeLog, 'announceConnecting'), count(lifeLog, 'startCreate'), 'announced connecting');

      // Attempts: 1..maxAttempts; a pooled connection never reconnects once it has opened.
      holds(c.attempt >= 1 && c.attempt <= input.maxAttempts, () => `attempt ${c.attempt} out of 1..${input.maxAttempts}`);
      if (snapshot.matches('backoff')) holds(c.attempt < input.maxAttempts, 'a backoff after the last attempt');
      if (!input.supervised && readies > 0) {
        holds(!lifeLog.slice(lifeLog.indexOf('CONNECTION.READY')).includes('startCreate'), 'a pooled connection reconnected');
      }

      // Drops: a young one is the attempt failing, an old one (supervised) a fresh start.
      if (event?.type === 'DROPPED') {
        const young = (event as Extract<ConnectionEvent, { type: 'DROPPED' }>).openMs < input.stabilityWindow;
        life.prematureDrop = young;
        if (input.supervised && young) {
          same(c.attempt, life.attemptBefore, 'a young drop continues the attempts');
          holds(snapshot.matches(life.attemptBefore < input.maxAttempts ? 'backoff' : 'failed'), 'a young drop is a failed attempt');
        } else if (input.supervised) {
          holds(snapshot.matches('connecting'), 'a supervised connection reconnects');
          same(c.attempt, 1, 'attempts start over after a drop');
        } else {
          holds(snapshot.matches({ draining: 'closing' }), 'a pooled connection that drops is destroyed');
          same(c.failedAttempt, young, 'failedAttempt');
        }
      }
      life.attemptBefore = c.attempt;
      logBefore = log.length;
      reportsBefore = reports.length;
    },
  };
  return system;
}
