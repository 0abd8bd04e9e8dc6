import { once } from 'node:events';
import { createWebSocketInspector } from '@statelyai/inspect';
import { createInspectorServer } from '@statelyai/inspect/server';
import { describe, expect, test } from 'vitest';
import WebSocket from 'ws';
import type { AnyActorRef, InspectionEvent } from 'xstate';

const idOf = (e: InspectionEvent): string => (e.actorRef as AnyActorRef).id;
const valueOf = (e: InspectionEvent): unknown => (e as { snapshot?: { value?: unknown } }).snapshot?.value;
import { manager } from './support/managers.js';
import { findClosedPort } from './support/servers.js';
import { tracker, type FakeConnection } from './support/resources.js';

describe('inspection', () => {
  test('an inspect observer sees the manager, its pools and their connections as actors', async () => {
    const events: InspectionEvent[] = [];
    const m = manager({ inspect: (e) => events.push(e) });
    const t = tracker();
    const c = (await m.connectionCache.acquireConnection('api', { maxConnections: 2 }, t.factory)) as FakeConnection;
    m.connectionCache.returnConnection('api', c);
    await m.gracefulShutdown();

    const actors = new Set(events.filter((e) => e.type === '@xstate.actor').map(idOf));
    // The root, the key's pool and the connection: effects are not actors of their own.
    expect([...actors]).toEqual(expect.arrayContaining(['pool:api', 'api#1']));
    expect(actors.size).toBe(3);
    // The connection is shown under its pool, the pool under the manager.
    const parentOf = (id: string) =>
      (events.find((e) => e.type === '@xstate.actor' && idOf(e) === id)?.actorRef as { _parent?: AnyActorRef } | undefined)?._parent;
    expect(parentOf('api#1')?.id).toBe('pool:api');
    expect(parentOf('pool:api')).toBe(m.actor);
    const root = events.find((e) => e.type === '@xstate.actor' && e.actorRef === m.actor);
    expect(root).toBeDefined();
    // The connection's states, in order, as the inspector shows them.
    const states = events
      .filter((e) => e.type === '@xstate.snapshot' && idOf(e) === 'api#1')
      .map((e) => JSON.stringify(valueOf(e)));
    // An actor begins spare; the pool starts it (START) with the connection's input.
    expect(states.slice(0, 2)).toEqual(['"spare"', '{"connecting":"timed"}']);
    expect(states).toContain('{"open":"idle"}');
    expect(states).toContain('{"open":"inUse"}');
    expect(states.at(-1)).toBe('"closed"');
    // The pool's snapshots carry plain data only (counts, config): nothing the inspector cannot serialise.
    const poolSnapshot = events.findLast((e) => e.type === '@xstate.snapshot' && idOf(e) === 'pool:api');
    const context = (poolSnapshot as { snapshot?: { context?: unknown } } | undefined)?.snapshot?.context;
    expect(context).toMatchObject({ key: 'api', open: 0, connecting: 0 });
    // Plain data: every key survives JSON (Infinity, an unset ttl, reads as null there).
    const plain = (v: unknown): boolean =>
      v === null || ['number', 'string', 'boolean'].includes(typeof v) || (typeof v === 'object' && Object.values(v).every(plain));
    expect(plain(context)).toBe(true);
    expect(Object.keys(JSON.parse(JSON.stringify(context)) as object)).toEqual(Object.keys(context as object));
  });

  test('through a local relay (createInspectorServer), as the Stately inspector receives it', async () => {
    const port = await findClosedPort();
    const relay = createInspectorServer({ port, autoOpen: false });
    // The browser side of the relay, played by a plain WebSocket client.
    const viewer = new WebSocket(`ws://127.0.0.1:${port}`);
    const received: { type: string; sessionId?: string; id?: string }[] = [];
    viewer.on('message', (data) => received.push(JSON.parse(String(data)) as { type: string }));
    await once(viewer, 'open');
    const inspector = createWebSocketInspector({ url: `ws://127.0.0.1:${port}` });
    try {
      const m = manager({ inspect: inspector.inspect });
      const t = tracker();
      const c = (await m.connectionCache.acquireConnection('relayed', {}, t.factory)) as FakeConnection;
      m.connectionCache.returnConnection('relayed', c);
      await m.gracefulShutdown();
      await expect.poll(() => received.some((e) => e.type === '@xstate.actor' && JSON.stringify(e).includes('relayed#1'))).toBe(true);
      expect(received.some((e) => e.type === '@xstate.snapshot')).toBe(true);
    } finally {
      inspector.stop();
      viewer.close();
      await once(viewer, 'close');
      relay.stop();
    }
  });
});
