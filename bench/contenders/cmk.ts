/**
 * `cmk`: this project's keyed pool (src/), driven through `ConnectionManager.connectionCache`
 * as a user would: one key, a hoisted config object and factory, returnConnection to release,
 * destroyConnection to retire a broken connection, gracefulShutdown to close.
 */
import { createRequire } from 'node:module';
import { ConnectionManager, type PoolOptions } from '../../src/index.js';
import { AcquireTimeoutError, type BenchPool, type Contender, type PoolConfig } from './types.js';

const KEY = 'bench';
/** Same default idle time as tarn's reaper when a scenario sets none (longer than any scenario). */
const DEFAULT_IDLE_MS = 30_000;

export async function loadCmk(): Promise<Contender> {
  const require = createRequire(import.meta.url);
  const { version } = require('../../package.json') as { version: string };
  return {
    name: 'cmk',
    version: `${version} (working tree)`,
    notes:
      'new ConnectionManager({ cache: { maxConnections } }); connectionCache.acquireConnection(key, hoisted config, factory), null → AcquireTimeoutError; returnConnection; retire = destroyConnection; close = gracefulShutdown()',
    create<R extends object>(config: PoolConfig<R>): BenchPool<R> {
      const manager = new ConnectionManager({ cache: { maxConnections: Math.max(100, config.max) } });
      const cache = manager.connectionCache;
      // Hoisted: the same config object and factory on every call, as the API asks.
      const poolConfig: PoolOptions<R> = {
        minConnections: config.min,
        maxConnections: config.max,
        acquireTimeout: config.acquireTimeoutMs,
        maxIdleTime: config.idleTimeoutMs ?? DEFAULT_IDLE_MS,
        destroy: (connection: R) => config.destroy(connection),
      };
      const factory = (): Promise<R> => config.create();
      const unwrap = (connection: R | null): R => {
        if (connection === null) throw new AcquireTimeoutError();
        return connection;
      };
      // config.failFastOnCreateError: no switch needed; a failed create rejects its caller.
      return {
        acquire: () => cache.acquireConnection(KEY, poolConfig, factory).then(unwrap),
        release: (resource) => {
          cache.returnConnection(KEY, resource);
        },
        retire: (resource) => {
          cache.destroyConnection(KEY, resource);
        },
        stats: () => {
          const s = cache.stats(KEY);
          if (s === undefined) return { total: 0, idle: 0, inUse: 0, waiting: 0, creating: 0 };
          return { total: s.total, idle: s.idle, inUse: s.inUse, waiting: s.waiting, creating: s.connecting };
        },
        close: () => manager.gracefulShutdown(),
      };
    },
  };
}
