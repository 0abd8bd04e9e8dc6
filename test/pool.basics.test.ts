import { describe, expect, test } from 'vitest';
import { AbortError, ConnectionPoolConfiguration, TimeAmount } from '../src/index.js';
import { manager, simulated } from './support/managers.js';
import { deferred, flushMicrotasks, tracker, type FakeConnection } from './support/resources.js';

describe('exclusive checkout', () => {
  test('concurrent acquires get distinct connections, never more than maxConnections', async () => {
    const t = tracker();
    const m = manager();
    const config = { maxConnections: 3 };
    const got = await Promise.all([1, 2, 3].map(() => m.connectionCache.acquireConnection('k', config, t.factory)));
    expect(new Set(got).size).toBe(3);
    // A fourth waits: nothing is free and the pool is at max.
    let fourth: FakeConnection | null | undefined;
    const p = m.connectionCache.acquireConnection('k', config, t.factory).then((c) => (fourth = c));
    await flushMicrotasks();
    expect(fourth).toBeUndefined();
    expect(t.calls).toBe(3);
    m.connectionCache.returnConnection('k', got[1] as FakeConnection);
    await p;
    expect(fourth).toBe(got[1]);
    expect(m.connectionCache.stats('k')).toMatchObject({ total: 3, inUse: 3, idle: 0, waiting: 0 });
  });

  test('many concurrent acquires on an empty pool create at most maxConnections', async () => {
    const t = tracker();
    const gate = deferred();
    t.gate = gate.promise;
    const m = manager();
    const config = { maxConnections: 5 };
    const all = Array.from({ length: 50 }, () => m.connectionCache.acquireConnection('k', config, t.factory));
    await flushMicrotasks();
    expect(t.calls).toBe(5);
    expect(m.connectionCache.stats('k')).toMatchObject({ connecting: 5, waiting: 50 });
    gate.resolve();
    // Serve all 50, five at a time, each returning what it got.
    const served: FakeConnection[] = [];
    for (const p of all) {
      const c = (await p) as FakeConnection;
      served.push(c);
      m.connectionCache.returnConnection('k', c);
    }
    expect(t.created.length).toBe(5);
    expect(new Set(served).size).toBe(5);
  });

  test('waiters are served oldest first', async () => {
    const t = tracker();
    const m = manager();
    const config = { maxConnections: 1 };
    const first = (await m.connectionCache.acquireConnection('k', config, t.factory)) as FakeConnection;
    const order: number[] = [];
    const waiters = [1, 2, 3].map((i) =>
      m.connectionCache.acquireConnection('k', config, t.factory).then((c) => {
        order.push(i);
        return c as FakeConnection;
      }),
    );
    m.connectionCache.returnConnection('k', first);
    const w1 = await waiters[0];
    m.connectionCache.returnConnection('k', w1 as FakeConnection);
    const w2 = await waiters[1];
    m.connectionCache.returnConnection('k', w2 as FakeConnection);
    await waiters[2];
    expect(order).toEqual([1, 2, 3]);
    expect(t.calls).toBe(1);
  });
});

describe('acquire timeout', () => {
  test("the seed's example: null within a few hundred ms while the factory takes seconds", async () => {
    const m = manager();
    let factoryDone = false;
    const started = performance.now();
    const connection = await m.connectionCache.acquireConnection(
      'server-key',
      { maxConnections: 1, acquireTimeout: TimeAmount.milliseconds(100) },
      async () => {
        // Simulate slow connection creation (the seed waits 1 s, then throws).
        await new Promise((resolve) => setTimeout(resolve, 1000));
        factoryDone = true;
        throw new Error('test');
      },
    );
    const elapsed = performance.now() - started;
    expect(connection).toBeNull();
    expect(factoryDone).toBe(false);
    expect(elapsed).toBeGreaterThanOrEqual(95);
    // Real time on a shared machine: a generous bound, before the factory's 1 s.
    expect(elapsed).toBeLessThan(1000);
  });

  test('a connection created after its caller timed out joins the pool for the next caller', async () => {
    const { clock, m } = simulated();
    const t = tracker();
    const gate = deferred();
    t.gate = gate.promise;
    const config = { maxConnections: 1, acquireTimeout: 500 };
    const p = m.connectionCache.acquireConnection('k', config, t.factory);
    await flushMicrotasks();
    clock.increment(500);
    expect(await p).toBeNull();
    expect(m.connectionCache.stats('k')).toMatchObject({ timeouts: 1, connecting: 1, waiting: 0 });
    gate.resolve();
    await flushMicrotasks();
    expect(m.connectionCache.stats('k')).toMatchObject({ idle: 1, total: 1 });
    const next = await m.connectionCache.acquireConnection('k', config, t.factory);
    expect(next).toBe(t.created[0]);
    expect(t.calls).toBe(1);
  });

  test('the timeout covers time spent queued behind other callers', async () => {
    const { clock, m } = simulated();
    const t = tracker();
    const config = { maxConnections: 1, acquireTimeout: 1000 };
    const held = await m.connectionCache.acquireConnection('k', config, t.factory);
    const waits = [m.connectionCache.acquireConnection('k', config, t.factory)];
    clock.increment(600);
    waits.push(m.connectionCache.acquireConnection('k', config, t.factory));
    clock.increment(400); // the first waiter's deadline
    expect(await waits[0]).toBeNull();
    expect(m.connectionCache.stats('k')?.waiting).toBe(1);
    clock.increment(600); // the second's
    expect(await waits[1]).toBeNull();
    expect(held).not.toBeNull();
  });

  test('Infinity waits forever; 0 does not wait', async () => {
    const { clock, m } = simulated();
    const t = tracker();
    const held = (await m.connectionCache.acquireConnection('k', { maxConnections: 1 }, t.factory)) as FakeConnection;
    const now = m.connectionCache.acquireConnection('k', { maxConnections: 1, acquireTimeout: 0 }, t.factory);
    clock.increment(0); // its deadline is now: the next timer tick
    expect(await now).toBeNull();
    let result: unknown = 'pending';
    const forever = m.connectionCache
      .acquireConnection('k', { maxConnections: 1, acquireTimeout: Number.POSITIVE_INFINITY }, t.factory)
      .then((c) => (result = c));
    clock.increment(365 * 24 * 3600 * 1000);
    await flushMicrotasks();
    expect(result).toBe('pending');
    m.connectionCache.returnConnection('k', held);
    await forever;
    expect(result).toBe(held);
  });
});

describe('cancellation', () => {
  test('an AbortSignal cancels a waiting acquire with an AbortError carrying the reason', async () => {
    const t = tracker();
    const m = manager();
    const config = { maxConnections: 1 };
    const held = (await m.connectionCache.acquireConnection('k', config, t.factory)) as FakeConnection;
    const controller = new AbortController();
    const p = m.connectionCache.acquireConnection('k', config, t.factory, { signal: controller.signal });
    const reason = new Error('user went away');
    controller.abort(reason);
    const error = await p.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AbortError);
    expect((error as AbortError).name).toBe('AbortError');
    expect((error as AbortError).cause).toBe(reason);
    expect(m.connectionCache.stats('k')?.waiting).toBe(0);
    // The aborted waiter is not served: the return goes to the idle list.
    m.connectionCache.returnConnection('k', held);
    expect(m.connectionCache.stats('k')).toMatchObject({ idle: 1, inUse: 0 });
  });

  test('an already aborted signal rejects at once, even with an idle connection', async () => {
    const t = tracker();
    const m = manager();
    const c = (await m.connectionCache.acquireConnection('k', {}, t.factory)) as FakeConnection;
    m.connectionCache.returnConnection('k', c);
    const error = await m.connectionCache
      .acquireConnection('k', {}, t.factory, { signal: AbortSignal.abort('no') })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AbortError);
    expect(m.connectionCache.stats('k')).toMatchObject({ idle: 1, inUse: 0 });
  });
});

describe('factory errors', () => {
  test('the acquire that asked for the connection rejects with the factory error itself', async () => {
    const m = manager();
    const boom = new Error('ECONNREFUSED');
    const error = await m.connectionCache
      .acquireConnection('k', {}, async () => {
        throw boom;
      })
      .catch((e: unknown) => e);
    expect(error).toBe(boom);
    expect(m.connectionCache.stats('k')).toMatchObject({ total: 0, failed: 1, waiting: 0 });
  });

  test('a factory that throws synchronously rejects the same way', async () => {
    const m = manager();
    const boom = new TypeError('bad');
    const error = await m.connectionCache
      .acquireConnection('k', {}, () => {
        throw boom;
      })
      .catch((e: unknown) => e);
    expect(error).toBe(boom);
  });

  test('a failing factory trips a breaker: one probe at a time, backing off, each answering one waiter', async () => {
    const { clock, m } = simulated();
    const t = tracker();
    t.failWith = new Error('down');
    const outcomes: string[] = [];
    const acquires = Array.from({ length: 5 }, (_, i) =>
      m.connectionCache
        .acquireConnection('k', { maxConnections: 2 }, t.factory)
        .then(
          () => outcomes.push(`${i} served`),
          (e: unknown) => outcomes.push(`${i} ${e === t.failWith ? 'got the error' : String(e)}`),
        ),
    );
    await flushMicrotasks();
    // The two creates that max allows fail: their callers (oldest first) get the error.
    expect(t.calls).toBe(2);
    expect(outcomes).toEqual(['0 got the error', '1 got the error']);
    // The others wait. The two creates failed together: one episode, so one step of the breaker.
    // One probe after 100 ms, then after 200 and 400 ms, each failure answering the oldest waiter.
    for (const [delay, expected] of [
      [99, 2],
      [1, 3],
      [200, 4],
      [400, 5],
    ] as const) {
      clock.increment(delay);
      await flushMicrotasks();
      expect(t.calls).toBe(expected);
    }
    await Promise.all(acquires);
    expect(outcomes).toEqual(['0 got the error', '1 got the error', '2 got the error', '3 got the error', '4 got the error']);
    // Nobody waits any more: nothing is retried, however long.
    clock.increment(60_000);
    await flushMicrotasks();
    expect(t.calls).toBe(5);
  });

  test('a factory resolving a non-object is rejected with a clear error', async () => {
    const m = manager();
    const error = await m.connectionCache
      .acquireConnection('k', {}, async () => 42 as unknown as object)
      .catch((e: unknown) => e);
    expect(String(error)).toMatch(/factory for 'k': resolved 42; a connection must be an object/);
  });
});

describe('the seed examples, in TypeScript', () => {
  test('acquire, use, return; different pools for different servers', async () => {
    const manager_ = manager();
    const apiPoolConfig = new ConnectionPoolConfiguration({ maxConnections: 20, acquireTimeout: TimeAmount.seconds(5) });
    const cachePoolConfig = new ConnectionPoolConfiguration({ maxConnections: 5, acquireTimeout: TimeAmount.seconds(2) });
    const api = await manager_.connectionCache.acquireConnection('api-server', apiPoolConfig, async () => ({ kind: 'api' }));
    const cache = await manager_.connectionCache.acquireConnection('cache-server', cachePoolConfig, async () => ({
      kind: 'cache',
    }));
    expect(api).toEqual({ kind: 'api' });
    expect(cache).toEqual({ kind: 'cache' });
    expect(manager_.connectionCache.isEmpty).toBe(false);
    expect(manager_.connectionCache.count).toBe(2);
    expect(manager_.connectionCache.fetchAllConnections()).toEqual(expect.arrayContaining([api, cache]));
    manager_.connectionCache.returnConnection('api-server', api as object);
    manager_.connectionCache.returnConnection('cache-server', cache as object);
    expect(manager_.connectionCache.count).toBe(2); // idle, still pooled
    expect(manager_.connectionCache.stats('api-server')).toMatchObject({ idle: 1, inUse: 0, total: 1 });
  });

  test('default configuration', () => {
    expect({ ...new ConnectionPoolConfiguration() }).toEqual({
      minConnections: 0,
      maxConnections: 10,
      acquireTimeout: 30_000,
      maxIdleTime: 300_000,
    });
    expect(new ConnectionPoolConfiguration({ maxConnections: 5, acquireTimeout: TimeAmount.seconds(5) })).toMatchObject({
      maxConnections: 5,
      acquireTimeout: 5000,
    });
  });
});
