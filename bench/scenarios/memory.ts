/**
 * memory: heap per idle pooled resource, and heap growth across long acquire/release runs and
 * across connection churn (create + destroy). Each contender runs in a fresh
 * `node --expose-gc` process per round (memory-child.ts), one after the other.
 */
import type { Contender } from '../contenders/types.js';
import { Samples, type ScenarioContext, type ScenarioResult } from '../lib/scenario.js';
import { runChild } from '../lib/child.js';
import { benchFile, log, rotate } from '../lib/util.js';
import type { MemoryFigures } from './memory-child.js';

/** A child that takes longer is killed and its figures read n/a: [full, quick]. */
const CHILD_LIMIT_MS: [number, number] = [5 * 60_000, 25_000];

function runMemoryChild(contender: Contender, quick: boolean): Promise<MemoryFigures> {
  return runChild<MemoryFigures>(
    benchFile('../scenarios/memory-child.ts'),
    [contender.name, quick ? '1' : '0'],
    [
      '--expose-gc',
      // V8 otherwise drops the bytecode of functions unused for a few GCs (setup code), which
      // reads as the heap shrinking by a few hundred KB between two measurements.
      '--no-flush-bytecode',
    ],
    CHILD_LIMIT_MS[quick ? 1 : 0],
  );
}

export async function runMemory(ctx: ScenarioContext): Promise<ScenarioResult> {
  const samples = new Samples(ctx.contenders.map((c) => ({ name: c.name, version: c.version })));
  const notes: string[] = [];
  let cycles = 0;
  let churn = 0;
  for (let round = 0; round < ctx.rounds; round++) {
    for (const contender of rotate(ctx.contenders, round)) {
      let f: MemoryFigures | undefined;
      try {
        f = await runMemoryChild(contender, ctx.quick);
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        log(`  ! ${contender.name}: memory failed: ${message}`);
        notes.push(`${contender.name}: round ${round + 1} failed: ${message}.`);
      }
      if (f !== undefined) {
        cycles = f.cycles;
        churn = f.churn;
        samples.add(contender.name, 'idle', f.idleBytes);
        samples.add(contender.name, 'overhead', f.idleOverheadBytes);
        samples.add(contender.name, 'cycleGrowth', f.cycleGrowthMB);
        samples.add(contender.name, 'cycleTime', f.cycleSeconds);
        if (f.churnGrowthMB !== null && f.churnSeconds !== null) {
          samples.add(contender.name, 'churnGrowth', f.churnGrowthMB);
          samples.add(contender.name, 'churnTime', f.churnSeconds);
        } else if (round === 0) {
          notes.push(`${contender.name}: no churn figure, the adapter cannot destroy a borrowed resource (retire).`);
        }
        if (f.churnCreated !== null && f.churnCreated !== f.churn) {
          notes.push(`${contender.name}: churn created ${f.churnCreated} resources for ${f.churn} cycles in round ${round + 1}.`);
        }
      }
      log(
        `  memory round ${round + 1}/${ctx.rounds} ${contender.name}: ` +
          (f === undefined
            ? 'n/a'
            : `${f.idleBytes.toFixed(0)} B per idle resource ({} itself ${f.resourceBytes.toFixed(0)} B); ` +
              `${f.cycles} cycles: ${f.cycleGrowthMB.toFixed(3)} MB in ${f.cycleSeconds.toFixed(2)} s; ` +
              `${f.churn} churn: ${f.churnGrowthMB?.toFixed(3) ?? 'n/a'} MB in ${f.churnSeconds?.toFixed(2) ?? 'n/a'} s`),
      );
    }
  }
  const n = (x: number): string => x.toLocaleString('en-US');
  return {
    id: 'memory',
    title: 'memory: heap per idle connection, growth under load',
    description:
      `Each contender in a fresh \`node --expose-gc --no-flush-bytecode\` process. Idle: heap per idle \`{}\` resource in a pool filled with 1,000 ` +
      `(median of ${ctx.quick ? 3 : 5} pools; "pool overhead" subtracts the \`{}\` itself). Growth: heap after full GC, after minus before, across ` +
      `${n(cycles)} acquire/release cycles (1 caller, max 10, after a warm-up) and across ${n(churn)} resources created and destroyed ` +
      `(10 callers, max 10, every borrowed resource retired). Heap excludes V8 code space; growth within ±0.3 MB is measurement noise ` +
      `(a leak of one small object per cycle would read several MB).`,
    rounds: ctx.rounds,
    metrics: [
      { key: 'idle', label: 'bytes per idle connection, B', unit: 'B', better: 'lower' },
      { key: 'overhead', label: 'pool overhead per idle, B', unit: 'B', better: 'lower' },
      { key: 'cycleGrowth', label: `growth over ${n(cycles)} cycles, MB`, unit: 'MB', better: 'lower' },
      { key: 'cycleTime', label: 'cycles took, s', unit: 's', better: 'lower' },
      { key: 'churnGrowth', label: `growth over ${n(churn)} create/destroy, MB`, unit: 'MB', better: 'lower' },
      { key: 'churnTime', label: 'churn took, s', unit: 's', better: 'lower' },
    ],
    rows: samples.toRows(),
    notes,
  };
}
