/**
 * The errors a connection fails with on its own (machines/connection.machine.ts), rather than
 * with its resource's: a create abandoned at shutdown, an attempt or a validation that timed out.
 */

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

/** A validation on borrow that took longer than `validationTimeout`. */
export class ValidationTimeoutError extends Error {
  readonly code = 'ETIMEDOUT';
  constructor(readonly timeout: number) {
    super(`validation timed out after ${timeout} ms`);
    this.name = 'ValidationTimeoutError';
  }
}
