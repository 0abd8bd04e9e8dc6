/**
 * The network events users see (`manager.events` and the delegate), announced by a connection
 * actor's effects as it moves: connecting, backoff, connected, disconnected, failed, closed.
 * Pools and links (connections opened by connect()) announce alike.
 *
 * The context's `error` is whatever was thrown; events carry an Error (toError wraps anything
 * else), wrapped once per announcement so that `connection:error` and the `connection:backoff`
 * or `connection:failed` that follows it carry the same object. The frequent ones (connecting,
 * connected, closed) are built only when someone would receive them: a pool that churns
 * announces three per connection.
 */
import type { ConnectionContext } from '../machines/connection.machine.js';
import { toError, type EventHub } from './events.js';
import { errorCodeOf } from './transport/errors.js';

type Facts = Pick<ConnectionContext, 'id' | 'key' | 'attempt' | 'retryDelay' | 'error' | 'closeReason'>;

export const announce = {
  connecting(events: EventHub, c: Facts): void {
    if (!events.wants('connection:connecting')) return;
    events.emitConnection('connection:connecting', { key: c.key, connectionId: c.id, attempt: c.attempt });
  },

  /** An attempt failed and another follows after `retryDelay` ms. */
  backoff(events: EventHub, c: Facts): void {
    const base = { key: c.key, connectionId: c.id, attempt: c.attempt };
    const error = toError(c.error);
    events.emitConnection('connection:error', { ...base, code: errorCodeOf(error), error });
    events.emitConnection('connection:backoff', { ...base, delay: c.retryDelay ?? 0, error });
  },

  ready(events: EventHub, c: Facts, reconnected: boolean): void {
    if (!events.wants('connection:connected')) return;
    events.emitConnection('connection:connected', { key: c.key, connectionId: c.id, attempt: c.attempt, reconnected });
  },

  /** A connection broke on its own: `error` (attempt 0: not an attempt) when there was one. */
  disconnected(events: EventHub, c: Facts): void {
    const base = { key: c.key, connectionId: c.id };
    const error = c.error === undefined ? undefined : toError(c.error);
    if (error !== undefined) events.emitConnection('connection:error', { ...base, attempt: 0, code: errorCodeOf(error), error });
    events.emitConnection('connection:disconnected', { ...base, error });
  },

  /** A create or (re)connection gave up after `attempt` attempts. */
  failed(events: EventHub, c: Facts): void {
    const base = { key: c.key, connectionId: c.id };
    const error = toError(c.error);
    events.emitConnection('connection:error', { ...base, attempt: c.attempt, code: errorCodeOf(error), error });
    events.emitConnection('connection:failed', { ...base, attempts: c.attempt, error });
  },

  closed(events: EventHub, c: Facts): void {
    if (!events.wants('connection:closed')) return;
    events.emitConnection('connection:closed', {
      key: c.key,
      connectionId: c.id,
      reason: c.closeReason ?? 'dropped',
      error: c.error === undefined ? undefined : toError(c.error),
    });
  },
};
