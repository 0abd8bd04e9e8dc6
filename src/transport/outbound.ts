/**
 * The writes of one Connection: each `write()` is a promise that settles when its bytes were
 * handed to the kernel and, if the socket's buffer went over its high-water mark, once that
 * buffer drained (write backpressure). Writes in flight are tracked so that a lost or closed
 * socket settles every one of them exactly once. It decides nothing about the connection's
 * lifecycle: the Connection tells it when the socket is gone.
 *
 * Subtlety: a write's callback can run after the socket was lost (the Connection has already
 * settled it, so it is ignored), and Node 20 completes a write cancelled by `destroy()` with no
 * error at all, so "destroyed before the callback" counts as not delivered.
 */
import type { Writable } from 'node:stream';

interface PendingWrite {
  /** `socket.write()` answered false: resolve only after 'drain'. */
  needDrain: boolean;
  /** The write's callback ran without an error: the bytes reached the kernel. */
  flushed: boolean;
  resolve(): void;
  reject(err: Error): void;
}

/** How the Connection words the failures of a write (its ids and its last error go in them). */
export interface WriteFailures {
  /** The socket was destroyed before the write completed. */
  cutOff(): Error;
  /** The write's own error (the Connection maps a cut-off write to a closed-connection error). */
  failed(err: Error): Error;
}

export class Outbound {
  private readonly pending = new Set<PendingWrite>();

  /** Writes `data` to `socket`; see `Connection.write` for what the promise means. */
  write(socket: Writable, data: string | Uint8Array, failures: WriteFailures): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const pending: PendingWrite = { needDrain: false, flushed: false, resolve, reject };
      this.pending.add(pending);
      let ok: boolean;
      try {
        ok = socket.write(data, (err) => {
          if (!this.pending.has(pending)) return;
          if (err) {
            this.pending.delete(pending);
            reject(failures.failed(err));
            return;
          }
          if (socket.destroyed) {
            // Node 20 completes a write cancelled by destroy() with no error (Node 22 and
            // later: ECANCELED, see isWriteCutOff), so success cannot be told apart from
            // "never sent": report it as not delivered.
            this.pending.delete(pending);
            reject(failures.cutOff());
            return;
          }
          pending.flushed = true;
          if (!pending.needDrain || !socket.writableNeedDrain) {
            this.pending.delete(pending);
            resolve();
          }
        });
      } catch (err) {
        // Invalid data (a runtime type error) throws synchronously.
        this.pending.delete(pending);
        throw err;
      }
      if (!ok) pending.needDrain = true;
    });
  }

  /** The socket's 'drain': flushed writes that waited for it resolve. */
  readonly onDrain = (): void => {
    for (const pending of this.pending) {
      if (pending.flushed && pending.needDrain) {
        this.pending.delete(pending);
        pending.resolve();
      }
    }
  };

  /** The socket is gone: flushed writes resolve, the others reject with `unflushed()`. */
  settleAll(unflushed: () => Error): void {
    for (const pending of this.pending) {
      if (pending.flushed) pending.resolve();
      else pending.reject(unflushed());
    }
    this.pending.clear();
  }
}
