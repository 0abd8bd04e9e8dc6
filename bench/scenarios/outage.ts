/**
 * outage: the server goes away for 2 s and comes back on the same port, while 10 callers keep
 * working through the pool (acquire timeout 500 ms). Measures the CPU the client process
 * burns during the outage (process.cpuUsage: user + system of this process only; the server
 * runs in its own process) and the time from the server's return to the first successful
 * acquire + request. A pool that re-creates in a busy loop shows up in the CPU column.
 *
 * Caller behaviour (server-loss.ts, shared with `restart`): pause 5 ms after a success (a steady
 * load of ~2k req/s in total), 50 ms after a failure; broken connections are retired. Create
 * errors should surface within the short acquire timeout, so tarn gets propagateCreateError.
 */
import type { ScenarioContext, ScenarioResult } from '../lib/scenario.js';
import { serverLossRounds, type ServerLossParams } from './server-loss.js';

const CALLERS = 10;
const MAX = 10;
const ACQUIRE_TIMEOUT_MS = 500;
const OUTAGE_MS = 2000;
const PAUSE_AFTER_SUCCESS_MS = 5;
const PAUSE_AFTER_FAILURE_MS = 50;
const RECOVERY_LIMIT_MS = 5000;

export async function runOutage(ctx: ScenarioContext): Promise<ScenarioResult> {
  const params: ServerLossParams = {
    callers: CALLERS,
    max: MAX,
    acquireTimeoutMs: ACQUIRE_TIMEOUT_MS,
    requestTimeoutMs: 1000,
    outageMs: OUTAGE_MS,
    upMs: ctx.quick ? 500 : 1000,
    pauseAfterSuccessMs: PAUSE_AFTER_SUCCESS_MS,
    pauseAfterFailureMs: PAUSE_AFTER_FAILURE_MS,
    recoveryLimitMs: RECOVERY_LIMIT_MS,
    // Failures should surface within the short acquire timeout (tarn: propagateCreateError).
    failFastOnCreateError: true,
  };
  const { rows, notes } = await serverLossRounds(ctx, 'outage', params);
  return {
    id: 'outage',
    title: 'outage: server gone for 2 s',
    description:
      `${CALLERS} callers in a loop through a pool of max ${MAX} (min 0), acquire timeout ${ACQUIRE_TIMEOUT_MS} ms, one 32-byte request per acquire; ` +
      `the echo server (own process) drops all connections and stops listening for ${OUTAGE_MS} ms, then listens on the same port again. ` +
      `CPU = user + system time of the client process during the outage; recovery = from the server's return to the first successful request. ` +
      `Callers pause ${PAUSE_AFTER_FAILURE_MS} ms after a failure, ${PAUSE_AFTER_SUCCESS_MS} ms after a success; broken connections are retired.`,
    rounds: ctx.rounds,
    metrics: [
      { key: 'cpu', label: 'client CPU during outage, ms', unit: 'ms', better: 'lower' },
      { key: 'attempts', label: 'connect attempts', unit: 'count', better: 'lower' },
      { key: 'failures', label: 'failed acquires', unit: 'count', better: 'lower' },
      { key: 'recovery', label: 'recovery, ms', unit: 'ms', better: 'lower' },
    ],
    rows,
    notes,
  };
}
