/**
 * Supervised connections (`supervised: true`): a Connection that outlives its socket. The
 * socket is dropped by the (real, loopback) server; the test plays the supervisor: it opens a
 * new socket with openSocket and attach()es it, or gives up with finalize().
 */
import type { Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigurationError, ConnectionManagerError } from '../src/errors.js';
import { openSocket } from '../src/transport/connect.js';
import {
  Connection,
  openConnection,
  type ConnectionEvents,
  type OpenConnectionOptions,
} from '../src/transport/connection.js';
import { ConnectAttemptError, ConnectionClosedError, NetworkError } from '../src/transport/errors.js';
import type { ServerLocation } from '../src/transport/server.js';
import {
  activeResources,
  HOST,
  startEchoServer,
  startSilentServer,
  startTlsEchoServer,
  tlsFixtures,
  type TestServer,
} from './support/servers.js';
import { rejection } from './support/rejection.js';

// ---- per-test bookkeeping -------------------------------------------------------------------

const servers = new Set<TestServer>();
const connections = new Set<Connection>();
const rawSockets = new Set<Socket>();
let baseline = new Map<string, number>();

async function serve(start: Promise<TestServer>): Promise<TestServer> {
  const server = await start;
  servers.add(server);
  return server;
}

function tcp(server: TestServer): ServerLocation {
  return { host: HOST, port: server.port, cacheKey: 'k' };
}

function tlsLocation(server: TestServer): ServerLocation {
  return { host: HOST, port: server.port, cacheKey: 'tls', enableTLS: true, tls: { ca: tlsFixtures.ca } };
}

async function connect(server: ServerLocation, opts: Partial<OpenConnectionOptions> = {}): Promise<Connection> {
  const conn = await openConnection(server, { timeout: 5_000, supervised: true, ...opts });
  connections.add(conn);
  return conn;
}

/** What a supervisor does after a drop: one new socket to the same server. */
async function reopen(server: ServerLocation): Promise<Socket> {
  const socket = await openSocket(server, { timeout: 5_000 });
  rawSockets.add(socket);
  return socket;
}

/** Destroys a raw socket and waits until its handle is released. */
async function destroySocket(socket: Socket): Promise<void> {
  if (socket.closed) return;
  const closed = new Promise((resolve) => socket.once('close', resolve));
  socket.destroy();
  await closed;
}

/** Resolves with the payload of the next `type` event. */
function next<K extends keyof ConnectionEvents>(conn: Connection, type: K): Promise<ConnectionEvents[K]> {
  return new Promise((resolve) => {
    const off = conn.on(type, (payload) => {
      off();
      resolve(payload);
    });
  });
}

/** Records every lifecycle event of a connection. */
function record(conn: Connection) {
  const log = {
    disconnected: [] as Array<ConnectionEvents['disconnected']>,
    reconnected: [] as Array<ConnectionEvents['reconnected']>,
    close: [] as Array<ConnectionEvents['close']>,
    error: [] as Array<ConnectionEvents['error']>,
    order: [] as string[],
  };
  conn.on('disconnected', (e) => (log.disconnected.push(e), log.order.push('disconnected')));
  conn.on('reconnected', (e) => (log.reconnected.push(e), log.order.push('reconnected')));
  conn.on('close', (e) => (log.close.push(e), log.order.push('close')));
  conn.on('error', (e) => (log.error.push(e), log.order.push('error')));
  return log;
}

/** Watches a promise without awaiting it. */
function watch<T>(p: Promise<T>): { promise: Promise<T>; readonly settled: boolean } {
  let settled = false;
  p.then(
    () => (settled = true),
    () => (settled = true),
  );
  return {
    promise: p,
    get settled() {
      return settled;
    },
  };
}


function thrown(fn: () => unknown): ConnectionManagerError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConnectionManagerError);
    return err as ConnectionManagerError;
  }
  throw new Error('expected a throw');
}

/** Client-side TCP handles opened during this test (the servers' accepted sockets excluded). */
function clientSockets(): number {
  let serverSide = 0;
  for (const s of servers) serverSide += s.openSockets;
  return (activeResources().get('TCPSocketWrap') ?? 0) - (baseline.get('TCPSocketWrap') ?? 0) - serverSide;
}

/** Closes `socket` (server side) and waits until the client connection has lost it. */
async function drop(conn: Connection, serverSide: Socket, how: 'destroy' | 'reset' = 'destroy') {
  const lost = next(conn, 'disconnected');
  if (how === 'reset') serverSide.resetAndDestroy();
  else serverSide.destroy();
  return lost;
}

beforeEach(() => {
  baseline = activeResources();
});

afterEach(async () => {
  const leaked = [...connections].filter((c) => c.state !== 'closed').map((c) => c.id);
  const leakedSockets = [...rawSockets].filter((s) => !s.destroyed).length;
  for (const c of connections) c.destroy();
  await Promise.all([...connections].map((c) => c.whenClosed()));
  connections.clear();
  for (const s of rawSockets) s.destroy();
  await Promise.all([...rawSockets].map((s) => (s.closed ? undefined : new Promise((resolve) => s.once('close', resolve)))));
  rawSockets.clear();
  await Promise.all([...servers].map((s) => s.close()));
  servers.clear();
  expect(leaked, 'connections the test left open').toEqual([]);
  expect(leakedSockets, 'raw sockets the test left open').toBe(0);
  const resources = activeResources();
  for (const kind of ['TCPSocketWrap', 'TCPServerWrap']) {
    expect(resources.get(kind) ?? 0, `${kind} handles left behind`).toBe(baseline.get(kind) ?? 0);
  }
});

// ---- tests ----------------------------------------------------------------------------------

describe('supervised Connection over real sockets', () => {
  it('survives a drop: disconnected, writes refused, the same iterator continues after attach()', async () => {
    const echo = await serve(startEchoServer());
    const accepted = echo.nextConnection();
    const conn = await connect(tcp(echo));
    const log = record(conn);
    expect(conn.supervised).toBe(true);
    expect(conn.state).toBe('connected');
    const firstLocalPort = conn.localPort;

    const iterator = conn[Symbol.asyncIterator]();
    await conn.write('one');
    expect((await iterator.next()).value?.toString()).toBe('one');
    // Started before the drop; must neither end nor throw while disconnected.
    const pending = watch(iterator.next());

    // The server goes away: it destroys its side of the connection and stops listening.
    const lost = next(conn, 'disconnected');
    await accepted;
    await echo.stop();
    const event = await lost;
    expect(event).toEqual({ hadError: false });
    expect(conn.state).toBe('disconnected');
    expect(conn.closed).toBe(false);
    expect(clientSockets()).toBe(0);

    const err = await rejection(conn.write('while down'));
    expect(err).toBeInstanceOf(ConnectionClosedError);
    expect((err as ConnectionClosedError).code).toBe('ERR_NOT_CONNECTED');
    expect((err as ConnectionClosedError).category).toBe('closed');
    expect((err as ConnectionClosedError).connectionId).toBe(conn.id);
    expect(err.message).toMatch(/reconnecting/);

    // A supervisor's first attempt while the server is down fails; the connection waits on.
    const refused = await rejection(openSocket(tcp(echo), { timeout: 5_000 }));
    expect(refused).toBeInstanceOf(ConnectAttemptError);
    expect((refused as ConnectAttemptError).code).toBe('ECONNREFUSED');
    expect(conn.state).toBe('disconnected');

    await echo.restart();
    const reconnected = next(conn, 'reconnected');
    const socket = await reopen(tcp(echo));
    expect(pending.settled).toBe(false);
    conn.attach(socket);
    expect(conn.state).toBe('connected');
    expect(await reconnected).toEqual({
      remoteAddress: HOST,
      remotePort: echo.port,
      localAddress: socket.localAddress,
      localPort: socket.localPort,
    });
    expect(conn.remotePort).toBe(echo.port);
    expect(conn.localPort).toBe(socket.localPort);
    expect(conn.localPort).not.toBe(firstLocalPort);

    await conn.write('two');
    const resumed = await pending.promise;
    expect(resumed.done).toBe(false);
    expect(resumed.value?.toString()).toBe('two');

    await conn.close();
    expect(await iterator.next()).toEqual({ value: undefined, done: true });
    expect(log.order).toEqual(['disconnected', 'reconnected', 'close']);
    expect(log.close).toEqual([{ hadError: false }]);
    expect(conn.state).toBe('closed');
    expect(clientSockets()).toBe(0);
  });

  it('a reset: disconnected carries the error, error is emitted, unflushed writes are rejected', async () => {
    const silent = await serve(startSilentServer({ allowHalfOpen: true }));
    const accepted = silent.nextConnection();
    const conn = await connect(tcp(silent));
    const log = record(conn);
    const serverSide = await accepted;
    // Too big for the kernel's buffers in one go: still unflushed when the reset arrives.
    const write = watch(conn.write(Buffer.alloc(64 * 1024 * 1024)));
    const event = await drop(conn, serverSide, 'reset');

    expect(event.hadError).toBe(true);
    expect(event.error).toBeInstanceOf(NetworkError);
    // ECONNRESET from the read side (Linux), EPIPE if the write side notices first.
    expect(event.error?.category).toBe('reset');
    expect(event.error?.connectionId).toBe(conn.id);
    expect(log.error).toEqual([event.error]);
    // Settled by the time 'disconnected' is emitted: with a ConnectionClosedError when the drop
    // rejected it, or with the socket's own error if the write itself failed first (that
    // order is up to the OS; the controlled-stream test below pins the first case down).
    expect(write.settled).toBe(true);
    const writeErr = await rejection(write.promise);
    expect(writeErr).toBeInstanceOf(NetworkError);
    if (writeErr instanceof ConnectionClosedError) {
      expect(writeErr.code).toBe('ERR_CONNECTION_CLOSED');
    } else {
      expect((writeErr as NetworkError).category).toBe('reset');
    }
    const refused = await rejection(conn.write('x'));
    expect((refused as ConnectionClosedError).code).toBe('ERR_NOT_CONNECTED');
    expect(refused.cause).toBe(event.error);
    expect(log.close).toEqual([]);

    await conn.close();
    // The user closed it: not an error, whatever the drop was.
    expect(log.close).toEqual([{ hadError: false }]);
    expect(clientSockets()).toBe(0);
  });

  it("'data' handlers stay subscribed across a reconnect", async () => {
    const echo = await serve(startEchoServer());
    const accepted = echo.nextConnection();
    const conn = await connect(tcp(echo));
    const seen: string[] = [];
    let gotData!: () => void;
    conn.on('data', (chunk) => {
      seen.push(chunk.toString());
      gotData();
    });
    let arrived = new Promise<void>((resolve) => (gotData = resolve));
    await conn.write('before');
    await arrived;
    await drop(conn, await accepted);

    conn.attach(await reopen(tcp(echo)));
    arrived = new Promise<void>((resolve) => (gotData = resolve));
    await conn.write('after');
    await arrived;
    expect(seen).toEqual(['before', 'after']);
    await conn.close();
    expect(clientSockets()).toBe(0);
  });

  it('buffered bytes are still readable while disconnected; finalize(err) closes once and the iterator throws it once', async () => {
    const echo = await serve(startEchoServer());
    const accepted = echo.nextConnection();
    const conn = await connect(tcp(echo));
    const log = record(conn);
    const serverSide = await accepted;
    // The server's last words, then it drops the connection.
    const lost = next(conn, 'disconnected');
    serverSide.end('last words');
    await lost;
    expect(conn.state).toBe('disconnected');
    expect(conn.bufferedBytes).toBe('last words'.length);

    const iterator = conn[Symbol.asyncIterator]();
    expect((await iterator.next()).value?.toString()).toBe('last words');
    const waiting = watch(iterator.next());

    const cause = Object.assign(new Error('gave up after 6 attempts'), { code: 'ECONNREFUSED' });
    const closed = conn.whenClosed();
    conn.finalize(cause);
    expect(conn.state).toBe('closed');
    expect(conn.closed).toBe(true);
    expect(log.close).toHaveLength(1);
    const event = log.close[0]!;
    expect(event.hadError).toBe(true);
    expect(event.error).toBeInstanceOf(NetworkError);
    expect(event.error?.code).toBe('ECONNREFUSED');
    expect(event.error?.category).toBe('refused');
    expect(event.error?.cause).toBe(cause);
    expect(await closed).toBe(event);

    expect(await rejection(waiting.promise)).toBe(event.error);
    // Thrown once: a second iterator just ends.
    expect(await conn[Symbol.asyncIterator]().next()).toEqual({ value: undefined, done: true });

    // Closed for good: nothing reopens or re-closes it.
    conn.finalize(new Error('again'));
    conn.destroy();
    await conn.close();
    expect(log.close).toHaveLength(1);
    expect(log.order).toEqual(['disconnected', 'close']);
    const late = await reopen(tcp(echo));
    expect(thrown(() => conn.attach(late)).code).toBe('ERR_INVALID_STATE');
    // A refused socket stays the caller's.
    expect(late.destroyed).toBe(false);
    await destroySocket(late);
    const writeErr = await rejection(conn.write('x'));
    expect((writeErr as ConnectionClosedError).code).toBe('ERR_CONNECTION_CLOSED');
  });

  it('finalize() passes a NetworkError through, and without an error closes cleanly', async () => {
    const echo = await serve(startEchoServer());
    const [a, b] = await Promise.all([connect(tcp(echo)), connect(tcp(echo))]);
    const lost = Promise.all([next(a, 'disconnected'), next(b, 'disconnected')]);
    await echo.stop();
    await lost;

    const own = new NetworkError({ code: 'ERR_GAVE_UP', connectionId: a.id, cacheKey: a.cacheKey }, 'gave up');
    a.finalize(own);
    expect((await a.whenClosed()).error).toBe(own);
    b.finalize();
    expect(await b.whenClosed()).toEqual({ hadError: false });
    expect(await b[Symbol.asyncIterator]().next()).toEqual({ value: undefined, done: true });
    expect(clientSockets()).toBe(0);
  });

  it('close() while disconnected closes for good at once; the waiting iterator ends', async () => {
    const echo = await serve(startEchoServer());
    const accepted = echo.nextConnection();
    const conn = await connect(tcp(echo));
    const log = record(conn);
    const iterator = conn[Symbol.asyncIterator]();
    const waiting = iterator.next();
    await drop(conn, await accepted, 'reset');
    expect(conn.state).toBe('disconnected');

    const first = conn.close();
    expect(conn.close()).toBe(first);
    expect(conn.state).toBe('closed');
    await first;
    expect(await conn.whenClosed()).toEqual({ hadError: false });
    expect(await waiting).toEqual({ value: undefined, done: true });
    conn.destroy(new Error('late'));
    conn.finalize(new Error('later'));
    expect(log.close).toEqual([{ hadError: false }]);
    expect(clientSockets()).toBe(0);
  });

  it('destroy(error) while disconnected closes for good with that error', async () => {
    const echo = await serve(startEchoServer());
    const accepted = echo.nextConnection();
    const conn = await connect(tcp(echo));
    const log = record(conn);
    await drop(conn, await accepted);
    conn.destroy(Object.assign(new Error('shutting down'), { code: 'ESHUTDOWN' }));
    const event = await conn.whenClosed();
    expect(event.hadError).toBe(true);
    expect(event.error?.code).toBe('ESHUTDOWN');
    expect(log.close).toEqual([event]);
    // No socket: no 'error' event.
    expect(log.error).toEqual([]);
    expect(clientSockets()).toBe(0);
  });

  it('attach() while connected throws ERR_INVALID_STATE and leaves the socket to the caller', async () => {
    const echo = await serve(startEchoServer());
    const conn = await connect(tcp(echo));
    const extra = await reopen(tcp(echo));
    const err = thrown(() => conn.attach(extra));
    expect(err.code).toBe('ERR_INVALID_STATE');
    expect(err.message).toMatch(/connected/);
    expect(extra.destroyed).toBe(false);
    // The connection is unaffected.
    await conn.write('still here');
    expect((await conn[Symbol.asyncIterator]().next()).value?.toString()).toBe('still here');
    await destroySocket(extra);
    await conn.close();
    expect(clientSockets()).toBe(0);
  });

  it('attach() refuses a socket that has already closed, and the connection keeps waiting', async () => {
    const echo = await serve(startEchoServer());
    const accepted = echo.nextConnection();
    const conn = await connect(tcp(echo));
    await drop(conn, await accepted);
    const dead = await reopen(tcp(echo));
    await destroySocket(dead);
    expect(thrown(() => conn.attach(dead)).code).toBe('ERR_SOCKET_CLOSED');
    expect(conn.state).toBe('disconnected');
    conn.attach(await reopen(tcp(echo)));
    expect(conn.state).toBe('connected');
    await conn.close();
    expect(clientSockets()).toBe(0);
  });

  it('the user closing a connected supervised connection closes it for good (no disconnected)', async () => {
    const echo = await serve(startEchoServer());
    const conn = await connect(tcp(echo));
    const log = record(conn);
    await conn.close();
    expect(log.order).toEqual(['close']);
    expect(conn.state).toBe('closed');
    expect(clientSockets()).toBe(0);
  });

  it('reconnects over TLS: encrypted and tls describe the new session', async () => {
    const server = await serve(startTlsEchoServer());
    const accepted = server.nextConnection();
    const conn = await connect(tlsLocation(server));
    const firstTls = conn.tls;
    expect(conn.encrypted).toBe(true);
    await drop(conn, await accepted);
    conn.attach(await reopen(tlsLocation(server)));
    expect(conn.encrypted).toBe(true);
    expect(conn.tls?.authorized).toBe(true);
    expect(conn.tls).not.toBe(firstTls);
    await conn.write('secure again');
    expect((await conn[Symbol.asyncIterator]().next()).value?.toString()).toBe('secure again');
    await conn.close();
    expect(clientSockets()).toBe(0);
  });

  it('without supervision a drop closes for good (the existing behaviour)', async () => {
    const echo = await serve(startEchoServer());
    const accepted = echo.nextConnection();
    const conn = await connect(tcp(echo), { supervised: false });
    const log = record(conn);
    const iteration = watch(conn[Symbol.asyncIterator]().next());
    const closed = conn.whenClosed();
    (await accepted).destroy();
    expect(await closed).toEqual({ hadError: false });
    expect(await iteration.promise).toEqual({ value: undefined, done: true });
    expect(conn.state).toBe('closed');
    expect(conn.closed).toBe(true);
    expect(log.order).toEqual(['close']);
    const err = await rejection(conn.write('x'));
    expect((err as ConnectionClosedError).code).toBe('ERR_CONNECTION_CLOSED');
    const socket = await reopen(tcp(echo));
    expect(thrown(() => conn.attach(socket)).code).toBe('ERR_INVALID_STATE');
    await destroySocket(socket);
    expect(clientSockets()).toBe(0);
  });

  it('validates the option', async () => {
    const echo = await serve(startEchoServer());
    const err = await rejection(openConnection(tcp(echo), { timeout: 1_000, supervised: 'yes' as unknown as boolean }));
    expect(err).toBeInstanceOf(ConfigurationError);
    expect((err as ConfigurationError).field).toBe('supervised');
    expect(echo.accepted).toBe(0);
  });
});

// ---- flow control across sockets (controllable streams) --------------------------------------

describe('supervised Connection: flow control across sockets (controlled streams)', () => {
  function stream(): { duplex: Duplex; socket: Socket } {
    const duplex = new Duplex({ write: (_c, _e, cb) => cb(), read() {} });
    duplex.on('error', () => {});
    return { duplex, socket: duplex as unknown as Socket };
  }
  const location: ServerLocation = { host: 'fake', port: 1, cacheKey: 'fake' };
  const turn = () => new Promise((resolve) => setImmediate(resolve));

  it('a new socket is paused at once while the buffer is still full, and resumed by reading', async () => {
    const first = stream();
    const conn = new Connection(first.socket, location, { supervised: true, readBufferLimit: 100 });
    for (let i = 0; i < 3; i++) first.duplex.push(Buffer.alloc(40, i));
    await turn();
    expect(conn.bufferedBytes).toBe(120);
    const lost = next(conn, 'disconnected');
    first.duplex.destroy();
    await lost;

    const second = stream();
    conn.attach(second.socket);
    expect(second.duplex.isPaused()).toBe(true);
    const iterator = conn[Symbol.asyncIterator]();
    const read: number[] = [];
    for (let i = 0; i < 3; i++) read.push((await iterator.next()).value![0]!);
    expect(read).toEqual([0, 1, 2]);
    expect(second.duplex.isPaused()).toBe(false);
    second.duplex.push(Buffer.from([7]));
    expect((await iterator.next()).value?.[0]).toBe(7);
    conn.destroy();
    await conn.whenClosed();
    expect(await iterator.next()).toEqual({ value: undefined, done: true });
  });

  it('writes not flushed when the socket is lost are rejected with ConnectionClosedError', async () => {
    const held: Array<() => void> = [];
    const duplex = new Duplex({ highWaterMark: 16, write: (_c, _e, cb) => void held.push(() => cb()), read() {} });
    duplex.on('error', () => {});
    const conn = new Connection(duplex as unknown as Socket, location, { supervised: true });
    const flushed = conn.write('a');
    const unflushed = watch(conn.write('this one stays in flight'));
    held.shift()!();
    await flushed;
    expect(unflushed.settled).toBe(false);
    const lost = next(conn, 'disconnected');
    duplex.destroy();
    expect(await lost).toEqual({ hadError: false });
    expect(unflushed.settled).toBe(true);
    const err = await rejection(unflushed.promise);
    expect(err).toBeInstanceOf(ConnectionClosedError);
    expect((err as ConnectionClosedError).code).toBe('ERR_CONNECTION_CLOSED');
    expect(conn.state).toBe('disconnected');
    conn.finalize();
    await conn.whenClosed();
  });

  it('handed a socket that already closed: disconnected at once, announced in a microtask', async () => {
    const dead = stream();
    dead.duplex.destroy(Object.assign(new Error('gone'), { code: 'ECONNRESET' }));
    await new Promise((resolve) => dead.duplex.once('close', resolve));
    const conn = new Connection(dead.socket, location, { supervised: true });
    expect(conn.state).toBe('disconnected');
    const event = await next(conn, 'disconnected');
    expect(event.hadError).toBe(true);
    expect(event.error?.code).toBe('ECONNRESET');
    conn.finalize();
    expect(await conn.whenClosed()).toEqual({ hadError: false });
  });
});
