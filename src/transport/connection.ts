/**
 * A connection (TCP or TLS) to one server: its lifecycle (one `status`), its socket's events
 * and, when supervised, the hand-over to a new socket. Reading is inbound.ts, writing
 * outbound.ts, the end closing.ts. Subtlety: a supervised connection outlives its sockets, so
 * "the socket closed" and "the connection closed" are different facts; `status` keeps them
 * apart, and listeners are bound to the current socket only.
 */
import { randomUUID } from 'node:crypto';
import type net from 'node:net';
import type tls from 'node:tls';
import { inspect, type InspectOptions } from 'node:util';
import type { Emitter, Handler } from 'mitt';
import { ConnectionManagerError } from '../errors.js';
import { mitt } from '../events.js';
import { openSocket, type OpenSocketOptions } from './connect.js';
import type { ConnectionCloseEvent, ConnectionDisconnectedEvent, ConnectionEvents, ConnectionState, ConnectionSummary } from './connection-events.js';
import { checkConnectionOptions, DEFAULT_CLOSE_TIMEOUT, DEFAULT_READ_BUFFER_LIMIT, type ConnectionOptions } from './connection-options.js';
import { Closing } from './closing.js';
import { ConnectionErrors } from './connection-errors.js';
import { NOT_CONNECTED, type NetworkError } from './errors.js';
import { Inbound } from './inbound.js';
import { Outbound } from './outbound.js';
import { serverInfo, type ServerInfo } from './server-info.js';
import type { ServerLocation } from './server.js';
import { socketDetails, type SocketDetails, type TlsDetails } from './socket-details.js';

export type * from './connection-events.js';
export { checkConnectionOptions, DEFAULT_CLOSE_TIMEOUT, DEFAULT_READ_BUFFER_LIMIT, type ConnectionOptions } from './connection-options.js';
export type { PeerCertificateInfo, SocketDetails, TlsDetails } from './socket-details.js';

/**
 * A connection (TCP or TLS) to one server: promise-based writes that honour backpressure, two
 * ways to read (an async iterator with backpressure, or 'data' handlers; bytes that arrive
 * before anyone reads are kept, up to `readBufferLimit`), a graceful close, and events: `data`,
 * `error` (one per socket error; a network error never crashes the process), `close` (exactly
 * once, when closed for good). A supervised connection (what `connect()` hands out) outlives
 * its socket: on a drop it becomes `'disconnected'`, then carries on with the socket its
 * supervisor {@link attach}es or closes for good on {@link finalize}; closing it stops its
 * reconnection. Handlers run inside the socket's events, after the connection has updated its
 * own state. Framing is the user's. The whole contract: docs/connections.md.
 */
export class Connection {
  readonly id: string;
  readonly cacheKey: string;
  /** Where it connects, without the secrets of its TLS options (see {@link ServerInfo}). */
  readonly server: ServerInfo;
  /** Reconnects through a supervisor instead of closing when its socket is lost. */
  readonly supervised: boolean;

  /** The current socket. A true private field: it holds the TLS connect options (keys included). */
  #socket: net.Socket | tls.TLSSocket;
  #holdsProcess = true;
  /**
   * - `connected`: it has a socket (which may be failing; the drop is noticed when it has closed).
   * - `disconnected`: supervised only, the socket was lost; waits for attach() or finalize().
   * - `closing`: close(), destroy() or finalize() was called; the socket has not closed yet.
   * - `closed`: closed for good: `closing.event` is set and `close` was emitted.
   */
  private status: 'connected' | 'disconnected' | 'closing' | 'closed' = 'connected';
  /** Incremented by every attach(): tells a deferred callback whether its socket is still current. */
  private generation = 0;
  /** The current socket's addresses and TLS session, captured when it was bound. */
  private details: SocketDetails;

  private readonly emitter: Emitter<ConnectionEvents> = mitt<ConnectionEvents>();
  private readonly inbound: Inbound;
  private readonly outbound = new Outbound();
  private readonly closing: Closing;

  /** The current socket's last error. */
  private lastError: NetworkError | undefined;
  /** Why the last socket was lost, while disconnected. */
  private disconnectError: NetworkError | undefined;
  private readonly errors: ConnectionErrors;

  constructor(socket: net.Socket | tls.TLSSocket, server: ServerLocation, options: ConnectionOptions = {}) {
    checkConnectionOptions(options);
    this.#socket = socket;
    this.server = serverInfo(server);
    this.cacheKey = server.cacheKey;
    this.id = options.id ?? randomUUID();
    this.supervised = options.supervised ?? false;
    this.closing = new Closing(options.clock, options.closeTimeout ?? DEFAULT_CLOSE_TIMEOUT);
    this.details = socketDetails(socket);
    this.errors = new ConnectionErrors(
      { id: this.id, cacheKey: this.cacheKey, address: `${server.host}:${server.port}` },
      () => this.closing.event?.error ?? this.disconnectError ?? this.lastError,
    );
    this.inbound = new Inbound(options.readBufferLimit ?? DEFAULT_READ_BUFFER_LIMIT, {
      hasDataHandlers: () => (this.emitter.all.get('data')?.length ?? 0) > 0,
      emitData: (chunk) => this.emitter.emit('data', chunk),
      keepsUnread: () => this.status === 'connected' || this.status === 'disconnected',
    });
    if (socket.closed) {
      // Closed before we were handed it: 'close' will not fire again. Nobody can be listening
      // yet, so a supervised connection announces the loss in a microtask.
      socket.on('error', this.onError);
      this.socketGone(socket.errored !== null, true);
      return;
    }
    this.bindSocket(socket);
  }

  /** The current socket's peer address (captured when the socket was bound). */
  get remoteAddress(): string | undefined {
    return this.details.remoteAddress;
  }

  get remotePort(): number | undefined {
    return this.details.remotePort;
  }

  get localAddress(): string | undefined {
    return this.details.localAddress;
  }

  get localPort(): number | undefined {
    return this.details.localPort;
  }

  /** The current socket is a TLS socket with an established session. */
  get encrypted(): boolean {
    return this.details.encrypted;
  }

  /** The current socket's TLS session, when {@link encrypted}. */
  get tls(): TlsDetails | undefined {
    return this.details.tls;
  }

  /**
   * It can no longer be written, for good: close()/destroy() was called or it closed; unless
   * supervised, also once the peer ended it or it failed (a `'disconnected'` one is not closed).
   * `close` (or `whenClosed()`) marks when the socket is fully released.
   */
  get closed(): boolean {
    if (this.status === 'closing' || this.status === 'closed') return true;
    if (this.supervised) return false;
    return this.#socket.destroyed || !this.#socket.writable;
  }

  /** See {@link ConnectionState}; `'closed'` exactly when {@link closed} is true. */
  get state(): ConnectionState {
    if (this.closed) return 'closed';
    return this.status === 'disconnected' ? 'disconnected' : 'connected';
  }

  /** Inbound bytes received and not yet consumed (bounded by about `readBufferLimit` + one chunk). */
  get bufferedBytes(): number {
    return this.inbound.bytes;
  }

  /** Subscribes to an event; returns a function that unsubscribes. */
  on<K extends keyof ConnectionEvents>(type: K, handler: Handler<ConnectionEvents[K]>): () => void {
    this.emitter.on(type, handler);
    if (type === 'data') this.inbound.consumersChanged();
    return () => this.off(type, handler);
  }

  off<K extends keyof ConnectionEvents>(type: K, handler: Handler<ConnectionEvents[K]>): void {
    this.emitter.off(type, handler);
    if (type === 'data') this.inbound.consumersChanged();
  }

  /** Resolves once the connection has closed for good (immediately if it has), never rejects. */
  whenClosed(): Promise<ConnectionCloseEvent> {
    return this.closing.whenClosed();
  }

  /**
   * Writes `data` (a string is UTF-8). Resolves once handed to the kernel and, if the socket's
   * buffer was over its high-water mark, once it drained. Rejects with a `ConnectionClosedError`
   * (`ERR_CONNECTION_CLOSED`) if closed or closing before the data was flushed, at once with
   * `ERR_NOT_CONNECTED` while a supervised connection reconnects, or with a `NetworkError`.
   */
  write(data: string | Uint8Array): Promise<void> {
    if (this.closed) {
      return Promise.reject(this.errors.closed('cannot write: the connection is closed'));
    }
    const socket = this.#socket;
    if (this.supervised && (this.status === 'disconnected' || socket.destroyed || !socket.writable)) {
      return Promise.reject(this.errors.closed('cannot write: the connection is not connected (it is reconnecting)', NOT_CONNECTED));
    }
    return this.outbound.write(socket, data, this.errors.write);
  }

  /**
   * Closes gracefully: FIN once queued writes are flushed, reading until the peer closes too, a
   * destroy after `closeTimeout`. Resolves when the socket is fully closed (the `close` event
   * says whether with an error); every call returns the same promise. Bytes arriving meanwhile
   * go to an active reader, or are dropped. A `'disconnected'` connection closes at once.
   */
  close(): Promise<void> {
    const { promise, first } = this.closing.closeRequested();
    if (!first) return promise;
    if (this.status === 'disconnected') {
      this.status = 'closing';
      this.finishClose(undefined);
    } else if (this.status !== 'closed') {
      this.status = 'closing';
      // Without an active reader we must keep reading anyway, or the peer's FIN is never seen.
      this.inbound.updateFlow();
      const socket = this.#socket;
      socket.end();
      if (this.status === 'closing') this.closing.startGrace(() => socket.destroy());
    }
    return promise;
  }

  /**
   * Destroys the socket now. Unflushed writes are rejected. With `error`, the connection
   * closes with that error (`close` has `hadError: true`, the iterator throws it). A
   * `'disconnected'` connection closes for good at once (no `error` event: there is no socket).
   */
  destroy(error?: Error): void {
    if (this.status === 'closed') return;
    const cause = error === undefined ? undefined : this.errors.network(error, 'ERR_CONNECTION_DESTROYED');
    if (this.status === 'disconnected') {
      this.status = 'closing';
      this.finishClose(cause);
      return;
    }
    this.status = 'closing';
    if (!this.#socket.destroyed) this.#socket.destroy(cause);
  }

  /**
   * Whether this connection keeps the Node.js process alive, as `net.Socket`'s `ref()` and
   * `unref()` (kept across reconnections). A pool unrefs the connections it opened for a
   * registered server while they rest idle, and refs them when it lends them.
   */
  ref(): void {
    this.#holdsProcess = true;
    this.#socket.ref();
  }
  unref(): void {
    this.#holdsProcess = false;
    this.#socket.unref();
  }

  /**
   * For the supervisor, after a successful reconnect: binds the connected `socket` as the first
   * one was bound, makes the connection `'connected'` and emits `reconnected`; readers carry on.
   * Throws (and leaves the socket to the caller) `ERR_INVALID_STATE` unless `'disconnected'`,
   * `ERR_SOCKET_CLOSED` if `socket` has already closed.
   */
  attach(socket: net.Socket | tls.TLSSocket): void {
    const state = this.state;
    if (state !== 'disconnected') {
      throw new ConnectionManagerError('ERR_INVALID_STATE', `connection ${this.id}: attach() needs a disconnected connection, it is ${state}`);
    }
    if (socket.closed) {
      throw new ConnectionManagerError('ERR_SOCKET_CLOSED', `connection ${this.id}: attach() was given a socket that has already closed`);
    }
    this.generation++;
    this.#socket = socket;
    if (!this.#holdsProcess) socket.unref();
    this.status = 'connected';
    this.lastError = undefined;
    this.disconnectError = undefined;
    this.bindSocket(socket);
    const { remoteAddress, remotePort, localAddress, localPort } = this.details;
    this.emitter.emit('reconnected', { remoteAddress, remotePort, localAddress, localPort });
  }

  /**
   * For the supervisor of a supervised connection that gives up (reconnection attempts
   * exhausted, or shutdown): while `'disconnected'`, closes it for good at once: `close` (with
   * `error` as a {@link NetworkError}, when given), `whenClosed()` resolves, the iterator ends
   * (throwing that error once). While it still has a socket, the same as `destroy(error)`.
   * Nothing happens once it is closed for good.
   */
  finalize(error?: Error): void {
    if (this.status === 'closed') return;
    if (this.status !== 'disconnected') {
      this.destroy(error);
      return;
    }
    this.status = 'closing';
    this.finishClose(error === undefined ? undefined : this.errors.network(error, 'ERR_CONNECTION_LOST'));
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<Buffer> {
    return this.inbound.iterator(this.id);
  }

  /** What `JSON.stringify` shows: plain data, never the socket (its TLS options hold the keys). */
  toJSON(): ConnectionSummary {
    const { id, cacheKey, server, state, supervised, bufferedBytes } = this;
    return { id, cacheKey, server, state, supervised, bufferedBytes, ...this.details };
  }

  /** What `util.inspect` and `console.log` show: the same summary. */
  [inspect.custom](_depth: number, options: InspectOptions, show: typeof inspect): string {
    return `Connection ${show(this.toJSON(), options)}`;
  }

  // ---- socket events ------------------------------------------------------------------------

  private readonly onError = (err: Error): void => {
    const wrapped = this.errors.network(err, 'ERR_CONNECTION_FAILED');
    this.lastError = wrapped;
    this.emitter.emit('error', wrapped);
  };

  private readonly onClose = (hadError: boolean): void => {
    this.socketGone(hadError);
  };

  /** The current socket has closed: closed for good, or (supervised) disconnected. */
  private socketGone(hadError: boolean, deferEvent = false): void {
    if (this.status === 'disconnected' || this.status === 'closed') return;
    this.inbound.unbind();
    this.closing.stopGrace();
    // An error event counts even when `close` says hadError false: a TLS alert (the server
    // rejecting our certificate after a TLS 1.3 handshake) comes as 'error', then a clean close.
    const error = this.lastError ?? (hadError ? this.errors.closedWithError(this.#socket.errored) : undefined);
    if (this.supervised && this.status === 'connected') this.disconnect(error, deferEvent);
    else this.finishClose(error);
  }

  /** Supervised: the socket was lost without anyone closing the connection. */
  private disconnect(error: NetworkError | undefined, deferEvent: boolean): void {
    this.status = 'disconnected';
    this.disconnectError = error;
    this.unbindSocket(this.#socket);

    this.outbound.settleAll(() => this.errors.closed('the connection was lost before the data was flushed'));
    // Readers stay: the iterator waits for the next socket (or the final close).

    const event: ConnectionDisconnectedEvent = error ? { hadError: true, error } : { hadError: false };
    if (!deferEvent) {
      this.emitter.emit('disconnected', event);
      return;
    }
    const generation = this.generation;
    queueMicrotask(() => {
      if (this.generation === generation && this.state === 'disconnected') this.emitter.emit('disconnected', event);
    });
  }

  /** Closed for good. */
  private finishClose(error: NetworkError | undefined): void {
    if (this.status === 'closed') return;
    this.status = 'closed';
    const event: ConnectionCloseEvent = error ? { hadError: true, error } : { hadError: false };
    this.closing.finish(event);
    this.outbound.settleAll(() => this.errors.closed('the connection closed before the data was flushed'));
    this.inbound.end(error);
    this.closing.resolveWaiting();
    this.emitter.emit('close', event);
  }

  /** Listens to `socket` (the current one), reads from it and takes over its flow control. */
  private bindSocket(socket: net.Socket | tls.TLSSocket): void {
    this.details = socketDetails(socket);
    socket.on('error', this.onError);
    socket.on('close', this.onClose);
    socket.on('drain', this.outbound.onDrain);
    this.inbound.bind(socket);
    // A 'data' listener switches the socket to flowing mode; whatever it buffered while paused
    // (after openSocket) comes out first, so nothing is lost.
    socket.on('data', this.inbound.push);
    // Pauses a new socket at once if the buffer is still full (a reconnect).
    this.inbound.updateFlow();
  }

  /** A lost socket of a supervised connection: none of its late events may reach us. */
  private unbindSocket(socket: net.Socket | tls.TLSSocket): void {
    socket.off('data', this.inbound.push);
    socket.off('drain', this.outbound.onDrain);
    socket.off('close', this.onClose);
    socket.off('error', this.onError);
    // A closed socket emits nothing more; the guard only makes sure of it.
    socket.on('error', ignoreError);
  }
}

function ignoreError(): void {}

/** Options of {@link openConnection}: one attempt's options plus the connection's. */
export type OpenConnectionOptions = OpenSocketOptions & ConnectionOptions;

/**
 * One connection attempt ({@link openSocket}) wrapped in a {@link Connection} as soon as it
 * succeeds, before any socket event can be missed. Options are validated before connecting, so
 * a bad option never leaves an open socket behind.
 */
export async function openConnection(server: ServerLocation, options: OpenConnectionOptions): Promise<Connection> {
  checkConnectionOptions(options);
  const socket = await openSocket(server, options);
  return new Connection(socket, server, options);
}
