/**
 * scale: is the pool linear in connections and in keys? Three sub-measurements, each in a
 * fresh `node --expose-gc` process per contender, size and round (scale-child.ts):
 *
 *   one-key  acquire N `{}` at once under one key (max N), return all, shut down;
 *            N = 1k, 2k, 5k, 10k (quick: 1k, 2k)
 *   keys     one connection under each of K keys (cmk: keys of one manager; the others: one
 *            pool per key), return all, shut down; K = 1k, 10k (quick: 1k)
 *   churn    10 callers, max 10, every acquired connection destroyed; lifecycles/s over 2 s
 *            (quick: 0.5 s)
 *
 * Per fill: total time (acquire + return + shutdown) per size, and the growth exponent, the
 * least-squares slope of log(time) over log(size) for that round's sweep (1 = linear). The
 * subtlety: sizes run in the outer loop and contenders in the inner one (rotated by round), so
 * the contenders' figures for one size are taken close together while the machine's load drifts.
 */
import type { Contender } from '../contenders/types.js';
import { runChild } from '../lib/child.js';
import { atMost, Samples, type DerivedFigure, type MetricDef, type ResultRow, type ScenarioContext, type ScenarioResult } from '../lib/scenario.js';
import { logLogSlope, ratio } from '../lib/stats.js';
import { benchFile, log, rotate } from '../lib/util.js';
import type { ChurnFigures, FillFigures, ScaleFigures, ScaleKind } from './scale-child.js';

/** A child that takes longer is killed and its figure reads n/a: [full, quick]. */
const CHILD_LIMIT_MS: [number, number] = [180_000, 60_000];

/** Targets the issue set (for reading; not assertions). */
const TARGETS = {
  'one-key': { exponent: 1.15, ratio: 15 },
  keys: { exponent: 1.15, ratio: 10 },
  churn: { ratio: 20 },
} as const;

const fmt = (n: number): string => n.toLocaleString('en-US');

function measure(contender: Contender, kind: ScaleKind, size: number, quick: boolean): Promise<ScaleFigures> {
  return runChild<ScaleFigures>(benchFile('../scenarios/scale-child.ts'), [contender.name, kind, String(size)], ['--expose-gc'], CHILD_LIMIT_MS[quick ? 1 : 0]);
}

interface Plan {
  oneKey: number[];
  keys: number[];
  churnMs: number;
}

/** Per-round exponents of one contender from its samples: each round's complete sweep. */
function roundExponents(samples: Map<number, number[]>, sizes: readonly number[], rounds: number): number[] {
  const out: number[] = [];
  for (let round = 0; round < rounds; round++) {
    const points = sizes.map((size) => [size, samples.get(size)?.[round] ?? Number.NaN] as const);
    if (points.every(([, t]) => Number.isFinite(t))) out.push(logLogSlope(points));
  }
  return out;
}

function fillResult(
  ctx: ScenarioContext,
  kind: 'one-key' | 'keys',
  sizes: readonly number[],
  times: Map<string, Map<number, number[]>>,
  breakdown: Map<string, FillFigures[]>,
  notes: string[],
): ScenarioResult {
  const samples = new Samples(ctx.contenders.map((c) => ({ name: c.name, version: c.version })));
  for (const c of ctx.contenders) {
    const perSize = times.get(c.name) ?? new Map<number, number[]>();
    for (const size of sizes) for (const t of perSize.get(size) ?? []) samples.add(c.name, `n${size}`, t);
    for (const e of roundExponents(perSize, sizes, ctx.rounds)) samples.add(c.name, 'exponent', e);
    // The phases, for results.json (not in the table).
    for (const f of breakdown.get(c.name) ?? []) {
      samples.add(c.name, `acquire.n${f.size}`, f.acquireMs);
      samples.add(c.name, `return.n${f.size}`, f.returnMs);
      samples.add(c.name, `shutdown.n${f.size}`, f.shutdownMs);
    }
  }
  const rows = samples.toRows();
  const largest = sizes[sizes.length - 1] ?? 0;
  const metrics: MetricDef[] = sizes.map((size) => ({ key: `n${size}`, label: `${kind === 'keys' ? 'K' : 'N'} = ${fmt(size)}, ms`, unit: 'ms', better: 'lower' }));
  if (sizes.length > 1) metrics.push({ key: 'exponent', label: 'growth exponent', unit: 'exponent', better: 'lower' });
  const med = (name: string, key: string): number | undefined => rows.find((r) => r.name === name)?.figures[key]?.median;
  const target = TARGETS[kind];
  const figures: DerivedFigure[] = [];
  if (sizes.length > 1) {
    for (const name of ['cmk', 'generic-pool', 'tarn']) {
      if (rows.some((r) => r.name === name)) {
        const value = med(name, 'exponent') ?? Number.NaN;
        figures.push(
          name === 'cmk'
            ? atMost(`${kind}.exponent.${name}`, `${kind}: growth exponent, ${name}`, value, 'exponent', target.exponent, `≤ ${target.exponent}`)
            : { key: `${kind}.exponent.${name}`, label: `${kind}: growth exponent, ${name}`, value, unit: 'exponent' },
        );
      }
    }
  }
  figures.push(
    atMost(
      `${kind}.cmkOverGenericPool.n${largest}`,
      `${kind}: cmk ÷ generic-pool at ${kind === 'keys' ? 'K' : 'N'} = ${fmt(largest)} (time)`,
      ratio(med('cmk', `n${largest}`), med('generic-pool', `n${largest}`)),
      'ratio',
      target.ratio,
      `≤ ${target.ratio}×`,
    ),
  );
  const what =
    kind === 'one-key'
      ? `Acquire N \`{}\` resources at once from an async factory under one key (pool max N; cmk: \`cache.maxConnections\` N), return them all, shut down (cmk gracefulShutdown(), generic-pool drain() + clear(), tarn destroy()); time of the three together.`
      : `Acquire one \`{}\` under each of K keys at once (cmk: K keys on one manager, max 1 each, \`cache.maxConnections\` K; the others: one pool per key, created in the timed part), return all, shut down.`;
  return {
    id: 'scale',
    part: kind,
    title: kind === 'one-key' ? 'scale: N connections under one key' : 'scale: K keys, one connection each',
    description:
      `${what} Each figure in a fresh \`node --expose-gc\` process, after an untimed run at ${fmt(1000)} and a full GC. ` +
      `Growth exponent: least-squares slope of log(time) over log(size), per round (1 = linear). Phases (acquire, return, shutdown) are in results.json.`,
    rounds: ctx.rounds,
    metrics,
    rows,
    notes,
    figures,
  };
}

function churnResult(ctx: ScenarioContext, plan: Plan, rates: Map<string, number[]>, notes: string[]): ScenarioResult {
  const samples = new Samples(ctx.contenders.map((c) => ({ name: c.name, version: c.version })));
  for (const [name, list] of rates) for (const r of list) samples.add(name, 'rate', r);
  const rows = samples.toRows();
  const med = (name: string): number | undefined => rows.find((r) => r.name === name)?.figures['rate']?.median;
  return {
    id: 'scale',
    part: 'churn',
    title: 'scale: connection churn',
    description:
      `10 callers, pool max 10, every acquired \`{}\` destroyed instead of returned (cmk destroyConnection, generic-pool destroy(r), ` +
      `tarn a failing validate(), bare retire), for ${plan.churnMs} ms after a warm-up of a quarter of that, in a fresh process; lifecycles (create → lend → destroy) per second.`,
    rounds: ctx.rounds,
    metrics: [{ key: 'rate', label: 'lifecycles/s', unit: 'ops/s', better: 'higher' }],
    rows,
    notes,
    figures: [atMost('churn.genericPoolOverCmk', 'churn: generic-pool ÷ cmk (lifecycles/s)', ratio(med('generic-pool'), med('cmk')), 'ratio', TARGETS.churn.ratio, `≤ ${TARGETS.churn.ratio}×`)],
  };
}

export async function runScale(ctx: ScenarioContext): Promise<ScenarioResult[]> {
  const plan: Plan = ctx.quick ? { oneKey: [1_000, 2_000], keys: [1_000], churnMs: 500 } : { oneKey: [1_000, 2_000, 5_000, 10_000], keys: [1_000, 10_000], churnMs: 2_000 };
  const fills: Array<['one-key' | 'keys', number]> = [...plan.oneKey.map((n) => ['one-key', n] as ['one-key', number]), ...plan.keys.map((k) => ['keys', k] as ['keys', number])];
  const times = { 'one-key': new Map<string, Map<number, number[]>>(), keys: new Map<string, Map<number, number[]>>() };
  const breakdown = { 'one-key': new Map<string, FillFigures[]>(), keys: new Map<string, FillFigures[]>() };
  const rates = new Map<string, number[]>();
  const notes = { 'one-key': [] as string[], keys: [] as string[], churn: [] as string[] };

  for (let round = 0; round < ctx.rounds; round++) {
    for (const [kind, size] of fills) {
      for (const contender of rotate(ctx.contenders, round)) {
        let f: ScaleFigures | undefined;
        try {
          f = await measure(contender, kind, size, ctx.quick);
        } catch (err) {
          const message = err instanceof Error ? err.message : String(err);
          log(`  ! ${contender.name}: scale ${kind} ${size} failed: ${message}`);
          notes[kind].push(`${contender.name}, ${kind === 'keys' ? 'K' : 'N'} = ${fmt(size)}, round ${round + 1}: ${message}.`);
        }
        // Rounds index the samples: a failed size leaves NaN so later rounds stay aligned.
        const perSize = times[kind].get(contender.name) ?? new Map<number, number[]>();
        times[kind].set(contender.name, perSize);
        const list = perSize.get(size) ?? [];
        perSize.set(size, list);
        list[round] = f !== undefined && f.kind !== 'churn' ? f.totalMs : Number.NaN;
        if (f !== undefined && f.kind !== 'churn') {
          const b = breakdown[kind].get(contender.name) ?? [];
          b.push(f);
          breakdown[kind].set(contender.name, b);
        }
        log(
          `  scale round ${round + 1}/${ctx.rounds} ${kind} ${fmt(size)} ${contender.name}: ` +
            (f === undefined || f.kind === 'churn'
              ? 'n/a'
              : `${f.totalMs.toFixed(1)} ms (acquire ${f.acquireMs.toFixed(1)}, return ${f.returnMs.toFixed(1)}, shutdown ${f.shutdownMs.toFixed(1)})`),
        );
      }
    }
    for (const contender of rotate(ctx.contenders, round)) {
      let f: ScaleFigures | undefined;
      try {
        f = await measure(contender, 'churn', plan.churnMs, ctx.quick);
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        log(`  ! ${contender.name}: scale churn failed: ${message}`);
        notes.churn.push(`${contender.name}, round ${round + 1}: ${message}.`);
      }
      const c = f?.kind === 'churn' ? (f as ChurnFigures) : undefined;
      if (c !== undefined && c.lifecyclesPerSecond !== null) {
        const list = rates.get(contender.name) ?? [];
        list.push(c.lifecyclesPerSecond);
        rates.set(contender.name, list);
        if (Math.abs(c.created - c.lifecycles) > 10) {
          notes.churn.push(`${contender.name}: ${fmt(c.created)} resources created for ${fmt(c.lifecycles)} lifecycles in round ${round + 1}.`);
        }
      } else if (c !== undefined && round === 0) {
        notes.churn.push(`${contender.name}: the adapter cannot destroy a borrowed resource, so n/a.`);
      }
      log(
        `  scale round ${round + 1}/${ctx.rounds} churn ${contender.name}: ` +
          (c === undefined || c.lifecyclesPerSecond === null ? 'n/a' : `${c.lifecyclesPerSecond.toFixed(0)} lifecycles/s (${fmt(c.lifecycles)} in ${c.durationMs} ms)`),
      );
    }
  }

  if (ctx.quick) {
    notes['one-key'].push('Quick run: two sizes and one round, so the exponent is a smoke figure; the full run fits four sizes per round.');
  }
  const results = [
    fillResult(ctx, 'one-key', plan.oneKey, times['one-key'], breakdown['one-key'], notes['one-key']),
    fillResult(ctx, 'keys', plan.keys, times.keys, breakdown.keys, notes.keys),
    churnResult(ctx, plan, rates, notes.churn),
  ];
  for (const r of results) printSummary(r);
  return results;
}

/** A short table per sub-measurement on stderr, as soon as the scenario is done. */
function printSummary(result: ScenarioResult): void {
  const cell = (row: ResultRow, key: string, unit: MetricDef['unit']): string => {
    const m = row.figures[key]?.median;
    if (m === undefined || !Number.isFinite(m)) return 'n/a';
    return unit === 'exponent' ? m.toFixed(2) : unit === 'ops/s' ? m.toFixed(0) : m.toFixed(1);
  };
  log(`  -- ${result.title} (medians) --`);
  log(`  ${['contender'.padEnd(14), ...result.metrics.map((m) => m.label.padStart(18))].join(' ')}`);
  for (const row of result.rows) log(`  ${[row.name.padEnd(14), ...result.metrics.map((m) => cell(row, m.key, m.unit).padStart(18))].join(' ')}`);
  for (const f of result.figures ?? []) {
    const v = Number.isFinite(f.value) ? f.value.toPrecision(3) : 'n/a';
    log(`  ${f.label}: ${v}${f.target === undefined ? '' : ` (target ${f.target}: ${f.met === undefined ? 'n/a' : f.met ? 'met' : 'not met'})`}`);
  }
}
