/**
 * The dashboard's event log: events delivered to actors (from inspection) and the manager's
 * own events, collected between flushes and turned into log entries at each flush. Keeps the
 * last entries for a page that opens later.
 *
 * Cost: collecting is an array push (payloads are serialised at flush, never per event), and a
 * flush carries at most LOG_PER_BATCH entries: beyond that they are counted as dropped, since
 * no one reads thousands of events a second and the page must stay responsive.
 *
 * The one subtlety: an event's key is resolved at flush time, by the watcher, from the actor
 * that received it (or its nearest known ancestor): the actor may already be gone by then.
 */
import type { AnyActorRef } from 'xstate';
import type { ManagerEventName } from '../events.js';
import type { LogEntry } from './protocol.js';
import { EVENT_LIMITS, toPlain } from './serialize.js';

/** Log entries one batch carries at most; the rest are counted as dropped. */
export const LOG_PER_BATCH = 250;
/** Log entries kept for a page that opens later. */
export const LOG_HISTORY = 1000;

/**
 * The manager events the log shows. `false`: left out because they fire on every checkout
 * and are built only while someone listens (src/events.ts): listening would cost the hot
 * path; the pool's counts show them instead. A Record over every event name, so a new event
 * fails the type check until someone decides.
 */
export const LOGGED_MANAGER_EVENTS: Record<ManagerEventName, boolean> = {
  'pool:created': true,
  'pool:resized': true,
  'pool:acquired': false,
  'pool:released': false,
  'pool:timeout': true,
  'pool:leak': true,
  'pool:rejected': true,
  'pool:draining': true,
  'pool:closed': true,
  'connection:connecting': true,
  'connection:connected': true,
  'connection:backoff': true,
  'connection:error': true,
  'connection:failed': true,
  'connection:disconnected': true,
  'connection:closed': true,
  'cache:hit': false,
  'cache:miss': true,
  'cache:eviction': true,
  'cache:expiration': true,
  'manager:shutdown': true,
  'listener:error': true,
};

interface ActorEvent {
  at: number;
  target: AnyActorRef;
  /** The sending actor's id, if an actor sent it. */
  source: string | null;
  event: { type: string };
}

interface ManagerEvent {
  at: number;
  name: ManagerEventName;
  payload: unknown;
}

/** What the log needs to know from the watcher at flush time. */
export interface LogContext {
  /** The pool key an actor concerns (its own, or its nearest known ancestor's), if any. */
  keyOf(ref: AnyActorRef): string | null;
  /** The manager actor's id (shown as `manager`). */
  managerId: string | undefined;
}

/** Whether an actor runs a state machine (not a promise or callback actor of an invoke). */
const isMachine = (ref: AnyActorRef): boolean => (ref as unknown as { logic?: { root?: unknown } }).logic?.root !== undefined;

export class EventLog {
  private actorEvents: ActorEvent[] = [];
  private managerEvents: ManagerEvent[] = [];
  private dropped = 0;
  private seq = 0;
  /** The last LOG_HISTORY entries, oldest first. */
  readonly history: LogEntry[] = [];

  /** An event delivered to `target` (an `@xstate.event` inspection event). */
  actorEvent(target: AnyActorRef, source: unknown, event: { type: string }): void {
    if (this.actorEvents.length >= LOG_PER_BATCH) {
      this.dropped++;
      return;
    }
    const from = (source as { id?: unknown } | undefined)?.id;
    this.actorEvents.push({ at: Date.now(), target, source: typeof from === 'string' ? from : null, event });
  }

  managerEvent(name: ManagerEventName, payload: unknown): void {
    if (this.managerEvents.length >= LOG_PER_BATCH) {
      this.dropped++;
      return;
    }
    this.managerEvents.push({ at: Date.now(), name, payload });
  }

  /** The entries collected since the last drain (at most LOG_PER_BATCH), and how many were dropped. */
  drain(context: LogContext): { entries: LogEntry[]; dropped: number } {
    const name = (id: string | null): string | null => (id !== null && id === context.managerId ? 'manager' : id);
    const entries: LogEntry[] = [];
    for (const e of this.actorEvents) {
      // Events inside promise and callback actors (their start, their result) are the
      // machinery of an invoke; the machine's own done/error event says the same.
      if (!isMachine(e.target)) continue;
      const { type, ...rest } = e.event;
      entries.push({
        seq: 0,
        at: e.at,
        source: 'xstate',
        type,
        key: context.keyOf(e.target),
        actor: name(e.target.id),
        from: name(e.source),
        data: toPlain(rest, EVENT_LIMITS),
      });
    }
    for (const e of this.managerEvents) {
      const payload = (e.payload ?? {}) as { key?: unknown; connectionId?: unknown };
      entries.push({
        seq: 0,
        at: e.at,
        source: 'manager',
        type: e.name,
        key: typeof payload.key === 'string' ? payload.key : null,
        actor: typeof payload.connectionId === 'string' ? payload.connectionId : null,
        from: null,
        data: toPlain(e.payload, EVENT_LIMITS),
      });
    }
    // Stable: within one millisecond, actor events keep their order, then the manager's.
    entries.sort((a, b) => a.at - b.at);
    for (const entry of entries) entry.seq = ++this.seq;
    this.history.push(...entries);
    if (this.history.length > LOG_HISTORY) this.history.splice(0, this.history.length - LOG_HISTORY);
    const dropped = this.dropped;
    this.actorEvents = [];
    this.managerEvents = [];
    this.dropped = 0;
    return { entries, dropped };
  }

  clear(): void {
    this.actorEvents = [];
    this.managerEvents = [];
    this.dropped = 0;
    this.history.length = 0;
  }
}
