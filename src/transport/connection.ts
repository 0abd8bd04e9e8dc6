import { randomUUID } from 'node:crypto';
import type net from 'node:net';
import tls from 'node:tls';
import type { Emitter, Handler } from 'mitt';
import type { Clock } from '../clock.js';
import { ConfigurationError, ConnectionManagerError } from '../errors.js';
import { mitt } from '../events.js';
import { checkDuration, describe, type Duration } from '../time.js';
import { openSocket, type OpenSocketOptions } from './connect.js';
import { ConnectionClosedError, errorCode, isWriteCutOff, NetworkError, NOT_CONNECTED, type ConnectionClosedCode } from './errors.js';
import type { ServerLocation } from './server.js';

/** Unread inbound bytes buffered per connection before the socket is paused. */
export const DEFAULT_READ_BUFFER_LIMIT = 256 * 1024;

/** How long `close()` waits for the peer to finish the graceful close before destroying. */
export const DEFAULT_CLOSE_TIMEOUT: Duration = 1_000;

export interface ConnectionCloseEvent {
  /** The connection closed because of an error (reset, timeout, `destroy(error)`, `finalize(error)`, ...). */
  hadError: boolean;
  /** That error, when `hadError`. */
  error?: NetworkError;
}

/** A supervised connection lost its socket (see {@link ConnectionOptions.supervised}). */
export interface ConnectionDisconnectedEvent {
  /** The socket closed because of an error (reset, timeout, ...). */
  hadError: boolean;
  /** That error, when `hadError`. */
  error?: NetworkError;
}

/** A supervised connection was given a new socket (`attach`); the addresses are the new socket's. */
export interface ConnectionReconnectedEvent {
  remoteAddress: string | undefined;
  remotePort: number | undefined;
  localAddress: string | undefined;
  localPort: number | undefined;
}

/**
 * - `'connected'`: it has a socket (which may be in the middle of failing; the drop is noticed
 *   when the socket has closed).
 * - `'disconnected'`: supervised only: the socket was lost and the connection waits for
 *   `attach()` (a reconnect) or `finalize()`; writes reject with `ERR_NOT_CONNECTED`.
 * - `'closed'`: closed for good or closing (`close()`/`destroy()` was called); the same as `closed`.
 */
export type ConnectionState = 'connected' | 'disconnected' | 'closed';

// A type alias, not an interface: mitt needs the index-signature compatibility of an alias.
export type ConnectionEvents = {
  data: Buffer;
  /** Closed for good: emitted exactly once per connection. */
  close: ConnectionCloseEvent;
  /** Every socket error (so possibly several over a supervised connection's life). */
  error: NetworkError;
  /** Supervised only: the socket was lost; the connection is not closed. */
  disconnected: ConnectionDisconnectedEvent;
  /** Supervised only: `attach()` bound a new socket. */
  reconnected: ConnectionReconnectedEvent;
};

/** The peer certificate as plain, serialisable data (safe to put in a statechart's context). */
export interface PeerCertificateInfo {
  subject: Record<string, string | string[]>;
  /** `subject.CN`, when it is a single value. */
  commonName?: string;
  issuer: Record<string, string | string[]>;
  subjectAltName?: string;
  validFrom: string;
  validTo: string;
  serialNumber: string;
  fingerprint256: string;
}

export interface TlsDetails {
  /** e.g. `'TLSv1.3'`. */
  protocol: string | null;
  cipher: { name: string; standardName: string; version: string };
  /** The peer's certificate was verified (false only with `rejectUnauthorized: false`). */
  authorized: boolean;
  authorizationError?: string;
  alpnProtocol?: string;
  peerCertificate?: PeerCertificateInfo;
}

export interface ConnectionOptions {
  /** Default: a random UUID. */
  id?: string;
  /** Unread bytes buffered before the socket is paused. Default {@link DEFAULT_READ_BUFFER_LIMIT}. */
  readBufferLimit?: number;
  /** Grace period of `close()`. Default {@link DEFAULT_CLOSE_TIMEOUT}. */
  closeTimeout?: Duration;
  /** Timer source for the close grace period. Default: real timers. */
  clock?: Clock;
  /**
   * Survive the loss of the socket: become `'disconnected'` and wait for a supervisor's
   * `attach()` (a reconnect) or `finalize()` instead of closing for good. Default `false`.
   */
  supervised?: boolean;
}

interface QueuedChunk {
  chunk: Buffer;
  /** Already delivered to 'data' handlers (while they were only observing an iterator). */
  emitted: boolean;
}

interface PendingWrite {
  needDrain: boolean;
  flushed: boolean;
  resolve(): void;
  reject(err: Error): void;
}

interface Waiter {
  resolve(result: IteratorResult<Buffer>): void;
  reject(err: Error): void;
}

const realTimers: Pick<Clock, 'setTimeout' | 'clearTimeout'> = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/**
 * A connection (TCP or TLS) to one server, with promise-based writes, a graceful close, and
 * two ways to read. Framing is the user's: chunks are whatever the socket delivered.
 *
 * Reading. Inbound bytes are buffered from construction until something consumes them, so
 * nothing that arrives before the caller starts reading is lost; the buffer is bounded
 * (`readBufferLimit`: at the limit the socket is paused and TCP pushes back on the peer).
 * - The async iterator (`for await (const chunk of conn)`) is a pull consumer with backpressure:
 *   it yields buffered chunks first, the socket is paused while it is behind and resumed when it
 *   reads. It ends when the connection has closed for good and everything buffered was yielded,
 *   and then throws the {@link NetworkError} if it closed with an error. Leaving the loop
 *   early (`break`) does not close the connection; unread chunks stay buffered for the next
 *   iterator. One iterator at a time.
 * - `on('data', handler)` is a push consumer. While no iterator is active, handlers are the
 *   consumer: bytes buffered so far are delivered to them first (in order, in a microtask),
 *   then each chunk as it arrives, and nothing is kept. While an iterator is active, handlers
 *   only observe the chunks the iterator will get, at the pace the iterator sets.
 *
 * Errors. The socket always has an 'error' listener: a network error never crashes the
 * process. It is emitted as `error` (a {@link NetworkError} with Node's `code`), reported by
 * `close` (`{ hadError, error }`) and `whenClosed()`, and rejects pending writes and the iterator.
 *
 * Supervision. By default a connection is one socket: when it closes, the connection is closed
 * for good. A supervised connection (`supervised: true`, what the manager's `connect()` hands
 * out) outlives its socket: when the socket closes without `close()`/`destroy()` having been
 * called, the connection becomes `'disconnected'` and emits `disconnected`; writes that were not
 * flushed are rejected ({@link ConnectionClosedError}), new writes reject at once with code
 * `ERR_NOT_CONNECTED`, and readers keep waiting (an active iterator does not end, 'data'
 * handlers stay subscribed, buffered bytes stay readable). Whoever supervises it (the manager)
 * then either hands it a new socket with {@link attach} (→ `'connected'`, `reconnected`, reading
 * continues from the new socket) or gives up with {@link finalize} (→ `'closed'`, `close`).
 * Closing it (`close()`/`destroy()`) in any state closes it for good, which is how a user stops
 * its reconnection: the supervisor listens to `close`.
 *
 * `close` is emitted exactly once per connection, when it is closed for good; `error` once per
 * socket error.
 *
 * Handlers run synchronously inside the socket's events; the connection updates its own state
 * before calling them, so a throwing handler cannot corrupt it (the exception propagates as it
 * would from an EventEmitter listener).
 */
export class Connection {
  readonly id: string;
  readonly cacheKey: string;
  readonly server: ServerLocation;
  /** Reconnects through a supervisor instead of closing when its socket is lost. */
  readonly supervised: boolean;

  private socket: net.Socket;
  /** Incremented by every attach(): tells a deferred callback whether its socket is still current. */
  private generation = 0;
  private _remoteAddress: string | undefined;
  private _remotePort: number | undefined;
  private _localAddress: string | undefined;
  private _localPort: number | undefined;
  private _encrypted = false;
  private _tls: TlsDetails | undefined;

  private readonly emitter: Emitter<ConnectionEvents> = mitt<ConnectionEvents>();
  private readonly readBufferLimit: number;
  private readonly closeTimeout: Duration;
  private readonly timers: Pick<Clock, 'setTimeout' | 'clearTimeout'>;

  private readonly queue: QueuedChunk[] = [];
  private queuedBytes = 0;
  private pausedByUs = false;
  private flushScheduled = false;
  private iterating = false;
  private readonly waiters: Waiter[] = [];
  private readonly pendingWrites = new Set<PendingWrite>();

  /** close(), destroy() or finalize() was called. */
  private closing = false;
  /** The current socket has closed (for a supervised connection, possibly not for good). */
  private socketClosed = false;
  /** Closed for good: `closeEvent` is set and `close` was emitted. */
  private finished = false;
  /** The current socket's last error. */
  private lastError: NetworkError | undefined;
  /** Why the last socket was lost, while disconnected. */
  private disconnectError: NetworkError | undefined;
  private closeEvent: ConnectionCloseEvent | undefined;
  private closeErrorThrown = false;
  private closePromise: Promise<void> | undefined;
  private graceTimer: unknown;
  private readonly closedListeners: Array<(event: ConnectionCloseEvent) => void> = [];

  constructor(socket: net.Socket | tls.TLSSocket, server: ServerLocation, options: ConnectionOptions = {}) {
    checkConnectionOptions(options);
    this.socket = socket;
    this.server = server;
    this.cacheKey = server.cacheKey;
    this.id = options.id ?? randomUUID();
    this.supervised = options.supervised ?? false;
    this.readBufferLimit = options.readBufferLimit ?? DEFAULT_READ_BUFFER_LIMIT;
    this.closeTimeout = options.closeTimeout ?? DEFAULT_CLOSE_TIMEOUT;
    this.timers = options.clock ?? realTimers;
    this.describeSocket(socket);

    socket.on('error', this.onError);
    socket.on('close', this.onClose);
    socket.on('drain', this.onDrain);
    if (socket.closed) {
      // Closed before we were handed it: 'close' will not fire again. Nobody can be listening
      // yet, so a supervised connection announces the loss in a microtask.
      this.socketGone(socket.errored !== null, true);
      return;
    }
    // A 'data' listener switches the socket to flowing mode; whatever it buffered while paused
    // (after openSocket) comes out first, so nothing is lost.
    socket.on('data', this.onData);
  }

  /** The current socket's peer address (captured when the socket was bound). */
  get remoteAddress(): string | undefined {
    return this._remoteAddress;
  }

  get remotePort(): number | undefined {
    return this._remotePort;
  }

  get localAddress(): string | undefined {
    return this._localAddress;
  }

  get localPort(): number | undefined {
    return this._localPort;
  }

  /** The current socket is a TLS socket with an established session. */
  get encrypted(): boolean {
    return this._encrypted;
  }

  /** The current socket's TLS session, when {@link encrypted}. */
  get tls(): TlsDetails | undefined {
    return this._tls;
  }

  /**
   * True once the connection can no longer be written for good: close() or destroy() was
   * called, or it was closed for good; for a connection that is not supervised also when the
   * peer ended it or it failed. A supervised connection that is `'disconnected'` is not closed.
   * The `close` event (or `whenClosed()`) marks when the socket is fully released.
   */
  get closed(): boolean {
    if (this.closing || this.finished) return true;
    if (this.supervised) return false;
    return this.socketClosed || this.socket.destroyed || !this.socket.writable;
  }

  /** See {@link ConnectionState}; `'closed'` exactly when {@link closed} is true. */
  get state(): ConnectionState {
    if (this.closed) return 'closed';
    return this.socketClosed ? 'disconnected' : 'connected';
  }

  /** Inbound bytes received and not yet consumed (bounded by about `readBufferLimit` + one chunk). */
  get bufferedBytes(): number {
    return this.queuedBytes;
  }

  /** Subscribes to an event; returns a function that unsubscribes. */
  on<K extends keyof ConnectionEvents>(type: K, handler: Handler<ConnectionEvents[K]>): () => void {
    this.emitter.on(type, handler);
    if (type === 'data') this.consumersChanged();
    return () => this.off(type, handler);
  }

  off<K extends keyof ConnectionEvents>(type: K, handler: Handler<ConnectionEvents[K]>): void {
    this.emitter.off(type, handler);
    if (type === 'data') this.consumersChanged();
  }

  /** Resolves once the connection has closed for good (immediately if it has), never rejects. */
  whenClosed(): Promise<ConnectionCloseEvent> {
    if (this.closeEvent) return Promise.resolve(this.closeEvent);
    return new Promise((resolve) => this.closedListeners.push(resolve));
  }

  /**
   * Writes `data` (a string is UTF-8). Resolves once it has been handed to the kernel and, when
   * the socket's write buffer was over its high-water mark, once that buffer has drained, so a
   * writer that awaits each write never piles data up in memory. Rejects with a
   * {@link ConnectionClosedError} if the connection is closed or its socket closes before the
   * data was flushed (code `ERR_CONNECTION_CLOSED`), or at once with code `ERR_NOT_CONNECTED`
   * while a supervised connection has no usable socket (it is reconnecting), or a
   * {@link NetworkError} with Node's code if the write fails.
   */
  write(data: string | Uint8Array): Promise<void> {
    if (this.closed) {
      return Promise.reject(this.closedError('cannot write: the connection is closed'));
    }
    const socket = this.socket;
    if (this.supervised && (this.socketClosed || socket.destroyed || !socket.writable)) {
      return Promise.reject(this.closedError('cannot write: the connection is not connected (it is reconnecting)', NOT_CONNECTED));
    }
    return new Promise<void>((resolve, reject) => {
      const pending: PendingWrite = { needDrain: false, flushed: false, resolve, reject };
      this.pendingWrites.add(pending);
      let ok: boolean;
      try {
        ok = socket.write(data, (err) => {
          if (!this.pendingWrites.has(pending)) return;
          if (err) {
            this.pendingWrites.delete(pending);
            reject(this.writeError(err));
            return;
          }
          if (socket.destroyed) {
            // Node 20 completes a write cancelled by destroy() with no error (Node 22 and later:
            // ECANCELED, see isWriteCutOff), so success cannot be told apart from "never sent":
            // report it as not delivered.
            this.pendingWrites.delete(pending);
            reject(this.closedError('the connection was destroyed before the write completed'));
            return;
          }
          pending.flushed = true;
          if (!pending.needDrain || !socket.writableNeedDrain) {
            this.pendingWrites.delete(pending);
            resolve();
          }
        });
      } catch (err) {
        // Invalid data (a runtime type error) throws synchronously.
        this.pendingWrites.delete(pending);
        throw err;
      }
      if (!ok) pending.needDrain = true;
    });
  }

  /**
   * Closes gracefully: sends FIN once queued writes are flushed, reads until the peer closes
   * too, and destroys the socket if that takes longer than `closeTimeout`. Resolves when the
   * socket is fully closed (whatever the outcome; the `close` event says whether there was an
   * error). Idempotent: every call returns the same promise. Bytes that arrive meanwhile still
   * go to an active iterator (with its backpressure) or to 'data' handlers; with neither they
   * are dropped, since nobody is left to read them. A `'disconnected'` connection has no socket
   * to end: it closes for good at once.
   */
  close(): Promise<void> {
    if (this.closePromise) return this.closePromise;
    this.closing = true;
    this.closePromise = this.whenClosed().then(() => undefined);
    if (!this.socketClosed) {
      // Without an active reader we must keep reading anyway, or the peer's FIN is never seen.
      this.updateFlow();
      this.socket.end();
      if (this.closeTimeout !== Infinity && !this.socketClosed) {
        this.graceTimer = this.timers.setTimeout(() => {
          this.graceTimer = undefined;
          this.socket.destroy();
        }, this.closeTimeout);
      }
    } else if (!this.finished) {
      this.finishClose(undefined);
    }
    return this.closePromise;
  }

  /**
   * Destroys the socket now. Unflushed writes are rejected. With `error`, the connection
   * closes with that error (`close` has `hadError: true`, the iterator throws it). A
   * `'disconnected'` connection closes for good at once (no `error` event: there is no socket).
   */
  destroy(error?: Error): void {
    this.closing = true;
    if (this.socketClosed) {
      if (!this.finished) this.finishClose(error === undefined ? undefined : this.toNetworkError(error, 'ERR_CONNECTION_DESTROYED'));
      return;
    }
    if (this.socket.destroyed) return;
    this.socket.destroy(error === undefined ? undefined : this.toNetworkError(error, 'ERR_CONNECTION_DESTROYED'));
  }

  /**
   * For the supervisor of a supervised connection, after a successful reconnect: binds `socket`
   * (a connected socket, e.g. from `openSocket`) exactly as the first one was bound (listeners,
   * buffering, flow control), updates the addresses and TLS details, makes the connection
   * `'connected'` and emits `reconnected`. An active iterator and 'data' handlers continue with
   * the new socket's data.
   *
   * Throws a `ConnectionManagerError` and leaves the socket to the caller (who must destroy it):
   * `ERR_INVALID_STATE` unless the connection is `'disconnected'` (in particular once it was
   * closed), `ERR_SOCKET_CLOSED` if `socket` has already closed.
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
    this.socket = socket;
    this.socketClosed = false;
    this.pausedByUs = false;
    this.lastError = undefined;
    this.disconnectError = undefined;
    this.describeSocket(socket);
    socket.on('error', this.onError);
    socket.on('close', this.onClose);
    socket.on('drain', this.onDrain);
    socket.on('data', this.onData);
    // Pauses the new socket at once if the buffer is still full.
    this.updateFlow();
    this.emitter.emit('reconnected', {
      remoteAddress: this._remoteAddress,
      remotePort: this._remotePort,
      localAddress: this._localAddress,
      localPort: this._localPort,
    });
  }

  /**
   * For the supervisor of a supervised connection that gives up (reconnection attempts
   * exhausted, or shutdown): while `'disconnected'`, closes it for good at once: `close` (with
   * `error` as a {@link NetworkError}, when given), `whenClosed()` resolves, the iterator ends
   * (throwing that error once). While it still has a socket, the same as `destroy(error)`.
   * Nothing happens once it is closed for good.
   */
  finalize(error?: Error): void {
    if (this.finished) return;
    if (!this.socketClosed) {
      this.destroy(error);
      return;
    }
    this.closing = true;
    this.finishClose(error === undefined ? undefined : this.toNetworkError(error, 'ERR_CONNECTION_LOST'));
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<Buffer> {
    if (this.iterating) {
      throw new ConnectionManagerError('ERR_ITERATOR_ACTIVE', `connection ${this.id} is already being iterated; one reader at a time`);
    }
    this.iterating = true;
    this.consumersChanged();
    let finished = false;
    const finish = () => {
      if (finished) return;
      finished = true;
      this.iterating = false;
      for (const w of this.waiters.splice(0)) w.resolve({ value: undefined, done: true });
      this.consumersChanged();
    };
    const iterator: AsyncIterableIterator<Buffer> = {
      next: (): Promise<IteratorResult<Buffer>> => {
        if (finished) return Promise.resolve({ value: undefined, done: true });
        const entry = this.shift();
        if (entry) return Promise.resolve({ value: entry, done: false });
        if (this.finished) {
          finish();
          const error = this.closeEvent?.error;
          if (error && !this.closeErrorThrown) {
            this.closeErrorThrown = true;
            return Promise.reject(error);
          }
          return Promise.resolve({ value: undefined, done: true });
        }
        // Also while disconnected: the next socket's data (or the final close) answers.
        return new Promise((resolve, reject) => {
          this.waiters.push({
            resolve,
            reject: (err) => {
              finish();
              reject(err);
            },
          });
        });
      },
      return: (): Promise<IteratorResult<Buffer>> => {
        finish();
        return Promise.resolve({ value: undefined, done: true });
      },
      [Symbol.asyncIterator]() {
        return iterator;
      },
    };
    return iterator;
  }

  // ---- inbound data -------------------------------------------------------------------------

  private hasDataHandlers(): boolean {
    return (this.emitter.all.get('data')?.length ?? 0) > 0;
  }

  private readonly onData = (chunk: Buffer): void => {
    if (this.flushScheduled) this.flushToHandlers();
    if (this.iterating) {
      const handlers = this.hasDataHandlers();
      const waiter = this.waiters.shift();
      if (waiter) waiter.resolve({ value: chunk, done: false });
      else {
        this.queue.push({ chunk, emitted: handlers });
        this.queuedBytes += chunk.length;
        this.updateFlow();
      }
      if (handlers) this.emitter.emit('data', chunk);
    } else if (this.hasDataHandlers()) {
      this.emitter.emit('data', chunk);
    } else if (!this.closing) {
      this.queue.push({ chunk, emitted: false });
      this.queuedBytes += chunk.length;
      this.updateFlow();
    }
    // Closing with no consumer: the bytes are dropped, reading continues until the peer's FIN.
  };

  private shift(): Buffer | undefined {
    const entry = this.queue.shift();
    if (!entry) return undefined;
    this.queuedBytes -= entry.chunk.length;
    this.updateFlow();
    return entry.chunk;
  }

  /** Called whenever an iterator or a 'data' handler comes or goes. */
  private consumersChanged(): void {
    if (!this.iterating && this.hasDataHandlers() && this.queue.length > 0 && !this.flushScheduled) {
      this.flushScheduled = true;
      queueMicrotask(() => this.flushToHandlers());
    }
    this.updateFlow();
  }

  /** Hands buffered chunks to 'data' handlers once they (not an iterator) are the consumer. */
  private flushToHandlers(): void {
    if (!this.flushScheduled) return;
    this.flushScheduled = false;
    if (this.iterating || !this.hasDataHandlers()) return;
    const entries = this.queue.splice(0);
    this.queuedBytes = 0;
    this.updateFlow();
    for (let i = 0; i < entries.length; i++) {
      if (this.iterating || !this.hasDataHandlers()) {
        // A handler unsubscribed (or an iterator started) mid-flush: keep the rest for them.
        const rest = entries.slice(i);
        this.queue.unshift(...rest);
        this.queuedBytes += rest.reduce((n, e) => n + e.chunk.length, 0);
        this.updateFlow();
        return;
      }
      const entry = entries[i]!;
      // Chunks the handlers already observed during an iteration are not replayed.
      if (!entry.emitted) this.emitter.emit('data', entry.chunk);
    }
  }

  /** Pauses the socket while its bytes go to a full buffer; resumes otherwise. */
  private updateFlow(): void {
    if (this.socketClosed) return;
    const buffering = this.iterating || (!this.hasDataHandlers() && !this.closing);
    const shouldPause = buffering && this.queuedBytes >= this.readBufferLimit;
    if (shouldPause && !this.pausedByUs) {
      this.pausedByUs = true;
      this.socket.pause();
    } else if (!shouldPause && this.pausedByUs) {
      this.pausedByUs = false;
      this.socket.resume();
    }
  }

  // ---- socket events ------------------------------------------------------------------------

  private readonly onError = (err: Error): void => {
    const wrapped = this.toNetworkError(err, 'ERR_CONNECTION_FAILED');
    this.lastError = wrapped;
    this.emitter.emit('error', wrapped);
  };

  private readonly onDrain = (): void => {
    for (const pending of this.pendingWrites) {
      if (pending.flushed && pending.needDrain) {
        this.pendingWrites.delete(pending);
        pending.resolve();
      }
    }
  };

  private readonly onClose = (hadError: boolean): void => {
    this.socketGone(hadError);
  };

  /** The current socket has closed: closed for good, or (supervised) disconnected. */
  private socketGone(hadError: boolean, deferEvent = false): void {
    if (this.socketClosed) return;
    this.socketClosed = true;
    if (this.graceTimer !== undefined) {
      this.timers.clearTimeout(this.graceTimer);
      this.graceTimer = undefined;
    }
    let error: NetworkError | undefined;
    if (hadError) {
      error =
        this.lastError ??
        (this.socket.errored
          ? this.toNetworkError(this.socket.errored, 'ERR_CONNECTION_FAILED')
          : new NetworkError({ code: 'ERR_CONNECTION_FAILED', connectionId: this.id, cacheKey: this.cacheKey }, `connection ${this.id} closed with an error`));
    }
    if (this.supervised && !this.closing && !this.finished) this.disconnect(error, deferEvent);
    else this.finishClose(error);
  }

  /** Supervised: the socket was lost without anyone closing the connection. */
  private disconnect(error: NetworkError | undefined, deferEvent: boolean): void {
    this.disconnectError = error;
    this.pausedByUs = false;
    const socket = this.socket;
    socket.off('data', this.onData);
    socket.off('drain', this.onDrain);
    socket.off('close', this.onClose);
    socket.off('error', this.onError);
    // A closed socket emits nothing more; the guard only makes sure of it.
    socket.on('error', ignoreError);

    for (const pending of this.pendingWrites) {
      if (pending.flushed) pending.resolve();
      else pending.reject(this.closedError('the connection was lost before the data was flushed'));
    }
    this.pendingWrites.clear();
    // Waiters stay: the iterator waits for the next socket (or the final close).

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
    if (this.finished) return;
    this.finished = true;
    if (this.graceTimer !== undefined) {
      this.timers.clearTimeout(this.graceTimer);
      this.graceTimer = undefined;
    }
    const event: ConnectionCloseEvent = error ? { hadError: true, error } : { hadError: false };
    this.closeEvent = event;

    for (const pending of this.pendingWrites) {
      if (pending.flushed) pending.resolve();
      else pending.reject(this.closedError('the connection closed before the data was flushed'));
    }
    this.pendingWrites.clear();

    // Waiters exist only while the buffer is empty, so the iteration ends here.
    const waiters = this.waiters.splice(0);
    if (waiters.length > 0) {
      if (error) {
        this.closeErrorThrown = true;
        waiters[0]!.reject(error);
        for (const w of waiters.slice(1)) w.resolve({ value: undefined, done: true });
      } else {
        for (const w of waiters) w.resolve({ value: undefined, done: true });
      }
    }

    for (const listener of this.closedListeners.splice(0)) listener(event);
    this.emitter.emit('close', event);
  }

  private describeSocket(socket: net.Socket | tls.TLSSocket): void {
    this._remoteAddress = socket.remoteAddress;
    this._remotePort = socket.remotePort;
    this._localAddress = socket.localAddress;
    this._localPort = socket.localPort;
    this._encrypted = socket instanceof tls.TLSSocket && socket.encrypted === true;
    this._tls = socket instanceof tls.TLSSocket && this._encrypted ? tlsDetails(socket) : undefined;
  }

  // ---- errors -------------------------------------------------------------------------------

  private toNetworkError(err: Error, fallbackCode: string): NetworkError {
    if (err instanceof NetworkError) return err;
    const code = errorCode(err) ?? fallbackCode;
    return new NetworkError(
      { code, connectionId: this.id, cacheKey: this.cacheKey },
      `connection ${this.id} to ${this.server.host}:${this.server.port}: ${err.message || code}`,
      { cause: err },
    );
  }

  private closedError(message: string, code?: ConnectionClosedCode): ConnectionClosedError {
    const cause = this.closeEvent?.error ?? this.disconnectError ?? this.lastError;
    return new ConnectionClosedError(
      code === undefined ? { connectionId: this.id, cacheKey: this.cacheKey } : { connectionId: this.id, cacheKey: this.cacheKey, code },
      `connection ${this.id} to ${this.server.host}:${this.server.port}: ${message}`,
      cause ? { cause } : undefined,
    );
  }

  private writeError(err: Error): NetworkError {
    if (isWriteCutOff(err)) return this.closedError('the connection closed before the data was flushed');
    return this.toNetworkError(err, 'ERR_CONNECTION_FAILED');
  }
}

function ignoreError(): void {}

function plainRecord(value: unknown): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  if (value === null || typeof value !== 'object') return out;
  for (const [k, v] of Object.entries(value)) {
    if (typeof v === 'string') out[k] = v;
    else if (Array.isArray(v)) out[k] = v.map(String);
  }
  return out;
}

function tlsDetails(socket: tls.TLSSocket): TlsDetails {
  const cipher = socket.getCipher();
  const details: TlsDetails = {
    protocol: socket.getProtocol(),
    cipher: { name: cipher.name, standardName: cipher.standardName, version: cipher.version },
    authorized: socket.authorized,
  };
  if (socket.authorizationError) details.authorizationError = String(socket.authorizationError);
  if (typeof socket.alpnProtocol === 'string') details.alpnProtocol = socket.alpnProtocol;
  const cert = socket.getPeerCertificate(false);
  // An empty object means the peer sent no certificate.
  if (cert && Object.keys(cert).length > 0) {
    const subject = plainRecord(cert.subject);
    const info: PeerCertificateInfo = {
      subject,
      issuer: plainRecord(cert.issuer),
      validFrom: cert.valid_from,
      validTo: cert.valid_to,
      serialNumber: cert.serialNumber,
      fingerprint256: cert.fingerprint256,
    };
    if (typeof subject.CN === 'string') info.commonName = subject.CN;
    if (cert.subjectaltname) info.subjectAltName = cert.subjectaltname;
    details.peerCertificate = info;
  }
  return details;
}

/** Validates {@link ConnectionOptions}; throws a `ConfigurationError` naming the field. */
export function checkConnectionOptions(options: ConnectionOptions): void {
  if (options === null || typeof options !== 'object') throw new ConfigurationError('options', `must be an object, got ${describe(options)}`);
  const { id, readBufferLimit, closeTimeout, supervised } = options;
  if (id !== undefined && (typeof id !== 'string' || id === '')) {
    throw new ConfigurationError('id', `must be a non-empty string, got ${describe(id)}`);
  }
  if (readBufferLimit !== undefined && (typeof readBufferLimit !== 'number' || !Number.isInteger(readBufferLimit) || readBufferLimit < 1)) {
    throw new ConfigurationError('readBufferLimit', `must be an integer >= 1 (bytes), got ${describe(readBufferLimit)}`);
  }
  if (closeTimeout !== undefined) checkDuration('closeTimeout', closeTimeout, { allowInfinity: true });
  if (supervised !== undefined && typeof supervised !== 'boolean') {
    throw new ConfigurationError('supervised', `must be a boolean, got ${describe(supervised)}`);
  }
}

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
