import { expect, test } from 'vitest';
import {
  createActor,
  fromCallback,
  type AnyActorRef,
  type AnyEventObject,
  type InspectionEvent,
  type SimulatedClock,
} from 'xstate';
import type { ConnectionInput } from '../../machines/connection.machine.js';
import { managerMachine, type CacheConfig, type ManagerContext, type ManagerEvent } from '../../machines/manager.machine.js';
import type { PoolConfig, PoolInput } from '../../machines/pool.machine.js';
import { formatReport, mergeReports, runModel, type System } from './harness.js';

const CONFIG: PoolConfig = {
  minConnections: 0,
  maxConnections: 2,
  acquireTimeout: 1000,
  maxIdleTime: 1000,
  ttl: 5000,
  maxAttempts: 1,
  attemptTimeout: Number.POSITIVE_INFINITY,
};
const KEYS = ['a', 'b'] as const;
const LINKS = ['a@1', 'b@2'] as const;

/** The manager with stand-in pools that count the grants they receive, and stand-in links. */
function startManager(cache: CacheConfig, clock: SimulatedClock, inspect: (e: InspectionEvent) => void) {
  const grants: Record<string, number> = {};
  const evictions: string[] = [];
  const phases: string[] = [];
  const pool = fromCallback<AnyEventObject, PoolInput>(({ input, receive }) => {
    receive((event) => {
      if (event.type === 'SLOT.GRANTED') grants[input.key] = (grants[input.key] ?? 0) + 1;
    });
  });
  const retired: string[] = [];
  const link = fromCallback<AnyEventObject, ConnectionInput>(({ input, receive }) => {
    receive((event) => {
      if (event.type === 'RETIRE') retired.push(input.id);
    });
  });
  const linkReports: string[] = [];
  const machine = managerMachine.provide({
    actors: { pool: pool as never, link: link as never },
    actions: {
      linkReport: ({ event }) => {
        if ('id' in event) linkReports.push(`${event.type} ${event.id}`);
      },
      evictLeastRecentlyUsed: ({ event }) => {
        if (event.type === 'SLOT.REQUEST') evictions.push(event.key);
      },
      notifyShutdownStarted: () => phases.push('started'),
      notifyShutdownForced: () => phases.push('forced'),
      notifyShutdownCompleted: () => phases.push('completed'),
    },
  });
  const actor = createActor(machine, { input: { cache }, clock, inspect });
  actor.start();
  let released = 0;
  let queuedRequests = 0;
  const system: System & { send(e: ManagerEvent): void } = {
    target: actor as AnyActorRef,
    stop: () => actor.stop(),
    send(event) {
      const before = actor.getSnapshot().context;
      if (event.type === 'SLOT.RELEASE' && !actor.getSnapshot().matches('stopped')) released++;
      actor.send(event);
      const after = actor.getSnapshot().context;
      if (event.type === 'SLOT.REQUEST' && after.queue.length > before.queue.length) queuedRequests++;
    },
    check(snapshot) {
      const c = snapshot.context as ManagerContext;
      const delivered = Object.values(grants).reduce((a, b) => a + b, 0);
      // Slots are conserved: granted = delivered to pools - given back.
      expect(c.granted).toBe(delivered - released);
      expect(c.granted).toBeLessThanOrEqual(c.cache.maxConnections);
      // Nobody waits for a slot while one is free.
      if (c.queue.length > 0) expect(c.granted).toBe(c.cache.maxConnections);
      // With LRU on, every request that had to wait asked the least recently used key to evict.
      expect(evictions.length).toBe(c.cache.enableLRU ? queuedRequests : 0);
      // One pool actor per open key, one actor per open link, and only those.
      expect(Object.keys(snapshot.children).sort()).toEqual([...c.pools.map((k) => `pool:${k}`), ...c.links].sort());
      // Every link report reached the runtime; shutdown retired every link that was open then.
      if (!snapshot.matches('running')) for (const id of c.links) expect(retired).toContain(id);
      if (snapshot.matches('stopped')) {
        expect(phases).toEqual(phases.includes('forced') ? ['started', 'forced', 'completed'] : ['started', 'completed']);
        expect(snapshot.status).toBe('done');
      } else {
        expect(phases).not.toContain('completed');
      }
    },
  };
  return system;
}

test('manager machine: every generated path, replayed on a running actor (LRU off and on)', async () => {
  const reports = [];
  for (const enableLRU of [false, true]) {
    const cache: CacheConfig = { maxConnections: 2, ttl: Number.POSITIVE_INFINITY, enableLRU };
    let system: ReturnType<typeof startManager> | undefined;
    reports.push(
      await runModel({
        name: `manager (LRU ${enableLRU ? 'on' : 'off'})`,
        machine: managerMachine,
        input: { cache },
        events: () => [
          ...KEYS.flatMap((key): ManagerEvent[] => [
            { type: 'POOL.OPEN', key, config: CONFIG },
            { type: 'SLOT.REQUEST', key },
            { type: 'SLOT.RELEASE', key },
            { type: 'POOL.CLOSED', key },
          ]),
          ...LINKS.flatMap((id): ManagerEvent[] => [
            { type: 'LINK.OPEN', id, key: id.slice(0, 1), maxAttempts: 2, attemptTimeout: Number.POSITIVE_INFINITY },
            { type: 'CONNECTION.CONNECTING', id, attempt: 1 },
            { type: 'CONNECTION.BACKOFF', id, attempt: 1, delay: 10, error: 'ECONNREFUSED' },
            { type: 'CONNECTION.READY', id, attempt: 1, reconnected: false },
            { type: 'CONNECTION.DISCONNECTED', id, error: 'ECONNRESET' },
            { type: 'CONNECTION.DRAINING', id, reason: 'shutdown', wasOpen: true, error: undefined },
            { type: 'CONNECTION.FAILED', id, attempts: 2, error: 'ECONNREFUSED' },
            { type: 'CONNECTION.CLOSED', id, reason: 'shutdown', error: undefined },
          ]),
          { type: 'SHUTDOWN', timeout: 3000 },
        ],
        filterEvents: (s, e) => {
          const c = s.context as ManagerContext;
          const open = 'key' in e && c.pools.includes(e.key as string);
          if (e.type.startsWith('CONNECTION.')) return c.links.includes((e as unknown as { id: string }).id);
          switch (e.type) {
            case 'LINK.OPEN':
              // Link ids are unique (the runtime numbers them); a running manager opens each once.
              return !c.links.includes((e as unknown as { id: string }).id) && s.matches('running');
            case 'SLOT.REQUEST':
              return open && c.queue.length < 2;
            case 'SLOT.RELEASE':
              return c.granted > 0;
            case 'POOL.CLOSED':
              return open;
            default:
              return true;
          }
        },
        serialize: (s) => {
          const c = s.context as ManagerContext;
          return JSON.stringify({
            value: s.value,
            granted: c.granted,
            queue: c.queue,
            pools: [...c.pools].sort(),
            links: [...c.links].sort(),
          });
        },
        start: (clock, inspect) => (system = startManager(cache, clock, inspect)),
        perform(event) {
          system?.send(event as ManagerEvent);
          return true;
        },
      }),
    );
  }
  for (const r of reports) console.log(formatReport(r));
  const merged = mergeReports('manager', reports);
  console.log(formatReport(merged));
  expect(merged.states.missing).toEqual([]);
  expect(merged.transitions.missing).toEqual([]);
}, 120_000);
