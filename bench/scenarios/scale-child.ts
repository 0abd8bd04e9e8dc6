/**
 * One scale measurement of one contender, in a fresh `node --expose-gc` process (forked by
 * scale.ts), so that neither an earlier size's garbage nor its JIT state is in this one.
 *
 *   argv: <contender> one-key <N>     fill N connections under one key, return them, shut down
 *         <contender> keys <K>        one connection under each of K keys, return, shut down
 *         <contender> churn <ms>      10 callers, max 10, every connection destroyed, for ms
 *   result: one ChildMessage<ScaleFigures> over IPC
 *
 * The subtlety: a cold process would pay for compiling the pool's code inside the first timed
 * fill, a constant that flattens the fitted growth exponent at small sizes. So a small
 * untimed run of the same kind goes first, then a full GC, then the timed run.
 */
import { isContenderName, loadContender } from '../contenders/index.js';
import { createKeyed } from '../contenders/keyed.js';
import type { Contender, PoolConfig } from '../contenders/types.js';
import { childMain } from '../lib/child.js';
import { fullGc } from '../lib/harness.js';
import { now, settle } from '../lib/util.js';

export type ScaleKind = 'one-key' | 'keys' | 'churn';

export interface FillFigures {
  kind: 'one-key' | 'keys';
  size: number;
  /** From the first acquire (keys: from creating the pools) until all N resolved. */
  acquireMs: number;
  /** Returning all N, plus a few event-loop turns for the pool to take them in. */
  returnMs: number;
  /** close(): cmk gracefulShutdown(), generic-pool drain() + clear(), tarn destroy(). */
  shutdownMs: number;
  totalMs: number;
}

export interface ChurnFigures {
  kind: 'churn';
  durationMs: number;
  /** null when the adapter cannot destroy a borrowed resource. */
  lifecyclesPerSecond: number | null;
  lifecycles: number;
  created: number;
}

export type ScaleFigures = FillFigures | ChurnFigures;

/**
 * Untimed warm-up size for fills (and keys). Large enough for V8 to have optimised the pool's
 * hot paths (a 200 warm-up still left cmk's 1k fill slower than its 2k one).
 */
const WARM = 1_000;
/** Longer than any fill: an acquire that times out would be a failure, not a figure. */
const ACQUIRE_TIMEOUT_MS = 600_000;
const CHURN_MAX = 10;

function config(max: number, extra: Partial<PoolConfig<object>> = {}): PoolConfig<object> {
  return { min: 0, max, acquireTimeoutMs: ACQUIRE_TIMEOUT_MS, create: async () => ({}), destroy: () => undefined, ...extra };
}

function checkDistinct(held: readonly object[], n: number): void {
  const distinct = new Set(held).size;
  if (held.length !== n || distinct !== n) throw new Error(`expected ${n} distinct resources lent at once, got ${distinct} of ${held.length}`);
}

async function oneKey(contender: Contender, n: number): Promise<FillFigures> {
  const pool = contender.create(config(n));
  let closed = false;
  try {
    const t0 = now();
    const held = await Promise.all(Array.from({ length: n }, () => pool.acquire()));
    const t1 = now();
    checkDistinct(held, n);
    for (const r of held) void pool.release(r);
    await settle();
    const t2 = now();
    closed = true;
    await pool.close();
    const t3 = now();
    return { kind: 'one-key', size: n, acquireMs: t1 - t0, returnMs: t2 - t1, shutdownMs: t3 - t2, totalMs: t3 - t0 };
  } finally {
    if (!closed) await pool.close();
  }
}

async function keys(contender: Contender, k: number): Promise<FillFigures> {
  const t0 = now();
  const pools = createKeyed(contender, config(1), k);
  let closed = false;
  try {
    const held = await Promise.all(Array.from({ length: k }, (_, key) => pools.acquire(key)));
    const t1 = now();
    checkDistinct(held, k);
    held.forEach((r, key) => void pools.release(key, r));
    await settle();
    const t2 = now();
    closed = true;
    await pools.close();
    const t3 = now();
    return { kind: 'keys', size: k, acquireMs: t1 - t0, returnMs: t2 - t1, shutdownMs: t3 - t2, totalMs: t3 - t0 };
  } finally {
    if (!closed) await pools.close();
  }
}

async function churn(contender: Contender, durationMs: number): Promise<ChurnFigures> {
  let created = 0;
  const pool = contender.create(
    config(CHURN_MAX, {
      retirable: true,
      create: async () => {
        created++;
        return {};
      },
    }),
  );
  try {
    const retire = pool.retire?.bind(pool);
    if (retire === undefined) return { kind: 'churn', durationMs, lifecyclesPerSecond: null, lifecycles: 0, created: 0 };
    const run = async (ms: number): Promise<{ count: number; seconds: number }> => {
      let count = 0;
      const t0 = now();
      const deadline = t0 + ms;
      const caller = async (): Promise<void> => {
        while (now() < deadline) {
          await retire(await pool.acquire());
          count++;
        }
      };
      await Promise.all(Array.from({ length: CHURN_MAX }, caller));
      return { count, seconds: (now() - t0) / 1000 };
    };
    await run(durationMs / 4);
    await fullGc();
    const created0 = created;
    const { count, seconds } = await run(durationMs);
    return { kind: 'churn', durationMs, lifecyclesPerSecond: count / seconds, lifecycles: count, created: created - created0 };
  } finally {
    await pool.close();
  }
}

async function main(): Promise<ScaleFigures> {
  const [name = '', kind = '', sizeArg = ''] = process.argv.slice(2);
  if (!isContenderName(name)) throw new Error(`unknown contender ${name}`);
  const size = Number(sizeArg);
  if (!Number.isInteger(size) || size < 1) throw new Error(`bad size ${sizeArg}`);
  const contender = await loadContender(name);
  switch (kind) {
    case 'one-key':
      await oneKey(contender, Math.min(WARM, size));
      await fullGc();
      return oneKey(contender, size);
    case 'keys':
      await keys(contender, Math.min(WARM, size));
      await fullGc();
      return keys(contender, size);
    case 'churn':
      return churn(contender, size);
    default:
      throw new Error(`unknown kind ${kind}`);
  }
}

await childMain(main);
