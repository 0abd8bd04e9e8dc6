import { EventEmitter } from 'node:events';

/** A plain pooled resource that counts its own destruction; it can "drop" like a socket. */
export class FakeConnection extends EventEmitter {
  destroyCalls = 0;
  constructor(readonly n: number) {
    super();
  }
  /** The default destroy finds `close()` first. */
  close(): void {
    this.destroyCalls++;
  }
  /** Simulates the peer closing it: emits 'close' as a socket would. */
  drop(): void {
    this.emit('close');
  }
}

export interface Tracker {
  factory: () => Promise<FakeConnection>;
  /** Every resource the factory produced, in order. */
  created: FakeConnection[];
  calls: number;
  /** Produced and not yet destroyed. */
  live(): number;
  /** The highest `live()` ever seen at creation time. */
  peak: number;
  /** Make the next creates fail with this error (until cleared). */
  failWith: Error | undefined;
  /** Make creates wait for this promise. */
  gate: Promise<void> | undefined;
}

export function tracker(): Tracker {
  const t: Tracker = {
    created: [],
    calls: 0,
    peak: 0,
    failWith: undefined,
    gate: undefined,
    live: () => t.created.filter((c) => c.destroyCalls === 0).length,
    factory: async () => {
      t.calls++;
      if (t.gate !== undefined) await t.gate;
      if (t.failWith !== undefined) throw t.failWith;
      const c = new FakeConnection(t.created.length + 1);
      t.created.push(c);
      t.peak = Math.max(t.peak, t.live());
      return c;
    },
  };
  return t;
}

/** A promise and its resolver, for gating factories and ordering steps without sleeps. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (v: T) => void; reject: (e: unknown) => void } {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Lets pending promise callbacks (microtasks) run. */
export async function flushMicrotasks(rounds = 20): Promise<void> {
  for (let i = 0; i < rounds; i++) await Promise.resolve();
}

/** One full event-loop turn: the pool delivers deferred check-ins at the end of a turn. */
export function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
