/**
 * One manager's internals: the root actor, the registry of keyed pools, the clock and the
 * event hub. Shared by ConnectionManager (lifecycle), ConnectionCache (the pool API) and the
 * machines' effects. Not exported from the package.
 */
import { createActor, type Actor, type InspectionEvent, type Observer } from 'xstate';
import { poolId, type ManagerMachine } from '../machines/manager.machine.js';
import { KeepAlive, type Clock } from './clock.js';
import type { CacheConfiguration, PoolSettings } from './config.js';
import { EventHub } from './events.js';
import type { ActorNode } from './introspection.js';
import { LinkRegistry } from './links.js';
import { provideMachines } from './pool/effects.js';
import { KeyedPool, type PoolHost } from './pool/keyed-pool.js';
import type { RetryPolicy } from './retry.js';
import { openConnection } from './transport/connection.js';
import type { ServerLocation } from './transport/server.js';

/** A server connect() registered under its cacheKey: its pool opens connections to it. */
export interface ServerRegistration {
  server: ServerLocation;
  retry: RetryPolicy;
}

export type InspectOption = Observer<InspectionEvent> | ((event: InspectionEvent) => void);

export class ManagerRuntime implements PoolHost {
  readonly pools = new Map<string, KeyedPool>();
  readonly servers = new Map<string, ServerRegistration>();
  readonly events = new EventHub();
  readonly keepAlive = new KeepAlive();
  readonly links: LinkRegistry;
  readonly actor: Actor<ManagerMachine>;
  private ticks = 0;

  constructor(
    readonly cache: CacheConfiguration,
    readonly clock: Clock,
    inspect: InspectOption | undefined,
  ) {
    this.links = new LinkRegistry({
      events: this.events,
      keepAlive: this.keepAlive,
      actorOf: (id) => this.actor.getSnapshot().children[id],
      spawn: (id, key, retry) =>
        this.actor.send({ type: 'LINK.OPEN', id, key, maxAttempts: retry.maxAttempts, attemptTimeout: retry.attemptTimeout }),
    });
    const machine = provideMachines({
      pool: (key) => this.pools.get(key),
      links: this.links,
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

  /** The live actors, for observers (see src/introspection.ts). */
  actorTree(): ActorNode[] {
    const nodes: ActorNode[] = [{ ref: this.actor, kind: 'manager', parentId: undefined, key: undefined }];
    for (const pool of this.pools.values()) {
      if (pool.actor === undefined || pool.actor.getSnapshot().status !== 'active') continue;
      nodes.push({ ref: pool.actor, kind: 'pool', parentId: this.actor.id, key: pool.key });
      for (const child of pool.children()) nodes.push({ ref: child, kind: 'connection', parentId: pool.actor.id, key: pool.key });
    }
    for (const link of this.links.actors()) nodes.push({ ref: link.ref, kind: 'link', parentId: this.actor.id, key: link.key });
    return nodes;
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

  /**
   * Registers `server` under its cacheKey: from now on the key's pool, if it has no factory of
   * its own, opens connections to it with the given retry options.
   */
  registerServer(server: ServerLocation, retry: RetryPolicy): void {
    const registration: ServerRegistration = { server, retry };
    this.servers.set(server.cacheKey, registration);
    const pool = this.pools.get(server.cacheKey);
    if (pool !== undefined && (pool.factory === undefined || pool.factoryFromServer)) this.useServer(pool, registration);
  }

  /** Points a pool at a registered server (a factory that opens a Connection to it). */
  useServer(pool: KeyedPool, registration: ServerRegistration): void {
    pool.factory = ({ signal, connectionId }) =>
      // The connection machine bounds each attempt; its signal aborts the socket.
      openConnection(registration.server, { id: connectionId, timeout: Number.POSITIVE_INFINITY, signal });
    pool.factoryFromServer = true;
    pool.setRetry(registration.retry);
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
