/**
 * tcp: requests/s through a pool of loopback sockets to an echo server running in a separate
 * process. 64 callers share max 10 connections; each request is 32 bytes out, 32 bytes back.
 * The "no pool" row opens a new connection per request (connect, request, close).
 */
import type { BenchPool, Contender, PoolConfig } from '../contenders/types.js';
import { EchoServerProcess } from '../lib/echo-control.js';
import { runChild } from '../lib/child.js';
import { fullGc, guarded, warmPool } from '../lib/harness.js';
import { Samples, type ScenarioContext, type ScenarioResult } from '../lib/scenario.js';
import { benchFile, log, now, rotate, settle, sleep } from '../lib/util.js';
import { EchoClient } from '../tcp-client.js';

const CALLERS = 64;
const MAX = 10;
const NO_POOL = 'no pool (new connection per request)';

/** Every caller repeats `op` until the deadline; returns operations/s over the whole run. */
async function loop(op: () => Promise<void>, callers: number, durationMs: number): Promise<number> {
  let ops = 0;
  let stop = false;
  const t0 = now();
  const deadline = t0 + durationMs;
  const caller = async (): Promise<void> => {
    while (!stop) {
      await op();
      ops++;
      if (now() >= deadline) stop = true;
    }
  };
  await Promise.all(Array.from({ length: callers }, caller));
  return ops / ((now() - t0) / 1000);
}

interface Tracked {
  live: Set<EchoClient>;
  created: number;
}

function socketFactory(port: number, tracked: Tracked): Pick<PoolConfig<EchoClient>, 'create' | 'destroy'> {
  return {
    create: async () => {
      const client = await EchoClient.connect(port);
      tracked.created++;
      tracked.live.add(client);
      return client;
    },
    destroy: (client) => {
      client.close();
      tracked.live.delete(client);
    },
  };
}

/** Closes sockets a pool left open after close(); returns how many there were. */
async function sweep(tracked: Tracked): Promise<number> {
  await sleep(50);
  const leaked = tracked.live.size;
  for (const client of tracked.live) client.close();
  tracked.live.clear();
  return leaked;
}

export interface PoolFigures {
  rps: number;
  created: number;
  leaked: number;
}

/** One contender's run, in the calling process (isolated-child.ts calls this in a fresh one). */
export async function measurePool(contender: Contender, port: number, warmupMs: number, durationMs: number): Promise<PoolFigures> {
  const tracked: Tracked = { live: new Set(), created: 0 };
  const pool: BenchPool<EchoClient> = contender.create<EchoClient>({
    min: MAX,
    max: MAX,
    acquireTimeoutMs: 30_000,
    ...socketFactory(port, tracked),
  });
  const op = async (): Promise<void> => {
    const client = await pool.acquire();
    await client.request();
    void pool.release(client);
  };
  let rps: number;
  try {
    await warmPool(pool, MAX);
    await loop(op, CALLERS, warmupMs);
    await fullGc();
    rps = await loop(op, CALLERS, durationMs);
  } finally {
    await pool.close();
  }
  return { rps, created: tracked.created, leaked: await sweep(tracked) };
}

async function measureNoPool(port: number, warmupMs: number, durationMs: number): Promise<number> {
  const op = async (): Promise<void> => {
    const client = await EchoClient.connect(port);
    try {
      await client.request();
    } finally {
      client.close();
    }
  };
  await loop(op, CALLERS, warmupMs);
  await fullGc();
  const rps = await loop(op, CALLERS, durationMs);
  await settle();
  return rps;
}

export async function runTcp(ctx: ScenarioContext): Promise<ScenarioResult> {
  const durationMs = ctx.quick ? 500 : 2000;
  const warmupMs = ctx.quick ? 200 : 500;
  const notes: string[] = [];
  const server = await EchoServerProcess.start();
  log(`  echo server: pid ${server.pid}, 127.0.0.1:${server.port}`);
  const rows = [...ctx.contenders.map((c) => ({ name: c.name, version: c.version })), { name: NO_POOL, version: '' }];
  const samples = new Samples(rows);
  // The no-pool run takes its turn in the rotation like a contender.
  type Entry = { kind: 'pool'; contender: Contender } | { kind: 'none' };
  const entries: Entry[] = [...ctx.contenders.map((contender): Entry => ({ kind: 'pool', contender })), { kind: 'none' }];
  try {
    for (let round = 0; round < ctx.rounds; round++) {
      for (const entry of rotate(entries, round)) {
        if (entry.kind === 'none') {
          const rps = await guarded(NO_POOL, 'tcp', () => measureNoPool(server.port, warmupMs, durationMs));
          if (rps !== undefined) samples.add(NO_POOL, 'rps', rps);
          log(`  tcp round ${round + 1}/${ctx.rounds} no pool: ${rps?.toFixed(0) ?? 'n/a'} req/s`);
          continue;
        }
        const { contender } = entry;
        // In a fresh process per contender and round (see isolated-child.ts).
        const args = ['tcp', contender.name, String(server.port), String(warmupMs), String(durationMs)];
        const r = await guarded(contender, 'tcp', () => runChild<PoolFigures>(benchFile('../scenarios/isolated-child.ts'), args, ['--expose-gc'], 60_000), 60_000);
        if (r !== undefined) {
          samples.add(contender.name, 'rps', r.rps);
          if (r.created !== MAX) notes.push(`${contender.name} opened ${r.created} connections in round ${round + 1} (pool max ${MAX}).`);
          if (r.leaked > 0) notes.push(`${contender.name} left ${r.leaked} socket(s) open after close() in round ${round + 1}.`);
        }
        log(`  tcp round ${round + 1}/${ctx.rounds} ${contender.name}: ${r?.rps.toFixed(0) ?? 'n/a'} req/s`);
      }
    }
  } finally {
    await server.stop();
  }
  return {
    id: 'tcp',
    title: 'tcp: loopback echo, 64 callers, pool max 10',
    description:
      `Echo server in a separate process on 127.0.0.1; each request writes 32 bytes and waits for 32 bytes back. ` +
      `Pool min 10 / max 10, pre-warmed; ${warmupMs} ms warm-up, then ${durationMs} ms timed; each contender in a fresh process per round.`,
    rounds: ctx.rounds,
    metrics: [{ key: 'rps', label: 'req/s', unit: 'req/s', better: 'higher' }],
    rows: samples.toRows(),
    notes,
  };
}
