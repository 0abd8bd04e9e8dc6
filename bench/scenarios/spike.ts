/**
 * spike: 50 callers arrive at once at a pool whose factory takes 150 ms. Pool min 5 / max 50,
 * the 5 warm before the spike; each caller holds its resource for 2 ms of work. A pool that
 * opens a connection for every waiter creates 45; one that waits for the warm ones (which come
 * back every ~2 ms) creates few. Reports creates, time until all 50 are done, and acquire waits.
 */
import type { Contender } from '../contenders/types.js';
import { fullGc, guarded, warmPool } from '../lib/harness.js';
import { Samples, type ScenarioContext, type ScenarioResult } from '../lib/scenario.js';
import { quantile } from '../lib/stats.js';
import { log, now, rotate, sleep } from '../lib/util.js';

const CREATE_MS = 150;
const WORK_MS = 2;
const MIN = 5;
const MAX = 50;
const CALLERS = 50;

interface SpikeFigures {
  created: number;
  totalMs: number;
  p50: number;
  p99: number;
  max: number;
}

async function measure(contender: Contender): Promise<SpikeFigures> {
  let created = 0;
  const pool = contender.create<object>({
    min: MIN,
    max: MAX,
    acquireTimeoutMs: 10_000,
    create: async () => {
      created++;
      await sleep(CREATE_MS);
      return {};
    },
    destroy: () => undefined,
  });
  try {
    // The min 5 are warm (created and idle) before the spike, whether or not the pool pre-creates.
    await warmPool(pool, MIN);
    await sleep(50);
    await fullGc();
    const createdBefore = created;
    const waits: number[] = [];
    const t0 = now();
    const caller = async (): Promise<void> => {
      const ta = now();
      const r = await pool.acquire();
      waits.push(now() - ta);
      await sleep(WORK_MS);
      void pool.release(r);
    };
    await Promise.all(Array.from({ length: CALLERS }, caller));
    const totalMs = now() - t0;
    // Creates started during the spike but finishing later count too; let them land before close.
    await sleep(CREATE_MS + 50);
    return {
      created: created - createdBefore,
      totalMs,
      p50: quantile(waits, 0.5),
      p99: quantile(waits, 0.99),
      max: Math.max(...waits),
    };
  } finally {
    await pool.close();
  }
}

export async function runSpike(ctx: ScenarioContext): Promise<ScenarioResult> {
  const samples = new Samples(ctx.contenders.map((c) => ({ name: c.name, version: c.version })));
  for (let round = 0; round < ctx.rounds; round++) {
    for (const contender of rotate(ctx.contenders, round)) {
      const f = await guarded(contender, 'spike', () => measure(contender));
      if (f !== undefined) {
        samples.add(contender.name, 'created', f.created);
        samples.add(contender.name, 'total', f.totalMs);
        samples.add(contender.name, 'p50', f.p50);
        samples.add(contender.name, 'p99', f.p99);
      }
      log(
        `  spike round ${round + 1}/${ctx.rounds} ${contender.name}: ` +
          (f === undefined
            ? 'n/a'
            : `created ${f.created}, all done in ${f.totalMs.toFixed(1)} ms, wait p50 ${f.p50.toFixed(1)} / p99 ${f.p99.toFixed(1)} / max ${f.max.toFixed(1)} ms`),
      );
    }
  }
  return {
    id: 'spike',
    title: 'spike: 50 callers at once, slow factory',
    description:
      `Factory takes ${CREATE_MS} ms (timer); pool min ${MIN} / max ${MAX} with the ${MIN} warm; ${CALLERS} callers arrive at once, ` +
      `each holds its resource for ${WORK_MS} ms. "created" counts factory calls started by the spike.`,
    rounds: ctx.rounds,
    metrics: [
      { key: 'created', label: 'connections created', unit: 'count', better: 'lower' },
      { key: 'total', label: 'all 50 done, ms', unit: 'ms', better: 'lower' },
      { key: 'p50', label: 'acquire wait p50, ms', unit: 'ms', better: 'lower' },
      { key: 'p99', label: 'acquire wait p99, ms', unit: 'ms', better: 'lower' },
    ],
    rows: samples.toRows(),
    notes: [],
  };
}
