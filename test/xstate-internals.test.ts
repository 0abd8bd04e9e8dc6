/**
 * The XState internals the library relies on (src/xstate-internals.ts, machines/report.ts),
 * checked against the installed version: an upgrade that changes one fails here instead of
 * silently slowing or breaking the pools.
 */
import { createRequire } from 'node:module';
import { describe, expect, test } from 'vitest';
import { createActor, createMachine, SimulatedClock, type AnyActorRef } from 'xstate';
import { hasParent } from '../machines/report.js';
import { indexScheduler, stopActor, XSTATE_VERSION } from '../src/xstate-internals.js';

/** A machine that, once started, waits 1 s and then goes to `fired`. */
const timed = createMachine({
  id: 'timed',
  initial: 'waiting',
  states: { waiting: { after: { 1000: 'fired' } }, fired: {} },
});

/** A parent that does nothing; only a place for children to belong. */
const idle = createMachine({ id: 'idle' });

type Scheduled = Record<string, { source: AnyActorRef; id: string } | undefined>;
const scheduledOf = (actor: AnyActorRef): Scheduled =>
  (actor.system as unknown as { _snapshot: { _scheduledEvents: Scheduled } })._snapshot._scheduledEvents;

describe('XState internals the library relies on', () => {
  test('the installed XState is the version the assumptions were checked against (package.json pins it)', () => {
    const require = createRequire(import.meta.url);
    const installed = (require('xstate/package.json') as { version: string }).version;
    expect(installed).toBe(XSTATE_VERSION);
    const pinned = (require('../package.json') as { dependencies: Record<string, string> }).dependencies.xstate;
    expect(pinned).toBe(XSTATE_VERSION);
  });

  test("delayed events live in the system's _scheduledEvents, keyed by the source's sessionId and the event's id", () => {
    const clock = new SimulatedClock();
    const root = createActor(idle, { clock }).start();
    const child = createActor(timed, { parent: root }).start();
    const keys = Object.keys(scheduledOf(root));
    expect(keys).toHaveLength(1);
    const entry = scheduledOf(root)[keys[0] ?? ''];
    expect(entry?.source).toBe(child);
    expect(keys[0]).toBe(`${child.sessionId}.${entry?.id}`);
    clock.increment(1000);
    expect(child.getSnapshot().value).toBe('fired');
    // A fired event leaves the record without the scheduler being told (why cancelAll skips it).
    expect(Object.keys(scheduledOf(root))).toHaveLength(0);
    root.stop();
    stopActor(child);
  });

  test("the indexed cancelAll cancels the stopping actor's own delayed events, and no one else's", () => {
    const clock = new SimulatedClock();
    const root = createActor(idle, { clock }).start();
    indexScheduler(root);
    indexScheduler(root); // idempotent: a second call must not wrap the scheduler twice
    const a = createActor(timed, { parent: root }).start();
    const b = createActor(timed, { parent: root }).start();
    expect(Object.keys(scheduledOf(root))).toHaveLength(2);
    stopActor(a); // XState calls system.scheduler.cancelAll(a)
    const left = Object.values(scheduledOf(root));
    expect(left.map((e) => e?.source)).toEqual([b]);
    clock.increment(1000);
    expect(a.getSnapshot().value).toBe('waiting'); // its timer was cancelled
    expect(b.getSnapshot().value).toBe('fired');
    root.stop();
    stopActor(b);
  });

  test('an actor created with a parent is not stopped with it; the xstate.stop event stops it', () => {
    const root = createActor(idle).start();
    const child = createActor(timed, { parent: root }).start();
    root.stop();
    expect(child.getSnapshot().status).toBe('active');
    stopActor(child);
    expect(child.getSnapshot().status).toBe('stopped');
  });

  test('_parent says whether an actor has a parent (machines/report.ts)', () => {
    const root = createActor(idle).start();
    const child = createActor(timed, { parent: root }).start();
    expect(hasParent(child)).toBe(true);
    expect(hasParent(root)).toBe(false);
    stopActor(child);
    root.stop();
  });
});
