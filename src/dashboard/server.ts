/**
 * The dashboard's HTTP and WebSocket server: serves the page and its files from memory (no
 * file system, no network: everything is in the package), and streams batches to each open
 * page. Read-only: nothing a page sends can change the manager.
 *
 * Access: every URL starts with a random token (`/<token>/...`), checked on every request and
 * on the WebSocket upgrade; without it the answer is 403 and nothing else. The page's own
 * URLs are relative, so the token travels with them. It listens on loopback unless told
 * otherwise.
 *
 * The one subtlety: a page that cannot keep up (its socket's send buffer above a limit) is
 * skipped instead of queued without bound, and gets a full state once it has drained, so a
 * slow browser never grows the server's memory.
 */
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';
import { refuseUpgrade, sameSecret } from '../local-server.js';
import type { Charts } from './charts.js';
import { pageAssets } from './generated/page-assets.js';
import type { ManagerWatcher } from './watcher.js';

/** How often changes are sent, ms: at most ten messages a second per page. */
export const FLUSH_INTERVAL_MS = 100;
/** A page whose unsent data exceeds this is skipped until it drains, then resynchronised. */
const MAX_BUFFERED_BYTES = 4 * 1024 * 1024;

const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'referrer-policy': 'no-referrer',
  'x-content-type-options': 'nosniff',
  'cache-control': 'no-store',
};

interface Client {
  socket: WebSocket;
  /** Fell behind: send a full state once its buffer has drained. */
  behind: boolean;
}

export interface DashboardServerOptions {
  host: string;
  port: number;
  watcher: ManagerWatcher;
  charts: Charts;
}

export class DashboardServer {
  readonly token = randomBytes(24).toString('base64url');
  private readonly http: http.Server;
  private readonly wss: WebSocketServer;
  private readonly clients = new Set<Client>();
  private flushTimer: NodeJS.Timeout | undefined;
  private readonly chartsJson: string;
  private closed = false;

  constructor(private readonly options: DashboardServerOptions) {
    this.chartsJson = JSON.stringify({ layouts: options.charts.layouts, status: options.charts.status });
    this.http = http.createServer((req, res) => this.onRequest(req, res));
    this.wss = new WebSocketServer({ noServer: true, maxPayload: 4096 });
    this.http.on('upgrade', (req, socket, head) => this.onUpgrade(req, socket, head));
    // A browser tab closing mid-request must not crash the process.
    this.http.on('clientError', (_error, socket) => socket.destroy());
  }

  async listen(): Promise<AddressInfo> {
    this.http.listen(this.options.port, this.options.host);
    await once(this.http, 'listening');
    return this.http.address() as AddressInfo;
  }

  /** The part of `url` after `/<token>`, or undefined if the token is not there. */
  private pathAfterToken(url: string | undefined): string | undefined {
    const path = (url ?? '').split('?')[0] ?? '';
    const prefix = `/${this.token}`;
    if (!sameSecret(path.slice(0, prefix.length), prefix)) return undefined;
    const rest = path.slice(prefix.length);
    if (rest !== '' && !rest.startsWith('/')) return undefined;
    return rest;
  }

  private onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    const rest = this.pathAfterToken(req.url);
    if (rest === undefined) {
      res.writeHead(403, { 'content-type': 'text/plain; charset=utf-8', ...SECURITY_HEADERS });
      res.end('forbidden\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', ...SECURITY_HEADERS });
      res.end();
      return;
    }
    if (rest === '') {
      // The page's relative URLs need the trailing slash.
      res.writeHead(302, { location: `/${this.token}/`, ...SECURITY_HEADERS });
      res.end();
      return;
    }
    const name = rest === '/' ? 'index.html' : rest.slice(1);
    let type: string;
    let body: string;
    if (name === 'charts.json') {
      type = 'application/json; charset=utf-8';
      body = this.chartsJson;
    } else {
      const asset = Object.hasOwn(pageAssets, name) ? pageAssets[name] : undefined;
      if (asset === undefined) {
        res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8', ...SECURITY_HEADERS });
        res.end('not found\n');
        return;
      }
      type = asset.type;
      body = asset.body;
    }
    const bytes = Buffer.from(body);
    res.writeHead(200, { 'content-type': type, 'content-length': bytes.length, ...SECURITY_HEADERS });
    res.end(req.method === 'HEAD' ? undefined : bytes);
  }

  private onUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    const rest = this.pathAfterToken(req.url);
    // A page from another site must not read the stream even if it learnt the URL: when a
    // browser sends an Origin, it must be the dashboard's own.
    const origin = req.headers.origin;
    const sameOrigin = origin === undefined || origin === `http://${req.headers.host ?? ''}`;
    if (rest !== '/ws' || !sameOrigin || this.closed) {
      refuseUpgrade(socket, 403);
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => this.onSocket(ws));
  }

  private onSocket(socket: WebSocket): void {
    const { watcher, charts } = this.options;
    const client: Client = { socket, behind: false };
    socket.on('error', () => socket.terminate());
    socket.on('close', () => {
      this.clients.delete(client);
      if (this.clients.size === 0) this.idle();
    });
    // Pages only listen; anything they send is ignored.
    if (!watcher.watching) {
      watcher.start();
      this.flushTimer = setInterval(() => this.flush(), FLUSH_INTERVAL_MS);
      this.flushTimer.unref();
    }
    // Bring the open pages up to date first: the new page starts from the state they have.
    this.flush();
    this.clients.add(client);
    socket.send(JSON.stringify(watcher.full(charts.status)));
  }

  /** No page open: stop watching (and costing the manager anything). */
  private idle(): void {
    if (this.flushTimer !== undefined) clearInterval(this.flushTimer);
    this.flushTimer = undefined;
    this.options.watcher.stop();
  }

  private flush(): void {
    const { watcher, charts } = this.options;
    const batch = watcher.flush();
    const message = batch === undefined ? undefined : JSON.stringify(batch);
    for (const client of this.clients) {
      if (client.socket.readyState !== WebSocket.OPEN) continue;
      if (client.socket.bufferedAmount > MAX_BUFFERED_BYTES) {
        client.behind = true;
        continue;
      }
      if (client.behind) {
        client.behind = false;
        client.socket.send(JSON.stringify(watcher.full(charts.status)));
      } else if (message !== undefined) {
        client.socket.send(message);
      }
    }
  }

  /** Closes every page's socket and the server, and stops watching. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.idle();
    for (const client of this.clients) client.socket.terminate();
    this.clients.clear();
    this.wss.close();
    const closed = new Promise<void>((resolve) => this.http.close(() => resolve()));
    this.http.closeAllConnections();
    await closed;
  }
}
