/**
 * A local relay between a Node process's inspector and the Stately inspector in a browser, in
 * place of `createInspectorServer` from `@statelyai/inspect/server` (which listens on every
 * interface, relays whatever any client sends to every other client, replays the last 200
 * messages to anyone who connects, and crashes its process with an unhandled EADDRINUSE).
 *
 * - It listens on 127.0.0.1 by default, on a free port chosen by the OS.
 * - Only the library's own producer is relayed: it connects to `/producer/<token>`, a random
 *   token of this relay. Viewers (`/viewer`) only receive; what they send is dropped.
 * - A viewer's page must come from the relay itself (Origin), and while the relay is on
 *   loopback the Host must be a loopback name, so another web site in the same browser (or a
 *   DNS-rebinding one) cannot read the stream.
 * - A late viewer gets the live actors' registrations and latest snapshots (replay.ts).
 * - A port that cannot be had is an {@link InspectorRelayError} naming host and port.
 *
 * Subtlety: the inspector's producer is our own adapter (producer.ts): `@statelyai/inspect`'s
 * WebSocket client schedules a reconnect (a 5 s timer, forever) when its socket fails, even
 * when it is stopped before it connected, so a process could never exit. The relay resolves
 * once its producer is open, and close() stops the producer before the server goes away.
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import type { AnyEventObject, InspectionEvent, Observer } from 'xstate';
import type { WebSocket } from 'ws';
import { ConfigurationError, ConnectionManagerError } from '../errors.js';
import { listenAddress, reachableAt, refuseUpgrade, sameSecret } from '../local-server.js';
import { describe } from '../time.js';
import { errorCode } from '../transport/errors.js';
import { viewerPage, viewerPagePolicy } from './page.js';
import { RelayProducer } from './producer.js';
import { ActorReplay, DEFAULT_REPLAY_ACTORS } from './replay.js';

export interface InspectorRelayOptions {
  /**
   * The interface to listen on. Default `'127.0.0.1'`: this machine only. `'0.0.0.0'` or
   * `'::'` exposes the relay to the network: anyone who can reach the port can watch every
   * actor's state and events (see docs/inspector.md).
   */
  host?: string;
  /** Default 0: a free port chosen by the OS (read it from `port` or `url`). */
  port?: number;
  /** The inspector UI the page embeds. Default `'https://stately.ai/inspect'`. */
  inspectorUrl?: string;
  /** Live actors remembered for viewers that open the page later. Default 1000. */
  maxReplayActors?: number;
}

/**
 * The inspector connected to the relay: pass its `inspect` to `new ConnectionManager({ inspect })`.
 * The part of `@statelyai/inspect`'s `Inspector` a Node program uses, declared here because that
 * package's own declarations name browser types (`Window`, `HTMLIFrameElement`) that a Node
 * project without the DOM lib cannot compile.
 */
export interface RelayInspector {
  /** The inspection observer to give XState (`createActor(logic, { inspect })`) or the manager. */
  readonly inspect: Observer<InspectionEvent>;
  /** Registers an actor by id with the viewers (for actors not run by XState). */
  actor(actorId: string, snapshot?: RelayedSnapshot, info?: { definition?: string; parentId?: string; rootId?: string }): void;
  /** Shows an event sent to the actor with this id. */
  event(actorId: string, event: AnyEventObject | string, info?: { source?: string }): void;
  /** Shows a snapshot of the actor with this id. */
  snapshot(actorId: string, snapshot: RelayedSnapshot, info?: { event?: AnyEventObject }): void;
  start(): void;
  stop(): void;
}

/** A snapshot as the inspector shows it. */
export interface RelayedSnapshot {
  status?: 'active' | 'done' | 'error' | 'stopped';
  context?: unknown;
  value?: unknown;
  output?: unknown;
}

export interface InspectorRelay {
  /** Open this in a browser: the page embedding the Stately inspector. */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  /** Already connected to the relay. `new ConnectionManager({ inspect: relay.inspector.inspect })`. */
  readonly inspector: RelayInspector;
  /**
   * Where another producer may connect (`createWebSocketInspector({ url })`). It holds the
   * relay's token: whoever has it can show anything to the viewers. Do not log it.
   */
  readonly producerUrl: string;
  /** The listening socket's address. */
  address(): net.AddressInfo;
  /** Stops the inspector, closes every viewer and producer, then the server. Idempotent. */
  close(): Promise<void>;
}

/** The relay could not start: `host` and `port` are what it was asked to listen on; `cause` is Node's error. */
export class InspectorRelayError extends ConnectionManagerError {
  readonly host: string;
  readonly port: number;
  constructor(host: string, port: number, message: string, options?: { cause?: unknown }) {
    super('ERR_INSPECTOR_RELAY', `inspector relay on ${host}:${port}: ${message}`, options);
    this.host = host;
    this.port = port;
  }
}

/** Largest message accepted from a producer (an actor's definition can be large). */
const MAX_MESSAGE_BYTES = 16 * 1024 * 1024;
/** A viewer this far behind is cut off rather than buffered for without bound. */
const MAX_VIEWER_BACKLOG_BYTES = 64 * 1024 * 1024;
/** How long the producer may take to connect over loopback, and close() to close gracefully. */
const HANDSHAKE_TIMEOUT_MS = 10_000;
const CLOSE_GRACE_MS = 1_000;
const DEFAULT_INSPECTOR_URL = 'https://stately.ai/inspect';

const LISTEN_HINTS: Record<string, string> = {
  EADDRINUSE: 'the port is in use (pick another one, or port 0 for a free one)',
  EACCES: 'permission denied (ports below 1024 need privileges)',
  EADDRNOTAVAIL: 'no interface of this machine has this address',
  ENOTFOUND: 'the host name does not resolve',
};

/**
 * Starts the relay and an inspector connected to it. Rejects with a `ConfigurationError` for
 * bad options and an {@link InspectorRelayError} when it cannot listen.
 */
export async function startInspectorRelay(options: InspectorRelayOptions = {}): Promise<InspectorRelay> {
  const { host, port, inspectorUrl, maxReplayActors } = readRelayOptions(options);
  // Loaded on use: most users of the library never start a relay.
  const [{ WebSocket, WebSocketServer }, { createInspector }] = await Promise.all([import('ws'), import('@statelyai/inspect')]);

  const token = randomBytes(24).toString('base64url');
  const replay = new ActorReplay(maxReplayActors);
  const viewers = new Set<WebSocket>();
  const producers = new Set<WebSocket>();
  const server = http.createServer();
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_MESSAGE_BYTES });

  await new Promise<void>((resolve, reject) => {
    server.once('error', (error) => reject(new InspectorRelayError(host, port, LISTEN_HINTS[errorCode(error) ?? ''] ?? String(errorCode(error) ?? error), { cause: error })));
    server.listen({ host, port }, () => resolve());
  });
  // Once listening, a server error (rare: the handle failing) must not crash the process.
  server.on('error', () => {});
  const address = server.address() as net.AddressInfo;
  const allowedHosts = loopbackHosts(host, address.port);

  server.on('request', (req, res) => {
    const requestHost = req.headers.host ?? '';
    if (!validHost(requestHost) || (allowedHosts !== undefined && !allowedHosts.has(requestHost.toLowerCase()))) {
      res.writeHead(403).end();
    } else if ((req.method === 'GET' || req.method === 'HEAD') && new URL(req.url ?? '/', 'http://relay').pathname === '/') {
      res.writeHead(200, {
        'Content-Type': 'text/html; charset=utf-8',
        'Content-Security-Policy': viewerPagePolicy(inspectorUrl, requestHost),
        'Cache-Control': 'no-store',
        'Referrer-Policy': 'no-referrer',
        'X-Content-Type-Options': 'nosniff',
      });
      res.end(req.method === 'HEAD' ? undefined : viewerPage(inspectorUrl));
    } else {
      res.writeHead(404).end();
    }
  });

  server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => {});
    const requestHost = req.headers.host ?? '';
    if (!validHost(requestHost) || (allowedHosts !== undefined && !allowedHosts.has(requestHost.toLowerCase()))) return refuseUpgrade(socket, 403);
    const path = new URL(req.url ?? '/', 'http://relay').pathname;
    if (path.startsWith('/producer/') && sameSecret(path.slice('/producer/'.length), token)) {
      wss.handleUpgrade(req, socket, head, (ws) => {
        producers.add(ws);
        ws.on('error', () => {});
        ws.on('close', () => producers.delete(ws));
        ws.on('message', (data: Buffer | ArrayBuffer | Buffer[]) => {
          const text = Array.isArray(data) ? Buffer.concat(data).toString() : Buffer.from(data as ArrayBuffer).toString();
          replay.record(text);
          for (const viewer of viewers) relayTo(viewer, text);
        });
      });
    } else if (path === '/viewer') {
      // A browser page must be the relay's own (same origin); other clients send no Origin.
      const origin = req.headers.origin;
      if (origin !== undefined && !sameOrigin(origin, requestHost)) return refuseUpgrade(socket, 403);
      wss.handleUpgrade(req, socket, head, (ws) => {
        viewers.add(ws);
        ws.on('error', () => {});
        ws.on('close', () => viewers.delete(ws));
        // Viewers only watch: whatever they send is dropped, never relayed or replayed.
        ws.on('message', () => {});
        for (const text of replay.messages()) relayTo(ws, text);
      });
    } else {
      refuseUpgrade(socket, 404);
    }
  });

  const producerUrl = `ws://${reachableAt(host, address.port)}/producer/${token}`;
  const producer = new RelayProducer(producerUrl, WebSocket);
  const inspector: RelayInspector = createInspector(producer);
  inspector.start();
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), HANDSHAKE_TIMEOUT_MS)));
  const outcome = await Promise.race([producer.whenOpen(), timedOut]);
  clearTimeout(timer);
  if (outcome === 'timeout') {
    inspector.stop();
    await shutDown(server, wss, [...viewers, ...producers]);
    throw new InspectorRelayError(host, address.port, `its inspector did not connect within ${HANDSHAKE_TIMEOUT_MS} ms`);
  }

  let closing: Promise<void> | undefined;
  const urlHost = reachableAt(host, address.port);
  return {
    url: `http://${urlHost}/`,
    host,
    port: address.port,
    inspector,
    producerUrl,
    address: () => address,
    close() {
      closing ??= (async () => {
        // The producer first, from its own side: a clean close schedules no reconnect.
        inspector.stop();
        await shutDown(server, wss, [...viewers, ...producers]);
        await producer.whenClosed();
      })();
      return closing;
    },
  };
}

function readRelayOptions(options: InspectorRelayOptions): Required<InspectorRelayOptions> {
  if (options === null || typeof options !== 'object') throw new ConfigurationError('options', `must be an object, got ${describe(options)}`);
  const { host, port } = listenAddress(options);
  const inspectorUrl = options.inspectorUrl ?? DEFAULT_INSPECTOR_URL;
  if (typeof inspectorUrl !== 'string' || !/^https?:\/\//.test(inspectorUrl) || !URL.canParse(inspectorUrl)) {
    throw new ConfigurationError('options.inspectorUrl', `must be an http(s) URL, got ${describe(inspectorUrl)}`);
  }
  const maxReplayActors = options.maxReplayActors ?? DEFAULT_REPLAY_ACTORS;
  if (typeof maxReplayActors !== 'number' || !Number.isInteger(maxReplayActors) || maxReplayActors < 0) {
    throw new ConfigurationError('options.maxReplayActors', `must be an integer >= 0, got ${describe(maxReplayActors)}`);
  }
  return { host, port, inspectorUrl, maxReplayActors };
}

/** The Host headers accepted while the relay is on loopback; undefined once it is exposed. */
function loopbackHosts(host: string, port: number): Set<string> | undefined {
  const loopback = host === 'localhost' || host === '::1' || (net.isIPv4(host) && host.startsWith('127.'));
  if (!loopback) return undefined;
  return new Set(['127.0.0.1', 'localhost', '[::1]', net.isIPv6(host) ? `[${host}]` : host].map((h) => `${h}:${port}`.toLowerCase()));
}

/** A Host header that is a host name or address and a port, nothing else (it goes into a header). */
function validHost(host: string): boolean {
  return /^[A-Za-z0-9.\-:[\]]+$/.test(host);
}

function sameOrigin(origin: string, host: string): boolean {
  try {
    return new URL(origin).host.toLowerCase() === host.toLowerCase();
  } catch {
    return false;
  }
}


function relayTo(ws: WebSocket, text: string): void {
  if (ws.readyState !== ws.OPEN) return;
  if (ws.bufferedAmount > MAX_VIEWER_BACKLOG_BYTES) {
    ws.terminate();
    return;
  }
  ws.send(text);
}


/** Closes every WebSocket (gracefully, then by force after a grace period), then the server. */
async function shutDown(server: http.Server, wss: import('ws').WebSocketServer, sockets: WebSocket[]): Promise<void> {
  const closed = sockets.map((ws) => new Promise<void>((resolve) => (ws.readyState === ws.CLOSED ? resolve() : ws.once('close', () => resolve()))));
  for (const ws of sockets) ws.close(1001, 'the relay is closing');
  let timer: NodeJS.Timeout | undefined;
  const grace = new Promise<void>((resolve) => (timer = setTimeout(resolve, CLOSE_GRACE_MS)));
  await Promise.race([Promise.all(closed), grace]);
  clearTimeout(timer);
  for (const ws of sockets) ws.terminate();
  await Promise.all(closed);
  wss.close();
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}
