import mittImport, { type Emitter, type EventType, type Handler, type WildcardHandler } from 'mitt';
import type { CloseReason } from '../machines/connection.machine.js';
import type { PoolSettings } from './config.js';

/**
 * mitt's types describe an ES module but live in a package typed as CommonJS, so under
 * NodeNext TypeScript sees its default export one level down. At run time the ESM import is
 * the function itself; this takes whichever shape arrives.
 */
export const mitt = ((mittImport as unknown as { default?: unknown }).default ?? mittImport) as <
  E extends Record<EventType, unknown>,
>() => Emitter<E>;

interface ConnectionEventBase {
  key: string;
  connectionId: string;
}

/**
 * Every event a manager emits on `manager.events` (a mitt emitter), by name. Each names its
 * key and, where there is one, its connection id.
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
  'connection:backoff': ConnectionEventBase & { attempt: number; delay: number; error: unknown };
  /**
   * A network or factory error: a failed attempt, or a connection that broke. `code` is Node's
   * (ECONNREFUSED, ECONNRESET, ETIMEDOUT, ENOTFOUND, a TLS code, ...) when there is one.
   */
  'connection:error': ConnectionEventBase & { attempt: number; code: string | undefined; error: unknown };
  /** A create or (re)connection gave up after `attempts` attempts. */
  'connection:failed': ConnectionEventBase & { attempts: number; error: unknown };
  /** A connection closed or failed on its own (the peer closed it, a reset, ...). */
  'connection:disconnected': ConnectionEventBase & { error: unknown };
  /** A connection's resource was destroyed. */
  'connection:closed': ConnectionEventBase & { reason: CloseReason; error: unknown };
  'cache:hit': { key: string };
  'cache:miss': { key: string; connectionId: string };
  'cache:eviction': ConnectionEventBase;
  'cache:expiration': ConnectionEventBase & { reason: 'ttl' | 'idle' };
  'manager:shutdown': { phase: 'started' | 'forced' | 'completed' };
  /** A listener threw. It was isolated: the library and other listeners carried on. */
  'listener:error': { event: string; error: unknown };
};

export type ManagerEventName = keyof ManagerEvents;

type ConnectionEventName = Extract<ManagerEventName, `connection:${string}`>;
type DelegateMethod<K extends ConnectionEventName> = K extends `connection:${infer M}` ? M : never;

/**
 * The seed's delegate: an object with one method per network event, called with the same
 * payload as `manager.events`. Every method is optional; one that throws is isolated.
 */
export type NetworkEventDelegate = {
  [K in ConnectionEventName as DelegateMethod<K>]?: (event: ManagerEvents[K]) => void;
};

/** Node's error code of an error, if it has one (string `code`, also on a `cause`). */
export function errorCodeOf(error: unknown): string | undefined {
  for (let e: unknown = error, depth = 0; e !== null && typeof e === 'object' && depth < 4; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}
export type ManagerEmitter = Emitter<ManagerEvents>;

/**
 * Emits through mitt, but isolates listeners: one that throws is reported as
 * `listener:error` (or on stderr if that listener throws too) and never reaches the caller,
 * since emits happen inside state machine transitions.
 */
export class EventHub {
  readonly emitter: ManagerEmitter = mitt<ManagerEvents>();
  delegate: NetworkEventDelegate | undefined;

  /** Cheap check for the hot path: build an event's payload only if someone listens. */
  listening(type: ManagerEventName): boolean {
    const all = this.emitter.all;
    return (all.get(type)?.length ?? 0) > 0 || (all.get('*')?.length ?? 0) > 0;
  }

  /** Network events go to the listeners and to the delegate's method of the same name. */
  emitConnection<K extends ConnectionEventName>(type: K, payload: ManagerEvents[K]): void {
    this.emit(type, payload);
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

  emit<K extends ManagerEventName>(type: K, payload: ManagerEvents[K]): void {
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
  }

  private reportListenerError(event: string, error: unknown): void {
    if (event === 'listener:error') {
      // A listener of listener:error threw: nowhere left to report it but stderr.
      console.error('connection-manager-kit: a listener:error listener threw', error);
      return;
    }
    if (this.listening('listener:error')) this.emit('listener:error', { event, error });
    else console.error(`connection-manager-kit: a '${event}' listener threw`, error);
  }
}
