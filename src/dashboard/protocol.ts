/**
 * What the dashboard's server sends its page over the WebSocket: one JSON message per flush
 * (at most ten a second), each a batch of changes since the previous one. Shared with the
 * page (its JSDoc types import this file), so it imports only types, and none from the library
 * (the page's type check would pull the whole library in).
 *
 * The subtleties:
 * - Actors are keyed by XState's `sessionId`, unique for the life of the process, not by
 *   their `id`: a connection id like `api#3` is unique within a manager only while its pool
 *   lives, and the manager's own id is a generated `x:0`.
 * - With a thousand connections busy, most of a batch is state changes and timers restarted,
 *   so those travel as tuples, and timer event names once per batch (`timerEvents`): a
 *   batch is then about half the size it would be as objects.
 */
import type { Plain } from './serialize.js';

export type ActorKind = 'manager' | 'pool' | 'connection' | 'link';

/** One live actor as the page shows it. */
export interface ActorRow {
  /** XState's sessionId: the row's identity. */
  sid: string;
  /** The actor's id (`pool:api`, `api#3`, ...). */
  id: string;
  kind: ActorKind;
  /** The pool key (pools, connections, links). */
  key: string | null;
  /** The parent actor's id (the manager's for pools and links, the pool's for connections). */
  parent: string | null;
  /** Which chart draws it (a machine id with a layout in charts.json), or null. */
  machine: string | null;
  /** XState's snapshot status: `active`, `done`, `error`, `stopped`. */
  status: string;
  /** The active leaf states, as dot-joined paths (`running.coolingDown`). */
  state: string[];
  /** The snapshot's context, serialised within limits. */
  context: Plain;
}

/** An actor whose state or status changed, its context not: `[sid, status, state]`. */
export type StateChange = [sid: string, status: string, state: string[]];

/** A pending timer as sent: `[index into the batch's timerEvents, delayMs, startedAt]`. */
export type TimerTuple = [event: number, delayMs: number, startedAt: number];

/** A pending delayed event of an actor: an `after` timer, or a delayed send. */
export interface PendingTimer {
  /** The event that will be delivered (`xstate.after.<delay>.<state id>` for `after`). */
  event: string;
  delayMs: number;
  /** Server wall-clock time (ms since the epoch) the timer was started. */
  startedAt: number;
}

/** `connectionCache.stats(key)` as sent: its fields, whatever they are (counts, and the key). */
export type PoolStatsView = Record<string, number | string>;

export interface LogEntry {
  /** Increases by one per entry, from the dashboard's start. */
  seq: number;
  /** Server wall-clock time, ms since the epoch. */
  at: number;
  /** `xstate`: an event delivered to an actor (inspection); `manager`: a `manager.events` event. */
  source: 'xstate' | 'manager';
  /** The event's type (`CONNECTION.READY`) or the manager event's name (`connection:error`). */
  type: string;
  /** The pool key it concerns, when known. */
  key: string | null;
  /** xstate: the receiving actor's id (`manager` for the manager); manager: the connection id, if any. */
  actor: string | null;
  /** xstate: the sending actor's id (`manager` for the manager), if an actor sent it. */
  from: string | null;
  /** The payload (the event without its type), serialised within limits. */
  data: Plain;
}

/** One chart's availability, as the server found it at start. */
export interface ChartStatus {
  machine: string;
  /** `shipped`: the precomputed layout; `computed`: laid out at start (it was stale); `stale`: none usable. */
  layout: 'shipped' | 'computed' | 'stale';
}

export interface BatchMessage {
  type: 'batch';
  /** A full state: the page drops what it had (first message, or after the page fell behind). */
  reset: boolean;
  /** Server wall-clock time when the batch was made, ms since the epoch. */
  now: number;
  /** New actors, and actors whose context changed. */
  upsert: ActorRow[];
  /** Actors whose state or status changed, and nothing else. */
  states: StateChange[];
  /** sessionIds of actors gone. */
  remove: string[];
  /** Actors whose pending timers changed, by sessionId (an empty list: none pending). */
  timers: Record<string, TimerTuple[]>;
  /** The event names the batch's timers refer to. */
  timerEvents: string[];
  /** Pool statistics that changed, by key (`connectionCache.stats(key)`: counts, and the key). */
  stats: Record<string, PoolStatsView>;
  log: LogEntry[];
  /** Log entries left out of this batch (more than one batch carries), or since the page fell behind. */
  logDropped: number;
  /** Sent with `reset`: the charts and how they were laid out. */
  charts?: ChartStatus[];
}

export type ServerMessage = BatchMessage;
