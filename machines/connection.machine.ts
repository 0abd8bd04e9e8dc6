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
  | 'discarded'; // its holder gave it back as broken (destroyConnection)

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
}

export interface ConnectionContext extends ConnectionInput {
  /** The factory produced a resource (so it counts as open, not connecting, in the pool). */
  opened: boolean;
  closeReason: CloseReason | undefined;
  /** The factory's error (failed) or the drop's cause (dropped). */
  error: unknown;
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

/** Reports a connection sends its pool. Fixed event types: ids travel in the payload. */
export type ConnectionReport =
  | { type: 'CONNECTION.READY'; id: string }
  | { type: 'CONNECTION.FAILED'; id: string; error: unknown }
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
    destroyTimeout: DESTROY_TIMEOUT_MS,
  },
  guards: {
    unwanted: stateIn('#connection.connecting.unwanted'),
  },
  actions: {
    reportReady: sendParent(({ context }): ConnectionReport => ({ type: 'CONNECTION.READY', id: context.id })),
    reportFailed: sendParent(
      ({ context }): ConnectionReport => ({ type: 'CONNECTION.FAILED', id: context.id, error: context.error }),
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
  context: ({ input }) => ({ ...input, opened: false, closeReason: undefined, error: undefined }),
  initial: 'connecting',
  states: {
    connecting: {
      invoke: {
        id: 'create',
        src: 'create',
        input: ref,
        onDone: [
          // "Pending creates are closed when they land": the resource is destroyed, never lent.
          { guard: 'unwanted', target: 'draining.closing' },
          { target: 'open', actions: [assign({ opened: true }), 'reportReady'] },
        ],
        onError: { target: 'failed', actions: assign({ error: ({ event }) => event.error }) },
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
    open: {
      // Listens for the resource closing or failing on its own, idle or in use.
      invoke: { id: 'watch', src: 'watch', input: ref },
      after: {
        ttl: { actions: 'reportTtlExpired' },
      },
      on: {
        DROPPED: {
          target: 'draining.closing',
          actions: assign({ closeReason: 'dropped', error: ({ event }) => event.error }),
        },
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
