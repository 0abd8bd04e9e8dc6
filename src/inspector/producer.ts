/**
 * The relay's own producer: an `@statelyai/inspect` adapter that sends the inspector's
 * messages to the relay over one WebSocket. It replaces the package's WebSocket adapter, which
 * answers any socket error (even a close before the connection was established) with a 5 s
 * timer and a reconnect, forever: a process that stopped its inspector early never exits.
 * This one never reconnects (the relay and its producer live and die together), keeps no
 * timer, and says when it is open.
 *
 * Subtlety: messages are serialised as the package's adapter does (JSON, cycles and depths
 * beyond 10 cut), since the snapshots and events it is given are live objects.
 */
import type WebSocket from 'ws';

/** Messages kept while the socket is connecting; the oldest are dropped beyond this. */
const MAX_PENDING = 200;
/** The package's default serialisation depth (`serializationDepthLimit`). */
const DEPTH_LIMIT = 10;

/** The shape of `@statelyai/inspect`'s Adapter (start/stop/send), which it does not export. */
export interface InspectionAdapter {
  start(): void;
  stop(): void;
  send(event: unknown): void;
}

export class RelayProducer implements InspectionAdapter {
  #ws: WebSocket | undefined;
  private pending: string[] = [];
  private readonly openWaiters: Array<() => void> = [];
  /** Resolves when the current socket has closed (its TCP handle released). */
  private closed: Promise<void> = Promise.resolve();

  constructor(
    /** The producer URL (it holds the relay's token). */
    private readonly url: string,
    private readonly WebSocketClass: typeof WebSocket,
  ) {}

  get open(): boolean {
    return this.#ws?.readyState === this.WebSocketClass.OPEN;
  }

  /** Resolves once the socket is open (at once if it is). */
  whenOpen(): Promise<void> {
    if (this.open) return Promise.resolve();
    return new Promise((resolve) => this.openWaiters.push(resolve));
  }

  start(): void {
    if (this.#ws !== undefined) return;
    const ws = new this.WebSocketClass(this.url);
    this.#ws = ws;
    this.closed = new Promise((resolve) => ws.once('close', () => resolve()));
    // Errors end the socket ('close' follows); there is nothing to retry against.
    ws.on('error', () => {});
    ws.on('open', () => {
      for (const text of this.pending.splice(0)) ws.send(text);
      for (const resolve of this.openWaiters.splice(0)) resolve();
    });
    ws.on('close', () => {
      if (this.#ws === ws) this.#ws = undefined;
    });
  }

  /** Resolves once the socket of the last start() has closed (at once if there was none). */
  whenClosed(): Promise<void> {
    return this.closed;
  }

  stop(): void {
    const ws = this.#ws;
    this.#ws = undefined;
    this.pending = [];
    if (ws === undefined) return;
    if (ws.readyState === this.WebSocketClass.CONNECTING) ws.terminate();
    else ws.close(1000, 'inspector stopped');
  }

  send(event: unknown): void {
    const text = serialize(event);
    const ws = this.#ws;
    if (ws !== undefined && ws.readyState === this.WebSocketClass.OPEN) {
      ws.send(text);
    } else if (ws !== undefined && ws.readyState === this.WebSocketClass.CONNECTING) {
      this.pending.push(text);
      if (this.pending.length > MAX_PENDING) this.pending.shift();
    }
    // Stopped or closed: dropped (a stopped inspector sends nothing).
  }
}

/** JSON with `toJSON` honoured, cycles replaced by "[Circular]", objects below DEPTH_LIMIT by "[Object]". */
export function serialize(value: unknown): string {
  const ancestors: unknown[] = [];
  return JSON.stringify(value, function (this: unknown, _key: string, current: unknown) {
    if (typeof current === 'bigint') return current.toString();
    if (current === null || typeof current !== 'object') return current;
    // `this` is the object holding `current`: drop the ancestors that are not on its path.
    while (ancestors.length > 0 && ancestors[ancestors.length - 1] !== this) ancestors.pop();
    if (ancestors.includes(current)) return '[Circular]';
    if (ancestors.length >= DEPTH_LIMIT) return '[Object]';
    ancestors.push(current);
    return current;
  }) ?? 'null';
}
