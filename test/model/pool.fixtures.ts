/**
 * The pool under test (test/model/pool.model.test.ts): its configurations, the demand facts
 * the ledger reports, and the machine as the model traverses and runs it, with stand-in
 * connections and every ledger effect logged.
 */
import { assign, fromCallback, type AnyEventObject } from 'xstate';
import type { ConnectionInput } from '../../machines/connection.machine.js';
import { poolMachine, type PoolConfig } from '../../machines/pool.machine.js';

/** Delays (ms), distinct to read traces by: breaker 300 then 600, stability 250, recheck 150, sweeps 400 and 450. */
export const BIG: PoolConfig = {
  minConnections: 1,
  maxConnections: 2,
  acquireTimeout: 30_000,
  maxIdleTime: 1000,
  ttl: 5000,
  maxLifetime: 8000,
  maxAttempts: 1,
  attemptTimeout: Number.POSITIVE_INFINITY,
  breaker: { initialDelay: 300, maxDelay: 600 },
  stabilityWindow: 250,
  validationTimeout: 50,
  destroyTimeout: 60,
};
export const SMALL: PoolConfig = { ...BIG, minConnections: 0, maxConnections: 1 };
export const SCHEDULED_SWEEP = 400;
const NEXT_SWEEP = 450;

// Demand facts before the ledger knows any rate.
export const unknown = { holdMs: 0, createMs: 0, oldestWaitMs: 0 };
// Known rates: connections held 10 ms, creates take 150 ms: one lent connection serves a waiter sooner.
export const young = { holdMs: 10, createMs: 150, oldestWaitMs: 0 };

const EFFECTS = [
  'reportDemand',
  'rejectWaiters',
  'rejectAllWaiters',
  'retireSurplus',
  'retireAll',
  'forceAll',
  'evictIdle',
  'notifyDraining',
  'notifyClosed',
] as const;
export type Effect = (typeof EFFECTS)[number];

/** Per child id: the inputs of the STARTs it received, in order. */
export type Starts = Map<string, ConnectionInput[]>;

/**
 * The pool as traversed and run: inert connections that record the STARTs they receive, a
 * sweep that (like the runtime's) answers the next deadline while a connection is open and
 * nothing otherwise, and every ledger effect logged.
 */
export function instrumented(log: Effect[], starts: Starts) {
  const connection = fromCallback<AnyEventObject>(({ self, receive }) => {
    const received: ConnectionInput[] = [];
    starts.set(self.id, received);
    receive((event) => {
      if (event.type === 'START') received.push((event as { type: 'START'; input: ConnectionInput }).input);
    });
  });
  return poolMachine.provide({
    actors: { connection: connection as never },
    actions: {
      sweep: assign({ sweepDelay: ({ context }) => (context.open > 0 ? NEXT_SWEEP : Number.POSITIVE_INFINITY) }),
      ...Object.fromEntries(
        EFFECTS.map((name) => [
          name,
          () => {
            log.push(name);
          },
        ]),
      ),
    },
  });
}
