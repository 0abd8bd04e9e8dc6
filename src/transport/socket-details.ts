/**
 * What a Connection tells about its current socket: the addresses and, over TLS, the
 * negotiated protocol and cipher, whether the peer was verified, and the peer's certificate,
 * all as plain serialisable data (safe in a statechart's context or a log line). Subtlety:
 * Node's `getPeerCertificate()` answers an empty object, not null, when the peer sent no
 * certificate.
 */
import type net from 'node:net';
import tls from 'node:tls';

/** The peer certificate as plain, serialisable data (safe to put in a statechart's context). */
export interface PeerCertificateInfo {
  subject: Record<string, string | string[]>;
  /** `subject.CN`, when it is a single value. */
  commonName?: string;
  issuer: Record<string, string | string[]>;
  subjectAltName?: string;
  validFrom: string;
  validTo: string;
  serialNumber: string;
  fingerprint256: string;
}

export interface TlsDetails {
  /** e.g. `'TLSv1.3'`. */
  protocol: string | null;
  cipher: { name: string; standardName: string; version: string };
  /** The peer's certificate was verified (false only with `rejectUnauthorized: false`). */
  authorized: boolean;
  authorizationError?: string;
  alpnProtocol?: string;
  peerCertificate?: PeerCertificateInfo;
}

function plainRecord(value: unknown): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  if (value === null || typeof value !== 'object') return out;
  for (const [k, v] of Object.entries(value)) {
    if (typeof v === 'string') out[k] = v;
    else if (Array.isArray(v)) out[k] = v.map(String);
  }
  return out;
}

/** A socket's addresses and TLS session, captured when a Connection binds it. */
export interface SocketDetails {
  readonly remoteAddress: string | undefined;
  readonly remotePort: number | undefined;
  readonly localAddress: string | undefined;
  readonly localPort: number | undefined;
  /** A TLS socket with an established session. */
  readonly encrypted: boolean;
  readonly tls: TlsDetails | undefined;
}

/** The details of a connected `socket` (after 'secureConnect' for TLS). */
export function socketDetails(socket: net.Socket | tls.TLSSocket): SocketDetails {
  const encrypted = socket instanceof tls.TLSSocket && socket.encrypted === true;
  return {
    remoteAddress: socket.remoteAddress,
    remotePort: socket.remotePort,
    localAddress: socket.localAddress,
    localPort: socket.localPort,
    encrypted,
    tls: encrypted ? tlsDetails(socket as tls.TLSSocket) : undefined,
  };
}

/** The established session of `socket`. */
function tlsDetails(socket: tls.TLSSocket): TlsDetails {
  const cipher = socket.getCipher();
  const details: TlsDetails = {
    protocol: socket.getProtocol(),
    cipher: { name: cipher.name, standardName: cipher.standardName, version: cipher.version },
    authorized: socket.authorized,
  };
  if (socket.authorizationError) details.authorizationError = String(socket.authorizationError);
  if (typeof socket.alpnProtocol === 'string') details.alpnProtocol = socket.alpnProtocol;
  const cert = socket.getPeerCertificate(false);
  if (cert && Object.keys(cert).length > 0) {
    const subject = plainRecord(cert.subject);
    const info: PeerCertificateInfo = {
      subject,
      issuer: plainRecord(cert.issuer),
      validFrom: cert.valid_from,
      validTo: cert.valid_to,
      serialNumber: cert.serialNumber,
      fingerprint256: cert.fingerprint256,
    };
    if (typeof subject.CN === 'string') info.commonName = subject.CN;
    if (cert.subjectaltname) info.subjectAltName = cert.subjectaltname;
    details.peerCertificate = info;
  }
  return details;
}
