/**
 * The pooled resource of the TCP scenarios, identical for every contender: one socket to the
 * echo server, one request in flight at a time, fixed 32-byte frames (send 32 bytes, resolve
 * when 32 bytes came back).
 *
 * Like a socket or a database client, it is an EventEmitter that emits 'close' once when its
 * connection is gone; a pool that watches its resources (cmk does) can drop it then. It never
 * emits 'error' (an unhandled 'error' event would crash pools that do not listen).
 */
import { EventEmitter } from 'node:events';
import net from 'node:net';

export const FRAME_BYTES = 32;
export const REQUEST_FRAME: Buffer = Buffer.alloc(FRAME_BYTES, 0x61);

export class ConnectionClosedError extends Error {
  constructor(message = 'connection closed') {
    super(message);
    this.name = 'ConnectionClosedError';
  }
}

export class EchoClient extends EventEmitter {
  /** False once the socket errored or closed; a request on it fails at once. */
  alive = true;
  private received = 0;
  private resolvePending: (() => void) | null = null;
  private rejectPending: ((err: Error) => void) | null = null;
  private timer: NodeJS.Timeout | null = null;

  private constructor(readonly socket: net.Socket) {
    super();
    socket.on('data', (chunk: Buffer) => {
      this.received += chunk.length;
      if (this.received >= FRAME_BYTES && this.resolvePending !== null) {
        this.received -= FRAME_BYTES;
        const resolve = this.resolvePending;
        this.clearPending();
        resolve();
      }
    });
    socket.on('error', (err) => this.fail(err));
    socket.on('close', () => {
      this.fail(new ConnectionClosedError());
      this.emit('close');
    });
  }

  /** Connects to 127.0.0.1:port; rejects on any connect error (ECONNREFUSED during an outage). */
  static connect(port: number): Promise<EchoClient> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: '127.0.0.1', port, noDelay: true });
      const onError = (err: Error): void => {
        socket.destroy();
        reject(err);
      };
      socket.once('error', onError);
      socket.once('connect', () => {
        socket.off('error', onError);
        resolve(new EchoClient(socket));
      });
    });
  }

  /** Sends one 32-byte frame and resolves when 32 bytes came back. */
  request(frame: Buffer = REQUEST_FRAME, timeoutMs?: number): Promise<void> {
    if (!this.alive) return Promise.reject(new ConnectionClosedError());
    if (this.resolvePending !== null) return Promise.reject(new Error('EchoClient: one request at a time'));
    return new Promise<void>((resolve, reject) => {
      this.resolvePending = resolve;
      this.rejectPending = reject;
      if (timeoutMs !== undefined) {
        this.timer = setTimeout(() => {
          this.fail(new Error('request timed out'));
          this.socket.destroy();
        }, timeoutMs);
      }
      this.socket.write(frame);
    });
  }

  close(): void {
    this.alive = false;
    this.socket.destroy();
  }

  private fail(err: Error): void {
    this.alive = false;
    const reject = this.rejectPending;
    this.clearPending();
    reject?.(err);
  }

  private clearPending(): void {
    this.resolvePending = null;
    this.rejectPending = null;
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
  }
}
