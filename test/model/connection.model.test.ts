import { expect, test } from 'vitest';
import { assign, createActor, fromCallback, fromPromise, setup, type AnyActorRef, type AnyEventObject } from 'xstate';
import {
  connectionMachine,
  type ConnectionInput,
  type ConnectionReport,
  type ConnectionRef,
} from '../../machines/connection.machine.js';
import { formatReport, runModel, type System } from './harness.js';

interface Deferred {
  resolve(): void;
  reject(error: Error): void;
}

/** A running connection actor whose effects the test settles by hand, under a recording parent. */
function startConnection(clock: import('xstate').SimulatedClock, inspect: (e: import('xstate').InspectionEvent) => void) {
  const effects: { create?: Deferred; destroy?: Deferred; drop?: (e: AnyEventObject) => void } = {};
  const deferred = (slot: 'create' | 'destroy') =>
    new Promise<void>((resolve, reject) => {
      effects[slot] = { resolve, reject };
    });
  const machine = connectionMachine.provide({
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
  const input: ConnectionInput = { id: 'k#1', key: 'k', maxIdleTime: 1000, ttl: 5000 };
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
      // Report protocol the pool relies on: each at most once, in order, nothing after the end.
      const r = reports();
      for (const type of ['CONNECTION.READY', 'CONNECTION.DRAINING', 'CONNECTION.CLOSED', 'CONNECTION.FAILED']) {
        expect(r.filter((x) => x === type).length, `${type} reported twice: ${r.join(',')}`).toBeLessThanOrEqual(1);
      }
      const end = r.findIndex((x) => x === 'CONNECTION.CLOSED' || x === 'CONNECTION.FAILED');
      if (end >= 0) expect(end, `reports after the end: ${r.join(',')}`).toBe(r.length - 1);
      if (r.includes('CONNECTION.CLOSED')) expect(r.indexOf('CONNECTION.DRAINING')).toBeGreaterThanOrEqual(0);
      if (r.includes('CONNECTION.FAILED')) expect(r).not.toContain('CONNECTION.READY');
      // READY exactly when the resource was created and lent-able, i.e. it reached `open`.
      if (snapshot.matches('open')) expect(r).toContain('CONNECTION.READY');
      if (snapshot.matches('closed')) expect(r.at(-1)).toBe('CONNECTION.CLOSED');
      if (snapshot.matches('failed')) expect(r.at(-1)).toBe('CONNECTION.FAILED');
    },
  };
  return system;
}

test('connection machine: every generated path, replayed on a running actor', async () => {
  let system: ReturnType<typeof startConnection> | undefined;
  const report = await runModel({
    name: 'connection',
    machine: connectionMachine,
    input: { id: 'k#1', key: 'k', maxIdleTime: 1000, ttl: 5000 } satisfies ConnectionInput,
    events: () => [
      { type: 'RETIRE', reason: 'shutdown' },
      { type: 'DROPPED', error: 'ECONNRESET' },
      { type: 'CONFIGURE', maxIdleTime: 1000, ttl: 5000 },
      { type: 'xstate.error.actor.create', error: 'refused' },
      { type: 'xstate.error.actor.destroy', error: 'close failed' },
    ],
    serialize: (s) =>
      JSON.stringify({ value: s.value, opened: s.context.opened, reason: s.context.closeReason, error: !!s.context.error }),
    start: (clock, inspect) => (system = startConnection(clock, inspect)),
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
  });
  console.log(formatReport(report));
  expect(report.states.missing).toEqual([]);
  expect(report.transitions.missing).toEqual([]);
});
