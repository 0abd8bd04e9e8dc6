import { randomBytes } from 'node:crypto';
import type { LookupFunction, Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { Duplex } from 'node:stream';
import { TLSSocket } from 'node:tls';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Clock } from '../src/clock.js';
import { AbortError, ConfigurationError } from '../src/errors.js';
import { openSocket } from '../src/transport/connect.js';
import { Connection, openConnection, type ConnectionCloseEvent } from '../src/transport/connection.js';
import {
  categorizeNetworkError,
  ConnectAttemptError,
  ConnectionClosedError,
  ConnectTimeoutError,
  errorCode,
  NetworkError,
} from '../src/transport/errors.js';
import { usesTls, validateServers, type ServerLocation } from '../src/transport/server.js';
import {
  activeResources,
  findClosedPort,
  HOST,
  startEchoServer,
  startGreetAndCloseServer,
  startResetServer,
  startSilentServer,
  startTlsEchoServer,
  tlsFixtures,
  type TestServer,
} from './support/servers.js';
import { rejection } from './support/rejection.js';

// ---- per-test bookkeeping -------------------------------------------------------------------

const servers = new Set<TestServer>();
const connections = new Set<Connection>();
const warnings: Error[] = [];
const onWarning = (w: Error) => warnings.push(w);

async function serve(start: Promise<TestServer>): Promise<TestServer> {
  const server = await start;
  servers.add(server);
  return server;
}

function track(conn: Connection): Connection {
  connections.add(conn);
  return conn;
}

async function connect(server: ServerLocation, opts: Partial<Parameters<typeof openConnection>[1]> = {}): Promise<Connection> {
  return track(await openConnection(server, { timeout: 5_000, ...opts }));
}

function tcp(server: TestServer, host = HOST, cacheKey = 'k'): ServerLocation {
  return { host, port: server.port, cacheKey };
}

function tlsLocation(server: TestServer, host = HOST, tls: ServerLocation['tls'] = { ca: tlsFixtures.ca }): ServerLocation {
  return { host, port: server.port, cacheKey: 'tls', enableTLS: true, tls };
}

// Handles open before the test (normally none; counted so that another test file sharing the
// worker cannot make these checks fail).
let baseline = new Map<string, number>();

/** TCP handles opened during this test other than the test servers' own accepted sockets. */
function clientSockets(): number {
  let serverSide = 0;
  for (const s of servers) serverSide += s.openSockets;
  return (activeResources().get('TCPSocketWrap') ?? 0) - (baseline.get('TCPSocketWrap') ?? 0) - serverSide;
}

/** A clock over real timers that knows which of its timers are still pending. */
function trackingClock(): Clock & { pending: Set<NodeJS.Timeout>; started: number } {
  const pending = new Set<NodeJS.Timeout>();
  const clock = {
    pending,
    started: 0,
    now: () => performance.now(),
    setTimeout(fn: () => void, ms: number) {
      clock.started++;
      const t = setTimeout(() => {
        pending.delete(t);
        fn();
      }, ms);
      pending.add(t);
      return t;
    },
    clearTimeout(handle: unknown) {
      pending.delete(handle as NodeJS.Timeout);
      clearTimeout(handle as NodeJS.Timeout);
    },
  };
  return clock;
}


async function readAll(conn: Connection, expectedBytes?: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const chunk of conn) {
    chunks.push(chunk);
    n += chunk.length;
    if (expectedBytes !== undefined && n >= expectedBytes) break;
  }
  return Buffer.concat(chunks);
}

beforeEach(() => {
  warnings.length = 0;
  process.on('warning', onWarning);
  baseline = activeResources();
});

afterEach(async () => {
  process.off('warning', onWarning);
  const leaked = [...connections].filter((c) => !c.closed);
  for (const c of connections) c.destroy();
  await Promise.all([...connections].map((c) => c.whenClosed()));
  connections.clear();
  await Promise.all([...servers].map((s) => s.close()));
  servers.clear();
  expect(leaked.map((c) => c.id), 'connections the test left open').toEqual([]);
  const resources = activeResources();
  for (const kind of ['TCPSocketWrap', 'TCPServerWrap']) {
    expect(resources.get(kind) ?? 0, `${kind} handles left behind`).toBe(baseline.get(kind) ?? 0);
  }
  expect(warnings.map((w) => w.message), 'process warnings').toEqual([]);
});

// ---- validateServers ------------------------------------------------------------------------

describe('validateServers', () => {
  const ok: ServerLocation = { host: 'db.local', port: 5432, cacheKey: 'db' };

  function fieldOf(servers: unknown, field?: string): string {
    try {
      validateServers(servers as ServerLocation[], field);
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigurationError);
      return (err as ConfigurationError).field;
    }
    throw new Error('expected a ConfigurationError');
  }

  it('accepts a valid list', () => {
    expect(() => validateServers([ok, { host: '::1', port: 1, cacheKey: 'b', enableTLS: true, tls: { minVersion: 'TLSv1.3' } }])).not.toThrow();
  });

  it('needs a non-empty array', () => {
    expect(fieldOf([])).toBe('servers');
    expect(fieldOf('db:5432')).toBe('servers');
    expect(fieldOf(undefined)).toBe('servers');
    expect(fieldOf([], 'upstreams')).toBe('upstreams');
  });

  it('names the entry and the field', () => {
    expect(fieldOf([ok, null])).toBe('servers[1]');
    expect(fieldOf([ok, { ...ok, cacheKey: 'x', host: '' }])).toBe('servers[1].host');
    expect(fieldOf([{ ...ok, host: '   ' }])).toBe('servers[0].host');
    expect(fieldOf([{ ...ok, host: 42 }])).toBe('servers[0].host');
    for (const port of [0, 65536, 1.5, '80', Number.NaN, undefined]) {
      expect(fieldOf([ok, { ...ok, cacheKey: 'x', port }])).toBe('servers[1].port');
    }
    expect(fieldOf([{ ...ok, cacheKey: '' }])).toBe('servers[0].cacheKey');
    expect(fieldOf([{ host: 'a', port: 1 }])).toBe('servers[0].cacheKey');
    expect(fieldOf([{ ...ok, enableTLS: 'yes' }])).toBe('servers[0].enableTLS');
    expect(fieldOf([{ ...ok, tls: 'on' }])).toBe('servers[0].tls');
  });

  it('does not skip the holes of a sparse array', () => {
    const sparse: ServerLocation[] = [];
    sparse[1] = ok;
    expect(fieldOf(sparse)).toBe('servers[0]');
  });

  it('rejects a duplicate cacheKey and names both entries', () => {
    try {
      validateServers([ok, { ...ok, cacheKey: 'other' }, { ...ok, port: 5433 }]);
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigurationError);
      expect((err as ConfigurationError).field).toBe('servers[2].cacheKey');
      expect((err as Error).message).toContain('servers[0].cacheKey');
    }
  });

  it('usesTls: enableTLS wins, otherwise tls options imply TLS', () => {
    expect(usesTls(ok)).toBe(false);
    expect(usesTls({ ...ok, enableTLS: true })).toBe(true);
    expect(usesTls({ ...ok, tls: {} })).toBe(true);
    expect(usesTls({ ...ok, enableTLS: false, tls: { ca: 'x' } })).toBe(false);
  });
});

describe('error codes', () => {
  it('categorise Node and OpenSSL codes', () => {
    expect(categorizeNetworkError('ECONNREFUSED')).toBe('refused');
    expect(categorizeNetworkError('ECONNRESET')).toBe('reset');
    expect(categorizeNetworkError('ETIMEDOUT')).toBe('timeout');
    expect(categorizeNetworkError('ENOTFOUND')).toBe('dns');
    expect(categorizeNetworkError('EAI_AGAIN')).toBe('dns');
    expect(categorizeNetworkError('EHOSTUNREACH')).toBe('unreachable');
    expect(categorizeNetworkError('DEPTH_ZERO_SELF_SIGNED_CERT')).toBe('tls');
    expect(categorizeNetworkError('ERR_TLS_CERT_ALTNAME_INVALID')).toBe('tls');
    expect(categorizeNetworkError('ERR_SSL_WRONG_VERSION_NUMBER')).toBe('tls');
    expect(categorizeNetworkError('EWHATEVER')).toBe('other');
    expect(categorizeNetworkError(undefined)).toBe('other');
  });

  it('errorCode reads AggregateError (happy eyeballs) through to the first inner code', () => {
    const inner = Object.assign(new Error('x'), { code: 'ECONNREFUSED' });
    expect(errorCode(new AggregateError([new Error('no code'), inner]))).toBe('ECONNREFUSED');
    expect(errorCode('ECONNREFUSED')).toBeUndefined();
  });
});

// ---- openSocket -----------------------------------------------------------------------------

describe('openSocket', () => {
  it('connects to the echo server; the bytes come back', async () => {
    const echo = await serve(startEchoServer());
    const clock = trackingClock();
    const socket = await openSocket(tcp(echo), { timeout: 5_000, clock });
    expect(socket).not.toBeInstanceOf(TLSSocket);
    expect(clock.started).toBe(1);
    expect(clock.pending.size).toBe(0);
    const back = new Promise<Buffer>((resolve) => socket.once('data', resolve));
    socket.write('hello');
    expect((await back).toString()).toBe('hello');
    const closed = new Promise((resolve) => socket.once('close', resolve));
    socket.destroy();
    await closed;
  });

  it('ECONNREFUSED on a closed port, via 127.0.0.1 and localhost', async () => {
    const port = await findClosedPort();
    for (const host of ['127.0.0.1', 'localhost']) {
      const clock = trackingClock();
      const err = await rejection(openSocket({ host, port, cacheKey: 'c' }, { timeout: 5_000, clock }));
      expect(err).toBeInstanceOf(ConnectAttemptError);
      const e = err as ConnectAttemptError;
      expect(e.code).toBe('ECONNREFUSED');
      expect(e.category).toBe('refused');
      expect(e.phase).toBe('tcp');
      expect(e.host).toBe(host);
      expect(e.port).toBe(port);
      expect(e.cacheKey).toBe('c');
      expect(e.tls).toBe(false);
      expect(errorCode(e.cause)).toBe('ECONNREFUSED');
      expect(e.message).toContain(`${host}:${port}`);
      expect(clock.pending.size).toBe(0);
      expect(clientSockets()).toBe(0);
    }
  });

  it('DNS failures keep their code (ENOTFOUND, EAI_AGAIN)', async () => {
    for (const code of ['ENOTFOUND', 'EAI_AGAIN']) {
      const lookup = ((hostname: string, _options: unknown, callback: (err: Error) => void) => {
        callback(Object.assign(new Error(`getaddrinfo ${code} ${hostname}`), { code, hostname }));
      }) as unknown as LookupFunction;
      const err = (await rejection(openSocket({ host: 'nowhere.test', port: 80, cacheKey: 'dns' }, { timeout: 5_000, lookup }))) as ConnectAttemptError;
      expect(err).toBeInstanceOf(ConnectAttemptError);
      expect(err.code).toBe(code);
      expect(err.category).toBe('dns');
      expect(clientSockets()).toBe(0);
    }
  });

  it('uses a custom lookup to resolve', async () => {
    const echo = await serve(startEchoServer());
    const seen: string[] = [];
    const lookup = ((hostname: string, options: { all?: boolean }, callback: (...args: unknown[]) => void) => {
      seen.push(hostname);
      if (options.all) callback(null, [{ address: HOST, family: 4 }]);
      else callback(null, HOST, 4);
    }) as unknown as LookupFunction;
    const conn = await connect({ host: 'echo.test', port: echo.port, cacheKey: 'e' }, { lookup });
    expect(seen).toEqual(['echo.test']);
    expect(conn.remoteAddress).toBe(HOST);
    await conn.close();
  });

  it('times out a hanging TLS handshake with ETIMEDOUT and leaves nothing behind', async () => {
    const hang = await serve(startSilentServer());
    const clock = trackingClock();
    const accepted = hang.nextConnection();
    const started = performance.now();
    const err = await rejection(openSocket(tlsLocation(hang), { timeout: 300, clock }));
    const elapsed = performance.now() - started;
    expect(err).toBeInstanceOf(ConnectTimeoutError);
    const e = err as ConnectTimeoutError;
    expect(e.code).toBe('ETIMEDOUT');
    expect(e.category).toBe('timeout');
    expect(e.phase).toBe('tls');
    expect(e.timeout).toBe(300);
    expect(elapsed).toBeGreaterThanOrEqual(250);
    expect(elapsed).toBeLessThan(5_000);
    expect(clock.pending.size).toBe(0);
    expect(clientSockets()).toBe(0);
    // The server saw the connection, and sees it closed by the client.
    const serverSide = await accepted;
    if (!serverSide.closed) await new Promise((resolve) => serverSide.once('close', resolve));
    expect(hang.openSockets).toBe(0);
  });

  it('timeout Infinity means no timer', async () => {
    const echo = await serve(startEchoServer());
    const clock = trackingClock();
    const socket = await openSocket(tcp(echo), { timeout: Infinity, clock });
    expect(clock.started).toBe(0);
    const conn = track(new Connection(socket, tcp(echo)));
    await conn.close();
  });

  it('an already-aborted signal rejects without opening a socket', async () => {
    const echo = await serve(startEchoServer());
    const reason = new Error('caller gave up');
    const err = await rejection(openSocket(tcp(echo), { timeout: 5_000, signal: AbortSignal.abort(reason) }));
    expect(err).toBeInstanceOf(AbortError);
    expect(err.name).toBe('AbortError');
    expect((err as AbortError).code).toBe('ABORT_ERR');
    expect(err.cause).toBe(reason);
    expect(echo.accepted).toBe(0);
  });

  it('aborting during the handshake rejects with AbortError and destroys the socket', async () => {
    const hang = await serve(startSilentServer());
    const controller = new AbortController();
    const clock = trackingClock();
    const accepted = hang.nextConnection();
    const attempt = openSocket(tlsLocation(hang), { timeout: 10_000, signal: controller.signal, clock });
    await accepted;
    controller.abort();
    const err = await rejection(attempt);
    expect(err).toBeInstanceOf(AbortError);
    expect(clock.pending.size).toBe(0);
    expect(clientSockets()).toBe(0);
  });

  it('rejects bad input with a ConfigurationError naming the field, before connecting', async () => {
    const echo = await serve(startEchoServer());
    const field = async (server: unknown, opts: unknown) =>
      ((await rejection(openSocket(server as ServerLocation, opts as { timeout: number }))) as ConfigurationError).field;
    expect(await field({ ...tcp(echo), port: 0 }, { timeout: 10 })).toBe('server.port');
    expect(await field(tcp(echo), { timeout: -1 })).toBe('timeout');
    expect(await field(tcp(echo), { timeout: Number.NaN })).toBe('timeout');
    expect(await field(tcp(echo), { timeout: 2 ** 31 })).toBe('timeout');
    expect(await field(tcp(echo), {})).toBe('timeout');
    expect(await field(tcp(echo), { timeout: 10, keepAlive: -5 })).toBe('keepAlive');
    expect(echo.accepted).toBe(0);
  });

  it('leaves an error guard on the resolved socket', async () => {
    const reset = await serve(startResetServer());
    const socket = await openSocket(tcp(reset), { timeout: 5_000 });
    // No listener of ours: the reset must not become an uncaught 'error'.
    socket.resume();
    const hadError = await new Promise<boolean>((resolve) => socket.once('close', resolve));
    expect(hadError).toBe(true);
    expect(errorCode(socket.errored)).toBe('ECONNRESET');
  });
});

// ---- TLS ------------------------------------------------------------------------------------

describe('TLS', () => {
  for (const host of ['localhost', '127.0.0.1']) {
    it(`verifies the server with its CA and echoes (${host})`, async () => {
      const server = await serve(startTlsEchoServer());
      const conn = await connect(tlsLocation(server, host));
      expect(conn.encrypted).toBe(true);
      expect(conn.tls).toBeDefined();
      const details = conn.tls!;
      expect(details.authorized).toBe(true);
      expect(details.authorizationError).toBeUndefined();
      expect(details.protocol).toMatch(/^TLSv1\.[23]$/);
      expect(details.cipher.name).toBeTruthy();
      expect(details.peerCertificate?.commonName).toBe('localhost');
      expect(details.peerCertificate?.issuer.CN).toBe('connection-manager-kit test CA');
      expect(details.peerCertificate?.subjectAltName).toContain('IP Address:127.0.0.1');
      expect(details.peerCertificate?.validTo).toMatch(/21\d\d GMT$/);
      // Plain data: survives a JSON round trip unchanged.
      expect(JSON.parse(JSON.stringify(details))).toEqual(details);

      await conn.write('over tls');
      expect((await readAll(conn, 8)).toString()).toBe('over tls');
      await conn.close();
      // An IP host must not be sent as SNI (Node warns about that, DEP0123).
      expect(warnings).toEqual([]);
    });

    it(`without the CA fails verification (${host})`, async () => {
      const server = await serve(startTlsEchoServer());
      const err = (await rejection(openSocket({ ...tlsLocation(server, host, {}) }, { timeout: 5_000 }))) as ConnectAttemptError;
      expect(err).toBeInstanceOf(ConnectAttemptError);
      expect(err.code).toBe('UNABLE_TO_VERIFY_LEAF_SIGNATURE');
      expect(err.category).toBe('tls');
      expect(err.phase).toBe('tls');
      expect(err.tls).toBe(true);
      expect(clientSockets()).toBe(0);
    });
  }

  it('SELF_SIGNED_CERT_IN_CHAIN when the server sends its CA and the client does not trust it', async () => {
    const server = await serve(startTlsEchoServer({ sendChain: true }));
    const err = (await rejection(openSocket(tlsLocation(server, 'localhost', {}), { timeout: 5_000 }))) as ConnectAttemptError;
    expect(err.code).toBe('SELF_SIGNED_CERT_IN_CHAIN');
    expect(err.category).toBe('tls');
  });

  it('DEPTH_ZERO_SELF_SIGNED_CERT for a self-signed server', async () => {
    const server = await serve(startTlsEchoServer({ certificate: 'self-signed' }));
    const err = (await rejection(openSocket(tlsLocation(server, 'localhost'), { timeout: 5_000 }))) as ConnectAttemptError;
    expect(err.code).toBe('DEPTH_ZERO_SELF_SIGNED_CERT');
  });

  for (const host of ['localhost', '127.0.0.1']) {
    it(`ERR_TLS_CERT_ALTNAME_INVALID when the certificate is for another name (${host})`, async () => {
      const server = await serve(startTlsEchoServer({ certificate: 'wrong-host' }));
      const err = (await rejection(openSocket(tlsLocation(server, host), { timeout: 5_000 }))) as ConnectAttemptError;
      expect(err.code).toBe('ERR_TLS_CERT_ALTNAME_INVALID');
      expect(err.category).toBe('tls');
      expect(clientSockets()).toBe(0);
    });
  }

  it('servername overrides the name verified (and sent as SNI)', async () => {
    const server = await serve(startTlsEchoServer({ certificate: 'wrong-host' }));
    const conn = await connect(tlsLocation(server, HOST, { ca: tlsFixtures.ca, servername: 'wrong-host.invalid' }));
    expect(conn.tls?.authorized).toBe(true);
    await conn.close();
  });

  it('an IP servername is verified but not sent as SNI', async () => {
    const server = await serve(startTlsEchoServer());
    const conn = await connect(tlsLocation(server, 'localhost', { ca: tlsFixtures.ca, servername: '127.0.0.1' }));
    expect(conn.tls?.authorized).toBe(true);
    await conn.close();
    expect(warnings).toEqual([]);
    // Verified against that IP: a certificate without it fails.
    const wrong = await serve(startTlsEchoServer({ certificate: 'wrong-host' }));
    const err = (await rejection(openSocket(tlsLocation(wrong, 'localhost', { ca: tlsFixtures.ca, servername: '127.0.0.1' }), { timeout: 5_000 }))) as ConnectAttemptError;
    expect(err.code).toBe('ERR_TLS_CERT_ALTNAME_INVALID');
    expect(String((err.cause as Error).message)).toContain('127.0.0.1');
  });

  it('rejectUnauthorized: false connects and reports the failed verification', async () => {
    const server = await serve(startTlsEchoServer({ certificate: 'self-signed' }));
    const conn = await connect(tlsLocation(server, 'localhost', { rejectUnauthorized: false }));
    expect(conn.tls?.authorized).toBe(false);
    expect(conn.tls?.authorizationError).toBe('DEPTH_ZERO_SELF_SIGNED_CERT');
    await conn.close();
  });

  it('enableTLS: false wins over tls options (plain TCP)', async () => {
    const echo = await serve(startEchoServer());
    const conn = await connect({ ...tcp(echo), enableTLS: false, tls: { ca: tlsFixtures.ca } });
    expect(conn.encrypted).toBe(false);
    expect(conn.tls).toBeUndefined();
    await conn.close();
  });

  it('a TLS client against a plain TCP echo server fails in the tls phase', async () => {
    const echo = await serve(startEchoServer());
    const err = (await rejection(openSocket(tlsLocation(echo), { timeout: 5_000 }))) as ConnectAttemptError;
    expect(err).toBeInstanceOf(ConnectAttemptError);
    expect(err.phase).toBe('tls');
    expect(err.category === 'tls' || err.category === 'reset' || err.category === 'closed').toBe(true);
    expect(clientSockets()).toBe(0);
  });
});

// ---- Connection -----------------------------------------------------------------------------

describe('Connection', () => {
  it('describes itself', async () => {
    const echo = await serve(startEchoServer());
    const a = await connect(tcp(echo, HOST, 'echo'));
    const b = await connect(tcp(echo, 'localhost', 'echo'), { id: 'conn-b' });
    expect(a.id).not.toBe(b.id);
    expect(b.id).toBe('conn-b');
    expect(a.cacheKey).toBe('echo');
    expect(a.server.port).toBe(echo.port);
    expect(a.remoteAddress).toBe(HOST);
    expect(a.remotePort).toBe(echo.port);
    expect(a.encrypted).toBe(false);
    expect(a.closed).toBe(false);
    await Promise.all([a.close(), b.close()]);
  });

  it('echoes 8 MB written in one call, read back through the iterator byte for byte', async () => {
    const echo = await serve(startEchoServer());
    const conn = await connect(tcp(echo));
    const payload = randomBytes(8 * 1024 * 1024);
    const [, back] = await Promise.all([conn.write(payload), readAll(conn, payload.length)]);
    expect(back.length).toBe(payload.length);
    expect(back.equals(payload)).toBe(true);
    await conn.close();
  });

  it('awaited writes and a slow reader: the read buffer stays bounded', async () => {
    const echo = await serve(startEchoServer());
    const limit = 64 * 1024;
    const conn = await connect(tcp(echo), { readBufferLimit: limit });
    const block = randomBytes(64 * 1024);
    const total = 64 * block.length; // 4 MB
    const writer = (async () => {
      for (let i = 0; i < 64; i++) await conn.write(block);
    })();
    let received = 0;
    let maxBuffered = 0;
    for await (const chunk of conn) {
      received += chunk.length;
      maxBuffered = Math.max(maxBuffered, conn.bufferedBytes);
      // A slow consumer: yield to the event loop so the socket can run ahead of us.
      await new Promise((resolve) => setImmediate(resolve));
      if (received >= total) break;
    }
    await writer;
    expect(received).toBe(total);
    // Paused at the limit; at most one more socket read (<= 64 KiB) can land after the pause.
    expect(maxBuffered).toBeLessThanOrEqual(limit + 64 * 1024);
    await conn.close();
  });

  it('keeps what arrived before anyone read, and the iterator then ends with the close', async () => {
    const server = await serve(startGreetAndCloseServer('hello before you asked'));
    const conn = await connect(tcp(server));
    const event = await conn.whenClosed();
    expect(event).toEqual({ hadError: false });
    expect(conn.closed).toBe(true);
    expect(conn.bufferedBytes).toBe('hello before you asked'.length);
    expect((await readAll(conn)).toString()).toBe('hello before you asked');
  });

  it("a late 'data' handler gets what was buffered before it subscribed", async () => {
    const server = await serve(startGreetAndCloseServer('greeting'));
    const conn = await connect(tcp(server));
    await conn.whenClosed();
    const seen: string[] = [];
    const delivered = new Promise<void>((resolve) =>
      conn.on('data', (chunk) => {
        seen.push(chunk.toString());
        resolve();
      }),
    );
    // Delivered in a microtask, not inside on(): the caller finishes subscribing first.
    expect(seen).toEqual([]);
    await delivered;
    expect(seen.join('')).toBe('greeting');
    expect(conn.bufferedBytes).toBe(0);
  });

  it("'data' handlers observe what an active iterator reads, without duplicates", async () => {
    const echo = await serve(startEchoServer());
    const conn = await connect(tcp(echo));
    const observed: Buffer[] = [];
    const off = conn.on('data', (chunk) => observed.push(chunk));
    const payload = randomBytes(300_000);
    const [, read] = await Promise.all([conn.write(payload), readAll(conn, payload.length)]);
    expect(read.equals(payload)).toBe(true);
    expect(Buffer.concat(observed).equals(payload)).toBe(true);
    off();
    await conn.close();
  });

  it('close() is idempotent and emits close once', async () => {
    const echo = await serve(startEchoServer());
    const conn = await connect(tcp(echo));
    const events: ConnectionCloseEvent[] = [];
    conn.on('close', (e) => events.push(e));
    const first = conn.close();
    const second = conn.close();
    expect(second).toBe(first);
    expect(conn.closed).toBe(true);
    await first;
    expect(events).toEqual([{ hadError: false }]);
    await conn.close();
    conn.destroy();
    expect(events).toHaveLength(1);
    expect(clientSockets()).toBe(0);
  });

  it('close() ends a waiting iterator', async () => {
    const echo = await serve(startEchoServer());
    const conn = await connect(tcp(echo));
    const iterator = conn[Symbol.asyncIterator]();
    const next = iterator.next();
    await conn.close();
    expect(await next).toEqual({ value: undefined, done: true });
  });

  it('close() destroys after closeTimeout when the peer never closes', async () => {
    const server = await serve(startSilentServer({ allowHalfOpen: true }));
    const clock = trackingClock();
    const conn = await connect(tcp(server), { closeTimeout: 200, clock });
    const started = performance.now();
    await conn.close();
    const elapsed = performance.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(150);
    expect(elapsed).toBeLessThan(5_000);
    expect(clock.pending.size).toBe(0);
    expect(clientSockets()).toBe(0);
  });

  it('the graceful close clears its timer when the peer closes in time', async () => {
    const echo = await serve(startEchoServer());
    const clock = trackingClock();
    const conn = await connect(tcp(echo), { clock });
    await conn.close();
    expect(clock.pending.size).toBe(0);
  });

  it('write() after close rejects with ConnectionClosedError', async () => {
    const echo = await serve(startEchoServer());
    const conn = await connect(tcp(echo));
    void conn.close();
    const err = await rejection(conn.write('late'));
    expect(err).toBeInstanceOf(ConnectionClosedError);
    expect((err as ConnectionClosedError).code).toBe('ERR_CONNECTION_CLOSED');
    expect((err as ConnectionClosedError).connectionId).toBe(conn.id);
    await conn.close();
  });

  it('destroy(error) closes with that error: close event, error event, iterator', async () => {
    const echo = await serve(startEchoServer());
    const conn = await connect(tcp(echo));
    const errors: NetworkError[] = [];
    conn.on('error', (e) => errors.push(e));
    const closed = new Promise<ConnectionCloseEvent>((resolve) => conn.on('close', resolve));
    const iteration = readAll(conn);
    conn.destroy(Object.assign(new Error('protocol violation'), { code: 'EPROTOCOL' }));
    const event = await closed;
    expect(event.hadError).toBe(true);
    expect(event.error).toBeInstanceOf(NetworkError);
    expect(event.error?.code).toBe('EPROTOCOL');
    expect(errors).toEqual([event.error]);
    const thrown = await rejection(iteration);
    expect(thrown).toBe(event.error);
    conn.destroy();
  });

  it('destroy() rejects writes that were not flushed', async () => {
    const silent = await serve(startSilentServer({ allowHalfOpen: true }));
    const conn = await connect(tcp(silent));
    // Big enough not to fit in the kernel's buffers in one go; destroyed in the same tick.
    const write = conn.write(Buffer.alloc(64 * 1024 * 1024));
    conn.destroy();
    const err = await rejection(write);
    expect(err).toBeInstanceOf(ConnectionClosedError);
  });

  it('a reset by the peer: close carries ECONNRESET and the iterator throws it', async () => {
    const reset = await serve(startResetServer());
    const conn = await connect(tcp(reset));
    const closed = conn.whenClosed();
    const thrown = (await rejection(readAll(conn))) as NetworkError;
    expect(thrown).toBeInstanceOf(NetworkError);
    expect(thrown.code).toBe('ECONNRESET');
    expect(thrown.category).toBe('reset');
    expect(thrown.connectionId).toBe(conn.id);
    const event = await closed;
    expect(event.hadError).toBe(true);
    expect(event.error).toBe(thrown);
    expect(conn.closed).toBe(true);
    // A second iterator just ends: the error is reported once.
    expect((await readAll(conn)).length).toBe(0);
  });

  it('a reset with no listeners at all does not crash the process', async () => {
    const reset = await serve(startResetServer());
    const conn = await connect(tcp(reset));
    // No handlers, no iterator: the buffer is the consumer, so the socket keeps reading.
    const event = await conn.whenClosed();
    expect(event.error?.code).toBe('ECONNRESET');
  });

  it('one iterator at a time; a broken-off iteration keeps the rest for the next', async () => {
    const echo = await serve(startEchoServer());
    const conn = await connect(tcp(echo));
    const first = conn[Symbol.asyncIterator]();
    expect(() => conn[Symbol.asyncIterator]()).toThrow(/already being iterated/);
    await conn.write('abc');
    const chunk = await first.next();
    expect(chunk.value?.toString()).toBe('abc');
    await first.return?.();
    await conn.write('def');
    // Nobody is reading now: the echo is buffered, not lost.
    expect((await readAll(conn, 3)).toString()).toBe('def');
    await conn.close();
  });

  it('openConnection validates connection options before connecting', async () => {
    const echo = await serve(startEchoServer());
    const err = (await rejection(openConnection(tcp(echo), { timeout: 1_000, readBufferLimit: 0 }))) as ConfigurationError;
    expect(err).toBeInstanceOf(ConfigurationError);
    expect(err.field).toBe('readBufferLimit');
    expect(echo.accepted).toBe(0);
  });
});

// ---- Connection over a controllable stream (exact backpressure) -----------------------------

describe('Connection backpressure (controlled stream)', () => {
  /** A duplex whose writes complete only when the test says so. */
  function controlledStream() {
    const pendingWrites: Array<() => void> = [];
    const stream = new Duplex({
      highWaterMark: 1024,
      write(_chunk, _encoding, callback) {
        pendingWrites.push(() => callback());
      },
      read() {},
    });
    return { stream, pendingWrites, socket: stream as unknown as Socket };
  }

  const location: ServerLocation = { host: 'fake', port: 1, cacheKey: 'fake' };
  const turn = () => new Promise((resolve) => setImmediate(resolve));

  it('write() waits for the data to be flushed and for drain', async () => {
    const { stream, pendingWrites, socket } = controlledStream();
    const conn = new Connection(socket, location);
    let done = false;
    const write = conn.write(Buffer.alloc(4096)).then(() => (done = true));
    await turn();
    expect(stream.writableNeedDrain).toBe(true);
    expect(done).toBe(false);
    pendingWrites.shift()!();
    await write;
    expect(done).toBe(true);
    conn.destroy();
    await conn.whenClosed();
  });

  it('concurrent writes resolve in order as each is flushed', async () => {
    const { pendingWrites, socket } = controlledStream();
    const conn = new Connection(socket, location);
    const order: number[] = [];
    const writes = [1, 2, 3].map((n) => conn.write(Buffer.alloc(600)).then(() => order.push(n)));
    await turn();
    expect(order).toEqual([]);
    while (order.length < 3) {
      pendingWrites.shift()?.();
      await turn();
    }
    await Promise.all(writes);
    expect(order).toEqual([1, 2, 3]);
    conn.destroy();
    await conn.whenClosed();
  });

  it('pauses the source at readBufferLimit and resumes when the iterator reads', async () => {
    const { stream, socket } = controlledStream();
    const conn = new Connection(socket, location, { readBufferLimit: 100 });
    for (let i = 0; i < 5; i++) stream.push(Buffer.alloc(40, i));
    await turn();
    expect(conn.bufferedBytes).toBe(120);
    expect(stream.isPaused()).toBe(true);
    const iterator = conn[Symbol.asyncIterator]();
    const first = await iterator.next();
    expect(first.value?.[0]).toBe(0);
    expect(stream.isPaused()).toBe(false);
    const rest: number[] = [];
    for (let i = 0; i < 4; i++) rest.push((await iterator.next()).value![0]!);
    expect(rest).toEqual([1, 2, 3, 4]);
    stream.push(null);
    conn.destroy();
    await conn.whenClosed();
    expect(await iterator.next()).toEqual({ value: undefined, done: true });
  });

  it("a new 'data' handler gets buffered chunks before a chunk that arrives in the same tick", async () => {
    const { stream, socket } = controlledStream();
    const conn = new Connection(socket, location);
    stream.push('a');
    await turn();
    expect(conn.bufferedBytes).toBe(1);
    const seen: string[] = [];
    conn.on('data', (chunk) => seen.push(chunk.toString()));
    // A push on a flowing stream outside read() emits synchronously, before the microtask
    // that would deliver 'a'.
    stream.push('b');
    await turn();
    expect(seen).toEqual(['a', 'b']);
    conn.destroy();
    await conn.whenClosed();
  });

  it('a write cut off by destroy() with ECANCELED (Node 22 and later) is a ConnectionClosedError', async () => {
    // What a real socket does from Node 22: destroy() cancels the pending write request and
    // its callback gets an error with code ECANCELED (Node 20: no error at all).
    const callbacks: Array<(error?: Error) => void> = [];
    const stream = new Duplex({ write: (_chunk, _encoding, callback) => void callbacks.push(callback), read() {} });
    const conn = new Connection(stream as unknown as Socket, location);
    const write = conn.write('never flushed');
    await turn();
    conn.destroy();
    callbacks.shift()!(Object.assign(new Error('operation canceled'), { code: 'ECANCELED', errno: -125, syscall: 'write' }));
    const err = await rejection(write);
    expect(err).toBeInstanceOf(ConnectionClosedError);
    expect((err as ConnectionClosedError).code).toBe('ERR_CONNECTION_CLOSED');
    await conn.whenClosed();
  });

  it('a stream that already closed is reported closed at once', async () => {
    const { stream, socket } = controlledStream();
    stream.on('error', () => {});
    stream.destroy(Object.assign(new Error('gone'), { code: 'ECONNRESET' }));
    await new Promise((resolve) => stream.once('close', resolve));
    const conn = new Connection(socket, location);
    expect(conn.closed).toBe(true);
    const event = await conn.whenClosed();
    expect(event.hadError).toBe(true);
    expect(event.error?.code).toBe('ECONNRESET');
    const err = await rejection(conn.write('x'));
    expect(err).toBeInstanceOf(ConnectionClosedError);
    expect(err.cause).toBe(event.error);
  });

  it("'data' handlers as the consumer: nothing is buffered and the source is never paused", async () => {
    const { stream, socket } = controlledStream();
    const conn = new Connection(socket, location, { readBufferLimit: 10 });
    let bytes = 0;
    conn.on('data', (chunk) => (bytes += chunk.length));
    for (let i = 0; i < 10; i++) stream.push(Buffer.alloc(50));
    await turn();
    expect(bytes).toBe(500);
    expect(conn.bufferedBytes).toBe(0);
    expect(stream.isPaused()).toBe(false);
    conn.destroy();
    await conn.whenClosed();
  });
});
