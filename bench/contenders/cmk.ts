/**
 * `cmk`: this project's keyed pool (src/), driven through `ConnectionManager.connectionCache`
 * as a user would: one key, a hoisted config object and factory, returnConnection to release,
 * destroyConnection to retire a broken connection, gracefulShutdown to close. The cache-wide
 * cap (`cache.maxConnections`, default 100) is raised to the pool's max where that is larger,
 * so the per-key max is the only limit in play.
 */
import { createRequire } from 'node:module';
import { ConnectionManager, type PoolOptions } from '../../src/index.js';
import { AcquireTimeoutError, type BenchPool, type Contender, type KeyedBenchPool, type PoolConfig } from './types.js';

export const CMK_KEY = 'bench';
/** Same default idle time as tarn's reaper when a scenario sets none (longer than any scenario). */
const DEFAULT_IDLE_MS = 30_000;

export function cmkVersion(): string {
  const require = createRequire(import.meta.url);
  const { version } = require('../../package.json') as { version: string };
  return `${version} (working tree)`;
}

/** The per-key options every cmk adapter uses: the bench contract mapped onto PoolOptions. */
export function cmkPoolOptions<R extends object>(config: PoolConfig<R>): PoolOptions<R> {
  return {
    minConnections: config.min,
    maxConnections: config.max,
    acquireTimeout: config.acquireTimeoutMs,
    maxIdleTime: config.idleTimeoutMs ?? DEFAULT_IDLE_MS,
    destroy: (connection: R) => config.destroy(connection),
  };
}

/** A manager whose cache-wide cap is at least `connections`. */
export function cmkManager(connections: number): ConnectionManager {
  return new ConnectionManager({ cache: { maxConnections: Math.max(100, connections) } });
}

const unwrap = <R>(connection: R | null): R => {
  if (connection === null) throw new AcquireTimeoutError();
  return connection;
};

export async function loadCmk(): Promise<Contender> {
  return {
    name: 'cmk',
    version: cmkVersion(),
    notes:
      'new ConnectionManager({ cache: { maxConnections } }); connectionCache.acquireConnection(key, hoisted config, factory, { signal }), null → AcquireTimeoutError; returnConnection; retire = destroyConnection; keys on one manager; close = gracefulShutdown()',
    create<R extends object>(config: PoolConfig<R>): BenchPool<R> {
      const manager = cmkManager(config.max);
      const cache = manager.connectionCache;
      // Hoisted: the same config object and factory on every call, as the API asks.
      const poolConfig = cmkPoolOptions(config);
      const factory = (): Promise<R> => config.create();
      // config.failFastOnCreateError: no switch needed; a failed create rejects its caller.
      return {
        acquire: () => cache.acquireConnection(CMK_KEY, poolConfig, factory).then(unwrap),
        acquireWithSignal: (signal) => cache.acquireConnection(CMK_KEY, poolConfig, factory, { signal }).then(unwrap),
        release: (resource) => {
          cache.returnConnection(CMK_KEY, resource);
        },
        retire: (resource) => {
          cache.destroyConnection(CMK_KEY, resource);
        },
        stats: () => {
          const s = cache.stats(CMK_KEY);
          if (s === undefined) return { total: 0, idle: 0, inUse: 0, waiting: 0, creating: 0 };
          return { total: s.total, idle: s.idle, inUse: s.inUse, waiting: s.waiting, creating: s.connecting };
        },
        close: () => manager.gracefulShutdown(),
      };
    },
    createKeyed<R extends object>(config: PoolConfig<R>, keys: number): KeyedBenchPool<R> {
      const manager = cmkManager(config.max * keys);
      const cache = manager.connectionCache;
      const poolConfig = cmkPoolOptions(config);
      const factory = (): Promise<R> => config.create();
      const names = Array.from({ length: keys }, (_, i) => `key-${i}`);
      const name = (key: number): string => names[key] ?? `key-${key}`;
      return {
        acquire: (key) => cache.acquireConnection(name(key), poolConfig, factory).then(unwrap),
        release: (key, resource) => {
          cache.returnConnection(name(key), resource);
        },
        close: () => manager.gracefulShutdown(),
      };
    },
  };
}
