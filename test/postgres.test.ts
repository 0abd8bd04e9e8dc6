/**
 * Against a real PostgreSQL (Debian's `postgresql` package): `pg.Client`s pooled through the
 * library by 30 callers while the server is restarted. pg's clients emit 'end' and 'error',
 * never 'close'; every lent client dies at the same moment when the server goes (57P01); the
 * server refuses new clients while it shuts down (57P03) and is gone for a while.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ConnectionManager, TimeAmount } from '../src/index.js';
import { startPostgres, type TestPostgres } from './support/postgres.js';

let server: TestPostgres;

beforeAll(async () => {
  server = await startPostgres();
}, 60_000);

afterAll(async () => {
  await server?.destroy();
}, 60_000);

describe('pg.Client pooled through the library, with the server restarted mid-run', () => {
  test('recovers within a second of the server accepting again, never lends a dead client, leaves no backend', async () => {
    const application = `cmk-test-${randomUUID().slice(0, 8)}`;
    const config = { host: server.host, port: server.port, user: server.user, database: 'postgres', application_name: application };
    const m = new ConnectionManager();
    const dead = new WeakSet<pg.Client>();
    const pool = m.pool<pg.Client>(
      'postgres',
      {
        maxConnections: 10,
        acquireTimeout: TimeAmount.seconds(20),
        // pg.Client has only end(); the default destroy would find it, but say so.
        destroy: (client) => client.end(),
      },
      async ({ signal }) => {
        const client = new pg.Client(config);
        client.on('end', () => dead.add(client));
        client.on('error', () => dead.add(client));
        signal.addEventListener('abort', () => void client.end().catch(() => {}), { once: true });
        await client.connect();
        return client;
      },
    );

    let stop = false;
    let served = 0;
    let lentDead = 0;
    let serverBackAt = Number.NaN;
    let firstAfterReturn = Number.NaN;
    const worker = async () => {
      while (!stop) {
        try {
          await pool.withConnection(async (client) => {
            if (dead.has(client)) lentDead++;
            await client.query('SELECT 1');
          });
          served++;
          if (!Number.isNaN(serverBackAt) && Number.isNaN(firstAfterReturn)) firstAfterReturn = performance.now() - serverBackAt;
        } catch {
          // 57P01 (terminated), ECONNREFUSED, 57P03 (shutting down): the server is away. Retry.
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      }
    };
    const workers = Array.from({ length: 30 }, worker);
    while (served < 200) await new Promise((resolve) => setTimeout(resolve, 10));

    await server.stop(); // every lent client is terminated at the same moment
    await new Promise((resolve) => setTimeout(resolve, 2000)); // gone a while
    await server.start(); // resolves once it accepts connections
    serverBackAt = performance.now();
    while (Number.isNaN(firstAfterReturn)) await new Promise((resolve) => setTimeout(resolve, 5));
    const before = served;
    while (served < before + 200) await new Promise((resolve) => setTimeout(resolve, 10));
    stop = true;
    await Promise.all(workers);
    const stats = pool.stats();
    console.log(`postgres restart: first success ${firstAfterReturn.toFixed(0)} ms after the server accepted again; stats`, stats);
    await m.gracefulShutdown();

    expect(firstAfterReturn).toBeLessThan(1500); // target 1 s, generous for a loaded CI machine
    expect(lentDead).toBe(0);
    expect(stats.failed).toBeGreaterThan(0); // the restart was noticed
    expect(stats.total).toBeLessThanOrEqual(10);

    // No backend of this test is left: every client was ended by the shutdown.
    const probe = new pg.Client({ ...config, application_name: 'cmk-probe' });
    await probe.connect();
    try {
      let left = -1;
      for (let i = 0; i < 100 && left !== 0; i++) {
        const r = await probe.query('SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1', [application]);
        left = (r.rows[0] as { n: number }).n;
        if (left !== 0) await new Promise((resolve) => setTimeout(resolve, 50));
      }
      expect(left).toBe(0);
    } finally {
      await probe.end();
    }
  }, 60_000);
});
