/**
 * The lifecycle of one connection, from its first attempt to the resource's destruction.
 *
 * Pure: no I/O and no actors of its own. Its effects are named actions (`startCreate`,
 * `startDestroy`, `startValidation`, the `announce*` notifications) that do nothing here; the
 * runtime (`src/pool/`, `src/links.ts`) provides the real ones with `machine.provide()` and
 * sends the results back as events (`CREATED`, `CREATE_FAILED`, `DESTROYED`, `VALID`,
 * `INVALID`, `DROPPED`). Paste this file's machine into the Stately editor to see it; it runs
 * alone too (`createActor(connectionMachine).start()`).
 *
 * Why effects are actions and not invoked actors: a connection may be created and destroyed
 * thousands of times a second, and an invoked actor per step (create, watch, destroy) cost more
 * than the rest of the lifecycle. Why there are no idle or age timers here: they are the pool's
 * (one housekeeping timer per pool, see pool.machine.ts), because thousands of per-connection
 * timers made every actor stop walk them all (XState's scheduler). The timers that remain
 * (attempt timeout, backoff, validation, destroy) run only during short, transient states.
 *
 * An actor starts `spare` and begins a connection on `START` (which carries the connection's
 * input); one whose connection ended (`closed`, `failed`) may be started again for the next
 * one. Pools reuse their actors this way: creating and stopping an actor cost more than the
 * rest of a connection's lifecycle together. (The context is static for the same reason: a
 * context computed from `input` runs XState's `assign` inside the actor's creation.)
 *
 * A pooled connection reports three facts to its pool (`CONNECTION.READY`, `.FAILED`,
 * `.CLOSED`) and decides nothing the pool must decide: it is retired (`RETIRE`) by the pool's
 * ledger, which delivers a pending check-in first (docs/architecture.md, "Deferred check-in").
 *
 * A create may be retried: each failed attempt goes through `retrying`, where the runtime's
 * retry strategy answers (`computeRetry`) with a delay, or with null to give up (attempts
 * spent, or an error that retrying cannot heal), and the machine waits that delay in `backoff`.
 * A supervised connection (opened by `connect()`) that drops goes back to `connecting` with a
 * fresh budget of attempts; one that drops within `stabilityWindow` of opening did not really
 * connect (a server that accepts and closes at once), so that counts as its attempt failing.
 *
 * `closed` and `failed` are deliberately not final states: a child reaching a final state makes
 * XState send its parent an event named after the child's id, and XState memoises per event
 * type forever, so every finished connection would leak a little memory. The parent stops the
 * child instead, on the report.
 *
 * Beside this file: its types (connection.types.ts), the context of a spare actor
 * (connection.context.ts) and the errors it fails with on its own (connection.errors.ts).
 */
import { assign, enqueueActions, setup } from 'xstate';
import { SPARE_CONTEXT } from './connection.context.js';
import { AttemptTimeoutError, CreateAbandonedError, ValidationTimeoutError } from './connection.errors.js';
import type { ConnectionContext, ConnectionEvent, ConnectionReport } from './connection.types.js';
import { hasParent } from './report.js';

// What the runtime, the other machines and the tests import from here.
export type { CloseReason, ConnectionContext, ConnectionEvent, ConnectionInput, ConnectionReport } from './connection.types.js';
export { AttemptTimeoutError, CreateAbandonedError, ValidationTimeoutError } from './connection.errors.js';
export { DESTROY_TIMEOUT_MS, SPARE_CONTEXT } from './connection.context.js';

/** Whether a drop `openMs` after opening means the attempt did not really succeed. */
export function premature(openMs: number, stabilityWindow: number): boolean {
  return openMs < stabilityWindow;
}

/** Retired while connecting: whatever its create produces is destroyed, never lent. */
export function unwanted(context: Pick<ConnectionContext, 'closeReason'>): boolean {
  return context.closeReason !== undefined;
}

/** The report a connection sends its parent once it has closed (the runtime adds demand facts to it). */
export function closedReport(context: ConnectionContext): Extract<ConnectionReport, { type: 'CONNECTION.CLOSED' }> {
  return {
    type: 'CONNECTION.CLOSED',
    id: context.id,
    epoch: context.epoch,
    reason: context.closeReason ?? 'dropped',
    opened: context.opened,
    failedAttempt: context.failedAttempt,
    permanent: context.failedAttempt && context.permanent,
    error: context.error,
  };
}

export const connectionMachine = setup({
  types: {
    context: {} as ConnectionContext,
    events: {} as ConnectionEvent,
  },
  delays: {
    attemptTimeout: ({ context }) => context.attemptTimeout,
    retryDelay: ({ context }) => context.retryDelay ?? 0,
    validationTimeout: ({ context }) => context.validationTimeout,
    destroyTimeout: ({ context }) => context.destroyTimeout,
  },
  guards: {
    // Which substate of `connecting` an attempt enters: a timer only where one can fire.
    untimed: ({ context }) => context.attemptTimeout === Number.POSITIVE_INFINITY,
    untimedStart: ({ event }) => event.type === 'START' && event.input.attemptTimeout === Number.POSITIVE_INFINITY,
    unwanted: ({ context }) => unwanted(context),
    lent: ({ event }) => event.type === 'CREATED' && event.lent,
    // Retry only if the strategy said so and nobody retired the connection meanwhile.
    retryWanted: ({ context }) => context.retryDelay !== null && context.closeReason === undefined,
    supervised: ({ context }) => context.supervised,
    destroyFailed: ({ event }) => event.type === 'DESTROYED' && event.error !== undefined,
    supervisedUntimed: ({ context }) => context.supervised && context.attemptTimeout === Number.POSITIVE_INFINITY,
    prematureDrop: ({ context, event }) =>
      event.type === 'DROPPED' && premature(event.openMs, context.stabilityWindow),
    supervisedPrematureDrop: ({ context, event }) =>
      context.supervised && event.type === 'DROPPED' && premature(event.openMs, context.stabilityWindow),
  },
  actions: {
    /** START: a new connection in this actor (its id stays the actor's). */
    begin: assign(({ context, event }) =>
      event.type === 'START'
        ? { ...SPARE_CONTEXT, ...event.input, id: context.id === '' ? event.input.id : context.id }
        : context,
    ),
    nextAttempt: assign({ attempt: ({ context }) => context.attempt + 1 }),
    recordError: assign({ error: ({ event }) => ('error' in event ? event.error : undefined) }),

    recordTimeout: assign({ error: ({ context }) => new AttemptTimeoutError(context.attemptTimeout) }),
    markOpened: assign({ opened: true, error: undefined }),
    abandon: assign({ error: () => new CreateAbandonedError() }),
    closeUnwanted: assign({ closeReason: 'unwanted' }),
    closeDropped: assign({ closeReason: 'dropped' }),
    closeFailedAttempt: assign({ closeReason: 'dropped', failedAttempt: true }),
    closeInvalid: assign({ closeReason: 'invalid' }),
    closeForced: assign({ closeReason: 'forced' }),
    /** RETIRE, DISCARD: the reason is the retirer's. */
    closeRetired: assign({
      closeReason: ({ context, event }) => (event.type === 'RETIRE' || event.type === 'DISCARD' ? event.reason : context.closeReason),
    }),
    freshAttempts: assign({ attempt: 0 }),
    recordValidationTimeout: assign({ error: ({ context }) => new ValidationTimeoutError(context.validationTimeout) }),
    /** The runtime provides the retry strategy; by default a failed attempt is the last. */
    computeRetry: assign({ retryDelay: null, permanent: false }),

    // Effects, provided by the runtime. Each result comes back as an event.
    /** Entry of `connecting`: start one attempt (→ CREATED or CREATE_FAILED). */
    startCreate: () => {},
    /** Exit of `connecting`: abort the attempt if it is still running (timeout, shutdown). */
    endCreate: () => {},
    /** Entry of `open.validating`: run the pool's validator (→ VALID or INVALID). */
    startValidation: () => {},
    endValidation: () => {},
    /** Entry of `draining.closing`: destroy the resource (→ DESTROYED). */
    startDestroy: () => {},
    /**
     * Entry and exit of `open.idle`: a resource resting in the pool need not keep the process
     * alive (the runtime unrefs the sockets it opened for registered servers), one lent must.
     */
    rest: () => {},
    wake: () => {},
    /** User-facing network events (`manager.events`, the delegate). */
    announceConnecting: () => {},
    announceBackoff: () => {},
    announceReady: () => {},
    announceDisconnected: () => {},
    announceFailed: () => {},
    announceClosed: () => {},

    reportReady: enqueueActions(({ context, self, enqueue }) => {
      if (!hasParent(self)) return;
      enqueue.sendParent({ type: 'CONNECTION.READY', id: context.id, epoch: context.epoch } satisfies ConnectionReport);
    }),
    reportFailed: enqueueActions(({ context, self, enqueue }) => {
      if (!hasParent(self)) return;
      enqueue.sendParent({
        type: 'CONNECTION.FAILED',
        id: context.id,
        epoch: context.epoch,
        attempts: context.attempt,
        error: context.error,
        permanent: context.permanent,
      } satisfies ConnectionReport);
    }),
    reportClosed: enqueueActions(({ context, self, enqueue }) => {
      if (hasParent(self)) enqueue.sendParent(closedReport(context));
    }),
  },
}).createMachine({
  id: 'connection',
  context: SPARE_CONTEXT,
  initial: 'spare',
  states: {
    // No connection yet: the pool (or the manager, for a link) starts one.
    spare: {
      on: {
        START: [
          { guard: 'untimedStart', target: 'connecting.untimed', actions: 'begin' },
          { target: 'connecting.timed', actions: 'begin' },
        ],
      },
    },
    connecting: {
      entry: ['nextAttempt', 'startCreate', 'announceConnecting'],
      exit: 'endCreate',
      // Every transition into `connecting` names its substate, by the attempt timeout.
      initial: 'timed',
      states: {
        // Leaving the state ends the attempt (endCreate aborts the factory's signal).
        timed: {
          after: { attemptTimeout: { target: '#connection.retrying', actions: 'recordTimeout' } },
        },
        // attemptTimeout is Infinity: no timer at all (one that can never fire still costs).
        untimed: {},
      },
      on: {
        CREATED: [
          // "Pending creates are closed when they land": the resource is destroyed, never lent.
          { guard: 'unwanted', target: 'draining.closing' },
          // Announced before markOpened: `opened` still says whether this is a reconnection.
          { guard: 'lent', target: 'open.inUse', actions: ['announceReady', 'markOpened', 'reportReady'] },
          { target: 'open.idle', actions: ['announceReady', 'markOpened', 'reportReady'] },
        ],
        CREATE_FAILED: { target: 'retrying', actions: 'recordError' },
        RETIRE: { actions: 'closeUnwanted' },
        // The shutdown timeout gives up on a create that has not landed; the runtime
        // destroys whatever it produces later.
        FORCE: { target: 'failed', actions: 'abandon' },
      },
    },
    // An attempt failed: the retry strategy decides between another one and giving up.
    retrying: {
      entry: 'computeRetry',
      always: [{ guard: 'retryWanted', target: 'backoff' }, { target: 'failed' }],
    },
    backoff: {
      entry: 'announceBackoff',
      after: {
        retryDelay: [{ guard: 'untimed', target: 'connecting.untimed' }, { target: 'connecting.timed' }],
      },
      on: {
        // Shutdown (or its holder) cancels a pending retry at once.
        RETIRE: { target: 'draining.closing', actions: 'closeRetired' },
        FORCE: { target: 'failed', actions: 'abandon' },
      },
    },
    open: {
      on: {
        DROPPED: [
          // Opened by connect() and gone at once: that attempt failed; retry per the strategy.
          {
            guard: 'supervisedPrematureDrop',
            target: 'retrying',
            actions: ['recordError', 'announceDisconnected'],
          },
          // Opened by connect(): reconnect, with a fresh budget of attempts.
          {
            guard: 'supervisedUntimed',
            target: 'connecting.untimed',
            actions: ['recordError', 'freshAttempts', 'announceDisconnected'],
          },
          {
            guard: 'supervised',
            target: 'connecting.timed',
            actions: ['recordError', 'freshAttempts', 'announceDisconnected'],
          },
          // Pooled and gone at once: the pool's breaker counts it as a failed create.
          {
            guard: 'prematureDrop',
            target: 'draining.closing',
            // The retry strategy judges its error as any failed attempt's (`permanent`, reported).
            actions: ['recordError', 'closeFailedAttempt', 'computeRetry', 'announceDisconnected'],
          },
          {
            target: 'draining.closing',
            actions: ['recordError', 'closeDropped', 'announceDisconnected'],
          },
        ],
      },
      initial: 'idle',
      states: {
        idle: {
          entry: 'rest',
          exit: 'wake',
          on: {
            CHECKOUT: 'inUse',
            VALIDATE: 'validating',
            RETIRE: { target: '#connection.draining.closing', actions: 'closeRetired' },
          },
        },
        // Rested long in the pool: the pool's validator checks it before it is lent.
        validating: {
          entry: 'startValidation',
          exit: 'endValidation',
          after: {
            validationTimeout: {
              target: '#connection.draining.closing',
              actions: ['closeInvalid', 'recordValidationTimeout'],
            },
          },
          on: {
            VALID: 'inUse',
            INVALID: { target: '#connection.draining.closing', actions: ['closeInvalid', 'recordError'] },
            RETIRE: { target: '#connection.draining.closing', actions: 'closeRetired' },
          },
        },
        inUse: {
          on: {
            CHECKIN: 'idle',
            RETIRE: { target: '#connection.draining.awaitingReturn', actions: 'closeRetired' },
            DISCARD: { target: '#connection.draining.closing', actions: 'closeRetired' },
          },
        },
      },
    },
    draining: {
      initial: 'closing',
      states: {
        // Retired while lent out: closes when its holder returns it, or when forced. (Whatever
        // state the resource is in, it is destroyed on return.)
        awaitingReturn: {
          on: {
            CHECKIN: 'closing',
            FORCE: { target: 'closing', actions: 'closeForced' },
          },
        },
        closing: {
          entry: 'startDestroy',
          on: {
            // A failed destroy's error is kept; a successful one keeps the error that led to the close.
            DESTROYED: [
              { guard: 'destroyFailed', target: '#connection.closed', actions: 'recordError' },
              { target: '#connection.closed' },
            ],
          },
          after: {
            // A destroy that hangs must not hold a pool slot forever.
            destroyTimeout: { target: '#connection.closed' },
          },
        },
      },
    },
    // Ended. The actor may begin the next connection (a pool reuses it) or be stopped.
    failed: {
      entry: ['reportFailed', 'announceFailed'],
      on: {
        START: [
          { guard: 'untimedStart', target: 'connecting.untimed', actions: 'begin' },
          { target: 'connecting.timed', actions: 'begin' },
        ],
      },
    },
    closed: {
      entry: ['reportClosed', 'announceClosed'],
      on: {
        START: [
          { guard: 'untimedStart', target: 'connecting.untimed', actions: 'begin' },
          { target: 'connecting.timed', actions: 'begin' },
        ],
      },
    },
  },
});

export type ConnectionMachine = typeof connectionMachine;
