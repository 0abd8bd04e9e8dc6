/**
 * Actor ids. Keys are user strings, so ids are built from an encoding of the key in which the
 * separators (`:`, `#`, `@`) cannot occur: `pool:<key>`, `<key>#<n>` (a pooled connection) and
 * `<key>@<n>` (a connection opened by connect()) are then distinct for any two keys, however
 * adversarial (`x@1`, `pool:x`, `a#b`, `__proto__`, ...). Readable keys stay as they are.
 */

/** The key as it appears in actor ids: percent-encoded (`encodeURIComponent`), so `@#:%` never appear raw. */
export function idSafeKey(key: string): string {
  return encodeURIComponent(key);
}

/** The id of the pool actor of `key`. */
export function poolId(key: string): string {
  return `pool:${idSafeKey(key)}`;
}

/** The id of the `n`th pooled connection of `key`. */
export function connectionId(key: string, n: number): string {
  return `${idSafeKey(key)}#${n}`;
}

/** The id of the `n`th connection opened by connect() (a link) to the server registered under `key`. */
export function linkId(key: string, n: number): string {
  return `${idSafeKey(key)}@${n}`;
}
