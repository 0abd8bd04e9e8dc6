import { expect, test } from 'vitest';
import { assign, createActor, fromCallback, fromPromise, setup, type AnyActorRef, type AnyEventObject } from 'xstate';
import type { ModelReport } from './harness.js';
import {
  connectionMachine,
  type ConnectionInput,
  type ConnectionReport,
  type ConnectionRef,
} from '../../machines/connection.machine.js';
import { formatReport, mergeReports, runModel, type System } from './harness.js';

/** A deterministic retry strategy: 700 ms between attempts, until maxAttempts. */
const retrying = connectionMachine.provide({
  actions: {
    computeRetry: assign({ retryDelay: ({ context }) => (context.attempt < context.maxAttempts ? 700 : null) }),
  },
});

interface Deferred {
  resolve(): void;
  reject(error: Error): void;
}

/** A running connection actor whose effects the test settles by hand, under a recording parent. */
function startConnection(
  input: ConnectionInput,
  clock: import('xstate').SimulatedClock,
  inspect: (e: import('xstate').InspectionEvent) => void,
) {
  const effects: { create?: Deferred; destroy?: Deferred; drop?: (e: AnyEventObject) => void } = {};
  const deferred = (slot: 'create' | 'destroy') =>
    new Promise<void>((resolve, reject) => {
      effects[slot] = { resolve, reject };
    });
  const machine = retrying.provide({
    actors: {
      create: fromPromise<void, ConnectionRef>(() => deferred('create')),
      destroy: fromPromise<void, ConnectionRef>(() => deferred('destroy')),
      watch: fromCallback<{ type: 'DROPPED'; error?: unknown }, ConnectionRef>(({ sendBack }) => {
        effects.drop = sendBack;
        return () => {
          effects.drop = undefined;
        };
      }),
    },
  });
  const parent = setup({
    types: { context: {} as { reports: ConnectionReport[] }, events: {} as ConnectionReport },
    actors: { connection: machine },
  }).createMachine({
    context: { reports: [] },
    invoke: { id: 'connection', src: 'connection', input },
    on: { '*': { actions: assign({ reports: ({ context, event }) => [...context.reports, event] }) } },
  });
  const root = createActor(parent, { clock, inspect });
  root.start();
  const target = root.getSnapshot().children.connection as AnyActorRef;
  const reports = () => root.getSnapshot().context.reports.map((r) => r.type);
  const system: System & { effects: typeof effects } = {
    target,
    effects,
    stop: () => root.stop(),
    check(snapshot) {
      // Report protocol the parent relies on.
      const r = reports();
      const count = (type: string) => r.filter((x) => x === type).length;
      for (const type of ['CONNECTION.DRAINING', 'CONNECTION.CLOSED', 'CONNECTION.FAILED']) {
        expect(count(type), `${type} reported twice: ${r.join(',')}`).toBeLessThanOrEqual(1);
      }
      // Once per connection; a supervised one again after each drop.
      expect(count('CONNECTION.READY')).toBeLessThanOrEqual(count('CONNECTION.DISCONNECTED') + 1);
      if (!input.supervised) expect(count('CONNECTION.DISCONNECTED')).toBe(0);
      const end = r.findIndex((x) => x === 'CONNECTION.CLOSED' || x === 'CONNECTION.FAILED');
      if (end >= 0) expect(end, `reports after the end: ${r.join(',')}`).toBe(r.length - 1);
      if (r.includes('CONNECTION.CLOSED')) expect(r.indexOf('CONNECTION.DRAINING')).toBeGreaterThanOrEqual(0);
      // Attempts are counted from 1 and never exceed maxAttempts; every backoff follows its attempt.
      const c = snapshot.context as { attempt: number };
      expect(c.attempt).toBeGreaterThanOrEqual(1);
      expect(c.attempt).toBeLessThanOrEqual(input.maxAttempts);
      const attempts = root.getSnapshot().context.reports.flatMap((e) => (e.type === 'CONNECTION.CONNECTING' ? [e.attempt] : []));
      const backoffs = root.getSnapshot().context.reports.flatMap((e) => (e.type === 'CONNECTION.BACKOFF' ? [e.attempt] : []));
      for (const b of backoffs) expect(attempts).toContain(b);
      if (snapshot.matches('open')) expect(r.at(-1) === 'CONNECTION.READY' || r.includes('CONNECTION.READY')).toBe(true);
      if (snapshot.matches('closed')) expect(r.at(-1)).toBe('CONNECTION.CLOSED');
      if (snapshot.matches('failed')) expect(r.at(-1)).toBe('CONNECTION.FAILED');
      if (snapshot.matches('backoff')) expect(r.at(-1)).toBe('CONNECTION.BACKOFF');
    },
  };
  return system;
}

const POOLED: ConnectionInput = {
  id: 'k#1',
  key: 'k',
  maxIdleTime: 1000,
  ttl: 5000,
  maxAttempts: 2,
  attemptTimeout: 3000,
  supervised: false,
};
const SUPERVISED: ConnectionInput = { ...POOLED, id: 'k@1', supervised: true };

test('connection machine: every generated path, replayed on a running actor (pooled and supervised)', async () => {
  const reports: ModelReport[] = [];
  for (const input of [POOLED, SUPERVISED]) {
    let system: ReturnType<typeof startConnection> | undefined;
    reports.push(
      await runModel({
        name: `connection (${input.supervised ? 'supervised' : 'pooled'})`,
        machine: retrying,
        input,
        events: () => [
          { type: 'RETIRE', reason: 'shutdown' },
          { type: 'DROPPED', error: 'ECONNRESET' },
          { type: 'CONFIGURE', maxIdleTime: 1000, ttl: 5000 },
          { type: 'xstate.error.actor.create', error: 'refused' },
          { type: 'xstate.error.actor.destroy', error: 'close failed' },
        ],
        serialize: (s) =>
          JSON.stringify({
            value: s.value,
            opened: s.context.opened,
            reason: s.context.closeReason,
            error: !!s.context.error,
            attempt: s.context.attempt,
          }),
        start: (clock, inspect) => (system = startConnection(input, clock, inspect)),
        perform(event) {
          const effects = system?.effects;
          switch (event.type) {
            case 'xstate.done.actor.create':
              effects?.create?.resolve();
              return true;
            case 'xstate.error.actor.create':
              effects?.create?.reject(new Error('refused'));
              return true;
            case 'xstate.done.actor.destroy':
              effects?.destroy?.resolve();
              return true;
            case 'xstate.error.actor.destroy':
              effects?.destroy?.reject(new Error('close failed'));
              return true;
            case 'DROPPED':
              // Only the watch can report a drop; it runs exactly while the connection is open.
              if (effects?.drop === undefined) {
                const where = JSON.stringify(system?.target.getSnapshot().value);
                throw new Error(`DROPPED outside open: nothing is watching (in ${where})`);
              }
              effects.drop({ type: 'DROPPED', error: 'ECONNRESET' });
              return true;
            default:
              return false;
          }
        },
      }),
    );
  }
  for (const r of reports) console.log(formatReport(r));
  const merged = mergeReports('connection', reports);
  console.log(formatReport(merged));
  expect(merged.states.missing).toEqual([]);
  expect(merged.transitions.missing).toEqual([]);
});
