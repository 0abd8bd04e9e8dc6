/**
 * The context a connection actor has before its first START, and the defaults in it. The
 * machine (machines/connection.machine.ts) starts from it, static, and each START overlays the
 * connection's input on it (its header says why the context is not computed from `input`).
 */
import type { ConnectionContext } from './connection.types.js';

/** How long a `destroy` may take before the connection is counted closed anyway (default). */
export const DESTROY_TIMEOUT_MS = 10_000;

/** The context of an actor that has not begun a connection yet (`spare`). */
export const SPARE_CONTEXT: Readonly<ConnectionContext> = Object.freeze({
  id: '',
  key: '',
  maxAttempts: 1,
  attemptTimeout: Number.POSITIVE_INFINITY,
  supervised: false,
  epoch: 0,
  stabilityWindow: 0,
  validationTimeout: 5_000,
  destroyTimeout: DESTROY_TIMEOUT_MS,
  opened: false,
  closeReason: undefined,
  error: undefined,
  attempt: 0,
  retryDelay: null,
  permanent: false,
  failedAttempt: false,
});
