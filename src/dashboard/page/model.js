// @ts-check
/**
 * The page's copy of the server's state, kept by applying each batch message. Applying is
 * cheap map work; drawing is the renderer's job, at most once a frame.
 *
 * The one subtlety: pending timers carry the server's wall-clock start time, so the time left
 * is computed against the server's clock (`skewMs`, measured on every batch), not the
 * browser's, which may run elsewhere.
 */

/** @typedef {import('../protocol.js').BatchMessage} BatchMessage */
/** @typedef {import('../protocol.js').ActorRow} ActorRow */
/** @typedef {import('../protocol.js').PendingTimer} PendingTimer */
/** @typedef {import('../protocol.js').LogEntry} LogEntry */
/** @typedef {import('../protocol.js').PoolStatsView} PoolStatsView */
/** @typedef {import('../protocol.js').ChartStatus} ChartStatus */

/** Log entries kept in the page; older ones are dropped. */
export const LOG_CAPACITY = 5000;

export class Model {
  constructor() {
    /** @type {Map<string, ActorRow>} by sessionId */
    this.actors = new Map();
    /** @type {Map<string, PendingTimer[]>} by sessionId */
    this.timers = new Map();
    /** @type {Map<string, PoolStatsView>} by key */
    this.stats = new Map();
    /** @type {LogEntry[]} oldest first */
    this.log = [];
    /** Entries dropped: by the server (a batch can carry only so many) or here (capacity). */
    this.logDropped = 0;
    /** Entries removed from the front of `log` since the start (to keep indexes stable for views). */
    this.logShifted = 0;
    /** Server clock minus browser clock, ms. */
    this.skewMs = 0;
    /** Bumped when actors come or go: the actor list must be rebuilt. */
    this.structure = 0;
    /** Bumped on every change. */
    this.version = 0;
    /** @type {Set<string>} keys seen (pools, links, log) */
    this.keys = new Set();
    /** @type {ChartStatus[]} */
    this.charts = [];
    /** @type {Set<string>} sessionIds changed by the last batches, until the renderer takes them */
    this.changed = new Set();
  }

  /** @param {BatchMessage} msg */
  apply(msg) {
    this.skewMs = msg.now - Date.now();
    if (msg.reset) {
      this.actors.clear();
      this.timers.clear();
      this.stats.clear();
      this.structure++;
      if (msg.charts) this.charts = msg.charts;
    }
    for (const row of msg.upsert) {
      if (!this.actors.has(row.sid)) this.structure++;
      this.actors.set(row.sid, row);
      this.changed.add(row.sid);
      if (row.key !== null) this.keys.add(row.key);
    }
    for (const [sid, status, state] of msg.states) {
      const row = this.actors.get(sid);
      if (row === undefined) continue;
      this.actors.set(sid, { ...row, status, state });
      this.changed.add(sid);
    }
    for (const sid of msg.remove) {
      if (this.actors.delete(sid)) this.structure++;
      this.timers.delete(sid);
      this.changed.add(sid);
    }
    for (const [sid, tuples] of Object.entries(msg.timers)) {
      if (tuples.length === 0) this.timers.delete(sid);
      else this.timers.set(sid, tuples.map(([event, delayMs, startedAt]) => ({ event: msg.timerEvents[event] ?? '?', delayMs, startedAt })));
      this.changed.add(sid);
    }
    for (const [key, stats] of Object.entries(msg.stats)) this.stats.set(key, stats);
    for (const entry of msg.log) {
      this.log.push(entry);
      if (entry.key !== null) this.keys.add(entry.key);
    }
    this.logDropped += msg.logDropped;
    if (this.log.length > LOG_CAPACITY * 1.25) {
      const extra = this.log.length - LOG_CAPACITY;
      this.log.splice(0, extra);
      this.logShifted += extra;
      this.logDropped += extra;
    }
    this.version++;
  }

  /**
   * Time left before a timer fires, ms.
   * @param {PendingTimer} timer
   */
  timeLeft(timer) {
    return timer.startedAt + timer.delayMs - (Date.now() + this.skewMs);
  }

  /** @param {string} id */
  byId(id) {
    for (const row of this.actors.values()) if (row.id === id) return row;
    return undefined;
  }
}
