/**
 * Checks a server's local TLS material (`key`, `cert`, `ca`, `pfx`, `passphrase`, `crl`)
 * before any socket opens: a malformed key or a wrong passphrase never heals by retrying, so
 * it is a `ConfigurationError` naming the field (`servers[0].tls.passphrase`), not a connect
 * failure retried for minutes. The check is what `tls.connect` will do
 * (`tls.createSecureContext`), field by field when it fails, so the right field is named;
 * its result is cached per options object, so validating the same server again is a lookup.
 *
 * Subtlety: messages never quote a value, only its type and OpenSSL's code. (Node's own
 * messages can: a passphrase given as a number comes back in ERR_INVALID_ARG_TYPE's text.)
 * And Node silently ignores a `ca` it cannot parse, so `ca` is parsed here.
 */
import { X509Certificate } from 'node:crypto';
import tls from 'node:tls';
import { ConfigurationError } from '../errors.js';
import { errorCode } from './errors.js';
import type { TlsConnectOptions } from './server.js';

/** A field of the options (relative to `tls`) and what is wrong with it; null: all fine. */
type Verdict = { path: string; message: string } | null;

const verdicts = new WeakMap<object, Verdict>();

/** Throws a ConfigurationError naming `${field}.<option>` if the material cannot be used. */
export function checkTlsMaterial(options: TlsConnectOptions, field: string): void {
  let verdict = verdicts.get(options);
  if (verdict === undefined) {
    verdict = judge(options);
    verdicts.set(options, verdict);
  }
  if (verdict !== null) throw new ConfigurationError(verdict.path === '' ? field : `${field}.${verdict.path}`, verdict.message);
}

/** `copy` (a copy of `original`, unchanged) needs no check of its own if `original` had one. */
export function adoptVerdict(original: TlsConnectOptions, copy: TlsConnectOptions): void {
  const verdict = verdicts.get(original);
  if (verdict !== undefined) verdicts.set(copy, verdict);
}

/** What a value is, never what it says (for messages about secrets). */
export function describeType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (Buffer.isBuffer(value)) return `a Buffer of ${value.length} bytes`;
  if (typeof value === 'string') return `a string of ${value.length} characters`;
  if (typeof value === 'object') return 'an object';
  return `a ${typeof value}`;
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

/** The PEM certificates in one `ca` or `cert` entry (a string or the bytes of a PEM file). */
export function pemCertificates(entry: string | ArrayBufferView): string[] {
  const text = typeof entry === 'string' ? entry : Buffer.from(entry.buffer, entry.byteOffset, entry.byteLength).toString('latin1');
  return text.match(PEM_CERTIFICATE) ?? [];
}

type Material = string | ArrayBufferView;

const isMaterial = (v: unknown): v is Material => typeof v === 'string' || ArrayBuffer.isView(v);
const isEmpty = (v: Material) => (typeof v === 'string' ? v.trim().length === 0 : v.byteLength === 0);

/** The entries of a field that takes one value or an array; each with its path. */
function entries(value: unknown, path: string): Array<{ value: unknown; path: string }> {
  return Array.isArray(value) ? value.map((v, i) => ({ value: v, path: `${path}[${i}]` })) : [{ value, path }];
}

function judge(options: TlsConnectOptions): Verdict {
  // tls.connect uses a given secureContext as is and ignores the material.
  if (options.secureContext !== undefined) return null;
  const o = options as Record<string, unknown>;
  if (o.passphrase !== undefined && typeof o.passphrase !== 'string') {
    return { path: 'passphrase', message: `must be a string, got ${describeType(o.passphrase)}` };
  }
  return checkTypes(o) ?? checkCa(o.ca) ?? checkTogether(options);
}

function checkTypes(o: Record<string, unknown>): Verdict {
  const shapes: Array<[string, string | undefined]> = [
    ['key', 'pem'],
    ['pfx', 'buf'],
    ['cert', undefined],
    ['ca', undefined],
    ['crl', undefined],
  ];
  for (const [name, objectField] of shapes) {
    if (o[name] === undefined) continue;
    const inArray = Array.isArray(o[name]);
    for (const entry of entries(o[name], name)) {
      let material = entry.value;
      // Only an array's entries may be objects (Node's KeyObject / PxfObject).
      if (inArray && objectField !== undefined && material !== null && typeof material === 'object' && !ArrayBuffer.isView(material)) {
        // { pem, passphrase } for a key, { buf, passphrase } for a pfx: a passphrase per entry.
        const { passphrase } = material as { passphrase?: unknown };
        if (passphrase !== undefined && typeof passphrase !== 'string') {
          return { path: `${entry.path}.passphrase`, message: `must be a string, got ${describeType(passphrase)}` };
        }
        material = (material as Record<string, unknown>)[objectField];
        if (!isMaterial(material)) {
          return { path: `${entry.path}.${objectField}`, message: `must be a PEM string or a Buffer, got ${describeType(material)}` };
        }
      }
      if (!isMaterial(material)) {
        const object = objectField === undefined ? '' : `, in an array also { ${objectField}, passphrase }`;
        return { path: entry.path, message: `must be a PEM string or a Buffer (or an array of them${object}), got ${describeType(material)}` };
      }
      if (isEmpty(material)) return { path: entry.path, message: 'must not be empty' };
    }
  }
  return null;
}

function checkCa(ca: unknown): Verdict {
  if (ca === undefined) return null;
  for (const entry of entries(ca, 'ca')) {
    const certificates = pemCertificates(entry.value as Material);
    if (certificates.length === 0) {
      // Node ignores what is not PEM (a DER certificate too): the peer would then fail
      // verification with a misleading UNABLE_TO_VERIFY_LEAF_SIGNATURE.
      return { path: entry.path, message: 'contains no PEM certificate (-----BEGIN CERTIFICATE-----); DER must be converted to PEM' };
    }
    for (const [i, pem] of certificates.entries()) {
      try {
        new X509Certificate(pem);
      } catch (error) {
        return { path: entry.path, message: `certificate ${i + 1} is not a valid certificate (${codeOf(error)})` };
      }
    }
  }
  return null;
}

/** Everything as tls.connect will load it; when that fails, each field alone names the culprit. */
function checkTogether(options: TlsConnectOptions): Verdict {
  const together = attempt(options);
  if (together === undefined) return null;
  const o = options as Record<string, unknown>;
  const passphrase = options.passphrase;
  for (const entry of o.key === undefined ? [] : entries(o.key, 'key')) {
    const failure = attempt({ key: [entry.value] as tls.SecureContextOptions['key'], passphrase });
    if (failure !== undefined) return decryptVerdict(failure, entry, 'key', passphrase) ?? { path: entry.path, message: `is not a usable private key (${failure.code})` };
  }
  for (const entry of o.pfx === undefined ? [] : entries(o.pfx, 'pfx')) {
    const failure = attempt({ pfx: [entry.value] as tls.SecureContextOptions['pfx'], passphrase });
    if (failure !== undefined) return decryptVerdict(failure, entry, 'pfx', passphrase) ?? { path: entry.path, message: `is not a usable PKCS#12 file (${failure.code})` };
  }
  for (const entry of o.cert === undefined ? [] : entries(o.cert, 'cert')) {
    const failure = attempt({ cert: [entry.value] as tls.SecureContextOptions['cert'] });
    if (failure !== undefined) return { path: entry.path, message: `is not a usable certificate chain (${failure.code})` };
  }
  const crlFailure = o.crl === undefined ? undefined : attempt({ crl: options.crl });
  if (crlFailure !== undefined) return { path: 'crl', message: `is not a usable certificate revocation list (${crlFailure.code})` };
  if (together.code === 'ERR_OSSL_X509_KEY_VALUES_MISMATCH') {
    return { path: 'key', message: 'does not belong to tls.cert (ERR_OSSL_X509_KEY_VALUES_MISMATCH)' };
  }
  return { path: '', message: `cannot be used by tls.connect (${together.code})` };
}

/** A wrong or missing passphrase, named on the passphrase that applies to this entry. */
function decryptVerdict(failure: Failure, entry: { value: unknown; path: string }, kind: 'key' | 'pfx', passphrase: string | undefined): Verdict {
  const decryptFailed =
    failure.code === 'ERR_OSSL_BAD_DECRYPT' ||
    failure.code === 'ERR_OSSL_EVP_BAD_DECRYPT' ||
    failure.code === 'ERR_OSSL_CRYPTO_INTERRUPTED_OR_CANCELLED' ||
    failure.code === PKCS12_MAC;
  if (!decryptFailed) return null;
  const own = entry.value !== null && typeof entry.value === 'object' && !ArrayBuffer.isView(entry.value) ? (entry.value as { passphrase?: string }).passphrase : undefined;
  const path = own !== undefined ? `${entry.path}.passphrase` : 'passphrase';
  const given = own ?? passphrase;
  const what = kind === 'key' ? `tls.${entry.path}` : `the PKCS#12 file tls.${entry.path}`;
  return given === undefined
    ? { path, message: `is required: ${what} is encrypted` }
    : { path, message: `does not decrypt ${what} (${failure.code})` };
}

interface Failure {
  /** Node's code, or a label of ours for OpenSSL failures Node gives no code. */
  code: string;
}

/** PKCS#12's integrity check is keyed by the passphrase; OpenSSL reports it without a code. */
const PKCS12_MAC = 'PKCS#12 MAC verify failure';

function attempt(options: tls.SecureContextOptions): Failure | undefined {
  try {
    tls.createSecureContext(options);
    return undefined;
  } catch (error) {
    return { code: codeOf(error) };
  }
}

/** Node's code, or a label for the few uncoded OpenSSL texts; never the error's own message. */
function codeOf(error: unknown): string {
  const code = errorCode(error);
  if (code !== undefined) return code;
  const message = error instanceof Error ? error.message : '';
  if (message === 'mac verify failure') return PKCS12_MAC;
  if (message === 'not enough data') return 'truncated or not PKCS#12';
  return 'no OpenSSL code';
}
