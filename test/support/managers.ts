import { afterEach } from 'vitest';
import { SimulatedClock } from 'xstate';
import { ConnectionManager, type ConnectionManagerOptions } from '../../src/index.js';

const open: ConnectionManager[] = [];

/** A manager shut down after the test (forcing lent connections at once). */
export function manager(options: ConnectionManagerOptions = {}): ConnectionManager {
  const m = new ConnectionManager(options);
  open.push(m);
  return m;
}

/** A manager on a SimulatedClock, and the clock. */
export function simulated(options: Omit<ConnectionManagerOptions, 'clock'> = {}) {
  const clock = new SimulatedClock();
  return { clock, m: manager({ ...options, clock }) };
}

afterEach(async () => {
  await Promise.all(
    open.splice(0).map((m) => {
      const done = m.gracefulShutdown({ timeout: 0 });
      // A simulated clock only moves when told: fire the 0 ms shutdown timeout.
      const clock = (m as unknown as { runtime: { clock: unknown } }).runtime.clock;
      if (clock instanceof SimulatedClock) clock.increment(0);
      return done;
    }),
  );
});
