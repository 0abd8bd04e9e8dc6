/**
 * manager.events beyond mitt: `once()` as a promise, errors typed as Error (anything else thrown
 * arrives wrapped, with the value as `cause`), and the same events on node:diagnostics_channel,
 * published only while a channel has subscribers.
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import { describe, expect, test } from 'vitest';
import { channelName, type ManagerEvents } from '../src/index.js';
import { EventHub, toError } from '../src/events.js';
import { manager } from './support/managers.js';
import { rejection } from './support/rejection.js';

const resource = async () => ({ close() {} });

describe('events.once', () => {
  test('resolves with the next event of its type and stops listening', async () => {
    const m = manager();
    const created = m.events.once('pool:created');
    const released = m.events.once('pool:released');
    const conn = await m.connectionCache.acquireConnection('k', { maxConnections: 1 }, resource);
    expect((await created).key).toBe('k');
    m.connectionCache.returnConnection('k', conn!);
    const event = await released;
    expect(event).toMatchObject({ key: 'k', connectionId: expect.any(String) });
    expect(m.events.all.get('pool:created') ?? []).toHaveLength(0);
    expect(m.events.all.get('pool:released') ?? []).toHaveLength(0);
  });

  test('a filter skips events until one passes; a filter that throws rejects the wait', async () => {
    const m = manager();
    const second = m.events.once('pool:created', { filter: (e) => e.key === 'b' });
    const failing = m.events.once('pool:created', {
      filter: () => {
        throw new Error('bad filter');
      },
    });
    await m.connectionCache.acquireConnection('a', {}, resource);
    await m.connectionCache.acquireConnection('b', {}, resource);
    expect((await second).key).toBe('b');
    await expect(failing).rejects.toThrow('bad filter');
    expect(m.events.all.get('pool:created') ?? []).toHaveLength(0);
  });

  test('an AbortSignal rejects the wait with an AbortError carrying the reason, and removes the listener', async () => {
    const m = manager();
    const before = AbortSignal.abort('too late');
    const early = await rejection(m.events.once('pool:closed', { signal: before }));
    expect(early).toMatchObject({ name: 'AbortError', cause: 'too late' });

    const controller = new AbortController();
    const waiting = m.events.once('pool:closed', { signal: controller.signal });
    expect(m.events.all.get('pool:closed')).toHaveLength(1);
    controller.abort('gave up');
    expect(await rejection(waiting)).toMatchObject({ name: 'AbortError', cause: 'gave up' });
    expect(m.events.all.get('pool:closed')).toHaveLength(0);
  });
});

describe('errors in events are Errors', () => {
  test('a factory that throws a string: the events carry one Error whose cause is the string', async () => {
    const m = manager();
    const errors: ManagerEvents['connection:error'][] = [];
    m.events.on('connection:error', (e) => errors.push(e));
    const failed = m.events.once('connection:failed');
    const rejected = m.events.once('pool:rejected');
    const acquire = m.connectionCache.acquireConnection('k', { maxConnections: 1 }, () => {
      throw 'no route to the database';
    });
    await rejection(acquire);
    const f = await failed;
    expect(f.error).toBeInstanceOf(Error);
    expect(f.error.message).toBe('no route to the database');
    expect(f.error.cause).toBe('no route to the database');
    expect(errors).toHaveLength(1);
    expect(errors[0]!.error).toBe(f.error);
    expect((await rejected).error).toBeInstanceOf(Error);
  });

  test('a metrics callback that throws a non-Error reaches listener:error as an Error', async () => {
    const throw42 = (): void => {
      throw 42;
    };
    const m = manager({ cache: { metrics: { onMiss: throw42 } } });
    const reported = m.events.once('listener:error');
    await m.connectionCache.acquireConnection('k', {}, resource);
    const e = await reported;
    expect(e.event).toBe('cache.metrics');
    expect(e.error).toBeInstanceOf(Error);
    expect(e.error.cause).toBe(42);
  });

  test('toError keeps Errors as they are and wraps anything else', () => {
    const original = new TypeError('x');
    expect(toError(original)).toBe(original);
    expect(toError('text')).toMatchObject({ message: 'text', cause: 'text' });
    const wrapped = toError({ secret: 'hunter2' });
    expect(wrapped.message).not.toContain('hunter2');
    expect(wrapped.cause).toEqual({ secret: 'hunter2' });
    expect(toError(undefined)).toBeInstanceOf(Error);
  });
});

describe('diagnostics channels', () => {
  test('each event is published on connection-manager-kit:<event>, to subscribers only', async () => {
    const m = manager();
    const acquired: unknown[] = [];
    const released: unknown[] = [];
    const onAcquired = (message: unknown) => acquired.push(message);
    const onReleased = (message: unknown) => released.push(message);
    diagnosticsChannel.subscribe(channelName('pool:acquired'), onAcquired);
    diagnosticsChannel.subscribe('connection-manager-kit:pool:released', onReleased);
    try {
      // Nothing listens on manager.events: the channels alone make the hot path build these.
      const conn = await m.connectionCache.acquireConnection('k', { maxConnections: 1 }, resource);
      m.connectionCache.returnConnection('k', conn!);
      expect(acquired).toEqual([{ key: 'k', connectionId: expect.any(String), fromIdle: false, waitedMs: expect.any(Number) }]);
      expect(released).toEqual([{ key: 'k', connectionId: (acquired[0] as { connectionId: string }).connectionId }]);
    } finally {
      diagnosticsChannel.unsubscribe(channelName('pool:acquired'), onAcquired);
      diagnosticsChannel.unsubscribe('connection-manager-kit:pool:released', onReleased);
    }
    const conn = await m.connectionCache.acquireConnection('k', { maxConnections: 1 }, resource);
    m.connectionCache.returnConnection('k', conn!);
    expect(acquired).toHaveLength(1);
  });

  test('listening() counts channel subscribers, and stops counting them once they leave', () => {
    const hub = new EventHub();
    expect(hub.listening('pool:released')).toBe(false);
    const subscriber = () => {};
    diagnosticsChannel.subscribe('connection-manager-kit:pool:released', subscriber);
    expect(hub.listening('pool:released')).toBe(true);
    expect(hub.listening('pool:acquired')).toBe(false);
    diagnosticsChannel.unsubscribe('connection-manager-kit:pool:released', subscriber);
    expect(hub.listening('pool:released')).toBe(false);
  });

  test('connection lifecycle events arrive on their channels with the manager.events payload', async () => {
    const m = manager();
    const seen: string[] = [];
    const subscribers = (['connection:connecting', 'connection:connected', 'connection:closed'] as const).map((event) => {
      const fn = (message: unknown) => seen.push(`${event} ${(message as { key: string }).key}`);
      diagnosticsChannel.subscribe(channelName(event), fn);
      return () => diagnosticsChannel.unsubscribe(channelName(event), fn);
    });
    try {
      await m.connectionCache.acquireConnection('k', {}, resource);
      await m.gracefulShutdown({ timeout: 0 });
      expect(seen).toEqual(['connection:connecting k', 'connection:connected k', 'connection:closed k']);
    } finally {
      for (const unsubscribe of subscribers) unsubscribe();
    }
  });
});
