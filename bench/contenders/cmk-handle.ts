/**
 * `cmk-handle` and `cmk-lease`: this project's pool through its recommended API, a Pool handle
 * (`manager.pool(key, config, factory)`), beside `cmk` (connectionCache.acquireConnection). Same
 * options as `cmk`. They take part in micro only: elsewhere they would measure the same pool.
 *
 * `cmk-lease` checks out with `pool.lease()` and releases through the lease; its BenchPool
 * `lease()` hands the library's Lease to micro as is (no wrapper), while acquire()/release(r)
 * (used to warm the pool) map resources to leases through a Map.
 */
import type { Lease } from '../../src/index.js';
import { CMK_KEY, cmkManager, cmkPoolOptions, cmkVersion } from './cmk.js';
import type { BenchPool, Contender, PoolConfig } from './types.js';

const MICRO_ONLY = ['micro'] as const;

export async function loadCmkHandle(): Promise<Contender> {
  return {
    name: 'cmk-handle',
    version: cmkVersion(),
    notes: 'as cmk, through a Pool handle: const pool = manager.pool(key, config, factory); await pool.acquire() + pool.release(r); retire = pool.destroy(r)',
    scenarios: MICRO_ONLY,
    create<R extends object>(config: PoolConfig<R>): BenchPool<R> {
      const manager = cmkManager(config.max);
      const pool = manager.pool<R>(CMK_KEY, cmkPoolOptions(config), () => config.create());
      return {
        acquire: () => pool.acquire(),
        acquireWithSignal: (signal) => pool.acquire({ signal }),
        release: (resource) => {
          pool.release(resource);
        },
        retire: (resource) => {
          pool.destroy(resource);
        },
        close: () => manager.gracefulShutdown(),
      };
    },
  };
}

export async function loadCmkLease(): Promise<Contender> {
  return {
    name: 'cmk-lease',
    version: cmkVersion(),
    notes: 'as cmk-handle, checking out with const lease = await pool.lease(); lease.release()',
    scenarios: MICRO_ONLY,
    create<R extends object>(config: PoolConfig<R>): BenchPool<R> {
      const manager = cmkManager(config.max);
      const pool = manager.pool<R>(CMK_KEY, cmkPoolOptions(config), () => config.create());
      const leases = new Map<R, Lease<R>>();
      const end = (resource: R): Lease<R> => {
        const lease = leases.get(resource);
        if (lease === undefined) throw new Error('cmk-lease adapter: resource was not lent by lease()');
        leases.delete(resource);
        return lease;
      };
      return {
        lease: () => pool.lease(),
        acquire: async () => {
          const lease = await pool.lease();
          leases.set(lease.connection, lease);
          return lease.connection;
        },
        release: (resource) => {
          end(resource).release();
        },
        retire: (resource) => {
          end(resource).destroy();
        },
        close: () => manager.gracefulShutdown(),
      };
    },
  };
}
