import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { RetryStrategy, ShutdownError } from '../src/index.js';
import { manager, simulated } from './support/managers.js';
import { deferred, flushMicrotasks, nextTurn, tracker, type FakeConnection } from './support/resources.js';
import { runFixture } from './support/processes.js';
import { startEchoServer } from './support/servers.js';

describe('gracefulShutdown', () => {
  test('rejects new acquires at once and waiting ones; closes idle now and lent on return', async () => {
    const m = manager();
    const t = tracker();
    const config = { maxConnections: 1 };
    const idle = (await m.connectionCache.acquireConnection('idle-key', config, t.factory)) as FakeConnection;
    m.connectionCache.returnConnection('idle-key', idle);
    const lent = (await m.connectionCache.acquireConnection('k', config, t.factory)) as FakeConnection;
    const waitingA = m.connectionCache.acquireConnection('k', config, t.factory);
    const waitingB = m.connectionCache.acquireConnection('k', config, t.factory);
    const phases: string[] = [];
    m.events.on('manager:shutdown', (e) => phases.push(e.phase));
    let finished = false;
    const done = m.gracefulShutdown({ timeout: 60_000 }).then(() => (finished = true));
    await expect(waitingA).rejects.toBeInstanceOf(ShutdownError);
    await expect(waitingB).rejects.toBeInstanceOf(ShutdownError);
    await expect(m.connectionCache.acquireConnection('k', config, t.factory)).rejects.toBeInstanceOf(ShutdownError);
    await expect(m.connectionCache.acquireConnection('new-key', config, t.factory)).rejects.toBeInstanceOf(ShutdownError);
    await flushMicrotasks();
    expect(idle.destroyCalls).toBe(1);
    expect(lent.destroyCalls).toBe(0);
    expect(finished).toBe(false);
    m.connectionCache.returnConnection('k', lent);
    await done;
    expect(lent.destroyCalls).toBe(1);
    expect(phases).toEqual(['started', 'completed']);
    expect(m.actor.getSnapshot().status).toBe('done');
    expect(t.calls).toBe(2);
  });

  test('the timeout forces lent connections closed; their later return is accepted', async () => {
    const { clock, m } = simulated();
    const t = tracker();
    const lent = (await m.connectionCache.acquireConnection('k', {}, t.factory)) as FakeConnection;
    const phases: string[] = [];
    m.events.on('manager:shutdown', (e) => phases.push(e.phase));
    const done = m.gracefulShutdown({ timeout: 5000 });
    clock.increment(4999);
    await flushMicrotasks();
    expect(lent.destroyCalls).toBe(0);
    clock.increment(1);
    await done;
    expect(lent.destroyCalls).toBe(1);
    expect(phases).toEqual(['started', 'forced', 'completed']);
    expect(() => m.connectionCache.returnConnection('k', lent)).not.toThrow();
  });

  test('a create in flight is closed when it lands, and the shutdown waits for it', async () => {
    const m = manager();
    const t = tracker();
    const gate = deferred();
    t.gate = gate.promise;
    const pending = m.connectionCache.acquireConnection('k', {}, t.factory);
    await flushMicrotasks();
    let finished = false;
    const done = m.gracefulShutdown().then(() => (finished = true));
    await expect(pending).rejects.toBeInstanceOf(ShutdownError);
    await flushMicrotasks();
    expect(finished).toBe(false);
    gate.resolve();
    await done;
    expect(t.created).toHaveLength(1);
    expect(t.created[0]?.destroyCalls).toBe(1);
  });

  test('a create that never settles is abandoned at the timeout; whatever it produces later is destroyed', async () => {
    const { clock, m } = simulated();
    const t = tracker();
    const gate = deferred();
    t.gate = gate.promise;
    m.connectionCache.acquireConnection('k', {}, t.factory).catch(() => {});
    await flushMicrotasks();
    const done = m.gracefulShutdown({ timeout: 1000 });
    clock.increment(1000);
    await done;
    gate.resolve();
    await flushMicrotasks();
    expect(t.created).toHaveLength(1);
    expect(t.created[0]?.destroyCalls).toBe(1);
  });

  test('calling it twice returns the same promise; a bad timeout is a ConfigurationError', async () => {
    const m = manager();
    await expect(m.gracefulShutdown({ timeout: -1 })).rejects.toMatchObject({ name: 'ConfigurationError', field: 'options.timeout' });
    const first = m.gracefulShutdown();
    expect(m.gracefulShutdown()).toBe(first);
    await first;
  });

  test('await using: the manager shuts down when its scope ends', async () => {
    const t = tracker();
    let c: FakeConnection | undefined;
    {
      await using m = manager();
      c = (await m.connectionCache.acquireConnection('k', {}, t.factory)) as FakeConnection;
      m.connectionCache.returnConnection('k', c);
    }
    expect(c?.destroyCalls).toBe(1);
  });
});

describe('nothing keeps the process alive', () => {
  const fixture = fileURLToPath(new URL('./fixtures/exit-after-shutdown.ts', import.meta.url));
  const run = (mode: string, ...args: string[]) => runFixture(fixture, [mode, ...args]);

  test('after gracefulShutdown, with TCP sockets, idle timers and a waiter left behind', async () => {
    const r = await run('shutdown');
    expect(r.code).toBe(0);
    expect(r.out).toContain('shut down 0');
  });

  test('without a shutdown, an idle pool of plain objects does not hold the process open', async () => {
    const r = await run('no-shutdown');
    expect(r.code).toBe(0);
    expect(r.out).toContain('pooled 2');
  });

  test('a pooled connection to a registered server holds the process while lent, not while idle', async () => {
    const server = await startEchoServer();
    try {
      const m = manager();
      const [link] = await m.connect([{ host: '127.0.0.1', port: server.port, cacheKey: 'echo' }]);
      await link?.close();
      const pool = m.pool('echo', { maxConnections: 1 });
      // Sockets that keep the event loop alive (the echo server's own accepted ones included).
      const holding = () => process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap').length;
      const lease = await pool.lease();
      await nextTurn();
      const whileLent = holding();
      lease.release();
      await nextTurn(); // the deferred check-in: its actor enters open.idle
      expect(holding()).toBe(whileLent - 1);
      const again = await pool.lease();
      expect(holding()).toBe(whileLent);
      again.release();
    } finally {
      await server.stop();
    }
  });

  test("without a shutdown, idle pooled connections to a registered server do not hold the process open (they did for maxIdleTime, 300 s)", async () => {
    const server = await startEchoServer();
    try {
      const r = await run('idle-server-connections', String(server.port));
      expect(r.out).toContain('idle 2');
      expect(r.code).toBe(0); // killed at 15 s otherwise (code null)
    } finally {
      await server.stop();
    }
  });
});

describe('shutdown and retries', () => {
  test("cancels a pooled connection's pending retry backoff at once", async () => {
    const m = manager();
    const t = tracker();
    t.failWith = Object.assign(new Error('refused'), { code: 'ECONNREFUSED' });
    const backoff = new Promise((resolve) => m.events.on('connection:backoff', resolve));
    const pending = m.connectionCache.acquireConnection(
      'k',
      { retryStrategy: RetryStrategy.fixed(60_000), maxReconnectionAttempts: 5 },
      t.factory,
    );
    pending.catch(() => {});
    await backoff;
    const closed = new Promise<string>((resolve) => m.events.on('connection:closed', (e) => resolve(e.reason)));
    const started = performance.now();
    await m.gracefulShutdown({ timeout: 60_000 });
    expect(performance.now() - started).toBeLessThan(1000);
    expect(await closed).toBe('shutdown');
    expect(t.calls).toBe(1);
    await expect(pending).rejects.toBeInstanceOf(ShutdownError);
  });
});
