/**
 * Keyed pools for every contender: the adapter's own `createKeyed` where the library has keys
 * (cmk: keys on one manager, each key's pool made by its first acquire), otherwise one pool per
 * key, as users of a single-pool library do. Those are constructed here, up front; the scale
 * scenario times this call together with the acquires, so a key's setup is counted either way.
 */
import type { BenchPool, Contender, KeyedBenchPool, PoolConfig } from './types.js';

export function createKeyed<R extends object>(contender: Contender, config: PoolConfig<R>, keys: number): KeyedBenchPool<R> {
  if (contender.createKeyed !== undefined) return contender.createKeyed(config, keys);
  const pools: Array<BenchPool<R>> = [];
  for (let i = 0; i < keys; i++) pools.push(contender.create(config));
  const at = (key: number): BenchPool<R> => {
    const pool = pools[key];
    if (pool === undefined) throw new Error(`no pool for key ${key} (${keys} keys)`);
    return pool;
  };
  return {
    acquire: (key) => at(key).acquire(),
    release: (key, resource) => at(key).release(resource),
    close: async () => {
      await Promise.all(pools.map((pool) => pool.close()));
    },
  };
}
