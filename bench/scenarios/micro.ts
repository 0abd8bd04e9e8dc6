/**
 * micro: the cost of the pool itself. Acquire + release of a no-op resource ({}), by
 * (a) one caller in a loop and (b) 100 concurrent callers sharing max 10. Adapters with a
 * lease() (cmk-lease) loop lease() → lease.release() instead; the loop is chosen once per
 * measurement, so the timed code has no branch on it.
 */
import type { BenchPool, Contender, PoolConfig } from '../contenders/types.js';
import { runChild } from '../lib/child.js';
import { fullGc, guarded, warmPool } from '../lib/harness.js';
import { Samples, atMost, type DerivedFigure, type ScenarioContext, type ScenarioResult } from '../lib/scenario.js';
import { ratio, type Summary } from '../lib/stats.js';
import { benchFile, log, now, rotate } from '../lib/util.js';

const BATCH = 256;

/** Every caller runs acquire → release until the deadline; returns ops/s over the whole run. */
async function loop(pool: BenchPool<object>, callers: number, durationMs: number): Promise<number> {
  let ops = 0;
  let stop = false;
  const t0 = now();
  const deadline = t0 + durationMs;
  const lease = pool.lease?.bind(pool);
  const caller =
    lease === undefined
      ? async (): Promise<void> => {
          while (!stop) {
            for (let i = 0; i < BATCH; i++) {
              const r = await pool.acquire();
              void pool.release(r);
            }
            ops += BATCH;
            if (now() >= deadline) stop = true;
          }
        }
      : async (): Promise<void> => {
          while (!stop) {
            for (let i = 0; i < BATCH; i++) {
              const l = await lease();
              l.release();
            }
            ops += BATCH;
            if (now() >= deadline) stop = true;
          }
        };
  await Promise.all(Array.from({ length: callers }, caller));
  return ops / ((now() - t0) / 1000);
}

/** cmk's Pool-handle rows against its acquireConnection row: throughput ratio, target ≥ 0.9. */
function handleFigures(rows: ReadonlyArray<{ name: string; figures: Record<string, Summary> }>): DerivedFigure[] {
  const row = (name: string) => rows.find((r) => r.name === name)?.figures;
  const base = row('cmk');
  const out: DerivedFigure[] = [];
  for (const variant of ['cmk-handle', 'cmk-lease']) {
    const v = row(variant);
    if (base === undefined || v === undefined) continue;
    for (const [key, what] of [
      ['seq', '1 caller'],
      ['conc', '100 callers'],
    ] as const) {
      // Expressed as slowdown (cmk ops/s over the variant's), so "within 10 %" is ≤ 1.10.
      const slowdown = ratio(base[key]?.median, v[key]?.median);
      out.push(atMost(`${variant}.${key}`, `${variant} vs cmk, ${what}: cmk ops/s ÷ ${variant} ops/s`, slowdown, 'ratio', 1.1, '≤ 1.10 (within 10 %)'));
    }
  }
  return out;
}

/** One contender's loop, in the calling process (isolated-child.ts calls this in a fresh one). */
export async function measureMicro(contender: Contender, callers: number, warmupMs: number, durationMs: number): Promise<number> {
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

const CHILD_LIMIT_MS = 60_000;

function isolated(contender: Contender, warmupMs: number, durationMs: number): Promise<{ seq: number; conc: number }> {
  return runChild(benchFile('../scenarios/isolated-child.ts'), ['micro', contender.name, String(warmupMs), String(durationMs)], ['--expose-gc'], CHILD_LIMIT_MS);
}

export async function runMicro(ctx: ScenarioContext): Promise<ScenarioResult> {
  const durationMs = ctx.quick ? 300 : 1500;
  const warmupMs = ctx.quick ? 100 : 300;
  const samples = new Samples(ctx.contenders.map((c) => ({ name: c.name, version: c.version })));
  for (let round = 0; round < ctx.rounds; round++) {
    for (const contender of rotate(ctx.contenders, round)) {
      // Both figures from one fresh process per contender and round (see isolated-child.ts).
      const r = await guarded(contender, 'micro', () => isolated(contender, warmupMs, durationMs), CHILD_LIMIT_MS);
      const seq = r?.seq;
      const conc = r?.conc;
      if (seq !== undefined) samples.add(contender.name, 'seq', seq);
      if (conc !== undefined) samples.add(contender.name, 'conc', conc);
      log(
        `  micro round ${round + 1}/${ctx.rounds} ${contender.name}: 1 caller ${seq?.toFixed(0) ?? 'n/a'} ops/s, ` +
          `100 callers ${conc?.toFixed(0) ?? 'n/a'} ops/s`,
      );
    }
  }
  const rows = samples.toRows();
  return {
    id: 'micro',
    title: 'micro: acquire + release of a no-op resource',
    description:
      `Resources are \`{}\`; pool min 10 / max 10, pre-warmed, acquire timeout 30 s; ` +
      `${warmupMs} ms warm-up, then ${durationMs} ms timed per measurement; each contender in a fresh process per round.`,
    rounds: ctx.rounds,
    metrics: [
      { key: 'seq', label: '1 caller, ops/s', unit: 'ops/s', better: 'higher' },
      { key: 'conc', label: '100 callers, max 10, ops/s', unit: 'ops/s', better: 'higher' },
    ],
    rows,
    notes: [],
    figures: handleFigures(rows),
  };
}
