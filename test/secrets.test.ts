/**
 * No secret leaks (issue 8): over mutual TLS with a passphrase-protected client key, nothing
 * the library hands out (connections, outcomes, errors and their causes, events, inspection
 * events, the manager itself) may show the key's PEM body or the passphrase, however it is
 * serialised: util.inspect (depth Infinity, hidden properties too), JSON.stringify, String(),
 * stacks. What helps debugging stays: host, port, cacheKey, servername, TLS on, CA fingerprints.
 */
import { X509Certificate } from 'node:crypto';
import { inspect } from 'node:util';
import { describe, expect, test } from 'vitest';
import type { InspectionEvent } from 'xstate';
import {
  Connection,
  ConnectionError,
  RetryStrategy,
  type ManagerEvents,
  type ServerInfo,
  type ServerLocation,
} from '../src/index.js';
import { manager } from './support/managers.js';
import {
  CLIENT_KEY_PASSPHRASE,
  findClosedPort,
  startTlsEchoServer,
  tlsFixtures,
  trackServers,
} from './support/servers.js';

const track = trackServers();

/** The strings that must never appear: the passphrase and every line of the key's PEM body. */
const secrets = [
  CLIENT_KEY_PASSPHRASE,
  ...tlsFixtures.clientKeyEncrypted
    .split('\n')
    .filter((line) => line.length > 0 && !line.startsWith('-----')),
  // The PKCS#12 file's bytes as base64 (what a Buffer's JSON or hex dump would carry in part).
  tlsFixtures.clientPfx.toString('base64').slice(0, 40),
  tlsFixtures.clientPfx.toString('hex').slice(0, 40),
];

/** Every way a user could look at `value`, as text. */
function renderings(value: unknown): string[] {
  const out = [
    inspect(value, { depth: Infinity }),
    inspect(value, { depth: Infinity, showHidden: true }),
    inspect(value, { depth: Infinity, customInspect: false }),
    String(value),
  ];
  try {
    out.push(JSON.stringify(value) ?? '');
  } catch {
    // Circular (an xstate actor reference): util.inspect above covers it.
  }
  // Errors: the stack and every cause, each rendered as well.
  for (let e: unknown = value, depth = 0; e instanceof Error && depth < 8; depth++) {
    out.push(e.stack ?? '', e.message);
    e = e.cause;
    if (e !== undefined) out.push(inspect(e, { depth: Infinity }), String(e));
  }
  return out;
}

function expectNoSecrets(label: string, value: unknown): void {
  for (const text of renderings(value)) {
    for (const secret of secrets) {
      if (text.includes(secret)) {
        throw new Error(`${label} shows a secret (${secret.slice(0, 12)}...):\n${text.slice(Math.max(0, text.indexOf(secret) - 400), text.indexOf(secret) + 80)}`);
      }
    }
  }
}

/**
 * Everything util.inspect could ever print of `root`, whatever its options: every object
 * reachable through own properties (enumerable or not, symbol keys included), Map and Set
 * entries and array elements, visited once each, every string and byte array checked. (A
 * depth-Infinity inspect of a manager is over 100 MB of text: XState's machine definitions are
 * a graph that util.inspect prints once per path.) Getters are not called, as util.inspect
 * does not call them; true private fields are out of reach, as for util.inspect.
 */
function expectNothingReachable(label: string, root: unknown): void {
  const seen = new Set<unknown>();
  const queue: Array<{ value: unknown; path: string }> = [{ value: root, path: label }];
  const check = (text: string, path: string) => {
    for (const secret of secrets) if (text.includes(secret)) throw new Error(`${path} holds a secret (${secret.slice(0, 12)}...)`);
  };
  while (queue.length > 0) {
    const { value, path } = queue.pop()!;
    if (typeof value === 'string') {
      check(value, path);
      continue;
    }
    if ((typeof value !== 'object' && typeof value !== 'function') || value === null || seen.has(value)) continue;
    seen.add(value);
    if (ArrayBuffer.isView(value)) {
      check(Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('latin1'), path);
      continue;
    }
    if (value instanceof Map) for (const [k, v] of value) queue.push({ value: k, path: `${path}<key>` }, { value: v, path: `${path}<${String(k)}>` });
    if (value instanceof Set) for (const v of value) queue.push({ value: v, path: `${path}<entry>` });
    for (const key of Reflect.ownKeys(value)) {
      const descriptor = Reflect.getOwnPropertyDescriptor(value, key);
      if (descriptor !== undefined && 'value' in descriptor) queue.push({ value: descriptor.value, path: `${path}.${String(key)}` });
    }
  }
  expect(seen.size).toBeGreaterThan(0);
}

const fingerprint = (pem: string) => new X509Certificate(pem).fingerprint256;

describe('secrets never leak', () => {
  test('mutual TLS with a passphrase: connections, outcomes, errors, events, inspection and the manager show no key material', async () => {
    const mtls = await track(startTlsEchoServer({ requireClientCertificate: true }));
    const other = await track(startTlsEchoServer({ requireClientCertificate: true }));
    const selfSigned = await track(startTlsEchoServer({ certificate: 'self-signed', requireClientCertificate: true }));
    const closedPort = await findClosedPort();
    const clientTls = {
      ca: tlsFixtures.ca,
      cert: tlsFixtures.clientCert,
      key: tlsFixtures.clientKeyEncrypted,
      passphrase: CLIENT_KEY_PASSPHRASE,
    };
    const location = (port: number, cacheKey: string, host = 'localhost'): ServerLocation => ({ host, port, cacheKey, tls: { ...clientTls } });

    const inspection: InspectionEvent[] = [];
    const events: Array<[string, unknown]> = [];
    const m = manager({ inspect: (e) => inspection.push(e) });
    m.events.on('*', (type, payload) => events.push([String(type), payload]));
    const retry = { retryStrategy: RetryStrategy.fixed(10), maxReconnectionAttempts: 2 };

    // connect(): one good server over mutual TLS.
    const [conn] = await m.connect([location(mtls.port, 'mtls')], retry);
    expect(conn).toBeInstanceOf(Connection);
    await conn!.write('ping');
    for await (const chunk of conn!) {
      expect(chunk.toString()).toBe('ping');
      break;
    }
    // What helps debugging is still there.
    const info: ServerInfo = conn!.server;
    expect(info).toMatchObject({ host: 'localhost', port: mtls.port, cacheKey: 'mtls', tls: true, servername: 'localhost' });
    expect(info.caFingerprints).toEqual([fingerprint(tlsFixtures.ca)]);
    expect(info.clientCertificate).toBe(true);
    expect(inspect(conn)).toContain(`port: ${mtls.port}`);
    expect(JSON.parse(JSON.stringify(conn))).toMatchObject({ id: conn!.id, cacheKey: 'mtls', state: 'connected', encrypted: true });

    // connect() with a failing server: a ConnectionError with outcomes.
    const refused = await m.connect([location(other.port, 'other'), location(closedPort, 'refused', '127.0.0.1')], retry).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ConnectionError);
    const failedOutcome = (refused as ConnectionError).outcomes[1];
    expect(failedOutcome?.status).toBe('failed');
    expect(failedOutcome?.server).toMatchObject({ host: '127.0.0.1', port: closedPort, cacheKey: 'refused', tls: true });

    // connectParallel(): good, refused, and a server whose certificate fails verification.
    const outcomes = await m.connectParallel(
      [location(closedPort, 'refused-2', '127.0.0.1'), location(selfSigned.port, 'self-signed'), location(mtls.port, 'mtls-2')],
      retry,
    );
    expect(outcomes.map((o) => o.status)).toEqual(['failed', 'failed', 'connected']);

    // A pooled connection to the registered server, and everything the cache holds.
    const pooled = await m.connectionCache.acquireConnection('mtls', { maxConnections: 2 });
    expect(pooled).toBeInstanceOf(Connection);
    const all = m.connectionCache.fetchAllConnections();
    expect(all.length).toBeGreaterThanOrEqual(3);

    // A drop and a reconnect, so disconnect and error events carry socket errors too.
    const reconnected = new Promise<void>((resolve) => m.events.on('connection:connected', (e) => e.reconnected && resolve()));
    await mtls.stop();
    await mtls.restart();
    await reconnected;

    const looked: Array<[string, unknown]> = [
      ['connection', conn],
      ['pooled connection', pooled],
      ['fetchAllConnections()', all],
      ['ConnectionError', refused],
      ['connect outcomes', (refused as ConnectionError).outcomes],
      ['connectParallel outcomes', outcomes],
      ...outcomes.flatMap((o, i): Array<[string, unknown]> => (o.status === 'failed' ? [[`outcome ${i} error`, o.error]] : [])),
      ...events.map(([type, payload], i): [string, unknown] => [`event ${i} ${type}`, payload]),
    ];
    for (const [label, value] of looked) expectNoSecrets(label, value);
    // The manager (its pools, links, registered servers, actors and their snapshots) and every
    // inspection event an inspector receives, through everything reachable from them.
    expectNothingReachable('manager', m);
    expectNothingReachable('inspection events', inspection);
    expectNothingReachable('events', events);
    expect(inspect(m, { depth: 6 })).toContain('mtls');

    // The scenario did produce what we looked at.
    const types = new Set(events.map(([type]) => type));
    for (const t of ['connection:error', 'connection:failed', 'connection:disconnected', 'connection:connected'] satisfies Array<keyof ManagerEvents>) {
      expect(types).toContain(t);
    }
    const codes = events.flatMap(([type, p]) => (type === 'connection:error' ? [(p as ManagerEvents['connection:error']).code] : []));
    expect(codes).toContain('ECONNREFUSED');
    expect(codes).toContain('DEPTH_ZERO_SELF_SIGNED_CERT');
    m.connectionCache.returnConnection('mtls', pooled!);
  });
});
