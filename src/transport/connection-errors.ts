/**
 * The errors one Connection raises, worded with its id and its server's address, and caused
 * by what last went wrong with its socket. Subtlety: a write that never reached the socket
 * because the socket was destroyed or ended under it (`isWriteCutOff`, ECANCELED from Node 22)
 * is a closed connection, not a network failure.
 */
import { ConnectionClosedError, errorCode, isWriteCutOff, NetworkError, type ConnectionClosedCode } from './errors.js';
import type { WriteFailures } from './outbound.js';

export interface ConnectionIdentity {
  readonly id: string;
  readonly cacheKey: string;
  /** `host:port`, for messages. */
  readonly address: string;
}

export class ConnectionErrors {
  constructor(
    private readonly who: ConnectionIdentity,
    /** The error behind a closed-connection error: the close's, the drop's or the last socket error. */
    private readonly lastCause: () => NetworkError | undefined,
  ) {}

  /** `err` as a NetworkError of this connection (Node's code, else `fallbackCode`); one is passed through. */
  network(err: Error, fallbackCode: string): NetworkError {
    if (err instanceof NetworkError) return err;
    const code = errorCode(err) ?? fallbackCode;
    const { id, cacheKey, address } = this.who;
    return new NetworkError({ code, connectionId: id, cacheKey }, `connection ${id} to ${address}: ${err.message || code}`, { cause: err });
  }

  /** The socket closed with an error no 'error' event reported: Node's `errored`, when it kept one. */
  closedWithError(errored: Error | null): NetworkError {
    if (errored) return this.network(errored, 'ERR_CONNECTION_FAILED');
    const { id, cacheKey } = this.who;
    return new NetworkError({ code: 'ERR_CONNECTION_FAILED', connectionId: id, cacheKey }, `connection ${id} closed with an error`);
  }

  /** The connection is closed (or, with `NOT_CONNECTED`, between sockets). */
  closed(message: string, code?: ConnectionClosedCode): ConnectionClosedError {
    const { id, cacheKey, address } = this.who;
    const cause = this.lastCause();
    return new ConnectionClosedError(
      code === undefined ? { connectionId: id, cacheKey } : { connectionId: id, cacheKey, code },
      `connection ${id} to ${address}: ${message}`,
      cause ? { cause } : undefined,
    );
  }

  readonly write: WriteFailures = {
    cutOff: () => this.closed('the connection was destroyed before the write completed'),
    failed: (err) =>
      isWriteCutOff(err) ? this.closed('the connection closed before the data was flushed') : this.network(err, 'ERR_CONNECTION_FAILED'),
  };
}
