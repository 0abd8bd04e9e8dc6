/**
 * What the library shows of a server: where it is and how it is verified, never its secrets.
 * A `ServerLocation`'s `tls` options can hold a private key, a passphrase, a PKCS#12 file;
 * errors, events, connections, outcomes and inspection show a {@link ServerInfo} instead, and
 * the full options stay inside the library in a {@link PrivateServer}, whose `tls` is a true
 * private field (util.inspect, JSON.stringify, structured clones and reflection cannot reach it).
 *
 * Subtlety: a CA given as one string may hold several PEM certificates (a bundle); each one
 * gets its fingerprint. What does not parse is left out here (validation reports it).
 */
import { X509Certificate } from 'node:crypto';
import { inspect } from 'node:util';
import type { ServerLocation, TlsConnectOptions } from './server.js';
import { adoptVerdict, pemCertificates } from './tls-material.js';

/** A server as the library shows it: no key, passphrase, `pfx` or other credential. */
export interface ServerInfo {
  readonly host: string;
  readonly port: number;
  readonly cacheKey: string;
  /** Connections to it use TLS. */
  readonly tls: boolean;
  /** TLS: the name its certificate is verified against (`tls.servername`, else `host`). */
  readonly servername?: string;
  /**
   * TLS: SHA-256 fingerprints (colon-separated hex, as Node's `fingerprint256`) of the CA
   * certificates given in `tls.ca`. Absent: the peer is verified against the system's roots.
   */
  readonly caFingerprints?: readonly string[];
  /** TLS: a client certificate is configured (`tls.cert` or `tls.pfx`): mutual TLS. */
  readonly clientCertificate?: boolean;
  /** TLS: false when verification of the peer was switched off (`rejectUnauthorized: false`). */
  readonly verifiesPeer?: boolean;
}

/** SHA-256 fingerprints of the certificates in `ca` (string, buffer or an array of them). */
function caFingerprints(ca: unknown): string[] {
  const fingerprints: string[] = [];
  for (const entry of Array.isArray(ca) ? ca : [ca]) {
    if (typeof entry !== 'string' && !ArrayBuffer.isView(entry)) continue;
    for (const cert of pemCertificates(entry)) {
      try {
        fingerprints.push(new X509Certificate(cert).fingerprint256);
      } catch {
        // Not a certificate: validation names it; nothing to show here.
      }
    }
  }
  return fingerprints;
}

const infos = new WeakMap<object, ServerInfo>();

/** The {@link ServerInfo} of `server` (computed once per server object). */
export function serverInfo(server: ServerLocation): ServerInfo {
  if (server instanceof PrivateServer) return server.info;
  let info = infos.get(server);
  if (info === undefined) {
    info = describeServer(server);
    infos.set(server, info);
  }
  return info;
}

function describeServer(server: ServerLocation): ServerInfo {
  const { host, port, cacheKey } = server;
  const options: TlsConnectOptions | undefined = server.tls;
  const secure = server.enableTLS ?? options !== undefined;
  if (!secure) return Object.freeze({ host, port, cacheKey, tls: false });
  const info: { -readonly [K in keyof ServerInfo]: ServerInfo[K] } = {
    host,
    port,
    cacheKey,
    tls: true,
    servername: options?.servername ?? host,
  };
  if (options?.ca !== undefined) info.caFingerprints = Object.freeze(caFingerprints(options.ca));
  info.clientCertificate = options?.cert !== undefined || options?.pfx !== undefined;
  info.verifiesPeer = options?.rejectUnauthorized !== false;
  return Object.freeze(info);
}

/**
 * A validated copy of a `ServerLocation` for the library's own use (links, registered servers,
 * pooled connections): its `tls` options are a private field, and everything that shows it
 * (util.inspect, console.log, JSON.stringify) shows its {@link ServerInfo}. Copying also means
 * that changing the user's object after `connect()` changes nothing.
 */
export class PrivateServer implements ServerLocation {
  readonly host: string;
  readonly port: number;
  readonly cacheKey: string;
  readonly enableTLS: boolean;
  readonly #tls: TlsConnectOptions | undefined;
  readonly info: ServerInfo;

  constructor(server: ServerLocation) {
    this.host = server.host;
    this.port = server.port;
    this.cacheKey = server.cacheKey;
    this.enableTLS = server.enableTLS ?? server.tls !== undefined;
    if (server.tls === undefined) this.#tls = undefined;
    else {
      this.#tls = { ...server.tls };
      // Validated already (validateServers): the copy is not loaded again.
      adoptVerdict(server.tls, this.#tls);
    }
    this.info = serverInfo(server);
  }

  get tls(): TlsConnectOptions | undefined {
    return this.#tls;
  }

  toJSON(): ServerInfo {
    return this.info;
  }

  [inspect.custom](): ServerInfo {
    return this.info;
  }
}
