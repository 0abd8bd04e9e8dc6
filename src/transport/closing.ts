/**
 * How a Connection ends: its one close event, whoever awaits it (`whenClosed()`, `close()`),
 * and the grace period of a graceful close, after which a socket whose peer has not finished
 * the close is destroyed. It decides nothing: the Connection says when to start the grace
 * period and when the connection has closed for good.
 *
 * Subtlety: the grace timer must be cleared however the socket closes (peer's FIN, reset,
 * destroy), or a closed connection would keep a timer pending until it fires.
 */
import { refTimers, type Clock } from '../clock.js';
import type { Duration } from '../time.js';
import type { ConnectionCloseEvent } from './connection-events.js';


export class Closing {
  /** Set once, when the connection has closed for good. */
  private closeEvent: ConnectionCloseEvent | undefined;
  private readonly waiting: Array<(event: ConnectionCloseEvent) => void> = [];
  /** close()'s promise, the same for every call. */
  private closePromise: Promise<void> | undefined;
  private graceTimer: unknown;

  private readonly timers: Pick<Clock, 'setTimeout' | 'clearTimeout'>;

  constructor(
    /** Default: real timers (they keep the process alive: a close is being awaited). */
    timers: Pick<Clock, 'setTimeout' | 'clearTimeout'> | undefined,
    /** ms; Infinity: wait for the peer forever. */
    private readonly graceMs: Duration,
  ) {
    this.timers = timers ?? refTimers;
  }

  get event(): ConnectionCloseEvent | undefined {
    return this.closeEvent;
  }

  whenClosed(): Promise<ConnectionCloseEvent> {
    if (this.closeEvent) return Promise.resolve(this.closeEvent);
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  /** close()'s promise; `first` is true for the call that created it. */
  closeRequested(): { promise: Promise<void>; first: boolean } {
    if (this.closePromise) return { promise: this.closePromise, first: false };
    this.closePromise = this.whenClosed().then(() => undefined);
    return { promise: this.closePromise, first: true };
  }

  /** Starts the grace period: `destroy` runs if the connection has not closed by its end. */
  startGrace(destroy: () => void): void {
    if (this.graceMs === Infinity) return;
    this.graceTimer = this.timers.setTimeout(() => {
      this.graceTimer = undefined;
      destroy();
    }, this.graceMs);
  }

  /** The socket closed: the grace period is over, whichever way. */
  stopGrace(): void {
    if (this.graceTimer === undefined) return;
    this.timers.clearTimeout(this.graceTimer);
    this.graceTimer = undefined;
  }

  /** Closed for good: records the event (then the Connection settles its writes and readers). */
  finish(event: ConnectionCloseEvent): void {
    this.stopGrace();
    this.closeEvent = event;
  }

  /** Answers everyone waiting; called after writes and readers were settled, so whoever awaited `whenClosed()` finds them settled. */
  resolveWaiting(): void {
    const event = this.closeEvent;
    if (event === undefined) return;
    for (const resolve of this.waiting.splice(0)) resolve(event);
  }
}
