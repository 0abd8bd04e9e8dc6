/**
 * The demo's server: a TCP echo server on 127.0.0.1 (a port the OS chose) that can misbehave on
 * cue, as real servers do: drop every connection at once and stop listening (a crash, a
 * restart), then listen again on the same port. Accepting is slowed a little (`acceptDelayMs`),
 * like a server doing a handshake, so that creating a connection costs more than waiting for a
 * lent one to come back, which is what the pool weighs.
 */
import net from 'node:net';
import { once } from 'node:events';

export interface DemoServer {
  readonly port: number;
  /** TCP connections accepted so far. */
  readonly accepted: number;
  /** Destroys every accepted socket and stops listening. */
  crash(): Promise<void>;
  /** Listens again on the same port. */
  restart(): Promise<void>;
  close(): Promise<void>;
}

export async function startDemoServer(acceptDelayMs: number): Promise<DemoServer> {
  const sockets = new Set<net.Socket>();
  let accepted = 0;
  let port = 0;
  let server: net.Server | undefined;
  const listen = async () => {
    const s = net.createServer((socket) => {
      accepted++;
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => {});
      socket.pause();
      // The "handshake": the first bytes are echoed only after a moment.
      setTimeout(() => {
        socket.resume();
        socket.pipe(socket);
      }, acceptDelayMs).unref();
    });
    s.listen(port, '127.0.0.1');
    await once(s, 'listening');
    port = (s.address() as net.AddressInfo).port;
    server = s;
  };
  const stop = async () => {
    const s = server;
    server = undefined;
    for (const socket of sockets) socket.destroy();
    if (s !== undefined) await new Promise<void>((resolve) => s.close(() => resolve()));
  };
  await listen();
  return {
    get port() {
      return port;
    },
    get accepted() {
      return accepted;
    },
    crash: stop,
    restart: listen,
    close: stop,
  };
}

/** One request over `socket`: 32 bytes out, the same 32 back; rejects if the socket closes first. */
export function echo(socket: net.Socket, text: string): Promise<string> {
  const payload = Buffer.from(text.padEnd(32).slice(0, 32));
  return new Promise((resolve, reject) => {
    let received = Buffer.alloc(0);
    const done = (error?: Error) => {
      socket.off('data', onData);
      socket.off('close', onClose);
      if (error === undefined) resolve(received.toString().trimEnd());
      else reject(error);
    };
    const onData = (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      if (received.length >= 32) done();
    };
    const onClose = () => done(Object.assign(new Error('the server closed the connection'), { code: 'ECONNRESET' }));
    socket.on('data', onData);
    socket.once('close', onClose);
    socket.write(payload);
  });
}

/** Opens a socket to the demo server (what a client library's connect does). */
export function connectTo(server: DemoServer) {
  return ({ signal }: { signal: AbortSignal }) =>
    new Promise<net.Socket>((resolve, reject) => {
      const socket = net.connect({ host: '127.0.0.1', port: server.port, signal });
      socket.setNoDelay(true);
      socket.once('connect', () => {
        socket.off('error', reject);
        resolve(socket);
      });
      socket.once('error', reject);
    });
}
