import { describe, expect, test } from 'vitest';
import {
  ConfigurationError,
  ConnectionManager,
  ConnectionPoolConfiguration,
  InvalidReturnError,
} from '../src/index.js';
import { manager } from './support/managers.js';
import { tracker, type FakeConnection } from './support/resources.js';

const factory = async () => ({});

async function configError(p: Promise<unknown>): Promise<ConfigurationError> {
  const error = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ConfigurationError);
  return error as ConfigurationError;
}

describe('bad input is a ConfigurationError naming the field, before any work', () => {
  test.each([
    [{ maxConnections: 0 }, 'poolConfig.maxConnections'],
    [{ maxConnections: 1.5 }, 'poolConfig.maxConnections'],
    [{ maxConnections: '10' }, 'poolConfig.maxConnections'],
    [{ minConnections: -1 }, 'poolConfig.minConnections'],
    [{ minConnections: 3, maxConnections: 2 }, 'poolConfig.minConnections'],
    [{ acquireTimeout: -5 }, 'poolConfig.acquireTimeout'],
    [{ acquireTimeout: Number.NaN }, 'poolConfig.acquireTimeout'],
    [{ maxIdleTime: -1 }, 'poolConfig.maxIdleTime'],
    [{ maxConection: 3 }, 'poolConfig.maxConection'],
    [{ destroy: 'close' }, 'poolConfig.destroy'],
  ])('acquireConnection(%o) names %s', async (config, field) => {
    const m = manager();
    const t = tracker();
    const error = await configError(m.connectionCache.acquireConnection('k', config as object, t.factory));
    expect(error.field).toBe(field);
    expect(error.message).toContain(field);
    expect(t.calls).toBe(0);
    expect(m.connectionCache.keys()).toEqual([]);
  });

  test('an empty key, a factory that is not a function, a first call without a factory', async () => {
    const m = manager();
    expect((await configError(m.connectionCache.acquireConnection('', {}, factory))).field).toBe('key');
    expect((await configError(m.connectionCache.acquireConnection(42 as unknown as string, {}, factory))).field).toBe('key');
    expect(
      (await configError(m.connectionCache.acquireConnection('k', {}, 'nope' as unknown as () => Promise<object>))).field,
    ).toBe('factory');
    expect((await configError(m.connectionCache.acquireConnection('k', {}))).field).toBe('factory');
  });

  test('a bad later config leaves the pool as it was', async () => {
    const m = manager();
    const t = tracker();
    await m.connectionCache.acquireConnection('k', { maxConnections: 2 }, t.factory);
    const before = m.connectionCache.stats('k');
    expect((await configError(m.connectionCache.acquireConnection('k', { maxConnections: -2 }, t.factory))).field).toBe(
      'poolConfig.maxConnections',
    );
    expect(m.connectionCache.stats('k')).toEqual(before);
    expect(await m.connectionCache.acquireConnection('k', { maxConnections: 2 }, t.factory)).not.toBeNull();
  });

  test('ConnectionPoolConfiguration validates on construction', () => {
    expect(() => new ConnectionPoolConfiguration({ maxConnections: 0 })).toThrow(ConfigurationError);
    expect(() => new ConnectionPoolConfiguration({ minConnections: 11 })).toThrow(/minConnections: must not exceed maxConnections \(11 > 10\)/);
  });

  test.each([
    [{ cache: { maxConnections: 0 } }, 'cache.maxConnections'],
    [{ cache: { ttl: -1 } }, 'cache.ttl'],
    [{ cache: { ttl: 0 } }, 'cache.ttl'],
    [{ cache: { enableLRU: 'yes' } }, 'cache.enableLRU'],
    [{ cache: { metrics: { onHit: 1 } } }, 'cache.metrics.onHit'],
    [{ cache: { maxConections: 1 } }, 'cache.maxConections'],
    [{ inspector: () => {} }, 'options.inspector'],
  ])('new ConnectionManager(%o) names %s', (options, field) => {
    let error: unknown;
    try {
      new ConnectionManager(options as object);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigurationError);
    expect((error as ConfigurationError).field).toBe(field);
  });
});

describe('returning connections', () => {
  test('twice, never lent, or to the wrong key: a clear error, and nothing changes', async () => {
    const m = manager();
    const t = tracker();
    const a = (await m.connectionCache.acquireConnection('a', {}, t.factory)) as FakeConnection;
    const b = (await m.connectionCache.acquireConnection('b', {}, t.factory)) as FakeConnection;
    m.connectionCache.returnConnection('a', a);
    const before = [m.connectionCache.stats('a'), m.connectionCache.stats('b')];
    expect(() => m.connectionCache.returnConnection('a', a)).toThrow(InvalidReturnError);
    expect(() => m.connectionCache.returnConnection('a', a)).toThrow(/connection a#1 was already returned/);
    expect(() => m.connectionCache.returnConnection('a', {})).toThrow(/not lent out by this key/);
    expect(() => m.connectionCache.returnConnection('a', b)).toThrow(/not lent out by this key/);
    expect(() => m.connectionCache.returnConnection('nope', b)).toThrow(/no connection was ever lent out/);
    expect(() => m.connectionCache.returnConnection('a', null as unknown as object)).toThrow(/expected a connection object/);
    expect([m.connectionCache.stats('a'), m.connectionCache.stats('b')]).toEqual(before);
    // And the pool still works: the idle one is lent again, b still comes back.
    expect(await m.connectionCache.acquireConnection('a', {}, t.factory)).toBe(a);
    m.connectionCache.returnConnection('b', b);
    expect(t.calls).toBe(2);
  });
});

describe('events', () => {
  test('a listener that throws is isolated and reported; the acquire still succeeds', async () => {
    const m = manager();
    const t = tracker();
    const reported: string[] = [];
    m.events.on('connection:connected', () => {
      throw new Error('bad listener');
    });
    m.events.on('listener:error', (e) => reported.push(`${e.event}: ${(e.error as Error).message}`));
    const c = await m.connectionCache.acquireConnection('k', {}, t.factory);
    expect(c).toBe(t.created[0]);
    expect(reported).toEqual(['connection:connected: bad listener']);
  });

  test('pool:acquired and pool:released are emitted while listened to', async () => {
    const m = manager();
    const t = tracker();
    const seen: string[] = [];
    m.events.on('pool:acquired', (e) => seen.push(`acquired ${e.connectionId} ${e.fromIdle}`));
    m.events.on('pool:released', (e) => seen.push(`released ${e.connectionId}`));
    const c = (await m.connectionCache.acquireConnection('k', {}, t.factory)) as FakeConnection;
    m.connectionCache.returnConnection('k', c);
    await m.connectionCache.acquireConnection('k', {}, t.factory);
    expect(seen).toEqual(['acquired k#1 false', 'released k#1', 'acquired k#1 true']);
  });
});
