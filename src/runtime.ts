/**
 * One manager's internals: the root actor, the registry of keyed pools, the servers connect()
 * registered, the links, the clock and the event hub. Shared by ConnectionManager (lifecycle),
 * ConnectionCache and the Pool handles (the pool API) and the machines' effects. Not exported
 * from the package.
 *
 * Pools and links are actors under the manager, created with `createActor(logic, { parent })`
 * and kept here rather than in the manager's `children` record (which XState copies on every
 * spawn and stop: ten thousand keys made that quadratic). So this runtime also stops them if
 * the manager actor is stopped outright, as XState would stop its children.
 */
import { createActor, type Actor, type AnyActorRef, type AnyStateMachine, type InspectionEvent, type Observer } from 'xstate';
import { poolId } from '../machines/ids.js';
import type { ManagerMachine } from '../machines/manager.machine.js';
import { KeepAlive, type Clock } from './clock.js';
import { DEFAULT_POOL_RETRY, type CacheConfiguration, type PoolSpec } from './config.js';
import { EventHub } from './events.js';
import type { ActorNode } from './introspection.js';
import { LinkRegistry } from './links.js';
import { provideMachines } from './pool/effects.js';
import { KeyedPool, type PoolHost } from './pool/keyed-pool.js';
import type { RetryPolicy } from './retry.js';
import { openConnection } from './transport/connection.js';
import type { ServerLocation } from './transport/server.js';
import { indexScheduler, stopActor } from './xstate-internals.js';

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
  readonly connectionLogic: AnyStateMachine;
  private readonly poolLogic: AnyStateMachine;
  /** Which pool holds each pooled resource (for returns, and to refuse pooling one twice). */
  private readonly pooled = new WeakMap<object, KeyedPool>();
  private ticks = 0;

  constructor(
    readonly cache: CacheConfiguration,
    readonly clock: Clock,
    inspect: InspectOption | undefined,
  ) {
    this.links = new LinkRegistry({
      clock,
      keepAlive: this.keepAlive,
      open: (input) => this.actor.send({ type: 'LINK.OPEN', input }),
      parent: () => this.actor,
    });
    const machines = provideMachines({
      events: this.events,
      pool: (key) => this.pools.get(key),
      links: this.links,
      leastRecentlyUsed: (key) => this.leastRecentlyUsed(key),
      shutdownPhase: (phase) => this.events.emit('manager:shutdown', { phase }),
      children: () => this.children(),
    });
    this.connectionLogic = machines.connection;
    this.poolLogic = machines.pool;
    this.actor = createActor(machines.manager, {
      id: 'manager',
      input: { cache: { maxConnections: cache.maxConnections, ttl: cache.ttl, enableLRU: cache.enableLRU } },
      clock,
      ...(inspect === undefined ? {} : { inspect }),
    });
    indexScheduler(this.actor);
    this.actor.subscribe({
      // Without an error observer, an error inside a transition would crash the process.
      error: (error) => {
        console.error('connection-manager-kit: the manager actor failed', error);
        this.stopChildren();
      },
      // Stopped (or finished): what is not in XState's children records is ours to stop.
      complete: () => this.stopChildren(),
    });
    this.actor.start();
  }

  accepting(): boolean {
    return this.actor.getSnapshot().value === 'running';
  }

  tick(): number {
    return ++this.ticks;
  }

  poolOf(resource: object): KeyedPool | undefined {
    return this.pooled.get(resource);
  }

  adopt(resource: object, pool: KeyedPool): void {
    this.pooled.set(resource, pool);
  }

  release(resource: object): void {
    this.pooled.delete(resource);
  }

  /** The live actors, for observers (see src/introspection.ts). */
  actorTree(): ActorNode[] {
    const nodes: ActorNode[] = [{ ref: this.actor, kind: 'manager', parentId: undefined, key: undefined }];
    for (const pool of this.pools.values()) {
      if (pool.actor === undefined || pool.actor.getSnapshot().status !== 'active') continue;
      nodes.push({ ref: pool.actor, kind: 'pool', parentId: this.actor.id, key: pool.key });
      for (const ref of pool.connectionActors()) nodes.push({ ref, kind: 'connection', parentId: pool.actor.id, key: pool.key });
    }
    for (const link of this.links.actors()) nodes.push({ ref: link.ref, kind: 'link', parentId: this.actor.id, key: link.key });
    return nodes;
  }

  /** Registers the key's runtime, then has the manager machine open its pool actor. */
  openPool(key: string, spec: PoolSpec, setup: (pool: KeyedPool) => void): KeyedPool {
    const pool = new KeyedPool(key, this, spec, DEFAULT_POOL_RETRY);
    setup(pool);
    this.pools.set(key, pool);
    this.events.emit('pool:created', { key, config: { ...spec.settings } });
    // Created here, started by the manager's transition (POOL.OPEN): the decision is the machine's.
    const actor = createActor(this.poolLogic, { parent: this.actor, id: poolId(key), input: { key, config: pool.machineConfig() } });
    pool.actor = actor;
    actor.subscribe({ complete: () => pool.stopAll(), error: () => pool.stopAll() });
    this.actor.send({ type: 'POOL.OPEN', key, config: pool.machineConfig() });
    return pool;
  }

  /** Pools and links whose actors run (for shutdown and force). */
  private *children(): IterableIterator<{ ref: AnyActorRef; kind: 'pool' | 'link' }> {
    for (const pool of this.pools.values()) {
      if (pool.actor !== undefined && pool.actor.getSnapshot().status === 'active') yield { ref: pool.actor, kind: 'pool' };
    }
    for (const ref of this.links.runningActors()) yield { ref, kind: 'link' };
  }

  private stopChildren(): void {
    for (const child of [...this.children()]) stopActor(child.ref);
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
    pool.configure(pool.spec, registration.retry);
  }

  private leastRecentlyUsed(requester: string): AnyActorRef | undefined {
    let victim: KeyedPool | undefined;
    for (const pool of this.pools.values()) {
      if (pool.key === requester || pool.ledger.idleCount === 0) continue;
      if (victim === undefined || pool.lastUsed < victim.lastUsed) victim = pool;
    }
    return victim?.actor;
  }
}
