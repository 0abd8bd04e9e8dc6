/**
 * What the library's two local HTTP servers (the dashboard, src/dashboard/; the inspector
 * relay, src/inspector/relay.ts) share: where they listen, how they are reached from this
 * machine, how a secret in a URL is compared, and how an upgrade is refused.
 */
import { timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { ConfigurationError } from './errors.js';
import { describe } from './time.js';

/** Checks `options.host` and `options.port` (defaults: loopback, a port the OS chooses). */
export function listenAddress(options: { host?: unknown; port?: unknown }): { host: string; port: number } {
  const { host = '127.0.0.1', port = 0 } = options;
  if (typeof host !== 'string' || host.trim() === '') {
    throw new ConfigurationError('options.host', `must be a non-empty host name or IP address, got ${describe(host)}`);
  }
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new ConfigurationError('options.port', `must be an integer from 0 (any free port) to 65535, got ${describe(port)}`);
  }
  return { host, port };
}

/** `host:port` as this machine reaches a server listening there (for URLs it prints). */
export function reachableAt(host: string, port: number): string {
  // Listening on every interface: loopback is the one address sure to reach it from here.
  if (host === '0.0.0.0') return `127.0.0.1:${port}`;
  if (host === '::') return `[::1]:${port}`;
  return net.isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Compares a secret from a URL with the expected one in constant time. */
export function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Answers an upgrade request with `status` and closes the socket once the answer is written. */
export function refuseUpgrade(socket: Duplex, status: 403 | 404): void {
  // Destroying the socket at once could drop the answer still being written.
  socket.once('finish', () => socket.destroy());
  socket.end(`HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
}
