/**
 * micro: the cost of the pool itself. Acquire + release of a no-op resource ({}), by
 * (a) one caller in a loop and (b) 100 concurrent callers sharing max 10.
 */
import type { BenchPool, Contender, PoolConfig } from '../contenders/types.js';
import { fullGc, guarded, warmPool } from '../lib/harness.js';
import { Samples, type ScenarioContext, type ScenarioResult } from '../lib/scenario.js';
import { log, now, rotate } from '../lib/util.js';

const BATCH = 256;

/** Every caller runs acquire → release until the deadline; returns ops/s over the whole run. */
async function loop(pool: BenchPool<object>, callers: number, durationMs: number): Promise<number> {
  let ops = 0;
  let stop = false;
  const t0 = now();
  const deadline = t0 + durationMs;
  const caller = async (): Promise<void> => {
    while (!stop) {
      for (let i = 0; i < BATCH; i++) {
        const r = await pool.acquire();
        void pool.release(r);
      }
      ops += BATCH;
      if (now() >= deadline) stop = true;
    }
  };
  await Promise.all(Array.from({ length: callers }, caller));
  return ops / ((now() - t0) / 1000);
}

async function measure(contender: Contender, callers: number, warmupMs: number, durationMs: number): Promise<number> {
  const config: PoolConfig<object> = {
    min: 10,
    max: 10,
    acquireTimeoutMs: 30_000,
    create: () => Promise.resolve({}),
    destroy: () => undefined,
  };
  const pool = contender.create(config);
  try {
    await warmPool(pool, config.max);
    await loop(pool, callers, warmupMs);
    await fullGc();
    return await loop(pool, callers, durationMs);
  } finally {
    await pool.close();
  }
}

export async function runMicro(ctx: ScenarioContext): Promise<ScenarioResult> {
  const durationMs = ctx.quick ? 300 : 1500;
  const warmupMs = ctx.quick ? 100 : 300;
  const samples = new Samples(ctx.contenders.map((c) => ({ name: c.name, version: c.version })));
  for (let round = 0; round < ctx.rounds; round++) {
    for (const contender of rotate(ctx.contenders, round)) {
      const seq = await guarded(contender, 'micro 1 caller', () => measure(contender, 1, warmupMs, durationMs));
      if (seq !== undefined) samples.add(contender.name, 'seq', seq);
      const conc = await guarded(contender, 'micro 100 callers', () => measure(contender, 100, warmupMs, durationMs));
      if (conc !== undefined) samples.add(contender.name, 'conc', conc);
      log(
        `  micro round ${round + 1}/${ctx.rounds} ${contender.name}: 1 caller ${seq?.toFixed(0) ?? 'n/a'} ops/s, ` +
          `100 callers ${conc?.toFixed(0) ?? 'n/a'} ops/s`,
      );
    }
  }
  return {
    id: 'micro',
    title: 'micro: acquire + release of a no-op resource',
    description:
      `Resources are \`{}\`; pool min 10 / max 10, pre-warmed, acquire timeout 30 s; ` +
      `${warmupMs} ms warm-up, then ${durationMs} ms timed per measurement.`,
    rounds: ctx.rounds,
    metrics: [
      { key: 'seq', label: '1 caller, ops/s', unit: 'ops/s', better: 'higher' },
      { key: 'conc', label: '100 callers, max 10, ops/s', unit: 'ops/s', better: 'higher' },
    ],
    rows: samples.toRows(),
    notes: [],
  };
}
