/**
 * The lifecycle of one pooled connection, from the factory call to the resource's destruction.
 *
 * Pure: no I/O. The three effects (`create`, `destroy`, `watch`) are placeholder actors
 * here; the runtime (`src/pool/`) provides the real ones with `machine.provide()`. Paste
 * this file's machine into the Stately editor to see it.
 *
 * The machine reports every fact to its parent pool and lets the pool decide: an idle
 * timeout or an age limit is *reported* (`CONNECTION.IDLE_EXPIRED`, `CONNECTION.TTL_EXPIRED`),
 * never acted on alone, because only the pool knows whether closing would drop it below
 * `minConnections`, and because every retirement must pass through the pool's ledger (see
 * docs/architecture.md, "Deferred check-in").
 *
 * A create may be retried: each failed attempt goes through `retrying`, where the runtime's
 * retry strategy answers (`computeRetry`) with a delay, or with null to give up, and the
 * machine waits that delay in `backoff`. A supervised connection (opened by `connect()`)
 * that drops goes back to `connecting` with a fresh budget of attempts instead of closing.
 *
 * `closed` and `failed` are deliberately not final states: a child reaching a final state
 * makes XState send its parent an event named after the child's id, and XState memoises per
 * event type forever, so every finished connection would leak a little memory. The pool
 * stops the child instead, on the report.
 */
import { fromCallback, fromPromise, sendParent, setup, assign, stateIn } from 'xstate';

/** Why a connection was closed. */
export type CloseReason =
  | 'idle' // idle longer than maxIdleTime while the pool was above minConnections
  | 'ttl' // older than the cache's ttl
  | 'evicted' // closed by the cache's LRU policy to make room for another key
  | 'resized' // the pool's maxConnections was lowered
  | 'dropped' // the resource emitted 'close' or 'error' on its own
  | 'shutdown' // gracefulShutdown()
  | 'forced' // still in use when the shutdown timeout expired
  | 'unwanted' // a create that landed after its pool stopped wanting it
  | 'discarded' // its holder gave it back as broken (destroyConnection)
  | 'closed'; // its holder closed it (a connection opened by connect())

/** How long a `destroy` may take before the connection is counted closed anyway. */
export const DESTROY_TIMEOUT_MS = 10_000;

export interface ConnectionInput {
  /** Unique within the manager, e.g. `api-server#3`. */
  id: string;
  key: string;
  /** Idle time after which the pool is told (`CONNECTION.IDLE_EXPIRED`). Infinity: never. */
  maxIdleTime: number;
  /** Age after which the pool is told (`CONNECTION.TTL_EXPIRED`). Infinity: never. */
  ttl: number;
  /** Attempts per (re)connection, the first included. 1: no retry. */
  maxAttempts: number;
  /** Bound on one attempt (for a server: TCP connect and TLS handshake). Infinity: none. */
  attemptTimeout: number;
  /** Reconnects on its own when dropped (connections opened by `connect()`). */
  supervised: boolean;
}

export interface ConnectionContext extends ConnectionInput {
  /** The factory produced a resource (so it counts as open, not connecting, in the pool). */
  opened: boolean;
  closeReason: CloseReason | undefined;
  /** The last attempt's error (failed, backoff) or the drop's cause (dropped). */
  error: unknown;
  /** The current attempt, 1-based; reset when a supervised connection reconnects. */
  attempt: number;
  /** The retry strategy's answer for the last failed attempt: ms to wait, or null to stop. */
  retryDelay: number | null;
}

/** What the effect actors receive: enough to find the resource in the runtime's records. */
export interface ConnectionRef {
  id: string;
  key: string;
}

export type ConnectionEvent =
  | { type: 'CHECKOUT' }
  | { type: 'CHECKIN' }
  | { type: 'RETIRE'; reason: CloseReason }
  | { type: 'FORCE' }
  | { type: 'DROPPED'; error?: unknown }
  | { type: 'CONFIGURE'; maxIdleTime: number; ttl: number };

/** Reports a connection sends its parent. Fixed event types: ids travel in the payload. */
export type ConnectionReport =
  | { type: 'CONNECTION.CONNECTING'; id: string; attempt: number }
  | { type: 'CONNECTION.BACKOFF'; id: string; attempt: number; delay: number; error: unknown }
  | { type: 'CONNECTION.READY'; id: string; attempt: number; reconnected: boolean }
  | { type: 'CONNECTION.DISCONNECTED'; id: string; error: unknown }
  | { type: 'CONNECTION.FAILED'; id: string; attempts: number; error: unknown }
  | { type: 'CONNECTION.IDLE_EXPIRED'; id: string }
  | { type: 'CONNECTION.TTL_EXPIRED'; id: string }
  | { type: 'CONNECTION.DRAINING'; id: string; reason: CloseReason; wasOpen: boolean; error: unknown }
  | { type: 'CONNECTION.CLOSED'; id: string; reason: CloseReason; error: unknown };

/** The error a connection fails with when the shutdown timeout abandons its create. */
export class CreateAbandonedError extends Error {
  constructor() {
    super('create abandoned: it had not finished when the shutdown timeout expired');
    this.name = 'CreateAbandonedError';
  }
}

/** An attempt that took longer than `attemptTimeout`. `code` is Node's usual ETIMEDOUT. */
export class AttemptTimeoutError extends Error {
  readonly code = 'ETIMEDOUT';
  constructor(readonly timeout: number) {
    super(`connection attempt timed out after ${timeout} ms`);
    this.name = 'AttemptTimeoutError';
  }
}

const ref = ({ context }: { context: ConnectionContext }): ConnectionRef => ({ id: context.id, key: context.key });

export const connectionMachine = setup({
  types: {
    context: {} as ConnectionContext,
    events: {} as ConnectionEvent,
    input: {} as ConnectionInput,
  },
  actors: {
    // Placeholders: the runtime provides the real effects.
    create: fromPromise<void, ConnectionRef>(() => new Promise<void>(() => {})),
    destroy: fromPromise<void, ConnectionRef>(async () => {}),
    watch: fromCallback<{ type: 'DROPPED'; error?: unknown }, ConnectionRef>(() => {}),
  },
  delays: {
    maxIdleTime: ({ context }) => context.maxIdleTime,
    ttl: ({ context }) => context.ttl,
    attemptTimeout: ({ context }) => context.attemptTimeout,
    retryDelay: ({ context }) => context.retryDelay ?? 0,
    destroyTimeout: DESTROY_TIMEOUT_MS,
  },
  guards: {
    unwanted: stateIn('#connection.connecting.unwanted'),
    // Retry only if the strategy said so and nobody retired the connection meanwhile.
    retryWanted: ({ context }) => context.retryDelay !== null && context.closeReason === undefined,
    supervised: ({ context }) => context.supervised,
  },
  actions: {
    nextAttempt: assign({ attempt: ({ context }) => context.attempt + 1 }),
    /** The runtime provides the retry strategy; by default a failed attempt is the last. */
    computeRetry: assign({ retryDelay: null }),
    reportConnecting: sendParent(
      ({ context }): ConnectionReport => ({ type: 'CONNECTION.CONNECTING', id: context.id, attempt: context.attempt }),
    ),
    reportBackoff: sendParent(
      ({ context }): ConnectionReport => ({
        type: 'CONNECTION.BACKOFF',
        id: context.id,
        attempt: context.attempt,
        delay: context.retryDelay ?? 0,
        error: context.error,
      }),
    ),
    reportDisconnected: sendParent(
      ({ context }): ConnectionReport => ({ type: 'CONNECTION.DISCONNECTED', id: context.id, error: context.error }),
    ),
    reportReady: sendParent(
      ({ context }): ConnectionReport => ({
        type: 'CONNECTION.READY',
        id: context.id,
        attempt: context.attempt,
        reconnected: context.opened,
      }),
    ),
    reportFailed: sendParent(
      ({ context }): ConnectionReport => ({
        type: 'CONNECTION.FAILED',
        id: context.id,
        attempts: context.attempt,
        error: context.error,
      }),
    ),
    reportIdleExpired: sendParent(
      ({ context }): ConnectionReport => ({ type: 'CONNECTION.IDLE_EXPIRED', id: context.id }),
    ),
    reportTtlExpired: sendParent(({ context }): ConnectionReport => ({ type: 'CONNECTION.TTL_EXPIRED', id: context.id })),
    reportDraining: sendParent(
      ({ context }): ConnectionReport => ({
        type: 'CONNECTION.DRAINING',
        id: context.id,
        reason: context.closeReason ?? 'dropped',
        wasOpen: context.opened,
        error: context.error,
      }),
    ),
    reportClosed: sendParent(
      ({ context }): ConnectionReport => ({
        type: 'CONNECTION.CLOSED',
        id: context.id,
        reason: context.closeReason ?? 'dropped',
        error: context.error,
      }),
    ),
  },
}).createMachine({
  id: 'connection',
  context: ({ input }) => ({
    ...input,
    opened: false,
    closeReason: undefined,
    error: undefined,
    attempt: 0,
    retryDelay: null,
  }),
  initial: 'connecting',
  states: {
    connecting: {
      entry: ['nextAttempt', 'reportConnecting'],
      invoke: {
        id: 'create',
        src: 'create',
        input: ref,
        onDone: [
          // "Pending creates are closed when they land": the resource is destroyed, never lent.
          { guard: 'unwanted', target: 'draining.closing' },
          { target: 'open', actions: ['reportReady', assign({ opened: true })] },
        ],
        onError: { target: 'retrying', actions: assign({ error: ({ event }) => event.error }) },
      },
      after: {
        // Leaving the state stops the create actor, which aborts the attempt (its signal).
        attemptTimeout: {
          target: 'retrying',
          actions: assign({ error: ({ context }) => new AttemptTimeoutError(context.attemptTimeout) }),
        },
      },
      initial: 'wanted',
      states: {
        wanted: {
          on: { RETIRE: { target: 'unwanted', actions: assign({ closeReason: 'unwanted' }) } },
        },
        unwanted: {},
      },
      on: {
        // The shutdown timeout gives up on a create that has not landed; the runtime
        // destroys whatever it produces later.
        FORCE: { target: 'failed', actions: assign({ error: () => new CreateAbandonedError() }) },
      },
    },
    // An attempt failed: the retry strategy decides between another one and giving up.
    retrying: {
      entry: 'computeRetry',
      always: [{ guard: 'retryWanted', target: 'backoff' }, { target: 'failed' }],
    },
    backoff: {
      entry: 'reportBackoff',
      after: { retryDelay: 'connecting' },
      on: {
        // Shutdown (or the pool) cancels a pending retry at once; there is nothing to destroy.
        RETIRE: { target: 'draining.closing', actions: assign({ closeReason: ({ event }) => event.reason }) },
        FORCE: { target: 'failed', actions: assign({ error: () => new CreateAbandonedError() }) },
      },
    },
    open: {
      // Listens for the resource closing or failing on its own, idle or in use.
      invoke: { id: 'watch', src: 'watch', input: ref },
      after: {
        ttl: { actions: 'reportTtlExpired' },
      },
      on: {
        DROPPED: [
          {
            // Opened by connect(): reconnect, with a fresh budget of attempts.
            guard: 'supervised',
            target: 'connecting',
            actions: [assign({ error: ({ event }) => event.error, attempt: 0 }), 'reportDisconnected'],
          },
          {
            target: 'draining.closing',
            actions: assign({ closeReason: 'dropped', error: ({ event }) => event.error }),
          },
        ],
        CONFIGURE: {
          actions: assign({ maxIdleTime: ({ event }) => event.maxIdleTime, ttl: ({ event }) => event.ttl }),
        },
      },
      initial: 'idle',
      states: {
        idle: {
          after: {
            // Re-entering restarts the timer: a connection the pool keeps (at minConnections)
            // reports again one maxIdleTime later.
            maxIdleTime: { target: 'idle', reenter: true, actions: 'reportIdleExpired' },
          },
          on: {
            CHECKOUT: 'inUse',
            RETIRE: {
              target: '#connection.draining.closing',
              actions: assign({ closeReason: ({ event }) => event.reason }),
            },
          },
        },
        inUse: {
          on: {
            CHECKIN: 'idle',
            RETIRE: {
              target: '#connection.draining.awaitingReturn',
              actions: assign({ closeReason: ({ event }) => event.reason }),
            },
          },
        },
      },
    },
    draining: {
      entry: 'reportDraining',
      initial: 'closing',
      states: {
        // Retired while lent out: closes when its holder returns it, or when forced. (Nothing
        // watches the resource here: whatever state it is in, it is destroyed on return.)
        awaitingReturn: {
          on: {
            CHECKIN: 'closing',
            FORCE: { target: 'closing', actions: assign({ closeReason: 'forced' }) },
          },
        },
        closing: {
          invoke: {
            id: 'destroy',
            src: 'destroy',
            input: ref,
            onDone: { target: '#connection.closed' },
            onError: { target: '#connection.closed', actions: assign({ error: ({ event }) => event.error }) },
          },
          after: {
            // A destroy that hangs must not hold a pool slot forever.
            destroyTimeout: { target: '#connection.closed' },
          },
        },
      },
    },
    failed: { entry: 'reportFailed' },
    closed: { entry: 'reportClosed' },
  },
});

export type ConnectionMachine = typeof connectionMachine;
