import net from 'node:net';
import tls from 'node:tls';
import { performance } from 'node:perf_hooks';
import { refTimers, type Clock } from '../clock.js';
import { AbortError, ConfigurationError } from '../errors.js';
import { checkDuration, type Duration } from '../time.js';
import {
  CONNECT_FAILED,
  ConnectAttemptError,
  ConnectTimeoutError,
  errorCode,
  type ConnectPhase,
} from './errors.js';
import { usesTls, validateServer, type ServerLocation } from './server.js';

/** Node fires longer timers after 1 ms, so a connect timeout above this would fire at once. */
const MAX_TIMEOUT: Duration = 2_147_483_647;

export interface OpenSocketOptions {
  /**
   * Bounds the whole attempt: DNS lookup, TCP connect and TLS handshake together.
   * `Infinity` switches it off (the OS's own TCP timeout still applies).
   */
  timeout: Duration;
  /** Aborting rejects with an `AbortError` (its `cause` is the signal's reason) and destroys the socket. */
  signal?: AbortSignal;
  /** Replaces `dns.lookup` for this attempt (custom resolution; deterministic DNS failures in tests). */
  lookup?: net.LookupFunction;
  /**
   * Timer source for the timeout. Default: real timers that keep the process alive while the
   * attempt is pending (someone is awaiting it).
   */
  clock?: Clock;
  /** Disable Nagle's algorithm. Default `true`: request/response protocols want small writes sent now. */
  noDelay?: boolean;
  /** Enable TCP keep-alive probes after this much idle time; off when left out. */
  keepAlive?: Duration;
}

// Installed for the socket's whole life: a late or unobserved 'error' must never crash the
// process. The error is not lost: Node keeps it in `socket.errored` and 'close' reports it.
function ignoreError(): void {}

/**
 * Makes ONE connection attempt to `server` and resolves with the connected socket (a
 * `tls.TLSSocket` after a completed handshake when the server uses TLS, see `usesTls`).
 *
 * - The peer's certificate is verified (Node's default) against `server.tls.ca` or the system
 *   roots, and its name against `server.tls.servername ?? server.host`. An IP address is never
 *   sent as SNI (RFC 6066 forbids it and Node warns); it is still verified against the
 *   certificate's IP SANs.
 * - On failure it rejects with a {@link ConnectAttemptError} (`code` `ECONNREFUSED`,
 *   `ETIMEDOUT` for the timeout, a TLS code, ...), or an `AbortError` when `signal` aborts,
 *   or a `ConfigurationError` for invalid input. It rejects only after the socket has been
 *   destroyed and fully closed, and with the timer cleared and the abort listener removed, so a
 *   rejected attempt leaves nothing behind.
 * - The resolved socket is in paused mode (inbound data waits in its buffer) and carries a
 *   no-op 'error' listener so that an error before the caller attaches its own cannot crash the
 *   process; wrap it in a `Connection` (or attach listeners) right away.
 */
export function openSocket(server: ServerLocation, opts: OpenSocketOptions): Promise<net.Socket | tls.TLSSocket> {
  let timeout: Duration;
  try {
    validateServer(server, 'server');
    if (opts === null || typeof opts !== 'object') throw new ConfigurationError('options', 'must be an object with a timeout');
    timeout = checkDuration('timeout', opts.timeout, { allowInfinity: true });
    if (timeout > MAX_TIMEOUT && timeout !== Infinity) {
      throw new ConfigurationError('timeout', `must be at most ${MAX_TIMEOUT} ms or Infinity, got ${timeout}`);
    }
    if (opts.keepAlive !== undefined) checkDuration('keepAlive', opts.keepAlive);
  } catch (err) {
    return Promise.reject(err);
  }

  const { host, port, cacheKey } = server;
  const { signal } = opts;
  const clock = opts.clock ?? refTimers;
  const secure = usesTls(server);
  const abortError = () => new AbortError(`connect to ${host}:${port} was aborted`, { cause: signal?.reason });
  if (signal?.aborted) return Promise.reject(abortError());

  return new Promise((resolve, reject) => {
    const socket = secure ? tls.connect(tlsOptions(server, opts.lookup)) : net.connect({ host, port, lookup: opts.lookup });
    socket.on('error', ignoreError);
    socket.setNoDelay(opts.noDelay ?? true);
    if (opts.keepAlive !== undefined) socket.setKeepAlive(true, opts.keepAlive);

    let phase: ConnectPhase = 'tcp';
    let settled = false;
    let closed = false;
    let afterClose: (() => void) | undefined;

    const onClose = () => {
      closed = true;
      if (afterClose) afterClose();
      else fail(new ConnectAttemptError({ code: 'ERR_CONNECTION_CLOSED', host, port, cacheKey, tls: secure, phase }, 'the connection closed before it was established'));
    };
    const onError = (err: Error) => {
      fail(new ConnectAttemptError({ code: errorCode(err) ?? CONNECT_FAILED, host, port, cacheKey, tls: secure, phase }, describeError(err), { cause: err }));
    };
    const onTcpConnect = () => {
      if (secure) phase = 'tls';
      else succeed();
    };
    const onAbort = () => fail(abortError());
    const timer =
      timeout === Infinity
        ? undefined
        : clock.setTimeout(() => fail(new ConnectTimeoutError({ host, port, cacheKey, tls: secure, phase, timeout })), timeout);

    function cleanup(): void {
      if (timer !== undefined) clock.clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      socket.off('error', onError);
      socket.off('connect', onTcpConnect);
      socket.off('secureConnect', succeed);
    }

    function succeed(): void {
      if (settled) return;
      settled = true;
      cleanup();
      socket.off('close', onClose);
      resolve(socket);
    }

    function fail(err: Error): void {
      if (settled) return;
      settled = true;
      cleanup();
      // Rejecting only once the handle is closed means a caller that awaited the rejection can
      // rely on the socket being gone (no handle keeping the process alive or counted as active).
      if (closed) reject(err);
      else {
        afterClose = () => reject(err);
        socket.destroy();
      }
    }

    socket.on('error', onError);
    socket.once('close', onClose);
    socket.once('connect', onTcpConnect);
    if (secure) socket.once('secureConnect', succeed);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function tlsOptions(server: ServerLocation, lookup: net.LookupFunction | undefined): tls.ConnectionOptions {
  const user = server.tls ?? {};
  const options: tls.ConnectionOptions = { ...user, host: server.host, port: server.port };
  if (lookup) options.lookup = lookup;
  const name = user.servername ?? server.host;
  if (net.isIP(name) === 0) {
    options.servername = name;
  } else {
    // No SNI for an IP address. Node then verifies the certificate against `host`, so when the
    // user asked for a different IP to be verified, verification is pointed at it explicitly.
    delete options.servername;
    if (name !== server.host) {
      const check = user.checkServerIdentity ?? tls.checkServerIdentity;
      options.checkServerIdentity = (_hostname, cert) => check(name, cert);
    }
  }
  return options;
}

function describeError(err: Error): string {
  const code = errorCode(err);
  const message = err.message || (err instanceof AggregateError ? err.errors.map((e: unknown) => String(e)).join('; ') : String(err));
  return code && !message.includes(code) ? `${code} (${message})` : message;
}
