import { describe, expect, test } from 'vitest';
import { actorTree } from '../src/introspection.js';
import { manager, simulated } from './support/managers.js';
import { FakeConnection, flushMicrotasks, nextTurn, tracker } from './support/resources.js';

describe('minConnections', () => {
  test('are opened when the pool is first configured', async () => {
    const { m } = simulated();
    const t = tracker();
    const c = await m.connectionCache.acquireConnection('k', { minConnections: 3, maxConnections: 5 }, t.factory);
    await flushMicrotasks();
    expect(t.calls).toBe(3);
    expect(m.connectionCache.stats('k')).toMatchObject({ total: 3, idle: 2, inUse: 1 });
    expect(t.created).toContain(c);
  });

  test('are refilled when one is lost', async () => {
    const { clock, m } = simulated();
    const t = tracker();
    const config = { minConnections: 2, maxConnections: 4 };
    const c = (await m.connectionCache.acquireConnection('k', config, t.factory)) as FakeConnection;
    m.connectionCache.returnConnection('k', c);
    await flushMicrotasks();
    expect(m.connectionCache.stats('k')).toMatchObject({ total: 2, idle: 2 });
    // Past its stability window (a drop sooner would count as a failed create; see failure-modes).
    clock.increment(1000);
    t.created[0]?.drop();
    await flushMicrotasks();
    expect(t.created[0]?.destroyCalls).toBe(1);
    expect(t.calls).toBe(3);
    expect(m.connectionCache.stats('k')).toMatchObject({ total: 2, idle: 2, destroyed: 1 });
  });

  test('refilling backs off while the factory keeps failing (100 ms doubling to 500 ms by default), and recovers', async () => {
    const { clock, m } = simulated();
    const t = tracker();
    t.failWith = new Error('down');
    const attempts: number[] = [];
    const factory = () => {
      attempts.push(clock.now());
      return t.factory();
    };
    const config = { minConnections: 1, maxConnections: 2 };
    await expect(m.connectionCache.acquireConnection('k', config, factory)).rejects.toBe(t.failWith);
    for (let ms = 0; ms < 3_000; ms += 100) {
      clock.increment(100);
      await flushMicrotasks();
    }
    // One attempt at a time: 100, 200, 400 ms apart, then every 500 ms (the default maxDelay).
    expect(attempts).toEqual([0, 100, 300, 700, 1200, 1700, 2200, 2700]);
    t.failWith = undefined;
    clock.increment(500);
    await flushMicrotasks();
    expect(m.connectionCache.stats('k')).toMatchObject({ total: 1, idle: 1 });
  });

  test('the breaker delays are configurable per pool (initialDelay, maxDelay)', async () => {
    const { clock, m } = simulated();
    const t = tracker();
    t.failWith = new Error('down');
    const attempts: number[] = [];
    const factory = () => {
      attempts.push(clock.now());
      return t.factory();
    };
    const config = { minConnections: 1, maxConnections: 2, breaker: { initialDelay: 1000, maxDelay: 30_000 } };
    await expect(m.connectionCache.acquireConnection('k', config, factory)).rejects.toBe(t.failWith);
    for (let ms = 0; ms < 120_000; ms += 100) {
      clock.increment(100);
      await flushMicrotasks();
    }
    expect(attempts).toEqual([0, 1000, 3000, 7000, 15_000, 31_000, 61_000, 91_000]);
  });
});

describe('idle expiry', () => {
  test('idle connections above minConnections close after maxIdleTime; those at min stay', async () => {
    const { clock, m } = simulated();
    const t = tracker();
    const config = { minConnections: 1, maxConnections: 3, maxIdleTime: 1000 };
    const got = await Promise.all([1, 2, 3].map(() => m.connectionCache.acquireConnection('k', config, t.factory)));
    for (const c of got) m.connectionCache.returnConnection('k', c as FakeConnection);
    await nextTurn(); // check-ins reach the connection actors at the end of the turn
    clock.increment(999);
    await flushMicrotasks();
    expect(m.connectionCache.stats('k')).toMatchObject({ total: 3, idle: 3 });
    clock.increment(1);
    await flushMicrotasks();
    expect(m.connectionCache.stats('k')).toMatchObject({ total: 1, idle: 1, expirations: 2, destroyed: 2 });
    // The survivor keeps its place at minConnections however long it idles.
    clock.increment(60_000);
    await flushMicrotasks();
    expect(m.connectionCache.stats('k')).toMatchObject({ total: 1, idle: 1 });
  });

  test('a connection in use does not expire, and its idle time starts on return', async () => {
    const { clock, m } = simulated();
    const t = tracker();
    const config = { maxConnections: 1, maxIdleTime: 1000 };
    const c = (await m.connectionCache.acquireConnection('k', config, t.factory)) as FakeConnection;
    clock.increment(5000);
    await flushMicrotasks();
    expect(c.destroyCalls).toBe(0);
    m.connectionCache.returnConnection('k', c);
    await nextTurn();
    clock.increment(999);
    await flushMicrotasks();
    expect(c.destroyCalls).toBe(0);
    clock.increment(1);
    await flushMicrotasks();
    expect(c.destroyCalls).toBe(1);
  });

  test('a connection taken and returned within one turn never goes idle in its actor', async () => {
    const m = manager();
    const t = tracker();
    const c = (await m.connectionCache.acquireConnection('k', {}, t.factory)) as FakeConnection;
    m.connectionCache.returnConnection('k', c);
    await nextTurn();
    const actor = () => actorTree(m).find((n) => n.ref.id === 'k#1')?.ref;
    expect(actor()?.getSnapshot().value).toEqual({ open: 'idle' });
    // Out and back in, synchronously: the actor is told CHECKOUT once it rested, then nothing more.
    for (let i = 0; i < 100; i++) {
      const again = await m.connectionCache.acquireConnection('k', {}, t.factory);
      expect(again).toBe(c);
      m.connectionCache.returnConnection('k', again as FakeConnection);
    }
    expect(actor()?.getSnapshot().value).toEqual({ open: 'inUse' });
    await nextTurn();
    expect(actor()?.getSnapshot().value).toEqual({ open: 'idle' });
  });
});

describe('connections that close on their own', () => {
  test('an idle one that emits close is dropped at once and destroyed once', async () => {
    const m = manager();
    const t = tracker();
    const c = (await m.connectionCache.acquireConnection('k', {}, t.factory)) as FakeConnection;
    m.connectionCache.returnConnection('k', c);
    const events: string[] = [];
    m.events.on('connection:disconnected', (e) => events.push(e.connectionId));
    c.drop();
    expect(m.connectionCache.stats('k')?.idle).toBe(0);
    await flushMicrotasks();
    expect(events).toEqual(['k#1']);
    expect(c.destroyCalls).toBe(1);
    const next = await m.connectionCache.acquireConnection('k', {}, t.factory);
    expect(next).not.toBe(c);
  });

  test('one that errors while lent is destroyed; a waiter at max gets a new one; its return is accepted', async () => {
    const m = manager();
    const t = tracker();
    const config = { maxConnections: 1 };
    const c = (await m.connectionCache.acquireConnection('k', config, t.factory)) as FakeConnection;
    const waiter = m.connectionCache.acquireConnection('k', config, t.factory);
    c.emit('error', Object.assign(new Error('reset'), { code: 'ECONNRESET' }));
    const replacement = await waiter;
    expect(replacement).not.toBe(c);
    expect(c.destroyCalls).toBe(1);
    expect(() => m.connectionCache.returnConnection('k', c)).not.toThrow();
    expect(m.connectionCache.stats('k')).toMatchObject({ total: 1, inUse: 1 });
  });
});

describe('resizing with a later call', () => {
  test('raising maxConnections serves waiters', async () => {
    const m = manager();
    const t = tracker();
    const held = await m.connectionCache.acquireConnection('k', { maxConnections: 1 }, t.factory);
    const waiting = m.connectionCache.acquireConnection('k', { maxConnections: 1 }, t.factory);
    await flushMicrotasks();
    expect(t.calls).toBe(1);
    const resized: number[] = [];
    m.events.on('pool:resized', (e) => resized.push(e.config.maxConnections));
    const third = await m.connectionCache.acquireConnection('k', { maxConnections: 3 }, t.factory);
    const second = await waiting;
    expect(new Set([held, second, third]).size).toBe(3);
    expect(resized).toEqual([3]);
    expect(t.calls).toBe(3);
  });

  test('lowering maxConnections closes idle surplus at once and lent surplus on return', async () => {
    const m = manager();
    const t = tracker();
    const big = { maxConnections: 4 };
    const got = (await Promise.all([1, 2, 3, 4].map(() => m.connectionCache.acquireConnection('k', big, t.factory)))) as FakeConnection[];
    m.connectionCache.returnConnection('k', got[0] as FakeConnection);
    m.connectionCache.returnConnection('k', got[1] as FakeConnection);
    const small = { maxConnections: 1 };
    const waiter = m.connectionCache.acquireConnection('k', small, t.factory); // resizes
    await flushMicrotasks();
    expect(got[0]?.destroyCalls).toBe(1);
    expect(got[1]?.destroyCalls).toBe(1);
    // One of the two lent ones must go as well; it closes when returned.
    m.connectionCache.returnConnection('k', got[2] as FakeConnection);
    m.connectionCache.returnConnection('k', got[3] as FakeConnection);
    const served = await waiter;
    await flushMicrotasks();
    expect(got.filter((c) => c.destroyCalls === 1).length).toBe(3);
    expect(served).toBe(got.find((c) => c.destroyCalls === 0));
    expect(t.calls).toBe(4);
    expect(m.connectionCache.stats('k')).toMatchObject({ total: 1, inUse: 1 });
  });
});

describe('destroyConnection', () => {
  test('a connection that broke in use is closed instead of pooled, and a waiter gets a new one', async () => {
    const m = manager();
    const t = tracker();
    const config = { maxConnections: 1 };
    const broken = (await m.connectionCache.acquireConnection('k', config, t.factory)) as FakeConnection;
    const waiter = m.connectionCache.acquireConnection('k', config, t.factory);
    const closed: string[] = [];
    m.events.on('connection:closed', (e) => closed.push(`${e.connectionId} ${e.reason}`));
    m.connectionCache.destroyConnection('k', broken);
    const fresh = await waiter;
    expect(fresh).not.toBe(broken);
    expect(broken.destroyCalls).toBe(1);
    expect(closed).toEqual(['k#1 discarded']);
    expect(() => m.connectionCache.destroyConnection('k', broken)).toThrow(/already returned \(and has been closed since\)/);
    expect(() => m.connectionCache.destroyConnection('k', {})).toThrow(/not lent out by this key/);
    expect(m.connectionCache.stats('k')).toMatchObject({ total: 1, inUse: 1, destroyed: 1 });
  });
});
