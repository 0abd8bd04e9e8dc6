/**
 * Follows one manager's actors while at least one page is open, and turns what changed into
 * batch messages: which actors came, changed or went, their pending timers, pool statistics,
 * and the event log. It reads only `actorTree()`, `inspectManager()` and the public API.
 *
 * Cost: the inspection observer does constant work per event (a Set insert, an array push);
 * everything else (reading snapshots, serialising, diffing) happens once per flush, at most
 * ten times a second, however many transitions happened meanwhile. Nothing is subscribed
 * while no page is open: an attached inspector halves XState's event throughput.
 *
 * The subtleties:
 * - Structure comes from `actorTree()`, re-read when an actor was created or stopped (an
 *   `@xstate.actor` event, or a snapshot whose status is no longer `active`), and every two
 *   seconds as a safety net. Inspection events only mark actors dirty, by sessionId; the
 *   rows are built from each actor's current snapshot at flush time.
 * - A connection can be created and stopped between two flushes (a refused connect fails in
 *   a millisecond), so it is never in a tree we read. Its log entries still get a key: from the
 *   nearest ancestor we know, through the inspected actor's `_parent` (an XState internal the
 *   inspection events carry).
 * - Pending timers are read from the actor system's scheduler (`system.getSnapshot()
 *   ._scheduledEvents`, in XState's public types but underscored; test/dashboard.watcher.test.ts
 *   guards the assumption). Their `startedAt` is XState's `Date.now()` whatever the clock.
 */
import type { AnyActorRef, InspectionEvent } from 'xstate';
import type { ConnectionManager } from '../manager.js';
import type { ManagerEventName, ManagerEvents } from '../events.js';
import { actorTree, inspectManager, type ActorNode } from '../introspection.js';
import type { ActorRow, BatchMessage, ChartStatus, LogEntry, PendingTimer, PoolStatsView } from './protocol.js';
import { CONTEXT_LIMITS, EVENT_LIMITS, toPlain, type Plain } from './serialize.js';

/** Log entries one batch carries at most; the rest are counted as dropped. */
export const LOG_PER_BATCH = 1000;
/** Log entries kept for a page that opens later. */
export const LOG_HISTORY = 1000;
/** Re-read the actor tree at least this often, ms, even without a hint that it changed. */
const RECONCILE_MS = 2000;

/**
 * The manager events the log shows. `false`: left out because they fire on every checkout
 * and are built only while someone listens (src/events.ts): listening would cost the hot
 * path; the pool's counts show them instead. A Record over every event name, so a new event
 * fails the type check until someone decides.
 */
const LOGGED_MANAGER_EVENTS: Record<ManagerEventName, boolean> = {
  'pool:created': true,
  'pool:resized': true,
  'pool:acquired': false,
  'pool:released': false,
  'pool:timeout': true,
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

interface Tracked {
  node: ActorNode;
  row: ActorRow;
  /** The row as last sent, as JSON: a change is a different string. */
  sent: string;
  timers: string;
}

interface PendingEvent {
  at: number;
  target: AnyActorRef;
  /** The sending actor's id, if an actor sent it. */
  source: string | null;
  event: { type: string };
}

interface PendingManagerEvent {
  at: number;
  name: ManagerEventName;
  payload: unknown;
}

/** Structural view of what the watcher reads off an actor ref beyond the public ActorRef. */
interface RefInternals {
  _parent?: AnyActorRef;
  logic?: { id?: unknown; root?: unknown };
}

const machineLogic = (ref: AnyActorRef): RefInternals['logic'] => (ref as unknown as RefInternals).logic;

/** The active leaf states of a snapshot value, as dot-joined paths. */
export function leafPaths(value: unknown): string[] {
  const out: string[] = [];
  const walk = (v: unknown, prefix: string): void => {
    if (typeof v === 'string') {
      out.push(prefix === '' ? v : `${prefix}.${v}`);
      return;
    }
    if (v === null || typeof v !== 'object') return;
    const entries = Object.entries(v);
    if (entries.length === 0 && prefix !== '') out.push(prefix);
    for (const [k, child] of entries) walk(child, prefix === '' ? k : `${prefix}.${k}`);
  };
  walk(value, '');
  return out;
}

export interface WatcherOptions {
  /** Machine ids with a chart, so rows name the chart that draws them. */
  charts: readonly ChartStatus[];
}

export class ManagerWatcher {
  private readonly tracked = new Map<string, Tracked>();
  /** Actors stopped recently, for late log entries: sessionId → key. Bounded. */
  private readonly recentKeys = new Map<string, string | null>();
  private readonly dirty = new Set<string>();
  private structureDirty = true;
  private lastReconcile = 0;
  private events: PendingEvent[] = [];
  private managerEvents: PendingManagerEvent[] = [];
  private pendingDropped = 0;
  private readonly history: LogEntry[] = [];
  private seq = 0;
  private readonly sentStats = new Map<string, string>();
  private unsubscribe: (() => void) | undefined;
  /** The manager's actor, whose system holds every timer. */
  private root: AnyActorRef | undefined;
  private readonly chartIds: Set<string>;

  constructor(
    private readonly manager: ConnectionManager,
    options: WatcherOptions,
  ) {
    this.chartIds = new Set(options.charts.map((c) => c.machine));
  }

  get watching(): boolean {
    return this.unsubscribe !== undefined;
  }

  /** Subscribes to the manager (inspection and events). */
  start(): void {
    if (this.unsubscribe !== undefined) return;
    const stopInspecting = inspectManager(this.manager, (event) => this.onInspection(event));
    const handlers: Array<[ManagerEventName, (payload: unknown) => void]> = [];
    for (const [name, logged] of Object.entries(LOGGED_MANAGER_EVENTS) as Array<[ManagerEventName, boolean]>) {
      if (!logged) continue;
      const handler = (payload: unknown): void => this.onManagerEvent(name, payload);
      this.manager.events.on(name, handler as (payload: ManagerEvents[typeof name]) => void);
      handlers.push([name, handler]);
    }
    this.structureDirty = true;
    this.unsubscribe = () => {
      stopInspecting();
      for (const [name, handler] of handlers) this.manager.events.off(name, handler as (payload: ManagerEvents[typeof name]) => void);
    };
  }

  /** Unsubscribes and forgets everything (a page opened later starts afresh). */
  stop(): void {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    this.tracked.clear();
    this.recentKeys.clear();
    this.dirty.clear();
    this.events = [];
    this.managerEvents = [];
    this.pendingDropped = 0;
    this.history.length = 0;
    this.sentStats.clear();
    this.structureDirty = true;
    this.root = undefined;
  }

  private onInspection(event: InspectionEvent): void {
    switch (event.type) {
      case '@xstate.snapshot': {
        const sid = event.actorRef.sessionId;
        this.dirty.add(sid);
        if ((event.snapshot as { status?: unknown }).status !== 'active' && this.tracked.has(sid)) this.structureDirty = true;
        break;
      }
      case '@xstate.actor':
        this.structureDirty = true;
        break;
      case '@xstate.event':
        if (this.events.length < LOG_PER_BATCH) {
          const from = (event.sourceRef as { id?: unknown } | undefined)?.id;
          this.events.push({ at: Date.now(), target: event.actorRef as AnyActorRef, source: typeof from === 'string' ? from : null, event: event.event });
        } else {
          this.pendingDropped++;
        }
        break;
      default:
        break;
    }
  }

  private onManagerEvent(name: ManagerEventName, payload: unknown): void {
    if (this.managerEvents.length < LOG_PER_BATCH) this.managerEvents.push({ at: Date.now(), name, payload });
    else this.pendingDropped++;
  }

  /**
   * Everything, for a page that just connected. Call `flush()` first and send its changes to
   * the pages already open: this reads the state as of the last flush.
   */
  full(charts: ChartStatus[]): BatchMessage {
    const upsert = [...this.tracked.values()].map((t) => t.row);
    const timers: Record<string, PendingTimer[]> = {};
    for (const [sid, list] of this.readTimers()) timers[sid] = list;
    const stats: Record<string, PoolStatsView> = {};
    for (const key of this.manager.connectionCache.keys()) {
      const s = this.statsOf(key);
      if (s !== undefined) stats[key] = s;
    }
    return {
      type: 'batch',
      reset: true,
      now: Date.now(),
      upsert,
      remove: [],
      timers,
      stats,
      log: [...this.history],
      logDropped: 0,
      charts,
    };
  }

  /** What changed since the last flush; `undefined` when nothing did. */
  flush(): BatchMessage | undefined {
    if (this.unsubscribe === undefined) return undefined;
    const now = Date.now();
    const upsert: ActorRow[] = [];
    const remove: string[] = [];
    const activity = this.dirty.size > 0 || this.events.length > 0 || this.structureDirty;
    if (this.structureDirty || now - this.lastReconcile >= RECONCILE_MS) this.reconcile(upsert, remove);
    for (const sid of this.dirty) {
      const t = this.tracked.get(sid);
      if (t === undefined) continue;
      t.row = this.rowOf(t.node);
      const json = JSON.stringify(t.row);
      if (json !== t.sent) {
        t.sent = json;
        upsert.push(t.row);
      }
    }
    this.dirty.clear();

    const timers: Record<string, PendingTimer[]> = {};
    if (activity) {
      const current = this.readTimers();
      for (const [sid, t] of this.tracked) {
        const list = current.get(sid) ?? [];
        const json = list.length === 0 ? '' : JSON.stringify(list);
        if (json !== t.timers) {
          t.timers = json;
          timers[sid] = list;
        }
      }
    }

    const stats: Record<string, PoolStatsView> = {};
    for (const key of this.manager.connectionCache.keys()) {
      const s = this.statsOf(key);
      if (s === undefined) continue;
      const json = JSON.stringify(s);
      if (this.sentStats.get(key) !== json) {
        this.sentStats.set(key, json);
        stats[key] = s;
      }
    }

    const log = this.drainLog();
    const logDropped = this.pendingDropped;
    this.pendingDropped = 0;
    if (
      upsert.length === 0 &&
      remove.length === 0 &&
      Object.keys(timers).length === 0 &&
      Object.keys(stats).length === 0 &&
      log.length === 0 &&
      logDropped === 0
    ) {
      return undefined;
    }
    return { type: 'batch', reset: false, now, upsert, remove, timers, stats, log, logDropped };
  }

  private reconcile(upsert: ActorRow[], remove: string[]): void {
    this.structureDirty = false;
    this.lastReconcile = Date.now();
    const seen = new Set<string>();
    for (const node of actorTree(this.manager)) {
      if (node.kind === 'manager') this.root = node.ref;
      const sid = node.ref.sessionId;
      seen.add(sid);
      if (this.tracked.has(sid)) continue;
      const row = this.rowOf(node);
      const sent = JSON.stringify(row);
      this.tracked.set(sid, { node, row, sent, timers: '' });
      upsert.push(row);
      this.dirty.delete(sid);
    }
    for (const [sid, t] of this.tracked) {
      if (seen.has(sid)) continue;
      this.tracked.delete(sid);
      this.remember(sid, t.node.key ?? null);
      remove.push(sid);
    }
  }

  private remember(sid: string, key: string | null): void {
    this.recentKeys.set(sid, key);
    if (this.recentKeys.size > 4096) {
      const oldest = this.recentKeys.keys().next().value;
      if (oldest !== undefined) this.recentKeys.delete(oldest);
    }
  }

  private rowOf(node: ActorNode): ActorRow {
    const snapshot = node.ref.getSnapshot() as { status?: unknown; value?: unknown; context?: unknown };
    const logicId = machineLogic(node.ref)?.id;
    const machine = typeof logicId === 'string' && this.chartIds.has(logicId) ? logicId : null;
    return {
      sid: node.ref.sessionId,
      id: node.ref.id,
      kind: node.kind,
      key: node.key ?? null,
      parent: node.parentId ?? null,
      machine,
      status: typeof snapshot.status === 'string' ? snapshot.status : 'unknown',
      state: leafPaths(snapshot.value),
      context: toPlain(snapshot.context, CONTEXT_LIMITS),
    };
  }

  private statsOf(key: string): PoolStatsView | undefined {
    const stats = this.manager.connectionCache.stats(key);
    if (stats === undefined) return undefined;
    const out: PoolStatsView = {};
    for (const [name, value] of Object.entries(stats)) {
      if (typeof value === 'number' || typeof value === 'string') out[name] = value;
    }
    return out;
  }

  /** Pending timers with a finite delay, by the sessionId of the actor they belong to. */
  readTimers(): Map<string, PendingTimer[]> {
    const out = new Map<string, PendingTimer[]>();
    const scheduled = this.root?.system.getSnapshot()._scheduledEvents;
    if (scheduled === undefined || scheduled === null || typeof scheduled !== 'object') return out;
    for (const s of Object.values(scheduled)) {
      if (!Number.isFinite(s.delay) || s.source === undefined) continue;
      const sid = s.source.sessionId;
      if (!this.tracked.has(sid)) continue;
      const list = out.get(sid) ?? [];
      list.push({ event: s.event.type, delayMs: s.delay, startedAt: s.startedAt });
      out.set(sid, list);
    }
    for (const list of out.values()) list.sort((a, b) => a.event.localeCompare(b.event));
    return out;
  }

  /** The pool key an actor concerns: its own, or its nearest known ancestor's. */
  private keyOf(ref: AnyActorRef | undefined): string | null {
    for (let r = ref, depth = 0; r !== undefined && depth < 8; r = (r as unknown as RefInternals)._parent, depth++) {
      const t = this.tracked.get(r.sessionId);
      if (t !== undefined) return t.node.key ?? null;
      const recent = this.recentKeys.get(r.sessionId);
      if (recent !== undefined) return recent;
    }
    return null;
  }

  private drainLog(): LogEntry[] {
    const entries: Array<LogEntry> = [];
    // The manager's id is generated (`x:0`): the page calls it what it is.
    const rootId = this.root?.id;
    const name = (id: string | null): string | null => (id !== null && id === rootId ? 'manager' : id);
    for (const e of this.events) {
      // Events inside promise and callback actors (their start, their result) are the
      // machinery of an invoke; the machine's own done/error event says the same.
      if (machineLogic(e.target)?.root === undefined) continue;
      const { type, ...rest } = e.event;
      entries.push({
        seq: 0,
        at: e.at,
        source: 'xstate',
        type,
        key: this.keyOf(e.target),
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
        data: toPlain(e.payload, EVENT_LIMITS) as Plain,
      });
    }
    this.events = [];
    this.managerEvents = [];
    entries.sort((a, b) => a.at - b.at);
    for (const entry of entries) entry.seq = ++this.seq;
    this.history.push(...entries);
    if (this.history.length > LOG_HISTORY) this.history.splice(0, this.history.length - LOG_HISTORY);
    return entries;
  }
}
