/**
 * One contender's memory figures, in a fresh `node --expose-gc` process (forked by memory.ts),
 * so that neither other contenders' garbage nor their JIT state is in the heap being measured.
 *
 *   argv: <contender> <quick: 0|1>     result: one ChildMessage<MemoryFigures> over IPC
 */
import v8 from 'node:v8';
import { isContenderName, loadContender } from '../contenders/index.js';
import type { BenchPool, Contender, PoolConfig } from '../contenders/types.js';
import { median } from '../lib/stats.js';
import { childMain } from '../lib/child.js';
import { now, settle, sleep } from '../lib/util.js';

export interface MemoryFigures {
  /** Heap per idle pooled resource, the `{}` resource included. */
  idleBytes: number;
  /** The same minus the heap of the `{}` resources themselves: what the pool adds. */
  idleOverheadBytes: number;
  resourceBytes: number;
  cycles: number;
  cycleGrowthMB: number;
  cycleSeconds: number;
  churn: number;
  /** null when the adapter cannot retire (destroy) a borrowed resource. */
  churnGrowthMB: number | null;
  churnSeconds: number | null;
  churnCreated: number | null;
}

/**
 * Idle resources per pool in the per-connection figure. JIT metadata adds some ±20 KB of noise
 * per measurement (±20 B per resource at 1,000), hence the median of several pools.
 */
const IDLE = 1_000;
/** Pools measured for the idle figure: [full, quick]. */
const REPEAT: [number, number] = [5, 3];
/** Churn runs with the pool size of the other scenarios: CHURN_MAX callers, each retiring. */
const CHURN_MAX = 10;
const MB = 1e6;

const gc: () => void = (() => {
  const fn = globalThis.gc;
  if (typeof fn !== 'function') throw new Error('memory-child needs --expose-gc');
  return fn;
})();

/**
 * Heap in use after full GCs, without V8's code spaces: compiled code comes and goes with the
 * JIT and is not the data a pool holds. A timers phase goes by first: cleared timers (e.g. one
 * per generic-pool acquire) can keep a closed pool reachable until Node's timer lists are next
 * processed.
 */
async function heapAfterGc(): Promise<number> {
  await sleep(20);
  await settle();
  gc();
  await settle();
  gc();
  let used = 0;
  for (const space of v8.getHeapSpaceStatistics()) {
    if (!space.space_name.startsWith('code')) used += space.space_used_size;
  }
  return used;
}

const noResource = (): Promise<object> => Promise.resolve({});

function config(min: number, max: number, extra: Partial<PoolConfig<object>> = {}): PoolConfig<object> {
  return { min, max, acquireTimeoutMs: 30_000, create: noResource, destroy: () => undefined, ...extra };
}

/** Borrows n resources (in concurrent batches of up to 100), then releases them all. */
async function fillIdle(pool: BenchPool<object>, n: number): Promise<void> {
  const held: object[] = [];
  while (held.length < n) {
    const batch = Math.min(100, n - held.length);
    held.push(...(await Promise.all(Array.from({ length: batch }, () => pool.acquire()))));
  }
  for (const r of held) void pool.release(r);
  held.length = 0;
  await settle();
}

/** Heap of one `{}` resource (the factory's object literal), measured on 100,000 of them. */
async function bytesPerBareResource(): Promise<number> {
  const n = 100_000;
  const placeholder = {};
  const holder: object[] = new Array<object>(n).fill(placeholder);
  const before = await heapAfterGc();
  for (let i = 0; i < n; i++) holder[i] = {};
  const after = await heapAfterGc();
  const per = (after - before) / n;
  holder.fill(placeholder);
  return per;
}

/** Heap per idle resource: fill a fresh pool with IDLE idle `{}`; median of several pools. */
async function idleBytes(contender: Contender, repeat: number): Promise<number> {
  // A first pool warms the code paths (and any lazily grown structures of the library).
  const warm = contender.create(config(0, IDLE));
  await fillIdle(warm, IDLE);
  await warm.close();
  const figures: number[] = [];
  for (let i = 0; i < repeat; i++) {
    const pool = contender.create(config(0, IDLE));
    try {
      const before = await heapAfterGc();
      await fillIdle(pool, IDLE);
      const after = await heapAfterGc();
      figures.push((after - before) / IDLE);
    } finally {
      await pool.close();
    }
  }
  return median(figures);
}

async function cycleGrowth(contender: Contender, cycles: number): Promise<{ mb: number; seconds: number }> {
  const pool = contender.create(config(10, 10));
  try {
    await fillIdle(pool, 10);
    for (let i = 0; i < Math.min(cycles, 50_000); i++) void pool.release(await pool.acquire());
    const before = await heapAfterGc();
    const t0 = now();
    for (let i = 0; i < cycles; i++) void pool.release(await pool.acquire());
    const seconds = (now() - t0) / 1000;
    const after = await heapAfterGc();
    return { mb: (after - before) / MB, seconds };
  } finally {
    await pool.close();
  }
}

/**
 * Connections created and destroyed: CHURN_MAX callers on a pool of max CHURN_MAX retire every
 * resource they borrow, so each acquire creates a new one; `churn` cycles in total after a
 * warm-up of a tenth of that. (Several callers rather than one: tarn can only destroy a
 * borrowed resource through a failing validate(), which costs a setTimeout(0), about 1 ms,
 * per destroy; in parallel those timers overlap.)
 */
async function churnGrowth(contender: Contender, churn: number): Promise<{ mb: number; seconds: number; created: number } | null> {
  let created = 0;
  const pool = contender.create(
    config(0, CHURN_MAX, {
      retirable: true,
      create: () => {
        created++;
        return Promise.resolve({});
      },
    }),
  );
  try {
    const retire = pool.retire?.bind(pool);
    if (retire === undefined) return null;
    const run = async (cycles: number): Promise<void> => {
      let left = cycles;
      const caller = async (): Promise<void> => {
        while (left > 0) {
          left--;
          await retire(await pool.acquire());
        }
      };
      await Promise.all(Array.from({ length: CHURN_MAX }, caller));
    };
    await run(churn / 10);
    const before = await heapAfterGc();
    const created0 = created;
    const t0 = now();
    await run(churn);
    const seconds = (now() - t0) / 1000;
    const after = await heapAfterGc();
    return { mb: (after - before) / MB, seconds, created: created - created0 };
  } finally {
    await pool.close();
  }
}

async function main(): Promise<MemoryFigures> {
  const [name = '', quickFlag = '0'] = process.argv.slice(2);
  if (!isContenderName(name)) throw new Error(`unknown contender ${name}`);
  const quick = quickFlag === '1';
  const contender = await loadContender(name);
  const cycles = quick ? 100_000 : 1_000_000;
  const churn = quick ? 10_000 : 100_000;

  await heapAfterGc();
  const resourceBytes = await bytesPerBareResource();
  const idle = await idleBytes(contender, REPEAT[quick ? 1 : 0]);
  const cyc = await cycleGrowth(contender, cycles);
  const ch = await churnGrowth(contender, churn);
  return {
    idleBytes: idle,
    idleOverheadBytes: idle - resourceBytes,
    resourceBytes,
    cycles,
    cycleGrowthMB: cyc.mb,
    cycleSeconds: cyc.seconds,
    churn,
    churnGrowthMB: ch?.mb ?? null,
    churnSeconds: ch?.seconds ?? null,
    churnCreated: ch?.created ?? null,
  };
}

await childMain(main);
