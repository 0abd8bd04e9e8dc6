/**
 * The measurement behind `outage` and `restart`: callers loop through a pool of TCP sockets to
 * the echo server (own process) while the server drops every connection and stops listening
 * for a while, then listens again on the same port. Figures: client CPU during the outage
 * (process.cpuUsage: this process only), connect attempts, failed acquires and requests, and
 * the time from the server's return to the first successful request.
 *
 * Caller behaviour, identical for every contender: acquire; on success send one request and
 * release (then pause a little: a steady load); when the request fails (dead socket) retire the
 * connection (destroy instead of reuse) and pause; when acquire rejects, pause. The pause after
 * a failure stands for the next request arriving: it bounds how often callers themselves can
 * drive connects, so what remains is the pool's doing. The subtlety: recovery is timed from the
 * moment the 'up' command is sent (the server re-listens within about a millisecond of it).
 */
import type { BenchPool, Contender } from '../contenders/types.js';
import { EchoServerProcess } from '../lib/echo-control.js';
import { fullGc, guarded } from '../lib/harness.js';
import { Samples, type ResultRow, type ScenarioContext } from '../lib/scenario.js';
import { log, now, rotate, sleep } from '../lib/util.js';
import { EchoClient } from '../tcp-client.js';

export interface ServerLossParams {
  callers: number;
  max: number;
  acquireTimeoutMs: number;
  requestTimeoutMs: number;
  /** How long the server stays away. */
  outageMs: number;
  /** Load before the outage. */
  upMs: number;
  pauseAfterSuccessMs: number;
  pauseAfterFailureMs: number;
  /** No successful request this long after the server's return: recovery reads Infinity. */
  recoveryLimitMs: number;
  /** PoolConfig.failFastOnCreateError (tarn: propagateCreateError). */
  failFastOnCreateError: boolean;
}

export interface ServerLossFigures {
  /** User + system CPU of this process while the server was away, ms. */
  cpuMs: number;
  /** Factory calls (connects) while the server was away. */
  connectAttempts: number;
  /** Factory calls from the server going away until the first successful request after its return. */
  connectAttemptsUntilRecovery: number;
  /** Rejected acquires while the server was away. */
  acquireFailures: number;
  /** Rejected acquires from the server going away until the first successful request after its return. */
  acquireFailuresUntilRecovery: number;
  requestFailures: number;
  /** From the server's return to the first successful request; Infinity if none within the limit. */
  recoveryMs: number;
  /** Pool stats when the recovery wait ended (diagnostics, printed to stderr). */
  statsAfter: string;
  /** Sockets still open shortly after close() (then closed by the scenario). */
  leaked: number;
  requestsBefore: number;
  retireSupported: boolean;
}

export async function measureServerLoss(contender: Contender, server: EchoServerProcess, p: ServerLossParams): Promise<ServerLossFigures> {
  const live = new Set<EchoClient>();
  let connectAttempts = 0;
  const pool: BenchPool<EchoClient> = contender.create<EchoClient>({
    min: 0,
    max: p.max,
    acquireTimeoutMs: p.acquireTimeoutMs,
    failFastOnCreateError: p.failFastOnCreateError,
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
        await sleep(p.pauseAfterFailureMs);
        continue;
      }
      try {
        await client.request(undefined, p.requestTimeoutMs);
      } catch {
        requestFailures++;
        // A broken connection: destroy it rather than pool it again (release() when the
        // adapter cannot retire; the pool then hands the dead socket out again).
        void (pool.retire ? pool.retire(client) : pool.release(client));
        await sleep(p.pauseAfterFailureMs);
        continue;
      }
      successes++;
      if (upAt !== null && firstSuccessAfterUp === null) {
        firstSuccessAfterUp = now();
        onFirstSuccess?.();
      }
      void pool.release(client);
      await sleep(p.pauseAfterSuccessMs);
    }
  };

  const callers = Array.from({ length: p.callers }, caller);
  let figures: ServerLossFigures;
  try {
    await sleep(p.upMs);
    const requestsBefore = successes;
    await fullGc();

    await server.down();
    const cpu0 = process.cpuUsage();
    const attempts0 = connectAttempts;
    const failures0 = acquireFailures;
    const requestFailures0 = requestFailures;
    await sleep(p.outageMs);
    const cpu = process.cpuUsage(cpu0);
    const connectAttemptsDuring = connectAttempts - attempts0;
    const acquireFailuresDuring = acquireFailures - failures0;
    const requestFailuresDuring = requestFailures - requestFailures0;

    const recovered = new Promise<void>((resolve) => {
      onFirstSuccess = resolve;
    });
    upAt = now();
    await server.up();
    let limit: NodeJS.Timeout | undefined;
    await Promise.race([recovered, new Promise<void>((resolve) => (limit = setTimeout(resolve, p.recoveryLimitMs)))]);
    clearTimeout(limit);
    const done: number | null = firstSuccessAfterUp;
    const recoveryMs = done === null ? Number.POSITIVE_INFINITY : done - upAt;

    figures = {
      cpuMs: (cpu.user + cpu.system) / 1000,
      connectAttempts: connectAttemptsDuring,
      connectAttemptsUntilRecovery: connectAttempts - attempts0,
      acquireFailures: acquireFailuresDuring,
      acquireFailuresUntilRecovery: acquireFailures - failures0,
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

/**
 * Every round, each contender in turn against one echo server. Samples per contender: cpu,
 * attempts, attemptsUntilRecovery, failures, failuresUntilRecovery, requestFailures, recovery.
 */
export async function serverLossRounds(ctx: ScenarioContext, name: string, p: ServerLossParams): Promise<{ rows: ResultRow[]; notes: string[] }> {
  const notes: string[] = [];
  const server = await EchoServerProcess.start();
  const samples = new Samples(ctx.contenders.map((c) => ({ name: c.name, version: c.version })));
  try {
    for (let round = 0; round < ctx.rounds; round++) {
      for (const contender of rotate(ctx.contenders, round)) {
        const f = await guarded(contender, name, () => measureServerLoss(contender, server, p));
        if (f !== undefined) {
          samples.add(contender.name, 'cpu', f.cpuMs);
          samples.add(contender.name, 'attempts', f.connectAttempts);
          samples.add(contender.name, 'attemptsUntilRecovery', f.connectAttemptsUntilRecovery);
          samples.add(contender.name, 'failures', f.acquireFailures);
          samples.add(contender.name, 'failuresUntilRecovery', f.acquireFailuresUntilRecovery);
          samples.add(contender.name, 'requestFailures', f.requestFailures);
          samples.add(contender.name, 'recovery', f.recoveryMs);
          if (f.requestsBefore === 0) notes.push(`${contender.name}: no request succeeded before the outage in round ${round + 1}.`);
          if (!Number.isFinite(f.recoveryMs)) notes.push(`${contender.name}: no request succeeded within ${p.recoveryLimitMs} ms of the server's return in round ${round + 1}.`);
          if (!f.retireSupported && round === 0) {
            notes.push(`${contender.name}: the adapter cannot retire a broken connection, so callers release() it instead; the pool has to notice the dead socket itself.`);
          }
          if (f.leaked > 0) notes.push(`${contender.name}: ${f.leaked} socket(s) still open after close() in round ${round + 1}.`);
        }
        log(
          `  ${name} round ${round + 1}/${ctx.rounds} ${contender.name}: ` +
            (f === undefined
              ? 'n/a'
              : `CPU ${f.cpuMs.toFixed(0)} ms in ${p.outageMs} ms down, ${f.connectAttempts} connect attempts ` +
                `(${f.connectAttemptsUntilRecovery} until recovery), ${f.acquireFailures} failed acquires ` +
                `(${f.acquireFailuresUntilRecovery} until recovery), ${f.requestFailures} failed requests, recovered in ${f.recoveryMs.toFixed(1)} ms; ` +
                `stats then ${f.statsAfter}`),
        );
        // Make sure the server is up for the next contender even if this one failed midway.
        await server.up();
      }
    }
  } finally {
    await server.stop();
  }
  return { rows: samples.toRows(), notes };
}
