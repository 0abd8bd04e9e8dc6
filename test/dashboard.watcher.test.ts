/**
 * The dashboard's watcher without a browser: what it reads from a manager (structure, states,
 * timers, log) and what it sends. One test guards the XState internal it relies on for timers
 * (the system scheduler's `_scheduledEvents`).
 */
import { describe, expect, test } from 'vitest';
import { poolMachine } from '../machines/pool.machine.js';
import { chartGraph } from '../src/dashboard/chart-graph.js';
import type { BatchMessage } from '../src/dashboard/protocol.js';
import { CONTEXT_LIMITS, toPlain } from '../src/dashboard/serialize.js';
import { leafPaths, ManagerWatcher } from '../src/dashboard/watcher.js';
import { actorTree } from '../src/introspection.js';
import { manager, simulated } from './support/managers.js';
import { rejection } from './support/rejection.js';
import { tracker, type FakeConnection } from './support/resources.js';

const charts = [
  { machine: 'manager', layout: 'shipped' as const },
  { machine: 'pool', layout: 'shipped' as const },
  { machine: 'connection', layout: 'shipped' as const },
];

/** The state a pool enters when a create fails (its breaker), and the delayed event that ends it, read from the machine. */
function breaker(): { state: string; exit: string } {
  const graph = chartGraph(poolMachine);
  const failed = graph.transitions.find((t) => t.eventType === 'CONNECTION.FAILED');
  if (failed === undefined) throw new Error('the pool machine has no CONNECTION.FAILED transition: update this test');
  const exit = graph.transitions.find((t) => t.source === failed.target && t.kind === 'after');
  if (exit === undefined) throw new Error(`the pool's ${failed.target} state has no after transition: update this test`);
  return { state: failed.target, exit: exit.eventType };
}

function refused(): Error {
  return Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
}

describe('dashboard watcher', () => {
  test('leafPaths turns a snapshot value into dot-joined leaf paths', () => {
    expect(leafPaths('running')).toEqual(['running']);
    expect(leafPaths({ running: { steady: 'creating' } })).toEqual(['running.steady.creating']);
    expect(leafPaths({ a: 'x', b: { c: 'y' } })).toEqual(['a.x', 'b.c.y']);
    expect(leafPaths(undefined)).toEqual([]);
  });

  test('toPlain keeps plain data, names what it will not walk, and caps every level', () => {
    class Socket {
      secret = 'hunter2';
    }
    const error = Object.assign(new Error('boom'), { code: 'ECONNRESET', cause: new Error('inner') });
    const plain = toPlain(
      { n: 1, never: Number.POSITIVE_INFINITY, s: 'x'.repeat(500), socket: new Socket(), error, fn: function named() {}, deep: { a: { b: { c: { d: 1 } } } }, list: Array.from({ length: 100 }, (_, i) => i) },
      CONTEXT_LIMITS,
    ) as Record<string, unknown>;
    expect(plain.n).toBe(1);
    expect(plain.never).toBe('Infinity');
    expect(String(plain.s).length).toBeLessThan(260);
    expect(plain.socket).toBe('[Socket]');
    expect(JSON.stringify(plain)).not.toContain('hunter2');
    expect(plain.error).toEqual({ name: 'Error', message: 'boom', code: 'ECONNRESET', cause: { name: 'Error', message: 'inner' } });
    expect(plain.fn).toBe('[function named]');
    expect(plain.deep).toEqual({ a: { b: { c: '…' } } });
    expect((plain.list as unknown[]).length).toBe(CONTEXT_LIMITS.items + 1);
    const m = manager();
    expect(toPlain({ ref: m.actor }, CONTEXT_LIMITS)).toEqual({ ref: `[actor ${m.actor.id}]` });
  });

  test('subscribes only while started: no inspection, no manager listener before or after', async () => {
    const m = manager();
    const listeners = (): number => [...m.events.all.values()].reduce((n, list) => n + list.length, 0);
    const w = new ManagerWatcher(m, { charts });
    expect(w.flush()).toBeUndefined();
    w.start();
    expect(listeners()).toBeGreaterThan(0);
    // The hot-path events are built only while listened to: the watcher must not listen.
    expect(m.events.all.get('pool:acquired')).toBeUndefined();
    expect(m.events.all.get('cache:hit')).toBeUndefined();
    w.stop();
    expect(listeners()).toBe(0);
    const t = tracker();
    await m.connectionCache.acquireConnection('k', {}, t.factory);
    expect(w.flush()).toBeUndefined();
    // Started again: nothing of what happened while stopped was collected.
    w.start();
    const batch = w.flush() as BatchMessage;
    expect(batch.upsert.map((r) => r.kind).sort()).toEqual(['connection', 'manager', 'pool']);
    expect(batch.log).toEqual([]);
    w.stop();
  });

  test('a flush sends new actors with their state, changes, and actors gone', async () => {
    const m = manager();
    const w = new ManagerWatcher(m, { charts });
    w.start();
    const first = w.flush();
    expect(first?.upsert.map((r) => r.kind)).toEqual(['manager']);
    const t = tracker();
    const c = (await m.connectionCache.acquireConnection('k', { maxConnections: 2 }, t.factory)) as FakeConnection;
    const second = w.flush() as BatchMessage;
    const pool = second.upsert.find((r) => r.kind === 'pool');
    const conn = second.upsert.find((r) => r.kind === 'connection');
    expect(pool).toMatchObject({ id: 'pool:k', key: 'k', machine: 'pool', status: 'active' });
    expect(conn).toMatchObject({ key: 'k', parent: 'pool:k', machine: 'connection' });
    expect(conn?.state.length).toBe(1);
    expect(second.stats.k).toMatchObject({ key: 'k', total: 1, inUse: 1 });
    expect(second.log.some((e) => e.source === 'xstate' && e.key === 'k')).toBe(true);
    expect(second.log.some((e) => e.source === 'manager' && e.type === 'pool:created')).toBe(true);
    // Nothing changed: nothing to send.
    expect(w.flush()).toBeUndefined();

    // A change of state alone travels as a tuple, without the context.
    m.connectionCache.returnConnection('k', c);
    await expect.poll(() => leafPaths(actorTree(m).find((n) => n.kind === 'connection')?.ref.getSnapshot().value)).not.toEqual(conn?.state);
    const returned = w.flush() as BatchMessage;
    const change = returned.states.find(([sid]) => sid === conn?.sid);
    expect(change?.[1]).toBe('active');
    expect(change?.[2]).not.toEqual(conn?.state);
    expect(returned.upsert.find((r) => r.sid === conn?.sid)).toBeUndefined();
    const again = (await m.connectionCache.acquireConnection('k', { maxConnections: 2 }, t.factory)) as FakeConnection;
    expect(again).toBe(c);

    m.connectionCache.destroyConnection('k', again);
    await expect.poll(() => actorTree(m).filter((n) => n.kind === 'connection').length).toBe(0);
    const third = w.flush() as BatchMessage;
    expect(third.remove).toContain(conn?.sid);
    const full = w.full(charts);
    expect(full.reset).toBe(true);
    expect(full.upsert.map((r) => r.kind).sort()).toEqual(['manager', 'pool']);
    expect(full.log.length).toBeGreaterThan(0);
    w.stop();
  });

  test('log entries of a connection that lived between two flushes still name its key', async () => {
    const m = manager();
    const w = new ManagerWatcher(m, { charts });
    w.start();
    w.flush();
    const t = tracker();
    t.failWith = refused();
    await rejection(m.connectionCache.acquireConnection('gone', {}, t.factory));
    await expect.poll(() => actorTree(m).filter((n) => n.kind === 'connection').length).toBe(0);
    const batch = w.flush() as BatchMessage;
    const ownEvents = batch.log.filter((e) => e.source === 'xstate' && e.actor === 'gone#1');
    expect(ownEvents.length).toBeGreaterThan(0);
    for (const e of ownEvents) expect(e.key).toBe('gone');
    const error = batch.log.find((e) => e.type === 'connection:error');
    expect(error).toMatchObject({ key: 'gone', actor: 'gone#1', data: { code: 'ECONNREFUSED' } });
    w.stop();
  });

  // Guards the XState internal the watcher reads: the system scheduler's `_scheduledEvents`,
  // with the delayed event, its delay and its start time, keyed to its source actor.
  test("a pool's breaker timer is read from XState's scheduler, with its delay, and goes when it fires", async () => {
    const { state, exit } = breaker();
    const { m, clock } = simulated();
    const w = new ManagerWatcher(m, { charts });
    w.start();
    const t = tracker();
    t.failWith = refused();
    const before = Date.now();
    await rejection(m.connectionCache.acquireConnection('k', {}, t.factory));
    const batch = w.flush() as BatchMessage;
    const pool = batch.upsert.find((r) => r.kind === 'pool');
    // The pool runs two regions (creates and housekeeping): the breaker is one of its leaves.
    expect(pool?.state).toContain(state);
    const timers = (batch.timers[pool?.sid ?? ''] ?? []).map(([i, delayMs, startedAt]) => ({ event: batch.timerEvents[i], delayMs, startedAt }));
    const timer = timers.find((x) => x.event === exit);
    expect(timer, `pending timers: ${JSON.stringify(timers)}`).toBeDefined();
    expect(timer?.delayMs).toBeGreaterThan(0);
    expect(Number.isFinite(timer?.delayMs)).toBe(true);
    expect(timer?.startedAt).toBeGreaterThanOrEqual(before);
    expect(timer?.startedAt).toBeLessThanOrEqual(Date.now());

    clock.increment(timer?.delayMs ?? 0);
    const after = w.flush() as BatchMessage;
    const change = after.states.find(([sid]) => sid === pool?.sid) ?? after.upsert.find((r) => r.sid === pool?.sid);
    expect(change, 'the pool left its breaker state').toBeDefined();
    expect(Array.isArray(change) ? change[2] : change?.state).not.toContain(state);
    expect((after.timers[pool?.sid ?? ''] ?? []).some(([i]) => after.timerEvents[i] === exit)).toBe(false);
    w.stop();
  });
});
