/**
 * The demo's story, in acts: warm-up to minConnections; a burst served by returns (no new
 * connections); the server crashing and refusing (errors, the breaker opening, probes, backoff);
 * its return and the pool's recovery; a resize; the graceful shutdown. Each act prints what the
 * callers saw and the pool's counts; the narrator prints the actors' state changes meanwhile.
 */
import type net from 'node:net';
import { AcquireTimeoutError, type ConnectionManager, type Pool } from '../index.js';
import { connectTo, echo, type DemoServer } from './echo-server.js';
import { act, say } from './narrator.js';

export interface StoryOptions {
  /** Stretches every pause (1: about 20 s in all; the dashboard mode runs slower). */
  pace: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function counts(pool: Pool<net.Socket>): string {
  const s = pool.stats();
  return `total ${s.total}, idle ${s.idle}, in use ${s.inUse}, connecting ${s.connecting}, waiting ${s.waiting} | created ${s.created}, failed ${s.failed}, hits ${s.hits}`;
}

/** The pool of the story: sockets to the demo server, each made with a handshake (a round trip). */
export function demoPool(manager: ConnectionManager, server: DemoServer): Pool<net.Socket> {
  const connect = connectTo(server);
  return manager.pool(
    'echo',
    { minConnections: 2, maxConnections: 6, acquireTimeout: 1500, maxIdleTime: 60_000 },
    async (options) => {
      const socket = await connect(options);
      try {
        await echo(socket, 'handshake'); // the server answers after its accept delay
      } catch (error) {
        socket.destroy();
        throw error;
      }
      return socket;
    },
  );
}

/**
 * `callers` callers making `requests` requests each (or until `until()` says stop), holding the
 * connection `holdMs` per request.
 */
async function traffic(pool: Pool<net.Socket>, callers: number, requests: number, holdMs: number, until = () => false) {
  const outcome = { served: 0, refused: 0, timedOut: 0, broken: 0, causes: new Set<string>() };
  await Promise.all(
    Array.from({ length: callers }, async (_, c) => {
      for (let i = 0; i < requests && !until(); i++) {
        try {
          await pool.withConnection(async (socket) => {
            const text = `caller ${c} request ${i}`;
            if ((await echo(socket, text)) !== text) throw new Error('wrong reply');
            await sleep(holdMs);
          });
          outcome.served++;
        } catch (error) {
          if (error instanceof AcquireTimeoutError) {
            outcome.timedOut++;
            if (error.cause instanceof Error) outcome.causes.add(`${(error.cause as { code?: string }).code ?? error.cause.message}`);
          } else if ((error as { code?: string }).code === 'ECONNREFUSED') {
            outcome.refused++;
          } else {
            outcome.broken++;
          }
          await sleep(50);
        }
      }
    }),
  );
  return outcome;
}

/** Acts 2 to 5 (the ones the dashboard mode repeats). */
export async function storyMiddle(
  manager: ConnectionManager,
  pool: Pool<net.Socket>,
  server: DemoServer,
  { pace }: StoryOptions,
): Promise<void> {
  act('2. A burst: 8 callers x 4 requests, each holding its connection 5 ms');
  say('   The pool learned that a new connection takes ~150 ms (its handshake) and a request ~6 ms,');
  say('   so lent connections come back sooner than new ones could be made (Little\'s law): it waits for them.');
  const createdBefore = pool.stats().created;
  const burst = await traffic(pool, 8, 4, 5);
  say(`   served ${burst.served} requests; connections created during the burst: ${pool.stats().created - createdBefore}`);
  say(`   ${counts(pool)}`);
  await sleep(800 * pace);

  act('3. The server crashes: every connection drops at once, and new ones are refused');
  let attempts = 0;
  const countAttempt = (e: { key: string }) => {
    if (e.key === pool.key) attempts++;
  };
  manager.events.on('connection:connecting', countAttempt);
  const outageMs = 2500 * pace;
  const startedAt = performance.now();
  await server.crash();
  let down = true;
  const during = traffic(pool, 3, Number.POSITIVE_INFINITY, 5, () => !down);
  await sleep(outageMs);
  down = false;
  const outage = await during;
  manager.events.off('connection:connecting', countAttempt);
  say(
    `   while it was down: ${outage.refused} requests heard ECONNREFUSED (the callers the failed creates were for), ` +
      `${outage.timedOut} timed out${outage.causes.size > 0 ? ` with AcquireTimeoutError (cause: ${[...outage.causes].join(', ')})` : ''}`,
  );
  say(`   connect attempts in ${((performance.now() - startedAt) / 1000).toFixed(1)} s: ${attempts} (the breaker probes; callers do not each reconnect)`);

  act('4. The server is back: the next probe succeeds, the pool recovers, then is steady again');
  await server.restart();
  const after = await traffic(pool, 4, 5, 5);
  say(`   after the return: ${after.served} served; ${counts(pool)}`);
  await sleep(1500 * pace);

  act('5. Resize: maxConnections 6 -> 2 (the surplus is retired), then back to 6');
  pool.resize({ maxConnections: 2, minConnections: 1 });
  await sleep(300 * pace);
  say(`   ${counts(pool)}`);
  pool.resize({ maxConnections: 6, minConnections: 2 });
  await sleep(600 * pace);
  say(`   ${counts(pool)}`);
}

export async function warmUp(pool: Pool<net.Socket>): Promise<void> {
  act('1. Warm-up: the pool opens minConnections (2); pool.ready() waits for them');
  await pool.ready();
  say(`   ${counts(pool)}`);
  // A few requests one at a time: the pool measures how long creates and holds take.
  await traffic(pool, 1, 4, 5);
}
