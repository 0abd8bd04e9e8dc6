/**
 * Model-based test of the manager machine: every state and transition, reached by generated
 * paths replayed on a running manager, with LRU off and on. The manager's default actions are
 * the ones under test (they spawn, START, grant, stop, tell of contention and shut down
 * children by id); its pools and links are stand-ins that record what they receive, and the
 * test plays them by sending their reports. The subtlety: the manager counts pools and links
 * but does not list them, so the model reads which are open from the snapshot's children, and
 * the first invariant is that those agree with the counts. Shutdown is bounded (a timeout) or
 * patient (timeout Infinity: no timer).
 */
import { expect, test } from 'vitest';
import {
  createActor,
  fromCallback,
  type AnyActorRef,
  type AnyEventObject,
  type AnyMachineSnapshot,
  type InspectionEvent,
  type SimulatedClock,
} from 'xstate';
import type { ConnectionInput } from '../../machines/connection.machine.js';
import { linkId, poolId } from '../../machines/ids.js';
import { managerMachine, type CacheConfig, type ManagerContext, type ManagerEvent } from '../../machines/manager.machine.js';
import type { PoolConfig, PoolContext } from '../../machines/pool.machine.js';
import { formatReport, holds, mergeReports, pendingTimers, runModel, same, type ModelReport, type System } from './harness.js';

const CONFIG: PoolConfig = {
  minConnections: 0,
  maxConnections: 2,
  acquireTimeout: 1000,
  maxIdleTime: 1000,
  ttl: 5000,
  maxLifetime: 8000,
  maxAttempts: 1,
  attemptTimeout: 3000,
  breaker: { initialDelay: 100, maxDelay: 500 },
  stabilityWindow: 1000,
  validationTimeout: 500,
  destroyTimeout: 600,
};
const KEYS = ['a', 'b'] as const;
const LINKS = [linkId('a', 1), linkId('b', 2)];
const SHUTDOWN_TIMEOUT = 3000;

function linkInput(id: string): ConnectionInput {
  return {
    id,
    key: id.slice(0, 1),
    maxAttempts: 2,
    attemptTimeout: 3000,
    supervised: true,
    epoch: 0,
    stabilityWindow: 1000,
    validationTimeout: 500,
    destroyTimeout: 600,
  };
}

/** What the stand-ins and the manager's runtime-facing actions saw. */
interface Seen {
  /** Per child id: the events its current actor received, in order (`SLOTS.CONTENDED:true` with its value). */
  received: Map<string, string[]>;
  /** Per link id: the inputs of the STARTs it received. */
  starts: Map<string, ConnectionInput[]>;
  /** SLOT.GRANTED received by any pool, ever. */
  grants: number;
  /** Per pool id: slots it asked for and has not been granted (the test counts the requests). */
  owed: Map<string, number>;
  evictions: string[];
  phases: string[];
  linkReports: number;
}

/** The manager as traversed and run: stand-in pools and links, and its notifications recorded. */
function instrumented(seen: Seen) {
  const standIn = fromCallback<AnyEventObject>(({ self, receive }) => {
    const id = self.id;
    const log: string[] = [];
    const starts: ConnectionInput[] = [];
    seen.received.set(id, log);
    if (!id.startsWith('pool:')) seen.starts.set(id, starts);
    receive((event) => {
      log.push(event.type === 'SLOTS.CONTENDED' ? `SLOTS.CONTENDED:${String(event.contended)}` : event.type);
      if (event.type === 'START') starts.push((event as { type: 'START'; input: ConnectionInput }).input);
      if (event.type !== 'SLOT.GRANTED') return;
      seen.grants++;
      seen.owed.set(id, (seen.owed.get(id) ?? 0) - 1);
    });
  });
  return managerMachine.provide({
    actors: { pool: standIn as never, link: standIn as never },
    actions: {
      linkReport: () => void seen.linkReports++,
      evictLeastRecentlyUsed: ({ event }) => {
        if (event.type === 'SLOT.REQUEST') seen.evictions.push(event.key);
      },
      notifyShutdownStarted: () => void seen.phases.push('started'),
      notifyShutdownForced: () => void seen.phases.push('forced'),
      notifyShutdownCompleted: () => void seen.phases.push('completed'),
    },
  });
}

const newSeen = (): Seen => ({
  received: new Map(),
  starts: new Map(),
  grants: 0,
  owed: new Map(),
  evictions: [],
  phases: [],
  linkReports: 0,
});

/** What a pool was last told of contention (a pool begins uncontended). */
function toldContended(log: readonly string[]): boolean {
  for (let i = log.length - 1; i >= 0; i--) {
    const entry = log[i] ?? '';
    if (entry.startsWith('SLOTS.CONTENDED:')) return entry.endsWith('true');
  }
  return false;
}

function startManager(cache: CacheConfig, clock: SimulatedClock, inspect: (e: InspectionEvent) => void) {
  const seen = newSeen();
  const actor = createActor(instrumented(seen), { input: { cache }, clock, inspect });
  actor.start();
  let released = 0;
  let queuedRequests = 0;
  let linkEvents = 0;
  let before = actor.getSnapshot() as AnyMachineSnapshot;
  let deliveredBefore = 0;
  /** Per pool id: how many events it had received before this step. */
  let receivedBefore = new Map<string, number>();
  const system: System = {
    target: actor as AnyActorRef,
    stop: () => actor.stop(),
    check(snapshot, event) {
      const c = snapshot.context as ManagerContext;
      const b = before.context as ManagerContext;
      const running = snapshot.matches('running');
      if (event?.type === 'SLOT.RELEASE') released++;
      if (event?.type === 'SLOT.REQUEST' && c.queue.length > b.queue.length) queuedRequests++;
      if (event?.type === 'SLOT.REQUEST') {
        const id = poolId((event as Extract<ManagerEvent, { type: 'SLOT.REQUEST' }>).key);
        seen.owed.set(id, (seen.owed.get(id) ?? 0) + 1);
      }
      // A closing pool's requests, and all of them at shutdown, are dropped, not granted.
      if (event?.type === 'POOL.CLOSED') seen.owed.delete(poolId((event as Extract<ManagerEvent, { type: 'POOL.CLOSED' }>).key));
      if (!running) seen.owed.clear();
      if (event?.type.startsWith('CONNECTION.')) linkEvents++;
      const delivered = seen.grants;

      // Slots are conserved: granted = delivered to pools - given back; never above the cap.
      same(c.granted, delivered - released, 'granted = delivered - released');
      holds(c.granted >= 0 && c.granted <= c.cache.maxConnections, 'granted within the cap');
      // Nobody waits for a slot while one is free; only open pools wait.
      if (c.queue.length > 0) same(c.granted, c.cache.maxConnections, 'a request queued while a slot is free');
      const children = Object.keys(snapshot.children).sort();
      for (const key of c.queue) holds(children.includes(poolId(key)), `the queue names a closed pool ${key}`);
      // Every request is granted once, to the pool that asked, or waits in the queue.
      for (const [id, owed] of seen.owed) {
        same(c.queue.filter((key) => poolId(key) === id).length, owed, `${id}: requests queued = asked for - granted`);
      }
      // A request granted at once reaches the pool that asked.
      if (event?.type === 'SLOT.REQUEST' && c.granted > b.granted) {
        const key = (event as Extract<ManagerEvent, { type: 'SLOT.REQUEST' }>).key;
        same(seen.received.get(poolId(key))?.at(-1), 'SLOT.GRANTED', 'the grant goes to the pool that asked');
      }
      // With LRU on, every request that had to wait asked the least recently used key to evict.
      same(seen.evictions.length, c.cache.enableLRU ? queuedRequests : 0, 'evictions asked for');
      // The counts are the children: one pool actor per open key, one actor per open link.
      same(c.pools, children.filter((id) => id.startsWith('pool:')).length, 'pools = pool children');
      same(c.links, children.filter((id) => !id.startsWith('pool:')).length, 'links = link children');
      // Every link report reaches the runtime.
      same(seen.linkReports, linkEvents, 'link reports passed on');
      // A link is STARTed once, at once, with the input it was opened with.
      for (const id of children.filter((child) => !child.startsWith('pool:'))) {
        const starts = seen.starts.get(id) ?? [];
        same(starts.length, 1, `${id} STARTed once`);
        same(seen.received.get(id)?.[0], 'START', `${id}: START first`);
        const opened = event?.type === 'LINK.OPEN' ? (event as Extract<ManagerEvent, { type: 'LINK.OPEN' }>).input : undefined;
        if (opened?.id === id) expect(starts[0], `${id} STARTed with its input`).toEqual(opened);
      }
      // Contention: while it runs, the manager says keys wait exactly when its queue is not
      // empty, and tells every open pool (once, with the new value) exactly when that changes.
      const pools = children.filter((id) => id.startsWith('pool:'));
      if (running) {
        same(c.contended, c.queue.length > 0, 'contended = keys wait for slots');
        const changed = before.matches('running') && c.contended !== b.contended;
        for (const id of pools) {
          const log = seen.received.get(id) ?? [];
          const told = log.slice(receivedBefore.get(id) ?? 0).filter((e) => e.startsWith('SLOTS.CONTENDED'));
          if (receivedBefore.has(id)) same(told.join(), changed ? `SLOTS.CONTENDED:${String(c.contended)}` : '', `${id} told of contention`);
          // ... so every open pool knows whether other keys wait (a new one included).
          same(toldContended(log), c.contended, `${id} knows whether keys wait for slots`);
        }
      }
      receivedBefore = new Map(pools.map((id) => [id, seen.received.get(id)?.length ?? 0]));
      // Shutdown: every child still open was told once (pools SHUTDOWN, links RETIRE), forced
      // once the timeout fired; no slot granted any more.
      if (!running) {
        same(c.queue.length, 0, 'requests queued after shutdown');
        if (!before.matches('running')) same(delivered, deliveredBefore, 'a slot granted after shutdown');
        for (const id of children) {
          const log = seen.received.get(id) ?? [];
          const told = id.startsWith('pool:') ? 'SHUTDOWN' : 'RETIRE';
          same(log.filter((e) => e === told).length, 1, `${id} told to shut down`);
          if (seen.phases.includes('forced')) same(log.filter((e) => e === 'FORCE').length, 1, `${id} forced`);
        }
      } else {
        same(seen.phases.length, 0, 'shutdown phases while running');
      }
      // One timer, the shutdown timeout, from a bounded shutdown until it fires or all is
      // closed; none for a patient one (timeout Infinity), which is never forced.
      const patient = before.matches('running') && event?.type === 'SHUTDOWN'
        ? (event as Extract<ManagerEvent, { type: 'SHUTDOWN' }>).timeout === Number.POSITIVE_INFINITY
        : undefined;
      if (patient !== undefined && snapshot.matches('shuttingDown')) {
        holds(snapshot.matches({ shuttingDown: patient ? 'patient' : 'bounded' }), 'a shutdown is patient exactly with timeout Infinity');
      }
      if (snapshot.matches({ shuttingDown: 'patient' })) holds(!seen.phases.includes('forced'), 'a patient shutdown forced');
      const forced = seen.phases.includes('forced') && !snapshot.matches('stopped');
      same(snapshot.matches({ shuttingDown: 'forced' }), forced, 'forced once the timeout fired');
      const timers = pendingTimers(actor);
      same(timers.length, snapshot.matches({ shuttingDown: 'bounded' }) ? 1 : 0, 'pending timers');
      if (timers.length > 0) same(timers[0]?.delay, SHUTDOWN_TIMEOUT, 'the shutdown timer is the timeout');
      if (snapshot.matches('stopped')) {
        expect(seen.phases).toEqual(
          seen.phases.includes('forced') ? ['started', 'forced', 'completed'] : ['started', 'completed'],
        );
        same(snapshot.status, 'done', 'stopped is final');
        same(children.length, 0, 'children left when stopped');
      } else {
        holds(!seen.phases.includes('completed'), 'completed before stopped');
      }
      before = snapshot;
      deliveredBefore = delivered;
    },
  };
  return system;
}

/** Whether `id` is a live child of the snapshot. */
const isChild = (s: AnyMachineSnapshot, id: string) => (s.children as { [id: string]: unknown })[id] !== undefined;

test('manager machine: every generated path, replayed on a running actor (LRU off and on)', () => {
  const reports: ModelReport[] = [];
  for (const enableLRU of [false, true]) {
    const cache: CacheConfig = { maxConnections: 2, ttl: Number.POSITIVE_INFINITY, enableLRU };
    reports.push(
      runModel({
        name: `manager (LRU ${enableLRU ? 'on' : 'off'})`,
        machine: instrumented(newSeen()),
        input: { cache },
        events: () => [
          ...KEYS.flatMap((key): ManagerEvent[] => [
            { type: 'POOL.OPEN', key, config: CONFIG },
            { type: 'SLOT.REQUEST', key },
            { type: 'SLOT.RELEASE', key },
            { type: 'POOL.CLOSED', key },
          ]),
          ...LINKS.flatMap((id): ManagerEvent[] => [
            { type: 'LINK.OPEN', input: linkInput(id) },
            { type: 'CONNECTION.READY', id, epoch: 0 },
            { type: 'CONNECTION.FAILED', id, epoch: 0, attempts: 2, error: 'ECONNREFUSED', permanent: false },
            { type: 'CONNECTION.CLOSED', id, epoch: 0, reason: 'shutdown', opened: true, failedAttempt: false, permanent: false, error: undefined },
          ]),
          { type: 'SHUTDOWN', timeout: SHUTDOWN_TIMEOUT },
          // A patient shutdown (LRU plays no part in shutting down: one run suffices).
          ...(enableLRU ? [] : [{ type: 'SHUTDOWN', timeout: Number.POSITIVE_INFINITY } satisfies ManagerEvent]),
        ],
        filterEvents: (s, e) => {
          const c = s.context as ManagerContext;
          const event = e as ManagerEvent;
          // Nothing reaches a stopped manager; nothing is opened or asked for once it shuts down
          // (pools drain, and ask for nothing then).
          if (s.status !== 'active') return false;
          const running = s.matches('running');
          switch (event.type) {
            case 'POOL.OPEN':
              // The runtime opens a key's pool once (until it closes).
              return running && !isChild(s, poolId(event.key));
            case 'LINK.OPEN':
              // Link ids are unique (the runtime numbers them).
              return running && !isChild(s, event.input.id);
            case 'SHUTDOWN':
              return running;
            case 'SLOT.REQUEST':
              return running && isChild(s, poolId(event.key)) && c.queue.length < 2;
            case 'SLOT.RELEASE':
              return isChild(s, poolId(event.key)) && c.granted > 0;
            case 'POOL.CLOSED':
              return isChild(s, poolId(event.key));
            case 'CONNECTION.READY':
            case 'CONNECTION.FAILED':
            case 'CONNECTION.CLOSED':
              return isChild(s, event.id);
            default:
              return true;
          }
        },
        serialize: (s) => {
          const c = s.context as ManagerContext;
          return JSON.stringify([s.value, c.granted, c.queue, c.contended, Object.keys(s.children).sort()]);
        },
        start: (clock, inspect) => startManager(cache, clock, inspect),
      }),
    );
  }
  for (const r of reports) console.log(formatReport(r));
  const merged = mergeReports('manager', reports);
  console.log(formatReport(merged));
  expect(merged.states.missing).toEqual([]);
  expect(merged.transitions.missing).toEqual([]);
}, 60_000);

test('manager machine runs alone: real pools and links, no parent, no runtime', () => {
  const actor = createActor(managerMachine, {
    input: { cache: { maxConnections: 1, ttl: Number.POSITIVE_INFINITY, enableLRU: false } },
  });
  actor.start();
  actor.send({ type: 'POOL.OPEN', key: 'k', config: CONFIG });
  const pool = actor.getSnapshot().children[poolId('k')] as AnyActorRef | undefined;
  expect(pool).toBeDefined();
  // The ledger's demand reaches the pool; the pool asks the manager for a slot and gets it.
  pool?.send({ type: 'DEMAND', waiting: 1, holdMs: 0, createMs: 0, oldestWaitMs: 0 });
  expect(actor.getSnapshot().context.granted).toBe(1);
  const connection = (pool?.getSnapshot() as AnyMachineSnapshot).children['k#1'] as AnyActorRef | undefined;
  connection?.send({ type: 'CREATED', lent: true });
  expect((pool?.getSnapshot() as AnyMachineSnapshot).context.open).toBe(1);
  actor.send({ type: 'LINK.OPEN', input: linkInput(LINKS[0] ?? '') });
  expect(actor.getSnapshot().context).toMatchObject({ pools: 1, links: 1 });
  // Shutdown: the link, retired while connecting, closes once its create lands and the
  // resource is destroyed; the pool drains, and closes once its lent connection is retired
  // (the runtime's retireAll would send RETIRE), comes back and is destroyed.
  actor.send({ type: 'SHUTDOWN', timeout: SHUTDOWN_TIMEOUT });
  const link = actor.getSnapshot().children[LINKS[0] ?? ''] as AnyActorRef | undefined;
  expect(link?.getSnapshot().value).toEqual({ connecting: 'timed' });
  link?.send({ type: 'CREATED', lent: false });
  link?.send({ type: 'DESTROYED' });
  expect(actor.getSnapshot().context.links).toBe(0);
  connection?.send({ type: 'RETIRE', reason: 'shutdown' });
  connection?.send({ type: 'CHECKIN' });
  connection?.send({ type: 'DESTROYED' });
  const stopped = actor.getSnapshot();
  expect(stopped.value).toBe('stopped');
  expect(stopped.status).toBe('done');
  expect(stopped.context).toMatchObject({ granted: 0, pools: 0, links: 0 });
});

test('manager machine runs alone: a pool opened while keys wait for slots gives a freed slot to them, not to its own callers', () => {
  const actor = createActor(managerMachine, {
    input: { cache: { maxConnections: 1, ttl: Number.POSITIVE_INFINITY, enableLRU: false } },
  });
  actor.start();
  const pool = (key: string) => actor.getSnapshot().children[poolId(key)] as AnyActorRef;
  const context = (key: string) => (pool(key).getSnapshot() as AnyMachineSnapshot).context as PoolContext;
  const connection = (key: string, n: number) => (pool(key).getSnapshot() as AnyMachineSnapshot).children[`${key}#${n}`] as AnyActorRef;
  const demand = (key: string, waiting: number) => pool(key).send({ type: 'DEMAND', waiting, holdMs: 0, createMs: 0, oldestWaitMs: 0 });
  /** A lent connection given back broken: the pool hears it CLOSED (its callers still waiting). */
  const discard = (ref: AnyActorRef) => {
    ref.send({ type: 'CREATED', lent: true });
    ref.send({ type: 'DISCARD', reason: 'discarded' });
    ref.send({ type: 'DESTROYED' });
  };
  // b holds the one slot; a waits for it.
  actor.send({ type: 'POOL.OPEN', key: 'b', config: CONFIG });
  demand('b', 1);
  actor.send({ type: 'POOL.OPEN', key: 'a', config: CONFIG });
  demand('a', 1);
  expect(actor.getSnapshot().context).toMatchObject({ granted: 1, queue: ['a'], contended: true });
  // c opens while a waits: it must know, though the queue's emptiness does not change.
  actor.send({ type: 'POOL.OPEN', key: 'c', config: CONFIG });
  expect(context('c').contended).toBe(true);
  demand('c', 1);
  // b's connection closes: its slot goes to a, and b asks again (the runtime's reportDemand:
  // its caller still waits); then a's goes to c, likewise.
  discard(connection('b', 1));
  demand('b', 1);
  expect(actor.getSnapshot().context.queue).toEqual(['c', 'b']);
  discard(connection('a', 1));
  demand('a', 1);
  expect(actor.getSnapshot().context.queue).toEqual(['b', 'a']);
  // c's connection closes while its caller still waits: the slot goes back to b, first in the
  // queue, instead of being reused for c's caller.
  discard(connection('c', 1));
  expect(connection('c', 1)).toBeUndefined();
  expect(context('b').connecting).toBe(1);
  expect(actor.getSnapshot().context.queue).toEqual(['a']);
  actor.stop();
});
