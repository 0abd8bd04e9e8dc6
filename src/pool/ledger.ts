/**
 * The pool's ledger: who holds which connection, and who is waiting. This is the hot path,
 * and it makes no lifecycle decision: it never creates, closes or expires anything on its own.
 * Those are the machines' (machines/pool.machine.ts, connection.machine.ts, and the pure
 * decisions in pool.decisions.ts); the ledger carries them out when asked (`retire...`,
 * `reject...`) and tells its owner about demand.
 *
 * Its parts: the idle stack (idle-stack.ts), the lent map (here), the records by id and by
 * resource (records.ts), the waiting acquires and their deadlines (waiting-acquires.ts), the
 * deferred check-ins (deferred-checkins.ts: a returned connection's actor hears CHECKIN only
 * at the end of the turn, so every event that depends on its state goes through this ledger,
 * which delivers the pending check-in first), and the lease statistics (lease-stats.ts).
 */
import type { AnyActorRef } from 'xstate';
import type { CloseReason } from '../../machines/connection.machine.js';
import type { Clock } from '../clock.js';
import { DeferredCheckins, type CheckinSink } from './deferred-checkins.js';
import { IdleStack } from './idle-stack.js';
import { LeaseStats } from './lease-stats.js';
import { RecordIndex, type ConnectionRecord, type ReturnCall } from './records.js';
import { WaitingAcquires, type WaitersOwner } from './waiting-acquires.js';
import { newWaiter, type Waiter } from './waiters.js';

/**
 * What the ledger needs from its pool: demand reporting and notifications (WaitersOwner),
 * sends to connection actors (CheckinSink), policies.
 */
export interface LedgerOwner extends WaitersOwner, CheckinSink {
  /** A connection was lent: from the idle stack (`waitedMs` 0), or handed to a waiter. */
  lent(record: ConnectionRecord, waitedMs: number, fromIdle: boolean): void;
  returned(record: ConnectionRecord): void;
  /** Validation on borrow applies to this idle record now (it rested long enough). */
  needsValidation(record: ConnectionRecord): boolean;
  /** The record is worn out (maxUses) and retires when it comes back. */
  wornOut(record: ConnectionRecord): boolean;
  /** Leak detection's threshold (ms), Infinity when off. */
  readonly leakThreshold: number;
  /** A deadline (clock ms: a leak, an age) appeared: the housekeeping sweep may need to come sooner. */
  deadline(at: number): void;
}

const CHECKOUT = { type: 'CHECKOUT' } as const;
const CHECKIN = { type: 'CHECKIN' } as const;
const VALIDATE = { type: 'VALIDATE' } as const;

/**
 * Whether the actor of a lent, retired connection has closed already (it dropped while lent):
 * it is neither still lent (its RETIRE not delivered yet) nor awaiting its return. Read from the
 * snapshot's value, not `matches`: this runs on every return of a retired connection.
 */
function closedWhileLent(actor: AnyActorRef): boolean {
  const value: unknown = actor.getSnapshot().value;
  if (typeof value !== 'object' || value === null) return true;
  return (value as { open?: string }).open !== 'inUse' && (value as { draining?: string }).draining !== 'awaitingReturn';
}

export class PoolLedger {
  readonly idle = new IdleStack<ConnectionRecord>();
  /**
   * Records in state 'lent'. Not a Map of lent resources: a request loop sets and deletes the
   * same few keys millions of times, and a hash table churned so became the slowest part of a
   * checkout once a garbage collection had moved it to the old generation (profiled). The
   * record's state says whether it is lent; the index finds it by resource.
   */
  private lentTotal = 0;
  private readonly index: RecordIndex;
  /** Idle connections whose actor has not been told CHECKIN yet. */
  private readonly checkins: DeferredCheckins;
  readonly waiters: WaitingAcquires;
  private readonly leases: LeaseStats;
  /** Connections retired or dropped and not yet closed (they still count against maxConnections). */
  leaving = 0;

  constructor(
    readonly key: string,
    private readonly clock: Clock,
    private readonly owner: LedgerOwner,
  ) {
    this.index = new RecordIndex(key);
    this.checkins = new DeferredCheckins(clock, owner);
    this.waiters = new WaitingAcquires(clock, owner);
    this.leases = new LeaseStats(clock);
  }

  get idleCount(): number {
    return this.idle.size;
  }
  get lentCount(): number {
    return this.lentTotal;
  }

  /** How long until a lent connection comes back to serve someone, on average (ms; 0: not known). */
  get averageHoldMs(): number {
    return this.leases.averageHoldMs;
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
    if (!this.checkins.cancel(record)) {
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
      this.validateFor(record, newWaiter(this.clock.now(), timeout, resolve, reject, signal, stack, rejectOnTimeout));
    });
  }

  private validateFor(record: ConnectionRecord, waiter: Waiter): void {
    this.waiters.validating(record, waiter);
    this.owner.send(record.actor, VALIDATE);
  }

  /** The validator accepted `record`: its caller gets it (or, caller gone, it comes back as if returned). */
  validated(record: ConnectionRecord): void {
    const waiter = this.waiters.validated(record);
    if (record.state !== 'validating') return;
    this.lend(record);
    if (waiter !== undefined && !waiter.settled) {
      this.waiters.claim(waiter);
      this.handOver(waiter, record, true);
      return;
    }
    this.giveBack(record);
  }

  /** `record` failed validation, or dropped or closed while validated: its caller is served next, first in line. */
  invalidated(record: ConnectionRecord): void {
    const waiter = this.waiters.validated(record);
    this.markRetired(record);
    record.state = 'away';
    if (waiter === undefined || waiter.settled) return;
    this.waiters.unwatch(waiter);
    this.serve(waiter, true);
  }

  /** Serves `waiter` from the idle stack, or queues it (at the front: it was first). */
  private serve(waiter: Waiter, first: boolean): void {
    const record = this.takeIdle();
    if (record === undefined) {
      this.waiters.enqueue(waiter, first);
    } else if (record.state === 'validating') {
      this.validateFor(record, waiter);
    } else {
      this.waiters.claim(waiter);
      this.handOver(waiter, record, true);
    }
  }

  private lend(record: ConnectionRecord): void {
    if (record.state !== 'lent') this.lentTotal++;
    record.state = 'lent';
    record.uses++;
    record.lease++;
    // Hold times feed the pool's create decisions (see servedByReturns in pool.decisions.ts).
    if (this.leases.start(record, this.owner.leakThreshold)) this.owner.deadline(record.leakAt);
  }

  /** The hot path's other half: a connection comes back from its holder (`call` is named if it was not lent). */
  release(resource: object, call: ReturnCall = 'returnConnection'): void {
    const record = this.lentRecord(resource);
    if (record === undefined) return this.index.releaseUnknown(resource, call);
    this.giveBack(record);
  }

  /**
   * Returns `record` (lent) to the pool: to the oldest waiter, or onto the idle stack. Whether it
   * may stay is `record.retired`, set the moment its retirement is decided; its actor may not
   * have heard yet (a RETIRE waits until the pool's transition ends, and a listener of that
   * transition's events may return the connection meanwhile), so its state is no guide here.
   */
  giveBack(record: ConnectionRecord): void {
    const retired = record.retired;
    this.leases.end(record, !retired);
    if (!retired && this.owner.wornOut(record)) return this.takeBackClosing(record, 'uses');
    this.owner.returned(record);
    if (!retired) {
      const waiter = this.waiters.next();
      if (waiter !== undefined) {
        // Handed straight over: it stays lent and its actor stays inUse.
        this.lend(record);
        this.handOver(waiter, record, true);
        return;
      }
      this.lentTotal--;
      record.state = 'idle';
      this.idle.push(record);
      this.checkins.defer(record);
      return;
    }
    this.lentTotal--;
    record.state = 'away';
    // Retired while lent: its return lets the machine close it (the CHECKIN follows the RETIRE),
    // unless it has closed already (it dropped while lent).
    if (!closedWhileLent(record.actor)) this.owner.send(record.actor, CHECKIN);
  }

  /** The holder gives a lent connection back as broken: it is closed, not pooled. */
  discard(resource: object, call: ReturnCall = 'destroyConnection'): void {
    const record = this.lentRecord(resource);
    if (record === undefined) return this.index.releaseUnknown(resource, call);
    if (record.retired) return this.giveBack(record); // closing already, or on its return
    this.leases.end(record, false);
    this.takeBackClosing(record, 'discarded');
  }

  /**
   * A lent connection comes back to be closed at once (one DISCARD: inUse → closing). The
   * bookkeeping comes first: the actor may close, and the pool forget it, inside the send.
   */
  private takeBackClosing(record: ConnectionRecord, reason: CloseReason): void {
    this.lentTotal--;
    record.state = 'away';
    this.markRetired(record);
    this.owner.returned(record);
    this.owner.send(record.actor, { type: 'DISCARD', reason });
  }

  /**
   * The resource lent as `record` (for a Lease: is its lease still the current one?). Its state
   * says enough: a record leaves the index (forget) in state 'away', and each lend counts a lease.
   */
  current(record: ConnectionRecord, lease: number): boolean {
    return record.state === 'lent' && record.lease === lease;
  }

  lentRecord(resource: object): ConnectionRecord | undefined {
    const record = this.index.find(resource);
    return record !== undefined && record.state === 'lent' ? record : undefined;
  }

  // --- creates, closes and retirements (effects the machines ask for) -----------------

  /**
   * A create produced `record`. The oldest waiter gets it at once (its actor then goes straight
   * to inUse), or it rests idle; one nobody wants any more (retired while connecting) is only
   * recorded, to be destroyed. Returns whether it was lent.
   */
  adopt(record: ConnectionRecord, wanted: boolean): boolean {
    this.index.add(record);
    if (!wanted) {
      record.state = 'away';
      this.markRetired(record);
      return false;
    }
    const waiter = this.waiters.next();
    if (waiter === undefined) {
      record.state = 'idle';
      record.idleSince = record.openedAt;
      this.idle.push(record);
      this.owner.idleFrom(record.openedAt);
      return false;
    }
    this.lend(record);
    this.handOver(waiter, record, false);
    return true;
  }

  record(id: string): ConnectionRecord | undefined {
    return this.index.get(id);
  }

  /** Every record (idle, lent, validating, leaving). */
  records(): IterableIterator<ConnectionRecord> {
    return this.index.values();
  }

  /** The resource dropped on its own: nobody may take it any more (its actor is closing it). */
  dropped(record: ConnectionRecord): void {
    if (record.state === 'validating') return this.invalidated(record);
    this.markRetired(record);
    if (record.state === 'idle') {
      this.idle.remove(record);
      this.checkins.cancel(record);
      record.state = 'away';
    }
  }

  /** CONNECTION.CLOSED: the record goes. */
  forget(id: string): ConnectionRecord | undefined {
    const record = this.index.get(id);
    if (record === undefined) return undefined;
    if (record.state === 'validating') this.invalidated(record);
    if (record.retired) this.leaving--;
    const wasLent = record.state === 'lent';
    if (wasLent) this.lentTotal--;
    this.index.remove(record, wasLent);
    this.idle.remove(record);
    this.checkins.cancel(record);
    record.state = 'away';
    return record;
  }

  /** Retire one connection: it closes now if idle, when returned if lent. */
  retire(record: ConnectionRecord, reason: CloseReason): void {
    this.checkins.deliver(record);
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
      this.checkins.deliver(record);
      record.state = 'away';
      this.markRetired(record);
      this.owner.send(record.actor, { type: 'RETIRE', reason });
    }
    for (const record of [...this.index.values()]) {
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
    for (const record of [...this.index.values()]) {
      if (left <= 0) break;
      if (record.state !== 'lent' || record.retired) continue; // leaving already
      this.retire(record, reason);
      left--;
    }
    return count - left;
  }

  /** Resources of connections that are idle or lent. */
  *resources(): IterableIterator<object> {
    for (const record of this.idle.records()) yield record.resource;
    for (const record of this.index.values()) if (record.state === 'lent') yield record.resource;
  }

  private markRetired(record: ConnectionRecord): void {
    if (record.retired) return;
    record.retired = true;
    this.leaving++;
  }

  /** A waiter gets a connection (returned, validated, or new). */
  private handOver(waiter: Waiter, record: ConnectionRecord, reused: boolean): void {
    if (waiter.stack !== undefined) record.leakStack = waiter.stack;
    this.owner.lent(record, this.clock.now() - waiter.since, reused);
    waiter.resolve(record.resource);
  }
}
