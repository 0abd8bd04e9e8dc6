/**
 * Where to connect (`ServerLocation`, the seed's type) and its validation, before any socket
 * opens. Subtlety: with TLS, validation loads the local key material as tls.connect will
 * (tls-material.ts), so it is the one place a malformed key or a wrong passphrase is caught,
 * and it must never quote what it checks.
 */
import type { ConnectionOptions } from 'node:tls';
import { ConfigurationError } from '../errors.js';
import { describe } from '../time.js';
import { checkTlsMaterial, describeType } from './tls-material.js';

/**
 * Options passed through to `tls.connect` (`ca`, `cert`, `key`, `minVersion`, `servername`,
 * `rejectUnauthorized`, `checkServerIdentity`, `ALPNProtocols`, ...). The address, the socket
 * and the timeout are the library's, so they are left out.
 */
export type TlsConnectOptions = Omit<ConnectionOptions, 'host' | 'port' | 'path' | 'socket' | 'timeout' | 'lookup'>;

/** Where to connect: the seed's `ServerLocation`. */
export interface ServerLocation {
  host: string;
  port: number;
  /**
   * Use TLS. When left out, TLS is used exactly when `tls` options are given; an explicit
   * `false` wins over `tls` (so a flag can switch TLS off without deleting its options).
   */
  enableTLS?: boolean;
  /** The pool/cache key of connections to this server. Unique within one list of servers. */
  cacheKey: string;
  /** TLS options; the peer is verified unless `rejectUnauthorized: false` is given here. */
  tls?: TlsConnectOptions;
}

/** Whether connecting to `server` uses TLS (see {@link ServerLocation.enableTLS}). */
export function usesTls(server: ServerLocation): boolean {
  return server.enableTLS ?? server.tls !== undefined;
}

/**
 * Validates one server; `field` names it in errors (e.g. `servers[2]`). With TLS, its local
 * material (key, cert, ca, pfx, passphrase, crl) is loaded as tls.connect will load it, so a
 * malformed key or a wrong passphrase is a ConfigurationError naming the field (never quoting
 * it) before any socket opens; the result is cached per `tls` object.
 */
export function validateServer(server: unknown, field = 'server'): asserts server is ServerLocation {
  if (server === null || typeof server !== 'object' || Array.isArray(server)) {
    throw new ConfigurationError(field, `must be a server location { host, port, cacheKey }, got ${describe(server)}`);
  }
  const s = server as Record<string, unknown>;
  if (typeof s.host !== 'string' || s.host.trim() === '') {
    throw new ConfigurationError(`${field}.host`, `must be a non-empty host name or IP address, got ${describe(s.host)}`);
  }
  if (typeof s.port !== 'number' || !Number.isInteger(s.port) || s.port < 1 || s.port > 65535) {
    throw new ConfigurationError(`${field}.port`, `must be an integer from 1 to 65535, got ${describe(s.port)}`);
  }
  if (typeof s.cacheKey !== 'string' || s.cacheKey === '') {
    throw new ConfigurationError(`${field}.cacheKey`, `must be a non-empty string, got ${describe(s.cacheKey)}`);
  }
  if (s.enableTLS !== undefined && typeof s.enableTLS !== 'boolean') {
    throw new ConfigurationError(`${field}.enableTLS`, `must be a boolean, got ${describe(s.enableTLS)}`);
  }
  if (s.tls !== undefined) {
    // Never describe(): a key passed as `tls` by mistake would be quoted in the message.
    if (s.tls === null || typeof s.tls !== 'object' || Array.isArray(s.tls)) {
      throw new ConfigurationError(`${field}.tls`, `must be an object of tls.connect options, got ${describeType(s.tls)}`);
    }
    // Options that TLS will not use (enableTLS: false) are not checked.
    if (usesTls(s as unknown as ServerLocation)) checkTlsMaterial(s.tls, `${field}.tls`);
  }
}

/**
 * Validates a list of servers before any connection starts: a non-empty array, each entry valid
 * (see {@link validateServer}), and no `cacheKey` used twice (two servers feeding one pool is
 * almost always a copy-paste mistake). Errors name the field, e.g. `servers[1].port`.
 */
export function validateServers(servers: readonly ServerLocation[], field = 'servers'): void {
  if (!Array.isArray(servers)) {
    throw new ConfigurationError(field, `must be an array of server locations, got ${describe(servers)}`);
  }
  if (servers.length === 0) throw new ConfigurationError(field, 'must contain at least one server');
  const seen = new Map<string, number>();
  // A plain loop, not forEach: forEach skips the holes of a sparse array.
  for (let i = 0; i < servers.length; i++) {
    const server: unknown = servers[i];
    validateServer(server, `${field}[${i}]`);
    const first = seen.get(server.cacheKey);
    if (first !== undefined) {
      throw new ConfigurationError(
        `${field}[${i}].cacheKey`,
        `duplicates ${field}[${first}].cacheKey (${JSON.stringify(server.cacheKey)}); cache keys must be unique`,
      );
    }
    seen.set(server.cacheKey, i);
  }
}
