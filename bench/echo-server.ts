/**
 * Loopback echo server, run in its own process (forked by bench/lib/echo-control.ts) so that its
 * CPU is not the client's. Listens on 127.0.0.1 (port 0 the first time), writes back every
 * byte it receives (clients use fixed 32-byte frames), and takes commands over IPC:
 *   down: stop listening and drop every connection   → replies { ev: 'down' }
 *   up:   listen again on the same port              → replies { ev: 'up', port }
 *   exit: close everything and leave                 → the process exits
 */
import net from 'node:net';
import type { ServerCommand, ServerEvent } from './lib/echo-control.js';

let server: net.Server | null = null;
let port = 0;
const sockets = new Set<net.Socket>();

function send(event: ServerEvent): void {
  process.send?.(event);
}

function listen(onPort: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer({ noDelay: true }, (socket) => {
      sockets.add(socket);
      socket.on('data', (chunk) => {
        socket.write(chunk);
      });
      socket.on('error', () => undefined);
      socket.on('close', () => {
        sockets.delete(socket);
      });
    });
    s.once('error', reject);
    s.listen({ host: '127.0.0.1', port: onPort, backlog: 1024 }, () => {
      const address = s.address();
      if (address === null || typeof address === 'string') {
        reject(new Error('unexpected server address'));
        return;
      }
      server = s;
      resolve(address.port);
    });
  });
}

function down(): Promise<void> {
  return new Promise((resolve) => {
    const s = server;
    server = null;
    for (const socket of sockets) socket.destroy();
    sockets.clear();
    if (s === null) {
      resolve();
      return;
    }
    s.close(() => resolve());
  });
}

process.on('message', (raw) => {
  const command = raw as ServerCommand;
  void (async () => {
    try {
      switch (command.cmd) {
        case 'down':
          await down();
          send({ ev: 'down' });
          break;
        case 'up':
          if (server === null) port = await listen(port);
          send({ ev: 'up', port });
          break;
        case 'exit':
          await down();
          process.disconnect();
          break;
      }
    } catch (err) {
      send({ ev: 'error', message: err instanceof Error ? err.message : String(err) });
    }
  })();
});

// The parent went away: nothing left to serve.
process.on('disconnect', () => {
  void down().then(() => process.exit(0));
});

port = await listen(0);
send({ ev: 'up', port });
