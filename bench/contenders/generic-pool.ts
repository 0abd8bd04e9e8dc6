import { createRequire } from 'node:module';
import genericPool from 'generic-pool';
import type { BenchPool, Contender, PoolConfig } from './types.js';

const require = createRequire(import.meta.url);
const { version } = require('generic-pool/package.json') as { version: string };

export const genericPoolContender: Contender = {
  name: 'generic-pool',
  version,
  notes:
    'createPool(factory, { min, max, acquireTimeoutMillis, testOnBorrow: false, fifo: true (default), evictor off unless the scenario sets an idle timeout }); retire = pool.destroy(r); close = drain() + clear()',
  create<R extends object>(config: PoolConfig<R>): BenchPool<R> {
    const idle = config.idleTimeoutMs;
    const pool = genericPool.createPool<R>(
      {
        create: () => config.create(),
        // generic-pool wants a promise from destroy.
        destroy: async (resource: R) => {
          await config.destroy(resource);
        },
      },
      {
        min: config.min,
        max: config.max,
        acquireTimeoutMillis: config.acquireTimeoutMs,
        testOnBorrow: false,
        fifo: true,
        autostart: true,
        // Idle eviction is off unless evictionRunIntervalMillis is set as well (a known trap);
        // only scenarios that ask for an idle timeout turn it on, with every idle resource tested.
        ...(idle === undefined
          ? { evictionRunIntervalMillis: 0 }
          : {
              evictionRunIntervalMillis: Math.min(1000, idle),
              idleTimeoutMillis: idle,
              numTestsPerEvictionRun: config.max,
            }),
      },
    );
    return {
      acquire: () => pool.acquire(),
      release: (resource) => pool.release(resource),
      retire: (resource) => pool.destroy(resource),
      stats: () => ({
        total: pool.size,
        idle: pool.available,
        inUse: pool.borrowed,
        waiting: pool.pending,
      }),
      close: async () => {
        await pool.drain();
        await pool.clear();
      },
    };
  },
};
