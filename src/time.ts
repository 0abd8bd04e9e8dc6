import { ConfigurationError } from './errors.js';

/**
 * Durations are plain numbers of milliseconds. `TimeAmount` reads like the seed's
 * `.seconds(5)` and produces that number, so `TimeAmount.seconds(5) === 5000`.
 */
export type Duration = number;

export const TimeAmount = {
  milliseconds: (n: number): Duration => n,
  seconds: (n: number): Duration => n * 1000,
  minutes: (n: number): Duration => n * 60_000,
  hours: (n: number): Duration => n * 3_600_000,
} as const;

/**
 * Validates a duration option. `Infinity` is allowed where a timeout may be switched off
 * (`allowInfinity`); negative, NaN and non-numbers are rejected with the field's name.
 */
export function checkDuration(field: string, value: unknown, opts: { allowInfinity?: boolean } = {}): Duration {
  if (typeof value !== 'number' || Number.isNaN(value)) {
    throw new ConfigurationError(field, `must be a duration in milliseconds, got ${describe(value)}`);
  }
  if (value < 0) throw new ConfigurationError(field, `must not be negative, got ${value}`);
  if (!Number.isFinite(value) && !opts.allowInfinity) {
    throw new ConfigurationError(field, 'must be finite');
  }
  return value;
}

export function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'function') return 'a function';
  if (value === null) return 'null';
  if (typeof value === 'object') return Array.isArray(value) ? 'an array' : 'an object';
  return String(value);
}
