/**
 * The reading side of one Connection: a bounded buffer of inbound chunks, the socket's flow
 * control (paused while the buffer is full, resumed when a reader catches up), the async
 * iterator (a pull consumer), and the delivery to 'data' handlers (a push consumer). It
 * outlives sockets: a supervised Connection binds each new socket to the same Inbound, so an
 * iterator keeps reading across a reconnect. Lifecycle decisions stay with the Connection,
 * which tells it when a socket is bound or lost and when the connection has closed for good.
 *
 * Subtlety: chunks buffered while an iterator was active may already have been shown to
 * 'data' handlers (they observe what the iterator reads); when the handlers later become the
 * consumer those chunks are not replayed (`emitted`).
 */
import type { Readable } from 'node:stream';
import { ConnectionManagerError } from '../errors.js';
import type { NetworkError } from './errors.js';

interface QueuedChunk {
  chunk: Buffer;
  /** Already delivered to 'data' handlers (while they were only observing an iterator). */
  emitted: boolean;
}

interface Waiter {
  resolve(result: IteratorResult<Buffer>): void;
  reject(err: Error): void;
}

/** What the Inbound needs to know of its Connection. */
export interface InboundHost {
  /** 'data' handlers are subscribed. */
  hasDataHandlers(): boolean;
  emitData(chunk: Buffer): void;
  /**
   * Bytes nobody consumes yet are kept for a later reader. False once the connection is
   * closing: nobody will read them, and reading must go on until the peer's FIN.
   */
  keepsUnread(): boolean;
}

export class Inbound {
  /** The socket whose flow this controls; none while disconnected or closed. */
  #socket: Readable | undefined;
  private readonly queue: QueuedChunk[] = [];
  private queuedBytes = 0;
  /** We paused the socket (so only we resume it). */
  private pausedByUs = false;
  /** A microtask will hand the buffer to 'data' handlers. */
  private flushScheduled = false;
  private iterating = false;
  /** An iterator's pending `next()` calls (only while the buffer is empty). */
  private readonly waiters: Waiter[] = [];
  /** Set by end(): the connection closed for good, with this error if it had one. */
  private ended: { error: NetworkError | undefined } | undefined;
  /** The close error was already thrown to an iterator (it is thrown once). */
  private closeErrorThrown = false;

  constructor(
    private readonly limit: number,
    private readonly host: InboundHost,
  ) {}

  /** Unread bytes (bounded by about the limit plus one chunk). */
  get bytes(): number {
    return this.queuedBytes;
  }

  /** Takes over the flow control of `socket`; call {@link updateFlow} once its 'data' listener is on. */
  bind(socket: Readable): void {
    this.#socket = socket;
    this.pausedByUs = false;
  }

  /** The socket is gone: nothing to pause or resume until the next bind. */
  unbind(): void {
    this.#socket = undefined;
    this.pausedByUs = false;
  }

  /** The socket's 'data' listener. */
  readonly push = (chunk: Buffer): void => {
    if (this.flushScheduled) this.flushToHandlers();
    if (this.iterating) {
      const handlers = this.host.hasDataHandlers();
      const waiter = this.waiters.shift();
      if (waiter) waiter.resolve({ value: chunk, done: false });
      else {
        this.queue.push({ chunk, emitted: handlers });
        this.queuedBytes += chunk.length;
        this.updateFlow();
      }
      if (handlers) this.host.emitData(chunk);
    } else if (this.host.hasDataHandlers()) {
      this.host.emitData(chunk);
    } else if (this.host.keepsUnread()) {
      this.queue.push({ chunk, emitted: false });
      this.queuedBytes += chunk.length;
      this.updateFlow();
    }
    // Closing with no consumer: the bytes are dropped, reading continues until the peer's FIN.
  };

  /** Called whenever an iterator or a 'data' handler comes or goes. */
  consumersChanged(): void {
    if (!this.iterating && this.host.hasDataHandlers() && this.queue.length > 0 && !this.flushScheduled) {
      this.flushScheduled = true;
      queueMicrotask(() => this.flushToHandlers());
    }
    this.updateFlow();
  }

  /** Pauses the socket while its bytes go to a full buffer; resumes otherwise. */
  updateFlow(): void {
    const socket = this.#socket;
    if (socket === undefined) return;
    const buffering = this.iterating || (!this.host.hasDataHandlers() && this.host.keepsUnread());
    const shouldPause = buffering && this.queuedBytes >= this.limit;
    if (shouldPause && !this.pausedByUs) {
      this.pausedByUs = true;
      socket.pause();
    } else if (!shouldPause && this.pausedByUs) {
      this.pausedByUs = false;
      socket.resume();
    }
  }

  /**
   * The connection closed for good. Waiters exist only while the buffer is empty, so an active
   * iteration ends here: the first waiter gets `error` (thrown once), the others `done`.
   */
  end(error: NetworkError | undefined): void {
    this.ended = { error };
    const waiters = this.waiters.splice(0);
    if (waiters.length === 0) return;
    if (error) {
      this.closeErrorThrown = true;
      waiters[0]!.reject(error);
      for (const w of waiters.slice(1)) w.resolve({ value: undefined, done: true });
    } else {
      for (const w of waiters) w.resolve({ value: undefined, done: true });
    }
  }

  /** The async iterator of `Connection` (one at a time; `connectionId` names it in the error). */
  iterator(connectionId: string): AsyncIterableIterator<Buffer> {
    if (this.iterating) {
      throw new ConnectionManagerError('ERR_ITERATOR_ACTIVE', `connection ${connectionId} is already being iterated; one reader at a time`);
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
        if (this.ended) {
          finish();
          const error = this.ended.error;
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

  private shift(): Buffer | undefined {
    const entry = this.queue.shift();
    if (!entry) return undefined;
    this.queuedBytes -= entry.chunk.length;
    this.updateFlow();
    return entry.chunk;
  }

  /** Hands buffered chunks to 'data' handlers once they (not an iterator) are the consumer. */
  private flushToHandlers(): void {
    if (!this.flushScheduled) return;
    this.flushScheduled = false;
    if (this.iterating || !this.host.hasDataHandlers()) return;
    const entries = this.queue.splice(0);
    this.queuedBytes = 0;
    this.updateFlow();
    for (let i = 0; i < entries.length; i++) {
      if (this.iterating || !this.host.hasDataHandlers()) {
        // A handler unsubscribed (or an iterator started) mid-flush: keep the rest for them.
        const rest = entries.slice(i);
        this.queue.unshift(...rest);
        this.queuedBytes += rest.reduce((n, e) => n + e.chunk.length, 0);
        this.updateFlow();
        return;
      }
      const entry = entries[i]!;
      // Chunks the handlers already observed during an iteration are not replayed.
      if (!entry.emitted) this.host.emitData(entry.chunk);
    }
  }
}
