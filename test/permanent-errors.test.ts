/**
 * Errors that retrying cannot heal (issue 7): a certificate that fails verification ends the
 * connect after one attempt; invalid local TLS material is a ConfigurationError naming the
 * field, before any socket opens, and never quoting the secret.
 */
import { X509Certificate } from 'node:crypto';
import tls from 'node:tls';
import { afterEach, describe, expect, test, vi } from 'vitest';
import {
  ConfigurationError,
  ConnectionError,
  RetryStrategy,
  isPermanentError,
  type ManagerEvents,
  type ServerLocation,
  type TlsConnectOptions,
} from '../src/index.js';
import { errorCodeOf } from '../src/transport/errors.js';
import { validateServers } from '../src/transport/server.js';
import { manager } from './support/managers.js';
import {
  CLIENT_KEY_PASSPHRASE,
  startTlsEchoServer,
  tlsFixtures,
  trackServers,
  type TestServer,
  type TlsServerOptions,
} from './support/servers.js';

const track = trackServers();
afterEach(() => {
  vi.restoreAllMocks();
});
const serve = (options: TlsServerOptions = {}): Promise<TestServer> => track(startTlsEchoServer(options));

/** The network events of one manager, as `type code` lines. */
function record(m: ReturnType<typeof manager>): string[] {
  const log: string[] = [];
  m.events.on('*', (type, e) => {
    if (!String(type).startsWith('connection:')) return;
    const code = type === 'connection:error' ? ` ${(e as ManagerEvents['connection:error']).code}` : '';
    log.push(`${String(type).slice('connection:'.length)}${code}`);
  });
  return log;
}

const failureOf = (error: unknown) => {
  expect(error).toBeInstanceOf(ConnectionError);
  const outcome = (error as ConnectionError).outcomes[0];
  if (outcome?.status !== 'failed') throw new Error('expected a failed outcome');
  return outcome.error as { code?: string };
};

describe('a certificate that fails verification is not retried', () => {
  const cases: Array<[string, TlsServerOptions, TlsConnectOptions | undefined, string[]]> = [
    ['a self-signed server', { certificate: 'self-signed' }, undefined, ['DEPTH_ZERO_SELF_SIGNED_CERT']],
    ['a server whose CA the client does not trust', {}, undefined, ['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY']],
    ['a server that sends its untrusted CA', { sendChain: true }, undefined, ['SELF_SIGNED_CERT_IN_CHAIN']],
    ['a certificate for another name', { certificate: 'wrong-host' }, { ca: tlsFixtures.ca }, ['ERR_TLS_CERT_ALTNAME_INVALID']],
    ['an expired certificate', { certificate: 'expired' }, { ca: tlsFixtures.expiredCert }, ['CERT_HAS_EXPIRED']],
  ];
  test.each(cases)('%s: one attempt with the default strategy (6 attempts, exponential from 1 s)', async (_name, serverOptions, clientTls, codes) => {
    const server = await serve(serverOptions);
    const m = manager();
    const log = record(m);
    const started = performance.now();
    const error = await m.connect([{ host: 'localhost', port: server.port, cacheKey: 'secure', enableTLS: true, tls: clientTls }]).catch((e: unknown) => e);
    const elapsedMs = performance.now() - started;
    const code = failureOf(error).code;
    expect(codes).toContain(code);
    expect(isPermanentError(failureOf(error))).toBe(true);
    expect(log).toEqual(['connecting', `error ${code}`, 'failed', 'closed']);
    expect(server.accepted).toBe(1);
    console.log(`${_name}: rejected after 1 attempt in ${elapsedMs.toFixed(1)} ms (${code})`);
  });

  test('a strategy that says every error is retryable still retries it, within its budget', async () => {
    const server = await serve({ certificate: 'self-signed' });
    const m = manager();
    const log = record(m);
    const error = await m
      .connect([{ host: 'localhost', port: server.port, cacheKey: 'secure', enableTLS: true }], {
        retryStrategy: RetryStrategy.fixed(10, { retryable: () => true }),
        maxReconnectionAttempts: 3,
      })
      .catch((e: unknown) => e);
    expect(failureOf(error).code).toBe('DEPTH_ZERO_SELF_SIGNED_CERT');
    expect(log.filter((l) => l === 'connecting')).toHaveLength(3);
    expect(server.accepted).toBe(3);
  });

  test('a pool with a retry strategy does not retry a factory that fails verification', async () => {
    const server = await serve({ certificate: 'self-signed' });
    const m = manager();
    let calls = 0;
    const factory = () =>
      new Promise<tls.TLSSocket>((resolve, reject) => {
        calls++;
        const socket = tls.connect({ host: '127.0.0.1', port: server.port });
        socket.once('secureConnect', () => resolve(socket));
        socket.once('error', reject);
      });
    const error = await m.connectionCache
      .acquireConnection('pooled', { retryStrategy: RetryStrategy.fixed(10), maxReconnectionAttempts: 5 }, factory)
      .catch((e: unknown) => e);
    expect((error as { code?: string }).code).toBe('DEPTH_ZERO_SELF_SIGNED_CERT');
    expect(calls).toBe(1);
  });
});

describe('a server that rejects our certificate after a TLS 1.3 handshake', () => {
  // In TLS 1.3 the client finishes its handshake before the server has checked the client's
  // certificate: connect() resolves, and the server's verdict arrives as an alert right after.
  test('the link fails at once with the alert (permanent), without backing off', async () => {
    const server = await serve({ requireClientCertificate: true });
    const m = manager();
    const log = record(m);
    const failed = new Promise<ManagerEvents['connection:failed']>((resolve) => m.events.on('connection:failed', resolve));
    const disconnected = new Promise<ManagerEvents['connection:disconnected']>((resolve) => m.events.on('connection:disconnected', resolve));
    const [connection] = await m.connect([{ host: 'localhost', port: server.port, cacheKey: 'mtls', tls: { ca: tlsFixtures.ca } }]);
    expect(connection).toBeDefined();
    const drop = await disconnected;
    expect(errorCodeOf(drop.error)).toBe('ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED');
    const failure = await failed;
    expect(errorCodeOf(failure.error)).toBe('ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED');
    expect(isPermanentError(failure.error)).toBe(true);
    // The socket's error, its drop, then the link's failure (with the same error) and its close.
    const alert = 'error ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED';
    expect(log).toEqual(['connecting', 'connected', alert, 'disconnected', alert, 'failed', 'closed']);
    expect(server.accepted).toBe(1);
  });
});

describe('a pool whose connections the server refuses after a TLS 1.3 handshake', () => {
  test('the first is lent before the alert; when it drops, the callers waiting hear the permanent error', async () => {
    const server = await serve({ requireClientCertificate: true });
    const m = manager();
    await m.connect([{ host: 'localhost', port: server.port, cacheKey: 'mtls', tls: { ca: tlsFixtures.ca } }]);
    const pool = m.pool('mtls', { maxConnections: 1 });
    const first = pool.acquire();
    const waiting = [pool.acquire(), pool.acquire()].map((p) => p.catch((e: unknown) => e));
    const lent = await first;
    expect(lent).toBeDefined();
    for (const outcome of await Promise.all(waiting)) {
      expect(outcome).toBeInstanceOf(Error);
      expect(errorCodeOf(outcome)).toBe('ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED');
      expect(isPermanentError(outcome)).toBe(true);
    }
    // The link's connection and the pool's one: nothing was created for the callers who waited.
    expect(server.accepted).toBe(2);
    expect(pool.stats()).toMatchObject({ waiting: 0, inUse: 0 });
  });
});

describe('invalid local TLS material is a ConfigurationError naming the field, before any socket opens', () => {
  const key = tlsFixtures.clientKeyEncrypted;
  const cert = tlsFixtures.clientCert;
  const malformedKey = '-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgbroken\n-----END PRIVATE KEY-----\n';
  const der = new X509Certificate(tlsFixtures.ca).raw;
  const cases: Array<[string, TlsConnectOptions, string, string?]> = [
    ['a malformed key', { key: malformedKey, cert }, 'servers[0].tls.key'],
    ['a wrong passphrase', { key, cert, passphrase: 'not-the-passphrase' }, 'servers[0].tls.passphrase', 'does not decrypt'],
    ['no passphrase for an encrypted key', { key, cert }, 'servers[0].tls.passphrase', 'is required'],
    ['a wrong passphrase of one key entry', { key: [{ pem: key, passphrase: 'wrong' }], cert }, 'servers[0].tls.key[0].passphrase'],
    ['a key that does not belong to the certificate', { key: tlsFixtures.serverKey, cert }, 'servers[0].tls.key', 'does not belong'],
    ['a malformed certificate', { cert: 'not a certificate' }, 'servers[0].tls.cert'],
    ['a malformed CA', { ca: 'not a certificate' }, 'servers[0].tls.ca'],
    ['a CA in DER (which Node ignores)', { ca: der }, 'servers[0].tls.ca', 'DER'],
    ['a malformed PEM block in a CA bundle', { ca: [tlsFixtures.ca, '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----'] }, 'servers[0].tls.ca[1]'],
    ['a malformed PKCS#12 file', { pfx: Buffer.from('not pkcs12') }, 'servers[0].tls.pfx'],
    ['a wrong PKCS#12 passphrase', { pfx: tlsFixtures.clientPfx, passphrase: 'wrong' }, 'servers[0].tls.passphrase'],
    ['a key of the wrong type', { key: 42 as unknown as string }, 'servers[0].tls.key'],
    ['a passphrase of the wrong type', { key, passphrase: 123456 as unknown as string }, 'servers[0].tls.passphrase'],
    ['an empty key', { key: '', cert }, 'servers[0].tls.key', 'empty'],
  ];
  test.each(cases)('%s', async (_name, clientTls, field, wording) => {
    const server = await serve({ requireClientCertificate: true });
    const m = manager();
    const started = performance.now();
    const attempt = m.connect([{ host: 'localhost', port: server.port, cacheKey: 'mtls', tls: { ca: tlsFixtures.ca, ...clientTls } }]);
    const error = await attempt.catch((e: unknown) => e);
    const elapsedMs = performance.now() - started;
    expect(error).toBeInstanceOf(ConfigurationError);
    const configurationError = error as ConfigurationError;
    expect(configurationError.field).toBe(field);
    if (wording !== undefined) expect(configurationError.message).toContain(wording);
    // Never the secret itself.
    const shown = `${configurationError.message}\n${configurationError.stack}`;
    for (const secret of [CLIENT_KEY_PASSPHRASE, 'not-the-passphrase', '123456', 'bG0wawIBAQQgbroken', key.split('\n')[1]!]) {
      expect(shown).not.toContain(secret);
    }
    expect(server.accepted).toBe(0);
    console.log(`${_name}: ConfigurationError ${field} in ${elapsedMs.toFixed(2)} ms, no socket opened`);
  });

  test('connectParallel() validates the same way, before any server is tried', async () => {
    const good = await serve();
    const m = manager();
    const error = await m
      .connectParallel([
        { host: 'localhost', port: good.port, cacheKey: 'good', tls: { ca: tlsFixtures.ca } },
        { host: 'localhost', port: good.port, cacheKey: 'bad', tls: { ca: tlsFixtures.ca, key: 'garbage' } },
      ])
      .catch((e: unknown) => e);
    expect((error as ConfigurationError).field).toBe('servers[1].tls.key');
    expect(good.accepted).toBe(0);
  });

  test('tls given as a string (a key pasted in the wrong place) is refused without quoting it', () => {
    const error = (() => {
      try {
        validateServers([{ host: 'h', port: 1, cacheKey: 'k', tls: key as unknown as TlsConnectOptions }]);
      } catch (e) {
        return e as ConfigurationError;
      }
      throw new Error('expected a ConfigurationError');
    })();
    expect(error.field).toBe('servers[0].tls');
    expect(error.message).not.toContain(key.split('\n')[1]);
    expect(error.message).toContain(`a string of ${key.length} characters`);
  });

  test('TLS options that are switched off (enableTLS: false) are not loaded', () => {
    expect(() => validateServers([{ host: 'h', port: 1, cacheKey: 'k', enableTLS: false, tls: { key: 'garbage' } }])).not.toThrow();
  });

  test('valid material passes; a second validation of the same options loads nothing again', () => {
    const spy = vi.spyOn(tls, 'createSecureContext');
    const location: ServerLocation = {
      host: 'localhost',
      port: 1,
      cacheKey: 'mtls',
      tls: { ca: tlsFixtures.ca, cert: tlsFixtures.clientCert, key: tlsFixtures.clientKeyEncrypted, passphrase: CLIENT_KEY_PASSPHRASE },
    };
    validateServers([location]);
    const firstCalls = spy.mock.calls.length;
    expect(firstCalls).toBeGreaterThan(0);
    for (let i = 0; i < 100; i++) validateServers([location]);
    expect(spy.mock.calls.length).toBe(firstCalls);
  });
});
