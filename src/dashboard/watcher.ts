/**
 * Follows one manager's actors while at least one page is open, and turns what changed into
 * batch messages: which actors came, changed or went, their pending timers, pool statistics,
 * and the event log (event-log.ts). It reads only `actorTree()`, `inspectManager()` and the
 * public API.
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
import type { ManagerEventName, ManagerEvents } from '../events.js';
import { actorTree, inspectManager, type ActorNode } from '../introspection.js';
import type { ConnectionManager } from '../manager.js';
import { EventLog, LOGGED_MANAGER_EVENTS } from './event-log.js';
import type { ActorRow, BatchMessage, ChartStatus, PendingTimer, PoolStatsView, StateChange, TimerTuple } from './protocol.js';
import { CONTEXT_LIMITS, toPlain } from './serialize.js';

/** Re-read the actor tree at least this often, ms, even without a hint that it changed. */
const RECONCILE_MS = 2000;

interface Tracked {
  node: ActorNode;
  row: ActorRow;
  /** The row's status and state as last sent, as JSON: a change is a different string. */
  sentState: string;
  /** The row's context as last sent, as JSON. */
  sentContext: string;
  /** Its pending timers as last sent, as JSON ('' for none). */
  sentTimers: string;
}

const stateJson = (row: ActorRow): string => JSON.stringify([row.status, row.state]);

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

/** Encodes timers for a batch, each event name once (see protocol.ts). */
class TimerEncoder {
  readonly events: string[] = [];
  private readonly index = new Map<string, number>();

  encode(list: readonly PendingTimer[]): TimerTuple[] {
    return list.map((t) => {
      let i = this.index.get(t.event);
      if (i === undefined) {
        i = this.events.push(t.event) - 1;
        this.index.set(t.event, i);
      }
      return [i, t.delayMs, t.startedAt];
    });
  }
}

export interface WatcherOptions {
  /** The charts the page has, so rows name the chart that draws them. */
  charts: readonly ChartStatus[];
}

export class ManagerWatcher {
  private readonly tracked = new Map<string, Tracked>();
  /** Actors stopped recently, for late log entries: sessionId → key. Bounded. */
  private readonly recentKeys = new Map<string, string | null>();
  private readonly dirty = new Set<string>();
  private structureDirty = true;
  private lastReconcile = 0;
  private readonly log = new EventLog();
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
      const handler = (payload: unknown): void => this.log.managerEvent(name, payload);
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
    this.log.clear();
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
        this.log.actorEvent(event.actorRef as AnyActorRef, event.sourceRef, event.event);
        break;
      default:
        break;
    }
  }

  /**
   * Everything, for a page that just connected. Call `flush()` first and send its changes to
   * the pages already open: this reads the state as of the last flush.
   */
  full(charts: ChartStatus[]): BatchMessage {
    const encoder = new TimerEncoder();
    const timers: Record<string, TimerTuple[]> = {};
    for (const [sid, list] of this.readTimers()) timers[sid] = encoder.encode(list);
    const stats: Record<string, PoolStatsView> = {};
    for (const key of this.manager.connectionCache.keys()) {
      const s = this.statsOf(key);
      if (s !== undefined) stats[key] = s;
    }
    return {
      type: 'batch',
      reset: true,
      now: Date.now(),
      upsert: [...this.tracked.values()].map((t) => t.row),
      states: [],
      remove: [],
      timers,
      timerEvents: encoder.events,
      stats,
      log: [...this.log.history],
      logDropped: 0,
      charts,
    };
  }

  /** What changed since the last flush; `undefined` when nothing did. */
  flush(): BatchMessage | undefined {
    if (this.unsubscribe === undefined) return undefined;
    const now = Date.now();
    const upsert: ActorRow[] = [];
    const states: StateChange[] = [];
    const remove: string[] = [];
    const activity = this.dirty.size > 0 || this.structureDirty;
    if (this.structureDirty || now - this.lastReconcile >= RECONCILE_MS) this.reconcile(upsert, remove);
    for (const sid of this.dirty) {
      const t = this.tracked.get(sid);
      if (t === undefined) continue;
      t.row = this.rowOf(t.node);
      const state = stateJson(t.row);
      const context = JSON.stringify(t.row.context);
      // Most transitions change the state, not the context: the context travels only when it
      // changed.
      if (context !== t.sentContext) {
        t.sentContext = context;
        t.sentState = state;
        upsert.push(t.row);
      } else if (state !== t.sentState) {
        t.sentState = state;
        states.push([t.row.sid, t.row.status, t.row.state]);
      }
    }
    this.dirty.clear();

    // Timers change only in transitions, so only after some activity.
    const encoder = new TimerEncoder();
    const timers: Record<string, TimerTuple[]> = {};
    if (activity) {
      const current = this.readTimers();
      for (const [sid, t] of this.tracked) {
        const list = current.get(sid) ?? [];
        const json = list.length === 0 ? '' : JSON.stringify(list);
        if (json === t.sentTimers) continue;
        t.sentTimers = json;
        timers[sid] = encoder.encode(list);
      }
    }

    const stats: Record<string, PoolStatsView> = {};
    for (const key of this.manager.connectionCache.keys()) {
      const s = this.statsOf(key);
      if (s === undefined) continue;
      const json = JSON.stringify(s);
      if (this.sentStats.get(key) === json) continue;
      this.sentStats.set(key, json);
      stats[key] = s;
    }

    const { entries: log, dropped: logDropped } = this.log.drain({
      keyOf: (ref) => this.keyOf(ref),
      managerId: this.root?.id,
    });
    const changed =
      upsert.length + states.length + remove.length + Object.keys(timers).length + Object.keys(stats).length + log.length + logDropped;
    if (changed === 0) return undefined;
    return { type: 'batch', reset: false, now, upsert, states, remove, timers, timerEvents: encoder.events, stats, log, logDropped };
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
      this.tracked.set(sid, { node, row, sentState: stateJson(row), sentContext: JSON.stringify(row.context), sentTimers: '' });
      upsert.push(row);
      this.dirty.delete(sid);
    }
    for (const [sid, t] of this.tracked) {
      if (seen.has(sid)) continue;
      this.tracked.delete(sid);
      this.recentKeys.set(sid, t.node.key ?? null);
      if (this.recentKeys.size > 4096) {
        const oldest = this.recentKeys.keys().next().value;
        if (oldest !== undefined) this.recentKeys.delete(oldest);
      }
      remove.push(sid);
    }
  }

  private rowOf(node: ActorNode): ActorRow {
    const snapshot = node.ref.getSnapshot() as { status?: unknown; value?: unknown; context?: unknown };
    const logicId = (node.ref as unknown as { logic?: { id?: unknown } }).logic?.id;
    return {
      sid: node.ref.sessionId,
      id: node.ref.id,
      kind: node.kind,
      key: node.key ?? null,
      parent: node.parentId ?? null,
      machine: typeof logicId === 'string' && this.chartIds.has(logicId) ? logicId : null,
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
  private keyOf(ref: AnyActorRef): string | null {
    for (let r: AnyActorRef | undefined = ref, depth = 0; r !== undefined && depth < 8; depth++) {
      const t = this.tracked.get(r.sessionId);
      if (t !== undefined) return t.node.key ?? null;
      const recent = this.recentKeys.get(r.sessionId);
      if (recent !== undefined) return recent;
      r = (r as unknown as { _parent?: AnyActorRef })._parent;
    }
    return null;
  }
}
