/**
 * Real servers on 127.0.0.1 for transport tests. Every helper listens on an OS-chosen port,
 * tracks every socket it accepts, and destroys them all on close()/stop(), so a test that
 * closes its servers leaves no handles behind. Servers can be stopped and restarted on the
 * same port, to exercise reconnection.
 */
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import { afterEach } from 'vitest';

export const HOST = '127.0.0.1';

const fixturesDir = fileURLToPath(new URL('../fixtures/tls/', import.meta.url));

/** Reads a PEM file from test/fixtures/tls. */
export function readFixture(name: string): string {
  return readFileSync(fixturesDir + name, 'utf8');
}

/** The TLS fixtures (see test/fixtures/tls/README.md). */
export const tlsFixtures = {
  get ca(): string {
    return readFixture('ca.pem');
  },
  get serverCert(): string {
    return readFixture('server-cert.pem');
  },
  get serverKey(): string {
    return readFixture('server-key.pem');
  },
  get wrongHostCert(): string {
    return readFixture('wrong-host-cert.pem');
  },
  get wrongHostKey(): string {
    return readFixture('wrong-host-key.pem');
  },
  get selfSignedCert(): string {
    return readFixture('self-signed-cert.pem');
  },
  get selfSignedKey(): string {
    return readFixture('self-signed-key.pem');
  },
  /** The CA a mutual-TLS server trusts for client certificates. */
  get clientCa(): string {
    return readFixture('client-ca.pem');
  },
  get clientCert(): string {
    return readFixture('client-cert.pem');
  },
  /** PKCS#8, encrypted with {@link CLIENT_KEY_PASSPHRASE}. */
  get clientKeyEncrypted(): string {
    return readFixture('client-key-encrypted.pem');
  },
  /** The client key and certificate as PKCS#12, encrypted with {@link CLIENT_KEY_PASSPHRASE}. */
  get clientPfx(): Buffer {
    return readFileSync(fixturesDir + 'client.p12');
  },
  get expiredCert(): string {
    return readFixture('expired-cert.pem');
  },
  get expiredKey(): string {
    return readFixture('expired-key.pem');
  },
};

/** The passphrase of the client key fixtures (see test/fixtures/tls/README.md). */
export const CLIENT_KEY_PASSPHRASE = 'cmk-test-passphrase-4f9c2e';

export interface TestServer {
  readonly host: string;
  /** Fixed for the server's life, across stop()/restart(). */
  readonly port: number;
  /** TCP connections accepted so far (all runs). */
  readonly accepted: number;
  /** Accepted sockets not yet closed. */
  readonly openSockets: number;
  readonly listening: boolean;
  /** Resolves with the next accepted TCP socket (the raw socket, also for TLS servers). */
  nextConnection(): Promise<net.Socket>;
  /** Stops listening and destroys every accepted socket; resolves when all are closed. */
  stop(): Promise<void>;
  /** Listens again on the same port. */
  restart(): Promise<void>;
  /** stop(), for good. Idempotent. */
  close(): Promise<void>;
}

type ServerFactory = () => net.Server;

/** Wraps a server factory with socket tracking, stop/restart on one port and a safe close. */
async function startTracked(factory: ServerFactory, port = 0): Promise<TestServer> {
  const sockets = new Set<net.Socket>();
  const closing = new Set<Promise<unknown>>();
  const connectionWaiters: Array<(socket: net.Socket) => void> = [];
  let accepted = 0;
  let server: net.Server | undefined;
  let boundPort = port;

  const listen = async (): Promise<void> => {
    const s = factory();
    // 'connection' is the raw TCP socket, also for tls.Server: a socket stuck in the handshake
    // must be tracked too.
    s.on('connection', (socket: net.Socket) => {
      accepted++;
      sockets.add(socket);
      // A client resetting or vanishing must not crash the test process.
      socket.on('error', () => {});
      // Synchronous bookkeeping, so `openSockets` agrees with the process's active handles
      // as soon as the socket's handle is gone.
      let markClosed!: () => void;
      const closed = new Promise<void>((resolve) => (markClosed = resolve));
      closing.add(closed);
      socket.once('close', () => {
        sockets.delete(socket);
        closing.delete(closed);
        markClosed();
      });
      connectionWaiters.shift()?.(socket);
    });
    // TLS handshake failures (the client rejecting our certificate) are expected in tests.
    s.on('tlsClientError', () => {});
    s.listen(boundPort, HOST);
    await once(s, 'listening');
    const address = s.address() as net.AddressInfo;
    boundPort = address.port;
    server = s;
  };

  const stop = async (): Promise<void> => {
    const s = server;
    server = undefined;
    if (s) {
      const closed = new Promise<void>((resolve) => s.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      await closed;
      // net.Server emits 'close' before libuv has released the listening handle (that happens
      // in the loop's close phase). Two turns of setImmediate: the first can still run in the
      // current iteration's check phase, the second runs after its close phase. Then the
      // process no longer lists the server among its active resources.
      await new Promise<void>((resolve) => setImmediate(() => setImmediate(resolve)));
    } else {
      for (const socket of sockets) socket.destroy();
    }
    await Promise.all(closing);
  };

  await listen();
  let closedForGood = false;

  return {
    host: HOST,
    get port() {
      return boundPort;
    },
    get accepted() {
      return accepted;
    },
    get openSockets() {
      return sockets.size;
    },
    get listening() {
      return server !== undefined;
    },
    nextConnection() {
      return new Promise((resolve) => connectionWaiters.push(resolve));
    },
    stop,
    async restart() {
      if (closedForGood) throw new Error('server was closed');
      if (server) return;
      await listen();
    },
    async close() {
      closedForGood = true;
      await stop();
    },
  };
}

function echo(socket: net.Socket): void {
  socket.pipe(socket);
}

/** A TCP echo server: everything received is sent back (with backpressure, via pipe). */
export function startEchoServer(): Promise<TestServer> {
  return startTracked(() => net.createServer(echo));
}

export interface TlsServerOptions {
  /** Which certificate the server presents. Default `'server'` (signed by the test CA). */
  certificate?: 'server' | 'wrong-host' | 'self-signed' | 'expired';
  /** Require a client certificate signed by the client CA (mutual TLS). */
  requireClientCertificate?: boolean;
  /** Also send the CA certificate in the chain (makes a client without the CA fail with SELF_SIGNED_CERT_IN_CHAIN). */
  sendChain?: boolean;
  /** Extra tls.createServer options. */
  options?: tls.TlsOptions;
}

/** A TLS echo server using the test fixtures. */
export function startTlsEchoServer(opts: TlsServerOptions = {}): Promise<TestServer> {
  const which = opts.certificate ?? 'server';
  const pair = {
    server: () => ({ cert: tlsFixtures.serverCert, key: tlsFixtures.serverKey }),
    'wrong-host': () => ({ cert: tlsFixtures.wrongHostCert, key: tlsFixtures.wrongHostKey }),
    'self-signed': () => ({ cert: tlsFixtures.selfSignedCert, key: tlsFixtures.selfSignedKey }),
    expired: () => ({ cert: tlsFixtures.expiredCert, key: tlsFixtures.expiredKey }),
  }[which]();
  const cert = opts.sendChain ? pair.cert + tlsFixtures.ca : pair.cert;
  const mutual: tls.TlsOptions = opts.requireClientCertificate ? { ca: tlsFixtures.clientCa, requestCert: true, rejectUnauthorized: true } : {};
  return startTracked(() => tls.createServer({ ...mutual, ...opts.options, cert, key: pair.key }, echo));
}

/** Accepts each connection, then resets it (RST, not FIN) on the next turn of the event loop. */
export function startResetServer(): Promise<TestServer> {
  return startTracked(() =>
    net.createServer((socket) => {
      setImmediate(() => socket.resetAndDestroy());
    }),
  );
}

/**
 * Accepts TCP connections and never says anything: a TLS client hangs in its handshake, a TCP
 * client sees a connection that never answers. Reads (and discards) what it receives so the
 * client's writes never block.
 */
export function startSilentServer(opts: { allowHalfOpen?: boolean } = {}): Promise<TestServer> {
  return startTracked(() =>
    // allowHalfOpen: true makes it ignore the client's FIN too (a peer that never closes).
    net.createServer({ allowHalfOpen: opts.allowHalfOpen ?? false }, (socket) => {
      socket.resume();
    }),
  );
}

/** Accepts, then closes gracefully (FIN) after sending `greeting`, if any. */
export function startGreetAndCloseServer(greeting?: string | Uint8Array): Promise<TestServer> {
  return startTracked(() =>
    net.createServer((socket) => {
      if (greeting === undefined) socket.end();
      else socket.end(greeting);
    }),
  );
}

/** Sends `payload` as soon as a client connects, then stays open (echoing anything received). */
export function startGreetingServer(payload: string | Uint8Array): Promise<TestServer> {
  return startTracked(() =>
    net.createServer((socket) => {
      socket.write(payload);
      echo(socket);
    }),
  );
}

/**
 * A port nothing listens on (connecting gets ECONNREFUSED): listen on port 0, note the port,
 * close. The OS could in principle hand the port out again, which is unlikely within a test.
 */
export async function findClosedPort(): Promise<number> {
  const s = net.createServer();
  s.listen(0, HOST);
  await once(s, 'listening');
  const { port } = s.address() as net.AddressInfo;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

/** Closes every server given, ignoring those already closed. */
export async function closeAll(servers: Iterable<TestServer>): Promise<void> {
  await Promise.all([...servers].map((s) => s.close()));
}

/**
 * For a test file's top level: returns `track`, which awaits a server being started and keeps
 * it, and closes every server kept after each test (`await track(startEchoServer())`).
 */
export function trackServers(): <S extends TestServer>(starting: Promise<S>) => Promise<S> {
  const servers: TestServer[] = [];
  afterEach(() => closeAll(servers.splice(0)));
  return async (starting) => {
    const server = await starting;
    servers.push(server);
    return server;
  };
}

/** Counts libuv resources by type (e.g. TCPSocketWrap, TCPServerWrap, Timeout). */
export function activeResources(): Map<string, number> {
  const counts = new Map<string, number>();
  for (const name of process.getActiveResourcesInfo()) counts.set(name, (counts.get(name) ?? 0) + 1);
  return counts;
}
