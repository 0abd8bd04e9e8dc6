/**
 * The default clock (src/clock.ts): its timers are armed a microtask after they are set, so a
 * timer cleared in the step that set it (a synchronous destroy's destroy timeout) never reaches
 * Node's timer lists; timers still fire after their delay, and a ref'd one holds the process.
 * Real time, small delays, generous bounds.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import { describe, expect, test } from 'vitest';
import { refTimeout, systemClock } from '../src/clock.js';

/** Ref'd Node timers alive now (unref'd ones are not listed). */
const refdTimers = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

describe('systemClock', () => {
  test('a timer cleared in the step that set it is never armed; one left set is armed after the step', async () => {
    await nextTurn();
    const before = refdTimers();
    const cleared = refTimeout(systemClock, () => expect.fail('a cleared timer fired'), 50);
    systemClock.clearTimeout(cleared);
    await nextTurn();
    expect(refdTimers()).toBe(before);

    const kept = refTimeout(systemClock, () => {}, 60_000);
    expect(refdTimers()).toBe(before); // not yet: armed once this step is done
    await nextTurn();
    expect(refdTimers()).toBe(before + 1); // ref'd, so it holds the process like any timer
    systemClock.clearTimeout(kept);
    expect(refdTimers()).toBe(before);
  });

  test('timers fire after their delay, in order, and an Infinity timer is never set', async () => {
    const fired: string[] = [];
    const t0 = performance.now();
    const done = new Promise<number>((resolve) => {
      systemClock.setTimeout(() => fired.push('short'), 5);
      systemClock.setTimeout(() => {
        fired.push('long');
        resolve(performance.now() - t0);
      }, 30);
      systemClock.setTimeout(() => fired.push('never'), Number.POSITIVE_INFINITY);
    });
    const elapsed = await done;
    expect(fired).toEqual(['short', 'long']);
    expect(elapsed).toBeGreaterThanOrEqual(29);
    expect(elapsed).toBeLessThan(5000);
  });

  test('a timer set and cleared before arming, then set again, fires once', async () => {
    let calls = 0;
    const first = systemClock.setTimeout(() => calls++, 1);
    systemClock.clearTimeout(first);
    await new Promise<void>((resolve) =>
      systemClock.setTimeout(() => {
        calls++;
        resolve();
      }, 1),
    );
    await new Promise((resolve) => setTimeout(resolve, 20)); // the cleared one's delay, long past
    expect(calls).toBe(1);
  });
});
