/**
 * The Pool handle and its leases (what pool users ask for): settings owned by the handle, typed
 * connections, leases bound to one checkout, withConnection, ready().
 */
import { describe, expect, expectTypeOf, test } from 'vitest';
import {
  AcquireTimeoutError,
  ConfigurationError,
  connectionBroke,
  InvalidReturnError,
  ShutdownError,
  type Connection,
  type Lease,
  type Pool,
} from '../src/index.js';
import { manager, simulated } from './support/managers.js';
import { deferred, flushMicrotasks, tracker, type FakeConnection } from './support/resources.js';
import { HOST, startEchoServer } from './support/servers.js';

describe('the Pool handle', () => {
  test('is typed by what the factory makes, and a registered server key holds Connections', async () => {
    const m = manager();
    const t = tracker();
    const pool = m.pool('fake', { maxConnections: 2 }, t.factory);
    expectTypeOf(pool).toEqualTypeOf<Pool<FakeConnection>>();
    const c = await pool.acquire();
    expectTypeOf(c).toEqualTypeOf<FakeConnection>();
    expect(c.n).toBe(1);
    pool.release(c);

    const server = await startEchoServer();
    await m.connect([{ host: HOST, port: server.port, cacheKey: 'echo' }]);
    const echo = m.pool('echo', { maxConnections: 2 });
    expectTypeOf(echo).toEqualTypeOf<Pool<Connection>>();
    await echo.withConnection(async (conn) => {
      await conn.write('hi');
      for await (const chunk of conn) {
        expect(chunk.toString()).toBe('hi');
        break;
      }
    });
    await m.gracefulShutdown();
    await server.close();
  });

  test('owns the key settings: an acquire with other settings is refused, reconfigure and resize change them', async () => {
    const m = manager();
    const t = tracker();
    const pool = m.pool('k', { maxConnections: 10 }, t.factory);
    const resized: unknown[] = [];
    m.events.on('pool:resized', (e) => resized.push(e.config.maxConnections));
    // The seed API alternating settings used to resize silently on every call.
    await expect(m.connectionCache.acquireConnection('k', { maxConnections: 2 }, t.factory)).rejects.toBeInstanceOf(ConfigurationError);
    // The same settings (another object) are fine.
    const c = await m.connectionCache.acquireConnection('k', { maxConnections: 10 }, t.factory);
    m.connectionCache.returnConnection('k', c as FakeConnection);
    expect(resized).toEqual([]);
    pool.resize({ maxConnections: 3 });
    expect(resized).toEqual([3]);
    pool.reconfigure({ maxConnections: 4, acquireTimeout: 50 });
    expect(resized).toEqual([3, 4]);
    expect(() => pool.resize({ maxConnections: 0 })).toThrow(ConfigurationError);
    expect(() => pool.resize({ max: 3 } as never)).toThrow(/size\.max: is not a size field/);
    expect(resized).toEqual([3, 4]);
  });

  test('acquire rejects with AcquireTimeoutError at the deadline (never null)', async () => {
    const { clock, m } = simulated();
    const pool = m.pool('k', { maxConnections: 1, acquireTimeout: 100 }, tracker().factory);
    const held = await pool.acquire();
    const late = pool.acquire().catch((e: unknown) => e);
    await flushMicrotasks();
    clock.increment(100);
    expect(await late).toBeInstanceOf(AcquireTimeoutError);
    pool.release(held);
  });

  test('ready() resolves once minConnections are open, and rejects with the create error if warm-up fails', async () => {
    const m = manager();
    const t = tracker();
    const gate = deferred();
    t.gate = gate.promise;
    const pool = m.pool('warm', { minConnections: 3, maxConnections: 5 }, t.factory);
    let ready = false;
    const p = pool.ready().then(() => (ready = true));
    await flushMicrotasks();
    expect(ready).toBe(false);
    gate.resolve();
    await p;
    expect(pool.stats()).toMatchObject({ idle: 3, total: 3 });
    await pool.ready(); // already warm: at once

    const failing = tracker();
    failing.failWith = new Error('no database');
    const cold = m.pool('cold', { minConnections: 1 }, failing.factory);
    await expect(cold.ready()).rejects.toBe(failing.failWith);
    await expect(m.pool('none', {}, t.factory).ready()).resolves.toBeUndefined();
  });

  test('ready() rejects with ShutdownError when the manager shuts down first', async () => {
    const m = manager();
    const pool = m.pool('slow', { minConnections: 1 }, () => new Promise<object>(() => {}));
    const ready = pool.ready().catch((e: unknown) => e);
    await m.gracefulShutdown({ timeout: 0 });
    expect(await ready).toBeInstanceOf(ShutdownError);
  });
});

describe('leases', () => {
  test('a lease is bound to one checkout: a second release throws and changes nothing', async () => {
    const m = manager();
    const pool = m.pool('k', { maxConnections: 1 }, tracker().factory);
    const lease = await pool.lease();
    expectTypeOf(lease).toEqualTypeOf<Lease<FakeConnection>>();
    const connection = lease.connection;
    lease.release();
    expect(lease.released).toBe(true);
    // The connection is lent again, to someone else.
    const next = await pool.lease();
    expect(next.connection).toBe(connection);
    expect(() => lease.release()).toThrow(InvalidReturnError);
    expect(() => lease.release()).toThrow(/lease\.release\('k'\): the lease of k#1 has already ended/);
    // Still lent to the second holder: nothing was returned on its behalf.
    expect(pool.stats()).toMatchObject({ inUse: 1, idle: 0 });
    next.release();
    expect(pool.stats()).toMatchObject({ inUse: 0, idle: 1 });
  });

  test('a resource-based return cannot tell a stale caller from the holder (the documented limit); a lease can', async () => {
    const m = manager();
    const pool = m.pool('k', { maxConnections: 1 }, tracker().factory);
    const first = await pool.acquire();
    pool.release(first);
    const lease = await pool.lease(); // the same connection, lent again
    // A stale returnConnection by the first caller is indistinguishable: it returns the lease's connection.
    pool.release(first);
    expect(pool.stats()).toMatchObject({ inUse: 0, idle: 1 });
    // The lease's own release is then a no-op (its checkout has ended), never a second return.
    lease.release();
    expect(pool.stats()).toMatchObject({ inUse: 0, idle: 1 });
  });

  test('a wrong return through the pool handle names pool.release or pool.destroy, not the connectionCache call', async () => {
    const m = manager();
    const pool = m.pool('k', { maxConnections: 2 }, tracker().factory);
    const connection = await pool.acquire();
    pool.release(connection);
    expect(() => pool.release(connection)).toThrow(InvalidReturnError);
    expect(() => pool.release(connection)).toThrow(/^pool\.release\('k'\): connection k#1 was already returned$/);
    expect(() => pool.destroy(connection)).toThrow(/^pool\.destroy\('k'\): connection k#1 was already returned$/);
    const stranger = { n: 0 } as FakeConnection;
    expect(() => pool.release(stranger)).toThrow(/^pool\.release\('k'\): this connection was not lent out by this key$/);
    // The connectionCache calls keep their own names.
    expect(() => m.connectionCache.returnConnection('k', connection)).toThrow(/^returnConnection\('k'\): /);
    expect(pool.stats()).toMatchObject({ inUse: 0, idle: 1 });
  });

  test('await using releases the lease at the end of the block', async () => {
    const m = manager();
    const pool = m.pool('k', { maxConnections: 1 }, tracker().factory);
    {
      await using lease = await pool.lease();
      expect(lease.connection.n).toBe(1);
      expect(pool.stats().inUse).toBe(1);
    }
    expect(pool.stats()).toMatchObject({ inUse: 0, idle: 1 });
  });

  test('destroy() closes the connection instead of returning it', async () => {
    const m = manager();
    const t = tracker();
    const pool = m.pool('k', { maxConnections: 1 }, t.factory);
    const lease = await pool.lease();
    lease.destroy();
    await flushMicrotasks();
    expect(t.created[0]?.destroyCalls).toBe(1);
    expect(() => lease.release()).toThrow(InvalidReturnError);
    expect((await pool.lease()).connection.n).toBe(2);
  });
});

describe('withConnection', () => {
  test('returns what fn returns and releases; a broken connection is destroyed; other errors release', async () => {
    const m = manager();
    const t = tracker();
    const pool = m.pool('k', { maxConnections: 1 }, t.factory);
    expect(await pool.withConnection((c) => c.n * 10)).toBe(10);
    expect(pool.stats()).toMatchObject({ idle: 1, inUse: 0 });
    const appError = new Error('SELECT failed: syntax error');
    await expect(pool.withConnection(() => Promise.reject(appError))).rejects.toBe(appError);
    expect(t.created[0]?.destroyCalls).toBe(0); // an error of the work, not of the connection
    const reset = Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });
    await expect(pool.withConnection(() => Promise.reject(reset))).rejects.toBe(reset);
    await flushMicrotasks();
    expect(t.created[0]?.destroyCalls).toBe(1); // the connection broke: destroyed
    const terminated = Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' });
    await expect(pool.withConnection(() => Promise.reject(terminated))).rejects.toBe(terminated);
    await flushMicrotasks();
    expect(t.created[1]?.destroyCalls).toBe(1);
  });

  test('connectionBroke reads codes as retrying does: inside an AggregateError, along causes, every cut-off write', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    // Node's dual-stack connect reports one error per address family in an AggregateError.
    expect(connectionBroke(new AggregateError([refused], 'connect failed'))).toBe(true);
    expect(connectionBroke(new Error('query failed', { cause: new AggregateError([refused]) }))).toBe(true);
    expect(connectionBroke(Object.assign(new Error('write after end'), { code: 'ERR_STREAM_WRITE_AFTER_END' }))).toBe(true);
    expect(connectionBroke(new AggregateError([new Error('no code')]))).toBe(false);
  });

  test('the isBroken predicate is configurable', async () => {
    const m = manager();
    const t = tracker();
    const pool = m.pool('k', { maxConnections: 1, isBroken: (e) => (e as Error).message === 'poisoned' }, t.factory);
    await expect(pool.withConnection(() => Promise.reject(new Error('poisoned')))).rejects.toThrow('poisoned');
    await flushMicrotasks();
    expect(t.created[0]?.destroyCalls).toBe(1);
  });
});
