/**
 * How far the churn benchmark's cmk figure is from XState's own floor: the bare actor pair of
 * bench/scenarios/xstate-floor-child.ts (the same six microsteps per lifecycle, actors reused,
 * nothing else) against cmk and generic-pool in the `scale` churn scenario, each in a fresh
 * process, interleaved over rounds. Reports figures; asserts none.
 *
 *   npx tsx bench/xstate-floor.ts [rounds=3] [ms=2000]
 */
import type { ChurnFigures } from './scenarios/scale-child.js';
import type { FloorFigures } from './scenarios/xstate-floor-child.js';
import { runChild } from './lib/child.js';
import { median } from './lib/stats.js';
import { benchFile } from './lib/util.js';

const rounds = Number(process.argv[2] ?? 3);
const ms = Number(process.argv[3] ?? 2000);
const limit = ms * 10 + 60_000;

const rates: Record<'bare XState pair' | 'cmk' | 'generic-pool', number[]> = { 'bare XState pair': [], cmk: [], 'generic-pool': [] };
for (let round = 0; round < rounds; round++) {
  const floor = await runChild<FloorFigures>(benchFile('../scenarios/xstate-floor-child.ts'), [String(ms)], [], limit);
  rates['bare XState pair'].push(floor.lifecyclesPerSecond);
  for (const name of ['cmk', 'generic-pool'] as const) {
    const churn = await runChild<ChurnFigures>(benchFile('../scenarios/scale-child.ts'), [name, 'churn', String(ms)], ['--expose-gc'], limit);
    rates[name].push(churn.lifecyclesPerSecond ?? Number.NaN);
  }
  console.log(`round ${round + 1}/${rounds}: ${Object.entries(rates).map(([n, r]) => `${n} ${Math.round(r[round] ?? 0)}`).join(', ')}`);
}
const gp = median(rates['generic-pool']);
console.log(`\nchurn, 10 callers, max 10, every connection destroyed; lifecycles/s, median of ${rounds} rounds of ${ms} ms`);
console.log('| contender | lifecycles/s | generic-pool ÷ it |\n| --- | ---: | ---: |');
for (const [name, r] of Object.entries(rates)) {
  const m = median(r);
  console.log(`| ${name} | ${Math.round(m).toLocaleString('en')} | ${(gp / m).toFixed(1)}× |`);
}
