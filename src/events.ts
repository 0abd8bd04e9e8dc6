/**
 * The manager's typed events: what they carry (`ManagerEvents`), the emitter users hold
 * (`manager.events`: mitt plus `once`), and the hub that emits them.
 *
 * Two subtleties. Listeners run inside state machine transitions, so the hub isolates them: one
 * that throws is reported, never rethrown. And the hot path builds some payloads only while
 * someone listens (`listening()`), counting subscribers of the event's diagnostics channel
 * (src/observability/channels.ts) as listeners.
 */
import mittImport, { type Emitter, type EventType, type Handler, type WildcardHandler } from 'mitt';
import { types as utilTypes } from 'node:util';
import type { CloseReason } from '../machines/connection.machine.js';
import type { PoolSettings } from './config.js';
import { AbortError } from './errors.js';
import { channelOf } from './observability/channels.js';

/**
 * mitt's types describe an ES module but live in a package typed as CommonJS, so under
 * NodeNext TypeScript sees its default export one level down. At run time the ESM import is
 * the function itself; this takes whichever shape arrives.
 */
export const mitt = ((mittImport as unknown as { default?: unknown }).default ?? mittImport) as <
  E extends Record<EventType, unknown>,
>() => Emitter<E>;

/** What every connection event carries: the pool key (or connect()'s cacheKey) and the connection's id. */
export interface ConnectionEventBase {
  key: string;
  connectionId: string;
}

/**
 * Every event a manager emits on `manager.events` (a mitt emitter), by name. Each names its
 * key and, where there is one, its connection id. An `error` is always an `Error`: a value of
 * another kind that was thrown (a factory that throws a string) arrives wrapped in an Error
 * whose `cause` is that value.
 */
export type ManagerEvents = {
  /** A pool was created for a key (its first acquire). */
  'pool:created': { key: string; config: PoolSettings };
  /** A later call changed a key's configuration. */
  'pool:resized': { key: string; config: PoolSettings; previous: PoolSettings };
  /** A connection was lent. `fromIdle`: it was waiting in the pool. Emitted only while listened to. */
  'pool:acquired': ConnectionEventBase & { fromIdle: boolean; waitedMs: number };
  /** A connection came back. Emitted only while listened to. */
  'pool:released': ConnectionEventBase;
  /**
   * An acquire got no connection within acquireTimeout. `lastError`: the key's last create error
   * since its last successful create, if any (the database is down, not just busy).
   */
  'pool:timeout': { key: string; waitedMs: number; lastError: unknown };
  /** A lease was held longer than `leakDetectionThreshold` (reported once per lease). `stack`: where it was acquired. */
  'pool:leak': ConnectionEventBase & { heldMs: number; stack: string };
  /** An acquire rejected: the factory failed, it was aborted, or shutdown began. */
  'pool:rejected': { key: string; error: Error };
  'pool:draining': { key: string };
  'pool:closed': { key: string };
  /** An attempt to create (or reconnect) a connection starts. `attempt` is 1-based. */
  'connection:connecting': ConnectionEventBase & { attempt: number };
  /** A connection is open: created for a pool, connected by connect(), or reconnected. */
  'connection:connected': ConnectionEventBase & { attempt: number; reconnected: boolean };
  /** An attempt failed and the retry strategy waits `delay` ms before attempt `attempt + 1`. */
  'connection:backoff': ConnectionEventBase & { attempt: number; delay: number; error: Error };
  /**
   * A network or factory error: a failed attempt, or a connection that broke. `code` is Node's
   * (ECONNREFUSED, ECONNRESET, ETIMEDOUT, ENOTFOUND, a TLS code, ...) when there is one.
   */
  'connection:error': ConnectionEventBase & { attempt: number; code: string | undefined; error: Error };
  /** A create or (re)connection gave up after `attempts` attempts. */
  'connection:failed': ConnectionEventBase & { attempts: number; error: Error };
  /** A connection closed or failed on its own (the peer closed it, a reset, ...). `error`: none if it closed cleanly. */
  'connection:disconnected': ConnectionEventBase & { error: Error | undefined };
  /** A connection's resource was destroyed. `error`: what broke it, if anything did. */
  'connection:closed': ConnectionEventBase & { reason: CloseReason; error: Error | undefined };
  'cache:hit': { key: string };
  'cache:miss': { key: string; connectionId: string };
  'cache:eviction': ConnectionEventBase;
  'cache:expiration': ConnectionEventBase & { reason: 'ttl' | 'idle' };
  'manager:shutdown': { phase: 'started' | 'forced' | 'completed' };
  /** A listener threw. It was isolated: the library and other listeners carried on. */
  'listener:error': { event: string; error: Error };
};

export type ManagerEventName = keyof ManagerEvents;

/** The network events: `connection:connecting`, `connection:connected`, ... (the delegate's methods, without the prefix). */
export type ConnectionEventName = Extract<ManagerEventName, `connection:${string}`>;

/**
 * The seed's delegate: an object with one method per network event, called with the same
 * payload as `manager.events`. Every method is optional; one that throws is isolated.
 */
export type NetworkEventDelegate = {
  [K in ConnectionEventName as K extends `connection:${infer Method}` ? Method : never]?: (
    event: ManagerEvents[K],
  ) => void;
};

/**
 * An Error for any thrown value: an Error as it is, anything else wrapped in an Error whose
 * `cause` is the value (a string thrown becomes the message too).
 */
export function toError(value: unknown): Error {
  if (value instanceof Error || utilTypes.isNativeError(value)) return value as Error;
  const message = typeof value === 'string' ? value : `a non-Error value was thrown: ${describeThrown(value)}`;
  return new Error(message, { cause: value });
}

function describeThrown(value: unknown): string {
  if (value === null || value === undefined) return String(value);
  if (typeof value === 'object') return Array.isArray(value) ? 'an array' : 'an object';
  if (typeof value === 'function') return 'a function';
  return `${typeof value} ${String(value)}`;
}

/** Options of `manager.events.once()`. */
export interface OnceOptions<T> {
  /** Rejects the wait with an AbortError (whose `cause` is the signal's reason) and stops listening. */
  signal?: AbortSignal;
  /** Resolve only with an event that passes; others are skipped. If it throws, the wait rejects with that. */
  filter?: (event: T) => boolean;
}

/** `manager.events`: mitt's typed emitter, plus `once`. */
export interface ManagerEmitter extends Emitter<ManagerEvents> {
  /**
   * Resolves with the next `type` event (that passes `options.filter`), then stops listening.
   * With `options.signal`, rejects with an AbortError when it aborts.
   */
  once<K extends ManagerEventName>(type: K, options?: OnceOptions<ManagerEvents[K]>): Promise<ManagerEvents[K]>;
}

/** What the library emits: a payload whose `error`, if it has one, may still be any thrown value. */
type EventInput<K extends ManagerEventName> = ManagerEvents[K] extends { error: unknown }
  ? Omit<ManagerEvents[K], 'error'> & { error: unknown }
  : ManagerEvents[K];

/**
 * Emits through mitt, but isolates listeners: one that throws is reported as
 * `listener:error` (or on stderr if that listener throws too) and never reaches the caller,
 * since emits happen inside state machine transitions.
 */
export class EventHub {
  readonly emitter: ManagerEmitter = Object.assign(mitt<ManagerEvents>(), {
    once: <K extends ManagerEventName>(type: K, options?: OnceOptions<ManagerEvents[K]>) => this.once(type, options),
  });
  delegate: NetworkEventDelegate | undefined;

  /**
   * Cheap check for the hot path: build an event's payload only if someone listens, on
   * `manager.events` or on the event's diagnostics channel.
   */
  listening(type: ManagerEventName): boolean {
    const all = this.emitter.all;
    // Nobody ever subscribed (the common case on the hot path): no lookup by type.
    if (all.size > 0 && ((all.get(type)?.length ?? 0) > 0 || (all.get('*')?.length ?? 0) > 0)) return true;
    return channelOf(type).hasSubscribers;
  }

  /** Whether a network event would reach anyone: a listener, a channel subscriber, or the delegate. */
  wants(type: ConnectionEventName): boolean {
    if (this.listening(type)) return true;
    const delegate = this.delegate;
    return delegate !== undefined && typeof (delegate as Record<string, unknown>)[type.slice('connection:'.length)] === 'function';
  }

  /** Network events go to the listeners and to the delegate's method of the same name. */
  emitConnection<K extends ConnectionEventName>(type: K, payload: ManagerEvents[K]): void {
    this.emit(type, payload as EventInput<K>);
    const delegate = this.delegate;
    if (delegate === undefined) return;
    const method = (delegate as Record<string, unknown>)[type.slice('connection:'.length)];
    if (typeof method !== 'function') return;
    try {
      (method as (event: ManagerEvents[K]) => void).call(delegate, payload);
    } catch (error) {
      this.reportListenerError(`delegate.${type.slice('connection:'.length)}`, error);
    }
  }

  /**
   * Calls the listeners, then publishes on the event's diagnostics channel if it has
   * subscribers. An `error` that is not an Error is wrapped first (see toError).
   */
  emit<K extends ManagerEventName>(type: K, input: EventInput<K>): void {
    const loose = input as { error?: unknown };
    if (loose.error !== undefined && !(loose.error instanceof Error)) loose.error = toError(loose.error);
    const payload = input as ManagerEvents[K];
    const all = this.emitter.all;
    const handlers = all.get(type) as Handler<ManagerEvents[K]>[] | undefined;
    if (handlers !== undefined && handlers.length > 0) {
      for (const handler of handlers.slice()) {
        try {
          handler(payload);
        } catch (error) {
          this.reportListenerError(type, error);
        }
      }
    }
    const wildcard = all.get('*') as WildcardHandler<ManagerEvents>[] | undefined;
    if (wildcard !== undefined && wildcard.length > 0) {
      for (const handler of wildcard.slice()) {
        try {
          handler(type, payload);
        } catch (error) {
          this.reportListenerError(type, error);
        }
      }
    }
    const channel = channelOf(type);
    if (channel.hasSubscribers) channel.publish(payload);
  }

  private once<K extends ManagerEventName>(type: K, options: OnceOptions<ManagerEvents[K]> = {}): Promise<ManagerEvents[K]> {
    const { signal, filter } = options;
    if (signal?.aborted) return Promise.reject(new AbortError('events.once was aborted', { cause: signal.reason }));
    return new Promise<ManagerEvents[K]>((resolve, reject) => {
      const stop = (): void => {
        this.emitter.off(type, handler);
        signal?.removeEventListener('abort', onAbort);
      };
      const handler: Handler<ManagerEvents[K]> = (event) => {
        try {
          if (filter !== undefined && !filter(event)) return;
        } catch (error) {
          stop();
          reject(error);
          return;
        }
        stop();
        resolve(event);
      };
      const onAbort = (): void => {
        stop();
        reject(new AbortError('events.once was aborted', { cause: signal?.reason }));
      };
      this.emitter.on(type, handler);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  private reportListenerError(event: string, error: unknown): void {
    if (event === 'listener:error') {
      // A listener of listener:error threw: nowhere left to report it but stderr.
      console.error('connection-manager-kit: a listener:error listener threw', error);
      return;
    }
    if (this.listening('listener:error')) this.emit('listener:error', { event, error: toError(error) });
    else console.error(`connection-manager-kit: a '${event}' listener threw`, error);
  }
}
