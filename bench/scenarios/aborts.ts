/**
 * aborts: the cost of cancellation. An exhausted pool (max 1, its one connection held) gets
 * 40,000 queued acquires (quick: 4,000), each with its own AbortController; then all are aborted,
 * oldest first or newest first, and the time from the first abort() until every acquire promise
 * has settled is measured. A pool that finds a waiter by scanning its queue shows up as the
 * difference between the two orders (or as quadratic time in both). Second part: 1,000 acquires
 * sharing one AbortSignal, aborted once.
 *
 * Cancellation per library: cmk takes `{ signal }`; tarn's pending acquire has `abort()` (one
 * listener per signal calls it, contenders/signal-groups.ts); bare marks the waiter; generic-pool
 * 3.9 cannot cancel a pending acquire (n/a). Warnings (process 'warning') are counted per
 * contender: a pool that adds a listener per acquire to a shared signal gets Node's
 * MaxListenersExceededWarning.
 */
import type { BenchPool, Contender } from '../contenders/types.js';
import { fullGc, guarded } from '../lib/harness.js';
import { Samples, atMost, type DerivedFigure, type ScenarioContext, type ScenarioResult } from '../lib/scenario.js';
import { ratio, type Summary } from '../lib/stats.js';
import { log, now, rotate, settle } from '../lib/util.js';

const SHARED = 1_000;
/** Longer than any measurement: no acquire may time out while queued. */
const ACQUIRE_TIMEOUT_MS = 300_000;
/** How long to wait for the pool to report every acquire as queued before aborting. */
const QUEUE_LIMIT_MS = 60_000;

type Order = 'oldest' | 'newest';

interface Run {
  /** From the first abort() until every acquire settled. */
  ms: number;
  /** From the first acquire call until the pool reported all of them waiting. */
  queueMs: number;
  problems: string[];
}

function newPool(contender: Contender): BenchPool<object> {
  return contender.create<object>({
    min: 0,
    max: 1,
    acquireTimeoutMs: ACQUIRE_TIMEOUT_MS,
    create: async () => ({}),
    destroy: () => undefined,
  });
}

/** Resolves once the pool reports `n` waiting acquires (pools without stats: after a few turns). */
async function queued(pool: BenchPool<object>, n: number): Promise<boolean> {
  if (pool.stats === undefined) {
    await settle(10);
    return true;
  }
  const deadline = now() + QUEUE_LIMIT_MS;
  while (pool.stats().waiting < n) {
    if (now() > deadline) return false;
    await settle(1);
  }
  return true;
}

/**
 * Queues one acquire per signal on an exhausted pool, runs `abort`, and times until all settled.
 * Afterwards the pool must have no waiter left and still lend its connection.
 */
async function abortQueued(contender: Contender, signals: readonly AbortSignal[], abort: () => void): Promise<Run> {
  const pool = newPool(contender);
  const problems: string[] = [];
  try {
    const acquire = pool.acquireWithSignal?.bind(pool);
    if (acquire === undefined) throw new Error('no cancellable acquire');
    const held = await pool.acquire();
    let resolved = 0;
    const t0 = now();
    const settled = signals.map((signal) =>
      acquire(signal).then(
        (resource) => {
          resolved++;
          void pool.release(resource);
        },
        () => undefined,
      ),
    );
    if (!(await queued(pool, signals.length))) problems.push(`the pool did not report ${signals.length} waiting acquires within ${QUEUE_LIMIT_MS / 1000} s`);
    const queueMs = now() - t0;
    await fullGc();
    const t1 = now();
    abort();
    await Promise.all(settled);
    const ms = now() - t1;
    if (resolved > 0) problems.push(`${resolved} aborted acquire(s) resolved instead of rejecting`);
    const waiting = pool.stats?.().waiting ?? 0;
    if (waiting > 0) problems.push(`${waiting} acquire(s) still counted waiting after all were aborted`);
    void pool.release(held);
    void pool.release(await pool.acquire());
    return { ms, queueMs, problems };
  } finally {
    await pool.close();
  }
}

function ownControllers(contender: Contender, n: number, order: Order): Promise<Run> {
  const controllers = Array.from({ length: n }, () => new AbortController());
  return abortQueued(
    contender,
    controllers.map((c) => c.signal),
    order === 'oldest'
      ? () => {
          for (let i = 0; i < n; i++) controllers[i]?.abort();
        }
      : () => {
          for (let i = n - 1; i >= 0; i--) controllers[i]?.abort();
        },
  );
}

function sharedSignal(contender: Contender): Promise<Run> {
  const controller = new AbortController();
  return abortQueued(
    contender,
    Array.from({ length: SHARED }, () => controller.signal),
    () => controller.abort(),
  );
}

/** Whether the contender's adapter can cancel a pending acquire (a pool is made to look). */
async function cancellable(contender: Contender): Promise<boolean> {
  const pool = newPool(contender);
  const has = pool.acquireWithSignal !== undefined;
  await pool.close();
  return has;
}

/** Targets the issue set: cmk oldest-first within 1.5× of newest-first; shared within 2× of tarn. */
function derived(rows: ReadonlyArray<{ name: string; figures: Record<string, Summary> }>, n: number): DerivedFigure[] {
  const f = (name: string, key: string): number | undefined => rows.find((r) => r.name === name)?.figures[key]?.median;
  const count = n.toLocaleString('en-US');
  return [
    atMost('cmk.oldestOverNewest', `cmk: ${count} aborted oldest-first ÷ newest-first`, ratio(f('cmk', 'oldest'), f('cmk', 'newest')), 'ratio', 1.5, '≤ 1.5'),
    atMost('cmk.sharedOverTarn', `${SHARED.toLocaleString('en-US')} on one signal: cmk ÷ tarn`, ratio(f('cmk', 'shared'), f('tarn', 'shared')), 'ratio', 2, '≤ 2'),
  ];
}

export async function runAborts(ctx: ScenarioContext): Promise<ScenarioResult> {
  const n = ctx.quick ? 4_000 : 40_000;
  const samples = new Samples(ctx.contenders.map((c) => ({ name: c.name, version: c.version })));
  const notes: string[] = [];
  const warnings = new Map<string, string[]>();
  let current = '';
  const onWarning = (warning: Error): void => {
    const list = warnings.get(current) ?? [];
    list.push(warning.name);
    warnings.set(current, list);
  };
  process.on('warning', onWarning);
  try {
    for (let round = 0; round < ctx.rounds; round++) {
      for (const contender of rotate(ctx.contenders, round)) {
        if (!(await cancellable(contender))) {
          if (round === 0) notes.push(`${contender.name}: cannot cancel a pending acquire (no signal or abort for it in its API), so n/a.`);
          log(`  aborts round ${round + 1}/${ctx.rounds} ${contender.name}: n/a (no cancellable acquire)`);
          continue;
        }
        current = contender.name;
        const before = warnings.get(current)?.length ?? 0;
        const limit = ctx.quick ? 30_000 : 180_000;
        // Warm-up (a tenth of the size, both orders, untimed), so that neither order pays for
        // compiling the abort path; and the order that goes first alternates by round.
        await guarded(contender, 'aborts warm-up', async () => {
          await ownControllers(contender, n / 10, 'oldest');
          await ownControllers(contender, n / 10, 'newest');
          await sharedSignal(contender);
        }, limit);
        const timed = (order: Order) => guarded(contender, `aborts ${n} ${order}-first`, () => ownControllers(contender, n, order), limit);
        let oldest: Run | undefined;
        let newest: Run | undefined;
        if (round % 2 === 0) {
          oldest = await timed('oldest');
          newest = await timed('newest');
        } else {
          newest = await timed('newest');
          oldest = await timed('oldest');
        }
        const shared = await guarded(contender, `aborts ${SHARED} on one signal`, () => sharedSignal(contender), limit);
        // Warnings are emitted on the next tick: let them arrive while this contender is current.
        await settle();
        const list = warnings.get(current) ?? [];
        const maxListeners = list.slice(before).filter((w) => w === 'MaxListenersExceededWarning').length;
        const other = list.slice(before).filter((w) => w !== 'MaxListenersExceededWarning');
        if (oldest !== undefined) samples.add(contender.name, 'oldest', oldest.ms);
        if (newest !== undefined) samples.add(contender.name, 'newest', newest.ms);
        if (oldest !== undefined && newest !== undefined) samples.add(contender.name, 'orderRatio', oldest.ms / newest.ms);
        if (shared !== undefined) samples.add(contender.name, 'shared', shared.ms);
        samples.add(contender.name, 'warnings', maxListeners);
        for (const [what, run] of [
          ['oldest-first', oldest],
          ['newest-first', newest],
          ['shared signal', shared],
        ] as const) {
          for (const p of run?.problems ?? []) notes.push(`${contender.name}, ${what}, round ${round + 1}: ${p}.`);
        }
        if (maxListeners > 0) notes.push(`${contender.name}: MaxListenersExceededWarning emitted in round ${round + 1}.`);
        if (other.length > 0) notes.push(`${contender.name}: other process warnings in round ${round + 1}: ${other.join(', ')}.`);
        const ms = (r: Run | undefined): string => (r === undefined ? 'n/a' : `${r.ms.toFixed(1)} ms (queued in ${r.queueMs.toFixed(0)} ms)`);
        log(
          `  aborts round ${round + 1}/${ctx.rounds} ${contender.name}: ${n} oldest-first ${ms(oldest)}, newest-first ${ms(newest)}; ` +
            `${SHARED} on one signal ${ms(shared)}; MaxListenersExceededWarning ${maxListeners}`,
        );
      }
    }
  } finally {
    process.off('warning', onWarning);
  }
  const rows = samples.toRows();
  const count = n.toLocaleString('en-US');
  return {
    id: 'aborts',
    title: 'aborts: cancelling queued acquires',
    description:
      `Pool max 1 with its one \`{}\` held; ${count} acquires queued, each with its own AbortController, then all aborted oldest-first ` +
      `(in queue order) or newest-first; time from the first abort() until every acquire promise has settled. Then ${SHARED.toLocaleString('en-US')} ` +
      `acquires sharing one AbortSignal, aborted once. A fresh pool per measurement, after an untimed warm-up at a tenth of the size; the order ` +
      `that goes first alternates by round. Afterwards the pool must have no waiter left and still lend. ` +
      `"warnings": MaxListenersExceededWarning emitted while the contender ran.`,
    rounds: ctx.rounds,
    metrics: [
      { key: 'oldest', label: `${count} aborted oldest-first, ms`, unit: 'ms', better: 'lower' },
      { key: 'newest', label: `${count} aborted newest-first, ms`, unit: 'ms', better: 'lower' },
      { key: 'orderRatio', label: 'oldest ÷ newest', unit: 'ratio', better: 'lower' },
      { key: 'shared', label: `${SHARED.toLocaleString('en-US')} on one signal, ms`, unit: 'ms', better: 'lower' },
      { key: 'warnings', label: 'MaxListeners warnings', unit: 'count', better: 'lower' },
    ],
    rows,
    notes,
    figures: derived(rows, n),
  };
}
