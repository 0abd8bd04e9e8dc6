import v8 from 'node:v8';
import vm from 'node:vm';
import type { BenchPool, Contender } from '../contenders/types.js';
import { errorMessage, log, settle } from './util.js';

let gcFn: (() => void) | null = null;

/**
 * A full garbage collection, to start each measurement from the same heap state. Uses
 * --expose-gc when the process has it, otherwise enables it at run time (V8 flag + a fresh
 * context, where `gc` then exists).
 */
export async function fullGc(): Promise<void> {
  if (gcFn === null) {
    if (typeof globalThis.gc === 'function') {
      gcFn = globalThis.gc;
    } else {
      v8.setFlagsFromString('--expose-gc');
      const fn: unknown = vm.runInNewContext('gc');
      gcFn = typeof fn === 'function' ? (fn as () => void) : () => undefined;
    }
  }
  await settle();
  gcFn();
  gcFn();
}

/** Brings `n` resources into existence and leaves them idle: acquire n at once, then release all. */
export async function warmPool<R extends object>(pool: BenchPool<R>, n: number): Promise<void> {
  const held = await Promise.all(Array.from({ length: n }, () => pool.acquire()));
  for (const r of held) void pool.release(r);
  await settle();
}

/** Contenders that hung (a measurement exceeded its time limit): skipped from then on. */
export const hungContenders = new Map<string, string>();

const TIMED_OUT = Symbol('timed out');

/**
 * Runs one measurement of one contender; a contender that throws gets a logged note and no
 * sample (its cell reads n/a) instead of ending the suite. One that does not finish within
 * `limitMs` is abandoned and skipped for the rest of the run (its work may still be pending,
 * so the runner then exits explicitly at the end).
 */
export async function guarded<T>(
  contender: Contender | string,
  what: string,
  fn: () => Promise<T>,
  limitMs = 60_000,
): Promise<T | undefined> {
  const name = typeof contender === 'string' ? contender : contender.name;
  if (hungContenders.has(name)) return undefined;
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<typeof TIMED_OUT>((resolve) => {
    timer = setTimeout(() => resolve(TIMED_OUT), limitMs);
  });
  try {
    const result = await Promise.race([fn(), limit]);
    if (result === TIMED_OUT) {
      const reason = `${what} did not finish within ${limitMs / 1000} s`;
      hungContenders.set(name, reason);
      log(`  ! ${name}: ${reason}; skipping it from here on`);
      return undefined;
    }
    return result;
  } catch (err) {
    log(`  ! ${name}: ${what} failed: ${errorMessage(err)}`);
    return undefined;
  } finally {
    clearTimeout(timer);
  }
}
