/**
 * Turns whatever an actor's context or an event carries into small, plain JSON for the page.
 * Contexts are plain data by design, but events carry errors, and nothing stops a user's
 * factory error from holding a socket: only plain objects, arrays and errors are walked;
 * any other object becomes its class name, so no resource, actor or secret-bearing object is
 * ever traversed, and every level is capped (depth, keys, items, string length).
 *
 * The one subtlety: JSON has no Infinity, and our contexts use it for "never" (ttl,
 * maxIdleTime); it travels as the string "Infinity" rather than as JSON's silent `null`.
 */

export type Plain = null | boolean | number | string | Plain[] | { [key: string]: Plain };

export interface PlainLimits {
  /** Levels of nesting walked; deeper values become "…". */
  depth: number;
  /** Keys kept per object, items per array. */
  items: number;
  /** Characters kept per string. */
  stringLength: number;
}

export const CONTEXT_LIMITS: PlainLimits = { depth: 4, items: 40, stringLength: 200 };
export const EVENT_LIMITS: PlainLimits = { depth: 3, items: 16, stringLength: 160 };

function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max)}… (${text.length} chars)`;
}

function isPlainObject(value: object): boolean {
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

function isActorRef(value: object): boolean {
  return typeof (value as { sessionId?: unknown }).sessionId === 'string' && typeof (value as { send?: unknown }).send === 'function';
}

/** `value` as plain JSON data within `limits`. */
export function toPlain(value: unknown, limits: PlainLimits, depth = 0): Plain {
  switch (typeof value) {
    case 'string':
      return truncate(value, limits.stringLength);
    case 'number':
      return Number.isFinite(value) ? value : String(value);
    case 'boolean':
      return value;
    case 'bigint':
      return `${value}n`;
    case 'undefined':
      return null;
    case 'function':
      return `[function ${value.name || 'anonymous'}]`;
    case 'symbol':
      return value.toString();
    default:
      break;
  }
  if (value === null) return null;
  const object = value as object;
  if (isActorRef(object)) return `[actor ${String((object as { id?: unknown }).id)}]`;
  if (depth >= limits.depth) return '…';
  if (object instanceof Error) {
    const out: Record<string, Plain> = { name: object.name, message: truncate(object.message, limits.stringLength) };
    const code = (object as { code?: unknown }).code;
    if (typeof code === 'string' || typeof code === 'number') out.code = code;
    if (object.cause !== undefined) out.cause = toPlain(object.cause, limits, depth + 1);
    return out;
  }
  if (Array.isArray(object)) {
    const items = object.slice(0, limits.items).map((item) => toPlain(item, limits, depth + 1));
    if (object.length > limits.items) items.push(`… ${object.length - limits.items} more`);
    return items;
  }
  if (!isPlainObject(object)) {
    const name = (object as { constructor?: { name?: unknown } }).constructor?.name;
    return `[${typeof name === 'string' && name !== '' ? name : 'object'}]`;
  }
  const out: Record<string, Plain> = {};
  let kept = 0;
  const keys = Object.keys(object);
  for (const key of keys) {
    if (kept === limits.items) {
      out['…'] = `${keys.length - kept} more keys`;
      break;
    }
    out[key] = toPlain((object as Record<string, unknown>)[key], limits, depth + 1);
    kept++;
  }
  return out;
}
