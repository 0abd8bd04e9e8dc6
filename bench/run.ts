/**
 * Benchmark suite: every scenario runs each contender in turn, interleaved over rounds
 * (round 1: A B C D, round 2: B C D A, ...), and reports median and min–max per contender.
 *
 *   npm run bench                      full suite  → bench/results.{json,md}
 *   npm run bench -- --quick           smoke run (< 2 min) → bench/results.quick.{json,md}
 *   npm run bench -- --only=tarn,bare  only these contenders (generic-pool, tarn, bare, cmk,
 *                                      cmk-handle, cmk-lease; the last two run in micro only)
 *   npm run bench -- --scenario=micro,tcp   only these scenarios (micro, tcp, spike, outage,
 *                                      restart, aborts, scale, memory)
 *   npm run bench -- --rounds=3        rounds for every scenario (default: per scenario)
 *   npm run bench -- --out=path/prefix write <prefix>.json and <prefix>.md instead
 *
 * Progress goes to stderr, the final tables to stdout.
 */
import { writeFile } from 'node:fs/promises';
import os from 'node:os';
import { CONTENDER_NAMES, isContenderName, loadContender, takesPart, type ContenderName } from './contenders/index.js';
import type { Contender } from './contenders/types.js';
import { hungContenders } from './lib/harness.js';
import { machineInfo, resultsMarkdown, type ResultsFile, type RunInfo } from './lib/report.js';
import { SCENARIO_IDS, type ScenarioContext, type ScenarioId, type ScenarioResult } from './lib/scenario.js';
import { benchFile, errorMessage, log, now } from './lib/util.js';

class UsageError extends Error {}

interface Options {
  quick: boolean;
  only: ContenderName[];
  scenarios: ScenarioId[];
  rounds: number | null;
  out: string;
}

/** Rounds per scenario: [full, quick]. */
const DEFAULT_ROUNDS: Record<ScenarioId, [number, number]> = {
  micro: [5, 2],
  tcp: [5, 2],
  spike: [5, 2],
  outage: [3, 1],
  restart: [3, 1],
  aborts: [3, 1],
  scale: [3, 1],
  memory: [3, 1],
};

const usage = `usage: npm run bench -- [--quick] [--only=${CONTENDER_NAMES.join(',')}] [--scenario=${SCENARIO_IDS.join(',')}] [--rounds=N] [--out=prefix]`;

function listArg(value: string): string[] {
  return value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

function parseArgs(argv: readonly string[]): Options {
  const options: Options = {
    quick: false,
    only: [...CONTENDER_NAMES],
    scenarios: [...SCENARIO_IDS],
    rounds: null,
    out: '',
  };
  for (const arg of argv) {
    const [flag, value = ''] = arg.split('=', 2) as [string, string?];
    switch (flag) {
      case '--quick':
        options.quick = true;
        break;
      case '--only': {
        const names = listArg(value);
        const bad = names.filter((n) => !isContenderName(n));
        if (bad.length > 0 || names.length === 0) throw new UsageError(`unknown contender(s) ${bad.join(', ')}\n${usage}`);
        options.only = names.filter(isContenderName);
        break;
      }
      case '--scenario':
      case '--scenarios': {
        const ids = listArg(value);
        const isId = (s: string): s is ScenarioId => (SCENARIO_IDS as readonly string[]).includes(s);
        const bad = ids.filter((s) => !isId(s));
        if (bad.length > 0 || ids.length === 0) throw new UsageError(`unknown scenario(s) ${bad.join(', ')}\n${usage}`);
        options.scenarios = SCENARIO_IDS.filter((id) => ids.includes(id));
        break;
      }
      case '--rounds': {
        const n = Number(value);
        if (!Number.isInteger(n) || n < 1) throw new UsageError(`--rounds needs a positive integer\n${usage}`);
        options.rounds = n;
        break;
      }
      case '--out':
        if (value === '') throw new UsageError(`--out needs a path prefix\n${usage}`);
        options.out = value;
        break;
      case '--help':
      case '-h':
        process.stdout.write(`${usage}\n`);
        process.exit(0);
        break;
      default:
        throw new UsageError(`unknown argument ${arg}\n${usage}`);
    }
  }
  if (options.out === '') options.out = benchFile(options.quick ? '../results.quick' : '../results');
  return options;
}

/** One result per table: most scenarios have one, scale has one per sub-measurement. */
async function runScenario(id: ScenarioId, ctx: ScenarioContext): Promise<ScenarioResult | ScenarioResult[]> {
  switch (id) {
    case 'micro':
      return (await import('./scenarios/micro.js')).runMicro(ctx);
    case 'tcp':
      return (await import('./scenarios/tcp.js')).runTcp(ctx);
    case 'spike':
      return (await import('./scenarios/spike.js')).runSpike(ctx);
    case 'outage':
      return (await import('./scenarios/outage.js')).runOutage(ctx);
    case 'restart':
      return (await import('./scenarios/restart.js')).runRestart(ctx);
    case 'aborts':
      return (await import('./scenarios/aborts.js')).runAborts(ctx);
    case 'scale':
      return (await import('./scenarios/scale.js')).runScale(ctx);
    case 'memory':
      return (await import('./scenarios/memory.js')).runMemory(ctx);
  }
}

/** Handles that would keep the process alive, other than stdio. */
function lingeringResources(): string[] {
  return process.getActiveResourcesInfo().filter((r) => !['TTYWrap', 'PipeWrap', 'FSReqCallback'].includes(r));
}

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2));
  const started = now();
  const loadAtStart = os.loadavg()[0] ?? 0;
  if (loadAtStart > 0.5) log(`NOTE: 1-minute load average is ${loadAtStart.toFixed(2)}: other work on this machine will skew the figures.`);

  const contenders: Contender[] = [];
  const skipped: RunInfo['skipped'] = [];
  for (const name of options.only) {
    try {
      contenders.push(await loadContender(name));
    } catch (err) {
      const reason = `module failed to load: ${errorMessage(err)}`;
      skipped.push({ contender: name, reason });
      log(`NOTE: skipping contender '${name}': ${reason}`);
    }
  }
  if (contenders.length === 0) throw new Error('no contender could be loaded');
  log(
    `bench: ${options.quick ? 'quick' : 'full'} run; contenders ${contenders.map((c) => `${c.name}@${c.version}`).join(', ')}; ` +
      `scenarios ${options.scenarios.join(', ')}`,
  );

  const results: ScenarioResult[] = [];
  for (const id of options.scenarios) {
    const rounds = options.rounds ?? DEFAULT_ROUNDS[id][options.quick ? 1 : 0];
    const taking = contenders.filter((c) => takesPart(c, id));
    if (taking.length === 0) {
      log(`\n== ${id}: none of the chosen contenders takes part; skipped ==`);
      continue;
    }
    log(`\n== ${id} (${rounds} round${rounds === 1 ? '' : 's'}) ==`);
    const t0 = now();
    const hungBefore = new Set(hungContenders.keys());
    const outcome = await runScenario(id, { quick: options.quick, rounds, contenders: taking });
    const parts = Array.isArray(outcome) ? outcome : [outcome];
    for (const [name, reason] of hungContenders) {
      if (!hungBefore.has(name)) parts[0]?.notes.push(`${name} hung (${reason}); it was skipped from then on.`);
    }
    results.push(...parts);
    log(`== ${id} done in ${((now() - t0) / 1000).toFixed(1)} s ==`);
  }

  const file: ResultsFile = {
    machine: machineInfo(),
    run: {
      quick: options.quick,
      contenders: contenders.map((c) => c.name),
      skipped,
      scenarios: options.scenarios,
      durationSeconds: (now() - started) / 1000,
      loadAverage: { start: loadAtStart, end: os.loadavg()[0] ?? 0 },
    },
    scenarios: results,
  };
  const markdown = resultsMarkdown(
    file,
    contenders.filter((c) => options.scenarios.some((id) => takesPart(c, id))).map((c) => ({ name: c.name, notes: c.notes })),
  );
  await writeFile(`${options.out}.json`, `${JSON.stringify(file, null, 2)}\n`);
  await writeFile(`${options.out}.md`, markdown);
  process.stdout.write(`${markdown}\n`);
  log(`\nwrote ${options.out}.json and ${options.out}.md`);

  if (hungContenders.size > 0) {
    for (const [name, reason] of hungContenders) log(`WARNING: ${name} hung (${reason}); exiting explicitly.`);
    process.exit();
  }
  // The process must exit by itself: report anything still holding the event loop open.
  setImmediate(() => {
    const left = lingeringResources();
    if (left.length > 0) log(`WARNING: still active after the run: ${left.join(', ')}`);
  }).unref();
}

main().catch((err: unknown) => {
  if (err instanceof UsageError) log(err.message);
  else log(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  process.exitCode = 1;
});
