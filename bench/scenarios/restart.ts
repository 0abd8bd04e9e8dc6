/**
 * restart: the server restarts under load. 30 callers loop through a pool of max 10 (min 0),
 * acquire timeout 5 s, one request per acquire over the lent socket; the echo server destroys
 * all its sockets at once and stops listening for 3.5 s (quick: 1.5 s), then listens again on
 * the same port. Unlike `outage`, the acquire timeout outlasts the restart: a pool can let its
 * callers wait it out, and should neither hammer the closed port meanwhile nor be slow to
 * notice the server's return. tarn keeps its default (propagateCreateError false: a failed
 * create is retried every 200 ms while acquires wait), which is what such a setting is for.
 */
import type { ResultRow, ScenarioContext, ScenarioResult } from '../lib/scenario.js';
import { atMost, type DerivedFigure } from '../lib/scenario.js';
import { ratio } from '../lib/stats.js';
import { serverLossRounds, type ServerLossParams } from './server-loss.js';

const CALLERS = 30;
const MAX = 10;
const ACQUIRE_TIMEOUT_MS = 5000;
const PAUSE_AFTER_SUCCESS_MS = 5;
const PAUSE_AFTER_FAILURE_MS = 50;

/** Targets the issue set: recovery within 1 s; connect attempts under 1 % of generic-pool's. */
function derived(rows: readonly ResultRow[]): DerivedFigure[] {
  const f = (name: string, key: string): number | undefined => rows.find((r) => r.name === name)?.figures[key]?.median;
  return [
    atMost('cmk.recovery', 'cmk: recovery after the server accepts again, ms', f('cmk', 'recovery') ?? Number.NaN, 'ms', 1000, '≤ 1000 ms'),
    atMost(
      'cmk.attemptsOverGenericPool',
      'connect attempts during the outage: cmk ÷ generic-pool',
      ratio(f('cmk', 'attempts'), f('generic-pool', 'attempts')),
      'ratio',
      0.01,
      '< 1 % (0.01×)',
    ),
  ];
}

export async function runRestart(ctx: ScenarioContext): Promise<ScenarioResult> {
  const outageMs = ctx.quick ? 1500 : 3500;
  const params: ServerLossParams = {
    callers: CALLERS,
    max: MAX,
    acquireTimeoutMs: ACQUIRE_TIMEOUT_MS,
    requestTimeoutMs: 1000,
    outageMs,
    upMs: ctx.quick ? 500 : 1000,
    pauseAfterSuccessMs: PAUSE_AFTER_SUCCESS_MS,
    pauseAfterFailureMs: PAUSE_AFTER_FAILURE_MS,
    recoveryLimitMs: 10_000,
    failFastOnCreateError: false,
  };
  const { rows, notes } = await serverLossRounds(ctx, 'restart', params);
  const seconds = (outageMs / 1000).toFixed(1);
  return {
    id: 'restart',
    title: `restart: server restarts under load (${seconds} s)`,
    description:
      `${CALLERS} callers in a loop through a pool of max ${MAX} (min 0), acquire timeout ${ACQUIRE_TIMEOUT_MS / 1000} s, one 32-byte request per acquire ` +
      `over the lent socket; the echo server (own process) destroys all its sockets at once and stops listening for ${outageMs} ms, then listens on ` +
      `the same port again. Connect attempts and CPU (user + system of the client process) while the server is away; failed acquires from its ` +
      `going away until the first successful request after its return; recovery = from its return to that request. Callers pause ` +
      `${PAUSE_AFTER_FAILURE_MS} ms after a failure, ${PAUSE_AFTER_SUCCESS_MS} ms after a success; broken connections are retired.`,
    rounds: ctx.rounds,
    metrics: [
      { key: 'attempts', label: 'connect attempts during outage', unit: 'count', better: 'lower' },
      { key: 'failuresUntilRecovery', label: 'failed acquires', unit: 'count', better: 'lower' },
      { key: 'recovery', label: 'recovery, ms', unit: 'ms', better: 'lower' },
      { key: 'cpu', label: 'client CPU during outage, ms', unit: 'ms', better: 'lower' },
    ],
    rows,
    notes,
    figures: derived(rows),
  };
}
