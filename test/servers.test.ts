import { describe, expect, test } from 'vitest';
import {
  ConfigurationError,
  Connection,
  ConnectionError,
  RetryStrategy,
  type ManagerEvents,
  type ServerLocation,
} from '../src/index.js';
import { manager } from './support/managers.js';
import { configurationRejection } from './support/rejection.js';
import {
  findClosedPort,
  startEchoServer,
  startResetServer,
  startSilentServer,
  startTlsEchoServer,
  tlsFixtures,
  trackServers,
} from './support/servers.js';

const track = trackServers();

/** Writes `text` and reads the same number of bytes back. */
async function echo(connection: Connection, text: string): Promise<string> {
  const reply = new Promise<string>((resolve) => {
    let got = '';
    const off = connection.on('data', (chunk) => {
      got += chunk.toString();
      if (got.length >= text.length) {
        off();
        resolve(got);
      }
    });
  });
  await connection.write(text);
  return reply;
}

/** Records network events, in order, as `type id detail`. */
function record(m: ReturnType<typeof manager>): string[] {
  const log: string[] = [];
  m.events.on('*', (type, e) => {
    if (!String(type).startsWith('connection:')) return;
    const ev = e as ManagerEvents['connection:error'] & { delay?: number; attempts?: number; reconnected?: boolean; reason?: string };
    const detail =
      type === 'connection:error'
        ? ev.code
        : type === 'connection:backoff'
          ? `${ev.attempt}+${ev.delay}`
          : type === 'connection:failed'
            ? String(ev.attempts)
            : type === 'connection:connecting'
              ? String(ev.attempt)
              : type === 'connection:connected'
                ? (ev.reconnected ? 'again' : 'first')
                : type === 'connection:closed'
                  ? String(ev.reason)
                  : '';
    log.push(`${String(type).slice('connection:'.length)} ${ev.connectionId}${detail ? ` ${detail}` : ''}`);
  });
  return log;
}

const fast = RetryStrategy.fixed(30);

describe('connect()', () => {
  test('opens a Connection per server, in order, with typed events', async () => {
    const a = await track(startEchoServer());
    const b = await track(startEchoServer());
    const m = manager();
    const log = record(m);
    const conns = await m.connect([
      { host: '127.0.0.1', port: a.port, cacheKey: 'a' },
      { host: 'localhost', port: b.port, cacheKey: 'b' },
    ]);
    expect(conns.map((c) => c.cacheKey)).toEqual(['a', 'b']);
    expect(conns[0]).toBeInstanceOf(Connection);
    expect(conns[0]?.encrypted).toBe(false);
    expect(conns[0]?.remotePort).toBe(a.port);
    expect(await echo(conns[1] as Connection, 'hello b')).toBe('hello b');
    expect(log).toEqual([`connecting ${conns[0]?.id} 1`, `connected ${conns[0]?.id} first`, `connecting ${conns[1]?.id} 1`, `connected ${conns[1]?.id} first`]);
    expect(m.connectionCache.fetchAllConnections()).toEqual(expect.arrayContaining(conns));
  });

  test("registers each server: its pool opens new connections to it without a factory", async () => {
    const s = await track(startEchoServer());
    const m = manager();
    const [link] = await m.connect([{ host: '127.0.0.1', port: s.port, cacheKey: 'api-server' }]);
    const pooled = (await m.connectionCache.acquireConnection('api-server', { maxConnections: 2 })) as Connection;
    expect(pooled).toBeInstanceOf(Connection);
    expect(pooled).not.toBe(link);
    expect(pooled.id).toBe('api-server#1');
    expect(await echo(pooled, 'pooled')).toBe('pooled');
    m.connectionCache.returnConnection('api-server', pooled);
    expect(s.accepted).toBe(2);
  });

  test('if a server exhausts its attempts: a ConnectionError with every outcome; the others stay usable', async () => {
    const good = await track(startEchoServer());
    const closed = await findClosedPort();
    const m = manager();
    const log = record(m);
    const error = await m
      .connect(
        [
          { host: '127.0.0.1', port: good.port, cacheKey: 'good' },
          { host: '127.0.0.1', port: closed, cacheKey: 'down' },
        ],
        { retryStrategy: fast, maxReconnectionAttempts: 3 },
      )
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConnectionError);
    const outcomes = (error as ConnectionError<Connection, ServerLocation>).outcomes;
    expect(outcomes.map((o) => o.status)).toEqual(['connected', 'failed']);
    const down = outcomes[1];
    expect(down?.status === 'failed' && (down.error as NodeJS.ErrnoException).code).toBe('ECONNREFUSED');
    const up = outcomes[0];
    if (up?.status !== 'connected') throw new Error('expected a connection');
    expect(await echo(up.connection, 'still here')).toBe('still here');
    // Every attempt counted, the first included: three attempts, two backoffs, then failed.
    const downId = log.find((l) => l.startsWith('connecting down'))?.split(' ')[1];
    expect(log.filter((l) => l.includes(` ${downId}`))).toEqual([
      `connecting ${downId} 1`,
      `error ${downId} ECONNREFUSED`,
      `backoff ${downId} 1+30`,
      `connecting ${downId} 2`,
      `error ${downId} ECONNREFUSED`,
      `backoff ${downId} 2+30`,
      `connecting ${downId} 3`,
      `error ${downId} ECONNREFUSED`,
      `failed ${downId} 3`,
      // A link that gives up is gone for good, like any connection: it ends in closed.
      `closed ${downId} failed`,
    ]);
  });

  test('a timeout bounds each attempt, TLS handshake included', async () => {
    const silent = await track(startSilentServer());
    const m = manager();
    const started = performance.now();
    const error = await m
      .connect([{ host: '127.0.0.1', port: silent.port, cacheKey: 'silent', enableTLS: true }], {
        timeout: 300,
        maxReconnectionAttempts: 1,
      })
      .catch((e: unknown) => e);
    const elapsed = performance.now() - started;
    const failed = (error as ConnectionError).outcomes[0];
    expect(failed?.status === 'failed' && (failed.error as { code?: string }).code).toBe('ETIMEDOUT');
    expect(elapsed).toBeGreaterThanOrEqual(290);
    expect(elapsed).toBeLessThan(3000);
    expect(silent.accepted).toBe(1);
    await expect.poll(() => silent.openSockets).toBe(0); // the half-open socket was destroyed
  });
});

describe('TLS', () => {
  test('verifies the peer by default: without its CA the certificate error; with it, TLS details', async () => {
    const tlsServer = await track(startTlsEchoServer());
    const m = manager();
    const log = record(m);
    const without = await m
      .connect([{ host: 'localhost', port: tlsServer.port, cacheKey: 'secure', enableTLS: true }], { maxReconnectionAttempts: 1 })
      .catch((e: unknown) => e);
    const outcome = (without as ConnectionError).outcomes[0];
    const code = outcome?.status === 'failed' ? (outcome.error as { code?: string }).code : undefined;
    expect(['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY']).toContain(code);
    expect(log.some((l) => l.startsWith('error ') && l.endsWith(code as string))).toBe(true);

    const [secure] = await m.connect([
      { host: 'localhost', port: tlsServer.port, cacheKey: 'secure', enableTLS: true, tls: { ca: tlsFixtures.ca } },
    ]);
    expect(secure?.encrypted).toBe(true);
    expect(secure?.tls?.authorized).toBe(true);
    expect(secure?.tls?.protocol).toMatch(/^TLSv1\.[23]$/);
    expect(await echo(secure as Connection, 'over tls')).toBe('over tls');
    // The registered server's pool opens TLS connections too.
    const pooled = (await m.connectionCache.acquireConnection('secure', {})) as Connection;
    expect(pooled.encrypted).toBe(true);
    m.connectionCache.returnConnection('secure', pooled);
  });

  test('a certificate for another host name is refused', async () => {
    const tlsServer = await track(startTlsEchoServer({ certificate: 'wrong-host' }));
    const m = manager();
    const error = await m
      .connect([{ host: 'localhost', port: tlsServer.port, cacheKey: 'x', enableTLS: true, tls: { ca: tlsFixtures.ca } }], {
        maxReconnectionAttempts: 1,
      })
      .catch((e: unknown) => e);
    const outcome = (error as ConnectionError).outcomes[0];
    expect(outcome?.status === 'failed' && (outcome.error as { code?: string }).code).toBe('ERR_TLS_CERT_ALTNAME_INVALID');
  });
});

describe('reconnection', () => {
  test('a connection reconnects on its own after the server restarts on the same port', async () => {
    const s = await track(startEchoServer());
    const m = manager();
    const log = record(m);
    const [conn] = (await m.connect([{ host: '127.0.0.1', port: s.port, cacheKey: 'echo' }], {
      retryStrategy: fast,
      maxReconnectionAttempts: 50,
      // This connection stands for one that had been up a while (a drop within the window
      // would count as its attempt failing: tested in failure-modes.test.ts).
      stabilityWindow: 0,
    })) as Connection[];
    const c = conn as Connection;
    const disconnected = new Promise((resolve) => m.events.on('connection:disconnected', resolve));
    const backedOff = new Promise((resolve) => m.events.on('connection:backoff', resolve));
    await s.stop();
    await disconnected;
    expect(c.state).toBe('disconnected');
    await expect(c.write('lost')).rejects.toMatchObject({ code: 'ERR_NOT_CONNECTED' });
    await backedOff; // at least one refused attempt while the server is away
    const reconnected = new Promise<ManagerEvents['connection:connected']>((resolve) =>
      m.events.on('connection:connected', (e) => e.reconnected && resolve(e)),
    );
    await s.restart();
    const e = await reconnected;
    expect(e.connectionId).toBe(c.id);
    expect(c.state).toBe('connected');
    expect(await echo(c, 'back again')).toBe('back again');
    expect(log).toContain(`error ${c.id} ECONNREFUSED`);
  });

  test('reconnection gives up after maxReconnectionAttempts: the Connection closes for good', async () => {
    const s = await track(startEchoServer());
    const m = manager();
    const log = record(m);
    const [conn] = (await m.connect([{ host: '127.0.0.1', port: s.port, cacheKey: 'echo' }], {
      retryStrategy: fast,
      maxReconnectionAttempts: 2,
      stabilityWindow: 0, // a connection that had been up a while (see failure-modes.test.ts)
    })) as Connection[];
    const failed = new Promise<ManagerEvents['connection:failed']>((resolve) => m.events.on('connection:failed', resolve));
    const closedEvent = new Promise<ManagerEvents['connection:closed']>((resolve) => m.events.on('connection:closed', resolve));
    await s.stop();
    expect((await failed).attempts).toBe(2);
    const closed = await (conn as Connection).whenClosed();
    expect(closed.hadError).toBe(true);
    expect(conn?.state).toBe('closed');
    const closedPayload = await closedEvent;
    expect(closedPayload).toMatchObject({ key: 'echo', connectionId: conn?.id, reason: 'failed' });
    expect((closedPayload.error as { code?: string }).code).toBe('ECONNREFUSED');
    // The exact sequence after the drop (whether the drop itself carried an error depends on
    // the OS: a FIN or a reset).
    const id = conn?.id as string;
    const afterDrop = log.slice(log.indexOf(`disconnected ${id}`));
    expect(afterDrop).toEqual([
      `disconnected ${id}`,
      `connecting ${id} 1`,
      `error ${id} ECONNREFUSED`,
      `backoff ${id} 1+30`,
      `connecting ${id} 2`,
      `error ${id} ECONNREFUSED`,
      `failed ${id} 2`,
      `closed ${id} failed`,
    ]);
  });

  test('a reset is reported with its code, ECONNRESET', async () => {
    const reset = await track(startResetServer());
    const m = manager();
    const log = record(m);
    // The reset may hit the attempt itself or the just-opened connection: either way it is reported.
    const pending = m.connect([{ host: '127.0.0.1', port: reset.port, cacheKey: 'r' }], {
      retryStrategy: RetryStrategy.fixed(60_000),
    });
    pending.catch(() => {});
    await expect.poll(() => log.some((l) => l.startsWith('error ') && l.endsWith(' ECONNRESET'))).toBe(true);
  });

  test('closing a Connection opened by connect() ends its supervision: no reconnect', async () => {
    const s = await track(startEchoServer());
    const m = manager();
    const log = record(m);
    const [conn] = (await m.connect([{ host: '127.0.0.1', port: s.port, cacheKey: 'echo' }])) as Connection[];
    const closedEvent = new Promise<ManagerEvents['connection:closed']>((resolve) => m.events.on('connection:closed', resolve));
    await conn?.close();
    expect((await closedEvent).reason).toBe('closed');
    expect(log.filter((l) => l.startsWith('connecting'))).toHaveLength(1);
    expect(m.connectionCache.count).toBe(0);
    expect(s.accepted).toBe(1);
  });
});

describe('connectParallel()', () => {
  test('never more than maxConcurrentConnections at once; one outcome per server in order; failures isolated', async () => {
    const up = await Promise.all([1, 2, 3, 4].map(() => track(startEchoServer())));
    const closedPorts = [await findClosedPort(), await findClosedPort()];
    const list: ServerLocation[] = [
      { host: '127.0.0.1', port: closedPorts[0] as number, cacheKey: 'down-0' },
      ...up.map((s, i) => ({ host: '127.0.0.1', port: s.port, cacheKey: `up-${i}` })),
      { host: '127.0.0.1', port: closedPorts[1] as number, cacheKey: 'down-1' },
    ];
    const m = manager();
    // A server is "connecting" from its first attempt until it connects or gives up.
    let inFlight = 0;
    let peak = 0;
    m.events.on('connection:connecting', (e) => {
      if (e.attempt === 1) peak = Math.max(peak, ++inFlight);
    });
    m.events.on('connection:connected', () => inFlight--);
    m.events.on('connection:failed', () => inFlight--);
    const outcomes = await m.connectParallel(list, { maxConcurrentConnections: 2, retryStrategy: fast, maxReconnectionAttempts: 3 });
    expect(peak).toBe(2);
    expect(outcomes.map((o) => `${o.server.cacheKey}:${o.status}`)).toEqual([
      'down-0:failed',
      'up-0:connected',
      'up-1:connected',
      'up-2:connected',
      'up-3:connected',
      'down-1:failed',
    ]);
    for (const o of outcomes) {
      if (o.status === 'connected') expect(await echo(o.connection, `hi ${o.server.cacheKey}`)).toBe(`hi ${o.server.cacheKey}`);
    }
  });

  test('the limit defaults to 4', async () => {
    const up = await Promise.all([1, 2, 3, 4, 5, 6].map(() => track(startSilentServer())));
    const m = manager();
    let inFlight = 0;
    let peak = 0;
    m.events.on('connection:connecting', (e) => {
      if (e.attempt === 1) peak = Math.max(peak, ++inFlight);
    });
    m.events.on('connection:failed', () => inFlight--);
    const outcomes = await m.connectParallel(
      up.map((s, i) => ({ host: '127.0.0.1', port: s.port, cacheKey: `s${i}`, enableTLS: true })),
      { timeout: 150, maxReconnectionAttempts: 1 },
    );
    expect(peak).toBe(4);
    expect(outcomes.every((o) => o.status === 'failed')).toBe(true);
  });
});

describe('shutdown', () => {
  test('cancels a pending backoff at once', async () => {
    const port = await findClosedPort();
    const m = manager();
    const backoff = new Promise((resolve) => m.events.on('connection:backoff', resolve));
    const pending = m.connect([{ host: '127.0.0.1', port, cacheKey: 'down' }], { retryStrategy: RetryStrategy.fixed(60_000) });
    pending.catch(() => {});
    await backoff;
    const started = performance.now();
    await m.gracefulShutdown({ timeout: 60_000 });
    expect(performance.now() - started).toBeLessThan(1000);
    await expect(pending).rejects.toBeInstanceOf(ConnectionError);
    await expect(m.connect([{ host: '127.0.0.1', port, cacheKey: 'late' }])).rejects.toMatchObject({ code: 'ERR_SHUTDOWN' });
  });

  test('closes the connections connect() opened', async () => {
    const s = await track(startEchoServer());
    const m = manager();
    const [conn] = await m.connect([{ host: '127.0.0.1', port: s.port, cacheKey: 'echo' }]);
    await m.gracefulShutdown();
    expect(conn?.state).toBe('closed');
    await expect.poll(() => s.openSockets).toBe(0);
  });
});

describe('pools with a retry strategy', () => {
  test('a failing factory is retried within acquireTimeout: the acquire resolves null in time', async () => {
    const m = manager();
    let calls = 0;
    const started = performance.now();
    const result = await m.connectionCache.acquireConnection(
      'flaky',
      { acquireTimeout: 300, retryStrategy: RetryStrategy.fixed(50), maxReconnectionAttempts: 100 },
      async () => {
        calls++;
        throw Object.assign(new Error('refused'), { code: 'ECONNREFUSED' });
      },
    );
    expect(result).toBeNull();
    expect(performance.now() - started).toBeLessThan(1500);
    expect(calls).toBeGreaterThanOrEqual(3);
  });

  test('a factory that succeeds on its third attempt serves the caller', async () => {
    const m = manager();
    const log = record(m);
    let calls = 0;
    const c = await m.connectionCache.acquireConnection('flaky', { retryStrategy: RetryStrategy.fixed(20) }, async () => {
      if (++calls < 3) throw Object.assign(new Error('busy'), { code: 'EBUSY' });
      return { ok: true };
    });
    expect(c).toEqual({ ok: true });
    expect(log.filter((l) => l.startsWith('backoff'))).toEqual(['backoff flaky#1 1+20', 'backoff flaky#1 2+20']);
  });

  test('the factory gets an AbortSignal that aborts when its attempt times out', async () => {
    const m = manager();
    let aborted = false;
    const result = await m.connectionCache.acquireConnection('slow', { acquireTimeout: 1000, timeout: 100 }, ({ signal }) => {
      return new Promise<object>((_, reject) => {
        signal.addEventListener('abort', () => {
          aborted = true;
          reject(new Error('aborted'));
        });
      });
    }).catch((e: unknown) => e);
    expect(aborted).toBe(true);
    expect((result as { code?: string }).code).toBe('ETIMEDOUT');
  });
});

describe('the delegate', () => {
  test('gets one call per network event; one that throws is isolated', async () => {
    const s = await track(startEchoServer());
    const m = manager();
    const calls: string[] = [];
    const errors: string[] = [];
    m.events.on('listener:error', (e) => errors.push(e.event));
    m.delegate = {
      connecting: (e) => calls.push(`connecting ${e.attempt}`),
      connected: () => {
        calls.push('connected');
        throw new Error('delegate bug');
      },
      closed: (e) => calls.push(`closed ${e.reason}`),
    };
    await m.connect([{ host: '127.0.0.1', port: s.port, cacheKey: 'echo' }]);
    await m.gracefulShutdown();
    expect(calls).toEqual(['connecting 1', 'connected', 'closed shutdown']);
    expect(errors).toEqual(['delegate.connected']);
  });
});

describe('bad input: a typed error naming the field, before any socket opens', () => {
  test.each([
    [[{ host: '', port: 1, cacheKey: 'a' }], {}, 'servers[0].host'],
    [[{ host: 'h', port: 0, cacheKey: 'a' }], {}, 'servers[0].port'],
    [[{ host: 'h', port: 70000, cacheKey: 'a' }], {}, 'servers[0].port'],
    [[{ host: 'h', port: 1, cacheKey: 'a' }, { host: 'h', port: 2, cacheKey: 'a' }], {}, 'servers[1].cacheKey'],
    [[{ host: 'h', port: 1, cacheKey: 'a' }], { maxReconnectionAttempts: 0 }, 'options.maxReconnectionAttempts'],
    [[{ host: 'h', port: 1, cacheKey: 'a' }], { timeout: -1 }, 'options.timeout'],
    [[{ host: 'h', port: 1, cacheKey: 'a' }], { retryStrategy: 'fast' }, 'options.retryStrategy'],
    [[{ host: 'h', port: 1, cacheKey: 'a' }], [], 'options'],
  ])('connect(%o, %o) names %s', async (list, options, field) => {
    const m = manager();
    const error = await m.connect(list as ServerLocation[], options as object).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigurationError);
    expect((error as ConfigurationError).field).toBe(field);
  });

  test("an options getter that throws: a ConfigurationError naming the field, the getter's error its cause", async () => {
    const m = manager();
    const boom = new Error('boom');
    const options = {
      get timeout(): number {
        throw boom;
      },
    };
    for (const call of [() => m.connect([{ host: 'h', port: 1, cacheKey: 'a' }], options), () => m.connectParallel([{ host: 'h', port: 1, cacheKey: 'b' }], options)]) {
      const error = await configurationRejection(call());
      expect(error.field).toBe('options.timeout');
      expect(error.cause).toBe(boom);
    }
  });

  test('maxConcurrentConnections, retry delays: checked before a valid server in the list is touched', async () => {
    const s = await track(startEchoServer());
    const m = manager();
    const list = [{ host: '127.0.0.1', port: s.port, cacheKey: 'ok' }];
    for (const bad of [0, -1, 1.5]) {
      const e = await m.connectParallel(list, { maxConcurrentConnections: bad }).catch((x: unknown) => x);
      expect((e as ConfigurationError).field).toBe('options.maxConcurrentConnections');
    }
    expect(() => RetryStrategy.fixed(-5)).toThrow(ConfigurationError);
    expect(() => RetryStrategy.exponential({ initialDelay: 2000, maxDelay: 1000 })).toThrow(/maxDelay/);
    expect(s.accepted).toBe(0);
  });
});
