/**
 * The pool's ledger: who holds which connection, and who is waiting. This is the hot path,
 * and it makes no lifecycle decision: it never creates, closes or expires anything on its own.
 * Those are the machines' (machines/pool.machine.ts, connection.machine.ts, and the pure
 * decisions in pool.decisions.ts); the ledger carries them out when asked (`retire...`,
 * `reject...`) and tells its owner about demand.
 *
 * Deferred check-in. A connection actor has `idle` and `inUse` states, and a transition costs
 * 4-5 µs, more than a whole checkout should. So a returned connection goes onto the idle stack
 * at once, but its actor hears `CHECKIN` only at the end of the event-loop turn, and only if
 * the connection is still there: a connection taken again in the same turn (the common case
 * under load) never leaves `inUse`, and costs no transition at all. A connection that rested a
 * whole turn is `idle` in its actor, and taking it sends `CHECKOUT`. Every event that depends
 * on the difference (RETIRE, VALIDATE) goes through this ledger, which delivers the pending
 * check-in first, so the machine never decides on a stale state.
 */
import type { AnyActorRef, AnyEventObject } from 'xstate';
import type { CloseReason } from '../../machines/connection.machine.js';
import { refTimeout, type Clock } from '../clock.js';
import { AbortError, InvalidReturnError } from '../errors.js';
import { IdleStack, type Stackable } from './idle-stack.js';
import { AbortListeners, WaiterQueue, type Waiter } from './waiters.js';

/** Where a connection is: resting, lent, being validated for a caller, or neither (closing, or created unwanted). */
export type RecordState = 'idle' | 'lent' | 'validating' | 'away';

export interface ConnectionRecord extends Stackable {
  readonly id: string;
  readonly resource: object;
  /** The connection's actor (a child of the pool actor). */
  readonly actor: AnyActorRef;
  /** Clock time (ms) it opened. */
  readonly openedAt: number;
  /** Clock time (ms) it is too old (ttl, maxLifetime); Infinity: never. */
  readonly agedAt: number;
  /** Which limit `agedAt` is. */
  readonly agedBy: 'ttl' | 'lifetime';
  state: RecordState;
  /** It was retired or dropped: it leaves (closes now, or when its holder returns it). */
  retired: boolean;
  /** Clock time (ms) it last started resting idle; its idle deadline counts from here. */
  idleSince: number;
  /** Clock time (ms) this lease started, when sampled for the hold time; else -1. */
  lentAt: number;
  /** Checkouts so far (maxUses). */
  uses: number;
  /** The current lease's number; a Lease remembers the one it was given. */
  lease: number;
  /** Leak detection: clock time (ms) this lease is overdue (Infinity: off or reported), and the acquire's stack. */
  leakAt: number;
  leakStack: string | undefined;
  /** Removes the listeners on the resource's close events. */
  unwatch: (() => void) | undefined;
}

/** What the ledger needs from its pool: demand reporting, notifications, policies. */
export interface LedgerOwner {
  /** More acquires wait: the pool may need to create. */
  waiting(): void;
  /** Waiters left without a connection (timeout, abort). */
  waitersLeft(): void;
  /** A connection was lent: from the idle stack (`waitedMs` 0), or handed to a waiter. */
  lent(record: ConnectionRecord, waitedMs: number, fromIdle: boolean): void;
  returned(record: ConnectionRecord): void;
  timedOut(waiter: Waiter): void;
  rejected(error: Error): void;
  /** Validation on borrow applies to this idle record now (it rested long enough). */
  needsValidation(record: ConnectionRecord): boolean;
  /** The record is worn out (maxUses) and retires when it comes back. */
  wornOut(record: ConnectionRecord): boolean;
  /**
   * Sends `event` to a connection actor: now, or, while a pool transition runs one of its
   * effects, after that transition (XState's own order for events an action sends).
   */
  send(actor: AnyActorRef, event: AnyEventObject): void;
  /** Leak detection's threshold (ms), Infinity when off. */
  readonly leakThreshold: number;
  /** A connection started resting at clock time `at` (its idle deadline counts from then). */
  idleFrom(at: number): void;
  /** A deadline (clock ms: a leak, an age) appeared: the housekeeping sweep may need to come sooner. */
  deadline(at: number): void;
}

const CHECKOUT = { type: 'CHECKOUT' } as const;
const CHECKIN = { type: 'CHECKIN' } as const;
const VALIDATE = { type: 'VALIDATE' } as const;

type LeaseState = 'inUse' | 'awaitingReturn' | 'gone';

/** Where the connection machine says a lent connection is (read from the snapshot's value, not `matches`). */
function leaseState(actor: AnyActorRef): LeaseState {
  const value: unknown = actor.getSnapshot().value;
  if (typeof value === 'object' && value !== null) {
    if ((value as { open?: string }).open === 'inUse') return 'inUse';
    if ((value as { draining?: string }).draining === 'awaitingReturn') return 'awaitingReturn';
  }
  return 'gone';
}

export class PoolLedger {
  readonly idle = new IdleStack<ConnectionRecord>();
  private readonly lent = new Map<object, ConnectionRecord>();
  private readonly byId = new Map<string, ConnectionRecord>();
  private readonly byResource = new Map<object, ConnectionRecord>();
  /** Idle connections whose actor has not been told CHECKIN yet. */
  private readonly unsentCheckins = new Set<ConnectionRecord>();
  /** Waiters whose connection is being validated (not queued: they are being served). */
  private readonly validating = new Map<ConnectionRecord, Waiter>();
  /** Connections that closed while lent: their later return is accepted and ignored. */
  private readonly closedWhileLent = new WeakSet<object>();
  /** Connections returned, then closed: another return is a double return, said clearly. */
  private readonly closedAfterReturn = new WeakSet<object>();
  private readonly waiters = new WaiterQueue();
  private readonly aborts = new AbortListeners((waiter) => this.abort(waiter));
  private flushScheduled = false;
  private deadlineTimer: unknown = undefined;
  private deadlineAt = Number.POSITIVE_INFINITY;
  /** Average hold time (ms) over sampled leases; 0 until the first sample. */
  private holdMs = 0;
  private leases = 0;
  /** Share of leases that end with the connection back in the pool (not discarded or dead). */
  private returnRate = 1;
  /** Connections retired or dropped and not yet closed (they still count against maxConnections). */
  leaving = 0;

  constructor(
    readonly key: string,
    private readonly clock: Clock,
    private readonly owner: LedgerOwner,
  ) {}

  get idleCount(): number {
    return this.idle.size;
  }
  get lentCount(): number {
    return this.lent.size;
  }
  get waitingCount(): number {
    return this.waiters.size + this.validating.size;
  }
  get validatingCount(): number {
    return this.validating.size;
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

  // --- the hot path -------------------------------------------------------------------

  /**
   * The hot path: an idle connection lent to the caller, or undefined. One that rested long
   * enough to need validation comes back in state `validating`, not lent: the caller then
   * waits for it with `waitForValidation`.
   */
  takeIdle(): ConnectionRecord | undefined {
    const record = this.idle.pop();
    if (record === undefined) return undefined;
    if (!this.unsentCheckins.delete(record)) {
      // It rested a whole turn: its actor is idle.
      if (this.owner.needsValidation(record)) {
        record.state = 'validating';
        return record;
      }
      record.actor.send(CHECKOUT);
    }
    this.lend(record);
    return record;
  }

  /** Waits for `record` (taken by takeIdle, state `validating`) to pass validation; resolves like `wait`. */
  waitForValidation(
    record: ConnectionRecord,
    timeout: number,
    signal: AbortSignal | undefined,
    stack: string | undefined,
    rejectOnTimeout: boolean,
  ): Promise<object | null> {
    return new Promise<object | null>((resolve, reject) => {
      const since = this.clock.now();
      this.validateFor(record, { since, deadline: since + timeout, resolve, reject, signal, stack, rejectOnTimeout, settled: false });
    });
  }

  private validateFor(record: ConnectionRecord, waiter: Waiter): void {
    this.validating.set(record, waiter);
    this.watchWaiter(waiter);
    this.owner.send(record.actor, VALIDATE);
  }

  /** The validator accepted `record`: its caller gets it (or, caller gone, it comes back as if returned). */
  validated(record: ConnectionRecord): void {
    const waiter = this.validating.get(record);
    this.validating.delete(record);
    if (record.state !== 'validating') return;
    this.lend(record);
    if (waiter !== undefined && !waiter.settled) {
      waiter.settled = true;
      this.settle(waiter);
      this.handOver(waiter, record, true);
      return;
    }
    this.giveBack(record);
  }

  /** `record` failed validation, or dropped or closed while validated: its caller is served next, first in line. */
  invalidated(record: ConnectionRecord): void {
    const waiter = this.validating.get(record);
    this.validating.delete(record);
    this.markRetired(record);
    record.state = 'away';
    if (waiter === undefined || waiter.settled) return;
    this.aborts.delete(waiter);
    this.serve(waiter, true);
  }

  /** Serves `waiter` from the idle stack, or queues it (at the front: it was first). */
  private serve(waiter: Waiter, first: boolean): void {
    const record = this.takeIdle();
    if (record === undefined) {
      if (first) this.waiters.pushFront(waiter);
      else this.waiters.push(waiter);
      this.watchWaiter(waiter);
      this.owner.waiting();
    } else if (record.state === 'validating') {
      this.validateFor(record, waiter);
    } else {
      waiter.settled = true;
      this.settle(waiter);
      this.handOver(waiter, record, true);
    }
  }

  private lend(record: ConnectionRecord): void {
    record.state = 'lent';
    record.uses++;
    record.lease++;
    this.lent.set(record.resource, record);
    this.startLease(record);
  }

  /**
   * Hold times feed the pool's create decisions (see servedByReturns in pool.decisions.ts).
   * Every lease is timed at first, then one in eight: the clock costs more than the rest of a
   * checkout, and an average needs no more. With leak detection on, every lease is timed.
   */
  private startLease(record: ConnectionRecord): void {
    const threshold = this.owner.leakThreshold;
    if (threshold < Number.POSITIVE_INFINITY) {
      const now = this.clock.now();
      record.lentAt = now;
      record.leakAt = now + threshold;
      this.owner.deadline(record.leakAt);
      this.leases++;
      return;
    }
    record.lentAt = this.leases++ < 32 || (this.leases & 7) === 0 ? this.clock.now() : -1;
  }

  private endLease(record: ConnectionRecord, returned: boolean): void {
    this.returnRate += 0.1 * ((returned ? 1 : 0) - this.returnRate);
    record.leakAt = Number.POSITIVE_INFINITY;
    record.leakStack = undefined;
    if (record.lentAt < 0) return;
    const held = this.clock.now() - record.lentAt;
    record.lentAt = -1;
    // A hold shorter than the clock can tell still counts as known (1 µs), not as "no data".
    const sample = Math.max(held, 0.001);
    this.holdMs = this.holdMs === 0 ? sample : 0.8 * this.holdMs + 0.2 * sample;
  }

  /** Waits for a connection; resolves null at `timeout` ms (or as the owner's `timedOut` decides). */
  wait(timeout: number, signal: AbortSignal | undefined, stack: string | undefined, rejectOnTimeout: boolean): Promise<object | null> {
    return new Promise<object | null>((resolve, reject) => {
      const since = this.clock.now();
      const waiter: Waiter = { since, deadline: since + timeout, resolve, reject, signal, stack, rejectOnTimeout, settled: false };
      this.waiters.push(waiter);
      this.watchWaiter(waiter);
      this.owner.waiting();
    });
  }

  private watchWaiter(waiter: Waiter): void {
    if (waiter.deadline < this.deadlineAt) this.armDeadline(waiter.deadline);
    this.aborts.add(waiter);
  }

  /** The hot path's other half: a connection comes back from its holder. */
  release(resource: object): void {
    const record = this.lent.get(resource);
    if (record === undefined) return this.releaseUnknown(resource);
    this.giveBack(record);
  }

  /** Returns `record` (lent) to the pool: to the oldest waiter, or onto the idle stack. */
  giveBack(record: ConnectionRecord): void {
    const state = leaseState(record.actor);
    this.endLease(record, state === 'inUse');
    if (state === 'inUse' && this.owner.wornOut(record)) return this.takeBackClosing(record, 'uses');
    this.owner.returned(record);
    if (state === 'inUse') {
      const waiter = this.waiters.shift();
      if (waiter !== undefined) {
        // Handed straight over: it stays lent and its actor stays inUse.
        this.settle(waiter);
        this.lend(record);
        this.handOver(waiter, record, true);
        return;
      }
      this.lent.delete(record.resource);
      record.state = 'idle';
      this.idle.push(record);
      this.unsentCheckins.add(record);
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(this.flushCheckins).unref();
      }
      return;
    }
    this.lent.delete(record.resource);
    record.state = 'away';
    this.markRetired(record);
    // Retired while lent: the machine closes it now. ('gone': it closed while lent.)
    if (state === 'awaitingReturn') this.owner.send(record.actor, CHECKIN);
  }

  /** The holder gives a lent connection back as broken: it is closed, not pooled. */
  discard(resource: object): void {
    const record = this.lent.get(resource);
    if (record === undefined) return this.releaseUnknown(resource, 'destroyConnection');
    if (leaseState(record.actor) !== 'inUse') return this.giveBack(record); // retired or gone already
    this.endLease(record, false);
    this.takeBackClosing(record, 'discarded');
  }

  /**
   * A lent connection comes back to be closed at once (one DISCARD: inUse → closing). The
   * bookkeeping comes first: the actor may close, and the pool forget it, inside the send.
   */
  private takeBackClosing(record: ConnectionRecord, reason: CloseReason): void {
    this.lent.delete(record.resource);
    record.state = 'away';
    this.markRetired(record);
    this.owner.returned(record);
    this.owner.send(record.actor, { type: 'DISCARD', reason });
  }

  /** The resource lent as `record` (for a Lease: is its lease still the current one?). */
  current(record: ConnectionRecord, lease: number): boolean {
    return record.state === 'lent' && record.lease === lease && this.lent.get(record.resource) === record;
  }

  lentRecord(resource: object): ConnectionRecord | undefined {
    return this.lent.get(resource);
  }

  // --- creates, closes and retirements (effects the machines ask for) -----------------

  /**
   * A create produced `record`. The oldest waiter gets it at once (its actor then goes straight
   * to inUse), or it rests idle; one nobody wants any more (retired while connecting) is only
   * recorded, to be destroyed. Returns whether it was lent.
   */
  adopt(record: ConnectionRecord, wanted: boolean): boolean {
    this.byId.set(record.id, record);
    this.byResource.set(record.resource, record);
    if (!wanted) {
      record.state = 'away';
      this.markRetired(record);
      return false;
    }
    const waiter = this.waiters.shift();
    if (waiter === undefined) {
      record.state = 'idle';
      record.idleSince = record.openedAt;
      this.idle.push(record);
      this.owner.idleFrom(record.openedAt);
      return false;
    }
    this.settle(waiter);
    this.lend(record);
    this.handOver(waiter, record, false);
    return true;
  }

  record(id: string): ConnectionRecord | undefined {
    return this.byId.get(id);
  }

  /** Every record (idle, lent, validating, leaving). */
  records(): IterableIterator<ConnectionRecord> {
    return this.byId.values();
  }

  /** The resource dropped on its own: nobody may take it any more (its actor is closing it). */
  dropped(record: ConnectionRecord): void {
    if (record.state === 'validating') return this.invalidated(record);
    this.markRetired(record);
    if (record.state === 'idle') {
      this.idle.remove(record);
      this.unsentCheckins.delete(record);
      record.state = 'away';
    }
  }

  /** CONNECTION.CLOSED: the record goes. */
  forget(id: string): ConnectionRecord | undefined {
    const record = this.byId.get(id);
    if (record === undefined) return undefined;
    if (record.state === 'validating') this.invalidated(record);
    this.byId.delete(id);
    this.byResource.delete(record.resource);
    if (record.retired) this.leaving--;
    if (this.lent.delete(record.resource)) this.closedWhileLent.add(record.resource);
    else this.closedAfterReturn.add(record.resource);
    this.idle.remove(record);
    this.unsentCheckins.delete(record);
    record.state = 'away';
    return record;
  }

  /** Retire one connection: it closes now if idle, when returned if lent. */
  retire(record: ConnectionRecord, reason: CloseReason): void {
    this.deliverCheckin(record);
    if (record.state === 'idle') {
      this.idle.remove(record);
      record.state = 'away';
    }
    this.markRetired(record);
    this.owner.send(record.actor, { type: 'RETIRE', reason });
  }

  /** Shutdown: every connection, whatever its state (the caller retires those not created yet). */
  retireAll(reason: CloseReason): void {
    // All idle ones at once: removing them one by one from the stack would cost more.
    for (const record of this.idle.drain()) {
      this.deliverCheckin(record);
      record.state = 'away';
      this.markRetired(record);
      this.owner.send(record.actor, { type: 'RETIRE', reason });
    }
    for (const record of [...this.byId.values()]) {
      if (!record.retired) this.retire(record, reason);
    }
  }

  /** Shrink by `count`: least recently used idle first, then lent. Returns how many it retired. */
  retireSurplus(count: number, reason: CloseReason): number {
    let left = count;
    for (let record = this.idle.bottom(); left > 0 && record !== undefined; record = this.idle.bottom()) {
      this.retire(record, reason);
      left--;
    }
    for (const record of [...this.lent.values()]) {
      if (left <= 0) break;
      if (leaseState(record.actor) !== 'inUse') continue;
      this.retire(record, reason);
      left--;
    }
    return count - left;
  }

  /** LRU: close the least recently used idle connection. */
  evictIdle(): boolean {
    const record = this.idle.bottom();
    if (record === undefined) return false;
    this.retire(record, 'evicted');
    return true;
  }

  /** The oldest waiter gets a failed create's error. */
  rejectOldest(error: unknown): void {
    const waiter = this.waiters.shift();
    if (waiter === undefined) return;
    this.settle(waiter);
    this.owner.rejected(error instanceof Error ? error : new Error(String(error)));
    waiter.reject(error);
  }

  /** Every waiter rejects; `error` is built only if someone waits. */
  rejectAll(error: () => Error): void {
    if (this.waitingCount === 0) return;
    const e = error();
    for (let waiter = this.waiters.shift(); waiter !== undefined; waiter = this.waiters.shift()) {
      this.settle(waiter);
      this.owner.rejected(e);
      waiter.reject(e);
    }
    for (const [record, waiter] of [...this.validating]) {
      this.validating.delete(record);
      if (waiter.settled) continue;
      waiter.settled = true;
      this.settle(waiter);
      this.owner.rejected(e);
      waiter.reject(e);
    }
  }

  /** Resources of connections that are idle or lent. */
  *resources(): IterableIterator<object> {
    for (const record of this.idle.records()) yield record.resource;
    yield* this.lent.keys();
  }

  private markRetired(record: ConnectionRecord): void {
    if (record.retired) return;
    record.retired = true;
    this.leaving++;
  }

  private deliverCheckin(record: ConnectionRecord): void {
    if (this.unsentCheckins.delete(record)) this.owner.send(record.actor, CHECKIN);
  }

  private readonly flushCheckins = (): void => {
    this.flushScheduled = false;
    if (this.unsentCheckins.size === 0) return;
    const now = this.clock.now();
    const records = [...this.unsentCheckins];
    this.unsentCheckins.clear();
    for (const record of records) {
      record.idleSince = now;
      this.owner.send(record.actor, CHECKIN);
    }
    this.owner.idleFrom(now);
  };

  /** A waiter gets a connection (returned, validated, or new). */
  private handOver(waiter: Waiter, record: ConnectionRecord, reused: boolean): void {
    if (waiter.stack !== undefined) record.leakStack = waiter.stack;
    this.owner.lent(record, this.clock.now() - waiter.since, reused);
    waiter.resolve(record.resource);
  }

  /** Cleans up after a waiter that `shift` took off the queue, or that was settled otherwise. */
  private settle(waiter: Waiter): void {
    this.aborts.delete(waiter);
    if (this.waitingCount === 0) this.disarmDeadline();
  }

  private abort(waiter: Waiter): void {
    if (waiter.settled) return;
    this.waiters.remove(waiter);
    waiter.settled = true;
    this.settle(waiter);
    const error = new AbortError('acquire was aborted', { cause: waiter.signal?.reason });
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
    const { expired, next } = this.waiters.expire(now);
    let soonest = next;
    for (const waiter of this.validating.values()) {
      if (waiter.settled) continue;
      if (waiter.deadline <= now) {
        // Its validation goes on; whatever it answers, this caller has had its answer.
        waiter.settled = true;
        expired.push(waiter);
      } else if (waiter.deadline < soonest) soonest = waiter.deadline;
    }
    if (soonest < Number.POSITIVE_INFINITY) this.armDeadline(soonest);
    for (const waiter of expired) {
      this.aborts.delete(waiter);
      this.owner.timedOut(waiter);
    }
    if (expired.length > 0) this.owner.waitersLeft();
  };

  private releaseUnknown(resource: object, call: 'returnConnection' | 'destroyConnection' = 'returnConnection'): void {
    if (this.closedWhileLent.has(resource)) {
      // Its connection closed while lent (dropped, or forced by shutdown): nothing to do.
      this.closedWhileLent.delete(resource);
      return;
    }
    const record = this.byResource.get(resource);
    if (record !== undefined) throw new InvalidReturnError(call, this.key, `connection ${record.id} was already returned`);
    if (this.closedAfterReturn.has(resource)) {
      throw new InvalidReturnError(call, this.key, 'this connection was already returned (and has been closed since)');
    }
    throw new InvalidReturnError(call, this.key, 'this connection was not lent out by this key');
  }
}
