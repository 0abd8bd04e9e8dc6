/**
 * The pool options users ask for most: validation on borrow, maximum lifetime and uses, a
 * bounded wait queue, leak detection, a destroy timeout, and hit counts that mean something.
 */
import net from 'node:net';
import { describe, expect, test } from 'vitest';
import { PoolFullError, type ManagerEvents } from '../src/index.js';
import { actorTree } from '../src/introspection.js';
import { manager, simulated } from './support/managers.js';
import { flushMicrotasks, nextTurn, tracker, type FakeConnection } from './support/resources.js';
import { HOST } from './support/servers.js';

/**
 * An echo server whose accepted sockets can be frozen: they stay open (no FIN, no RST) but never
 * answer again, like a peer that vanished behind a NAT or a dead host. New sockets still work.
 */
async function freezableEchoServer() {
  const sockets = new Set<net.Socket>();
  const frozen = new WeakSet<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    socket.on('data', (chunk) => {
      if (!frozen.has(socket)) socket.write(chunk);
    });
  });
  server.listen(0, HOST);
  await new Promise((resolve) => server.once('listening', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    freezeAll: () => sockets.forEach((s) => frozen.add(s)),
    close: () => new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    }),
  };
}

/** One round trip over `socket`, abortable: true if the echo came back. */
function ping(socket: net.Socket, signal: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    const done = (ok: boolean) => {
      socket.off('data', onData);
      signal.removeEventListener('abort', onAbort);
      resolve(ok);
    };
    const onData = () => done(true);
    const onAbort = () => done(false);
    socket.on('data', onData);
    signal.addEventListener('abort', onAbort, { once: true });
    socket.write('ping');
  });
}

describe('validation on borrow', () => {
  test('a connection whose peer vanished without a FIN is caught, destroyed, and the caller gets a new one', async () => {
    const server = await freezableEchoServer();
    const m = manager();
    const connect = () =>
      new Promise<net.Socket>((resolve, reject) => {
        const s = net.connect(server.port, HOST, () => resolve(s));
        s.once('error', reject);
      });
    const validate = (socket: net.Socket, { signal }: { signal: AbortSignal }) => ping(socket, signal);
    const pool = m.pool('db', { maxConnections: 2, validate, validateAfterIdle: 0, validationTimeout: 200 }, connect);
    const first = await pool.acquire();
    pool.release(first);
    await nextTurn(); // it rests in the pool
    server.freezeAll(); // its peer is gone, and nothing on the socket says so
    const second = await pool.acquire();
    expect(second).not.toBe(first);
    expect(first.destroyed).toBe(true);
    expect(await ping(second, new AbortController().signal)).toBe(true);
    expect(pool.stats()).toMatchObject({ invalidated: 1, created: 2 });
    pool.release(second);
    await m.gracefulShutdown();
    await server.close();
  });

  test('only connections idle longer than validateAfterIdle are validated; false or a throw means invalid', async () => {
    const { clock, m } = simulated();
    const t = tracker();
    const verdicts: (boolean | Error)[] = [];
    const validated: number[] = [];
    const validate = (c: FakeConnection) => {
      validated.push(c.n);
      const v = verdicts.shift() ?? true;
      if (v instanceof Error) throw v;
      return Promise.resolve(v);
    };
    const pool = m.pool('k', { maxConnections: 3, validate, validateAfterIdle: 500 }, t.factory);
    const c = await pool.acquire();
    pool.release(c);
    await nextTurn();
    // Used within the last 500 ms: lent without validation (HikariCP's alive-bypass window).
    expect(await pool.acquire()).toBe(c);
    expect(validated).toEqual([]);
    pool.release(c);
    await nextTurn();
    clock.increment(500);
    verdicts.push(false);
    const next = await pool.acquire();
    expect(validated).toEqual([1]);
    expect(next.n).toBe(2);
    expect(t.created[0]?.destroyCalls).toBe(1);
    pool.release(next);
    await nextTurn();
    clock.increment(600);
    verdicts.push(new Error('ping failed'));
    expect((await pool.acquire()).n).toBe(3);
    expect(pool.stats().invalidated).toBe(2);
  });

  test('validation is a state of the connection machine (open.validating)', async () => {
    const { clock, m } = simulated();
    let finish!: (ok: boolean) => void;
    const validate = () => new Promise<boolean>((resolve) => (finish = resolve));
    const pool = m.pool('k', { validate, validateAfterIdle: 0 }, tracker().factory);
    const c = await pool.acquire();
    pool.release(c);
    await nextTurn();
    const p = pool.acquire();
    await flushMicrotasks();
    const actor = actorTree(m).find((n) => n.kind === 'connection')?.ref;
    expect(actor?.getSnapshot().value).toEqual({ open: 'validating' });
    expect(pool.stats()).toMatchObject({ validating: 1, waiting: 1 });
    finish(true);
    expect(await p).toBe(c);
    expect(actor?.getSnapshot().value).toEqual({ open: 'inUse' });
    void clock;
  });

  test('a validation that outlasts validationTimeout fails, and the acquire still gets a connection within acquireTimeout', async () => {
    const { clock, m } = simulated();
    const t = tracker();
    const validate = (_c: FakeConnection, { signal }: { signal: AbortSignal }) =>
      new Promise<boolean>((_resolve, reject) => signal.addEventListener('abort', () => reject(new Error('aborted'))));
    const pool = m.pool('k', { validate, validateAfterIdle: 0, validationTimeout: 300, acquireTimeout: 1000 }, t.factory);
    const c = await pool.acquire();
    pool.release(c);
    await nextTurn();
    const p = pool.acquire();
    await flushMicrotasks();
    clock.increment(300);
    const next = await p;
    expect(next.n).toBe(2);
    expect(t.created[0]?.destroyCalls).toBe(1);
  });

  test('an acquire aborted while its connection is validated leaves the waiting count right, and later waiters are served', async () => {
    // Found while splitting the ledger: the abort removed from the queue a waiter that was not
    // queued (it was being served), taking the count to -1; a later abort then emptied the queue
    // with a caller still in it, served never and timed out never.
    const { m } = simulated();
    const t = tracker();
    let answer = (_valid: boolean) => {};
    const validate = () => new Promise<boolean>((resolve) => (answer = resolve));
    const pool = m.pool('k', { maxConnections: 1, validate, validateAfterIdle: 0 }, t.factory);
    pool.release(await pool.acquire());
    await nextTurn();
    const controller = new AbortController();
    const aborted = pool.acquire({ signal: controller.signal });
    await nextTurn();
    expect(pool.stats()).toMatchObject({ waiting: 1, validating: 1 });
    controller.abort();
    await expect(aborted).rejects.toThrow(/aborted/);
    expect(pool.stats().waiting).toBe(0);
    answer(true);
    await nextTurn();
    const heldNext = pool.acquire();
    await nextTurn();
    answer(true);
    const held = await heldNext;
    // Two callers wait; the first one aborts.
    const first = new AbortController();
    const w1 = pool.acquire({ signal: first.signal });
    const w2 = pool.acquire();
    expect(pool.stats().waiting).toBe(2);
    first.abort();
    await expect(w1).rejects.toThrow(/aborted/);
    expect(pool.stats().waiting).toBe(1);
    pool.release(held);
    expect(await Promise.race([w2, nextTurn().then(() => 'not served')])).toBe(held);
  });
});

describe('maxLifetime and maxUses', () => {
  test('a connection past maxLifetime retires when idle (min refilled), a lent one when returned', async () => {
    const { clock, m } = simulated();
    const t = tracker();
    const pool = m.pool('k', { minConnections: 1, maxConnections: 2, maxLifetime: 10_000 }, t.factory);
    const lent = await pool.acquire();
    const idle = await pool.acquire();
    pool.release(idle);
    await nextTurn();
    // The spread: every connection retires within the last 2.5 % of its lifetime, never after it.
    clock.increment(9_749);
    await flushMicrotasks();
    expect(t.created.every((c) => c.destroyCalls === 0)).toBe(true);
    clock.increment(251);
    await flushMicrotasks();
    expect(t.created[1]?.destroyCalls).toBe(1); // the idle one
    expect(t.created[0]?.destroyCalls).toBe(0); // never while lent
    pool.release(lent);
    await flushMicrotasks();
    expect(t.created[0]?.destroyCalls).toBe(1); // on its return
    // The minimum is refilled with a new connection.
    expect(pool.stats()).toMatchObject({ total: 1, idle: 1, expirations: 2 });
  });

  test('connections made together do not all retire at the same moment (a random spread)', async () => {
    const { clock, m } = simulated();
    const t = tracker();
    const pool = m.pool('k', { maxConnections: 40, maxLifetime: 100_000 }, t.factory);
    const all = await Promise.all(Array.from({ length: 40 }, () => pool.acquire()));
    for (const c of all) pool.release(c);
    await nextTurn();
    const retiredAt: number[] = [];
    for (let ms = 97_000; ms <= 100_000; ms += 100) {
      clock.set(ms);
      await flushMicrotasks();
      const gone = t.created.filter((c) => c.destroyCalls > 0).length;
      while (retiredAt.length < gone) retiredAt.push(ms);
    }
    expect(retiredAt).toHaveLength(40);
    expect(new Set(retiredAt).size).toBeGreaterThan(1);
    // Within the last 2.5 % of the lifetime (less the sweep's tolerance of 1 s), never after it.
    expect(Math.min(...retiredAt)).toBeGreaterThanOrEqual(96_500);
    expect(Math.max(...retiredAt)).toBeLessThanOrEqual(100_000);
  });

  // A listener of the sweep's events may return a connection the same sweep retired a moment
  // earlier, before that connection's actor has heard of it.
  test.each(['release', 'destroy'] as const)(
    'a connection retired by a sweep and returned (%s) from a listener of that sweep is closed, never lent again',
    async (call) => {
      const { clock, m } = simulated();
      const t = tracker();
      const pool = m.pool('k', { maxConnections: 2, maxLifetime: 10_000 }, t.factory);
      const a = await pool.acquire();
      const b = await pool.acquire();
      let expirations = 0;
      m.events.on('cache:expiration', () => {
        if (++expirations === 2) pool[call](a); // both lent connections retired by now
      });
      clock.increment(10_000);
      await flushMicrotasks();
      expect(expirations).toBe(2);
      expect(a.destroyCalls).toBe(1);
      expect(pool.stats()).toMatchObject({ idle: 0, closing: 0 });
      const next = await pool.acquire();
      expect(next).not.toBe(a);
      expect(next).not.toBe(b);
      pool.release(next);
      pool.release(b);
      await flushMicrotasks();
      expect(b.destroyCalls).toBe(1);
    },
  );

  test('maxUses: a connection lent that many times closes when returned', async () => {
    const m = manager();
    const t = tracker();
    const pool = m.pool('k', { maxConnections: 1, maxUses: 3 }, t.factory);
    for (let i = 0; i < 3; i++) pool.release(await pool.acquire());
    await flushMicrotasks();
    expect(t.created[0]?.destroyCalls).toBe(1);
    expect((await pool.acquire()).n).toBe(2);
  });
});

describe('a bounded wait queue', () => {
  test('maxWaiting: the next acquire rejects at once with PoolFullError', async () => {
    const m = manager();
    const pool = m.pool('k', { maxConnections: 1, maxWaiting: 2 }, tracker().factory);
    const held = await pool.acquire();
    const waiting = [pool.acquire(), pool.acquire()];
    await expect(pool.acquire()).rejects.toBeInstanceOf(PoolFullError);
    await expect(m.connectionCache.acquireConnection('k')).rejects.toThrow(/2 acquires are already waiting/);
    pool.release(held);
    pool.release(await waiting[0]!);
    pool.release(await waiting[1]!);
  });
});

describe('leak detection', () => {
  test('a lease held past leakDetectionThreshold is reported once, with where it was acquired', async () => {
    const { clock, m } = simulated();
    const leaks: ManagerEvents['pool:leak'][] = [];
    m.events.on('pool:leak', (e) => leaks.push(e));
    const pool = m.pool('k', { leakDetectionThreshold: 2000 }, tracker().factory);
    const c = await pool.acquire();
    clock.increment(1999);
    await flushMicrotasks();
    expect(leaks).toEqual([]);
    clock.increment(1);
    await flushMicrotasks();
    expect(leaks).toHaveLength(1);
    expect(leaks[0]).toMatchObject({ key: 'k', connectionId: 'k#1', heldMs: 2000 });
    expect(leaks[0]?.stack).toContain('pool-features.test.ts');
    clock.increment(10_000);
    await flushMicrotasks();
    expect(leaks).toHaveLength(1);
    pool.release(c);
    expect(pool.stats().leaks).toBe(1);
  });
});

describe('destroyTimeout', () => {
  test('a destroy that hangs is given up after destroyTimeout: the connection counts as closed', async () => {
    const { clock, m } = simulated();
    const t = tracker();
    // The first destroy hangs; later ones (the shutdown's) finish.
    const destroy = (c: FakeConnection) => (c.n === 1 ? new Promise(() => {}) : undefined);
    const pool = m.pool('k', { maxConnections: 1, destroyTimeout: 2000, destroy }, t.factory);
    const c = await pool.acquire();
    pool.destroy(c);
    await flushMicrotasks();
    expect(pool.stats()).toMatchObject({ total: 1, closing: 1 });
    clock.increment(2000);
    await flushMicrotasks();
    expect(pool.stats()).toMatchObject({ total: 0, closing: 0 });
    const next = await pool.acquire();
    expect(next.n).toBe(2);
    pool.release(next);
  });
});

describe('a destroy that finishes at once', () => {
  test('a synchronous destroy closes the connection within destroy(); one that throws closes it too, its error on connection:closed', async () => {
    // Such a destroy is raised in the same step (no mailbox round trip, no pending destroy).
    const { m } = simulated();
    const t = tracker();
    const destroy = (c: FakeConnection) => {
      if (c.n === 2) throw new Error('close failed');
    };
    const closed: Array<{ reason: string; error: string | undefined }> = [];
    m.events.on('connection:closed', (e) => closed.push({ reason: e.reason, error: e.error?.message }));
    const pool = m.pool('k', { maxConnections: 1, destroy }, t.factory);
    const first = await pool.acquire();
    pool.destroy(first);
    expect(pool.stats()).toMatchObject({ total: 0, closing: 0 });
    const second = await pool.acquire();
    expect(second.n).toBe(2);
    pool.destroy(second);
    expect(pool.stats()).toMatchObject({ total: 0, closing: 0 });
    expect(closed).toEqual([
      { reason: 'discarded', error: undefined },
      { reason: 'discarded', error: 'close failed' },
    ]);
    const third = await pool.acquire();
    expect(third.n).toBe(3);
    pool.release(third);
  });
});

describe('statistics', () => {
  test('hits count hand-overs to waiters too: 1,000 acquires served by 5 connections', async () => {
    const m = manager();
    const pool = m.pool('k', { maxConnections: 5 }, tracker().factory);
    await Promise.all(
      Array.from({ length: 1000 }, async () => {
        const c = await pool.acquire();
        await Promise.resolve();
        pool.release(c);
      }),
    );
    expect(pool.stats()).toMatchObject({ created: 5, misses: 5, hits: 995 });
  });
});
