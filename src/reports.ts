/**
 * Turns a connection actor's reports into the network events users see (`manager.events` and
 * the delegate). Pools and links (connections opened by connect()) report alike.
 *
 * A report's `error` is whatever was thrown; events carry an Error (toError wraps anything
 * else), wrapped once per report so that `connection:error` and the `connection:backoff` or
 * `connection:failed` that follows it carry the same object.
 */
import type { ConnectionReport } from '../machines/connection.machine.js';
import { errorCodeOf, toError, type EventHub } from './events.js';

export function emitConnectionReport(events: EventHub, key: string, report: ConnectionReport): void {
  const connectionId = report.id;
  switch (report.type) {
    case 'CONNECTION.CONNECTING':
      events.emitConnection('connection:connecting', { key, connectionId, attempt: report.attempt });
      break;
    case 'CONNECTION.BACKOFF': {
      const error = toError(report.error);
      events.emitConnection('connection:error', { key, connectionId, attempt: report.attempt, code: errorCodeOf(error), error });
      events.emitConnection('connection:backoff', { key, connectionId, attempt: report.attempt, delay: report.delay, error });
      break;
    }
    case 'CONNECTION.READY':
      events.emitConnection('connection:connected', {
        key,
        connectionId,
        attempt: report.attempt,
        reconnected: report.reconnected,
      });
      break;
    case 'CONNECTION.FAILED': {
      const error = toError(report.error);
      events.emitConnection('connection:error', { key, connectionId, attempt: report.attempts, code: errorCodeOf(error), error });
      events.emitConnection('connection:failed', { key, connectionId, attempts: report.attempts, error });
      break;
    }
    case 'CONNECTION.DISCONNECTED':
      disconnected(events, key, connectionId, report.error);
      break;
    case 'CONNECTION.DRAINING':
      if (report.reason === 'dropped') disconnected(events, key, connectionId, report.error);
      break;
    case 'CONNECTION.CLOSED':
      events.emitConnection('connection:closed', {
        key,
        connectionId,
        reason: report.reason,
        error: report.error === undefined ? undefined : toError(report.error),
      });
      break;
    default:
      break; // IDLE_EXPIRED, TTL_EXPIRED: the pool's business, reported as cache events
  }
}

/** A connection broke on its own: `error` (attempt 0: not an attempt) when there was one. */
function disconnected(events: EventHub, key: string, connectionId: string, thrown: unknown): void {
  const error = thrown === undefined ? undefined : toError(thrown);
  if (error !== undefined) {
    events.emitConnection('connection:error', { key, connectionId, attempt: 0, code: errorCodeOf(error), error });
  }
  events.emitConnection('connection:disconnected', { key, connectionId, error });
}
