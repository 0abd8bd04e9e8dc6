/**
 * The options of a Connection, their defaults and their validation. Subtlety: they are
 * validated before a socket is opened (openConnection), so a bad option never leaves an open
 * socket behind.
 */
import type { Clock } from '../clock.js';
import { ConfigurationError } from '../errors.js';
import { checkDuration, describe, type Duration } from '../time.js';

/** Unread inbound bytes buffered per connection before the socket is paused. */
export const DEFAULT_READ_BUFFER_LIMIT = 256 * 1024;

/** How long `close()` waits for the peer to finish the graceful close before destroying. */
export const DEFAULT_CLOSE_TIMEOUT: Duration = 1_000;

export interface ConnectionOptions {
  /** Default: a random UUID. */
  id?: string;
  /** Unread bytes buffered before the socket is paused. Default {@link DEFAULT_READ_BUFFER_LIMIT}. */
  readBufferLimit?: number;
  /** Grace period of `close()`. Default {@link DEFAULT_CLOSE_TIMEOUT}. */
  closeTimeout?: Duration;
  /** Timer source for the close grace period. Default: real timers. */
  clock?: Clock;
  /**
   * Survive the loss of the socket: become `'disconnected'` and wait for a supervisor's
   * `attach()` (a reconnect) or `finalize()` instead of closing for good. Default `false`.
   */
  supervised?: boolean;
}

/** Validates {@link ConnectionOptions}; throws a `ConfigurationError` naming the field. */
export function checkConnectionOptions(options: ConnectionOptions): void {
  if (options === null || typeof options !== 'object') throw new ConfigurationError('options', `must be an object, got ${describe(options)}`);
  const { id, readBufferLimit, closeTimeout, supervised } = options;
  if (id !== undefined && (typeof id !== 'string' || id === '')) {
    throw new ConfigurationError('id', `must be a non-empty string, got ${describe(id)}`);
  }
  if (readBufferLimit !== undefined && (typeof readBufferLimit !== 'number' || !Number.isInteger(readBufferLimit) || readBufferLimit < 1)) {
    throw new ConfigurationError('readBufferLimit', `must be an integer >= 1 (bytes), got ${describe(readBufferLimit)}`);
  }
  if (closeTimeout !== undefined) checkDuration('closeTimeout', closeTimeout, { allowInfinity: true });
  if (supervised !== undefined && typeof supervised !== 'boolean') {
    throw new ConfigurationError('supervised', `must be a boolean, got ${describe(supervised)}`);
  }
}

