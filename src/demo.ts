/**
 * `npm start`: a self-contained demo. Starts a TCP echo server on 127.0.0.1 (port chosen by
 * the OS), pools sockets to it from several concurrent workers, prints the pool's events and
 * statistics live, has the server drop one socket to show the pool replacing it, shuts down
 * gracefully and exits by itself.
 *
 *   npm start                 the demo
 *   npm start -- --inspect    also relay every actor to the Stately inspector (see docs/inspector.md)
 */
import net from 'node:net';
import { once } from 'node:events';
import { ConnectionManager, startInspectorRelay, TimeAmount, type ConnectionManagerOptions } from './index.js';

const WORKERS = 6;
const REQUESTS_PER_WORKER = 60;
const KEY = 'echo-server';

const started = performance.now();
const stamp = () => `${((performance.now() - started) / 1000).toFixed(3).padStart(7)}s`;
const log = (line: string) => console.log(`${stamp()}  ${line}`);

async function startEchoServer() {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    socket.pipe(socket);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  return {
    port,
    /** Closes one accepted socket from the server's side, as a crashing peer would. */
    dropOne: () => sockets.values().next().value?.destroy(),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** One request: 32 bytes out, the same 32 bytes back (fixed-size framing). */
function echo(socket: net.Socket, text: string): Promise<string> {
  const payload = Buffer.from(text.padEnd(32).slice(0, 32));
  return new Promise((resolve, reject) => {
    let received = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      if (received.length < 32) return;
      socket.off('close', onClose);
      socket.off('data', onData);
      resolve(received.toString().trimEnd());
    };
    const onClose = () => {
      socket.off('data', onData);
      reject(new Error('socket closed during the request'));
    };
    socket.on('data', onData);
    socket.once('close', onClose);
    socket.write(payload);
  });
}

async function inspection(): Promise<{ options: ConnectionManagerOptions; stop(): Promise<void> }> {
  if (!process.argv.includes('--inspect')) return { options: {}, stop: async () => {} };
  // Loopback only, on a free port; a busy or forbidden port is an InspectorRelayError.
  const relay = await startInspectorRelay();
  log(`inspector relay on ${relay.url} (open it in a browser; the UI loads from stately.ai)`);
  return { options: { inspect: relay.inspector.inspect }, stop: () => relay.close() };
}

async function main() {
  const server = await startEchoServer();
  log(`echo server listening on 127.0.0.1:${server.port}`);
  const inspect = await inspection();
  const manager = new ConnectionManager(inspect.options);

  // Live events: lifecycle ones always; per-request ones are too many to print.
  manager.events.on('pool:created', (e) => log(`pool '${e.key}' created: min ${e.config.minConnections}, max ${e.config.maxConnections}`));
  manager.events.on('connection:connecting', (e) => log(`${e.connectionId} connecting`));
  manager.events.on('connection:connected', (e) => log(`${e.connectionId} connected`));
  manager.events.on('connection:disconnected', (e) => log(`${e.connectionId} disconnected by the peer`));
  manager.events.on('connection:closed', (e) => log(`${e.connectionId} closed (${e.reason})`));
  manager.events.on('pool:timeout', (e) => log(`an acquire on '${e.key}' timed out after ${e.waitedMs.toFixed(0)} ms`));
  manager.events.on('manager:shutdown', (e) => log(`shutdown ${e.phase}`));

  const config = {
    minConnections: 2,
    maxConnections: 4,
    acquireTimeout: TimeAmount.seconds(2),
    maxIdleTime: TimeAmount.seconds(30),
  };
  const connect = async (): Promise<net.Socket> => {
    const socket = net.connect(server.port, '127.0.0.1');
    socket.setNoDelay(true);
    await once(socket, 'connect');
    return socket;
  };

  const stats = () => {
    const s = manager.connectionCache.stats(KEY);
    if (s === undefined) return '';
    return `total ${s.total} | idle ${s.idle} | inUse ${s.inUse} | connecting ${s.connecting} | waiting ${s.waiting} | created ${s.created} | hits ${s.hits}`;
  };
  const ticker = setInterval(() => log(`stats  ${stats()}`), 250);

  let completed = 0;
  let failed = 0;
  const worker = async (w: number) => {
    for (let i = 0; i < REQUESTS_PER_WORKER; i++) {
      const socket = await manager.connectionCache.acquireConnection(KEY, config, connect);
      if (socket === null) continue; // timed out: the event above says so
      try {
        const reply = await echo(socket, `worker ${w} request ${i}`);
        if (reply !== `worker ${w} request ${i}`) throw new Error(`wrong reply: ${reply}`);
        completed++;
        // "Processing" while holding the connection: with 6 workers and 4 sockets, some wait.
        await new Promise((resolve) => setTimeout(resolve, 4 + ((w + i) % 6)));
      } catch {
        failed++; // the dropped socket: the pool has already replaced it
      } finally {
        manager.connectionCache.returnConnection(KEY, socket);
      }
      // A little think time between requests, so the pool is sometimes idle.
      await new Promise((resolve) => setTimeout(resolve, 5 + ((w * 7 + i) % 20)));
    }
  };

  const halfway = setTimeout(() => {
    log('the server drops one pooled socket');
    server.dropOne();
  }, 600);
  await Promise.all(Array.from({ length: WORKERS }, (_, w) => worker(w)));
  clearTimeout(halfway);
  clearInterval(ticker);
  log(`stats  ${stats()}`);
  log(`${completed} requests completed by ${WORKERS} workers over ${manager.connectionCache.stats(KEY)?.created} connections (${failed} lost with the dropped socket)`);

  await manager.gracefulShutdown({ timeout: TimeAmount.seconds(5) });
  await server.close();
  await inspect.stop();
  log('done: no timer or socket left, the process exits by itself');
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
