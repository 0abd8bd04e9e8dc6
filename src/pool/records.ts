/**
 * The pool's connection records: what the runtime knows of each connection of one key, and
 * the index that finds them by id (the machines' events) or by resource (a caller's return).
 * The index also remembers connections that closed, so that a late or repeated return is
 * either ignored (it closed while lent) or explained (`InvalidReturnError`).
 */
import type { AnyActorRef } from 'xstate';
import { InvalidReturnError } from '../errors.js';
import type { Stackable } from './idle-stack.js';

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
  /** Its actor is owed a CHECKIN at the end of the turn (deferred-checkins.ts). */
  checkinOwed: boolean;
  /** It is in the deferred check-ins' list for this turn (owed or since cancelled). */
  checkinListed: boolean;
}

/** Which call returned a connection (named in InvalidReturnError): the cache's, or a Pool handle's. */
export type ReturnCall = 'returnConnection' | 'destroyConnection' | 'pool.release' | 'pool.destroy';

/** Every record of one key, by id and by resource, and the memory of those that closed. */
export class RecordIndex {
  private readonly byId = new Map<string, ConnectionRecord>();
  private readonly byResource = new Map<object, ConnectionRecord>();
  /** Connections that closed while lent: their later return is accepted and ignored. */
  private readonly closedWhileLent = new WeakSet<object>();
  /** Connections returned, then closed: another return is a double return, said clearly. */
  private readonly closedAfterReturn = new WeakSet<object>();

  constructor(private readonly key: string) {}

  add(record: ConnectionRecord): void {
    this.byId.set(record.id, record);
    this.byResource.set(record.resource, record);
  }

  get(id: string): ConnectionRecord | undefined {
    return this.byId.get(id);
  }

  /** The record of `resource`, if its connection is still open. */
  find(resource: object): ConnectionRecord | undefined {
    return this.byResource.get(resource);
  }

  /** Every record (idle, lent, validating, leaving). */
  values(): IterableIterator<ConnectionRecord> {
    return this.byId.values();
  }

  /** The connection closed: its record goes, and its resource is remembered for a return that may still come. */
  remove(record: ConnectionRecord, wasLent: boolean): void {
    this.byId.delete(record.id);
    this.byResource.delete(record.resource);
    if (wasLent) this.closedWhileLent.add(record.resource);
    else this.closedAfterReturn.add(record.resource);
  }

  /** A return of a resource that is not lent: ignored if it closed while lent, else an InvalidReturnError saying why. */
  releaseUnknown(resource: object, call: ReturnCall): void {
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
