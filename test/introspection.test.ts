import { describe, expect, test } from 'vitest';
import type { InspectionEvent } from 'xstate';
import { actorTree, inspectManager } from '../src/introspection.js';
import { manager } from './support/managers.js';
import { tracker, type FakeConnection } from './support/resources.js';

describe('introspection: the live actor tree, wherever the runtime keeps its actors', () => {
  test('lists the manager, each pool with its connections, and nothing stopped', async () => {
    const m = manager();
    const t = tracker();
    const a = (await m.connectionCache.acquireConnection('a', { maxConnections: 3 }, t.factory)) as FakeConnection;
    const b = (await m.connectionCache.acquireConnection('a', { maxConnections: 3 }, t.factory)) as FakeConnection;
    await m.connectionCache.acquireConnection('b', {}, t.factory);
    const tree = actorTree(m);
    expect(tree[0]).toMatchObject({ kind: 'manager', parentId: undefined });
    const pools = tree.filter((n) => n.kind === 'pool');
    expect(pools.map((n) => n.key).sort()).toEqual(['a', 'b']);
    const connections = tree.filter((n) => n.kind === 'connection');
    expect(connections).toHaveLength(3);
    const poolA = pools.find((n) => n.key === 'a');
    expect(connections.filter((n) => n.parentId === poolA?.ref.id)).toHaveLength(2);
    for (const node of tree) expect(node.ref.getSnapshot().status).toBe('active');

    m.connectionCache.destroyConnection('a', a);
    await expect.poll(() => actorTree(m).filter((n) => n.kind === 'connection').length).toBe(2);
    m.connectionCache.returnConnection('a', b);
  });

  test('inspectManager subscribes after construction and unsubscribes', async () => {
    const m = manager();
    const seen: InspectionEvent[] = [];
    const stop = inspectManager(m, (e) => seen.push(e));
    const t = tracker();
    const c = (await m.connectionCache.acquireConnection('x', {}, t.factory)) as FakeConnection;
    expect(seen.some((e) => e.type === '@xstate.snapshot')).toBe(true);
    stop();
    const before = seen.length;
    m.connectionCache.returnConnection('x', c);
    await m.gracefulShutdown();
    expect(seen.length).toBe(before);
  });
});
