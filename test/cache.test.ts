import { describe, expect, test } from 'vitest';
import { manager, simulated } from './support/managers.js';
import { flushMicrotasks, nextTurn, tracker, type FakeConnection } from './support/resources.js';

describe('CacheConfiguration', () => {
  test('defaults follow the seed: 100 connections, no ttl, LRU off', () => {
    const m = manager();
    expect(m.cacheConfiguration).toEqual({ maxConnections: 100, ttl: Number.POSITIVE_INFINITY, enableLRU: false });
  });

  test('the total cap holds across keys: a key waits for a slot another key frees', async () => {
    const m = manager({ cache: { maxConnections: 3 } });
    const t = tracker();
    const a = await Promise.all([1, 2].map(() => m.connectionCache.acquireConnection('a', {}, t.factory)));
    const b = await m.connectionCache.acquireConnection('b', {}, t.factory);
    let c: unknown = 'pending';
    const waiting = m.connectionCache.acquireConnection('c', {}, t.factory).then((x) => (c = x));
    await flushMicrotasks();
    expect(c).toBe('pending');
    expect(t.calls).toBe(3);
    // Returning is not enough (the connection stays pooled under 'a'); closing one frees a slot.
    m.connectionCache.returnConnection('a', a[0] as FakeConnection);
    await flushMicrotasks();
    expect(c).toBe('pending');
    (a[0] as FakeConnection).drop();
    await waiting;
    expect(c).toBe(t.created[3]);
    expect(t.live()).toBe(3);
    expect(b).not.toBeNull();
  });

  test('a key opened while others wait for slots gives a freed slot to the queue, not to its own callers', async () => {
    // Reported by the manager model test: a pool opened while the slot queue was already
    // non-empty was never told so, and reused its slot for its own callers ahead of keys queued
    // before it. Each key keeps a second caller waiting, so the queue never empties; each key
    // holds at most one connection, so a waiting caller asks for no second slot. Connections are
    // destroyed by their callers (a drop would be a failure, and a failure is never reused).
    const m = manager({ cache: { maxConnections: 1 } });
    const t = { a: tracker(), b: tracker(), c: tracker() };
    const got: string[] = [];
    const acquire = (key: 'a' | 'b' | 'c') =>
      m.connectionCache.acquireConnection(key, { maxConnections: 1 }, t[key].factory).then((x) => {
        got.push(key);
        return x as FakeConnection;
      });
    const b1 = await acquire('b');
    const a1 = acquire('a');
    await flushMicrotasks();
    const c1 = acquire('c'); // c opens while a waits for the one slot
    const b2 = acquire('b');
    await flushMicrotasks();
    m.connectionCache.destroyConnection('b', b1); // b's slot goes to a, first in the queue; b asks again for b2
    const a1c = await a1;
    const a2 = acquire('a');
    await flushMicrotasks();
    m.connectionCache.destroyConnection('a', a1c); // a's slot goes to c; a asks again for a2
    const c1c = await c1;
    const c2 = acquire('c');
    await flushMicrotasks();
    expect(got).toEqual(['b', 'a', 'c']);
    m.connectionCache.destroyConnection('c', c1c); // b waits first: the slot is b's, not c2's
    // Whichever waiting caller is served first (the other waits on): b, first in the queue.
    await Promise.race([b2, c2]);
    expect(got).toEqual(['b', 'a', 'c', 'b']);
    expect(t.c.calls).toBe(1);
    expect(t.b.calls).toBe(2);
    const rejected = [expect(a2).rejects.toThrow(/shutting down/), expect(c2).rejects.toThrow(/shutting down/)];
    await m.gracefulShutdown({ timeout: 0 });
    await Promise.all(rejected);
  });

  test('with LRU on, an idle connection of the least recently used key is closed to make room', async () => {
    const m = manager({ cache: { maxConnections: 2, enableLRU: true } });
    const t = tracker();
    const evicted: string[] = [];
    m.events.on('cache:eviction', (e) => evicted.push(`${e.key}/${e.connectionId}`));
    const a = (await m.connectionCache.acquireConnection('a', {}, t.factory)) as FakeConnection;
    const b = (await m.connectionCache.acquireConnection('b', {}, t.factory)) as FakeConnection;
    m.connectionCache.returnConnection('a', a); // 'a' is used least recently
    m.connectionCache.returnConnection('b', b);
    await m.connectionCache.acquireConnection('b', {}, t.factory).then((x) => m.connectionCache.returnConnection('b', x as FakeConnection));
    const c = await m.connectionCache.acquireConnection('c', {}, t.factory);
    expect(c).toBe(t.created[2]);
    expect(evicted).toEqual(['a/a#1']);
    expect(a.destroyCalls).toBe(1);
    expect(b.destroyCalls).toBe(0);
    expect(m.connectionCache.stats('a')).toMatchObject({ total: 0, evictions: 1 });
  });

  test('ttl closes a connection at its age limit once idle, and at return if in use then', async () => {
    const { clock, m } = simulated({ cache: { ttl: 10_000 } });
    const t = tracker();
    const config = { maxConnections: 2 };
    const [x, y] = (await Promise.all([1, 2].map(() => m.connectionCache.acquireConnection('k', config, t.factory)))) as FakeConnection[];
    m.connectionCache.returnConnection('k', x as FakeConnection);
    await nextTurn();
    clock.increment(10_000);
    await flushMicrotasks();
    expect(x?.destroyCalls).toBe(1); // idle at its age limit: closed
    expect(y?.destroyCalls).toBe(0); // in use: closes when it comes back
    m.connectionCache.returnConnection('k', y as FakeConnection);
    await flushMicrotasks();
    expect(y?.destroyCalls).toBe(1);
    expect(m.connectionCache.stats('k')).toMatchObject({ total: 0, expirations: 2 });
  });

  test('metrics callbacks and cache events report hits, misses, evictions and expirations', async () => {
    const seen: string[] = [];
    const { clock, m } = simulated({
      cache: {
        maxConnections: 1,
        enableLRU: true,
        ttl: 60_000,
        metrics: {
          onHit: (key) => seen.push(`hit ${key}`),
          onMiss: (key) => seen.push(`miss ${key}`),
          onEviction: (key, id) => seen.push(`eviction ${key} ${id}`),
          onExpiration: (key, id, reason) => seen.push(`expiration ${key} ${id} ${reason}`),
        },
      },
    });
    const events: string[] = [];
    m.events.on('*', (type) => {
      if (String(type).startsWith('cache:')) events.push(String(type));
    });
    const t = tracker();
    const a = (await m.connectionCache.acquireConnection('a', {}, t.factory)) as FakeConnection;
    m.connectionCache.returnConnection('a', a);
    const again = (await m.connectionCache.acquireConnection('a', {}, t.factory)) as FakeConnection;
    m.connectionCache.returnConnection('a', again);
    const b = (await m.connectionCache.acquireConnection('b', {}, t.factory)) as FakeConnection;
    m.connectionCache.returnConnection('b', b);
    await nextTurn();
    clock.increment(60_000);
    await flushMicrotasks();
    expect(seen).toEqual(['miss a', 'hit a', 'eviction a a#1', 'miss b', 'expiration b b#1 ttl']);
    expect(events).toEqual(['cache:miss', 'cache:hit', 'cache:eviction', 'cache:miss', 'cache:expiration']);
  });
});
