/**
 * The connection machine's types (machines/connection.machine.ts): why a connection closes, its
 * input and context, the events it handles and the reports it sends its parent.
 */

/** Why a connection was closed. */
export type CloseReason =
  | 'idle' // idle longer than maxIdleTime while the pool was above minConnections
  | 'ttl' // older than the cache's ttl
  | 'lifetime' // older than the pool's maxLifetime
  | 'uses' // lent maxUses times
  | 'invalid' // failed its validation on borrow
  | 'evicted' // closed by the cache's LRU policy to make room for another key
  | 'resized' // the pool's maxConnections was lowered
  | 'dropped' // the resource emitted one of its close events on its own
  | 'shutdown' // gracefulShutdown()
  | 'forced' // still in use when the shutdown timeout expired
  | 'unwanted' // a create that landed after its pool stopped wanting it
  | 'discarded' // its holder gave it back as broken (destroyConnection)
  | 'closed' // its holder closed it (a connection opened by connect())
  | 'failed'; // a connection opened by connect() gave up reconnecting

export interface ConnectionInput {
  /** Unique within the manager, e.g. `api-server#3`. */
  id: string;
  key: string;
  /** Attempts per (re)connection, the first included. 1: no retry. */
  maxAttempts: number;
  /** Bound on one attempt (for a server: TCP connect and TLS handshake), ms. Infinity: none. */
  attemptTimeout: number;
  /** Reconnects on its own when dropped (connections opened by `connect()`). */
  supervised: boolean;
  /** The pool's breaker episode when this connection was spawned (0 for links). */
  epoch: number;
  /** A drop sooner than this after opening (ms) counts as a failed attempt. */
  stabilityWindow: number;
  /** Bound on one validation on borrow, ms. */
  validationTimeout: number;
  /** Bound on the destroy, ms; after it the connection counts as closed anyway. */
  destroyTimeout: number;
}

export interface ConnectionContext extends ConnectionInput {
  /** The connection produced a resource at least once (so it counts as open, not connecting). */
  opened: boolean;
  closeReason: CloseReason | undefined;
  /** The last attempt's error (failed, backoff) or the drop's cause (dropped). */
  error: unknown;
  /** The current attempt, 1-based; reset when a supervised connection reconnects. */
  attempt: number;
  /** The retry strategy's answer for the last failed attempt: ms to wait, or null to stop. */
  retryDelay: number | null;
  /** The last error is one retrying cannot heal (a certificate that fails verification). */
  permanent: boolean;
  /** It closed so soon after opening that its attempt counts as failed (for the pool's breaker). */
  failedAttempt: boolean;
}

export type ConnectionEvent =
  /** Begin a connection (from `spare`, or again after `closed` / `failed`). */
  | { type: 'START'; input: ConnectionInput }
  /** The runtime's create produced a resource; `lent`: the ledger handed it to a waiter. */
  | { type: 'CREATED'; lent: boolean }
  | { type: 'CREATE_FAILED'; error: unknown }
  | { type: 'CHECKOUT' }
  | { type: 'CHECKIN' }
  /** Taken from idle after resting long: check it before lending it. */
  | { type: 'VALIDATE' }
  | { type: 'VALID' }
  | { type: 'INVALID'; error: unknown }
  | { type: 'RETIRE'; reason: CloseReason }
  /** Its holder gave it back broken (or worn out): close it now, it is not lent any more. */
  | { type: 'DISCARD'; reason: CloseReason }
  | { type: 'FORCE' }
  /** The resource closed or failed on its own, `openMs` after it opened. */
  | { type: 'DROPPED'; error: unknown; openMs: number }
  | { type: 'DESTROYED'; error?: unknown };

/** Reports a connection sends its parent. Fixed event types: ids travel in the payload. */
export type ConnectionReport =
  | { type: 'CONNECTION.READY'; id: string; epoch: number }
  | { type: 'CONNECTION.FAILED'; id: string; epoch: number; attempts: number; error: unknown; permanent: boolean }
  | {
      type: 'CONNECTION.CLOSED';
      id: string;
      epoch: number;
      reason: CloseReason;
      /** It had opened (the pool counted it open, not connecting). */
      opened: boolean;
      /** It closed within its stability window: the attempt that opened it counts as failed. */
      failedAttempt: boolean;
      /** A failed attempt whose error the retry strategy judged one retrying cannot heal. */
      permanent: boolean;
      error: unknown;
    };
