/**
 * Hostile and careless input: every bad value is a ConfigurationError naming its field, before
 * any work, and nothing is left behind (no queued waiter, no colliding actor, no listener pile).
 */
import { getEventListeners } from 'node:events';
import { describe, expect, test } from 'vitest';
import type { AnyActorRef, InspectionEvent } from 'xstate';
import { ConfigurationError, ConnectionManager, InvalidReturnError, MAX_COUNT } from '../src/index.js';
import { actorTree } from '../src/introspection.js';
import { manager } from './support/managers.js';
import { configurationRejection } from './support/rejection.js';
import { flushMicrotasks, tracker, type FakeConnection } from './support/resources.js';
import { HOST, startEchoServer } from './support/servers.js';

function configError(fn: () => unknown): ConfigurationError {
  let error: unknown;
  try {
    fn();
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(ConfigurationError);
  return error as ConfigurationError;
}


describe('a signal that is not an AbortSignal', () => {
  test('acquireConnection: a ConfigurationError naming options.signal, and nothing queued', async () => {
    const m = manager();
    const t = tracker();
    const held = await m.connectionCache.acquireConnection('k', { maxConnections: 1 }, t.factory);
    const fake = { aborted: false, addEventListener: 1 } as unknown as AbortSignal;
    const error = await configurationRejection(m.connectionCache.acquireConnection('k', { maxConnections: 1 }, t.factory, { signal: fake }));
    expect(error.field).toBe('options.signal');
    expect(m.connectionCache.stats('k')?.waiting).toBe(0);
    // The pool is unharmed: the connection comes back and is lent again.
    m.connectionCache.returnConnection('k', held as FakeConnection);
    expect(await m.connectionCache.acquireConnection('k', { maxConnections: 1 }, t.factory)).toBe(held);
  });

  test('the Pool handle: the same', async () => {
    const m = manager();
    const pool = m.pool('k', {}, tracker().factory);
    const error = await configurationRejection(pool.acquire({ signal: 'stop' as unknown as AbortSignal }));
    expect(error.field).toBe('options.signal');
    expect(pool.stats().waiting).toBe(0);
  });
});

describe('actor ids are distinct for any keys', () => {
  const adversarial = ['x@1', 'pool:x', 'pool:x@1', 'a#b', 'a#1', 'x', 'x%401', '__proto__', 'constructor', ':', '@', '#', 'k'.repeat(5000)];

  test('pools, connections and connect() links never share an id; shutdown destroys everything', async () => {
    const server = await startEchoServer();
    const events: InspectionEvent[] = [];
    const m = new ConnectionManager({ inspect: (e) => events.push(e) });
    const t = tracker();
    const held = await Promise.all(adversarial.map((key) => m.connectionCache.acquireConnection(key, {}, t.factory)));
    // A server whose cacheKey looks like another key's pool id, and one like a link id.
    // The reported collision: key 'x@1' and a server whose cacheKey is 'pool:x' were both 'pool:x@1'.
    await m.connect([
      { host: HOST, port: server.port, cacheKey: 'pool:x' },
      { host: HOST, port: server.port, cacheKey: 'x' },
    ]);
    const ids = actorTree(m).map((n) => n.ref.id);
    expect(new Set(ids).size).toBe(ids.length);
    held.forEach((c, i) => m.connectionCache.returnConnection(adversarial[i] as string, c as FakeConnection));
    await m.gracefulShutdown();
    expect(m.actor.getSnapshot().status).toBe('done');
    expect(t.created.every((c) => c.destroyCalls === 1)).toBe(true);
    // The inspector saw each id once per actor.
    const spawned = events.filter((e) => e.type === '@xstate.actor').map((e) => (e.actorRef as AnyActorRef).id);
    expect(new Set(spawned).size).toBe(spawned.length);
    await server.close();
  });
});

describe('options read defensively', () => {
  test('{ clock: {} } names the missing method', () => {
    expect(configError(() => new ConnectionManager({ clock: {} as never })).field).toBe('options.clock.now');
  });

  test('gracefulShutdown(null) and gracefulShutdown(42) are ConfigurationErrors', async () => {
    const m = manager();
    expect((await configurationRejection(m.gracefulShutdown(null as never))).field).toBe('options');
    expect((await configurationRejection(m.gracefulShutdown(42 as never))).field).toBe('options');
    expect((await configurationRejection(m.gracefulShutdown({ timeout: 'soon' } as never))).field).toBe('options.timeout');
  });

  test('a getter that throws: a ConfigurationError naming the field, with the getter error as cause', async () => {
    const m = manager();
    const boom = new Error('getter exploded');
    const config = {
      get maxConnections(): number {
        throw boom;
      },
    };
    const error = await configurationRejection(m.connectionCache.acquireConnection('k', config, tracker().factory));
    expect(error.field).toBe('poolConfig.maxConnections');
    expect(error.cause).toBe(boom);
    const managerError = configError(
      () =>
        new ConnectionManager({
          get cache(): never {
            throw boom;
          },
        }),
    );
    expect(managerError.field).toBe('options.cache');
    expect(managerError.cause).toBe(boom);
    const signalError = await configurationRejection(
      m.connectionCache.acquireConnection('k', {}, tracker().factory, {
        get signal(): never {
          throw boom;
        },
      }),
    );
    expect(signalError.field).toBe('options.signal');
  });

  test('an array is not a pool config, nor a cache config', async () => {
    const m = manager();
    expect((await configurationRejection(m.connectionCache.acquireConnection('k', [] as never, tracker().factory))).field).toBe('poolConfig');
    expect(configError(() => new ConnectionManager({ cache: [] as never })).field).toBe('cache');
    expect(configError(() => m.pool('k', [1, 2] as never, tracker().factory)).field).toBe('poolConfig');
  });

  test.each([
    [{ maxConnections: 1e300 }, 'poolConfig.maxConnections'],
    [{ maxConnections: MAX_COUNT + 1 }, 'poolConfig.maxConnections'],
    [{ maxIdleTime: 0 }, 'poolConfig.maxIdleTime'],
    [{ maxLifetime: 0 }, 'poolConfig.maxLifetime'],
    [{ maxUses: 0 }, 'poolConfig.maxUses'],
    [{ maxWaiting: -1 }, 'poolConfig.maxWaiting'],
    [{ validate: 'yes' }, 'poolConfig.validate'],
    [{ closeEvents: 'close' }, 'poolConfig.closeEvents'],
    [{ closeEvents: ['close', ''] }, 'poolConfig.closeEvents[1]'],
    [{ breaker: { initialDelay: 500, maxDelay: 100 } }, 'poolConfig.breaker.maxDelay'],
    [{ breaker: { initalDelay: 5 } }, 'poolConfig.breaker.initalDelay'],
    [{ destroyTimeout: 0 }, 'poolConfig.destroyTimeout'],
    [{ destroyTimeout: Number.POSITIVE_INFINITY }, 'poolConfig.destroyTimeout'],
    [{ validationTimeout: Number.POSITIVE_INFINITY }, 'poolConfig.validationTimeout'],
    [{ rejectOnTimeout: 'yes' }, 'poolConfig.rejectOnTimeout'],
  ])('%o names %s', async (config, field) => {
    const m = manager();
    const t = tracker();
    const error = await configurationRejection(m.connectionCache.acquireConnection('k', config as object, t.factory));
    expect(error.field).toBe(field);
    expect(t.calls).toBe(0);
  });

  test('cache.maxConnections: 1e300 is refused too', () => {
    expect(configError(() => new ConnectionManager({ cache: { maxConnections: 1e300 } })).field).toBe('cache.maxConnections');
  });
});

describe('giving a connection back wrongly', () => {
  test('destroyConnection on a returned connection names destroyConnection', async () => {
    const m = manager();
    const t = tracker();
    const c = (await m.connectionCache.acquireConnection('k', {}, t.factory)) as FakeConnection;
    m.connectionCache.returnConnection('k', c);
    expect(() => m.connectionCache.destroyConnection('k', c)).toThrow(InvalidReturnError);
    expect(() => m.connectionCache.destroyConnection('k', c)).toThrow(/^destroyConnection\('k'\): connection k#1 was already returned/);
  });
});

describe('cancellation at scale', () => {
  test('many waiters on one AbortSignal share one listener (no MaxListenersExceededWarning)', async () => {
    const m = manager();
    const t = tracker();
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.name);
    process.on('warning', onWarning);
    try {
      const config = { maxConnections: 1 };
      const held = await m.connectionCache.acquireConnection('k', config, t.factory);
      const controller = new AbortController();
      const waiters = Array.from({ length: 50 }, () =>
        m.connectionCache.acquireConnection('k', config, t.factory, { signal: controller.signal }).catch((e: Error) => e.name),
      );
      await flushMicrotasks();
      expect(getEventListeners(controller.signal, 'abort')).toHaveLength(1);
      controller.abort(new Error('request cancelled'));
      expect(await Promise.all(waiters)).toEqual(Array(50).fill('AbortError'));
      expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
      expect(m.connectionCache.stats('k')?.waiting).toBe(0);
      m.connectionCache.returnConnection('k', held as FakeConnection);
      await new Promise((resolve) => setImmediate(resolve));
      expect(warnings).toEqual([]);
    } finally {
      process.off('warning', onWarning);
    }
  });

  test('a burst of aborts makes at most one demand report, not one per abort', async () => {
    const demands: number[] = [];
    const m = manager({
      inspect: (e) => {
        if (e.type === '@xstate.event' && e.event.type === 'DEMAND') demands.push((e.event as unknown as { waiting: number }).waiting);
      },
    });
    const t = tracker();
    const config = { maxConnections: 1 };
    const held = await m.connectionCache.acquireConnection('k', config, t.factory);
    const controllers = Array.from({ length: 200 }, () => new AbortController());
    const waiters = controllers.map((c) => m.connectionCache.acquireConnection('k', config, t.factory, { signal: c.signal }).catch(() => 'aborted'));
    await flushMicrotasks();
    const before = demands.length;
    for (const c of controllers) c.abort(); // oldest first
    await Promise.all(waiters);
    await flushMicrotasks();
    expect(demands.length - before).toBeLessThanOrEqual(1);
    expect(m.connectionCache.stats('k')?.waiting).toBe(0);
    m.connectionCache.returnConnection('k', held as FakeConnection);
  });
});
