/**
 * One manager's internals: the root actor, the registry of keyed pools, the clock and the
 * event hub. Shared by ConnectionManager (lifecycle), ConnectionCache (the pool API) and the
 * machines' effects. Not exported from the package.
 */
import { createActor, type Actor, type InspectionEvent, type Observer } from 'xstate';
import { poolId, type ManagerMachine } from '../machines/manager.machine.js';
import type { Clock } from './clock.js';
import type { CacheConfiguration, PoolSettings } from './config.js';
import { EventHub } from './events.js';
import { provideMachines } from './pool/effects.js';
import { KeyedPool, type PoolHost } from './pool/keyed-pool.js';

export type InspectOption = Observer<InspectionEvent> | ((event: InspectionEvent) => void);

export class ManagerRuntime implements PoolHost {
  readonly pools = new Map<string, KeyedPool>();
  readonly events = new EventHub();
  readonly actor: Actor<ManagerMachine>;
  private ticks = 0;

  constructor(
    readonly cache: CacheConfiguration,
    readonly clock: Clock,
    inspect: InspectOption | undefined,
  ) {
    const machine = provideMachines({
      pool: (key) => this.pools.get(key),
      evictLeastRecentlyUsed: (key) => this.evictLeastRecentlyUsed(key),
      shutdownPhase: (phase) => this.events.emit('manager:shutdown', { phase }),
    });
    this.actor = createActor(machine, {
      input: {
        cache: { maxConnections: cache.maxConnections, ttl: cache.ttl, enableLRU: cache.enableLRU },
      },
      clock,
      ...(inspect === undefined ? {} : { inspect }),
    });
    // Without an error observer, an error inside a transition would crash the process.
    this.actor.subscribe({
      error: (error) => {
        console.error('connection-manager-kit: the manager actor failed', error);
      },
    });
    this.actor.start();
  }

  accepting(): boolean {
    return this.actor.getSnapshot().value === 'running';
  }

  tick(): number {
    return ++this.ticks;
  }

  isPooled(resource: object): boolean {
    for (const pool of this.pools.values()) if (pool.ledger.has(resource)) return true;
    return false;
  }

  /** Registers the key's runtime, then has the manager machine spawn its pool actor. */
  openPool(key: string, settings: PoolSettings, setup: (pool: KeyedPool) => void): KeyedPool {
    const pool = new KeyedPool(key, this, settings);
    setup(pool);
    this.pools.set(key, pool);
    this.events.emit('pool:created', { key, config: { ...settings } });
    this.actor.send({ type: 'POOL.OPEN', key, config: pool.machineConfig() });
    pool.actor = this.actor.getSnapshot().children[poolId(key)];
    return pool;
  }

  private evictLeastRecentlyUsed(requester: string): void {
    let victim: KeyedPool | undefined;
    for (const pool of this.pools.values()) {
      if (pool.key === requester || pool.ledger.idleCount === 0) continue;
      if (victim === undefined || pool.lastUsed < victim.lastUsed) victim = pool;
    }
    victim?.actor?.send({ type: 'EVICT' });
  }
}
