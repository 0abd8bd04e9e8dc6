/**
 * Reading user option objects defensively: an option object may be an array, a proxy, a class
 * instance, or have a getter that throws. Every field is read once, here, and every problem is
 * a ConfigurationError naming the field (a throwing getter's error as `cause`), before any work.
 */
import { ConfigurationError } from './errors.js';
import { checkDuration, describe } from './time.js';

/** Reads `input[name]`, turning a throwing getter into a ConfigurationError naming `field.name`. */
export function readField(input: object, name: string, field: string): unknown {
  try {
    return (input as Record<string, unknown>)[name];
  } catch (error) {
    throw new ConfigurationError(`${field}.${name}`, 'could not be read (its getter threw)', { cause: error });
  }
}

/**
 * The own fields of an options object, read once. Rejects what is not a plain object of
 * options (null, arrays, functions, primitives) and fields outside `allowed`.
 */
export function readOptions(input: unknown, field: string, allowed: ReadonlySet<string>, what: string): Record<string, unknown> {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    throw new ConfigurationError(field, `must be an object of ${what}, got ${describe(input)}`);
  }
  let names: string[];
  try {
    names = Object.keys(input);
  } catch (error) {
    throw new ConfigurationError(field, 'could not be read', { cause: error });
  }
  const out: Record<string, unknown> = {};
  for (const name of names) {
    if (!allowed.has(name)) throw new ConfigurationError(`${field}.${name}`, `is not ${what.replace(/s$/, '')}`);
    out[name] = readField(input, name, field);
  }
  return out;
}

/** The largest count any limit accepts (connections, uses, waiters): beyond it, a typo, not a plan. */
export const MAX_COUNT = 1_000_000;

/** An integer in [min, MAX_COUNT], or Infinity where `allowInfinity`. */
export function checkCount(field: string, value: unknown, min: number, opts: { allowInfinity?: boolean } = {}): number {
  if (opts.allowInfinity && value === Number.POSITIVE_INFINITY) return value;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > MAX_COUNT) {
    const range = `an integer from ${min} to ${MAX_COUNT.toLocaleString('en-US')}${opts.allowInfinity ? ', or Infinity' : ''}`;
    throw new ConfigurationError(field, `must be ${range}, got ${describe(value)}`);
  }
  return value;
}

/**
 * A duration that must be greater than 0 (a limit of 0 would fire at once); Infinity switches
 * it off, unless `allowInfinity` is false (a bound that must exist).
 */
export function checkPositiveDuration(field: string, value: unknown, hint: string, opts: { allowInfinity?: boolean } = {}): number {
  const d = checkDuration(field, value, { allowInfinity: opts.allowInfinity ?? true });
  if (d === 0) throw new ConfigurationError(field, `must be greater than 0 (${hint})`);
  return d;
}

export function checkBoolean(field: string, value: unknown): boolean {
  if (typeof value !== 'boolean') throw new ConfigurationError(field, `must be a boolean, got ${describe(value)}`);
  return value;
}

export function checkFunction<F>(field: string, value: unknown): F {
  if (typeof value !== 'function') throw new ConfigurationError(field, `must be a function, got ${describe(value)}`);
  return value as F;
}
