/**
 * XState's own cost for the churn benchmark's lifecycle, with nothing of ours: a parent actor
 * and ten reused child actors stepping through the same six microsteps per lifecycle as a pooled
 * connection that is created, lent and destroyed (child: START, CREATED, DISCARD, DESTROYED
 * raised; parent: READY, CLOSED), with ten callers. Run by bench/xstate-floor.ts beside cmk's
 * churn; usage: tsx bench/scenarios/xstate-floor-child.ts <ms>.
 */
import { assign, createActor, raise, sendParent, setup, type AnyActorRef } from 'xstate';
import { childMain } from '../lib/child.js';

export interface FloorFigures {
  lifecyclesPerSecond: number;
}

const CALLERS = 10;

const connection = setup({}).createMachine({
  initial: 'spare',
  context: { attempt: 0, reason: '' },
  states: {
    spare: { on: { START: { target: 'connecting', actions: assign({ attempt: ({ context }) => context.attempt + 1 }) } } },
    connecting: { on: { CREATED: { target: 'inUse', actions: sendParent({ type: 'READY' }) } } },
    inUse: { on: { DISCARD: { target: 'closing', actions: assign({ reason: 'discarded' }) } } },
    closing: { entry: raise({ type: 'DESTROYED' }), on: { DESTROYED: 'closed' } },
    closed: {
      entry: sendParent(({ self }) => ({ type: 'CLOSED', id: self.id })),
      on: { START: { target: 'connecting', actions: assign({ attempt: ({ context }) => context.attempt + 1 }) } },
    },
  },
});

/** Callers waiting for their next connection, oldest first. */
const waiting: Array<(connection: AnyActorRef) => void> = [];
const children = new Map<string, AnyActorRef>();

/** The parent reuses a closed child for the next connection, created a microtask later. */
function restart(id: string): void {
  const child = children.get(id);
  if (child === undefined) return;
  queueMicrotask(() => {
    child.send({ type: 'START' });
    void Promise.resolve().then(() => {
      child.send({ type: 'CREATED' });
      waiting.shift()?.(child);
    });
  });
}

const pool = setup({
  types: { events: {} as { type: 'READY' } | { type: 'CLOSED'; id: string } },
  actions: { reuse: ({ event }) => (event.type === 'CLOSED' ? restart(event.id) : undefined) },
}).createMachine({
  type: 'parallel',
  context: { open: 0 },
  states: {
    creates: {
      on: {
        READY: { actions: assign({ open: ({ context }) => context.open + 1 }) },
        CLOSED: { actions: [assign({ open: ({ context }) => context.open - 1 }), 'reuse'] },
      },
    },
    housekeeping: { initial: 'idle', states: { idle: {} } },
  },
});

async function run(ms: number): Promise<{ count: number; seconds: number }> {
  let count = 0;
  const t0 = performance.now();
  const deadline = t0 + ms;
  const caller = async (first: AnyActorRef): Promise<void> => {
    let current = first;
    while (performance.now() < deadline) {
      const next = new Promise<AnyActorRef>((resolve) => waiting.push(resolve));
      current.send({ type: 'DISCARD' });
      current = await next;
      count++;
    }
  };
  await Promise.all([...children.values()].map(caller));
  return { count, seconds: (performance.now() - t0) / 1000 };
}

async function main(): Promise<FloorFigures> {
  const ms = Number(process.argv[2] ?? 2000);
  const parent = createActor(pool).start();
  for (let i = 0; i < CALLERS; i++) {
    const child = createActor(connection, { parent, id: `c${i}` }).start();
    children.set(child.id, child);
    child.send({ type: 'START' });
    child.send({ type: 'CREATED' });
  }
  // The same warm-up as the churn scenario: a quarter of the time.
  await run(ms / 4);
  // Every caller ended holding a lent connection (each child is inUse again): go on from there.
  const { count, seconds } = await run(ms);
  parent.stop();
  return { lifecyclesPerSecond: count / seconds };
}

await childMain(main);
