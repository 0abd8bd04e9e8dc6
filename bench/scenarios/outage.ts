/**
 * outage: the server goes away for 2 s and comes back on the same port, while 10 callers keep
 * working through the pool (acquire timeout 500 ms). Measures the CPU the client process
 * burns during the outage (process.cpuUsage: user + system of this process only; the server
 * runs in its own process) and the time from the server's return to the first successful
 * acquire + request. A pool that re-creates in a busy loop shows up in the CPU column.
 *
 * Caller behaviour, identical for every contender: acquire; on success send one request and
 * release (then pause 5 ms, a steady load of ~2k req/s in total); when the request fails
 * (dead socket) retire the connection (destroy instead of reuse) and pause; when acquire
 * rejects, pause. The pause after a failure (50 ms) stands for the next request arriving:
 * it bounds how often callers themselves can drive connects, so what remains is the pool's doing.
 */
import type { BenchPool, Contender } from '../contenders/types.js';
import { EchoServerProcess } from '../lib/echo-control.js';
import { fullGc, guarded } from '../lib/harness.js';
import { Samples, type ScenarioContext, type ScenarioResult } from '../lib/scenario.js';
import { log, now, rotate, sleep } from '../lib/util.js';
import { EchoClient } from '../tcp-client.js';

const CALLERS = 10;
const MAX = 10;
const ACQUIRE_TIMEOUT_MS = 500;
const REQUEST_TIMEOUT_MS = 1000;
const OUTAGE_MS = 2000;
const PAUSE_AFTER_SUCCESS_MS = 5;
const PAUSE_AFTER_FAILURE_MS = 50;
const RECOVERY_LIMIT_MS = 5000;

interface OutageFigures {
  cpuMs: number;
  connectAttempts: number;
  acquireFailures: number;
  requestFailures: number;
  recoveryMs: number;
  /** Pool stats when the recovery wait ended (diagnostics, printed to stderr). */
  statsAfter: string;
  /** Sockets still open shortly after close() (then closed by the scenario). */
  leaked: number;
  requestsBefore: number;
  retireSupported: boolean;
}

async function measure(contender: Contender, server: EchoServerProcess, upMs: number): Promise<OutageFigures> {
  const live = new Set<EchoClient>();
  let connectAttempts = 0;
  const pool: BenchPool<EchoClient> = contender.create<EchoClient>({
    min: 0,
    max: MAX,
    acquireTimeoutMs: ACQUIRE_TIMEOUT_MS,
    failFastOnCreateError: true,
    retirable: true,
    create: async () => {
      connectAttempts++;
      const client = await EchoClient.connect(server.port);
      live.add(client);
      return client;
    },
    destroy: (client) => {
      client.close();
      live.delete(client);
    },
  });

  let stop = false;
  let successes = 0;
  let acquireFailures = 0;
  let requestFailures = 0;
  let upAt: number | null = null;
  let firstSuccessAfterUp: number | null = null;
  let onFirstSuccess: (() => void) | null = null;

  const caller = async (): Promise<void> => {
    while (!stop) {
      let client: EchoClient;
      try {
        client = await pool.acquire();
      } catch {
        acquireFailures++;
        await sleep(PAUSE_AFTER_FAILURE_MS);
        continue;
      }
      try {
        await client.request(undefined, REQUEST_TIMEOUT_MS);
      } catch {
        requestFailures++;
        // A broken connection: destroy it rather than pool it again (release() when the
        // adapter cannot retire; the pool then hands the dead socket out again).
        void (pool.retire ? pool.retire(client) : pool.release(client));
        await sleep(PAUSE_AFTER_FAILURE_MS);
        continue;
      }
      successes++;
      if (upAt !== null && firstSuccessAfterUp === null) {
        firstSuccessAfterUp = now();
        onFirstSuccess?.();
      }
      void pool.release(client);
      await sleep(PAUSE_AFTER_SUCCESS_MS);
    }
  };

  const callers = Array.from({ length: CALLERS }, caller);
  let figures: OutageFigures;
  try {
    await sleep(upMs);
    const requestsBefore = successes;
    await fullGc();

    await server.down();
    const cpu0 = process.cpuUsage();
    const attempts0 = connectAttempts;
    const failures0 = acquireFailures;
    const requestFailures0 = requestFailures;
    await sleep(OUTAGE_MS);
    const cpu = process.cpuUsage(cpu0);
    const connectAttemptsDuring = connectAttempts - attempts0;
    const acquireFailuresDuring = acquireFailures - failures0;
    const requestFailuresDuring = requestFailures - requestFailures0;

    // Recovery is timed from the moment the 'up' command is sent (the server re-listens within
    // about a millisecond of it), to the first request that succeeds afterwards.
    const recovered = new Promise<void>((resolve) => {
      onFirstSuccess = resolve;
    });
    upAt = now();
    await server.up();
    let limit: NodeJS.Timeout | undefined;
    await Promise.race([recovered, new Promise<void>((resolve) => (limit = setTimeout(resolve, RECOVERY_LIMIT_MS)))]);
    clearTimeout(limit);
    const done: number | null = firstSuccessAfterUp;
    const recoveryMs = done === null ? Number.POSITIVE_INFINITY : done - upAt;

    figures = {
      cpuMs: (cpu.user + cpu.system) / 1000,
      connectAttempts: connectAttemptsDuring,
      acquireFailures: acquireFailuresDuring,
      requestFailures: requestFailuresDuring,
      recoveryMs,
      statsAfter: pool.stats ? JSON.stringify(pool.stats()) : 'n/a',
      leaked: 0,
      requestsBefore,
      retireSupported: pool.retire !== undefined,
    };
  } finally {
    stop = true;
    await Promise.all(callers);
    await pool.close();
    await sleep(50);
  }
  figures.leaked = live.size;
  for (const client of live) client.close();
  live.clear();
  return figures;
}

export async function runOutage(ctx: ScenarioContext): Promise<ScenarioResult> {
  const upMs = ctx.quick ? 500 : 1000;
  const notes: string[] = [];
  const server = await EchoServerProcess.start();
  const samples = new Samples(ctx.contenders.map((c) => ({ name: c.name, version: c.version })));
  try {
    for (let round = 0; round < ctx.rounds; round++) {
      for (const contender of rotate(ctx.contenders, round)) {
        const f = await guarded(contender, 'outage', () => measure(contender, server, upMs));
        if (f !== undefined) {
          samples.add(contender.name, 'cpu', f.cpuMs);
          samples.add(contender.name, 'attempts', f.connectAttempts);
          samples.add(contender.name, 'failures', f.acquireFailures);
          samples.add(contender.name, 'recovery', f.recoveryMs);
          if (f.requestsBefore === 0) notes.push(`${contender.name}: no request succeeded before the outage in round ${round + 1}.`);
          if (!Number.isFinite(f.recoveryMs)) notes.push(`${contender.name}: no request succeeded within ${RECOVERY_LIMIT_MS} ms of the server's return in round ${round + 1}.`);
          if (!f.retireSupported && round === 0) {
            notes.push(`${contender.name}: the adapter cannot retire a broken connection, so callers release() it instead; the pool has to notice the dead socket itself.`);
          }
          if (f.leaked > 0) notes.push(`${contender.name}: ${f.leaked} socket(s) still open after close() in round ${round + 1}.`);
        }
        log(
          `  outage round ${round + 1}/${ctx.rounds} ${contender.name}: ` +
            (f === undefined
              ? 'n/a'
              : `CPU ${f.cpuMs.toFixed(0)} ms in ${OUTAGE_MS} ms down, ${f.connectAttempts} connect attempts, ` +
                `${f.acquireFailures} failed acquires, ${f.requestFailures} failed requests, recovered in ${f.recoveryMs.toFixed(1)} ms; ` +
                `stats then ${f.statsAfter}`),
        );
        // Make sure the server is up for the next contender even if this one failed midway.
        await server.up();
      }
    }
  } finally {
    await server.stop();
  }
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
    rows: samples.toRows(),
    notes,
  };
}
