/**
 * The events and states a Connection exposes, as types. Subtlety: `close` is emitted once per
 * connection (closed for good), `error` once per socket error, so a supervised connection can
 * emit several errors, disconnections and reconnections before its one `close`.
 */
import type { NetworkError } from './errors.js';
import type { ServerInfo } from './server-info.js';
import type { SocketDetails } from './socket-details.js';

export interface ConnectionCloseEvent {
  /** The connection closed because of an error (reset, timeout, `destroy(error)`, `finalize(error)`, ...). */
  hadError: boolean;
  /** That error, when `hadError`. */
  error?: NetworkError;
}

/** A supervised connection lost its socket (see the `supervised` connection option). */
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


/**
 * What `util.inspect`, `console.log` and `JSON.stringify` show of a Connection: plain data, no
 * socket (Node's TLS socket keeps its connect options, private key and passphrase included).
 */
export type ConnectionSummary = SocketDetails & {
  readonly id: string;
  readonly cacheKey: string;
  readonly server: ServerInfo;
  readonly state: ConnectionState;
  readonly supervised: boolean;
  readonly bufferedBytes: number;
};
