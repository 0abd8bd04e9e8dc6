/**
 * Deferred check-in. A connection actor has `idle` and `inUse` states, and a transition costs
 * 4-5 µs, more than a whole checkout should. So a returned connection goes onto the idle stack
 * at once, but its actor hears `CHECKIN` only at the end of the event-loop turn, and only if
 * the connection is still there: a connection taken again in the same turn (the common case
 * under load) never leaves `inUse`, and costs no transition at all. A connection that rested a
 * whole turn is `idle` in its actor, and taking it sends `CHECKOUT`. Every event that depends
 * on the difference (RETIRE, VALIDATE) goes through the ledger, which delivers the pending
 * check-in first (`deliver`), so the machine never decides on a stale state.
 */
import type { AnyActorRef, AnyEventObject } from 'xstate';
import type { Clock } from '../clock.js';
import type { ConnectionRecord } from './records.js';

/** Where check-ins go: the ledger's owner. */
export interface CheckinSink {
  /**
   * Sends `event` to a connection actor: now, or, while a pool transition runs one of its
   * effects, after that transition (XState's own order for events an action sends).
   */
  send(actor: AnyActorRef, event: AnyEventObject): void;
  /** A connection started resting at clock time `at` (its idle deadline counts from then). */
  idleFrom(at: number): void;
}

const CHECKIN = { type: 'CHECKIN' } as const;

/**
 * Idle connections whose actor has not been told CHECKIN yet, and the end-of-turn delivery.
 *
 * Flags on the records and a list, not a Set: a request loop adds and removes the same few
 * records millions of times a turn, and a Set doing that became 4x slower than the rest of a
 * checkout once a garbage collection had moved it to the old generation (the micro benchmark,
 * profiled: 0.69M against 3M ops/s). A record is listed at most once per turn.
 */
export class DeferredCheckins {
  private readonly listed: ConnectionRecord[] = [];
  private flushScheduled = false;

  constructor(
    private readonly clock: Clock,
    private readonly sink: CheckinSink,
  ) {}

  /** `record` went back onto the idle stack: its actor hears CHECKIN at the end of the turn, if it is still idle then. */
  defer(record: ConnectionRecord): void {
    record.checkinOwed = true;
    if (!record.checkinListed) {
      record.checkinListed = true;
      this.listed.push(record);
    }
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(this.flush).unref();
    }
  }

  /** `record` leaves the idle stack: true if its CHECKIN was still pending (its actor is still inUse), now never sent. */
  cancel(record: ConnectionRecord): boolean {
    if (!record.checkinOwed) return false;
    record.checkinOwed = false;
    return true;
  }

  /** Sends `record`'s pending CHECKIN now, before an event that depends on its actor's state. */
  deliver(record: ConnectionRecord): void {
    if (this.cancel(record)) this.sink.send(record.actor, CHECKIN);
  }

  private readonly flush = (): void => {
    this.flushScheduled = false;
    if (this.listed.length === 0) return;
    const now = this.clock.now();
    const records = this.listed.splice(0);
    let delivered = false;
    for (const record of records) {
      record.checkinListed = false;
      if (!this.cancel(record)) continue;
      record.idleSince = now;
      this.sink.send(record.actor, CHECKIN);
      delivered = true;
    }
    if (delivered) this.sink.idleFrom(now);
  };
}
