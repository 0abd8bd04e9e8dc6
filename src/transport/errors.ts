/**
 * The errors of the network layer (an attempt that failed, a connection that broke or is
 * closed) and the classifications built on Node's codes: a category for events and metrics,
 * whether a write was cut off, whether retrying can help. Subtlety: Node reports some failures
 * as an AggregateError without a code of its own (happy eyeballs), so codes are read through it.
 */
import { ConfigurationError, ConnectionManagerError } from '../errors.js';

/**
 * A coarse grouping of network error codes, for events, metrics and retry decisions that
 * should not have to know every OpenSSL or libuv code.
 */
export type NetworkErrorCategory =
  | 'refused'
  | 'reset'
  | 'timeout'
  | 'dns'
  | 'unreachable'
  | 'tls'
  | 'closed'
  | 'other';

const DNS_CODES = new Set(['ENOTFOUND', 'EAI_AGAIN', 'EAI_FAIL', 'EAI_NONAME', 'EAI_NODATA', 'ENODATA', 'ESERVFAIL', 'ENOTIMP', 'EREFUSED', 'EBADNAME']);
const RESET_CODES = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED']);
const UNREACHABLE_CODES = new Set(['EHOSTUNREACH', 'ENETUNREACH', 'EHOSTDOWN', 'ENETDOWN', 'EADDRNOTAVAIL']);
// OpenSSL's certificate verification results, as Node reports them in `err.code`.
const TLS_VERIFY_CODES = new Set([
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_CRL',
  'UNABLE_TO_DECRYPT_CERT_SIGNATURE',
  'UNABLE_TO_DECRYPT_CRL_SIGNATURE',
  'UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY',
  'CERT_SIGNATURE_FAILURE',
  'CRL_SIGNATURE_FAILURE',
  'CERT_NOT_YET_VALID',
  'CERT_HAS_EXPIRED',
  'CRL_NOT_YET_VALID',
  'CRL_HAS_EXPIRED',
  'ERROR_IN_CERT_NOT_BEFORE_FIELD',
  'ERROR_IN_CERT_NOT_AFTER_FIELD',
  'ERROR_IN_CRL_LAST_UPDATE_FIELD',
  'ERROR_IN_CRL_NEXT_UPDATE_FIELD',
  'OUT_OF_MEM',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'CERT_CHAIN_TOO_LONG',
  'CERT_REVOKED',
  'INVALID_CA',
  'PATH_LENGTH_EXCEEDED',
  'INVALID_PURPOSE',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'HOSTNAME_MISMATCH',
  'EPROTO',
]);

/** Maps a Node/OpenSSL error code to its {@link NetworkErrorCategory}. */
export function categorizeNetworkError(code: string | undefined): NetworkErrorCategory {
  if (code === undefined) return 'other';
  if (code === 'ECONNREFUSED') return 'refused';
  if (code === 'ETIMEDOUT') return 'timeout';
  if (code === 'ERR_CONNECTION_CLOSED' || code === 'ERR_NOT_CONNECTED') return 'closed';
  if (RESET_CODES.has(code)) return 'reset';
  if (DNS_CODES.has(code)) return 'dns';
  if (UNREACHABLE_CODES.has(code)) return 'unreachable';
  if (TLS_VERIFY_CODES.has(code) || code.startsWith('ERR_TLS_') || code.startsWith('ERR_SSL_')) return 'tls';
  return 'other';
}

/**
 * Failures that retrying cannot heal. The peer's certificate failed verification (it stays
 * untrusted, expired or for another name however often we ask); the peer refused our client
 * certificate; local TLS material that OpenSSL cannot load (`ERR_OSSL_*`: a malformed key, a
 * wrong passphrase); options Node rejects outright. Not here, so retried: resets, timeouts,
 * refusals, DNS failures, a handshake cut off (`ERR_CONNECTION_CLOSED`, `EPROTO`, a TLS version
 * or cipher mismatch), which a restarting or overloaded server produces for a while.
 */
const PERMANENT_CODES = new Set([
  ...[...TLS_VERIFY_CODES].filter((code) => code !== 'EPROTO' && code !== 'OUT_OF_MEM'),
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'ERR_TLS_CERT_ALTNAME_FORMAT',
  // The peer's alerts about our certificate (mutual TLS).
  'ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE',
  'ERR_SSL_SSLV3_ALERT_CERTIFICATE_EXPIRED',
  'ERR_SSL_SSLV3_ALERT_CERTIFICATE_REVOKED',
  'ERR_SSL_SSLV3_ALERT_CERTIFICATE_UNKNOWN',
  'ERR_SSL_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE',
  'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA',
  'ERR_SSL_TLSV1_ALERT_ACCESS_DENIED',
  'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED',
  'ERR_INVALID_ARG_TYPE',
  'ERR_INVALID_ARG_VALUE',
  'ERR_CONFIGURATION',
]);

/**
 * Whether retrying `error` is pointless (see PERMANENT_CODES): a `ConfigurationError`, a TLS
 * verification failure (`SELF_SIGNED_CERT_IN_CHAIN`, `DEPTH_ZERO_SELF_SIGNED_CERT`,
 * `ERR_TLS_CERT_ALTNAME_INVALID`, `CERT_HAS_EXPIRED`, `UNABLE_TO_VERIFY_LEAF_SIGNATURE`, ...),
 * the peer refusing our client certificate, unloadable local TLS material (`ERR_OSSL_*`).
 * Resets, timeouts, refusals, DNS failures and a handshake cut off are transient. The first
 * error along the `cause` chain that has a `code` decides, so a factory's own error wrapping a
 * TLS failure is classified by that failure. Retry strategies stop on a permanent error unless
 * given their own `retryable` predicate.
 */
export function isPermanentError(error: unknown): boolean {
  for (const e of causeChain(error)) {
    if (e instanceof ConfigurationError) return true;
    const code = errorCode(e);
    if (code !== undefined) return PERMANENT_CODES.has(code) || code.startsWith('ERR_OSSL_');
  }
  return false;
}

/** An error and its causes (`cause`, then its `cause`, ...), at most five deep. */
function* causeChain(error: unknown): Generator<object> {
  for (let e: unknown = error, depth = 0; e !== null && typeof e === 'object' && depth < 5; depth++) {
    yield e;
    e = (e as { cause?: unknown }).cause;
  }
}

/**
 * Node's error code of an error or of the first error along its `cause` chain that has one
 * (a factory's own error wrapping a socket's, say), each read as {@link errorCode} reads it.
 */
export function errorCodeOf(error: unknown): string | undefined {
  for (const e of causeChain(error)) {
    const code = errorCode(e);
    if (code !== undefined) return code;
  }
  return undefined;
}

/**
 * The `code` of a Node error (`err.code`), when it has a string one. For an `AggregateError`
 * without one (Node's happy-eyeballs connect reports one per address family), the first
 * inner error's code.
 */
export function errorCode(err: unknown): string | undefined {
  if (err !== null && typeof err === 'object' && 'code' in err && typeof err.code === 'string') return err.code;
  if (err instanceof AggregateError) {
    for (const inner of err.errors) {
      const code = errorCode(inner);
      if (code !== undefined) return code;
    }
  }
  return undefined;
}

/**
 * Codes of a write that never reached the socket because the stream was closed under it: the
 * write is "not delivered" (a closed connection), not a network failure. `ECANCELED` is what
 * libuv reports from Node 22 for a write request cancelled by `socket.destroy()` (Node 20
 * completes such a write with no error at all).
 */
const WRITE_CUT_OFF_CODES = new Set(['ERR_STREAM_DESTROYED', 'ERR_STREAM_WRITE_AFTER_END', 'ECANCELED']);

/** The write failed because its stream was destroyed or ended, see {@link WRITE_CUT_OFF_CODES}. */
export function isWriteCutOff(err: unknown): boolean {
  return isWriteCutOffCode(errorCode(err));
}

/** Whether `code` is one of {@link WRITE_CUT_OFF_CODES}. */
export function isWriteCutOffCode(code: string | undefined): boolean {
  return code !== undefined && WRITE_CUT_OFF_CODES.has(code);
}

/** Where in one connection attempt a failure happened. */
export type ConnectPhase = 'tcp' | 'tls';

/** The code a {@link ConnectAttemptError} carries when Node's error had none. */
export const CONNECT_FAILED = 'ERR_CONNECT_FAILED';

/**
 * One connection attempt failed. `code` is Node's code when there is one (`ECONNREFUSED`,
 * `ECONNRESET`, `ENOTFOUND`, `EAI_AGAIN`, `DEPTH_ZERO_SELF_SIGNED_CERT`,
 * `ERR_TLS_CERT_ALTNAME_INVALID`, ...), `ETIMEDOUT` when the attempt's own timeout fired,
 * `ERR_CONNECTION_CLOSED` when the peer closed during the TLS handshake without an error,
 * otherwise {@link CONNECT_FAILED}. Node's original error is `cause`.
 */
export class ConnectAttemptError extends ConnectionManagerError {
  readonly host: string;
  readonly port: number;
  readonly cacheKey: string;
  readonly tls: boolean;
  /** `'tcp'` up to the TCP connection (DNS lookup included), `'tls'` during the handshake. */
  readonly phase: ConnectPhase;
  readonly category: NetworkErrorCategory;

  constructor(
    details: { code: string; host: string; port: number; cacheKey: string; tls: boolean; phase: ConnectPhase },
    message: string,
    options?: { cause?: unknown },
  ) {
    super(details.code, `connect to ${details.host}:${details.port}${details.tls ? ' (TLS)' : ''} failed: ${message}`, options);
    this.host = details.host;
    this.port = details.port;
    this.cacheKey = details.cacheKey;
    this.tls = details.tls;
    this.phase = details.phase;
    const category = categorizeNetworkError(details.code);
    // A failure during the handshake that is not a reset, timeout or close is a TLS problem
    // even when OpenSSL's code is not one we know.
    this.category = category === 'other' && details.phase === 'tls' ? 'tls' : category;
  }
}

/** The attempt's own timeout fired (`code` `ETIMEDOUT`); `timeout` is the bound in ms. */
export class ConnectTimeoutError extends ConnectAttemptError {
  readonly timeout: number;
  constructor(details: { host: string; port: number; cacheKey: string; tls: boolean; phase: ConnectPhase; timeout: number }) {
    super(
      { ...details, code: 'ETIMEDOUT' },
      `ETIMEDOUT (no ${details.phase === 'tls' ? 'TLS handshake' : 'TCP connection'} within ${details.timeout} ms)`,
    );
    this.timeout = details.timeout;
  }
}

/**
 * An error on an open `Connection`: its socket failed (`code` is Node's, e.g. `ECONNRESET`,
 * `EPIPE`), it was destroyed or given up with an error, or an operation needed a connected
 * socket ({@link ConnectionClosedError}). (The name `ConnectionError` is the aggregate error of
 * a multi-server connect, in `src/errors.ts`.)
 */
export class NetworkError extends ConnectionManagerError {
  readonly connectionId: string;
  readonly cacheKey: string;
  readonly category: NetworkErrorCategory;
  constructor(details: { code: string; connectionId: string; cacheKey: string }, message: string, options?: { cause?: unknown }) {
    super(details.code, message, options);
    this.connectionId = details.connectionId;
    this.cacheKey = details.cacheKey;
    this.category = categorizeNetworkError(details.code);
  }
}

/** The code of a {@link ConnectionClosedError} for a connection closed for good (or closing). */
export const CONNECTION_CLOSED = 'ERR_CONNECTION_CLOSED';

/**
 * The code of a {@link ConnectionClosedError} for a supervised connection that lost its socket
 * and is waiting to be reconnected: the operation may succeed later, the connection is not closed.
 */
export const NOT_CONNECTED = 'ERR_NOT_CONNECTED';

export type ConnectionClosedCode = typeof CONNECTION_CLOSED | typeof NOT_CONNECTED;

/**
 * A write (or other use) of a connection without a usable socket. `code`
 * `ERR_CONNECTION_CLOSED` (default) when it is closing or closed, or when the socket the data
 * was written to closed before flushing it; `ERR_NOT_CONNECTED` when a supervised connection is
 * between sockets (reconnecting). `category` is `'closed'` for both.
 */
export class ConnectionClosedError extends NetworkError {
  constructor(
    details: { connectionId: string; cacheKey: string; code?: ConnectionClosedCode },
    message = 'the connection is closed',
    options?: { cause?: unknown },
  ) {
    super({ connectionId: details.connectionId, cacheKey: details.cacheKey, code: details.code ?? CONNECTION_CLOSED }, message, options);
  }
}
