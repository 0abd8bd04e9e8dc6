/**
 * The pool's ledger: who holds which connection, and who is waiting. This is the hot path,
 * and it makes no lifecycle decision: it never creates, closes or expires anything. Those are
 * the machines' (see machines/pool.machine.ts); the ledger carries them out when the pool
 * machine asks (`offer`, `retire`, `reject...`) and tells the machine about demand.
 *
 * Deferred check-in. A connection actor has `idle` and `inUse` states, and a transition costs
 * 4-5 µs, more than a whole checkout should. So a returned connection goes onto the idle stack
 * at once, but its actor hears `CHECKIN` only at the end of the event-loop turn, and only if
 * the connection is still there: a connection taken again in the same turn (the common case
 * under load) never leaves `inUse`, and costs no transition at all. A connection that rested a
 * whole turn is `idle` in its actor, with the idle timer running, and taking it sends
 * `CHECKOUT`. Every event that depends on the difference (RETIRE) goes through this ledger,
 * which delivers the pending check-in first, so the machine never decides on a stale state.
 */
import type { AnyActorRef } from 'xstate';
import type { CloseReason } from '../../machines/connection.machine.js';
import { refTimeout, type Clock } from '../clock.js';
import { AbortError, InvalidReturnError } from '../errors.js';
import { WaiterQueue, type Waiter } from './waiters.js';

export interface ConnectionRecord {
  readonly id: string;
  readonly resource: object;
  /** The connection's actor (a child of the pool actor). */
  readonly actor: AnyActorRef;
  /** Clock time it was lent, when this lease is sampled for the hold time; else -1. */
  lentAt: number;
}

/** What the ledger needs from its pool: demand reporting and user-facing notifications. */
export interface LedgerOwner {
  /** More acquires wait: the pool may need to create. */
  waiting(): void;
  /** Waiters left without a connection (timeout, abort): refresh the machine's count. */
  waitersLeft(): void;
  /** A waiter was served (not from the idle stack: those are the caller's hits). */
  lent(record: ConnectionRecord, since: number): void;
  returned(record: ConnectionRecord): void;
  timedOut(since: number): void;
  rejected(error: Error): void;
  /** The pool's connection actors. */
  children(): AnyActorRef[];
}

const CHECKOUT = { type: 'CHECKOUT' } as const;
const CHECKIN = { type: 'CHECKIN' } as const;

type LeaseState = 'inUse' | 'awaitingReturn' | 'gone';

/** Where the connection machine says a lent connection is. */
function leaseState(actor: AnyActorRef): LeaseState {
  const value: unknown = actor.getSnapshot().value;
  if (typeof value === 'object' && value !== null) {
    if ((value as { open?: string }).open === 'inUse') return 'inUse';
    if ((value as { draining?: string }).draining === 'awaitingReturn') return 'awaitingReturn';
  }
  return 'gone';
}

export class PoolLedger {
  /** Idle connections; the top (end) is the most recently returned. */
  private readonly idle: ConnectionRecord[] = [];
  private readonly lent = new Map<object, ConnectionRecord>();
  private readonly byId = new Map<string, ConnectionRecord>();
  private readonly byResource = new Map<object, ConnectionRecord>();
  /** Idle connections whose actor has not been told CHECKIN yet. */
  private readonly unsentCheckins = new Set<ConnectionRecord>();
  /** Connections that closed while lent: their later return is accepted and ignored. */
  private readonly closedWhileLent = new WeakSet<object>();
  /** Connections returned, then closed: another return is a double return, said clearly. */
  private readonly closedAfterReturn = new WeakSet<object>();
  private readonly waiters = new WaiterQueue();
  private flushScheduled = false;
  private deadlineTimer: unknown = undefined;
  private deadlineAt = Number.POSITIVE_INFINITY;
  /** Average hold time (ms) over sampled leases; 0 until the first sample. */
  private holdMs = 0;
  private leases = 0;
  /** Share of leases that end with the connection back in the pool (not discarded or dead). */
  private returnRate = 1;

  constructor(
    readonly key: string,
    private readonly clock: Clock,
    private readonly owner: LedgerOwner,
  ) {}

  get idleCount(): number {
    return this.idle.length;
  }
  get lentCount(): number {
    return this.lent.size;
  }
  get waitingCount(): number {
    return this.waiters.size;
  }

  /**
   * How long until a lent connection comes back to serve someone, on average (ms; 0: not known,
   * or they mostly do not come back). Holds are stretched by the share of leases that end in a
   * return: a connection that is discarded or dies serves no waiter.
   */
  get averageHoldMs(): number {
    if (this.returnRate < 0.05) return 0;
    return this.holdMs / this.returnRate;
  }

  /** How long the oldest waiting acquire has waited (ms; 0 if none waits). */
  oldestWaitMs(): number {
    const oldest = this.waiters.peek();
    return oldest === undefined ? 0 : this.clock.now() - oldest.since;
  }

  /** The hot path: an idle connection, or undefined. */
  takeIdle(): ConnectionRecord | undefined {
    const record = this.idle.pop();
    if (record === undefined) return undefined;
    // Taken again before its actor heard CHECKIN: the actor never left inUse.
    if (!this.unsentCheckins.delete(record)) record.actor.send(CHECKOUT);
    this.lent.set(record.resource, record);
    this.startLease(record);
    return record;
  }

  /**
   * Hold times feed the pool's create decisions (see servedByReturns in the pool machine).
   * Every lease is timed at first, then one in eight: the clock costs more than the rest of
   * a checkout, and an average needs no more.
   */
  private startLease(record: ConnectionRecord): void {
    record.lentAt = this.leases++ < 32 || (this.leases & 7) === 0 ? this.clock.now() : -1;
  }

  private endLease(record: ConnectionRecord, returned: boolean): void {
    this.returnRate += 0.1 * ((returned ? 1 : 0) - this.returnRate);
    if (record.lentAt < 0) return;
    const held = this.clock.now() - record.lentAt;
    record.lentAt = -1;
    // A hold shorter than the clock can tell still counts as known (1 µs), not as "no data".
    const sample = Math.max(held, 0.001);
    this.holdMs = this.holdMs === 0 ? sample : 0.8 * this.holdMs + 0.2 * sample;
  }

  /** Waits for a connection; resolves null at `timeout` ms. */
  wait(timeout: number, signal: AbortSignal | undefined): Promise<object | null> {
    return new Promise<object | null>((resolve, reject) => {
      const since = this.clock.now();
      const waiter: Waiter = {
        since,
        deadline: since + timeout,
        resolve,
        reject,
        signal,
        onAbort: undefined,
        settled: false,
      };
      this.waiters.push(waiter);
      if (waiter.deadline < this.deadlineAt) this.armDeadline(waiter.deadline);
      if (signal !== undefined) {
        waiter.onAbort = () => this.abort(waiter);
        signal.addEventListener('abort', waiter.onAbort, { once: true });
      }
      this.owner.waiting();
    });
  }

  /** The hot path's other half: a connection comes back from its holder. */
  release(resource: object): void {
    const record = this.lent.get(resource);
    if (record === undefined) return this.releaseUnknown(resource);
    const state = leaseState(record.actor);
    this.endLease(record, state === 'inUse');
    if (state === 'inUse') {
      const waiter = this.waiters.shift();
      if (waiter !== undefined) {
        // Handed straight over: it stays lent and its actor stays inUse.
        this.owner.returned(record);
        this.handOver(waiter, record);
        return;
      }
      this.lent.delete(resource);
      this.idle.push(record);
      this.unsentCheckins.add(record);
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(this.flushCheckins).unref();
      }
    } else {
      this.lent.delete(resource);
      // Retired while lent: the machine closes it now. ('gone': it closed while lent.)
      if (state === 'awaitingReturn') record.actor.send(CHECKIN);
    }
    this.owner.returned(record);
  }

  /** The holder gives a lent connection back as broken: it is closed, not pooled. */
  discard(resource: object): void {
    const record = this.lent.get(resource);
    if (record === undefined) return this.releaseUnknown(resource);
    if (leaseState(record.actor) === 'inUse') record.actor.send({ type: 'RETIRE', reason: 'discarded' });
    this.release(resource);
  }

  /** The factory produced `resource` for connection `id` (its actor is about to be READY). */
  adopt(id: string, resource: object, actor: AnyActorRef): ConnectionRecord {
    const record: ConnectionRecord = { id, resource, actor, lentAt: -1 };
    this.byId.set(id, record);
    this.byResource.set(resource, record);
    return record;
  }

  has(resource: object): boolean {
    return this.byResource.has(resource);
  }

  record(id: string): ConnectionRecord | undefined {
    return this.byId.get(id);
  }

  /** Machine: CONNECTION.READY. The oldest waiter gets it, or it rests idle. */
  offer(id: string): void {
    const record = this.byId.get(id);
    if (record === undefined) return;
    const waiter = this.waiters.shift();
    if (waiter === undefined) {
      this.idle.push(record); // its actor is already idle: nothing to defer
      return;
    }
    record.actor.send(CHECKOUT);
    this.lent.set(record.resource, record);
    this.handOver(waiter, record);
  }

  /** Machine: CONNECTION.DRAINING. Nobody may take it any more. */
  unlist(id: string): void {
    const record = this.byId.get(id);
    if (record === undefined) return;
    this.removeIdle(record);
    this.unsentCheckins.delete(record);
  }

  /** Machine: CONNECTION.CLOSED. */
  forget(id: string): void {
    const record = this.byId.get(id);
    if (record === undefined) return;
    this.byId.delete(id);
    this.byResource.delete(record.resource);
    if (this.lent.delete(record.resource)) this.closedWhileLent.add(record.resource);
    else this.closedAfterReturn.add(record.resource);
  }

  /** Machine decided to retire `id`: closes now if idle, on return if lent, on landing if connecting. */
  retire(id: string, reason: CloseReason): void {
    const record = this.byId.get(id);
    if (record === undefined) {
      for (const child of this.uncreated()) {
        if (child.id === id) child.send({ type: 'RETIRE', reason });
      }
      return;
    }
    this.retireRecord(record, reason);
  }

  /** Machine: shrink by `count`: least recently used idle first, then lent, then connecting. */
  retireSurplus(count: number, reason: CloseReason): void {
    let left = count;
    while (left > 0 && this.idle.length > 0) {
      this.retireRecord(this.idle[0] as ConnectionRecord, reason);
      left--;
    }
    for (const record of [...this.lent.values()]) {
      if (left <= 0) break;
      if (leaseState(record.actor) !== 'inUse') continue;
      this.retireRecord(record, reason);
      left--;
    }
    for (const child of this.uncreated()) {
      if (left <= 0) break;
      child.send({ type: 'RETIRE', reason });
      left--;
    }
  }

  /** Machine: shutdown. Every connection, whatever its state. */
  retireAll(reason: CloseReason): void {
    for (const record of [...this.byId.values()]) this.retireRecord(record, reason);
    for (const child of this.uncreated()) child.send({ type: 'RETIRE', reason });
  }

  /** Machine (LRU): close the least recently used idle connection. */
  evictIdle(): boolean {
    const record = this.idle[0];
    if (record === undefined) return false;
    this.retireRecord(record, 'evicted');
    return true;
  }

  /** Machine: CONNECTION.FAILED. The oldest waiter gets the factory's error. */
  rejectOldest(error: unknown): void {
    const waiter = this.waiters.shift();
    if (waiter === undefined) return;
    this.settle(waiter);
    const err = error instanceof Error ? error : new Error(String(error));
    this.owner.rejected(err);
    waiter.reject(error);
  }

  rejectAll(error: Error): void {
    for (let waiter = this.waiters.shift(); waiter !== undefined; waiter = this.waiters.shift()) {
      this.settle(waiter);
      this.owner.rejected(error);
      waiter.reject(error);
    }
  }

  /** Resources of connections that are idle or lent. */
  *resources(): IterableIterator<object> {
    for (const record of this.idle) yield record.resource;
    yield* this.lent.keys();
  }

  private retireRecord(record: ConnectionRecord, reason: CloseReason): void {
    this.deliverCheckin(record);
    this.removeIdle(record);
    record.actor.send({ type: 'RETIRE', reason });
  }

  private deliverCheckin(record: ConnectionRecord): void {
    if (this.unsentCheckins.delete(record)) record.actor.send(CHECKIN);
  }

  /**
   * Connection actors with no record: not created yet (an attempt in flight, or a backoff
   * between attempts). Derived from the records, whatever the machine's substate.
   */
  private uncreated(): AnyActorRef[] {
    return this.owner.children().filter((child) => !this.byId.has(child.id));
  }

  private readonly flushCheckins = (): void => {
    this.flushScheduled = false;
    const records = [...this.unsentCheckins];
    this.unsentCheckins.clear();
    for (const record of records) record.actor.send(CHECKIN);
  };

  private removeIdle(record: ConnectionRecord): void {
    const i = this.idle.indexOf(record);
    if (i >= 0) this.idle.splice(i, 1);
  }

  /** A waiter gets a connection (returned, or new). Lends from the idle stack go through takeIdle. */
  private handOver(waiter: Waiter, record: ConnectionRecord): void {
    this.settle(waiter);
    this.startLease(record);
    this.owner.lent(record, waiter.since);
    waiter.resolve(record.resource);
  }

  /** Cleans up after a waiter that `shift` or `remove` took off the queue. */
  private settle(waiter: Waiter): void {
    if (waiter.onAbort !== undefined) waiter.signal?.removeEventListener('abort', waiter.onAbort);
    if (this.waiters.size === 0) this.disarmDeadline();
  }

  private abort(waiter: Waiter): void {
    if (waiter.settled) return;
    this.waiters.remove(waiter);
    this.settle(waiter);
    const error = new AbortError('acquireConnection was aborted', { cause: waiter.signal?.reason });
    this.owner.rejected(error);
    waiter.reject(error);
    this.owner.waitersLeft();
  }

  private armDeadline(at: number): void {
    this.disarmDeadline();
    if (at === Number.POSITIVE_INFINITY) return;
    this.deadlineAt = at;
    this.deadlineTimer = refTimeout(this.clock, this.onDeadline, Math.max(0, at - this.clock.now()));
  }

  private disarmDeadline(): void {
    if (this.deadlineTimer !== undefined) this.clock.clearTimeout(this.deadlineTimer);
    this.deadlineTimer = undefined;
    this.deadlineAt = Number.POSITIVE_INFINITY;
  }

  /** One timer per pool, not per waiter: it fires at the earliest deadline and re-arms. */
  private readonly onDeadline = (): void => {
    this.deadlineTimer = undefined;
    this.deadlineAt = Number.POSITIVE_INFINITY;
    const now = this.clock.now();
    let next = Number.POSITIVE_INFINITY;
    let expired = 0;
    for (const waiter of [...this.waiters.unsettled()]) {
      if (waiter.deadline <= now) {
        this.waiters.remove(waiter);
        if (waiter.onAbort !== undefined) waiter.signal?.removeEventListener('abort', waiter.onAbort);
        this.owner.timedOut(waiter.since);
        waiter.resolve(null);
        expired++;
      } else if (waiter.deadline < next) {
        next = waiter.deadline;
      }
    }
    if (next < Number.POSITIVE_INFINITY) this.armDeadline(next);
    if (expired > 0) this.owner.waitersLeft();
  };

  private releaseUnknown(resource: object): void {
    if (this.closedWhileLent.has(resource)) {
      // Its connection closed while lent (dropped, or forced by shutdown): nothing to do.
      this.closedWhileLent.delete(resource);
      return;
    }
    const record = this.byResource.get(resource);
    if (record !== undefined) {
      throw new InvalidReturnError(this.key, `connection ${record.id} was already returned`);
    }
    if (this.closedAfterReturn.has(resource)) {
      throw new InvalidReturnError(this.key, 'this connection was already returned (and has been closed since)');
    }
    throw new InvalidReturnError(this.key, 'this connection was not lent out by this key');
  }
}
