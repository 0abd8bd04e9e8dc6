import net from 'node:net';
import { once } from 'node:events';
import { describe, expect, test } from 'vitest';
import { manager } from './support/managers.js';
import { findClosedPort, startEchoServer, trackServers, type TestServer } from './support/servers.js';

const track = trackServers();
const echoServer = (): Promise<TestServer> => track(startEchoServer());

function connectTo(port: number) {
  return async (): Promise<net.Socket> => {
    const socket = net.connect(port, '127.0.0.1');
    socket.setNoDelay(true);
    await once(socket, 'connect');
    return socket;
  };
}

/** Sends `payload` and resolves with exactly that many bytes back. Framing: fixed size. */
function request(socket: net.Socket, payload: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let received = 0;
    const cleanup = () => {
      socket.off('data', onData);
      socket.off('close', onClose);
    };
    const onData = (d: Buffer) => {
      chunks.push(d);
      received += d.length;
      if (received >= payload.length) {
        cleanup();
        resolve(Buffer.concat(chunks));
      }
    };
    const onClose = () => {
      cleanup();
      reject(new Error('socket closed mid-request'));
    };
    socket.on('data', onData);
    socket.once('close', onClose);
    socket.write(payload);
  });
}

describe('pooling real TCP sockets', () => {
  test('concurrent workers share a pool of 3 sockets; every reply matches its request', async () => {
    const server = await echoServer();
    const m = manager();
    const config = { maxConnections: 3 };
    const factory = connectTo(server.port);
    let requests = 0;
    await Promise.all(
      Array.from({ length: 8 }, async (_, worker) => {
        for (let i = 0; i < 40; i++) {
          const socket = (await m.connectionCache.acquireConnection('echo', config, factory)) as net.Socket;
          const payload = Buffer.from(`worker ${worker} request ${i}`.padEnd(32, '.'));
          // If two callers ever shared a socket, replies would interleave and mismatch.
          expect((await request(socket, payload)).equals(payload)).toBe(true);
          requests++;
          m.connectionCache.returnConnection('echo', socket);
        }
      }),
    );
    expect(requests).toBe(320);
    expect(server.accepted).toBe(3);
    expect(m.connectionCache.stats('echo')).toMatchObject({ total: 3, idle: 3, created: 3 });
    await m.gracefulShutdown();
    await expect.poll(() => server.openSockets).toBe(0);
  });

  test('a pooled socket the server closes is dropped at once and replaced on demand', async () => {
    const server = await echoServer();
    const m = manager();
    const config = { maxConnections: 2 };
    const factory = connectTo(server.port);
    const accepted = server.nextConnection();
    const socket = (await m.connectionCache.acquireConnection('echo', config, factory)) as net.Socket;
    m.connectionCache.returnConnection('echo', socket);
    const disconnected = new Promise((resolve) => m.events.on('connection:disconnected', resolve));
    (await accepted).destroy();
    await disconnected;
    expect(m.connectionCache.stats('echo')?.idle).toBe(0);
    const fresh = (await m.connectionCache.acquireConnection('echo', config, factory)) as net.Socket;
    expect(fresh).not.toBe(socket);
    const payload = Buffer.from('still works'.padEnd(32, '!'));
    expect((await request(fresh, payload)).equals(payload)).toBe(true);
    m.connectionCache.returnConnection('echo', fresh);
  });

  test('a factory connecting to a closed port rejects the acquire with ECONNREFUSED', async () => {
    const port = await findClosedPort();
    const m = manager();
    const error = await m.connectionCache.acquireConnection('down', {}, connectTo(port)).catch((e: unknown) => e);
    expect((error as NodeJS.ErrnoException).code).toBe('ECONNREFUSED');
    expect(m.connectionCache.stats('down')).toMatchObject({ total: 0, failed: 1 });
  });

  test('minConnections sockets are opened up front and closed by the shutdown', async () => {
    const server = await echoServer();
    const m = manager();
    const socket = await m.connectionCache.acquireConnection('echo', { minConnections: 4, maxConnections: 4 }, connectTo(server.port));
    await expect.poll(() => m.connectionCache.stats('echo')?.idle).toBe(3);
    expect(server.accepted).toBe(4);
    m.connectionCache.returnConnection('echo', socket as net.Socket);
    await m.gracefulShutdown();
    await expect.poll(() => server.openSockets).toBe(0);
    expect(m.connectionCache.count).toBe(0);
  });
});
