/**
 * The inspector relay (issue 8, exposure): loopback by default on a free port, a typed error
 * for a busy port, only the library's producer relayed (never what a viewer sends), late
 * viewers get the live actors, and close() leaves nothing behind.
 */
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, test } from 'vitest';
import WebSocket from 'ws';
import {
  ConfigurationError,
  InspectorRelayError,
  startInspectorRelay,
  type InspectorRelay,
  type InspectorRelayOptions,
} from '../src/index.js';
import { serialize } from '../src/inspector/producer.js';
import { ActorReplay } from '../src/inspector/replay.js';
import { manager } from './support/managers.js';
import { runFixture } from './support/processes.js';
import { activeResources, HOST } from './support/servers.js';

const relays: InspectorRelay[] = [];
const sockets: WebSocket[] = [];
afterEach(async () => {
  for (const ws of sockets.splice(0)) ws.terminate();
  await Promise.all(relays.splice(0).map((r) => r.close()));
});

async function relay(options?: InspectorRelayOptions): Promise<InspectorRelay> {
  const r = await startInspectorRelay(options);
  relays.push(r);
  return r;
}

interface Viewer {
  ws: WebSocket;
  messages: Array<{ type: string; sessionId?: string; name?: string; forged?: boolean }>;
  /** Resolves with the first message (already received or not) that matches. */
  waitFor(match: (m: Viewer['messages'][number]) => boolean): Promise<void>;
}

async function viewer(port: number, headers: Record<string, string> = {}): Promise<Viewer> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/viewer`, { headers });
  sockets.push(ws);
  const messages: Viewer['messages'] = [];
  const waiting: Array<{ match: (m: Viewer['messages'][number]) => boolean; resolve(): void }> = [];
  ws.on('message', (data) => {
    const message = JSON.parse(String(data)) as Viewer['messages'][number];
    messages.push(message);
    for (const w of waiting.filter((w) => w.match(message))) {
      waiting.splice(waiting.indexOf(w), 1);
      w.resolve();
    }
  });
  await once(ws, 'open');
  return {
    ws,
    messages,
    waitFor: (match) =>
      messages.some(match) ? Promise.resolve() : new Promise<void>((resolve) => waiting.push({ match, resolve })),
  };
}

/** Resolves once the relay has processed everything `ws` sent before (a ping's pong comes after). */
async function flushed(ws: WebSocket): Promise<void> {
  const pong = once(ws, 'pong');
  ws.ping();
  await pong;
}

function get(port: number, path: string, host = `127.0.0.1:${port}`): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: HOST, port, path, headers: { host } }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
  });
}

/** The status of a refused WebSocket upgrade. */
function refusedUpgrade(url: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    ws.on('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      ws.terminate();
    });
    ws.on('open', () => reject(new Error('the upgrade was accepted')));
    ws.on('error', () => {});
  });
}

describe('startInspectorRelay', () => {
  test('listens on 127.0.0.1, on a free port, and serves the viewer page', async () => {
    const r = await relay();
    expect(r.address().address).toBe('127.0.0.1');
    expect(r.port).toBeGreaterThan(0);
    expect(r.address().port).toBe(r.port);
    expect(r.url).toBe(`http://127.0.0.1:${r.port}/`);
    const page = await get(r.port, '/');
    expect(page.status).toBe(200);
    expect(page.body).toContain('<iframe id="inspector" src="https://stately.ai/inspect">');
    expect(page.body).toContain("'/viewer'");
    expect(page.headers['content-security-policy']).toContain('frame-src https://stately.ai');
    expect((await get(r.port, '/elsewhere')).status).toBe(404);
    // A name that is not loopback (a DNS-rebinding page) gets nothing.
    expect((await get(r.port, '/', `evil.example:${r.port}`)).status).toBe(403);
    expect((await get(r.port, '/', `localhost:${r.port}`)).status).toBe(200);
  });

  test('a busy port is an InspectorRelayError naming host and port, not an unhandled EADDRINUSE', async () => {
    const busy = net.createServer();
    busy.listen(0, HOST);
    await once(busy, 'listening');
    const { port } = busy.address() as net.AddressInfo;
    try {
      const error = await startInspectorRelay({ port }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(InspectorRelayError);
      const relayError = error as InspectorRelayError;
      expect(relayError.host).toBe('127.0.0.1');
      expect(relayError.port).toBe(port);
      expect(relayError.code).toBe('ERR_INSPECTOR_RELAY');
      expect((relayError.cause as { code?: string }).code).toBe('EADDRINUSE');
      expect(relayError.message).toContain(`127.0.0.1:${port}`);
      expect(relayError.message).toContain('in use');
    } finally {
      await new Promise<void>((resolve) => busy.close(() => resolve()));
    }
  });

  test('bad options are ConfigurationErrors naming the option', async () => {
    const field = async (options: unknown) => ((await startInspectorRelay(options as InspectorRelayOptions).catch((e: unknown) => e)) as ConfigurationError).field;
    expect(await field({ port: 70_000 })).toBe('options.port');
    expect(await field({ host: '' })).toBe('options.host');
    expect(await field({ inspectorUrl: 'javascript:alert(1)' })).toBe('options.inspectorUrl');
    expect(await field({ maxReplayActors: -1 })).toBe('options.maxReplayActors');
  });

  test("relays the library's actors to viewers; a viewer that opens later gets the live ones", async () => {
    const r = await relay();
    const early = await viewer(r.port);
    const m = manager({ inspect: r.inspector.inspect });
    const c = await m.connectionCache.acquireConnection('relayed', {}, async () => ({}));
    m.connectionCache.returnConnection('relayed', c as object);
    await early.waitFor((e) => e.type === '@xstate.actor' && e.name === 'relayed#1');
    expect(early.messages.some((e) => e.type === '@xstate.snapshot')).toBe(true);
    expect(early.messages.some((e) => e.type === '@xstate.event')).toBe(true);

    const late = await viewer(r.port);
    // The replay arrives first: the manager, its pool and the connection, each registered
    // before its latest snapshot; no events (history, not state).
    await late.waitFor((e) => e.type === '@xstate.actor' && e.name === 'relayed#1');
    const names = late.messages.filter((e) => e.type === '@xstate.actor').map((e) => e.name);
    expect(names).toEqual(expect.arrayContaining(['manager', 'pool:relayed', 'relayed#1']));
    expect(late.messages.some((e) => e.type === '@xstate.event')).toBe(false);
    const firstSnapshotOfManager = late.messages.findIndex((e) => e.type === '@xstate.snapshot' && e.sessionId === m.actor.sessionId);
    const registrationOfManager = late.messages.findIndex((e) => e.type === '@xstate.actor' && e.sessionId === m.actor.sessionId);
    expect(registrationOfManager).toBeGreaterThanOrEqual(0);
    expect(firstSnapshotOfManager).toBeGreaterThan(registrationOfManager);
  });

  test('what a viewer sends is never relayed to another viewer, nor replayed', async () => {
    const r = await relay();
    const forger = await viewer(r.port);
    const other = await viewer(r.port);
    const forged = JSON.stringify({ type: '@xstate.actor', sessionId: 'x:forged', name: 'forged', forged: true, snapshot: { status: 'active' } });
    forger.ws.send(forged);
    forger.ws.send(JSON.stringify({ type: '@xstate.snapshot', sessionId: 'x:forged', forged: true, snapshot: { status: 'active', value: 'pwned' } }));
    await flushed(forger.ws);
    // The producer's next message reaches the other viewer after anything the forger sent.
    r.inspector.actor('marker');
    await other.waitFor((e) => e.sessionId === 'marker');
    expect(other.messages.filter((e) => e.forged)).toEqual([]);
    expect(forger.messages.filter((e) => e.forged)).toEqual([]);
    const late = await viewer(r.port);
    await late.waitFor((e) => e.sessionId === 'marker');
    expect(late.messages.filter((e) => e.forged)).toEqual([]);
  });

  test('producers need the token; a page from another origin cannot watch', async () => {
    const r = await relay();
    expect(r.producerUrl).toMatch(new RegExp(`^ws://127\\.0\\.0\\.1:${r.port}/producer/[A-Za-z0-9_-]{32}$`));
    expect(await refusedUpgrade(`ws://127.0.0.1:${r.port}/producer/not-the-token`)).toBe(404);
    expect(await refusedUpgrade(`ws://127.0.0.1:${r.port}/`)).toBe(404);
    expect(await refusedUpgrade(`ws://127.0.0.1:${r.port}/viewer`, { Origin: 'https://evil.example' })).toBe(403);
    // The relay's own page may.
    const own = await viewer(r.port, { Origin: `http://127.0.0.1:${r.port}` });
    expect(own.ws.readyState).toBe(WebSocket.OPEN);
  });

  test('close() closes viewers, the producer and the server; no socket is left', async () => {
    // libuv releases closed handles (earlier tests') in the loop's close phase: two turns.
    const settle = () => new Promise<void>((resolve) => setImmediate(() => setImmediate(resolve)));
    await settle();
    const before = activeResources();
    const r = await startInspectorRelay();
    const v = await viewer(r.port);
    const viewerClosed = once(v.ws, 'close');
    await r.close();
    const [code] = (await viewerClosed) as [number];
    expect(code).toBe(1001);
    await r.close(); // idempotent
    await settle();
    const after = activeResources();
    for (const kind of ['TCPServerWrap', 'TCPSocketWrap']) expect(after.get(kind) ?? 0, kind).toBe(before.get(kind) ?? 0);
  });

  test.each([
    ['used', 'relayed, closed'],
    ['immediate', 'closed at once'],
  ])('a process whose relay was closed exits by itself (%s)', async (mode, output) => {
    const fixture = fileURLToPath(new URL('./fixtures/relay-exit.ts', import.meta.url));
    const result = await runFixture(fixture, [mode]);
    expect(result.out).toContain(output);
    expect(result.code).toBe(0);
  });
});

describe('the replay a late viewer gets', () => {
  const actor = (sessionId: string, name: string, parentId?: string, status = 'active') =>
    JSON.stringify({ type: '@xstate.actor', sessionId, name, parentId, snapshot: { status } });
  const snapshot = (sessionId: string, children: string[] | undefined, status = 'active') =>
    JSON.stringify({ type: '@xstate.snapshot', sessionId, snapshot: { status, children: children && Object.fromEntries(children.map((c) => [c, { id: c }])) } });
  const sessions = (replay: ActorReplay) => replay.messages().map((m) => `${(JSON.parse(m) as { type: string }).type.slice(8)} ${(JSON.parse(m) as { sessionId: string }).sessionId}`);

  test('registrations in order, each followed by its latest snapshot; events are not kept', () => {
    const replay = new ActorReplay();
    replay.record(actor('x:0', 'manager'));
    replay.record(snapshot('x:0', []));
    replay.record(actor('x:1', 'pool:k', 'x:0'));
    replay.record(JSON.stringify({ type: '@xstate.event', sessionId: 'x:1', event: { type: 'DEMAND' } }));
    replay.record(snapshot('x:0', ['pool:k']));
    expect(sessions(replay)).toEqual(['actor x:0', 'snapshot x:0', 'actor x:1']);
    expect(JSON.parse(replay.messages()[1]!)).toMatchObject({ snapshot: { children: { 'pool:k': {} } } });
  });

  test("a stopped actor leaves with its descendants; a child missing from its parent's children record stays", () => {
    const replay = new ActorReplay();
    replay.record(actor('x:0', 'manager'));
    replay.record(actor('x:1', 'pool:k', 'x:0'));
    replay.record(actor('x:2', 'k#1', 'x:1'));
    replay.record(actor('x:3', 'create', 'x:2'));
    // The runtime keeps connections out of their pool's children record: not a sign they stopped.
    replay.record(snapshot('x:1', []));
    expect(replay.size).toBe(4);
    replay.record(snapshot('x:3', [], 'stopped'));
    expect(replay.size).toBe(3);
    replay.record(snapshot('x:1', [], 'stopped'));
    expect(sessions(replay)).toEqual(['actor x:0']);
    // Already finished when registered (registrations are sent late): not kept.
    replay.record(actor('x:9', 'destroy', 'x:0', 'done'));
    expect(replay.size).toBe(1);
    // Garbage and unknown sessions change nothing.
    replay.record('not json');
    replay.record(snapshot('x:404', []));
    expect(replay.size).toBe(1);
  });

  test('bounded: beyond maxActors the oldest childless actors go first', () => {
    const replay = new ActorReplay(3);
    replay.record(actor('x:0', 'manager'));
    for (let i = 1; i <= 5; i++) replay.record(actor(`x:${i}`, `c${i}`, 'x:0'));
    expect(sessions(replay)).toEqual(['actor x:0', 'actor x:4', 'actor x:5']);
  });
});

describe("the producer's serialisation", () => {
  test('JSON with toJSON honoured; cycles and excessive depth cut instead of throwing', () => {
    const cyclic: Record<string, unknown> = { name: 'a', big: 10n, when: { toJSON: () => 'later' } };
    cyclic.self = cyclic;
    cyclic.shared = { x: 1 };
    cyclic.again = cyclic.shared; // shared, not circular: serialised twice
    let deep: Record<string, unknown> = {};
    const root = deep;
    for (let i = 0; i < 20; i++) deep = (deep.next = {}) as Record<string, unknown>;
    expect(JSON.parse(serialize(cyclic))).toEqual({ name: 'a', big: '10', when: 'later', self: '[Circular]', shared: { x: 1 }, again: { x: 1 } });
    expect(serialize(root)).toContain('"[Object]"');
    expect(serialize(undefined)).toBe('null');
  });
});
