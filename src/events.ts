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
  /** An acquire resolved `null`: nothing became available within acquireTimeout. */
  'pool:timeout': { key: string; waitedMs: number };
  /** An acquire rejected: the factory failed, it was aborted, or shutdown began. */
  'pool:rejected': { key: string; error: Error };
  'pool:draining': { key: string };
  'pool:closed': { key: string };
  /** A connection is being created. */
  'connection:connecting': ConnectionEventBase;
  /** A connection was created and is ready. */
  'connection:connected': ConnectionEventBase;
  /** A create failed. */
  'connection:failed': ConnectionEventBase & { error: unknown };
  /** A connection closed or failed on its own (the resource emitted 'close' or 'error'). */
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
export type ManagerEmitter = Emitter<ManagerEvents>;

/**
 * Emits through mitt, but isolates listeners: one that throws is reported as
 * `listener:error` (or on stderr if that listener throws too) and never reaches the caller,
 * since emits happen inside state machine transitions.
 */
export class EventHub {
  readonly emitter: ManagerEmitter = mitt<ManagerEvents>();

  /** Cheap check for the hot path: build an event's payload only if someone listens. */
  listening(type: ManagerEventName): boolean {
    const all = this.emitter.all;
    return (all.get(type)?.length ?? 0) > 0 || (all.get('*')?.length ?? 0) > 0;
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
