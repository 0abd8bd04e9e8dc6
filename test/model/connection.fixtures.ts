/**
 * The connection under test (test/model/connection.model.test.ts): the machine as the model
 * traverses and runs it, with a deterministic retry strategy and every effect logged, and the
 * inputs its STARTs carry.
 */
import { assign } from 'xstate';
import { connectionMachine, type ConnectionInput } from '../../machines/connection.machine.js';

/** ms between attempts (the test's retry strategy); a drop sooner than STABILITY_WINDOW ms after opening is premature. */
const RETRY_DELAY = 700;
export const STABILITY_WINDOW = 500;

const EFFECTS = [
  'startCreate',
  'endCreate',
  'startValidation',
  'endValidation',
  'startDestroy',
  'rest',
  'wake',
  'announceConnecting',
  'announceBackoff',
  'announceReady',
  'announceDisconnected',
  'announceFailed',
  'announceClosed',
] as const;
type Effect = (typeof EFFECTS)[number];

/**
 * A deterministic retry strategy, as the runtime's: RETRY_DELAY between attempts, until
 * maxAttempts; every effect logged (the same machine is traversed and run).
 */
export function instrumented(log: string[]) {
  const record = (name: Effect) => () => {
    log.push(name);
  };
  return connectionMachine.provide({
    actions: {
      computeRetry: assign({
        retryDelay: ({ context }) => (context.attempt < context.maxAttempts ? RETRY_DELAY : null),
        permanent: false,
      }),
      ...Object.fromEntries(EFFECTS.map((name) => [name, record(name)])),
    },
  });
}

export const POOLED: ConnectionInput = {
  id: 'k#1',
  key: 'k',
  maxAttempts: 2,
  attemptTimeout: 3000,
  supervised: false,
  epoch: 3,
  stabilityWindow: STABILITY_WINDOW,
  validationTimeout: 400,
  destroyTimeout: 900,
};
export const SUPERVISED: ConnectionInput = { ...POOLED, id: 'k@1', supervised: true, epoch: 0 };
export const untimed = (input: ConnectionInput): ConnectionInput => ({ ...input, attemptTimeout: Number.POSITIVE_INFINITY });
/**
 * The input of a later START: a later epoch (the pool's breaker may have opened meanwhile) and
 * another id, which the actor must not take (reports must keep naming the actor its parent knows).
 */
export const later = (input: ConnectionInput): ConnectionInput => ({ ...input, id: `${input.id}-next`, epoch: input.epoch + 1 });
